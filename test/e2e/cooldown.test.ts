/**
 * End-to-end: one collection per endpoint. Two threats on one agent inside `agentCooldownMinutes`: the second
 * investigation reuses the first one's collection (its case file points at that evidence) instead of running the
 * collector again; the S1 simulator's log shows one task for the agent, Cado one import.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLine, agentResult, type E2eStack, investigate, nextThreatId, startE2eStack } from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack({ config: { agentCooldownMinutes: 30 } });
});

afterAll(async () => {
  await stack?.close();
});

describe('one collection per endpoint', () => {
  it('a second threat on the same agent inside the cooldown reuses the first collection', async () => {
    const { linux } = stack.tenant.agents;
    const since = stack.s1Sim.state.executions.length;
    const first = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    const second = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(first.caseRecord.status).toBe('complete');
    const line = agentLine(second, linux.id);
    expect(line.outcome).toBe('shared');
    const evidence = agentResult(first, linux.id).evidence;
    expect(line.sharedWith).toEqual({
      investigationId: first.investigationId,
      evidencePrefix: `investigations/${first.investigationId}/${linux.id}/`,
    });
    expect(evidence?.key.startsWith(line.sharedWith?.evidencePrefix as string)).toBe(true);
    expect(second.caseRecord.status).toBe('complete');
    expect(second.stats.invocationsByState['Stage Output'] ?? 0).toBe(0);
    // Nothing doubled: one execute for the agent, one Cado import of its evidence.
    const executions = stack.s1Sim.state.executions
      .slice(since)
      .filter((e) => e.eligibleAgentIds.includes(linux.id));
    expect(executions).toHaveLength(1);
    expect(stack.cadoSim.state.imports.filter((i) => i.keys.includes(evidence?.key as string))).toHaveLength(
      1,
    );
  });

  it('another agent is not held by it, and a failed collection gives its agent back', async () => {
    const { windows } = stack.tenant.agents;
    const since = stack.s1Sim.state.executions.length;
    const rejectExecute = stack.s1Sim.faults.respond(400, {
      times: 1,
      match: { method: 'POST', path: '/remote-scripts/execute' },
    });
    const failed = await investigate(stack, {
      agentIds: [windows.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    expect(rejectExecute.hits).toBe(1);
    expect(agentLine(failed, windows.id).outcome).toBe('failed');

    const again = await investigate(stack, {
      agentIds: [windows.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    expect(agentLine(again, windows.id).outcome).toBe('complete');
    expect(
      stack.s1Sim.state.executions.slice(since).filter((e) => e.eligibleAgentIds.includes(windows.id)),
    ).toHaveLength(1);
  });
});
