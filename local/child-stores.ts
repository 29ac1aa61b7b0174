/**
 * s3rver and dynalite in child processes (local/store-child.ts), for a local stack whose own event loop is busy
 * enough to delay them: in one process the state machine runner, every handler and the simulators share one loop
 * with the stores, and under a large burst the handlers' S3 and DynamoDB calls time out waiting for it, which no
 * deployment does (S3 and DynamoDB are services of their own).
 *
 * The child runs the same servers the in-process helpers start (`startLocalS3`, `startLocalDynamo`, with every
 * behaviour they add), on the same Node binary with the project's tsx loader. The parent gets the same
 * {@link LocalS3} / {@link LocalDynamo} shape (endpoint, environment, SDK clients against the endpoint), plus the
 * child's pid. The child is killed by `close()`, exits when the parent goes away (its IPC channel closes), and its
 * stderr is forwarded when it fails or exits on its own.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { type LocalDynamo, type LocalTableDefinition, localDynamoClientConfig } from './dynamo';
import { type DefaultRetention, type LocalS3, localS3ClientConfig, localS3Env } from './s3';

/** The first message to a store child: which server to run. */
export type StoreJob =
  | {
      readonly kind: 's3';
      readonly buckets: readonly string[];
      readonly objectLock?: Readonly<Record<string, DefaultRetention>>;
    }
  | { readonly kind: 'dynamo'; readonly tables: readonly LocalTableDefinition[] };

/** Later messages to a store child. */
export type StoreRequest =
  | { readonly kind: 'close' }
  | {
      readonly kind: 'default-retention';
      readonly id: number;
      readonly bucket: string;
      readonly retention: DefaultRetention;
    };

/** What a store child sends back. */
export type StoreReply =
  | {
      readonly type: 'ready';
      readonly endpoint: string;
      readonly directory?: string;
      readonly tableNames?: Readonly<Record<string, string>>;
    }
  | { readonly type: 'failed'; readonly error: { readonly name: string; readonly message: string } }
  | { readonly type: 'done'; readonly id: number };

/** A store child did not start, or went away while the parent still needed it. */
export class StoreChildError extends Error {
  override readonly name = 'StoreChildError';
}

/** A store running in a child process. */
export interface InChildProcess {
  /** The child's process id. */
  readonly pid: number;
}

const CHILD_SCRIPT = path.join(__dirname, 'store-child.ts');
const STDERR_TAIL_CHARS = 4000;
/** How long `close()` waits for the child to close its server before killing it. */
const KILL_AFTER_MS = 15_000;

interface StoreProcess {
  readonly pid: number;
  readonly ready: Extract<StoreReply, { type: 'ready' }>;
  request(message: Omit<Extract<StoreRequest, { kind: 'default-retention' }>, 'id'>): Promise<void>;
  close(): Promise<void>;
}

function forkStore(job: StoreJob, label: string): Promise<StoreProcess> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = fork(CHILD_SCRIPT, [], {
        execPath: process.execPath,
        // The project's tsx loader (what `tsx` itself passes to node as `--import`), so the child runs the
        // TypeScript; resolved here, not at import, so loading the local stack needs no tsx until a child starts.
        execArgv: ['--import', pathToFileURL(require.resolve('tsx')).href],
        // Node's and the AWS SDK's version notices are noise on stderr; real errors still reach it.
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
    } catch (error) {
      reject(error);
      return;
    }
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    let started = false;
    let closing = false;
    let failure: string | undefined;
    let nextId = 0;
    const pending = new Map<number, { resolve(): void; reject(error: Error): void }>();
    // `close`, not `exit`: by then the child's stderr has been read to its end.
    const exited = new Promise<void>((done) => {
      child.once('close', (code, signal) => {
        const how = signal ?? `code ${code}`;
        const tail = stderr.trim();
        for (const request of pending.values())
          request.reject(new StoreChildError(`${label} child exited (${how})`));
        pending.clear();
        if (!started) {
          const what = failure ?? `${label} child exited (${how}) before it was ready`;
          reject(new StoreChildError(`${what}${tail ? `; its stderr:\n${tail}` : ''}`));
        } else if (!closing || code !== 0) {
          process.stderr.write(
            `${label} child (pid ${child.pid}) exited ${closing ? 'uncleanly' : 'unexpectedly'} (${how})${tail ? `; its stderr:\n${tail}` : ''}\n`,
          );
        }
        done();
      });
    });
    child.once('error', (error) => {
      if (!started) reject(error);
    });
    child.on('message', (message: StoreReply) => {
      if (message.type === 'done') {
        pending.get(message.id)?.resolve();
        pending.delete(message.id);
      } else if (message.type === 'failed') {
        // Rejected once the child has exited, with its stderr.
        failure = `${label} did not start: ${message.error.name}: ${message.error.message}`;
      } else if (!started && child.pid !== undefined) {
        started = true;
        const pid = child.pid;
        resolve({
          pid,
          ready: message,
          request: (request) =>
            new Promise<void>((done, fail) => {
              if (!child.connected) {
                fail(new StoreChildError(`${label} child is gone`));
                return;
              }
              nextId += 1;
              pending.set(nextId, { resolve: done, reject: fail });
              child.send({ ...request, id: nextId } satisfies StoreRequest);
            }),
          close: async () => {
            closing = true;
            if (child.exitCode === null && child.signalCode === null) {
              if (child.connected) child.send({ kind: 'close' } satisfies StoreRequest);
              const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
              await exited;
              clearTimeout(timer);
            }
          },
        });
      }
    });
    child.send(job);
  });
}

/** Starts s3rver (local/s3.ts, with every behaviour it adds) in a child process; see the module comment. */
export async function startChildS3(opts: {
  readonly buckets: readonly string[];
  readonly objectLock?: Readonly<Record<string, DefaultRetention>>;
}): Promise<LocalS3 & InChildProcess> {
  const store = await forkStore({ kind: 's3', buckets: opts.buckets, objectLock: opts.objectLock }, 's3rver');
  const { endpoint, directory = '' } = store.ready;
  const clientConfig = localS3ClientConfig(endpoint);
  const client = new S3Client(clientConfig);
  return {
    pid: store.pid,
    endpoint,
    directory,
    client,
    clientConfig,
    env: localS3Env(endpoint),
    setDefaultRetention: (bucket, retention) =>
      store.request({ kind: 'default-retention', bucket, retention }),
    close: async () => {
      client.destroy();
      await store.close();
      // The child removes its directory when it exits; this covers a child that was killed.
      if (directory) rmSync(directory, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    },
  };
}

/** Starts dynalite (local/dynamo.ts, `tables` created and ACTIVE) in a child process; see the module comment. */
export async function startChildDynamo(opts: {
  readonly tables: readonly LocalTableDefinition[];
}): Promise<LocalDynamo & InChildProcess> {
  const store = await forkStore({ kind: 'dynamo', tables: opts.tables }, 'dynalite');
  const { endpoint, tableNames = {} } = store.ready;
  const clientConfig = localDynamoClientConfig(endpoint);
  const client = new DynamoDBClient(clientConfig);
  return {
    pid: store.pid,
    endpoint,
    env: { AWS_ENDPOINT_URL_DYNAMODB: endpoint },
    tableNames,
    clientConfig,
    client,
    close: async () => {
      client.destroy();
      await store.close();
    },
  };
}
