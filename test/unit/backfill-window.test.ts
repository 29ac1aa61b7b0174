import { describe, expect, it } from 'vitest';
import { parseWindowTime } from '../../bin/cli/backfill';
import { UsageError } from '../../bin/cli/errors';
import { BackfillInput } from '../../lambdas/shared/schemas';

const NOW = Date.parse('2026-12-03T12:00:00Z');

describe('s1cado backfill window', () => {
  it('reads ISO times with a zone, dates as midnight UTC, and durations back from now', () => {
    expect(parseWindowTime('2026-11-30T08:00:00Z', '--since', NOW)).toBe('2026-11-30T08:00:00.000Z');
    expect(parseWindowTime('2026-11-30T08:00:00+02:00', '--since', NOW)).toBe('2026-11-30T06:00:00.000Z');
    expect(parseWindowTime('2026-11-30', '--since', NOW)).toBe('2026-11-30T00:00:00.000Z');
    expect(parseWindowTime('90m', '--since', NOW)).toBe('2026-12-03T10:30:00.000Z');
    expect(parseWindowTime('7d', '--since', NOW)).toBe('2026-11-26T12:00:00.000Z');
  });

  it('refuses times without a zone, garbage and windows over 7 days back', () => {
    for (const bad of ['2026-11-30T08:00:00', 'yesterday', '8d', '-1h', '']) {
      expect(() => parseWindowTime(bad, '--since', NOW), bad).toThrow(UsageError);
    }
  });

  it('the function refuses a window whose start is not before its end', () => {
    const input = { until: '2026-12-03T10:00:00.000Z', requestedBy: 'a@b' };
    expect(BackfillInput.safeParse({ ...input, since: '2026-12-03T10:00:00.000Z' }).success).toBe(false);
    expect(BackfillInput.parse({ ...input, since: '2026-12-03T09:00:00.000Z' }).dryRun).toBe(false);
  });
});
