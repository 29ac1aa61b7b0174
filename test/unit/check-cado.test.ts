/**
 * Check Cado's decision ({@link decideCado}): the pipeline's outcome and the clock → done, wait again, or the
 * deadline. Outcomes come from Cado pipeline bodies through the pure `combineOutcome`, as the client builds them.
 */
import { describe, expect, it } from 'vitest';
import { decideCado, shouldTryOtherLayout } from '../../lambdas/check-cado/core';
import { type CadoPipeline, combineOutcome, pipelineSchema, toPipeline } from '../../lambdas/shared/cado';
import type { HandedOff } from '../../lambdas/shared/schemas';

const START = Date.parse('2026-11-24T11:00:00.000Z');
const DEADLINE = '2026-11-24T13:00:00.000Z';
const BEFORE = START + 60_000;
const AFTER = Date.parse(DEADLINE) + 1;
const noJitter = () => 0.5;

/** The fields the decision reads; the rest of the state passes through it untouched. */
const input = {
  investigation: { investigationId: 'threat-1', requestedBy: 'e2e', startedAt: '2026-11-24T10:00:00.000Z' },
  cado: {
    projectId: 7,
    projectName: 'S1 threat-1',
    pipelineId: 42,
    fileNameForm: 'array',
    startedAt: '2026-11-24T11:00:00.000Z',
    deadline: DEADLINE,
    phase: 'running',
  },
  poll: { attempt: 1, waitSeconds: 45, deadline: DEADLINE },
} as unknown as HandedOff;

function pipeline(data: Record<string, unknown>): CadoPipeline {
  const parsed = toPipeline(pipelineSchema.parse({ pipeline_id: 42, ...data }), 42);
  if (!parsed) throw new Error('no pipeline');
  return parsed;
}
const outcomeOf = (parent: Record<string, unknown>, children?: Record<string, unknown>[]) =>
  combineOutcome(pipeline(parent), children?.map(pipeline), { now: BEFORE, childGraceMs: 0 });

describe('decideCado', () => {
  it.each([
    ['queued', 'running'],
    ['in_progress', 'running'],
  ])('a %s pipeline waits again: 30 s × 1.5^attempt, capped at 5 minutes', (status) => {
    const out = decideCado(input, outcomeOf({ status, terminated: false }), BEFORE, noJitter);
    expect(out.cado).toMatchObject({ phase: 'running', checkedAt: new Date(BEFORE).toISOString() });
    expect(out.poll).toEqual({ attempt: 2, waitSeconds: Math.round(30 * 1.5 ** 2), deadline: DEADLINE });
    const late = decideCado(
      { ...input, poll: { ...input.poll, attempt: 10 } },
      { state: 'running', reason: 'r' },
      BEFORE,
      noJitter,
    );
    expect(late.poll.waitSeconds).toBe(300);
  });

  it('a complete pipeline whose children completed ends the hand-off as complete', () => {
    const outcome = outcomeOf({ status: 'complete', terminated: true, type: 'acquisition' }, [
      { pipeline_id: 43, status: 'complete', terminated: true, type: 'processing' },
    ]);
    const out = decideCado(input, outcome, BEFORE, noJitter);
    expect(out.cado).toEqual({
      ...input.cado,
      phase: 'complete',
      reason: outcome.reason,
      checkedAt: new Date(BEFORE).toISOString(),
    });
    expect(out.poll).toEqual(input.poll);
  });

  it('a complete pipeline with a child still running waits', () => {
    const outcome = outcomeOf({ status: 'complete', terminated: true }, [
      { pipeline_id: 43, status: 'in_progress', terminated: false },
    ]);
    expect(decideCado(input, outcome, BEFORE, noJitter).cado.phase).toBe('running');
  });

  it('a failed child fails the hand-off with the failing subtask’s words', () => {
    const outcome = outcomeOf({ status: 'complete', terminated: true }, [
      {
        pipeline_id: 43,
        status: 'failed',
        terminated: true,
        subtasks: [{ name: 'Extract', state: 'FAILURE', progress_text: ['archive was encrypted'] }],
      },
    ]);
    const out = decideCado(input, outcome, BEFORE, noJitter);
    expect(out.cado.phase).toBe('failed');
    expect(out.cado.reason).toContain('archive was encrypted');
  });

  it.each([
    ['failed', 'failed'],
    ['cancelled', 'cancelled'],
  ])('a %s import pipeline → %s', (status, phase) => {
    expect(decideCado(input, outcomeOf({ status, terminated: true }), BEFORE).cado.phase).toBe(phase);
  });

  it('a legacy pipeline without status: terminated with no failure is complete, not terminated is running', () => {
    expect(decideCado(input, outcomeOf({ terminated: true }, []), BEFORE).cado.phase).toBe('complete');
    expect(decideCado(input, outcomeOf({ terminated: false }), BEFORE).cado.phase).toBe('running');
  });

  it('still running at the deadline → deadline, with Cado’s last words', () => {
    const out = decideCado(input, { state: 'running', reason: 'Cado pipeline 42 is in progress' }, AFTER);
    expect(out.cado).toMatchObject({
      phase: 'deadline',
      reason: 'Still running at the deadline: Cado pipeline 42 is in progress',
      checkedAt: new Date(AFTER).toISOString(),
    });
    expect(out.poll).toEqual(input.poll);
  });

  it('a pipeline that finished after the deadline keeps its outcome', () => {
    expect(decideCado(input, { state: 'complete', reason: 'done' }, AFTER).cado.phase).toBe('complete');
  });

  it('never waits past the deadline', () => {
    const left = Date.parse(DEADLINE) - 7_000;
    expect(decideCado(input, { state: 'running', reason: 'r' }, left, noJitter).poll.waitSeconds).toBe(7);
  });
});

describe('shouldTryOtherLayout', () => {
  const staged = {
    ...input,
    evidence: { key: 'investigations/threat-1/100/6001/abc.zip' },
  } as unknown as HandedOff;
  const notFound = {
    state: 'failed',
    reason: 'Acquisition failed: object not found: s3://evidence/x',
  } as const;

  it('a pipeline that found no file, on the first import → try the other layout', () => {
    expect(shouldTryOtherLayout(staged, notFound)).toBe(true);
  });

  it('never a third import: not once the fallback was sent', () => {
    const again = {
      ...staged,
      cado: {
        ...staged.cado,
        fileNameFallback: { from: 'full-key', pipelineId: 41, reason: notFound.reason },
      },
    } as HandedOff;
    expect(shouldTryOtherLayout(again, notFound)).toBe(false);
  });

  it('not for other failures, nor a pipeline still running, nor a key without a folder', () => {
    expect(shouldTryOtherLayout(staged, { state: 'failed', reason: 'Processing failed: bad archive' })).toBe(
      false,
    );
    expect(shouldTryOtherLayout(staged, { state: 'running', reason: 'object not found yet?' })).toBe(false);
    const flat = { ...staged, evidence: { key: 'abc.zip' } } as unknown as HandedOff;
    expect(shouldTryOtherLayout(flat, notFound)).toBe(false);
  });
});
