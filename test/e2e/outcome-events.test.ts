/**
 * Outcome events and notifications on the local stack: each investigation's end puts one `Investigation
 * <Outcome>` event on the bus (read back from the AWS fake's bus), and the rule synthesized in the stack sends its
 * summary to the notification topic (the fake's topic, through the template's input transformer), once each, with
 * the evidence-record note on the S1 threat.
 */
import { describe, expect, it } from 'vitest';
import type { OutcomeEventDetail } from '../../lambdas/shared/evidence/outcome-event';
import { type E2eStack, type InvestigationRun, investigate, useE2eStack } from './helpers';

let stack: E2eStack;
useE2eStack((started) => {
  stack = started;
});

function eventsOf(investigationId: string) {
  return stack.aws.eventBridge
    .events(stack.intake.busName)
    .filter(
      (e) =>
        e.source === 's1cado.investigation' &&
        (e.detail as unknown as OutcomeEventDetail).investigationId === investigationId,
    );
}

function notificationsOf(investigationId: string): string[] {
  const topic = stack.outputs.NotificationTopicArn as string;
  return stack.aws.sns
    .messages(topic)
    .map((m) => m.message)
    .filter((m) => m.includes(`investigation ${investigationId}:`));
}

async function run(scenario: () => void, agentIds: string[]): Promise<InvestigationRun> {
  scenario();
  const threat = stack.s1Sim.addThreat({ agentId: agentIds[0] as string });
  return investigate(stack, {
    agentIds,
    threatId: threat.id,
    requestedBy: 'threat-intake',
    reason: 'outcome test',
  });
}

describe('outcome events, notifications and the threat note', () => {
  it.each<[string, string, () => void, (s: E2eStack) => string[]]>([
    ['complete', 'Investigation Completed', () => undefined, (s) => [s.tenant.agents.windows.id]],
    [
      'partial',
      'Investigation Partial',
      () => stack.s1Sim.setAgentBehavior(stack.tenant.agents.linux.id, { profile: 'fail' }),
      (s) => [s.tenant.agents.windows.id, s.tenant.agents.linux.id],
    ],
    [
      'failed',
      'Investigation Failed',
      () => stack.s1Sim.setAgentBehavior(stack.tenant.agents.linux.id, { profile: 'fail' }),
      (s) => [s.tenant.agents.linux.id],
    ],
    [
      'staged_handoff_failed',
      'Investigation HandOffFailed',
      () => {
        stack.cadoSim.behaviour.processingOutcome = 'failed';
      },
      (s) => [s.tenant.agents.windows.id],
    ],
  ])('%s: one %s event, one notification, one note', async (status, detailType, scenario, agents) => {
    const result = await run(scenario, agents(stack));
    expect(result.caseRecord.status).toBe(status);
    expect(result.caseRecord.outcomeEvent).toBe('done');

    const events = eventsOf(result.investigationId);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event?.detailType).toBe(detailType);
    const detail = event?.detail as unknown as OutcomeEventDetail;
    expect(detail).toMatchObject({
      schema: 's1cado/outcome-event@1',
      status,
      threatId: result.caseRecord.threatId,
      caseUri: `s3://${stack.bucket}/investigations/${result.investigationId}/case.json`,
      reportUri: `s3://${stack.bucket}/investigations/${result.investigationId}/case.md`,
      verifyCommand: `npx s1cado verify ${result.investigationId}`,
    });
    for (const agent of result.caseRecord.agents) {
      const line = detail.agents.find((a) => a.agentId === agent.agentId);
      expect(line?.outcome).toBe(agent.outcome);
      if (agent.evidence) {
        expect(line?.evidence).toEqual({
          s3Uri: `s3://${agent.evidence.bucket}/${agent.evidence.key}`,
          versionId: agent.evidence.versionId,
          sha256: agent.evidence.sha256,
          bytes: agent.evidence.bytes,
        });
      }
    }

    const notifications = notificationsOf(result.investigationId);
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toBe(
      [
        `s1-cado-forensics investigation ${result.investigationId}: ${status}`,
        result.caseRecord.summary,
        `Case report: ${detail.reportUri}`,
        `Case file: ${detail.caseUri}`,
        `Check the chain of custody: npx s1cado verify ${result.investigationId}`,
        `Next: ${detail.nextStep}`,
      ].join('\n'),
    );
    if (status === 'staged_handoff_failed')
      expect(detail.nextStep).toContain(`npx s1cado handoff ${result.investigationId}`);

    const notes = stack.s1Sim.state.notes.get(result.caseRecord.threatId as string) ?? [];
    expect(notes.filter((n) => n.text.includes(`s1-cado-forensics ${result.investigationId}:`))).toHaveLength(
      1,
    );
  });

  it('a lost Record Outcome answer puts the event once', async () => {
    const threat = stack.s1Sim.addThreat({ agentId: stack.tenant.agents.windows.id });
    const result = await investigate(
      stack,
      {
        agentIds: [stack.tenant.agents.windows.id],
        threatId: threat.id,
        requestedBy: 'threat-intake',
        reason: 'x',
      },
      { lostLambdaResponses: { 'Record Outcome': { times: 1 } } },
    );
    expect(result.stats.invocationsByState['Record Outcome']).toBe(2);
    expect(eventsOf(result.investigationId)).toHaveLength(1);
    expect(notificationsOf(result.investigationId)).toHaveLength(1);
    expect(result.caseRecord.outcomeEvent).toBe('already-done');
  });
});
