/**
 * The decisions of the hand-off re-run, with plain fixtures: what Find Staged Evidence hands to the Map (import anew
 * or follow an earlier pipeline), and how Record Outcome judges each collection and writes its manifest.
 */
import { describe, expect, it } from 'vitest';
import { rerunItemFrom, stagedEvidenceFrom } from '../../lambdas/find-staged-evidence/core';
import { alreadyRecorded, nextManifest, rerunLine } from '../../lambdas/record-outcome/rerun';
import { MANIFEST_SCHEMA, type Manifest } from '../../lambdas/shared/evidence/manifest';
import { HandedOff, type RerunInfo, StagedEvidence } from '../../lambdas/shared/schemas';

const SHA = 'a'.repeat(64);
const KEY = 'investigations/threat-1/1001/2002/result.zip';
const MANIFEST_KEY = 'investigations/threat-1/1001/2002/manifest.json';

function manifest(cado: Manifest['cado'] = null): Manifest {
  return {
    schema: MANIFEST_SCHEMA,
    investigation: {
      investigationId: 'threat-1',
      threatId: '1',
      requestedBy: 'threat-intake',
      startedAt: '2026-11-24T10:00:00.000Z',
    },
    agent: {
      agentId: '1001',
      agentUuid: 'uuid-1001',
      computerName: 'ACME-DC01',
      osType: 'windows',
      siteId: '11',
      accountId: '12',
    },
    script: {
      scriptId: '31',
      libraryName: 's1cado-collector-windows-1.0.0',
      name: 'collector',
      version: '1.0.0',
      sha256: SHA,
      osType: 'windows',
      scriptType: 'artifactCollection',
      runtimeTimeoutSeconds: 900,
      inputParams: '',
      uploaded: false,
    },
    s1Task: {
      parentTaskId: '2001',
      childTaskId: '2002',
      description: 's1cado threat-1 agent 1001',
      status: 'completed',
      reusedExisting: false,
    },
    result: {
      fileName: 'result.zip',
      s1Signature: null,
      s1SignatureType: 'SHA256',
      s1SignatureMatches: null,
    },
    object: {
      bucket: 'evidence',
      key: KEY,
      versionId: 'v1',
      bytes: 4096,
      sha256: SHA,
      etag: null,
      s3ChecksumAlgorithm: 'SHA256',
    },
    download: {
      resumes: 0,
      linkRefreshes: 0,
      startedAt: '2026-11-24T10:05:00.000Z',
      finishedAt: '2026-11-24T10:06:00.000Z',
    },
    timeline: [
      { event: 'task-started', at: '2026-11-24T10:01:00.000Z' },
      { event: 'task-completed', at: '2026-11-24T10:04:00.000Z' },
      { event: 'staged', at: '2026-11-24T10:06:00.000Z' },
    ],
    cado,
    handoff: { status: 'failed', reason: 'Cado down', rerunCommand: 'npx s1cado handoff threat-1' },
    tool: { name: 's1-cado-forensics', version: '0.0.0' },
    writtenAt: '2026-11-24T10:07:00.000Z',
    writtenBy: 'record-outcome',
  };
}

const earlier = (phase: 'running' | 'deadline' | 'failed' | 'complete'): NonNullable<Manifest['cado']> => ({
  projectId: 1,
  projectName: 'S1 threat-1',
  pipelineId: 77,
  fileNameForm: 'array',
  startedAt: '2026-11-24T10:07:00.000Z',
  deadline: '2026-11-24T16:07:00.000Z', // a 6 h window
  phase,
});

const NOW = Date.parse('2026-11-25T09:00:00.000Z');
const rerun: RerunInfo = {
  at: '2026-11-25T09:00:00.000Z',
  by: 'analyst',
  executionName: 'threat-1-handoff-x',
};

describe('Find Staged Evidence', () => {
  it('rebuilds the Hand To Cado input from the manifest: the exact object, version and hash', () => {
    const staged = StagedEvidence.parse(stagedEvidenceFrom(manifest(), MANIFEST_KEY));
    expect(staged.evidence).toMatchObject({
      bucket: 'evidence',
      key: KEY,
      versionId: 'v1',
      sha256: SHA,
      manifestKey: MANIFEST_KEY,
    });
    expect(staged.task).toMatchObject({
      parentTaskId: '2001',
      childTaskId: '2002',
      phase: 'completed',
      startedAt: '2026-11-24T10:01:00.000Z',
    });
  });

  it('imports anew when there was no pipeline, or it ended failed', () => {
    for (const cado of [null, earlier('failed')]) {
      const item = rerunItemFrom(manifest(cado), MANIFEST_KEY, NOW);
      expect('cado' in item).toBe(false);
      expect(HandedOff.safeParse(item).success).toBe(false);
    }
  });

  it('follows a pipeline that may still be running, for as long again as the first hand-off allowed', () => {
    for (const phase of ['running', 'deadline'] as const) {
      const item = HandedOff.parse(rerunItemFrom(manifest(earlier(phase)), MANIFEST_KEY, NOW));
      expect(item.cado).toMatchObject({
        pipelineId: 77,
        phase: 'running',
        deadline: '2026-11-25T15:00:00.000Z',
      });
      expect(item.poll).toEqual({ attempt: 0, waitSeconds: 1, deadline: '2026-11-25T15:00:00.000Z' });
    }
  });
});

describe('Record Outcome in re-run mode', () => {
  const staged = stagedEvidenceFrom(manifest(), MANIFEST_KEY);
  const fresh = {
    ...earlier('complete'),
    pipelineId: 90,
    startedAt: '2026-11-25T09:00:05.000Z',
    checkedAt: '2026-11-25T09:20:00.000Z',
  };

  it('a new import that completed: complete, and the manifest says import requested, then complete', () => {
    const line = rerunLine({ ...staged, cado: fresh }, rerun);
    expect(line).toMatchObject({
      action: 'imported',
      outcome: { outcome: 'complete', cado: { pipelineId: 90 } },
    });
    const next = nextManifest(manifest(), line, rerun, '2026-11-25T09:21:00.000Z');
    expect(next.handoff).toEqual({ status: 'complete', rerunCommand: 'npx s1cado handoff threat-1' });
    expect(next.cado?.pipelineId).toBe(90);
    expect(next.timeline.slice(3)).toEqual([
      {
        event: 'handoff-rerun',
        at: rerun.at,
        detail: 'requested by analyst (HandOffRerun threat-1-handoff-x)',
      },
      {
        event: 'cado-import-requested',
        at: fresh.startedAt,
        detail: 'Cado project 1 (S1 threat-1), pipeline 90',
      },
      { event: 'cado-complete', at: fresh.checkedAt },
    ]);
    expect(next.writtenBy).toBe('record-outcome');
    // What was staged is never rewritten.
    expect(next.object).toEqual(manifest().object);
    // The chain is recomputed; its cado link comes from this re-run's hand-off.
    expect(next.chain?.map((l) => l.link)).toEqual([
      'collector-listing',
      'staging',
      's1-signature',
      'read-back',
      'cado',
    ]);
    expect(next.chain?.at(-1)).toMatchObject({ link: 'cado', status: 'not_available' });
    const hashed = nextManifest(
      manifest(),
      rerunLine(
        { ...staged, cado: { ...fresh, evidenceHash: { status: 'verified', detail: 'equal' } } },
        rerun,
      ),
      rerun,
      '2026-11-25T09:21:00.000Z',
    );
    expect(hashed.chain?.at(-1)).toEqual({ link: 'cado', status: 'verified', detail: 'equal' });
  });

  it('a followed pipeline: no import in the timeline', () => {
    const line = rerunLine({ ...staged, cado: { ...earlier('complete'), checkedAt: rerun.at } }, rerun);
    expect(line.action).toBe('followed');
    const next = nextManifest(manifest(earlier('deadline')), line, rerun, rerun.at);
    expect(next.timeline.map((e) => e.event).slice(3)).toEqual(['handoff-rerun', 'cado-complete']);
  });

  it('Cado still down: staged_handoff_failed with the error, manifest failed', () => {
    const line = rerunLine({ ...staged, handoffError: { Error: 'CadoTransientError', Cause: '503' } }, rerun);
    expect(line.outcome).toMatchObject({
      outcome: 'staged_handoff_failed',
      reason: 'Cado hand-off failed: CadoTransientError: 503',
    });
    const next = nextManifest(manifest(), line, rerun, rerun.at);
    expect(next.handoff.status).toBe('failed');
    expect(next.cado).toBeNull();
    expect(next.timeline.at(-1)).toMatchObject({ event: 'handoff-failed', detail: line.outcome.reason });
  });

  it('a followed pipeline Cado no longer knows is recorded failed, so the next re-run imports anew', () => {
    const gone = rerunLine(
      {
        ...staged,
        cado: { ...earlier('running') },
        handoffError: { Error: 'CadoNotFoundError', Cause: 'no pipeline' },
      },
      rerun,
    );
    expect(gone.action).toBe('followed');
    expect(gone.state.cado).toMatchObject({ phase: 'failed', reason: 'Cado no longer knows pipeline 77' });
    const next = nextManifest(manifest(earlier('deadline')), gone, rerun, rerun.at);
    expect(next.cado?.phase).toBe('failed');
    expect('cado' in rerunItemFrom(next, MANIFEST_KEY, NOW)).toBe(false);
  });

  it('knows a manifest already written by this re-run (a retried Record Outcome writes it once)', () => {
    const line = rerunLine({ ...staged, cado: fresh }, rerun);
    const next = nextManifest(manifest(), line, rerun, rerun.at);
    expect(alreadyRecorded(next, rerun)).toBe(true);
    expect(alreadyRecorded(manifest(), rerun)).toBe(false);
    expect(
      alreadyRecorded(next, {
        ...rerun,
        at: '2026-11-26T00:00:00.000Z',
        executionName: 'threat-1-handoff-y',
      }),
    ).toBe(false);
  });
});
