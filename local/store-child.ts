/**
 * One local data store, s3rver (local/s3.ts) or dynalite (local/dynamo.ts), in a process of its own: the entry point
 * {@link startChildS3} and {@link startChildDynamo} fork. The first IPC message is the job; the reply is `ready`
 * with the endpoint once the server listens (and its tables exist), or `failed`. The server is the very one the
 * in-process helpers start, with every behaviour they add. It closes when the parent says `close` or goes away
 * (the IPC channel closes when the parent exits, however it exits).
 */
import type { StoreJob, StoreReply, StoreRequest } from './child-stores';
import { type LocalDynamo, startLocalDynamo } from './dynamo';
import { type LocalS3, startLocalS3 } from './s3';

/** How long a close may take before the process exits anyway. */
const CLOSE_LIMIT_MS = 10_000;

function reply(message: StoreReply): void {
  if (process.connected) process.send?.(message);
}

function errorOf(error: unknown): { name: string; message: string } {
  const e = error as { name?: unknown; message?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
}

async function start(job: StoreJob): Promise<LocalS3 | LocalDynamo> {
  if (job.kind === 's3') {
    const s3 = await startLocalS3({ buckets: job.buckets, objectLock: job.objectLock });
    reply({ type: 'ready', endpoint: s3.endpoint, directory: s3.directory });
    return s3;
  }
  const dynamo = await startLocalDynamo({ tables: job.tables });
  reply({ type: 'ready', endpoint: dynamo.endpoint, tableNames: dynamo.tableNames });
  return dynamo;
}

let store: LocalS3 | LocalDynamo | undefined;
let closing = false;

function close(): void {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(1), CLOSE_LIMIT_MS).unref();
  Promise.resolve(store?.close()).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`closing failed: ${String((error as Error)?.stack ?? error)}\n`);
      process.exit(1);
    },
  );
}

// Ctrl-C reaches the whole process group: the parent decides when the store closes (it says so, or goes away).
process.on('SIGINT', () => undefined);
process.on('disconnect', close);
process.on('message', (message: StoreJob | StoreRequest) => {
  if (message.kind === 'close') {
    close();
  } else if (message.kind === 'default-retention') {
    const s3 = store && 'setDefaultRetention' in store ? store : undefined;
    void Promise.resolve(s3?.setDefaultRetention(message.bucket, message.retention)).then(() =>
      reply({ type: 'done', id: message.id }),
    );
  } else if (!store && !closing) {
    start(message).then(
      (started) => {
        store = started;
      },
      (error: unknown) => {
        process.stderr.write(`${String((error as Error)?.stack ?? error)}\n`);
        reply({ type: 'failed', error: errorOf(error) });
        process.exit(1);
      },
    );
  }
});
