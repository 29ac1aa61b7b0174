/** Small text helpers for the demo's output: colours, clock offsets, progress bars (sizes and durations: `../units`). */

/** ANSI styling, or plain text when colours are off. */
export interface Paint {
  readonly bold: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly green: (text: string) => string;
  readonly red: (text: string) => string;
  readonly yellow: (text: string) => string;
  readonly cyan: (text: string) => string;
}

const style =
  (open: number, close: number) =>
  (text: string): string =>
    `\x1b[${open}m${text}\x1b[${close}m`;

/** Colours for a terminal, or identity functions. */
export function paint(enabled: boolean): Paint {
  if (!enabled) {
    const plain = (text: string) => text;
    return { bold: plain, dim: plain, green: plain, red: plain, yellow: plain, cyan: plain };
  }
  return {
    bold: style(1, 22),
    dim: style(2, 22),
    green: style(32, 39),
    red: style(31, 39),
    yellow: style(33, 39),
    cyan: style(36, 39),
  };
}

/** A simulated clock offset as `mm:ss`, or `h:mm:ss` past an hour. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** A fixed-width bar: `[██████░░░░░░]`. */
export function progressBar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}

/** A percentage, right-aligned to 4 characters: `  7%`, `100%`. */
export function percent(fraction: number): string {
  return `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`.padStart(4);
}

/** The first characters of a long id or hash, with an ellipsis. */
export function short(text: string, keep = 12): string {
  return text.length <= keep + 1 ? text : `${text.slice(0, keep)}…`;
}
