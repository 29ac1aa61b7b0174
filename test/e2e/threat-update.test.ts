/**
 * The optional threat update (`threatUpdate`, off by default): after an investigation that collected evidence,
 * Record Outcome sets the S1 threat's incident status and analyst verdict, once, and never for a failed one.
 */
import { describe, expect, it } from 'vitest';
import { type E2eStack, investigate, useE2eStack } from './helpers';

let stack: E2eStack;
useE2eStack(
  (started) => {
    stack = started;
  },
  { config: { threatUpdate: { incidentStatus: 'in_progress', analystVerdict: 'true_positive' } } },
);

function updatesOf(threatId: string) {
  return stack.s1Sim.requests.filter(
    (r) =>
      r.method === 'POST' &&
      (r.route === '/threats/incident' || r.route === '/threats/analyst-verdict') &&
      JSON.stringify(r.body ?? '').includes(threatId),
  );
}

describe('threatUpdate', () => {
  it('sets the incident status and verdict once after a collection, even when Record Outcome runs twice', async () => {
    const { windows } = stack.tenant.agents;
    const threat = stack.s1Sim.addThreat({ agentId: windows.id });
    const run = await investigate(
      stack,
      { agentIds: [windows.id], threatId: threat.id, requestedBy: 'threat-intake', reason: 'update test' },
      { lostLambdaResponses: { 'Record Outcome': { times: 1 } } },
    );
    expect(run.caseRecord.status).toBe('complete');
    expect(run.caseRecord.threatUpdate).toEqual({
      incidentStatus: 'in_progress',
      analystVerdict: 'true_positive',
      result: 'already-done',
    });
    const now = stack.s1Sim.state.threats.get(threat.id);
    expect(now).toMatchObject({ incidentStatus: 'in_progress', analystVerdict: 'true_positive' });
    expect(
      updatesOf(threat.id)
        .map((r) => r.route)
        .sort(),
    ).toEqual(['/threats/analyst-verdict', '/threats/incident']);
  });

  it('leaves the threat alone when nothing was collected', async () => {
    const { linux } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(linux.id, { profile: 'fail' });
    const threat = stack.s1Sim.addThreat({ agentId: linux.id });
    const run = await investigate(stack, {
      agentIds: [linux.id],
      threatId: threat.id,
      requestedBy: 'threat-intake',
      reason: 'update test',
    });
    expect(run.caseRecord.status).toBe('failed');
    expect(run.caseRecord.threatUpdate).toBeUndefined();
    expect(stack.s1Sim.state.threats.get(threat.id)).toMatchObject({ incidentStatus: 'unresolved' });
    expect(updatesOf(threat.id)).toEqual([]);
  });
});
