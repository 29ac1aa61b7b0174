/**
 * End-to-end: a task deadline that passes. The stack is synthesized with the shortest script runtime and grace the
 * config allows, so the deadline (runtime + grace) comes after two simulated minutes; the workflow must then ask S1
 * to cancel and record the agent as timed out, never loop on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DETAILED_STATUS } from '../../local/s1-simulator';
import {
  agentLine,
  type E2eStack,
  investigate,
  listKeys,
  nextThreatId,
  s1Requests,
  startE2eStack,
} from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack({ config: { scriptRuntimeTimeoutSeconds: 60, taskGraceSeconds: 60 } });
});

afterAll(async () => {
  await stack?.close();
});

describe('a passed task deadline', () => {
  it('cancels the tasks of a hung agent and of one that never picked its task up; both timed out', async () => {
    const { windows, offline } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(windows.id, { profile: 'hang' });
    const before = stack.s1Sim.requests.length;
    const run = await investigate(stack, {
      agentIds: [windows.id, offline.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.failure?.error).toBe('InvestigationFailed');
    expect(run.caseRecord.status).toBe('failed');
    expect(run.caseRecord.counts).toMatchObject({ timed_out: 2, complete: 0 });
    expect(run.stats.invocationsByState['Cancel Task']).toBe(2);

    const cancels = s1Requests(stack, '/private/tasks/cancel-task', before);
    expect(cancels).toHaveLength(2);
    for (const agent of [windows, offline]) {
      const line = agentLine(run, agent.id);
      expect(line.outcome).toBe('timed_out');
      expect(line.reason).toMatch(/did not finish before its deadline/);
      expect(line.evidence).toBeUndefined();
      const childTaskId = line.s1Task?.childTaskId as string;
      // S1 was asked to cancel exactly this agent's task.
      expect(JSON.stringify(cancels.map((c) => c.body))).toContain(childTaskId);
      expect(
        await listKeys(stack, `investigations/${run.investigationId}/${agent.id}/${childTaskId}/`),
      ).toEqual([]);
    }

    // The hung script was already running: S1 cannot cancel it, and the outcome says so.
    const hung = agentLine(run, windows.id);
    expect(hung.s1Task?.status).toBe('in_progress');
    expect(hung.cancel).toMatchObject({ attempted: true, affected: 0 });
    expect(hung.reason).toMatch(/cancel not possible/);
    expect(stack.s1Sim.taskView(hung.s1Task?.childTaskId as string).status).toBe('in_progress');

    // The offline agent never received its task, so the cancel took effect.
    const waiting = agentLine(run, offline.id);
    expect(waiting.s1Task?.status).toBe('pending');
    expect(waiting.cancel).toMatchObject({ attempted: true, affected: 1 });
    expect(waiting.reason).toMatch(/canceled/);
    const view = stack.s1Sim.taskView(waiting.s1Task?.childTaskId as string);
    expect(view).toMatchObject({ status: 'canceled', detailedStatus: DETAILED_STATUS.canceled });
  });
});
