/**
 * Sends everything the process writes to stdout/stderr into a log file while the demo runs. The handlers run
 * in this process and log JSON lines through Powertools (and the SDK prints warnings): kept, but out of the
 * progress display. The demo's own output goes through writers taken before the capture starts.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** An active capture. */
export interface OutputCapture {
  /** The log file. */
  readonly file: string;
  /** Puts stdout/stderr back and closes the file. */
  restore(): void;
}

type Write = typeof process.stdout.write;

/** Redirects `process.stdout.write` and `process.stderr.write` to `file` (appending) until `restore()`. */
export function captureProcessOutput(file: string): OutputCapture {
  const fd = openSync(file, 'a');
  const saved = { stdout: process.stdout.write, stderr: process.stderr.write };
  // Synchronous writes: ordered, nothing lost if the process exits right after, and no stream to drain.
  const sink = (chunk: unknown, encodingOrCallback?: unknown, callback?: unknown): boolean => {
    try {
      if (chunk instanceof Uint8Array) writeSync(fd, chunk);
      else writeSync(fd, String(chunk));
    } catch {
      // A log line that cannot be written must not break the run.
    }
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (typeof done === 'function') done();
    return true;
  };
  process.stdout.write = sink as Write;
  process.stderr.write = sink as Write;
  let restored = false;
  return {
    file,
    restore() {
      if (restored) return;
      restored = true;
      process.stdout.write = saved.stdout;
      process.stderr.write = saved.stderr;
      closeSync(fd);
    },
  };
}
