import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Verification } from '../../lambdas/shared/evidence/chain';
import { assertCurrentVersion } from '../../lambdas/shared/evidence/current-version';
import type { StagedEvidence } from '../../lambdas/shared/schemas';
import { verifyEvidence } from '../../lambdas/verify-evidence/core';
import { prepareResult } from '../../local/s1-simulator/result-file';
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

/** A zip shaped like the collector's output: a few files, collection.log, SHA256SUMS (optionally altered). */
async function collectorZip(
  opts: { breakSum?: string; drop?: string; extra?: string; noListing?: boolean } = {},
) {
  const files: Record<string, string> = {
    'collection.log': '# s1cado-collector linux-triage 1\nSTEP system ok\n',
    'system/uname.txt': 'Linux host 6.1.0\n',
    'processes/ps.txt': 'PID CMD\n1 init\n',
  };
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const sums = Object.entries(files)
    .map(([name, text]) => `${name === opts.breakSum ? '0'.repeat(64) : sha(text)}  ${name}`)
    .join('\n');
  const entries = Object.entries(files)
    .filter(([name]) => name !== opts.drop)
    .map(([name, text]) => ({ name: `s1cado-linux-triage/${name}`, content: Buffer.from(text) }));
  if (opts.extra) entries.push({ name: `s1cado-linux-triage/${opts.extra}`, content: Buffer.from('x') });
  if (!opts.noListing)
    entries.push({ name: 's1cado-linux-triage/SHA256SUMS', content: Buffer.from(`${sums}\n`) });
  const prepared = await prepareResult({ entries }, { seed: 'custody', key: 'k' }, Date.UTC(2026, 0, 1));
  return Buffer.concat([...prepared.archive.read(0, prepared.size)]);
}

describe('Verify Evidence', () => {
  let n = 0;
  async function staged(zip: Buffer): Promise<StagedEvidence> {
    n++;
    const key = `investigations/manual-1/agent-${n}/task-${n}/result.zip`;
    await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: key, Body: zip }));
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'evidence', Key: key }));
    return {
      evidence: {
        bucket: 'evidence',
        key,
        versionId: null,
        etag: head.ETag ?? null,
        bytes: zip.length,
        sha256: createHash('sha256').update(zip).digest('hex'),
        fileName: 'result.zip',
        manifestKey: key.replace(/result\.zip$/, 'manifest.json'),
        s1Signature: null,
        s1SignatureMatches: null,
        stagedAt: '2026-01-01T00:00:00.000Z',
      },
    } as StagedEvidence;
  }
  const deps = () => ({ s3: s3.client, nowIso: () => '2026-01-01T00:01:00.000Z' });
  const record = async (input: StagedEvidence) => {
    const got = await s3.client.send(
      new GetObjectCommand({
        Bucket: 'evidence',
        Key: input.evidence.manifestKey.replace('manifest.json', 'verification.json'),
      }),
    );
    return Verification.parse(JSON.parse((await got.Body?.transformToString()) ?? ''));
  };

  it('verifies the read-back and every entry of a collector zip, and records the counts once', async () => {
    const input = await staged(await collectorZip());
    const out = await verifyEvidence(input, deps());
    expect(out.evidence.verificationKey).toMatch(/verification\.json$/);
    const v = await record(input);
    expect(v.readBack).toMatchObject({
      status: 'verified',
      sha256: input.evidence.sha256,
      bytes: input.evidence.bytes,
    });
    expect(v.listing).toMatchObject({
      status: 'verified',
      encrypted: false,
      listingPath: 's1cado-linux-triage/SHA256SUMS',
      filesListed: 3,
      verified: 3,
      mismatched: 0,
      missing: 0,
      extra: 0,
    });
    // A retried invocation judges by the record already written (it is written once).
    await expect(verifyEvidence(input, deps())).resolves.toEqual(out);
  });

  it('detects a broken SHA256SUMS entry, fails the integrity and names the file', async () => {
    const input = await staged(await collectorZip({ breakSum: 'system/uname.txt' }));
    await expect(verifyEvidence(input, deps())).rejects.toMatchObject({
      name: 'EvidenceIntegrityError',
      message: expect.stringContaining('mismatch: system/uname.txt'),
    });
    expect((await record(input)).listing).toMatchObject({ status: 'mismatch', verified: 2, mismatched: 1 });
  });

  it('counts a listed file that is missing and a file that is not listed', async () => {
    const input = await staged(await collectorZip({ drop: 'processes/ps.txt', extra: 'planted.bin' }));
    await expect(verifyEvidence(input, deps())).rejects.toMatchObject({ name: 'EvidenceIntegrityError' });
    const { listing } = await record(input);
    expect(listing).toMatchObject({ status: 'mismatch', missing: 1, extra: 1, verified: 2 });
    expect(listing.problems).toEqual(
      expect.arrayContaining(['missing: processes/ps.txt', 'extra: planted.bin']),
    );
  });

  it('a zip without a listing (not our collector) is "not available", not a failure', async () => {
    const input = await staged(await collectorZip({ noListing: true }));
    await verifyEvidence(input, deps());
    expect((await record(input)).listing).toMatchObject({ status: 'not_available', encrypted: false });
  });

  it('fails when the stored bytes are not the staged ones (same length), without reading the listing', async () => {
    const input = await staged(await collectorZip());
    const flipped = await collectorZip({ breakSum: 'collection.log' });
    await s3.client.send(
      new PutObjectCommand({ Bucket: 'evidence', Key: input.evidence.key, Body: flipped }),
    );
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'evidence', Key: input.evidence.key }));
    const pinnedToNew = { ...input, evidence: { ...input.evidence, etag: head.ETag ?? null } };
    await expect(verifyEvidence(pinnedToNew, deps())).rejects.toMatchObject({
      name: 'EvidenceIntegrityError',
      message: expect.stringContaining('not the staged'),
    });
    expect((await record(input)).readBack.status).toBe('mismatch');
  });
});
