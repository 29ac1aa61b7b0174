/**
 * End-to-end: a Cado pipeline still running when the investigation's hand-off deadline passed. The HandOffRerun
 * state machine (what `s1cado handoff` starts) follows that pipeline to its end instead of importing the evidence a
 * second time. Its own file: the local stack runs with a short hand-off deadline (and handlers keep their clients at
 * module scope, so one local stack per process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseRecord } from '../../lambdas/shared/evidence/case-record';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import { agentLine, type E2eStack, investigate, nextThreatId, readJson, startE2eStack } from './helpers';

/** The Cado imports of one staged object, as Cado's simulator recorded them. */
const importsOfKey = (on: E2eStack, key: string) =>
  on.cadoSim.state.imports.filter((record) => record.keys.includes(key)).length;

describe('the hand-off re-run after the hand-off deadline', () => {
  let slow: E2eStack;
  beforeAll(async () => {
    // Cado takes longer than the workflow's hand-off deadline: the investigation gives up while the pipeline runs.
    slow = await startE2eStack({ config: { cadoHandoffTimeoutSeconds: 600 } });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it('follows the pipeline still running, and does not import the evidence a second time', async () => {
    const { windows } = slow.tenant.agents;
    slow.cadoSim.behaviour.timing.processingMs = 14 * 60_000;
    const run = await investigate(slow, {
      agentIds: [windows.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    const first = agentLine(run, windows.id);
    expect(first.outcome).toBe('staged_handoff_failed');
    expect(first.cado?.phase).toBe('deadline');
    const key = first.evidence?.key as string;
    expect(importsOfKey(slow, key)).toBe(1);

    await slow.rerunMachine.run(
      { investigationId: run.investigationId, requestedBy: 'e2e' },
      { executionName: `${run.investigationId}-handoff-1` },
    ).result;
    expect(importsOfKey(slow, key)).toBe(1);
    const record = await readJson<CaseRecord>(slow, `investigations/${run.investigationId}/case.json`);
    expect(record.status).toBe('complete');
    expect(record.handoffReruns?.at(-1)?.agents).toEqual([
      expect.objectContaining({
        agentId: windows.id,
        action: 'followed',
        pipelineId: first.cado?.pipelineId,
      }),
    ]);
    const manifest = await readJson<Manifest>(slow, first.evidence?.manifestKey as string);
    expect(manifest.cado).toMatchObject({ pipelineId: first.cado?.pipelineId, phase: 'complete' });
    expect(manifest.timeline.map((e) => e.event)).not.toContain('cado-import-requested');
  });
});
