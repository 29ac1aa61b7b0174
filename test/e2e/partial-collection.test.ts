/**
 * End-to-end: S1 reports `completed` with "The execution terminated in failure" but the collector's result file
 * exists (as the SEKOIA recording shows, with a scriptResultsSignature). The evidence is staged and handed to Cado,
 * and the agent ends `partial` with the reason; without a result file the agent still fails (collection.test.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import { DETAILED_STATUS } from '../../local/s1-simulator';
import {
  agentLine,
  type E2eStack,
  investigate,
  nextThreatId,
  readJson,
  sha256Hex,
  startE2eStack,
  verifiedEvidence,
} from './helpers';

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

describe('completed with a failure detailedStatus, with a result file', () => {
  it('stages the evidence, hands it to Cado and ends the agent partial with the reason', async () => {
    const { windows, linux } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(linux.id, { profile: 'completedWithFailureAndResult' });
    const run = await investigate(stack, {
      agentIds: [windows.id, linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.failure).toBeUndefined();
    expect(run.caseRecord.status).toBe('partial');
    expect(run.caseRecord.counts).toMatchObject({ complete: 1, partial: 1, failed: 0 });
    expect(run.caseRecord.summary).toContain(
      '1 processed although the collector reported a failure (partial)',
    );

    const line = agentLine(run, linux.id);
    expect(line).toMatchObject({
      outcome: 'partial',
      s1Task: { status: 'completed', detailedStatus: DETAILED_STATUS.terminatedInFailure },
      cado: { phase: 'complete' },
    });
    expect(line.reason).toContain('collector reported a failure');
    expect(line.reason).toContain(DETAILED_STATUS.terminatedInFailure);

    // The evidence is what S1 served, intact, and Cado imported exactly that object.
    const key = line.evidence?.key as string;
    const { manifest, bytes, served } = await verifiedEvidence(
      stack,
      key,
      line.evidence?.manifestKey as string,
    );
    expect(sha256Hex(bytes)).toBe(served.sha256);
    expect(stack.cadoSim.state.imports.filter((i) => i.keys.includes(key))).toHaveLength(1);
    // The manifest records the failure S1 reported next to a completed hand-off.
    expect(manifest.s1Task.detailedStatus).toBe(DETAILED_STATUS.terminatedInFailure);
    expect(manifest.s1Task.scriptFailure).toContain(DETAILED_STATUS.terminatedInFailure);
    const final = await readJson<Manifest>(stack, line.evidence?.manifestKey as string);
    expect(final.handoff).toMatchObject({
      status: 'complete',
      reason: expect.stringContaining('reported a failure'),
    });

    expect(agentLine(run, windows.id).outcome).toBe('complete');
  });
});
