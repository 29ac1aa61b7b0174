/**
 * End-to-end: sites whose `/sites` record carries no licence data (as in a recorded Rapid7 answer) are not
 * rejected: the workflow tries their agents, and when S1 then starts nothing the agent's reason names RemoteOps.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentLine, type E2eStack, investigate, startE2eStack } from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack();
});

afterEach(async () => {
  await stack.reset();
});

afterAll(async () => {
  await stack?.close();
});

describe('a site without licence data', () => {
  it('is attempted: its agent is collected when the site does have RemoteOps', async () => {
    const site = stack.s1Sim.addSite({
      accountId: stack.tenant.account.id,
      name: 'Silent',
      rso: true,
      licenceData: false,
    });
    const agent = stack.s1Sim.addAgent({ siteId: site.id, osType: 'linux', computerName: 'silent-01' });
    const run = await investigate(stack, {
      agentIds: [agent.id],
      requestedBy: 'e2e',
      reason: 'no licence data',
    });
    expect(run.failure).toBeUndefined();
    expect(agentLine(run, agent.id)).toMatchObject({ outcome: 'complete', computerName: 'silent-01' });
    expect(run.caseRecord.counts).toMatchObject({ complete: 1, rejected: 0 });
  });

  it("is attempted, and when S1 starts nothing there the agent's reason names RemoteOps", async () => {
    const site = stack.s1Sim.addSite({
      accountId: stack.tenant.account.id,
      name: 'Dark',
      rso: false,
      licenceData: false,
    });
    const agent = stack.s1Sim.addAgent({ siteId: site.id, osType: 'linux', computerName: 'dark-01' });
    const executes = stack.s1Sim.state.executions.length;
    const run = await investigate(stack, {
      agentIds: [agent.id],
      requestedBy: 'e2e',
      reason: 'no licence data',
    });
    const line = agentLine(run, agent.id);
    expect(line.outcome).not.toBe('rejected');
    expect(line.outcome).toBe('failed');
    expect(line.reason).toMatch(/RemoteOps is not licensed or enabled on their site/);
    // It was really tried: S1 got the execute call for this agent.
    expect(stack.s1Sim.state.executions.length).toBeGreaterThan(executes);
  });

  it('a site whose record lists modules without rso is still rejected before anything runs', async () => {
    const { noRso } = stack.tenant.agents;
    const executes = stack.s1Sim.state.executions.length;
    const run = await investigate(stack, { agentIds: [noRso.id], requestedBy: 'e2e', reason: 'unlicensed' });
    expect(agentLine(run, noRso.id)).toMatchObject({ outcome: 'rejected' });
    expect(stack.s1Sim.state.executions.length).toBe(executes);
  });
});
