#!/usr/bin/env node
/**
 * `npm run demo`: one whole investigation on this machine, from a simulated threat to a Cado pipeline.
 * See `npm run demo -- --help` and bin/demo/.
 */
import { redact } from '../lambdas/shared/redact';
import { main, processIo } from './demo/main';

export { type DemoIo, main } from './demo/main';

/** Exit code after Ctrl-C (128 + SIGINT), as shells report it. */
export const INTERRUPTED_EXIT_CODE = 130;
/** Exit code when the reader of stdout went away (`npm run demo | head`): 128 + SIGPIPE. */
export const BROKEN_PIPE_EXIT_CODE = 141;

if (require.main === module) {
  const controller = new AbortController();
  let firstInterrupt: number | undefined;
  let brokenPipe = false;
  process.on('SIGINT', () => {
    // The first Ctrl-C stops the execution and still prints the summary. The same Ctrl-C also arrives relayed
    // through npm and tsx a moment later; only a deliberate second one, later, leaves at once (the s3rver folder is
    // still removed: local/s3.ts removes it on exit).
    if (firstInterrupt === undefined) {
      firstInterrupt = Date.now();
      controller.abort();
    } else if (Date.now() - firstInterrupt > 1000) {
      process.exit(INTERRUPTED_EXIT_CODE);
    }
  });
  // A closed pipe (`| head`) makes every later write fail with EPIPE: stop the investigation and clean up
  // quietly instead of dying on an unhandled 'error' event with the folder left behind.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      brokenPipe = true;
      controller.abort();
    });
  }
  main(process.argv.slice(2), { ...processIo(), signal: controller.signal }).then(
    (result) => {
      const code = brokenPipe
        ? BROKEN_PIPE_EXIT_CODE
        : firstInterrupt !== undefined
          ? INTERRUPTED_EXIT_CODE
          : result;
      process.exitCode = code;
      // Nothing should be left running; should a stray socket or timer remain, do not hang the terminal on it.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (error: unknown) => {
      if (!brokenPipe) process.stderr.write(`${redact(String(error))}\n`);
      process.exit(1);
    },
  );
}
