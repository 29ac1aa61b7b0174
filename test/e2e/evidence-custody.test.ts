import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertCurrentVersion } from '../../lambdas/shared/evidence/current-version';
import { type LocalS3, startLocalS3 } from '../../local/s3';

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3({ buckets: ['evidence'] });
});
afterAll(async () => {
  await s3?.close();
});

describe('the hand-off guard (current version = verified version)', () => {
  async function stored(key: string, body: string) {
    await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: key, Body: body }));
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'evidence', Key: key }));
    return { bucket: 'evidence', key, versionId: null, etag: head.ETag ?? null, bytes: body.length };
  }

  it('passes when the key still holds the verified write', async () => {
    const evidence = await stored('g/a.zip', 'verified bytes');
    await expect(assertCurrentVersion(s3.client, evidence)).resolves.toBeUndefined();
  });

  it('refuses when the key was written again since (same length, other bytes)', async () => {
    const evidence = await stored('g/b.zip', 'verified bytes');
    await s3.client.send(
      new PutObjectCommand({ Bucket: 'evidence', Key: 'g/b.zip', Body: 'replaced bytes' }),
    );
    await expect(assertCurrentVersion(s3.client, evidence)).rejects.toMatchObject({
      name: 'EvidenceIntegrityError',
      message: expect.stringContaining('no longer holds the verified write'),
    });
  });

  it('refuses when the recorded version id is not the current one', async () => {
    const evidence = await stored('g/c.zip', 'verified bytes');
    // s3rver keeps no versions: its current "version" is null, so any recorded version id is not current.
    await expect(
      assertCurrentVersion(s3.client, { ...evidence, versionId: 'v-verified' }),
    ).rejects.toMatchObject({
      name: 'EvidenceIntegrityError',
      message: expect.stringContaining('not the verified v-verified'),
    });
  });
});
