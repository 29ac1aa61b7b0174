#!/usr/bin/env node
/**
 * `npm run demo`: one whole investigation on this machine, from a simulated threat to a Cado pipeline.
 * See `npm run demo -- --help` and bin/demo/.
 */
import { redact } from '../lambdas/shared/redact';
import { main, processIo } from './demo/main';

export { type DemoIo, main } from './demo/main';

if (require.main === module) {
  const controller = new AbortController();
  let firstInterrupt: number | undefined;
  process.on('SIGINT', () => {
    // The first Ctrl-C stops the execution and still prints the summary. The same Ctrl-C also arrives relayed
    // through npm and tsx a moment later; only a deliberate second one, later, leaves at once.
    if (firstInterrupt === undefined) {
      firstInterrupt = Date.now();
      controller.abort();
    } else if (Date.now() - firstInterrupt > 1000) {
      process.exit(130);
    }
  });
  main(process.argv.slice(2), { ...processIo(), signal: controller.signal }).then(
    (code) => {
      process.exitCode = code;
      // Nothing should be left running; should a stray socket or timer remain, do not hang the terminal on it.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (error: unknown) => {
      process.stderr.write(`${redact(String(error))}\n`);
      process.exit(1);
    },
  );
}
