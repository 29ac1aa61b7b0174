import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../lambdas/shared/aws';
import { LIMITS } from '../../lambdas/shared/contract';
import { PartWriter } from '../../lambdas/shared/evidence/part-writer';
import { MAX_PART_BYTES, partSizeFor, stageToS3 } from '../../lambdas/shared/evidence/stage-to-s3';
import { type LocalS3, startLocalS3 } from '../../local/s3';

/**
 * Edge cases of staging that the S1 simulator does not produce: storage that ignores Range, sends no length,
 * or answers a resume with the wrong range. (Resets, truncation and expired links against the simulator are
 * covered end to end.)
 */
const BODY = randomBytes(3 * 1024 * 1024 + 17);
const SHA = createHash('sha256').update(BODY).digest('hex');
let s3: LocalS3;
let server: Server;
let base: string;
let handle: (req: IncomingMessage, res: ServerResponse) => void;
const ranges: (string | undefined)[] = [];

beforeAll(async () => {
  s3 = await startLocalS3({ buckets: ['evidence'] });
  server = createServer((req, res) => {
    ranges.push(req.headers.range);
    handle(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await s3.close();
});

const policy = { allowedHosts: [], allowLoopback: true };

async function stage(key: string) {
  ranges.length = 0;
  return stageToS3({
    s3: s3.client,
    bucket: 'evidence',
    key,
    partSizeBytes: 5 * 1024 * 1024,
    download: {
      getUrl: async () => `${base}/result.zip?sig=1`,
      policy,
      maxBytes: LIMITS.defaultMaxResultBytes,
    },
  });
}

async function objectKeys(): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: 'evidence' }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
}

/** Sends the first `cut` bytes of the body, then destroys the connection. */
function cutOff(res: ServerResponse, cut: number) {
  res.writeHead(200, { 'content-length': String(BODY.length) });
  res.write(BODY.subarray(0, cut), () => res.destroy());
}

describe('stageToS3', () => {
  it('resumes from storage that ignores Range by skipping the bytes it already has', async () => {
    let calls = 0;
    handle = (_req, res) => {
      calls++;
      if (calls === 1) cutOff(res, 1024 * 1024);
      else {
        res.writeHead(200, { 'content-length': String(BODY.length) });
        res.end(BODY);
      }
    };
    const staged = await stage('ignores-range.zip');
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(staged).toMatchObject({ bytes: BODY.length, sha256: SHA });
    expect(staged.download.resumes).toBe(1);
    const out = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: 'ignores-range.zip' }));
    const stored = Buffer.from(await (out.Body?.transformToByteArray() ?? new Uint8Array()));
    expect(createHash('sha256').update(stored).digest('hex')).toBe(SHA);
  });

  it('writes evidence once: a second staging onto the same key is refused and the first object is kept', async () => {
    handle = (_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    };
    const first = await stage('once/result.zip');
    expect(first.sha256).toBe(SHA);
    const other = Buffer.from(BODY);
    other[0] = (other[0] ?? 0) ^ 0xff;
    handle = (_req, res) => {
      res.writeHead(200, { 'content-length': String(other.length) });
      res.end(other);
    };
    await expect(stage('once/result.zip')).rejects.toMatchObject({
      name: 'EvidenceIntegrityError',
      message: expect.stringContaining('already holds an object'),
    });
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: 'once/result.zip' }));
    const stored = (await got.Body?.transformToByteArray()) ?? new Uint8Array();
    expect(createHash('sha256').update(stored).digest('hex')).toBe(SHA);
  });

  it('refuses a result without Content-Length and stores nothing', async () => {
    handle = (_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.end(BODY);
    };
    await expect(stage('no-length.zip')).rejects.toMatchObject({
      name: 'DownloadError',
      message: expect.stringContaining('Content-Length'),
    });
    expect(await objectKeys()).not.toContain('no-length.zip');
  });

  it('refuses a resume answered with the wrong range and stores nothing', async () => {
    let calls = 0;
    handle = (_req, res) => {
      calls++;
      if (calls === 1) cutOff(res, 1024 * 1024);
      else {
        res.writeHead(206, {
          'content-range': `bytes 0-${BODY.length - 1}/${BODY.length}`,
          'content-length': String(BODY.length),
        });
        res.end(BODY);
      }
    };
    await expect(stage('wrong-range.zip')).rejects.toMatchObject({ name: 'DownloadError' });
    expect(await objectKeys()).not.toContain('wrong-range.zip');
  });

  it('gives up after the resume budget and stores nothing', async () => {
    handle = (_req, res) => cutOff(res, 64 * 1024);
    await expect(stage('always-cut.zip')).rejects.toMatchObject({ name: 'DownloadInterruptedError' });
    expect(ranges.length).toBe(6);
    expect(await objectKeys()).not.toContain('always-cut.zip');
  });

  it('refuses a link off the allowlist before sending anything', async () => {
    ranges.length = 0;
    await expect(
      stageToS3({
        s3: s3.client,
        bucket: 'evidence',
        key: 'off-list.zip',
        download: {
          getUrl: async () => `${base}/x`,
          policy: { allowedHosts: ['*.amazonaws.com'] },
          maxBytes: LIMITS.defaultMaxResultBytes,
        },
      }),
    ).rejects.toMatchObject({ name: 'HostNotAllowedError' });
    expect(ranges).toEqual([]);
  });

  it('treats a refused link as expired, asks for a fresh one, and stops after the refresh budget', async () => {
    let urls = 0;
    handle = (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
    };
    const error = await stageToS3({
      s3: s3.client,
      bucket: 'evidence',
      key: 'expired.zip',
      download: {
        getUrl: async () => {
          urls++;
          return `${base}/r?X-Amz-Signature=secret${urls}`;
        },
        policy,
        maxBytes: LIMITS.defaultMaxResultBytes,
      },
    }).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({
      name: 'DownloadLinkExpiredError',
      message: expect.stringContaining('Request has expired'),
    });
    expect(urls).toBe(3);
    expect((error as Error).message).not.toContain('secret');
  });
});

describe('multipart staging (parts from a fixed pool of buffers)', () => {
  const MiB = 1024 * 1024;
  const LARGE = randomBytes(12 * MiB + 17);
  const LARGE_SHA = createHash('sha256').update(LARGE).digest('hex');

  function stageLarge(key: string, queueSize: number) {
    return stageToS3({
      s3: s3.client,
      bucket: 'evidence',
      key,
      partSizeBytes: 5 * MiB,
      queueSize,
      download: {
        getUrl: async () => `${base}/large.zip?sig=1`,
        policy,
        maxBytes: LIMITS.defaultMaxResultBytes,
      },
    });
  }

  async function stored(key: string): Promise<Buffer> {
    const out = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: key }));
    return Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
  }

  it('stores every byte in order across parts, with one part in flight or several, and writes once', async () => {
    handle = (_req, res) => {
      res.writeHead(200, { 'content-length': String(LARGE.length) });
      res.end(LARGE);
    };
    for (const queueSize of [1, 3]) {
      const key = `multipart/q${queueSize}.zip`;
      const staged = await stageLarge(key, queueSize);
      expect(staged).toMatchObject({ bytes: LARGE.length, sha256: LARGE_SHA });
      expect(
        createHash('sha256')
          .update(await stored(key))
          .digest('hex'),
      ).toBe(LARGE_SHA);
    }
    await expect(stageLarge('multipart/q1.zip', 2)).rejects.toMatchObject({
      name: 'EvidenceIntegrityError',
      message: expect.stringContaining('already holds an object'),
    });
    expect(
      createHash('sha256')
        .update(await stored('multipart/q1.zip'))
        .digest('hex'),
    ).toBe(LARGE_SHA);
  });

  it('takes bytes that lie in its free tail in place, and copies bytes from anywhere else, the same memory included', async () => {
    const writer = new PartWriter({
      s3: s3.client,
      bucket: 'evidence',
      key: 'multipart/in-place.zip',
      totalBytes: LARGE.length,
      partSizeBytes: 5 * MiB,
      queueSize: 1,
      contentType: 'application/zip',
    });
    let at = 0;
    for (let round = 0; at < LARGE.length; round++) {
      const n = Math.min(LARGE.length - at, 100_000 + round);
      const region = writer.region();
      // Every third chunk lies 7 bytes off the free tail (as after skipped bytes): in the part's memory, but not where
      // it belongs; every fifth comes from memory of its own.
      const shift = round % 3 === 1 && region && region.length >= n + 7 ? 7 : 0;
      let chunk: Buffer;
      if (region && region.length >= n + shift && round % 5 !== 4) {
        chunk = region.subarray(shift, shift + n);
        LARGE.copy(chunk, 0, at, at + n);
      } else {
        chunk = Buffer.from(LARGE.subarray(at, at + Math.min(n, region?.length ?? n)));
      }
      const pending = writer.write(chunk);
      if (pending) await pending;
      at += chunk.length;
    }
    expect((await writer.finish()).parts).toBe(Math.ceil(LARGE.length / (5 * MiB)));
    expect(
      createHash('sha256')
        .update(await stored('multipart/in-place.zip'))
        .digest('hex'),
    ).toBe(LARGE_SHA);
  });

  it('stages a file of exactly two parts and an empty file, byte for byte', async () => {
    for (const body of [LARGE.subarray(0, 10 * MiB), Buffer.alloc(0)]) {
      handle = (_req, res) => {
        res.writeHead(200, { 'content-length': String(body.length) });
        res.end(body);
      };
      const key = `multipart/exact-${body.length}.zip`;
      const sha = createHash('sha256').update(body).digest('hex');
      expect(await stageLarge(key, 2)).toMatchObject({ bytes: body.length, sha256: sha });
      expect(
        createHash('sha256')
          .update(await stored(key))
          .digest('hex'),
      ).toBe(sha);
    }
  });

  it("keeps the Lambda S3 client's part uploads on pooled connections (no new connection per part)", async () => {
    handle = (_req, res) => {
      res.writeHead(200, { 'content-length': String(LARGE.length) });
      res.end(LARGE);
    };
    // A TCP relay in front of s3rver counts the connections the Lambda's client opens.
    let connections = 0;
    const relay = createNetServer((client) => {
      connections++;
      const upstream = connect(Number(new URL(s3.endpoint).port), '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    const saved = { ...process.env };
    Object.assign(process.env, s3.env, {
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
      AWS_REGION: 'us-east-1',
    });
    try {
      const staged = await stageToS3({
        s3: s3Client(),
        bucket: 'evidence',
        key: 'multipart/lambda-client.zip',
        partSizeBytes: 5 * MiB,
        queueSize: 1,
        download: {
          getUrl: async () => `${base}/large.zip?sig=1`,
          policy,
          maxBytes: LIMITS.defaultMaxResultBytes,
        },
      });
      expect(staged).toMatchObject({ bytes: LARGE.length, sha256: LARGE_SHA });
      // Three parts one after the other, plus create, complete and head: one connection (two at most, should
      // the server close an idle one). With `Expect: 100-continue` the SDK opened one more for every part.
      expect(connections).toBeLessThanOrEqual(2);
    } finally {
      process.env = saved;
      s3Client().destroy();
      relay.close();
    }
  });

  it('completes nothing when the download breaks off for good after parts were uploaded', async () => {
    handle = (req, res) => {
      const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      // Every answer stops 1 MiB further than the last: parts get uploaded, the file never completes.
      const cut = Math.min(from + MiB, LARGE.length - 1);
      if (from === 0) res.writeHead(200, { 'content-length': String(LARGE.length) });
      else
        res.writeHead(206, {
          'content-range': `bytes ${from}-${LARGE.length - 1}/${LARGE.length}`,
          'content-length': String(LARGE.length - from),
        });
      res.write(LARGE.subarray(from, from === 0 ? 7 * MiB : cut), () => res.destroy());
    };
    await expect(stageLarge('multipart/broken.zip', 2)).rejects.toMatchObject({
      name: 'DownloadInterruptedError',
    });
    expect(await objectKeys()).not.toContain('multipart/broken.zip');
  });
});

describe('the size cap (maxResultBytes)', () => {
  const TB = 4 * 1000 ** 4;
  const MiB = 1024 * 1024;
  const CHUNK = Buffer.alloc(MiB, 0x5a);

  /** Announces `announced` bytes and streams `actual` bytes of it as fast as the client reads (then ends short). */
  function liar(announced: number, actual: number): { written: () => number } {
    let written = 0;
    handle = (_req, res) => {
      res.writeHead(200, { 'content-length': String(announced) });
      const pump = () => {
        while (written < actual) {
          written += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        res.destroy();
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
    };
    return { written: () => written };
  }

  /** Runs `work`, sampling external memory (the part buffers are ArrayBuffers) every 10 ms; returns the peak rise. */
  async function peakRise<T>(work: () => Promise<T>): Promise<{ rise: number; result: T | Error }> {
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 10);
    const result = await work().catch((e: unknown) => e as Error);
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    return { rise: peak - base, result };
  }

  it('fails fast with ResultTooLargeError when a host announces 4 TB, before any upload, with memory unchanged', async () => {
    const server = liar(TB, 600 * MiB);
    ranges.length = 0;
    const started = Date.now();
    const { rise, result } = await peakRise(() =>
      stageToS3({
        s3: s3.client,
        bucket: 'evidence',
        key: 'four-terabytes.zip',
        download: {
          getUrl: async () => `${base}/huge.zip?sig=1`,
          policy,
          maxBytes: LIMITS.defaultMaxResultBytes,
        },
      }),
    );
    expect(result).toMatchObject({
      name: 'ResultTooLargeError',
      retryable: false,
      message: expect.stringContaining(`announced a result of ${TB} bytes`),
      details: { totalBytes: TB, maxResultBytes: LIMITS.defaultMaxResultBytes },
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    // The body was never read: at most what the sockets buffered before the connection was closed.
    expect(server.written()).toBeLessThan(64 * MiB);
    expect(rise).toBeLessThan(16 * MiB);
    expect(ranges).toHaveLength(1);
    expect(await objectKeys()).not.toContain('four-terabytes.zip');
  });

  it('sizes parts from the cap, never from the announced length, and bounds them', () => {
    expect(partSizeFor(LIMITS.defaultMaxResultBytes)).toBe(5 * MiB);
    expect(partSizeFor(TB)).toBe(MAX_PART_BYTES);
    expect(partSizeFor(LIMITS.maxResultBytesCeiling)).toBeLessThanOrEqual(MAX_PART_BYTES);
    expect(partSizeFor(LIMITS.maxResultBytesCeiling) * 9_000).toBeGreaterThanOrEqual(
      LIMITS.maxResultBytesCeiling,
    );
  });
});
