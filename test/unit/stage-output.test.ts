/** Stage Output's manifest builder and evidence record: plain staging facts → the chain-of-custody document. */
import { describe, expect, it } from 'vitest';
import { Manifest } from '../../lambdas/shared/evidence/manifest';
import type { StagedObject } from '../../lambdas/shared/evidence/stage-to-s3';
import type { CompletedTask } from '../../lambdas/shared/schemas';
import {
  resultIntegrity,
  s1ResultSha256,
  signatureCheck,
  stagedEvidence,
  stagedFromManifest,
  stagingManifest,
} from '../../lambdas/stage-output/core';

const SHA = 'c0ffee'.padEnd(64, '1');
const KEY = `investigations/threat-9/1001/6001/${SHA}.zip`;
const MANIFEST_KEY = 'investigations/threat-9/1001/6001/manifest.json';

const script = {
  scriptId: '4001',
  libraryName: 's1cado-triage-linux 1.2.0 (sha256:abcdef12)',
  name: 's1cado-triage-linux',
  version: '1.2.0',
  sha256: 'abcdef12'.padEnd(64, '0'),
  osType: 'linux' as const,
  scriptType: 'dataCollection',
  runtimeTimeoutSeconds: 1500,
  inputParams: '',
  uploaded: true,
};
const agent = {
  agentId: '1001',
  agentUuid: 'a'.repeat(32),
  computerName: 'web-01',
  osType: 'linux' as const,
  osName: 'Ubuntu 22.04',
  siteId: '2001',
  accountId: '3001',
};
const investigation = {
  investigationId: 'threat-9',
  threatId: '9',
  requestedBy: 'threat-intake',
  startedAt: '2026-11-24T10:00:00.000Z',
};
const input: CompletedTask = {
  investigation,
  target: { ...agent, script },
  task: {
    parentTaskId: '5001',
    description: 's1cado threat-9 agent 1001: lib',
    startedAt: '2026-11-24T10:00:05.000Z',
    deadline: '2026-11-24T10:30:05.000Z',
    reusedExisting: true,
    phase: 'completed',
    childTaskId: '6001',
    status: 'completed',
    detailedStatus: 'Execution completed successfully',
    statusCode: '0',
    resultSignature: SHA.toUpperCase(),
    checkedAt: '2026-11-24T10:05:00.000Z',
  },
  poll: { attempt: 4, waitSeconds: 60, deadline: '2026-11-24T10:30:05.000Z' },
};
const staged: StagedObject = {
  bucket: 'evidence',
  key: KEY,
  versionId: 'v-1',
  bytes: 123_456,
  sha256: SHA,
  etag: '"etag-1"',
  download: {
    bytes: 123_456,
    totalBytes: 123_456,
    resumes: 2,
    linkRefreshes: 1,
    suggestedFileName: undefined,
  },
  startedAt: '2026-11-24T10:05:01.000Z',
  finishedAt: '2026-11-24T10:05:09.000Z',
};
const facts = {
  input,
  fileName: 'result.zip',
  staged,
  writtenAt: '2026-11-24T10:05:10.000Z',
  version: '9.8.7',
};

describe('signatureCheck', () => {
  it('compares a SHA-256 signature in any case, and says nothing of others', () => {
    expect(signatureCheck(SHA.toUpperCase(), SHA)).toEqual({
      s1Signature: SHA.toUpperCase(),
      s1SignatureMatches: true,
    });
    expect(signatureCheck('f'.repeat(64), SHA)).toEqual({
      s1Signature: 'f'.repeat(64),
      s1SignatureMatches: false,
    });
    expect(signatureCheck('md5:abc', SHA)).toEqual({ s1Signature: 'md5:abc', s1SignatureMatches: null });
    expect(signatureCheck(SHA.slice(0, 63), SHA).s1SignatureMatches).toBeNull();
    expect(signatureCheck(undefined, SHA)).toEqual({ s1Signature: null, s1SignatureMatches: null });
    expect(signatureCheck(null, SHA)).toEqual({ s1Signature: null, s1SignatureMatches: null });
  });
});

describe('stagingManifest', () => {
  const manifest = stagingManifest(facts);

  it('is a valid manifest of the staging step, hand-off pending', () => {
    expect(Manifest.parse(manifest)).toEqual(manifest);
    expect(manifest).toMatchObject({
      schema: 's1cado/manifest@1',
      cado: null,
      handoff: { status: 'pending', rerunCommand: 'npx s1cado handoff threat-9' },
      tool: { name: 's1-cado-forensics', version: '9.8.7' },
      writtenAt: facts.writtenAt,
      writtenBy: 'stage-output',
    });
  });

  it('names who asked, the agent (without its script) and the exact script', () => {
    expect(manifest.investigation).toEqual(investigation);
    expect(manifest.agent).toEqual(agent);
    expect(manifest.script).toEqual(script);
  });

  it('keeps what S1 said about the task', () => {
    expect(manifest.s1Task).toEqual({
      parentTaskId: '5001',
      childTaskId: '6001',
      description: input.task.description,
      status: 'completed',
      detailedStatus: 'Execution completed successfully',
      statusCode: '0',
      reusedExisting: true,
    });
  });

  it('records the stored object with our SHA-256, and S1’s signature with whether it matches', () => {
    expect(manifest.object).toEqual({
      bucket: 'evidence',
      key: KEY,
      versionId: 'v-1',
      bytes: 123_456,
      sha256: SHA,
      etag: '"etag-1"',
      s3ChecksumAlgorithm: 'CRC32',
    });
    expect(manifest.result).toEqual({
      fileName: 'result.zip',
      s1Signature: SHA.toUpperCase(),
      s1SignatureType: 'SHA256',
      s1SignatureMatches: true,
    });
    const other = stagingManifest({ ...facts, staged: { ...staged, sha256: 'd'.repeat(64) } });
    expect(other.result.s1SignatureMatches).toBe(false);
    expect(other.object.sha256).toBe('d'.repeat(64));
  });

  it('records the download: resumes, link refreshes and its times', () => {
    expect(manifest.download).toEqual({
      resumes: 2,
      linkRefreshes: 1,
      startedAt: staged.startedAt,
      finishedAt: staged.finishedAt,
    });
  });

  it('has the timeline up to staged, in order, each step at its own time', () => {
    expect(manifest.timeline).toEqual([
      { event: 'investigation-started', at: investigation.startedAt },
      { event: 'task-started', at: input.task.startedAt, detail: 'S1 parent task 5001' },
      { event: 'task-completed', at: input.task.checkedAt, detail: 'Execution completed successfully' },
      { event: 'download-started', at: staged.startedAt },
      { event: 'staged', at: staged.finishedAt, detail: `123456 bytes, sha256 ${SHA}` },
    ]);
    const times = manifest.timeline.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('a task S1 told less about: no detailedStatus, code or signature', () => {
    const { detailedStatus: _, statusCode: __, resultSignature: ___, ...bare } = input.task;
    const sparse = stagingManifest({ ...facts, input: { ...input, task: bare } });
    expect(Manifest.parse(sparse)).toEqual(sparse);
    expect(sparse.s1Task.detailedStatus).toBeUndefined();
    expect(sparse.s1Task.statusCode).toBeUndefined();
    expect(sparse.result).toMatchObject({ s1Signature: null, s1SignatureMatches: null });
    expect(sparse.timeline.find((e) => e.event === 'task-completed')?.detail).toBe('completed');
  });

  it('an unversioned bucket and an object without an ETag are recorded as null', () => {
    const plain = stagingManifest({ ...facts, staged: { ...staged, versionId: null, etag: null } });
    expect(plain.object).toMatchObject({ versionId: null, etag: null });
    expect(Manifest.parse(plain)).toEqual(plain);
  });
});

describe('stagedEvidence', () => {
  it('adds the evidence to the state, consistent with the manifest', () => {
    const out = stagedEvidence(input, 'result.zip', staged, MANIFEST_KEY);
    expect(out).toEqual({
      ...input,
      evidence: {
        bucket: 'evidence',
        key: KEY,
        versionId: 'v-1',
        etag: '"etag-1"',
        bytes: 123_456,
        sha256: SHA,
        fileName: 'result.zip',
        manifestKey: MANIFEST_KEY,
        s1Signature: SHA.toUpperCase(),
        s1SignatureMatches: true,
        stagedAt: staged.finishedAt,
      },
    });
    const manifest = stagingManifest(facts);
    expect(out.evidence.sha256).toBe(manifest.object.sha256);
    expect(out.evidence.s1SignatureMatches).toBe(manifest.result.s1SignatureMatches);
  });

  it('a retried Stage Output rebuilds the same state from the first manifest', () => {
    const manifest = stagingManifest(facts);
    expect(stagedFromManifest(input, manifest, MANIFEST_KEY)).toEqual(
      stagedEvidence(input, 'result.zip', staged, MANIFEST_KEY),
    );
  });
});

describe('s1ResultSha256 and resultIntegrity', () => {
  it('takes scriptResultsSignature (hex or base64) first, then a <sha256>.zip file name, else nothing', () => {
    const b64 = Buffer.from(SHA, 'hex').toString('base64');
    expect(s1ResultSha256(SHA.toUpperCase(), 'x.zip')).toEqual({
      sha256: SHA,
      source: 'scriptResultsSignature',
    });
    expect(s1ResultSha256(b64, 'x.zip')).toEqual({ sha256: SHA, source: 'scriptResultsSignature' });
    expect(s1ResultSha256(undefined, `${SHA.toUpperCase()}.zip`)).toEqual({
      sha256: SHA,
      source: 'fileName',
    });
    expect(s1ResultSha256('sha1:abc', `${SHA}.tar`)).toBeUndefined();
    expect(s1ResultSha256(null, 'result.zip')).toBeUndefined();
  });

  const object = (sha256: string, key: string): StagedObject => ({ ...staged, sha256, key });

  it('is verified when the last download matches, keeping the mismatching one tagged', () => {
    const expected = { sha256: SHA, source: 'fileName' as const };
    const out = resultIntegrity(expected, [object('d'.repeat(64), 'a.zip'), object(SHA, 'b.zip')]);
    expect(out).toMatchObject({ status: 'verified', s1Sha256: SHA, s1Source: 'fileName', stagedSha256: SHA });
    expect(out.attempts.map((a) => [a.key, a.matchesS1, a.tag])).toEqual([
      ['a.zip', false, 'mismatch'],
      ['b.zip', true, null],
    ]);
  });

  it('is a mismatch when the last download differs, and not available without S1 hash', () => {
    const expected = { sha256: SHA, source: 'scriptResultsSignature' as const };
    expect(resultIntegrity(expected, [object('d'.repeat(64), 'a.zip')]).status).toBe('mismatch');
    const none = resultIntegrity(undefined, [object('d'.repeat(64), 'a.zip')]);
    expect(none).toMatchObject({ status: 'not_available', s1Sha256: null, s1Source: null });
    expect(none.attempts[0]).toMatchObject({ matchesS1: null, tag: null });
  });

  it('a mismatch manifest says it was not handed to Cado, with both hashes in the timeline', () => {
    const expected = { sha256: SHA, source: 'scriptResultsSignature' as const };
    const bad = object('d'.repeat(64), KEY);
    const manifest = stagingManifest({ ...facts, staged: bad, integrity: resultIntegrity(expected, [bad]) });
    expect(Manifest.parse(manifest)).toEqual(manifest);
    expect(manifest.handoff).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('not handed'),
    });
    expect(manifest.timeline.at(-1)).toMatchObject({
      event: 'integrity-mismatch',
      detail: `S1 scriptResultsSignature ${SHA}, staged ${'d'.repeat(64)}`,
    });
  });
});
