/**
 * The bench's lambdas verdicts (issue 14, goals 4 and 5): the largest bundle and the slowest median init are judged
 * against the goals, every Lambda gets its own met / not met, and the text says the same as the JSON figures.
 */
import { describe, expect, it } from 'vitest';
import { LAMBDA_GOALS, type LambdaInitReport, lambdaVerdicts } from '../bench/lambda-init';
import { renderLambdas } from '../bench/report';

function figures(step: string, bytes: number, initMs: number) {
  return {
    step,
    bytes,
    mapBytes: 1,
    extraBytes: 0,
    initMs,
    initMinMs: initMs,
    initMaxMs: initMs,
    initCpuMs: initMs - 5,
    initSourceMapsMs: initMs + 10,
    rssAfterInit: 64 * 1024 * 1024,
    nodeFlags: [],
    meetsGoals: bytes <= LAMBDA_GOALS.maxBytes && initMs <= LAMBDA_GOALS.maxInitMs,
  };
}

function report(lambdas: ReturnType<typeof figures>[]): LambdaInitReport {
  return {
    runs: 5,
    deployedFlags: [],
    emptyNode: { rss: 40 * 1024 * 1024 },
    lambdas,
    ...lambdaVerdicts(lambdas),
  };
}

describe('lambdas verdicts', () => {
  it('judges the largest bundle and the slowest init, each against its own goal', () => {
    const r = report([figures('small', 200_000, 190), figures('big', 900_000, 120)]);
    expect(r.maxBytes).toBe(900_000);
    expect(r.maxInitMs).toBe(190);
    expect(r.verdicts.bytes).toEqual({ goal: 1_000_000, figure: 900_000, met: true, step: 'big' });
    expect(r.verdicts.init).toEqual({ goal: 200, figure: 190, met: true, step: 'small' });
    const text = renderLambdas(r);
    expect(text).toContain('goal bundles ≤ 1 MB: met (largest big: 0.900 MB');
    expect(text).toContain('goal median cold init ≤ 200 ms: met (slowest small: 190 ms');
  });

  it('says NOT MET with the figure when one Lambda misses a goal, and marks that Lambda', () => {
    const r = report([figures('ok', 500_000, 100), figures('fat', 1_000_001, 201)]);
    expect(r.verdicts.bytes.met).toBe(false);
    expect(r.verdicts.init.met).toBe(false);
    const text = renderLambdas(r);
    expect(text).toContain('goal bundles ≤ 1 MB: NOT MET (largest fat: 1.000 MB');
    expect(text).toContain('goal median cold init ≤ 200 ms: NOT MET (slowest fat: 201 ms');
    const rows = text.split('\n').filter((line) => /^\s+(ok|fat)\s/.test(line));
    expect(rows.find((line) => line.trim().startsWith('ok'))).toContain(' met ');
    expect(rows.find((line) => line.trim().startsWith('fat'))).toContain('NOT MET');
  });
});
