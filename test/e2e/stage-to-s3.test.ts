import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageToS3 } from '../../lambdas/shared/evidence/stage-to-s3';
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
    download: { getUrl: async () => `${base}/result.zip?sig=1`, policy },
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
        download: { getUrl: async () => `${base}/x`, policy: { allowedHosts: ['*.amazonaws.com'] } },
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
