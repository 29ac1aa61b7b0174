/**
 * Sizes and durations for people, one way for the CLI, the demo and the bench: `1.5 MiB`, `512 B`, `4.2 s`,
 * `3m 12s`, `2h 05m`.
 */

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** Up to one decimal, none when it would be `.0` (or the value is 100 or more): `1.5`, `8`, `293`. */
function brief(value: number): string {
  const text = value >= 100 ? value.toFixed(0) : value.toFixed(1);
  return text.endsWith('.0') ? text.slice(0, -2) : text;
}

/**
 * A size in binary units: `512 B`, `64.1 KiB`, `8 MiB`, `1.25 GiB` is `1.3 GiB`. With `exact`, the byte count
 * follows in brackets with thousands separators: `1.5 MiB (1,572,864 bytes)`.
 */
export function formatBytes(bytes: number, options: { readonly exact?: boolean } = {}): string {
  if (!Number.isFinite(bytes) || bytes < 0) return `${bytes} B`;
  let text = `${bytes} B`;
  if (bytes >= 1024) {
    let value = bytes / 1024;
    let unit = 0;
    // Round first, so 1023.96 KiB reads `1 MiB`, not `1024 KiB`.
    while (Number(brief(value)) >= 1024 && unit < BYTE_UNITS.length - 1) {
      value /= 1024;
      unit++;
    }
    text = `${brief(value)} ${BYTE_UNITS[unit]}`;
  }
  return options.exact && bytes >= 1024 ? `${text} (${formatCount(bytes)} bytes)` : text;
}

/** A count with thousands separators, the same on every machine: `8,389,214`. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A duration: `850 ms`, `4.2 s`, `30 s`, `3m 12s`, `2h 05m` (negative durations read as zero). */
export function formatDuration(ms: number): string {
  const t = Number.isFinite(ms) ? Math.max(0, ms) : 0;
  if (t < 1000) return `${Math.round(t)} ms`;
  if (t < 59_950) return `${brief(t / 1000)} s`;
  const s = Math.round(t / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
