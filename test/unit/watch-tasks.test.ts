/**
 * The Task Watcher's decision ({@link resumedState}): an open wait and the rows of one `parentTaskId__in` page →
 * the state the execution resumes with, or nothing while the task runs before its deadline.
 */
import { describe, expect, it } from 'vitest';
import type { OpenS1Task } from '../../lambdas/shared/coordination/open-tasks';
import type { S1TaskRow } from '../../lambdas/shared/sentinelone';
import { resumedState } from '../../lambdas/watch-tasks/core';

const AGENT = '1001';
const DEADLINE = '2026-11-24T10:30:00.000Z';
const BEFORE = Date.parse('2026-11-24T10:05:00.000Z');
const AFTER = Date.parse(DEADLINE) + 1;

const wait: OpenS1Task = {
  start: {
    investigation: { investigationId: 'threat-1', requestedBy: 'e2e', startedAt: '2026-11-24T09:59:00.000Z' },
    target: {
      agentId: AGENT,
      agentUuid: 'u'.repeat(32),
      computerName: 'web-01',
      osType: 'linux',
      siteId: '2001',
      accountId: '3001',
      script: {
        scriptId: '4001',
        libraryName: 'lib',
        name: 'n',
        version: '1.0.0',
        sha256: 'a'.repeat(64),
        osType: 'linux',
        scriptType: 'dataCollection',
        runtimeTimeoutSeconds: 1500,
        inputParams: '',
        uploaded: false,
      },
    },
  },
  parentTaskId: '5001',
  description: 's1cado threat-1 agent 1001: lib',
  startedAt: '2026-11-24T10:00:00.000Z',
  deadline: DEADLINE,
  reusedExisting: true,
  taskToken: 'token-never-in-state',
  registeredAt: '2026-11-24T10:00:01.000Z',
};

const row = (over: Partial<S1TaskRow>): S1TaskRow =>
  ({
    id: '6001',
    parentTaskId: '5001',
    agentId: AGENT,
    status: 'in_progress',
    detailedStatus: null,
    statusCode: null,
    ...over,
  }) as S1TaskRow;
const done = row({
  status: 'completed',
  detailedStatus: 'Execution completed successfully',
  statusCode: 0,
  scriptResultsSignature: 'b'.repeat(64),
});

describe('resumedState', () => {
  it('waits (nothing to send) while the task runs before its deadline, or S1 does not list it yet', () => {
    expect(resumedState(wait, [row({})], BEFORE)).toBeUndefined();
    expect(resumedState(wait, [], BEFORE)).toBeUndefined();
  });

  it('a completed task resumes with the state Stage Output reads, built on the registered agent state', () => {
    const state = resumedState(wait, [done], BEFORE);
    expect(state).toMatchObject({
      investigation: wait.start.investigation,
      target: wait.start.target,
      task: {
        phase: 'completed',
        parentTaskId: '5001',
        childTaskId: '6001',
        resultSignature: 'b'.repeat(64),
        reusedExisting: true,
        deadline: DEADLINE,
      },
    });
    // The token is the watcher's to answer with; it never enters the execution's state.
    expect(JSON.stringify(state)).not.toContain(wait.taskToken);
  });

  it('a task still running past its deadline resumes as `deadline` (Cancel Task)', () => {
    expect(resumedState(wait, [row({})], AFTER)?.task).toMatchObject({ phase: 'deadline' });
    expect(resumedState(wait, [], AFTER)?.task.phase).toBe('deadline');
  });

  it("reads only its own parent's rows from a page holding many executions", () => {
    const other = { ...done, parentTaskId: '5002', id: '6002' };
    expect(resumedState(wait, [other], BEFORE)).toBeUndefined();
    expect(resumedState(wait, [other, done], BEFORE)?.task.childTaskId).toBe('6001');
  });
});
