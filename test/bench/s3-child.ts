/**
 * s3rver in a process of its own. In the staging bench the S1 simulator's storage host and s3rver both move every
 * byte; in one process they would share one event loop (and one core), which no real deployment does (S1's storage
 * and S3 are different services). Sends `{ endpoint }` once listening, and closes when the parent says `close` or
 * goes away.
 */
import { startLocalS3 } from '../../local/s3';

const bucket = process.argv[2] ?? 'evidence';

startLocalS3({ buckets: [bucket] }).then(
  (s3) => {
    let closing = false;
    const close = () => {
      if (closing) return;
      closing = true;
      s3.close().finally(() => process.exit(0));
    };
    process.on('message', (message) => {
      if (message === 'close') close();
    });
    process.on('disconnect', close);
    process.send?.({ endpoint: s3.endpoint });
  },
  (error: unknown) => {
    process.send?.({ error: String(error) });
    process.exit(1);
  },
);
