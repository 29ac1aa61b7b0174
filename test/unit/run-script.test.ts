/** Run Script's decisions: reuse or start (from the task record), the records it writes, the deadline, the first poll. */
import { describe, expect, it } from 'vitest';
import {
  decideStart,
  failedAttemptOutcome,
  nextTaskRecord,
  runningTask,
  type TaskRecord,
  taskDeadline,
} from '../../lambdas/run-script/core';
import {
  S1ApprovalRequiredError,
  S1ExecutionNotStartedError,
  S1RateLimitedError,
  S1TransientError,
} from '../../lambdas/shared/errors';
import type { AgentStart } from '../../lambdas/shared/schemas';

const base = {
  investigationId: 'threat-1',
  agentId: '1001',
  scriptId: '4001',
  description: 's1cado threat-1 agent 1001: lib',
};
const earlier = { at: '2026-11-24T10:00:00.000Z', outcome: 'starting' };
const started: TaskRecord = {
  ...base,
  state: 'started',
  parentTaskId: '5001',
  startedAt: '2026-11-24T10:00:01.000Z',
  deadline: '2026-11-24T10:30:01.000Z',
  attempts: [earlier, { at: '2026-11-24T10:00:01.000Z', outcome: 'started 5001' }],
};

describe('decideStart', () => {
  it('no record: start, first attempt', () => {
    expect(decideStart(undefined)).toEqual({ action: 'start', retry: false, attempts: [] });
  });

  it('a started task with its id, start and deadline: reuse it, never start another', () => {
    expect(decideStart(started)).toEqual({
      action: 'reuse',
      parentTaskId: '5001',
      startedAt: started.startedAt,
      deadline: started.deadline,
    });
  });

  const left: [string, TaskRecord][] = [
    ['starting (the Lambda died before S1 answered)', { ...base, state: 'starting', attempts: [earlier] }],
    [
      'attempt-failed',
      { ...base, state: 'attempt-failed', attempts: [{ at: earlier.at, outcome: 'S1TransientError' }] },
    ],
  ];
  it.each(left)('a record left %s: start again, keeping the attempts', (_, record) => {
    expect(decideStart(record)).toEqual({
      action: 'start',
      retry: true,
      attempts: record.attempts,
      previousOutcome: record.attempts.at(-1)?.outcome,
    });
  });

  it.each(['parentTaskId', 'startedAt', 'deadline'] as const)(
    'a started record without %s names no task to carry on with: start again',
    (field) => {
      const { [field]: _, ...incomplete } = started;
      expect(decideStart(incomplete)).toMatchObject({
        action: 'start',
        retry: true,
        attempts: started.attempts,
      });
    },
  );
});

describe('failedAttemptOutcome', () => {
  it('says S1 may have started the task only after a transient failure of the POST', () => {
    expect(failedAttemptOutcome(new S1TransientError('502'))).toBe(
      'S1TransientError (S1 may have started the task)',
    );
    expect(failedAttemptOutcome(new S1RateLimitedError('429'))).toBe('S1RateLimitedError');
    expect(failedAttemptOutcome(new S1ExecutionNotStartedError('no task'))).toBe(
      'S1ExecutionNotStartedError',
    );
    expect(failedAttemptOutcome(new S1ApprovalRequiredError('guardrail'))).toBe('S1ApprovalRequiredError');
    expect(failedAttemptOutcome('thrown string')).toBe('Error');
  });
});

describe('nextTaskRecord', () => {
  const at = '2026-11-24T11:00:00.000Z';

  it('appends each attempt to those before it', () => {
    expect(nextTaskRecord(base, [earlier], at, { state: 'starting' })).toEqual({
      ...base,
      state: 'starting',
      attempts: [earlier, { at, outcome: 'starting' }],
    });
    expect(nextTaskRecord(base, [], at, { state: 'attempt-failed', outcome: 'S1TransientError' })).toEqual({
      ...base,
      state: 'attempt-failed',
      attempts: [{ at, outcome: 'S1TransientError' }],
    });
  });

  it('a started task records its parent id, start and deadline: what a retry needs to reuse it', () => {
    const record = nextTaskRecord(base, [earlier], at, {
      state: 'started',
      parentTaskId: '5002',
      deadline: '2026-11-24T11:30:00.000Z',
    });
    expect(record).toEqual({
      ...base,
      state: 'started',
      parentTaskId: '5002',
      startedAt: at,
      deadline: '2026-11-24T11:30:00.000Z',
      attempts: [earlier, { at, outcome: 'started 5002' }],
    });
    expect(decideStart(record)).toMatchObject({ action: 'reuse', parentTaskId: '5002', startedAt: at });
  });
});

describe('taskDeadline', () => {
  it('is the runtime timeout plus the grace after the start', () => {
    const start = Date.parse('2026-11-24T10:00:00.000Z');
    expect(taskDeadline(start, 1500, 300)).toBe('2026-11-24T10:30:00.000Z');
    expect(taskDeadline(start, 60, 0)).toBe('2026-11-24T10:01:00.000Z');
  });
});

describe('runningTask', () => {
  const input = {
    investigation: { investigationId: 'threat-1' },
    target: { agentId: '1001' },
  } as unknown as AgentStart;
  const task = {
    parentTaskId: '5001',
    description: base.description,
    startedAt: '2026-11-24T10:00:00.000Z',
    deadline: '2026-11-24T10:30:00.000Z',
    reusedExisting: false,
  };
  const start = Date.parse(task.startedAt);

  it('first looks after 15 s (±20 % jitter)', () => {
    expect(runningTask(input, task, start, () => 0.5)).toEqual({
      ...input,
      task,
      poll: { attempt: 0, waitSeconds: 15, deadline: task.deadline },
    });
    expect(runningTask(input, task, start, () => 0).poll.waitSeconds).toBe(12);
    expect(runningTask(input, task, start, () => 1).poll.waitSeconds).toBe(18);
  });

  it('a reused task whose deadline has passed still gets one check, a second later, which reports it', () => {
    const late = Date.parse(task.deadline) + 60_000;
    expect(runningTask(input, { ...task, reusedExisting: true }, late).poll).toEqual({
      attempt: 0,
      waitSeconds: 1,
      deadline: task.deadline,
    });
  });
});
