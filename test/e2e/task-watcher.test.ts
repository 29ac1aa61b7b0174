/**
 * End-to-end: the Task Watcher (DESIGN §9, "O(1) S1 traffic"). Run Script waits with a task token; one watcher
 * asks S1 about every open task at once and resumes the executions (the AWS fake's SendTaskSuccess, the runner's
 * tokens). The stack's own schedule is off here, so each test decides when the watcher runs (or that it is down).
 * Short runtime and grace: the task deadline comes two simulated minutes after the start, the watchdog ten after.
 */
import { describe, expect, it } from 'vitest';
import {
  agentLine,
  type E2eStack,
  type InvestigationRun,
  investigate,
  nextThreatId,
  s1Requests,
  useE2eStack,
} from './helpers';

let stack: E2eStack;
useE2eStack((s) => (stack = s), {
  taskWatcher: false,
  config: { scriptRuntimeTimeoutSeconds: 60, taskGraceSeconds: 60 },
});

/** Waits (real time, polling) until `condition` holds; fails naming `what` after 30 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const giveUp = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > giveUp) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The simulator's child tasks of an investigation (their description names it). */
function tasksOf(investigationId: string) {
  return [...stack.s1Sim.state.tasks.values()].filter((task) => task.description.includes(investigationId));
}

/** Whether every S1 task of these investigations has ended (as S1 would list it now). */
function allEnded(investigationIds: readonly string[]): boolean {
  const tasks = investigationIds.flatMap(tasksOf);
  return tasks.length > 0 && tasks.every((task) => stack.s1Sim.taskView(task.id).terminal);
}

/** Starts an investigation of `agentIds` without waiting for it. */
function start(agentIds: string[]): { id: string; run: Promise<InvestigationRun> } {
  const threatId = nextThreatId();
  return {
    id: `threat-${threatId}`,
    run: investigate(stack, { agentIds, requestedBy: 'e2e', threatId }),
  };
}

interface WatchResult {
  stopped: string;
  passes: number;
  resumed: number;
  open: number;
}

describe('the Task Watcher', () => {
  it('resumes several executions from one S1 status call listing all their parent tasks', async () => {
    const { windows, linux } = stack.tenant.agents;
    const a = start([windows.id]);
    const b = start([linux.id]);
    await until(() => stack.taskTokens.waiting().length === 2, 'both Run Scripts to wait');
    await until(() => allEnded([a.id, b.id]), 'both S1 tasks to end');

    const before = stack.s1Sim.requests.length;
    const summary = (await stack.taskWatcher.runOnce()) as WatchResult;
    expect(summary).toMatchObject({ stopped: 'nothing-open', passes: 1, resumed: 2 });
    const calls = s1Requests(stack, '/remote-scripts/status', before);
    expect(calls).toHaveLength(1);
    const parents = [...tasksOf(a.id), ...tasksOf(b.id)].map((task) => task.parentTaskId).sort();
    expect(String(calls[0]?.query.parentTaskId__in).split(',').sort()).toEqual(parents);

    // The hand-offs wait for their Cado pipelines the same way (Wait For Cado): the scheduled watcher resumes them.
    stack.taskWatcher.start();
    try {
      for (const { run } of [a, b]) {
        const done = await run;
        expect(done.caseRecord.status).toBe('complete');
        // One wait instead of a Wait ⇄ Check Task loop: Run Script, then straight to staging.
        expect(done.stats.invocationsByState['Check Task']).toBeUndefined();
        expect(done.stats.invocationsByState['Stage Output']).toBe(1);
      }
    } finally {
      await stack.taskWatcher.stop();
    }
    // Nothing open: the next run asks S1 nothing.
    const idle = stack.s1Sim.requests.length;
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open', resumed: 0 });
    expect(s1Requests(stack, '/remote-scripts/status', idle)).toHaveLength(0);
  });

  it('a lost SendTaskSuccess response: the wait stays, and the next pass finds the token closed and drops it', async () => {
    const { linux } = stack.tenant.agents;
    const a = start([linux.id]);
    await until(() => stack.taskTokens.waiting().length === 1, 'Run Script to wait');
    await until(() => allEnded([a.id]), 'the S1 task to end');
    // Every attempt of the SDK loses its response: the execution resumes, but the watcher cannot know.
    const lostBefore = stack.aws.stepFunctions.lostSendTaskSuccessCalls;
    stack.aws.stepFunctions.loseTaskSuccessResponses(4);
    const first = (await stack.taskWatcher.runOnce()) as WatchResult;
    expect(stack.aws.stepFunctions.lostSendTaskSuccessCalls - lostBefore).toBe(4);
    // The SDK's retries of the lost answers take real seconds, i.e. most of the invocation's simulated minute.
    expect(first.resumed).toBe(0);
    // The hand-off's Wait For Cado is resumed by the scheduled watcher.
    stack.taskWatcher.start();
    let done: InvestigationRun;
    try {
      done = await a.run;
    } finally {
      await stack.taskWatcher.stop();
    }
    expect(done.caseRecord.status).toBe('complete');
    expect(done.stats.invocationsByState['Stage Output']).toBe(1);

    // Whichever pass answers next gets TaskTimedOut for the closed token and drops the wait: nothing resumed twice.
    if (first.stopped !== 'nothing-open') {
      expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open', resumed: 0 });
    }
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open', open: 0 });
  });

  it('with the watcher down, the watchdog timeout fires and Cancel Task cancels the task from the execute intent', async () => {
    const { windows } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(windows.id, { profile: 'hang' });
    const before = stack.s1Sim.requests.length;
    const a = start([windows.id]);
    const done = await a.run;

    expect(done.caseRecord.counts).toMatchObject({ timed_out: 1 });
    expect(done.stats.invocationsByState['Watchdog Fired']).toBeUndefined(); // a Pass, not a Task
    expect(done.events.some((e) => e.type === 'StateEntered' && e.state.name === 'Watchdog Fired')).toBe(
      true,
    );
    expect(done.stats.invocationsByState['Cancel Task']).toBe(1);
    const [task] = tasksOf(a.id);
    const cancels = s1Requests(stack, '/private/tasks/cancel-task', before);
    expect(cancels).toHaveLength(1);
    expect(JSON.stringify(cancels[0]?.body)).toContain(task?.parentTaskId as string);
    // No watcher ran: S1 was never asked for the task's status.
    expect(s1Requests(stack, '/remote-scripts/status', before)).toHaveLength(0);
    const line = agentLine(done, windows.id);
    expect(line.outcome).toBe('timed_out');

    // A watcher coming back later answers a closed token: harmless, and the wait is gone after.
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ resumed: 0 });
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open', open: 0 });
  });

  it('a passed deadline, seen by the watcher, still goes to Cancel Task (never the watchdog)', async () => {
    // Not the agent of the test before: a timed-out collection keeps its agent's lease (the task may still run).
    const { linux: windows } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(windows.id, { profile: 'hang' });
    stack.taskWatcher.start();
    try {
      const done = await start([windows.id]).run;
      expect(done.caseRecord.counts).toMatchObject({ timed_out: 1 });
      expect(agentLine(done, windows.id).reason).toMatch(/did not finish before its deadline/);
      expect(done.events.some((e) => e.type === 'StateEntered' && e.state.name === 'Watchdog Fired')).toBe(
        false,
      );
      expect(done.stats.invocationsByState['Cancel Task']).toBe(1);
    } finally {
      await stack.taskWatcher.stop();
    }
  });
});
