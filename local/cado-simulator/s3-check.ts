/**
 * The simulator's view of S3: before an import's pipeline is planned, it looks the objects up the way Cado's
 * acquisition would (HeadObject, or a listing for a whole-prefix import), so a key that was never staged makes
 * the pipeline fail instead of succeeding on faith.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';

/** Result of looking up what an import names. */
export interface S3Lookup {
  /** Size in bytes by key (`''` holds the total of a whole-prefix import). */
  readonly sizes: Map<string, number>;
  /** SHA-256 and MD5 (hex) of each key's bytes, when asked for (object imports only). */
  readonly digests?: Map<string, { sha256: string; md5: string }>;
  /** Why the acquisition would fail (e.g. "object not found: s3://b/k"), if it would. */
  readonly problem?: string;
}

function describe(error: unknown, what: string): string {
  const name = error instanceof Error ? error.name : 'UnknownError';
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (name === 'NoSuchBucket') return `bucket not found: ${what}`;
  if (name === 'NotFound' || name === 'NoSuchKey' || status === 404) return `object not found: ${what}`;
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) return `access denied: ${what}`;
  return `S3 error ${name}: ${what}`;
}

/** Looks objects up in S3 with the AWS SDK. */
export class S3Checker {
  private readonly client: S3Client;

  /** @param config S3 client settings, e.g. s3rver's endpoint with `forcePathStyle: true`. */
  constructor(config: S3ClientConfig) {
    this.client = new S3Client({ maxAttempts: 1, ...config });
  }

  /**
   * Sizes of `keys` in `bucket`, or of everything under `prefix` when `keys` is empty; with `digests`, each key's
   * bytes are read and hashed too, as an acquisition that records a hash would.
   */
  async lookup(
    bucket: string,
    keys: readonly string[],
    prefix = '',
    options: { digests?: boolean } = {},
  ): Promise<S3Lookup> {
    const sizes = new Map<string, number>();
    if (keys.length === 0) return this.lookupPrefix(bucket, prefix, sizes);
    const digests = options.digests ? new Map<string, { sha256: string; md5: string }>() : undefined;
    for (const key of keys) {
      try {
        const head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        sizes.set(key, head.ContentLength ?? 0);
        if (digests) digests.set(key, await this.digest(bucket, key));
      } catch (error) {
        return { sizes, problem: describe(error, `s3://${bucket}/${key}`) };
      }
    }
    return { sizes, ...(digests ? { digests } : {}) };
  }

  private async digest(bucket: string, key: string): Promise<{ sha256: string; md5: string }> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const sha256 = createHash('sha256');
    const md5 = createHash('md5');
    for await (const chunk of out.Body as Readable) {
      sha256.update(chunk as Buffer);
      md5.update(chunk as Buffer);
    }
    return { sha256: sha256.digest('hex'), md5: md5.digest('hex') };
  }

  private async lookupPrefix(bucket: string, prefix: string, sizes: Map<string, number>): Promise<S3Lookup> {
    let total = 0;
    let count = 0;
    let token: string | undefined;
    try {
      do {
        const page: ListObjectsV2CommandOutput = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) {
          total += object.Size ?? 0;
          count += 1;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      return { sizes, problem: describe(error, `s3://${bucket}/${prefix}`) };
    }
    if (count === 0) return { sizes, problem: `no objects found: s3://${bucket}/${prefix}` };
    sizes.set('', total);
    return { sizes };
  }

  /** Releases the SDK client's sockets. */
  destroy(): void {
    this.client.destroy();
  }
}
