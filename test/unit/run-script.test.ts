/** Run Script's decisions: reuse, start or outcome unknown (from the execute intent), the records it writes, the deadline, the first poll. */
import { describe, expect, it } from 'vitest';
import {
  decideFromIntent,
  type ExecuteIntent,
  executeRefused,
  failedAttemptOutcome,
  nextTaskRecord,
  outcomeUnknown,
  runningTask,
  type TaskRecord,
  taskDeadline,
} from '../../lambdas/run-script/core';
import {
  S1ApprovalRequiredError,
  S1AuthError,
  S1ExecutionNotStartedError,
  S1RateLimitedError,
  S1ResponseError,
  S1TransientError,
  S1ValidationError,
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

const intent: ExecuteIntent = {
  description: base.description,
  scriptId: base.scriptId,
  state: 'executing',
  at: '2026-11-24T10:00:00.000Z',
};

describe('decideFromIntent', () => {
  it('no intent yet, or an earlier execute S1 refused: start', () => {
    expect(decideFromIntent(undefined)).toEqual({ action: 'start' });
    expect(decideFromIntent({ ...intent, state: 'refused', outcome: 'S1RateLimitedError 429' })).toEqual({
      action: 'start',
    });
  });

  it('a started task with its id, start and deadline: reuse it, never start another', () => {
    const startedIntent: ExecuteIntent = {
      ...intent,
      state: 'started',
      parentTaskId: '5001',
      startedAt: started.startedAt,
      deadline: started.deadline,
    };
    expect(decideFromIntent(startedIntent)).toEqual({
      action: 'reuse',
      parentTaskId: '5001',
      startedAt: started.startedAt,
      deadline: started.deadline,
    });
  });

  it('an execute left without an answer (the Lambda died or its response was lost mid-call): unknown', () => {
    expect(decideFromIntent(intent)).toMatchObject({ action: 'unknown' });
    expect(decideFromIntent(intent)).not.toMatchObject({ action: 'start' });
  });

  it('an execute whose answer was ambiguous stays unknown, with what happened', () => {
    const unknown: ExecuteIntent = { ...intent, state: 'unknown', outcome: 'S1TransientError 502' };
    expect(decideFromIntent(unknown)).toEqual({ action: 'unknown', outcome: 'S1TransientError 502' });
  });

  it.each(['parentTaskId', 'startedAt', 'deadline'] as const)(
    'a started intent without %s names no task to carry on with: unknown, never a second start',
    (field) => {
      const full: ExecuteIntent = {
        ...intent,
        state: 'started',
        parentTaskId: '5001',
        startedAt: started.startedAt,
        deadline: started.deadline,
      };
      const { [field]: _, ...incomplete } = full;
      expect(decideFromIntent(incomplete).action).toBe('unknown');
    },
  );
});

describe('executeRefused and failedAttemptOutcome', () => {
  it('only answers that prove S1 did nothing count as refused', () => {
    for (const error of [
      new S1RateLimitedError('429', { status: 429 }),
      new S1AuthError('401', { status: 401 }),
      new S1ValidationError('400', { status: 400 }),
      new S1ExecutionNotStartedError('no task'),
      new S1ApprovalRequiredError('guardrail'),
    ]) {
      expect(executeRefused(error), error.name).toBe(true);
    }
    for (const error of [
      new S1TransientError('502', { status: 502 }),
      new S1ResponseError('bad 200'),
      'thrown',
    ]) {
      expect(executeRefused(error), String(error)).toBe(false);
    }
  });

  it('records the error, its status and whether S1 may have started the task', () => {
    expect(failedAttemptOutcome(new S1TransientError('502', { status: 502 }), false)).toBe(
      'S1TransientError 502 (S1 may have started the task)',
    );
    expect(failedAttemptOutcome(new S1RateLimitedError('429', { status: 429 }), true)).toBe(
      'S1RateLimitedError 429 (refused: no task started)',
    );
    expect(failedAttemptOutcome('thrown string', false)).toBe('Error (S1 may have started the task)');
  });

  it('the outcome-unknown error names the description to search for, and is never retried', () => {
    const error = outcomeUnknown(base.description, base.agentId, 'S1TransientError 502');
    expect(error.name).toBe('S1ExecuteOutcomeUnknownError');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(`"${base.description}"`);
    expect(error.details).toMatchObject({ agentId: base.agentId, taskDescription: base.description });
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
