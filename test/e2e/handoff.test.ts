/**
 * End-to-end: the Cado hand-off going wrong after the evidence is staged. The evidence stays in S3 and verifies,
 * the agent ends `staged_handoff_failed`, case.json says how to re-run the hand-off, and the execution fails with
 * `HandOffFailed`. Then the HandOffRerun state machine (what `s1cado handoff` starts) hands it off again, and a
 * pipeline still running when the first hand-off gave up is followed, never imported twice.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CaseRecord } from '../../lambdas/shared/evidence/case-record';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import {
  agentLine,
  type E2eStack,
  investigate,
  nextThreatId,
  readJson,
  readObject,
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

describe('Cado hand-off failures', () => {
  it('Cado down: the evidence is kept and verifies, the outcome says how to re-run, HandOffFailed', async () => {
    const { windows } = stack.tenant.agents;
    await stack.cadoSim.faults.down('unavailable');
    const cadoRequestsBefore = stack.cadoSim.requests.length;
    const run = await investigate(stack, {
      agentIds: [windows.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.output).toBeUndefined();
    expect(run.failure?.error).toBe('HandOffFailed');
    // Cado was really asked (and answered 503), more than once.
    const cadoCalls = stack.cadoSim.requests.slice(cadoRequestsBefore);
    expect(cadoCalls.length).toBeGreaterThan(1);
    expect(cadoCalls.every((r) => r.status === 503)).toBe(true);

    expect(run.caseRecord).toMatchObject({
      status: 'staged_handoff_failed',
      counts: { staged_handoff_failed: 1, complete: 0 },
      handoffRerunCommand: `npx s1cado handoff ${run.investigationId}`,
    });
    const line = agentLine(run, windows.id);
    expect(line.outcome).toBe('staged_handoff_failed');
    expect(line.reason).toMatch(/^Cado hand-off failed: Cado/);
    expect(line.cado).toBeUndefined();

    const evidence = line.evidence;
    expect(evidence).toBeDefined();
    const { manifest, bytes, served } = await verifiedEvidence(
      stack,
      evidence?.key as string,
      evidence?.manifestKey as string,
    );
    expect(sha256Hex(bytes)).toBe(served.sha256);
    expect(manifest.object).toMatchObject({ key: evidence?.key, sha256: served.sha256, bytes: served.size });
    expect(manifest.handoff).toEqual({
      status: 'failed',
      reason: line.reason,
      rerunCommand: `npx s1cado handoff ${run.investigationId}`,
    });
    expect(manifest.cado).toBeNull();
    expect(manifest.timeline.at(-1)?.event).toBe('handoff-failed');
  });

  it('a failed Cado pipeline: staged_handoff_failed with the reason Cado gave', async () => {
    const { linux } = stack.tenant.agents;
    const progressText = 'Unable to open the archive: unsupported compression';
    stack.cadoSim.behaviour.acquisitionOutcome = { kind: 'failed', progressText };
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.failure?.error).toBe('HandOffFailed');
    expect(run.caseRecord.status).toBe('staged_handoff_failed');
    expect(run.caseRecord.handoffRerunCommand).toBe(`npx s1cado handoff ${run.investigationId}`);
    const line = agentLine(run, linux.id);
    expect(line.outcome).toBe('staged_handoff_failed');
    expect(line.reason).toContain(progressText);
    expect(line.cado?.phase).toBe('failed');
    const pipeline = stack.cadoSim.state.pipelines.get(line.cado?.pipelineId as number);
    expect(pipeline?.plan.outcome).toMatchObject({ kind: 'failed', progressText });

    const manifest = await readJson<Manifest>(stack, line.evidence?.manifestKey as string);
    expect(manifest.cado).toMatchObject({ pipelineId: line.cado?.pipelineId, phase: 'failed' });
    expect(manifest.handoff.status).toBe('failed');
    expect(manifest.handoff.reason).toContain(progressText);
    const served = await stack.s1Sim.resultOf(manifest.s1Task.childTaskId);
    expect(manifest.object.sha256).toBe(served.sha256);
  });
});

/** Runs the HandOffRerun state machine to its end, as `s1cado handoff` would start it. */
async function rerun(on: E2eStack, investigationId: string, name: string) {
  try {
    return {
      output: await on.rerunMachine.run({ investigationId, requestedBy: 'e2e' }, { executionName: name })
        .result,
    };
  } catch (error) {
    return { error: error as { error?: string; cause?: string } };
  }
}

/** The Cado imports of one staged object, as Cado's simulator recorded them. */
const importsOfKey = (on: E2eStack, key: string) =>
  on.cadoSim.state.imports.filter((record) => record.keys.includes(key)).length;

describe('the hand-off re-run (HandOffRerun state machine)', () => {
  it('after a failed pipeline: imports the evidence anew, Record Outcome updates the manifest and case.json', async () => {
    const { linux } = stack.tenant.agents;
    stack.cadoSim.behaviour.acquisitionOutcome = {
      kind: 'failed',
      progressText: 'Unable to open the archive',
    };
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    const first = agentLine(run, linux.id);
    expect(first.outcome).toBe('staged_handoff_failed');
    const key = first.evidence?.key as string;
    expect(importsOfKey(stack, key)).toBe(1);

    stack.cadoSim.behaviour.acquisitionOutcome = 'complete';
    const result = await rerun(stack, run.investigationId, `${run.investigationId}-handoff-1`);
    expect(result.error).toBeUndefined();
    expect(importsOfKey(stack, key)).toBe(2);
    const record = await readJson<CaseRecord>(stack, `investigations/${run.investigationId}/case.json`);
    expect(record).toMatchObject({ status: 'complete', counts: { complete: 1, staged_handoff_failed: 0 } });
    expect(record.handoffReruns?.at(-1)).toMatchObject({
      by: 'e2e',
      executionName: `${run.investigationId}-handoff-1`,
      agents: [{ agentId: linux.id, outcome: 'complete', action: 'imported' }],
    });
    const manifest = await readJson<Manifest>(stack, first.evidence?.manifestKey as string);
    expect(manifest.cado?.phase).toBe('complete');
    expect(manifest.cado?.pipelineId).not.toBe(first.cado?.pipelineId);
    expect(manifest.handoff.status).toBe('complete');
    expect(manifest.timeline.map((e) => e.event).slice(-3)).toEqual([
      'handoff-rerun',
      'cado-import-requested',
      'cado-complete',
    ]);
    // The evidence is what was staged, unchanged.
    const served = await stack.s1Sim.resultOf(manifest.s1Task.childTaskId);
    expect(sha256Hex(await readObject(stack, key))).toBe(served.sha256);
  });
});
