/**
 * s3rver (a real S3-protocol server) on 127.0.0.1 for local runs and tests, with the client settings it needs.
 *
 * s3rver quirks this helper accounts for (see shared/reference/local-runtime.md):
 * - the access key id must be `S3RVER` (signatures are not verified, the secret is not checked);
 * - path-style addressing (`forcePathStyle: true`);
 * - `requestChecksumCalculation: 'WHEN_REQUIRED'`: under the SDK default a streamed PutObject is sent aws-chunked
 *   and s3rver stores the chunk framing as object data, silently. Local runs only; the deployed code keeps the
 *   default and asks S3 for checksums.
 *
 * Handlers create their own S3 clients, so the same settings go through the environment ({@link localS3Env}):
 * `AWS_ENDPOINT_URL_S3`, `AWS_REQUEST_CHECKSUM_CALCULATION` and credentials are read by the SDK itself; force path
 * style has no SDK variable, so handler code honours `S3_FORCE_PATH_STYLE=true` (`lambdas/shared/aws.ts` does:
 * `forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true'`). With an IP endpoint such as 127.0.0.1 the SDK's
 * endpoint rules pick path style on their own (checked with client-s3 3.1173); the variable matters for host names
 * like `localhost`.
 * - s3rver ignores `If-None-Match` on writes; S3 honours it (conditional writes). {@link conditionalWrites} adds S3's
 *   answer: a PutObject or CompleteMultipartUpload with `If-None-Match: *` on an existing key gets 412
 *   PreconditionFailed with S3's XML error body (`Condition: If-None-Match`), and the object stays as it was; any
 *   other `If-None-Match` value on a write is 501 NotImplemented, as S3 answers.
 * - s3rver's ListObjectsV2 answers 500 InternalError whenever a listing is truncated: it makes its continuation token
 *   with DES, which the OpenSSL 3 of Node 20 no longer has. {@link listObjectsV2} serves list-type 2 through
 *   s3rver's version-1 listing (a marker) and answers as S3 does: `KeyCount`, an opaque `NextContinuationToken` that
 *   resumes after the last key, `ContinuationToken` / `StartAfter` echoed, `Owner` only with `fetch-owner=true`.
 * - s3rver has no Object Lock. For a bucket given a default retention, {@link defaultRetention} reports on every
 *   GetObject and HeadObject the lock S3 would have placed on the object when it was written
 *   (`x-amz-object-lock-mode`, `x-amz-object-lock-retain-until-date` = written + days). It does not stop deletes:
 *   nothing in the project deletes evidence, and the bucket policy's denials are checked by the infra tests.
 * - s3rver accepts any SigV4 query signature and ignores part checksums: `local/s3-direct.ts` adds S3's checks of
 *   presigned URLs (key, method, expiry), UploadPart SHA-256 checksums, the upload-to-key binding and ListParts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { multipartChecksums, presignedRequests } from './s3-direct';

/** A bucket's Object Lock default retention (what the stack configures on the evidence bucket). */
export interface DefaultRetention {
  readonly mode: 'GOVERNANCE' | 'COMPLIANCE';
  readonly days: number;
}

/** Options of {@link startLocalS3}. */
export interface LocalS3Options {
  /** Buckets to create at start. */
  readonly buckets: readonly string[];
  /** Object Lock default retention, by bucket name (s3rver has no Object Lock: see {@link defaultRetention}). */
  readonly objectLock?: Readonly<Record<string, DefaultRetention>>;
  /** Where s3rver keeps objects. @default a new temporary directory, removed on close */
  readonly directory?: string;
}

/** A running s3rver. */
export interface LocalS3 {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Where s3rver keeps the objects. */
  readonly directory: string;
  /** A client configured with {@link LocalS3.clientConfig}. */
  readonly client: S3Client;
  /** Settings any S3 client needs to talk to this server. */
  readonly clientConfig: S3ClientConfig;
  /** Variables that point the SDK (and the handlers' clients) at this server: see {@link localS3Env}. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Sets (or replaces) a bucket's Object Lock default retention, as reported from now on by GetObject and HeadObject
   * (see {@link defaultRetention}); for a stack whose retention is known only once its configuration is read.
   */
  setDefaultRetention(bucket: string, retention: DefaultRetention): Promise<void>;
  /** Stops the server, destroys the client and removes the temporary directory (if this helper created it). */
  close(): Promise<void>;
}

/** The part of a Koa context (s3rver is a Koa app) the conditional-write check reads. */
interface WriteContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly store: { existsObject(bucket: string, key: string): Promise<boolean> };
}
type Middleware = (ctx: WriteContext, next: () => Promise<unknown>) => Promise<unknown>;

/** s3rver's error class: thrown from a middleware, s3rver renders it as S3 does (status, XML body, headers). */
const S3Error = createRequire(__filename)('s3rver/lib/models/error') as new (
  code: string,
  message: string,
  detail?: Record<string, string>,
) => Error;

/**
 * S3's conditional writes, which s3rver lacks: `If-None-Match: *` on a PutObject (PUT without `partNumber`, not a
 * copy) or a CompleteMultipartUpload (POST with `uploadId`) refuses an existing key with 412 PreconditionFailed.
 * Path-style requests only (`/<bucket>/<key>`), which is what {@link localS3ClientConfig} sends.
 */
export function conditionalWrites(): Middleware {
  return async (ctx, next) => {
    const header = ctx.headers['if-none-match'];
    const isPut =
      ctx.method === 'PUT' && ctx.query.partNumber === undefined && !ctx.headers['x-amz-copy-source'];
    const isComplete = ctx.method === 'POST' && ctx.query.uploadId !== undefined;
    const [bucket, ...rest] = ctx.path.replace(/^\//, '').split('/');
    const key = rest.map(decodeURIComponent).join('/');
    if (header === undefined || !(isPut || isComplete) || !bucket || !key) return next();
    if (header !== '*') {
      throw new S3Error(
        'NotImplemented',
        'A header you provided implies functionality that is not implemented',
        {
          Header: 'If-None-Match',
        },
      );
    }
    if (await ctx.store.existsObject(decodeURIComponent(bucket), key)) {
      throw new S3Error(
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
        {
          Condition: 'If-None-Match',
        },
      );
    }
    return next();
  };
}

/** The part of a Koa context the list translation needs. */
interface ListContext {
  readonly method: string;
  readonly path: string;
  query: Record<string, string | string[] | undefined>;
  body: unknown;
}

const TOKEN_PREFIX = 's3rver-local:';

/**
 * ListObjectsV2 over s3rver's version-1 listing (see the module comment). Path-style bucket requests only. A
 * continuation token that is not one of ours is refused with S3's `InvalidArgument`.
 */
export function listObjectsV2(): (ctx: ListContext, next: () => Promise<unknown>) => Promise<unknown> {
  return async (ctx, next) => {
    const isBucket = /^\/[^/]+\/?$/.test(ctx.path);
    if (ctx.method !== 'GET' || !isBucket || ctx.query['list-type'] !== '2') return next();
    const {
      'list-type': _type,
      'continuation-token': token,
      'start-after': startAfter,
      'fetch-owner': fetchOwner,
      ...rest
    } = ctx.query;
    let resumeAfter: string | undefined;
    if (typeof token === 'string' && token !== '') {
      const decoded = Buffer.from(token, 'base64url').toString('utf8');
      if (!decoded.startsWith(TOKEN_PREFIX)) {
        throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
          ArgumentName: 'continuation-token',
        });
      }
      resumeAfter = decoded.slice(TOKEN_PREFIX.length);
    }
    const marker = resumeAfter ?? (typeof startAfter === 'string' ? startAfter : undefined);
    ctx.query = { ...rest, ...(marker ? { marker } : {}) };
    await next();
    const result = (ctx.body as { ListBucketResult?: Record<string, unknown> } | undefined)?.ListBucketResult;
    if (!result) return undefined;
    const contents = (result.Contents ?? []) as Record<string, unknown>[];
    const prefixes = (result.CommonPrefixes ?? []) as { Prefix: string }[];
    const last = [...contents.map((c) => String(c.Key)), ...prefixes.map((p) => p.Prefix)].sort().at(-1);
    const { Marker: _marker, NextMarker: _next, ...kept } = result;
    ctx.body = {
      ListBucketResult: {
        ...kept,
        ...(resumeAfter === undefined && typeof startAfter === 'string' ? { StartAfter: startAfter } : {}),
        ...(typeof token === 'string' && token !== '' ? { ContinuationToken: token } : {}),
        ...(result.IsTruncated && last !== undefined
          ? { NextContinuationToken: Buffer.from(`${TOKEN_PREFIX}${last}`, 'utf8').toString('base64url') }
          : {}),
        KeyCount: contents.length + prefixes.length,
        Contents: contents.map((c) => (fetchOwner === 'true' ? c : { ...c, Owner: undefined })),
      },
    };
    return undefined;
  };
}

/** The part of a Koa context the retention headers need. */
interface ReadContext {
  readonly method: string;
  readonly path: string;
  status: number;
  readonly response: { get(field: string): string };
  set(field: string, value: string): void;
}

/**
 * Object Lock default retention as S3 reports it: a GetObject or HeadObject of an object in a bucket with a default
 * retention answers the mode and the retain-until date fixed when the object was written (its Last-Modified plus the
 * bucket's days). Path-style requests only, like {@link conditionalWrites}.
 */
export function defaultRetention(
  buckets: Readonly<Record<string, DefaultRetention>>,
): (ctx: ReadContext, next: () => Promise<unknown>) => Promise<unknown> {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return;
    if (ctx.status !== 200 && ctx.status !== 206) return;
    const [bucket, ...rest] = ctx.path.replace(/^\//, '').split('/');
    const retention = bucket ? buckets[decodeURIComponent(bucket)] : undefined;
    const written = Date.parse(ctx.response.get('last-modified'));
    if (!retention || rest.join('/') === '' || Number.isNaN(written)) return;
    ctx.set('x-amz-object-lock-mode', retention.mode);
    ctx.set(
      'x-amz-object-lock-retain-until-date',
      new Date(written + retention.days * 86_400_000).toISOString(),
    );
  };
}

/** The access key s3rver knows (it does not check the secret). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Client settings for s3rver at `endpoint`. */
export function localS3ClientConfig(endpoint: string): S3ClientConfig {
  return {
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  };
}

/**
 * Environment for in-process handlers talking to s3rver at `endpoint`. The credentials apply to every SDK client
 * of the process; the local AWS fake accepts any, so that is harmless.
 */
export function localS3Env(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  };
}

/** Temporary directories of servers not closed yet; removed when the process exits, however it exits. */
const openDirectories = new Set<string>();
let exitHookInstalled = false;

function removeOnExit(directory: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // `exit` runs on process.exit() too (e.g. a second Ctrl-C), where no `finally` would: the evidence copies in
    // the folder can be hundreds of MB.
    process.on('exit', () => {
      for (const dir of openDirectories)
        rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    });
  }
  openDirectories.add(directory);
}

/** The part of s3rver's FilesystemStore that {@link atomicPuts} replaces and uses. */
interface FilesystemStoreLike {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: {
    bucket: string;
    key: string;
    metadata: unknown;
    content: Buffer | NodeJS.ReadableStream;
  }): Promise<{ size: number; md5: string }>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
}

/**
 * S3 replaces an object atomically: a GET during a PUT of the same key reads the old object or the new one, whole.
 * s3rver writes the object file in place and answers before the write has finished, so a read right after (or
 * during) a write of a small record could read half of it (seen as "Unterminated string in JSON" when two steps
 * write and read a task record at once). Here the bytes go to a temporary file in the same directory, which is
 * renamed over the object once written and closed; a reader that opened the old file keeps reading the old bytes.
 * s3rver's GET reads the metadata (the length among it) and then opens the file, so the rename and the metadata write
 * of a key, and a GET's metadata read and open, take turns (one queue per key): a GET sees the old object with its
 * own length, or the new one with its own, never the new bytes cut to the old length.
 */
function atomicPuts(store: FilesystemStoreLike): { stop(): Promise<void> } {
  let stopped = false;
  const inFlight = new Set<Promise<unknown>>();
  const turns = new Map<string, Promise<unknown>>();
  const inTurn = <T>(bucket: string, key: string, fn: () => Promise<T>): Promise<T> => {
    const id = `${bucket}/${key}`;
    const previous = turns.get(id) ?? Promise.resolve();
    const mine = previous.then(fn, fn);
    const done = mine.catch(() => undefined);
    turns.set(id, done);
    void done.then(() => {
      if (turns.get(id) === done) turns.delete(id);
    });
    return mine;
  };
  const getObject = store.getObject.bind(store);
  store.getObject = (bucket, key, options) => inTurn(bucket, key, () => getObject(bucket, key, options));
  const put: FilesystemStoreLike['putObject'] = async (object) => {
    // A put still arriving while the server closes must not create folders again under the removed directory.
    if (stopped) throw new Error('s3rver is closing');
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    const temporary = `${objectPath}.${randomBytes(6).toString('hex')}.partial`;
    await mkdir(dirname(objectPath), { recursive: true });
    const md5 = createHash('md5');
    let size = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    try {
      await pipeline(source, counted, createWriteStream(temporary));
      const digest = md5.digest('hex');
      await inTurn(object.bucket, object.key, async () => {
        await rename(temporary, objectPath);
        await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      });
      return { size, md5: digest };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  };
  store.putObject = (object) => {
    const writing = put(object);
    const settled = writing.catch(() => undefined).finally(() => inFlight.delete(settled));
    inFlight.add(settled);
    return writing;
  };
  return {
    /** Refuses new puts and waits for those in progress (so none writes after the directory is removed). */
    async stop() {
      stopped = true;
      await Promise.all([...inFlight]);
    },
  };
}

/** Starts s3rver on 127.0.0.1 (a free port) with `buckets` created. */
export async function startLocalS3(opts: LocalS3Options): Promise<LocalS3> {
  const ownDirectory = opts.directory === undefined;
  const directory = opts.directory ?? mkdtempSync(join(tmpdir(), 's1cado-s3rver-'));
  if (ownDirectory) removeOnExit(directory);
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
  });
  // Before the router (the last middleware), after s3rver's logging, XML and virtual-host middleware.
  const middleware = (server as unknown as { middleware: Middleware[] }).middleware;
  middleware.splice(middleware.length - 1, 0, conditionalWrites());
  middleware.splice(middleware.length - 1, 0, listObjectsV2() as unknown as Middleware);
  // Presigned URLs and multipart checksums as S3 checks them (local/s3-direct.ts): the direct-to-S3 path needs both.
  const secrets = { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey };
  middleware.splice(middleware.length - 1, 0, presignedRequests({ secrets }) as unknown as Middleware);
  middleware.splice(middleware.length - 1, 0, multipartChecksums() as unknown as Middleware);
  const objectLock: Record<string, DefaultRetention> = { ...opts.objectLock };
  middleware.splice(middleware.length - 1, 0, defaultRetention(objectLock) as unknown as Middleware);
  const puts = atomicPuts((server as unknown as { store: FilesystemStoreLike }).store);
  let address: { port: number };
  try {
    address = await server.run();
  } catch (error) {
    if (ownDirectory) rmSync(directory, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    openDirectories.delete(directory);
    throw error;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const clientConfig = localS3ClientConfig(endpoint);
  const client = new S3Client(clientConfig);
  return {
    endpoint,
    directory,
    client,
    clientConfig,
    env: localS3Env(endpoint),
    setDefaultRetention: async (bucket, retention) => {
      objectLock[bucket] = retention;
    },
    close: async () => {
      client.destroy();
      // From now on puts are refused; those in progress end before the directory goes.
      const writesEnded = puts.stop();
      try {
        await server.close();
        await writesEnded;
      } finally {
        if (ownDirectory) rmSync(directory, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
        openDirectories.delete(directory);
      }
    },
  };
}
