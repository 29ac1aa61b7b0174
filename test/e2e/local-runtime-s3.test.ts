import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../local/s3';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A stream of `data` in small chunks, like a download being piped through. */
function chunked(data: Buffer, chunkSize = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

let s3: LocalS3;

beforeAll(async () => {
  s3 = await startLocalS3({ buckets: ['evidence'] });
});

afterAll(async () => {
  await s3?.close();
});

describe('startLocalS3', () => {
  it('round-trips an object', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: 'a/b.json', Body: '{"ok":true}' }));
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: 'a/b.json' }));
    expect(await got.Body?.transformToString()).toBe('{"ok":true}');
  });

  it('stores a streamed PutObject byte for byte', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await s3.client.send(
      new PutObjectCommand({
        Bucket: 'evidence',
        Key: 'stream.bin',
        Body: chunked(data),
        ContentLength: data.length,
      }),
    );
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: 'stream.bin' }));
    const stored = await got.Body?.transformToByteArray();
    expect(stored?.length).toBe(data.length);
    expect(sha256(stored ?? new Uint8Array())).toBe(sha256(data));
  });

  it('stores a streamed multipart Upload byte for byte, for a client configured only through the env', async () => {
    const data = randomBytes(6 * 1024 * 1024 + 5);
    // What a handler's client sees: endpoint, checksum mode and credentials from the environment, and
    // forcePathStyle from S3_FORCE_PATH_STYLE (the SDK has no variable for it).
    const saved = { ...process.env };
    Object.assign(process.env, s3.env);
    const handlerClient = new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });
    try {
      await new Upload({
        client: handlerClient,
        params: { Bucket: 'evidence', Key: 'multipart.bin', Body: chunked(data) },
        partSize: 5 * 1024 * 1024,
      }).done();
    } finally {
      handlerClient.destroy();
      for (const key of Object.keys(s3.env)) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: 'multipart.bin' }));
    expect(sha256((await got.Body?.transformToByteArray()) ?? new Uint8Array())).toBe(sha256(data));
  });

  it('answers a conditional PutObject on an existing key 412 PreconditionFailed, as S3 does, and keeps the object', async () => {
    const put = (body: string) =>
      s3.client.send(
        new PutObjectCommand({ Bucket: 'evidence', Key: 'once.json', Body: body, IfNoneMatch: '*' }),
      );
    await put('first');
    const refused = await put('second').catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
    expect((refused as { Condition?: string }).Condition).toBe('If-None-Match');
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: 'once.json' }));
    expect(await got.Body?.transformToString()).toBe('first');
    // Without the condition, a write replaces the object (the local store, like S3, is not write-once by itself).
    await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: 'once.json', Body: 'third' }));
    const again = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: 'once.json' }));
    expect(await again.Body?.transformToString()).toBe('third');
  });

  it('refuses to complete a conditional multipart upload onto an existing key, and completes one onto a new key', async () => {
    const data = randomBytes(6 * 1024 * 1024 + 5);
    const upload = (key: string) =>
      new Upload({
        client: s3.client,
        params: { Bucket: 'evidence', Key: key, Body: chunked(data), IfNoneMatch: '*' },
        partSize: 5 * 1024 * 1024,
      }).done();
    await upload('multipart-once.bin');
    const refused = await upload('multipart-once.bin').catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: 'multipart-once.bin' }));
    expect(sha256((await got.Body?.transformToByteArray()) ?? new Uint8Array())).toBe(sha256(data));
  });

  it('answers If-None-Match other than * on a write 501 NotImplemented, as S3 does', async () => {
    const refused = await s3.client
      .send(new PutObjectCommand({ Bucket: 'evidence', Key: 'etag.json', Body: 'x', IfNoneMatch: '"abc"' }))
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'NotImplemented', $metadata: { httpStatusCode: 501 } });
  });

  it('pages a truncated ListObjectsV2 with continuation tokens, as S3 does (s3rver alone answers 500)', async () => {
    const keys = ['list/a.json', 'list/b.md', 'list/c/d.zip', 'list/e.json', 'other/x'];
    for (const key of keys)
      await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: key, Body: 'x' }));
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.client.send(
        new ListObjectsV2Command({
          Bucket: 'evidence',
          Prefix: 'list/',
          MaxKeys: 2,
          ContinuationToken: token,
        }),
      );
      pages += 1;
      expect(page.KeyCount).toBe(page.Contents?.length);
      expect(page.Contents?.every((c) => c.Owner === undefined)).toBe(true);
      seen.push(...(page.Contents ?? []).map((c) => c.Key as string));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated) expect(token).toBeTruthy();
    } while (token);
    expect(pages).toBe(2);
    expect(seen).toEqual(['list/a.json', 'list/b.md', 'list/c/d.zip', 'list/e.json']);

    const after = await s3.client.send(
      new ListObjectsV2Command({
        Bucket: 'evidence',
        Prefix: 'list/',
        StartAfter: 'list/b.md',
        FetchOwner: true,
      }),
    );
    expect(after.Contents?.map((c) => c.Key)).toEqual(['list/c/d.zip', 'list/e.json']);
    expect(after.StartAfter).toBe('list/b.md');
    expect(after.Contents?.[0]?.Owner).toBeDefined();
    await expect(
      s3.client.send(new ListObjectsV2Command({ Bucket: 'evidence', ContinuationToken: 'bm90LW91cnM' })),
    ).rejects.toMatchObject({ name: 'InvalidArgument' });
  });

  it('replaces an object atomically: GETs during PUTs of the same key read one whole version, never a cut one', async () => {
    // Records that grow with each write, as a task record does with each attempt.
    const versions = Array.from({ length: 40 }, (_, n) =>
      JSON.stringify({ n, attempts: 'x'.repeat(200 + 37 * n) }),
    );
    const key = 'race/task.json';
    await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: key, Body: versions[0] }));
    const reads: string[] = [];
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const got = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: key }));
        reads.push(await (got.Body as { transformToString(): Promise<string> }).transformToString());
      }
    })();
    for (const body of versions.slice(1)) {
      await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: key, Body: body }));
    }
    writing = false;
    await reader;
    expect(reads.length).toBeGreaterThan(0);
    const known = new Set(versions);
    expect(reads.filter((body) => !known.has(body))).toEqual([]);
  });

  it('removes its temporary directory on close', async () => {
    const other = await startLocalS3({ buckets: ['tmp'] });
    await other.client.send(new PutObjectCommand({ Bucket: 'tmp', Key: 'k', Body: 'v' }));
    expect(existsSync(other.directory)).toBe(true);
    await other.close();
    expect(existsSync(other.directory)).toBe(false);
  });
});
