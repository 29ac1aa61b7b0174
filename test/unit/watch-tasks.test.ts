/**
 * The Task Watcher's decision ({@link resumedState}): an open wait and the rows of one `parentTaskId__in` page →
 * the state the execution resumes with, or nothing while the task runs before its deadline.
 */
import { describe, expect, it } from 'vitest';
import type { OpenS1Task } from '../../lambdas/shared/coordination/open-tasks';
import type { S1TaskRow } from '../../lambdas/shared/sentinelone';
import { notStarted, resumedState, watchOnce } from '../../lambdas/watch-tasks/core';
import { batchDescription } from '../../lambdas/watch-tasks/executes';

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

describe('notStarted (an agent a batched execute started no task on)', () => {
  const batched = (affected: number, targeted = 3): OpenS1Task => ({
    ...wait,
    description: batchDescription('0123456789abcdef', 'lib'),
    execute: { targeted, affected },
  });
  const other = (agentId: string, id: string) => row({ agentId, id });

  it('decides once S1 lists a task for every agent it started, and none for this one', () => {
    const error = notStarted(batched(2), [other('2002', '7002'), other('2003', '7003')]);
    expect(error?.name).toBe('S1ExecutionNotStartedError');
    expect(error?.message).toMatch(/named 3 agents and started tasks on 2/);
  });

  it('waits while S1 still lists fewer tasks than it started (its rows lag the execute)', () => {
    expect(notStarted(batched(2), [other('2002', '7002')])).toBeUndefined();
    expect(notStarted(batched(2), [])).toBeUndefined();
  });

  it('never when the agent has its row, every agent was started, or the execute is not on record', () => {
    expect(notStarted(batched(2), [row({ id: '7001' }), other('2002', '7002')])).toBeUndefined();
    expect(notStarted(batched(3), [other('2002', '7002'), other('2003', '7003')])).toBeUndefined();
    expect(
      notStarted({ ...wait, description: batchDescription('0123456789abcdef', 'lib') }, []),
    ).toBeUndefined();
  });

  it("rows of another parent do not count, and a row naming nobody might be this agent's: no verdict", () => {
    const elsewhere = [other('2002', '7002'), other('2003', '7003')].map((r) => ({
      ...r,
      parentTaskId: '9999',
    }));
    expect(notStarted(batched(2), elsewhere)).toBeUndefined();
    const unsure = notStarted(batched(1, 2), [
      row({ agentId: '2002', id: '7002' }),
      row({ agentId: null, id: '7009' }),
    ]);
    expect(unsure).toBeUndefined();
  });
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

describe('watchOnce under a status budget smaller than the open parents', () => {
  // 250 open waits on 250 parents, all completed in S1; the S1 request budget answers one status call a pass
  // (the second is refused with S1RateLimitedError, as the shared budget refuses a slot too far away).
  const parents = Array.from({ length: 250 }, (_, i) => String(7000 + i));
  const openWaits = parents.map((parentTaskId) => ({
    sk: `wait#${parentTaskId}`,
    writeId: `w-${parentTaskId}`,
    task: { ...wait, parentTaskId, deadline: '2099-01-01T00:00:00.000Z' },
  }));

  function deps() {
    const open = new Map(openWaits.map((w) => [w.sk, w]));
    const asked: string[][] = [];
    let callsThisPass = 0;
    const resumed: string[] = [];
    return {
      asked,
      resumed,
      newPass: () => {
        callsThisPass = 0;
      },
      deps: {
        s1: {
          async getTaskStatusOfParents(ids: readonly string[]) {
            callsThisPass += 1;
            if (callsThisPass > 1)
              throw Object.assign(new Error('budget taken'), { name: 'S1RateLimitedError' });
            asked.push([...ids]);
            return {
              rows: ids.map((id) => ({ ...done, id: `9${id}`, parentTaskId: id })),
              unreadableParents: [],
            };
          },
        },
        openTasks: {
          list: async () => ({ open: [...open.values()] as never, unreadable: [] }),
          remove: async (sk: string) => {
            open.delete(sk);
            return 'removed' as const;
          },
        },
        resume: {
          success: async (_token: string, output: unknown) => {
            resumed.push((output as { task: { parentTaskId: string } }).task.parentTaskId);
          },
          failure: async () => undefined,
        },
        now: () => BEFORE,
        sleep: async () => undefined,
      },
    };
  }

  it('asks what the budget allows, resumes those, and the next passes ask the rest in turn', async () => {
    const { deps: d, asked, resumed, newPass } = deps();
    const cursor = { next: 0 };
    const first = await watchOnce(d, cursor);
    expect(first).toMatchObject({ open: 250, resumed: 100, s1Calls: 1 });
    expect(asked[0]).toEqual(parents.slice(0, 100));
    newPass();
    const second = await watchOnce(d, cursor);
    expect(second).toMatchObject({ open: 150, resumed: 100, s1Calls: 1 });
    newPass();
    const third = await watchOnce(d, cursor);
    expect(third).toMatchObject({ open: 50, resumed: 50, s1Calls: 1 });
    expect(new Set(resumed)).toEqual(new Set(parents));
    expect(resumed).toHaveLength(250);
  });

  it('a pass whose first status call is refused fails (the waits stay for the next pass)', async () => {
    const { deps: d } = deps();
    const refusing = {
      ...d,
      s1: {
        getTaskStatusOfParents: async () => {
          throw Object.assign(new Error('budget taken'), { name: 'S1RateLimitedError' });
        },
      },
    };
    await expect(watchOnce(refusing, { next: 0 })).rejects.toMatchObject({ name: 'S1RateLimitedError' });
  });
});
