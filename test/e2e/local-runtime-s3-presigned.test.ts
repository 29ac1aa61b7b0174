import { createHash, randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListPartsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../local/s3';

const b64 = (data: Buffer) => createHash('sha256').update(data).digest('base64');
const md5 = (data: Buffer) => createHash('md5').update(data).digest('base64');
const MIB = 1024 * 1024;

let s3: LocalS3;

beforeAll(async () => {
  s3 = await startLocalS3({ buckets: ['evidence'] });
});

afterAll(async () => {
  await s3?.close();
});

async function createUpload(key: string, sha256 = false): Promise<string> {
  const created = await s3.client.send(
    new CreateMultipartUploadCommand({
      Bucket: 'evidence',
      Key: key,
      ...(sha256 ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
    }),
  );
  return created.UploadId as string;
}

function partUrl(key: string, uploadId: string, partNumber: number, expiresIn = 300, signingDate?: Date) {
  return getSignedUrl(
    s3.client,
    new UploadPartCommand({ Bucket: 'evidence', Key: key, UploadId: uploadId, PartNumber: partNumber }),
    { expiresIn, ...(signingDate ? { signingDate } : {}) },
  );
}

/** A part PUT as the collector sends it: the URL, the body and its Content-MD5 (no x-amz-* header). */
async function put(url: string, body: Buffer, contentMd5 = md5(body)): Promise<Response> {
  return fetch(url, { method: 'PUT', body, headers: { 'content-md5': contentMd5 } });
}

/** An unauthenticated PUT of a part with an x-amz-checksum-sha256 header (s3rver lets anonymous requests in). */
async function putWithSha256(key: string, uploadId: string, n: number, body: Buffer, checksum: string) {
  const url = `${s3.endpoint}/evidence/${key}?uploadId=${uploadId}&partNumber=${n}`;
  return fetch(url, { method: 'PUT', body, headers: { 'x-amz-checksum-sha256': checksum } });
}

describe('presigned UploadPart URLs on the local S3', () => {
  it('accepts presigned parts with their Content-MD5, lists them and completes', async () => {
    const key = 'investigations/t/a/1/direct.zip';
    const uploadId = await createUpload(key);
    const parts = [randomBytes(5 * MIB), randomBytes(1234)];
    for (const [i, body] of parts.entries()) {
      const res = await put(await partUrl(key, uploadId, i + 1), body);
      expect(res.status).toBe(200);
    }
    const listed = await s3.client.send(
      new ListPartsCommand({ Bucket: 'evidence', Key: key, UploadId: uploadId }),
    );
    const hex = (b: Buffer) => createHash('md5').update(b).digest('hex');
    expect(listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag?.replace(/"/g, '')])).toEqual([
      [1, 5 * MIB, hex(parts[0] as Buffer)],
      [2, 1234, hex(parts[1] as Buffer)],
    ]);
    const done = await s3.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'evidence',
        Key: key,
        UploadId: uploadId,
        MultipartUpload: {
          Parts: (listed.Parts ?? []).map((p) => ({
            PartNumber: p.PartNumber,
            ETag: p.ETag,
            ChecksumSHA256: p.ChecksumSHA256,
          })),
        },
      }),
    );
    expect(done.ETag).toBeTruthy();
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'evidence', Key: key }));
    const bytes = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    expect(bytes.equals(Buffer.concat(parts))).toBe(true);
  });

  it('refuses a URL used for another key, another part or another method with SignatureDoesNotMatch', async () => {
    const key = 'investigations/t/a/2/direct.zip';
    const uploadId = await createUpload(key);
    const url = new URL(await partUrl(key, uploadId, 1));
    const body = randomBytes(1024);

    const otherKey = new URL(url);
    otherKey.pathname = '/evidence/investigations/t/a/2/manifest.json';
    const refused = await put(otherKey.toString(), body);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('<Code>SignatureDoesNotMatch</Code>');

    const otherPart = new URL(url);
    otherPart.searchParams.set('partNumber', '2');
    expect((await put(otherPart.toString(), body)).status).toBe(403);

    const asGet = await fetch(url.toString());
    expect(asGet.status).toBe(403);
    expect(await asGet.text()).toContain('SignatureDoesNotMatch');

    const listed = await s3.client.send(
      new ListPartsCommand({ Bucket: 'evidence', Key: key, UploadId: uploadId }),
    );
    expect(listed.Parts ?? []).toEqual([]);
  });

  it('refuses an expired URL with AccessDenied "Request has expired"', async () => {
    const key = 'investigations/t/a/3/direct.zip';
    const uploadId = await createUpload(key);
    const url = await partUrl(key, uploadId, 1, 60, new Date(Date.now() - 120_000));
    const res = await put(url, randomBytes(10));
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(text).toContain('<Code>AccessDenied</Code>');
    expect(text).toContain('Request has expired');
  });

  it('refuses an x-amz-* header the URL does not sign (the holder cannot add one)', async () => {
    const key = 'investigations/t/a/6/direct.zip';
    const uploadId = await createUpload(key);
    const body = randomBytes(100);
    const res = await fetch(await partUrl(key, uploadId, 1), {
      method: 'PUT',
      body,
      headers: { 'x-amz-checksum-sha256': b64(body) },
    });
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(text).toContain('There were headers present in the request which were not signed');
    expect(text).toContain('x-amz-checksum-sha256');
  });

  it('refuses a part whose body does not match its Content-MD5 or its SHA-256 (BadDigest), or lacks the SHA-256 its upload requires', async () => {
    const plain = 'investigations/t/a/4/plain.zip';
    const plainId = await createUpload(plain);
    const badMd5 = await put(await partUrl(plain, plainId, 1), randomBytes(100), md5(Buffer.from('other')));
    expect(badMd5.status).toBe(400);
    expect(await badMd5.text()).toContain('<Code>BadDigest</Code>');
    const key = 'investigations/t/a/4/direct.zip';
    const uploadId = await createUpload(key, true);
    const body = randomBytes(100);
    const badSha = await putWithSha256(key, uploadId, 1, body, b64(Buffer.from('something else')));
    expect(badSha.status).toBe(400);
    expect(await badSha.text()).toContain('The SHA256 you specified did not match');
    const none = await fetch(`${s3.endpoint}/evidence/${key}?uploadId=${uploadId}&partNumber=1`, {
      method: 'PUT',
      body,
    });
    expect(none.status).toBe(400);
    expect(await none.text()).toContain('Checksum Type mismatch');
    const good = await putWithSha256(key, uploadId, 1, body, b64(body));
    expect(good.status).toBe(200);
    expect(good.headers.get('x-amz-checksum-sha256')).toBe(b64(body));
    const listed = await s3.client.send(
      new ListPartsCommand({ Bucket: 'evidence', Key: key, UploadId: uploadId }),
    );
    expect(listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumSHA256])).toEqual([[1, 100, b64(body)]]);
  });

  it('ties an upload id to its key: a correctly signed URL for another key and the same upload is NoSuchUpload', async () => {
    const key = 'investigations/t/a/5/direct.zip';
    const uploadId = await createUpload(key);
    const url = await partUrl('investigations/t/a/5/other.zip', uploadId, 1);
    const res = await put(url, randomBytes(10));
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('<Code>NoSuchUpload</Code>');
  });
});
