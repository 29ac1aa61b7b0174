import { describe, expect, it } from 'vitest';
import type { CollectorScript } from '../../lambdas/collectors';
import { describeCaught, summarizeAgent, summarizeCase } from '../../lambdas/record-outcome/core';
import { taskDescription } from '../../lambdas/run-script/core';
import { safeFileName } from '../../lambdas/shared/evidence/keys';
import { backoffSeconds, nextPoll, TASK_POLL } from '../../lambdas/shared/poll';
import { WorkflowInput } from '../../lambdas/shared/schemas';
import { scriptCovers } from '../../lambdas/shared/script-library';
import type { S1Script } from '../../lambdas/shared/sentinelone';
import { TOOL_VERSION } from '../../lambdas/shared/version';
import packageJson from '../../package.json';

describe('polling schedule', () => {
  it('grows from the first wait to the cap', () => {
    const waits = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffSeconds(n, TASK_POLL));
    expect(waits[0]).toBe(15);
    expect(waits).toEqual([...waits].sort((a, b) => a - b));
    expect(Math.max(...waits)).toBe(120);
  });

  it('spreads waits by the jitter so investigations started together do not poll in step', () => {
    const now = Date.parse('2026-11-24T10:00:00Z');
    const far = '2026-11-25T10:00:00Z';
    expect(nextPoll(0, far, now, TASK_POLL, () => 0)?.waitSeconds).toBe(12);
    expect(nextPoll(0, far, now, TASK_POLL, () => 0.5)?.waitSeconds).toBe(15);
    expect(nextPoll(0, far, now, TASK_POLL, () => 1)?.waitSeconds).toBe(18);
  });

  it('never waits past the deadline, and reports a passed deadline as no next poll', () => {
    const now = Date.parse('2026-11-24T10:00:00Z');
    const middle = () => 0.5; // no jitter
    expect(nextPoll(6, '2026-11-24T10:00:20Z', now, TASK_POLL, middle)).toEqual({
      attempt: 6,
      waitSeconds: 20,
      deadline: '2026-11-24T10:00:20Z',
    });
    expect(nextPoll(0, '2026-11-24T10:00:00Z', now, TASK_POLL, middle)).toBeUndefined();
    expect(nextPoll(0, '2026-11-24T09:00:00Z', now, TASK_POLL)).toBeUndefined();
  });
});

describe('workflow input', () => {
  it('accepts string ids and refuses numbers, empties, repeats and unknown keys with specific messages', () => {
    expect(
      WorkflowInput.safeParse({ agentIds: ['1913920934584665209'], requestedBy: 'analyst' }).success,
    ).toBe(true);
    const messages = (value: unknown) =>
      WorkflowInput.safeParse(value).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    // What a caller gets when it sends an S1 id as a JSON number: it has already lost its last digits.
    const mangled = JSON.parse('{"agentIds":[1913920934584665209],"requestedBy":"a"}');
    expect(messages(mangled).join()).toContain('safe integer range');
    expect(messages({ agentIds: [], requestedBy: 'a' }).join()).toContain('at least one agent id');
    expect(messages({ agentIds: ['1', '1'], requestedBy: 'a' }).join()).toContain('must not repeat');
    expect(messages({ agentIds: ['1'], requestedBy: 'a', agentId: '2' }).join()).toMatch(/agentId/);
    expect(messages({ agentIds: ['1'] }).join()).toContain('requestedBy');
  });
});

describe('script library matching', () => {
  const collector = {
    osType: 'linux',
    libraryName: 's1cado-triage-linux 1.0.0 (sha256:abcdef12)',
    sha256: 'abcdef12'.padEnd(64, '0'),
  } as CollectorScript;
  const target = {
    agentId: '1',
    agentUuid: 'u',
    computerName: 'h',
    osType: 'linux' as const,
    siteId: '10',
    accountId: '20',
  };
  const script = (over: Partial<S1Script>): S1Script =>
    ({
      id: '99',
      scriptName: collector.libraryName,
      osTypes: ['linux'],
      scopeLevel: 'account',
      scopeId: '20',
      signature: collector.sha256,
      ...over,
    }) as S1Script;

  it('matches the exact version in a scope that covers the target', () => {
    expect(scriptCovers(script({}), collector, target)).toBe(true);
    expect(scriptCovers(script({ scopeLevel: 'global', scopeId: undefined }), collector, target)).toBe(true);
    expect(scriptCovers(script({ scopeLevel: 'site', scopeId: '10' }), collector, target)).toBe(true);
  });

  it('covers fresh copies of the collector name', () => {
    expect(
      scriptCovers(
        script({ scriptName: `${collector.libraryName} copy 20261202T171500Z` }),
        collector,
        target,
      ),
    ).toBe(true);
  });

  it('does not match another version, OS or scope', () => {
    expect(
      scriptCovers(script({ scriptName: 's1cado-triage-linux 0.9.0 (sha256:00000000)' }), collector, target),
    ).toBe(false);
    expect(scriptCovers(script({ osTypes: ['windows'] }), collector, target)).toBe(false);
    expect(
      scriptCovers(script({ scriptName: `${collector.libraryName} copy 2026-12-02` }), collector, target),
    ).toBe(false);
    expect(scriptCovers(script({ scopeLevel: 'site', scopeId: '11' }), collector, target)).toBe(false);
    expect(scriptCovers(script({ scopeId: '21' }), collector, target)).toBe(false);
  });
});

describe('task description and evidence key names', () => {
  it('names the investigation and the agent', () => {
    expect(taskDescription('threat-123', '456', 'lib v1')).toBe('s1cado threat-123 agent 456: lib v1');
  });

  it('keeps only a safe base name and never collides with the manifest', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('a b?.zip')).toBe('a_b_.zip');
    expect(safeFileName('manifest.json')).not.toBe('manifest.json');
    expect(safeFileName('')).toMatch(/\.zip$/);
  });
});

describe('outcome rules', () => {
  const evidence = {
    bucket: 'b',
    key: 'investigations/i/1/2/f.zip',
    versionId: null,
    bytes: 10,
    sha256: 'a'.repeat(64),
    fileName: 'f.zip',
    manifestKey: 'investigations/i/1/2/manifest.json',
    s1Signature: null,
    s1SignatureMatches: null,
    stagedAt: 'now',
  };
  const cado = {
    projectId: 1,
    projectName: 'p',
    pipelineId: 2,
    fileNameForm: 'array' as const,
    startedAt: 's',
    deadline: 'd',
  };
  const target = {
    agentId: '1',
    agentUuid: 'u',
    computerName: 'host',
    osType: 'linux' as const,
    siteId: '2',
    accountId: '3',
  };

  it('reads the message from a Lambda error cause, and plain causes as they are', () => {
    expect(
      describeCaught({
        Error: 'S1AuthError',
        Cause: '{"errorType":"S1AuthError","errorMessage":"token rejected"}',
      }),
    ).toBe('S1AuthError: token rejected');
    expect(describeCaught({ Error: 'States.Timeout', Cause: 'took too long' })).toBe(
      'States.Timeout: took too long',
    );
  });

  it('classifies each way an agent branch can end', () => {
    expect(summarizeAgent({ target, evidence, cado: { ...cado, phase: 'complete' } }).outcome).toBe(
      'complete',
    );
    expect(summarizeAgent({ target, evidence, handoffError: { Error: 'CadoTransientError' } }).outcome).toBe(
      'staged_handoff_failed',
    );
    expect(
      summarizeAgent({ target, evidence, cado: { ...cado, phase: 'failed', reason: 'bad zip' } }),
    ).toMatchObject({
      outcome: 'staged_handoff_failed',
      reason: expect.stringContaining('bad zip'),
    });
    expect(summarizeAgent({ target, error: { Error: 'DownloadError', Cause: 'x' } }).outcome).toBe('failed');
    expect(
      summarizeAgent({
        target,
        task: { phase: 'deadline', status: 'in_progress' },
        cancel: { attempted: true, affected: 0, unsupported: true, at: 'x' },
      }),
    ).toMatchObject({ outcome: 'timed_out', reason: expect.stringContaining('cancel not possible') });
    // Cancel Task itself failed ($.cancelError): recorded, not dropped.
    const cancelFailed = summarizeAgent({
      target,
      task: { phase: 'deadline', status: 'in_progress' },
      cancelError: {
        Error: 'S1TransientError',
        Cause: '{"errorType":"S1TransientError","errorMessage":"503"}',
      },
    });
    expect(cancelFailed).toMatchObject({
      outcome: 'timed_out',
      cancelError: 'S1TransientError: 503',
      reason: expect.stringContaining('cancel failed (S1TransientError: 503): the task may still be running'),
    });
    expect(cancelFailed.cancel).toBeUndefined();
    expect(summarizeAgent({ target, task: { phase: 'failed', reason: 'expired' } })).toMatchObject({
      outcome: 'failed',
      reason: 'expired',
    });
  });

  it('decides the investigation verdict and offers the hand-off re-run when evidence is stranded', () => {
    const base = { investigation: { investigationId: 'threat-1', requestedBy: 'x', startedAt: 's' } };
    const partial = summarizeCase(
      {
        ...base,
        results: [
          { target, evidence, cado: { ...cado, phase: 'complete' } },
          { target, error: { Error: 'E' } },
        ],
        rejected: [{ agentId: '9', reason: 'unsupported OS' }],
      },
      'f',
      '1',
    );
    expect(partial.status).toBe('partial');
    expect(partial.counts).toMatchObject({ complete: 1, failed: 1, rejected: 1 });
    const stranded = summarizeCase(
      { ...base, results: [{ target, evidence, handoffError: { Error: 'CadoTransientError' } }] },
      'f',
      '1',
    );
    expect(stranded.status).toBe('staged_handoff_failed');
    expect(stranded.handoffRerunCommand).toBe('npx s1cado handoff threat-1');
    const none = summarizeCase(
      { execution: { name: 'manual-x' }, error: { Error: 'InputValidationError', Cause: 'bad' } },
      'f',
      '1',
    );
    expect(none).toMatchObject({
      status: 'failed',
      investigationId: 'manual-x',
      error: 'InputValidationError: bad',
    });
  });
});

describe('version', () => {
  it('matches package.json', () => {
    expect(TOOL_VERSION).toBe(packageJson.version);
  });
});
