/**
 * How the Task Watcher groups queued executes into S1 calls ({@link executeCalls}, {@link batchKey}): one call per
 * script, arguments and runtime, at most {@link EXECUTE_BATCH_LIMIT} agents, oldest first.
 */
import { describe, expect, it } from 'vitest';
import {
  batchKey,
  EXECUTE_BATCH_LIMIT,
  type ListedQueuedExecute,
  type QueuedExecute,
} from '../../lambdas/shared/coordination/queued-executes';
import { failureCause } from '../../lambdas/watch-tasks/core';
import { batchDescription, executeCalls } from '../../lambdas/watch-tasks/executes';

function queued(
  agentId: string,
  over: { scriptId?: string; runtime?: number; inputParams?: string; at?: number } = {},
): ListedQueuedExecute {
  const entry: QueuedExecute = {
    start: {
      investigation: {
        investigationId: `threat-${agentId}`,
        requestedBy: 'e2e',
        startedAt: '2026-12-04T10:00:00Z',
      },
      target: {
        agentId,
        agentUuid: 'u'.repeat(32),
        computerName: `host-${agentId}`,
        osType: 'linux',
        siteId: '2001',
        accountId: '3001',
        script: {
          scriptId: over.scriptId ?? '4001',
          libraryName: 'lib',
          name: 'n',
          version: '1.0.0',
          sha256: 'a'.repeat(64),
          osType: 'linux',
          scriptType: 'dataCollection',
          runtimeTimeoutSeconds: over.runtime ?? 1500,
          inputParams: over.inputParams ?? '--profile triage',
          uploaded: false,
        },
      },
    },
    inputParams: over.inputParams ?? '--profile triage',
    taskToken: `token-${agentId}`,
    queuedAt: new Date(Date.parse('2026-12-04T10:00:00Z') + (over.at ?? 0)).toISOString(),
    sendBy: '2026-12-04T11:00:00.000Z',
  };
  return { sk: `execute#threat-${agentId}#${agentId}`, writeId: `w-${agentId}`, queued: entry };
}

const agentsOf = (call: readonly ListedQueuedExecute[]) => call.map((e) => e.queued.start.target.agentId);

describe('executeCalls', () => {
  it('puts the agents of one script, arguments and runtime into one call, in queue order', () => {
    const calls = executeCalls([queued('1'), queued('2'), queued('3')]);
    expect(calls.map(agentsOf)).toEqual([['1', '2', '3']]);
  });

  it('separates other scripts, other arguments and other runtimes', () => {
    const calls = executeCalls([
      queued('1'),
      queued('2', { scriptId: '4002' }),
      queued('3', { inputParams: '--profile full' }),
      queued('4', { runtime: 600 }),
      queued('5'),
    ]);
    expect(calls.map(agentsOf)).toEqual([['1', '5'], ['2'], ['3'], ['4']]);
  });

  it(`names at most ${EXECUTE_BATCH_LIMIT} agents a call`, () => {
    const many = Array.from({ length: EXECUTE_BATCH_LIMIT * 2 + 1 }, (_, n) => queued(String(1000 + n)));
    const calls = executeCalls(many);
    expect(calls.map((c) => c.length)).toEqual([EXECUTE_BATCH_LIMIT, EXECUTE_BATCH_LIMIT, 1]);
    expect(calls.flat().map((e) => e.sk)).toEqual(many.map((e) => e.sk));
  });
});

describe('batchKey', () => {
  it('hashes the arguments: two agents with equal ones share a key, and the key never carries them', () => {
    const secretish = '--case 7f3a';
    const key = batchKey(queued('1', { inputParams: secretish }).queued);
    expect(key).toBe(batchKey(queued('2', { inputParams: secretish }).queued));
    expect(key).not.toContain('7f3a');
    expect(key).not.toBe(batchKey(queued('3', { inputParams: '--case 7f3b' }).queued));
  });
});

describe('what the waiting executions are told', () => {
  it('a batch description is bounded and names the batch id the console search finds', () => {
    expect(batchDescription('0123456789abcdef', 'x'.repeat(400))).toHaveLength(250);
    expect(batchDescription('0123456789abcdef', 'lib')).toBe('s1cado batch 0123456789abcdef: lib');
  });

  it('a failure Cause is the Lambda error document Record Outcome reads', () => {
    const error = new Error('S1 refused');
    error.name = 'S1ValidationError';
    expect(JSON.parse(failureCause(error))).toEqual({
      errorType: 'S1ValidationError',
      errorMessage: 'S1 refused',
    });
  });
});
