/**
 * Evidence write-back: at the outcome, Record Outcome adds one note to the investigation's S1 threat with the
 * evidence record (per agent: outcome, S3 URI and version, SHA-256, Cado project and pipeline), once however often
 * Record Outcome runs. Read back from the S1 simulator's notes.
 */
import { describe, expect, it } from 'vitest';
import { type E2eStack, investigate, useE2eStack } from './helpers';

let stack: E2eStack;
useE2eStack((started) => {
  stack = started;
});

function notesOf(threatId: string): string[] {
  return (stack.s1Sim.state.notes.get(threatId) ?? []).map((note) => note.text);
}

describe('the evidence record on the S1 threat', () => {
  it('one note with each collection: outcome, S3 URI, SHA-256, Cado project and pipeline, even when Record Outcome runs twice', async () => {
    const { windows, linux } = stack.tenant.agents;
    const threat = stack.s1Sim.addThreat({ agentId: windows.id });
    const run = await investigate(
      stack,
      {
        agentIds: [windows.id, linux.id],
        threatId: threat.id,
        requestedBy: 'threat-intake',
        reason: 'write-back test',
      },
      // The first Record Outcome's answer is lost after it did its work: the state's Retry runs it again.
      { lostLambdaResponses: { 'Record Outcome': { times: 1 } } },
    );
    expect(run.stats.invocationsByState['Record Outcome']).toBe(2);
    expect(run.caseRecord.status).toBe('complete');
    expect(run.caseRecord.threatNote).toBe('already-added');

    const notes = notesOf(threat.id);
    expect(notes).toHaveLength(1);
    const [note] = notes;
    expect(note).toContain(`s1-cado-forensics ${run.investigationId}: complete`);
    for (const agent of run.caseRecord.agents) {
      const e = agent.evidence;
      expect(note).toContain(`(${agent.agentId}): complete`);
      expect(note).toContain(`s3://${e?.bucket}/${e?.key}`);
      expect(note).toContain(`SHA-256 ${e?.sha256}`);
      expect(note).toContain(
        `Cado project ${agent.cado?.projectId} (${agent.cado?.projectName}), pipeline ${agent.cado?.pipelineId}: complete`,
      );
    }
    expect(note).toContain(`npx s1cado verify ${run.investigationId}`);
    // No token or key in what S1 now shows.
    expect(note).not.toContain(stack.secrets.s1Token);
    expect(note).not.toContain(stack.secrets.cadoKey);
  });

  it('a failed investigation notes its outcome too; a manual one (no threat) adds none; S1 refusing the note loses nothing', async () => {
    const { windows } = stack.tenant.agents;
    const threat = stack.s1Sim.addThreat({ agentId: windows.id });
    stack.cadoSim.behaviour.processingOutcome = 'failed';
    const failed = await investigate(stack, {
      agentIds: [windows.id],
      threatId: threat.id,
      requestedBy: 'threat-intake',
      reason: 'write-back test',
    });
    expect(failed.caseRecord.status).toBe('staged_handoff_failed');
    expect(notesOf(threat.id)).toEqual([
      expect.stringContaining(`${failed.investigationId}: staged_handoff_failed`),
    ]);

    const before = stack.s1Sim.state.notes.size;
    await investigate(
      stack,
      { agentIds: [windows.id], requestedBy: 'analyst', reason: 'manual' },
      { name: 'manual-note-test' },
    );
    expect(stack.s1Sim.state.notes.size).toBe(before);

    await stack.reset();
    const refused = stack.s1Sim.addThreat({ agentId: windows.id });
    stack.s1Sim.faults.respond(503, { match: { path: '/threats/notes' } });
    const run = await investigate(stack, {
      agentIds: [windows.id],
      threatId: refused.id,
      requestedBy: 'threat-intake',
      reason: 'write-back test',
    });
    expect(run.caseRecord.status).toBe('complete');
    expect(run.caseRecord.threatNote).toBe('failed');
    expect(notesOf(refused.id)).toEqual([]);
  });
});
