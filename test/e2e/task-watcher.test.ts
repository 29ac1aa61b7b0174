/**
 * End-to-end: the Task Watcher (DESIGN §9, "O(1) S1 traffic"). Run Script queues the agent's execute and waits with
 * a task token; one watcher sends the queued executes (one call per script), asks S1 about every open task at once
 * and resumes the executions (the AWS fake's SendTaskSuccess, the runner's tokens). The stack's own schedule is off
 * here (Run Script's wake-ups are dropped, as Lambda drops them for a function that cannot run), so each test
 * decides when the watcher runs (or that it is down).
 * Short runtime and grace: the task deadline comes two simulated minutes after the start, the watchdog ten after.
 */
import { describe, expect, it } from 'vitest';
import { QueuedExecutes } from '../../lambdas/shared/coordination/queued-executes';
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

/** The simulator's child tasks on an agent started after request `since` of the simulator. */
function tasksOn(agentId: string, since: number) {
  const started = new Set(
    s1Requests(stack, '/remote-scripts/execute', since).map((r) => JSON.stringify(r.body)),
  );
  return [...stack.s1Sim.state.tasks.values()].filter(
    (task) => task.agentId === agentId && [...started].some((body) => body.includes(task.description)),
  );
}

/** How many executes are queued for the watcher (the coordination store's queue). */
async function queuedCount(): Promise<number> {
  const queue = new QueuedExecutes({ client: stack.dynamo.client, tableName: stack.coordinationTable });
  return (await queue.list()).queued.length;
}

/** Waits (real time, polling) until `n` executes are queued. */
async function untilQueued(n: number): Promise<void> {
  const giveUp = Date.now() + 30_000;
  while ((await queuedCount()) < n) {
    if (Date.now() > giveUp) throw new Error(`Timed out waiting for ${n} queued executes`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
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
  it('sends one execute for the agents queued with the same script, and resumes them all from one status call a pass', async () => {
    const { windows } = stack.tenant.agents;
    const site = stack.tenant.sites.rso.id;
    const more = [1, 2].map((n) =>
      stack.s1Sim.addAgent({ siteId: site, osType: 'windows', computerName: `ACME-BATCH0${n}` }),
    );
    const agents = [windows.id, ...more.map((a) => a.id)];
    const before = stack.s1Sim.requests.length;
    const runs = agents.map((agentId) => start([agentId]));
    await untilQueued(3);
    // Queued, not sent: with the watcher down nothing reaches S1's execute.
    expect(s1Requests(stack, '/remote-scripts/execute', before)).toHaveLength(0);

    const summaries: WatchResult[] = [];
    while (summaries.reduce((sum, w) => sum + w.resumed, 0) < 3 && summaries.length < 10) {
      summaries.push((await stack.taskWatcher.runOnce()) as WatchResult);
    }
    const executes = s1Requests(stack, '/remote-scripts/execute', before);
    expect(executes).toHaveLength(1);
    const body = executes[0]?.body as { filter: { ids: string[] }; data: { taskDescription: string } };
    expect([...body.filter.ids].sort()).toEqual([...agents].sort());
    expect(body.data.taskDescription).toMatch(/^s1cado batch [0-9a-f]{16}: /);
    // One parent task, a child per agent.
    const children = agents.flatMap((agentId) => tasksOn(agentId, before));
    expect(children).toHaveLength(3);
    expect(new Set(children.map((task) => task.parentTaskId)).size).toBe(1);
    // The watcher fetched the result links ahead (one call per pass that found tasks completed): no Stage Output
    // asked S1 for its link again, so every task id was asked for exactly once.
    const fetches = s1Requests(stack, '/remote-scripts/fetch-files', before);
    const asked = fetches.flatMap((r) => (r.body as { data: { taskIds: string[] } }).data.taskIds);
    expect(asked.sort()).toEqual(children.map((task) => task.id).sort());
    // Every status call asked about that one parent for all three.
    const calls = s1Requests(stack, '/remote-scripts/status', before);
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect(String(call.query.parentTaskId__in)).toBe(children[0]?.parentTaskId);

    // The hand-offs wait for their Cado pipelines the same way (Wait For Cado): the scheduled watcher resumes them.
    stack.taskWatcher.start();
    try {
      for (const [index, { run }] of runs.entries()) {
        const done = await run;
        expect(done.caseRecord.status).toBe('complete');
        expect(agentLine(done, agents[index] as string).outcome).toBe('complete');
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
    expect(stack.s1Sim.requests.slice(idle).filter((r) => r.host === 'api')).toHaveLength(0);
  });

  it('an ambiguous batched execute (502 after S1 started the tasks) ends every agent outcome_unknown, never sent twice', async () => {
    const site = stack.tenant.sites.rso.id;
    const agents = [1, 2].map(
      (n) => stack.s1Sim.addAgent({ siteId: site, osType: 'linux', computerName: `acme-amb-0${n}` }).id,
    );
    const before = stack.s1Sim.requests.length;
    const runs = agents.map((agentId) => start([agentId]));
    await untilQueued(2);
    stack.s1Sim.faults.add({
      match: { method: 'POST', path: '/remote-scripts/execute' },
      times: 1,
      action: { type: 'statusAfter', status: 502 },
    });
    stack.taskWatcher.start();
    try {
      for (const [index, { run }] of runs.entries()) {
        const done = await run;
        const line = agentLine(done, agents[index] as string);
        expect(line.outcome).toBe('outcome_unknown');
        expect(line.reason).toMatch(/s1cado batch [0-9a-f]{16}/);
      }
    } finally {
      await stack.taskWatcher.stop();
    }
    // S1 did start them (the answer was lost), and nobody sent the execute again.
    expect(s1Requests(stack, '/remote-scripts/execute', before)).toHaveLength(1);
    expect(agents.flatMap((agentId) => tasksOn(agentId, before))).toHaveLength(2);
  });

  it('a lost SendTaskSuccess response: the wait stays, and the next pass finds the token closed and drops it', async () => {
    const { linux } = stack.tenant.agents;
    const a = start([linux.id]);
    await until(() => stack.taskTokens.waiting().length === 1, 'Run Script to wait');
    // Every attempt of the SDK loses its response: the execution resumes, but the watcher cannot know.
    const lostBefore = stack.aws.stepFunctions.lostSendTaskSuccessCalls;
    stack.aws.stepFunctions.loseTaskSuccessResponses(4);
    const runs: WatchResult[] = [];
    while (stack.aws.stepFunctions.lostSendTaskSuccessCalls - lostBefore < 4 && runs.length < 10) {
      runs.push((await stack.taskWatcher.runOnce()) as WatchResult);
    }
    expect(stack.aws.stepFunctions.lostSendTaskSuccessCalls - lostBefore).toBe(4);
    const first = runs.at(-1) as WatchResult;
    // The SDK's retries of the lost answers take real seconds, i.e. most of the invocation's simulated minute.
    expect(runs.every((run) => run.resumed === 0)).toBe(true);
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

  it('with the watcher down after sending the execute, the watchdog fires and Cancel Task cancels the task from the execute intent', async () => {
    const { windows } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(windows.id, { profile: 'hang' });
    const since = stack.s1Sim.requests.length;
    const a = start([windows.id]);
    await until(() => stack.taskTokens.waiting().length === 1, 'Run Script to wait');
    // Watcher runs until the execute is sent (Run Script may still be queuing it); then the watcher is down.
    for (let n = 0; n < 10 && s1Requests(stack, '/remote-scripts/execute', since).length === 0; n += 1) {
      await stack.taskWatcher.runOnce();
    }
    const [task] = tasksOn(windows.id, since);
    expect(
      task,
      JSON.stringify(stack.s1Sim.requests.slice(since).map((r) => [r.route, r.status])),
    ).toBeDefined();
    const before = stack.s1Sim.requests.length;
    const done = await a.run;

    expect(done.caseRecord.counts).toMatchObject({ timed_out: 1 });
    expect(done.stats.invocationsByState['Watchdog Fired']).toBeUndefined(); // a Pass, not a Task
    expect(done.events.some((e) => e.type === 'StateEntered' && e.state.name === 'Watchdog Fired')).toBe(
      true,
    );
    expect(done.stats.invocationsByState['Cancel Task']).toBe(1);
    const cancels = s1Requests(stack, '/private/tasks/cancel-task', before);
    expect(cancels).toHaveLength(1);
    expect(JSON.stringify(cancels[0]?.body)).toContain(task?.parentTaskId as string);
    // No watcher ran after the execute: S1 was never asked for the task's status by one.
    expect(
      s1Requests(stack, '/remote-scripts/status', before).filter(
        (r) => r.query.parentTaskId__in !== undefined,
      ),
    ).toHaveLength(0);
    const line = agentLine(done, windows.id);
    expect(line.outcome).toBe('timed_out');

    // A watcher coming back later answers a closed token: harmless, and the wait is gone after.
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ resumed: 0 });
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open', open: 0 });
  });

  it('with the watcher down from the start, nothing is sent: the watchdog ends the agent, and a late watcher sends nothing', async () => {
    const late = stack.s1Sim.addAgent({
      siteId: stack.tenant.sites.rso.id,
      osType: 'linux',
      computerName: 'acme-late-01',
    });
    const before = stack.s1Sim.requests.length;
    const done = await start([late.id]).run;
    expect(done.caseRecord.counts, JSON.stringify(done.caseRecord.agents)).toMatchObject({ timed_out: 1 });
    expect(agentLine(done, late.id).outcome).toBe('timed_out');
    // The late watcher finds the execute past its send-by time: it fails the (closed) wait and sends nothing.
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open' });
    expect(s1Requests(stack, '/remote-scripts/execute', before)).toHaveLength(0);
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open', open: 0 });
  });

  it('a batched execute that starts fewer tasks than it named: the agents without one fail at once, not at the deadline', async () => {
    const site = stack.tenant.sites.rso.id;
    const [kept, gone] = [1, 2].map((n) =>
      stack.s1Sim.addAgent({ siteId: site, osType: 'linux', computerName: `acme-part-0${n}` }),
    );
    if (!kept || !gone) throw new Error('no agents');
    const before = stack.s1Sim.requests.length;
    const runs = [kept, gone].map((agent) => start([agent.id]));
    await untilQueued(2);
    // Decommissioned after Resolve Targets looked, before the execute: S1 starts a task on the other agent only.
    gone.isDecommissioned = true;
    stack.taskWatcher.start();
    try {
      const [first, second] = await Promise.all(runs.map((r) => r.run));
      expect(agentLine(first as InvestigationRun, kept.id).outcome).toBe('complete');
      const line = agentLine(second as InvestigationRun, gone.id);
      // Its own evidence or none: never the other agent's collection.
      expect(line.outcome).toBe('failed');
      expect(line.evidence ?? null).toBeNull();
      expect(line.reason).toMatch(
        /S1 started no task for agent \d+: the execute .* named 2 agents and started tasks on 1/,
      );
      // Decided from S1's answers, not by waiting out the deadline: no Cancel Task, no watchdog.
      expect(second?.stats.invocationsByState['Cancel Task']).toBeUndefined();
      expect(second?.events.some((e) => e.type === 'StateEntered' && e.state.name === 'Watchdog Fired')).toBe(
        false,
      );
    } finally {
      await stack.taskWatcher.stop();
    }
    const executes = s1Requests(stack, '/remote-scripts/execute', before);
    expect(executes).toHaveLength(1);
    expect(tasksOn(gone.id, before)).toHaveLength(0);
    expect(s1Requests(stack, '/remote-scripts/cancel', before)).toHaveLength(0);
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
