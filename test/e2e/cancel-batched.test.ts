/**
 * Cancel Task on a batched execute (one S1 parent task, a child per agent, sent by the Task Watcher) against the S1
 * simulator: only the agent's own child is canceled, and while S1 lists no rows of the parent yet (they lag the
 * execute), nothing is canceled rather than the whole parent with the other agents' tasks.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cancelTask } from '../../lambdas/cancel-task/core';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client, type S1Client } from '../../lambdas/shared/sentinelone';
import { batchDescription } from '../../lambdas/watch-tasks/executes';
import {
  type DemoTenant,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';

const TOKEN = 'cancel-batched-token';
let sim: S1Simulator;
let tenant: DemoTenant;
let s1: S1Client;

beforeEach(async () => {
  sim = await startS1Simulator({ rateLimits: false });
  tenant = seedDemoTenant(sim, { token: TOKEN });
  s1 = createS1Client({
    consoleUrl: sim.url,
    credentials: staticCredential(TOKEN, 'ApiToken'),
    hostPolicy: { allowLoopback: true },
  });
});
afterEach(async () => {
  await sim.close();
});

/** Two Linux agents in one execute, as the watcher batches them; a child task for each. */
async function batch(description: string) {
  const other = sim.addAgent({ siteId: tenant.sites.rso.id, osType: 'linux', computerName: 'acme-web-02' });
  const agents = [tenant.agents.linux.id, other.id];
  sim.setAgentBehavior(tenant.agents.linux.id, { profile: 'hang' });
  sim.setAgentBehavior(other.id, { profile: 'hang' });
  const { parentTaskId } = await s1.execute({
    agentIds: agents,
    scriptId: tenant.builtinScript.id,
    taskDescription: description,
  });
  const children = () => [...sim.state.tasks.values()].filter((task) => task.parentTaskId === parentTaskId);
  return { parentTaskId, agents, children };
}

const cancels = () => sim.requests.filter((r) => r.path.endsWith('/private/tasks/cancel-task'));

describe('Cancel Task on a batched execute', () => {
  it("cancels the agent's own child only", async () => {
    const description = batchDescription('0123456789abcdef', 'Process List');
    const { parentTaskId, agents, children } = await batch(description);
    const info = await cancelTask(
      { target: { agentId: agents[0] as string }, task: { parentTaskId, description } },
      { s1, now: Date.now },
    );
    expect(info.attempted).toBe(true);
    const body = cancels()[0]?.body as { filter: Record<string, unknown> };
    expect(body.filter).toMatchObject({ ids: [children().find((t) => t.agentId === agents[0])?.id] });
    expect(children().find((t) => t.agentId === agents[1])?.canceledAt).toBeNull();
  });

  it('cancels nothing while S1 lists no row of the batch yet (never the whole parent)', async () => {
    const description = batchDescription('fedcba9876543210', 'Process List');
    const { parentTaskId, agents, children } = await batch(description);
    // S1's rows lag the execute: the status listing is empty for now.
    sim.faults.add({
      match: { path: '/remote-scripts/status' },
      times: 1,
      action: {
        type: 'status',
        status: 200,
        body: { data: [], pagination: { nextCursor: null, totalItems: 0 } },
      },
    });
    const info = await cancelTask(
      { target: { agentId: agents[0] as string }, task: { parentTaskId, description } },
      { s1, now: Date.now },
    );
    expect(info).toMatchObject({ attempted: false, affected: 0 });
    expect(info.reason).toMatch(/batched execute of several agents/);
    expect(cancels()).toHaveLength(0);
    expect(children().every((t) => t.canceledAt === null)).toBe(true);
  });
});
