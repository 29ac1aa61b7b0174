/**
 * Where the demo's progress goes: permanent lines, plus (on a terminal) a live footer redrawn in place, which
 * holds the per-agent staging bars. Off a terminal there is no footer; callers print milestones as lines instead.
 */

/** A text sink, e.g. `process.stdout` or a test's collector. */
export interface DemoOutput {
  write(text: string): unknown;
  /** True for an interactive terminal: enables the live footer (and colours, unless NO_COLOR). */
  readonly isTTY?: boolean;
  /** Terminal width, when known. */
  readonly columns?: number;
}

// Cursor to the start of the line `n` lines up, then clear to the end of the screen.
const up = (n: number) => `\x1b[${n}F\x1b[J`;

/** Permanent lines and an optional live footer. */
export class Display {
  private footer: string[] = [];

  /** @param live redraw a footer in place (only for terminals). */
  constructor(
    private readonly out: DemoOutput,
    readonly live: boolean,
  ) {}

  /** Terminal width (80 when unknown). */
  get width(): number {
    return this.out.columns && this.out.columns > 20 ? this.out.columns : 80;
  }

  /** Prints a permanent line (above the footer). */
  line(text = ''): void {
    this.out.write(`${this.erase()}${text}\n${this.render()}`);
  }

  /** Replaces the live footer (ignored when not live). */
  setFooter(lines: readonly string[]): void {
    if (!this.live) return;
    if (lines.length === this.footer.length && lines.every((line, i) => line === this.footer[i])) return;
    const erase = this.erase();
    this.footer = lines.map((line) => this.fit(line));
    this.out.write(`${erase}${this.render()}`);
  }

  /** Removes the footer for good (before the summary). */
  clearFooter(): void {
    if (!this.live || this.footer.length === 0) return;
    this.out.write(this.erase());
    this.footer = [];
  }

  private erase(): string {
    return this.live && this.footer.length > 0 ? up(this.footer.length) : '';
  }

  private render(): string {
    return this.footer.map((line) => `${line}\n`).join('');
  }

  /** Keeps a footer line on one terminal row, so the cursor arithmetic holds. */
  private fit(line: string): string {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes to measure the text
    const visible = line.replace(/\x1b\[[0-9;]*m/g, '');
    return visible.length < this.width ? line : `${visible.slice(0, this.width - 2)}…`;
  }
}
