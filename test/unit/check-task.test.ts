/** Check Task's decision ({@link decideTask}): S1's task rows and the clock → the next phase and wait. */
import { describe, expect, it } from 'vitest';
import { agentRow, decideTask, rowPhase, type TaskRowFacts } from '../../lambdas/check-task/core';
import type { CheckedTask, RunningTask } from '../../lambdas/shared/schemas';
import { batchDescription } from '../../lambdas/watch-tasks/executes';

const AGENT = '1001';
const START = Date.parse('2026-11-24T10:00:00.000Z');
const DEADLINE = '2026-11-24T10:30:00.000Z';
const BEFORE = START + 60_000; // 29 minutes before the deadline
const AFTER = Date.parse(DEADLINE) + 1;
const noJitter = () => 0.5;

const input: RunningTask = {
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
  task: {
    parentTaskId: '5001',
    description: 's1cado threat-1 agent 1001: lib',
    startedAt: '2026-11-24T10:00:00.000Z',
    deadline: DEADLINE,
    reusedExisting: false,
  },
  poll: { attempt: 2, waitSeconds: 34, deadline: DEADLINE },
};

const SIGNATURE = 'b'.repeat(64);
const row = (over: Partial<TaskRowFacts>): TaskRowFacts => ({
  id: '6001',
  agentId: AGENT,
  status: 'in_progress',
  detailedStatus: null,
  statusCode: null,
  ...over,
});
const success = row({
  status: 'completed',
  detailedStatus: 'Execution completed successfully',
  statusCode: 0,
  scriptResultsSignature: SIGNATURE,
});

describe('agentRow', () => {
  it('picks the agent’s row, else the only row when it names no agent, else none', () => {
    const mine = row({ id: '1' });
    const other = row({ id: '2', agentId: '999' });
    expect(agentRow([other, mine], AGENT)).toBe(mine);
    expect(agentRow([row({ id: '3', agentId: null })], AGENT)?.id).toBe('3');
    expect(agentRow([other, row({ id: '4', agentId: '998' })], AGENT)).toBeUndefined();
    expect(agentRow([], AGENT)).toBeUndefined();
    // The only row, naming another agent, is that agent's: never this one's.
    expect(agentRow([other], AGENT)).toBeUndefined();
  });

  it('in a batched task, only the row naming the agent is its own', () => {
    const mine = row({ id: '1' });
    expect(agentRow([mine, row({ id: '2', agentId: '999' })], AGENT, true)).toBe(mine);
    expect(agentRow([row({ id: '3', agentId: null })], AGENT, true)).toBeUndefined();
    expect(agentRow([row({ id: '2', agentId: '999' })], AGENT, true)).toBeUndefined();
  });

  it('a batched agent whose row S1 does not list yet keeps waiting: it never takes another agent’s completed row', () => {
    const other = row({ id: '2', agentId: '999' });
    const running = decideTask(
      { ...input, task: { ...input.task, description: batchDescription('0123456789abcdef', 'lib') } },
      [
        {
          ...other,
          status: 'completed',
          detailedStatus: 'Execution completed successfully',
          statusCode: 0,
          scriptResultsSignature: SIGNATURE,
        },
      ],
      BEFORE,
      noJitter,
    );
    expect(running.task.phase).toBe('running');
    expect(running.task).not.toHaveProperty('childTaskId');
  });
});

describe('rowPhase', () => {
  it.each([
    ['created'],
    ['scheduled'],
    ['pending'],
    ['pending_user_action'],
    ['in_progress'],
    ['partially_completed'],
  ])('%s → running', (status) => {
    expect(rowPhase(row({ status }))).toMatchObject({
      phase: 'running',
      reason: expect.stringContaining(status),
    });
  });

  it.each([['failed'], ['expired'], ['canceled'], ['cancelled'], ['paused_by_a_new_s1_release']])(
    '%s → failed, naming the status',
    (status) => {
      expect(rowPhase(row({ status }))).toMatchObject({
        phase: 'failed',
        reason: expect.stringContaining(status),
      });
    },
  );

  it('completed with a success detailedStatus and a result file → completed', () => {
    expect(rowPhase(success).phase).toBe('completed');
  });

  it('completed without a result file → failed, saying so', () => {
    expect(rowPhase({ ...success, scriptResultsSignature: null })).toMatchObject({
      phase: 'failed',
      reason: expect.stringContaining('no result file'),
    });
  });

  it('completed with a failure detailedStatus and a result file → completed, the failure kept as scriptFailure', () => {
    const failed = { ...success, detailedStatus: 'The execution terminated in failure' };
    expect(rowPhase(failed)).toMatchObject({
      phase: 'completed',
      scriptFailure: expect.stringContaining('The execution terminated in failure'),
    });
  });

  it('completed with a failure detailedStatus and no result file → failed', () => {
    const failed = {
      ...success,
      detailedStatus: 'The execution terminated in failure',
      scriptResultsSignature: null,
    };
    expect(rowPhase(failed)).toMatchObject({
      phase: 'failed',
      reason: expect.stringContaining('The execution terminated in failure'),
    });
    expect(rowPhase(failed).scriptFailure).toBeUndefined();
  });

  it('completed with a non-zero status code and no result file → failed, naming the code', () => {
    expect(
      rowPhase({ ...success, detailedStatus: null, statusCode: 3, scriptResultsSignature: null }),
    ).toMatchObject({
      phase: 'failed',
      reason: expect.stringContaining('status code 3'),
    });
  });

  it('completed with an errorReason → the reason carries it', () => {
    expect(rowPhase({ ...success, errorReason: 'Zip upload refused' })).toMatchObject({
      phase: 'completed',
      scriptFailure: expect.stringContaining('error reason: Zip upload refused'),
    });
  });
});

describe('decideTask', () => {
  it('a completed task: phase completed with S1’s facts, the task fields kept, checked now', () => {
    const out = decideTask(input, [success], BEFORE, noJitter);
    expect(out.task).toEqual({
      ...input.task,
      phase: 'completed',
      childTaskId: '6001',
      status: 'completed',
      detailedStatus: 'Execution completed successfully',
      statusCode: '0',
      resultSignature: SIGNATURE,
      reason: expect.stringContaining('completed successfully'),
      checkedAt: new Date(BEFORE).toISOString(),
    });
    expect(out.investigation).toBe(input.investigation);
    expect(out.target).toBe(input.target);
    // A finished task is not polled again: the poll stays as it was.
    expect(out.poll).toEqual(input.poll);
  });

  it('a running task waits the next backoff step (15 s × 1.5^attempt, capped at 120 s)', () => {
    const out = decideTask(input, [row({})], BEFORE, noJitter);
    expect(out.task).toMatchObject({ phase: 'running', childTaskId: '6001', status: 'in_progress' });
    expect(out.task).not.toHaveProperty('detailedStatus');
    expect(out.task).not.toHaveProperty('statusCode');
    expect(out.poll).toEqual({ attempt: 3, waitSeconds: Math.round(15 * 1.5 ** 3), deadline: DEADLINE });
    const late = decideTask({ ...input, poll: { ...input.poll, attempt: 20 } }, [row({})], BEFORE, noJitter);
    expect(late.poll.waitSeconds).toBe(120);
  });

  it('spreads the wait by ±20 % of jitter', () => {
    const base = Math.round(15 * 1.5 ** 3);
    expect(decideTask(input, [row({})], BEFORE, () => 0).poll.waitSeconds).toBe(Math.round(base * 0.8));
    expect(decideTask(input, [row({})], BEFORE, () => 1).poll.waitSeconds).toBe(Math.round(base * 1.2));
  });

  it('never waits past the deadline', () => {
    const tenSecondsLeft = Date.parse(DEADLINE) - 10_000;
    expect(decideTask(input, [row({})], tenSecondsLeft, noJitter).poll.waitSeconds).toBe(10);
  });

  it('a running task past the deadline → deadline, with what S1 last said', () => {
    const out = decideTask(input, [row({ status: 'pending' })], AFTER, noJitter);
    expect(out.task).toMatchObject({ phase: 'deadline', status: 'pending' });
    expect(out.task.reason).toMatch(/^Deadline passed while S1 status "pending"/);
    expect(out.poll).toEqual(input.poll);
  });

  it('a finished task past the deadline keeps its outcome (the deadline only stops waiting)', () => {
    expect(decideTask(input, [success], AFTER).task.phase).toBe('completed');
    expect(decideTask(input, [row({ status: 'expired' })], AFTER).task.phase).toBe('failed');
  });

  it('no row for the agent yet: keep looking, then report the deadline', () => {
    const other = row({ agentId: '999' });
    const waiting = decideTask(input, [other, row({ agentId: '998' })], BEFORE, noJitter);
    expect(waiting.task).toMatchObject({ phase: 'running', reason: 'S1 does not list the agent task yet' });
    expect(waiting.task).not.toHaveProperty('childTaskId');
    expect(waiting.poll.attempt).toBe(3);
    const never = decideTask(input, [], AFTER);
    expect(never.task).toMatchObject({
      phase: 'deadline',
      reason: 'S1 never listed a task for this agent before the deadline',
    });
  });

  it('a second look replaces the facts of the first', () => {
    const first: CheckedTask = decideTask(
      input,
      [row({ detailedStatus: 'Queued on agent' })],
      BEFORE,
      noJitter,
    );
    expect(first.task.detailedStatus).toBe('Queued on agent');
    const second = decideTask(first, [success], BEFORE + 30_000, noJitter);
    expect(second.task).toMatchObject({
      phase: 'completed',
      detailedStatus: 'Execution completed successfully',
      checkedAt: new Date(BEFORE + 30_000).toISOString(),
    });
  });
});
