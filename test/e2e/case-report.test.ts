/**
 * The case report: Record Outcome writes `case.md` beside `case.json`, rendered from it and the final manifests.
 */
import { describe, expect, it } from 'vitest';
import { caseKey } from '../../lambdas/shared/evidence/keys';
import { type E2eStack, investigate, nextThreatId, readObject, useE2eStack } from './helpers';

let stack: E2eStack;
useE2eStack((started) => {
  stack = started;
});

async function report(investigationId: string): Promise<string> {
  return (await readObject(stack, caseKey(investigationId).replace(/case\.json$/, 'case.md'))).toString(
    'utf8',
  );
}

describe('case.md', () => {
  it('says who started it and why, what each agent gave, its hashes, the chain of custody, Cado, and how to verify', async () => {
    const { windows, linux } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(linux.id, { result: { size: 20_000, collector: true } });
    const run = await investigate(stack, {
      agentIds: [windows.id, linux.id],
      threatId: nextThreatId(),
      requestedBy: 'analyst@example.com',
      // Markdown in a custody field is shown as text, never as table structure or code.
      reason: 'phishing | lateral `movement`',
    });
    const text = await report(run.investigationId);
    expect(text).toMatch(new RegExp(`^# Investigation ${run.investigationId}: complete\\n`));
    expect(text).toContain('| Requested by | analyst@example.com |');
    expect(text).toContain("| Reason | phishing \\| lateral 'movement' |");
    for (const agent of run.caseRecord.agents) {
      const e = agent.evidence;
      expect(text).toContain(`### ${agent.computerName} (\`${agent.agentId}\`)`);
      expect(text).toContain(`- SHA-256: \`${e?.sha256}\``);
      expect(text).toContain(`- Evidence: \`s3://${e?.bucket}/${e?.key}\``);
      expect(text).toContain(`- Signature: signed (\`${e?.signature?.key}\`)`);
      expect(text).toContain(`pipeline \`${agent.cado?.pipelineId}\`: complete`);
    }
    // The chain table of the Linux collection (our collector's shape: its listing verified).
    expect(text).toMatch(
      /\| collector-listing \| verified \| \d+ listed, \d+ verified, 0 mismatched, 0 missing, 0 extra \|/,
    );
    expect(text).toContain('| read-back | verified |');
    expect(text).toMatch(/- \S+ staged/);
    expect(text).toContain(`\`npx s1cado verify ${run.investigationId}\``);
    expect(text).not.toContain(stack.secrets.s1Token);
  });

  it('a failed investigation gets its report too, with the re-run command', async () => {
    stack.cadoSim.behaviour.processingOutcome = 'failed';
    const run = await investigate(stack, {
      agentIds: [stack.tenant.agents.windows.id],
      threatId: nextThreatId(),
      requestedBy: 'threat-intake',
      reason: 'report test',
    });
    expect(run.caseRecord.status).toBe('staged_handoff_failed');
    const text = await report(run.investigationId);
    expect(text).toMatch(/^# Investigation \S+: staged_handoff_failed/);
    expect(text).toContain(`Re-run the Cado hand-off: \`npx s1cado handoff ${run.investigationId}\``);
  });
});
