/**
 * The bench's own logic that its figures rest on (argument parsing, cost arithmetic, invocation timing from
 * execution events, memory probing, table layout). The bench itself is not run here: it is timed and slow.
 */
import { describe, expect, it } from 'vitest';
import type { AslDefinition } from '../../local/asl/definition';
import type { LocalEvent } from '../../local/asl/runner';
import { BenchUsageError, parseArgs, SECTIONS } from '../bench/args';
import { table } from '../bench/format';
import { invocationTimer } from '../bench/invocations';
import { processCpuSeconds, startMemoryProbe } from '../bench/memory-probe';
import { billedMs, estimateCost, US_EAST_1 } from '../bench/pricing';
import { PROPOSED_THROTTLE_RETRY, withRetrier } from '../bench/retry-what-if';
import { median } from '../bench/stats';

describe('parseArgs', () => {
  it('runs every section by default, in the fixed order', () => {
    expect(parseArgs([]).sections).toEqual([...SECTIONS]);
  });

  it('keeps the fixed order whatever order --only names sections in, and reads inline values', () => {
    const args = parseArgs(['--only', 'lambdas,staging', '--threats=50', '--json']);
    expect(args.sections).toEqual(['staging', 'lambdas']);
    expect(args.threats).toBe(50);
    expect(args.json).toBe(true);
  });

  it('refuses unknown sections, options and non-positive numbers', () => {
    expect(() => parseArgs(['--only', 'stagin'])).toThrow(BenchUsageError);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown option --fast/);
    expect(() => parseArgs(['--burst-scale', '0'])).toThrow(/positive number/);
    expect(() => parseArgs(['--init-runs'])).toThrow(/positive number/);
  });
});

describe('estimateCost', () => {
  it('prices transitions, requests and GB-seconds at the stated rates', () => {
    const cost = estimateCost({
      stateTransitions: 40,
      invocations: [
        { durationMs: 999.2, memoryMb: 1024 },
        { durationMs: 0.2, memoryMb: 256 },
      ],
      logBytes: 1024 ** 3,
    });
    expect(cost.stepFunctions).toBeCloseTo(0.001, 10);
    expect(cost.lambdaRequests).toBeCloseTo(2 * 0.2e-6, 12);
    // 1.000 s at 1 GB plus the 1 ms minimum at 0.25 GB.
    expect(cost.lambdaDuration).toBeCloseTo((1 + 0.001 * 0.25) * US_EAST_1.lambdaGbSecondArm, 12);
    expect(cost.logs).toBeCloseTo(0.5, 10);
    expect(cost.total).toBeCloseTo(
      cost.stepFunctions + cost.lambdaRequests + cost.lambdaDuration + cost.logs,
      12,
    );
  });

  it('bills whole milliseconds, at least one', () => {
    expect(billedMs(0)).toBe(1);
    expect(billedMs(10.01)).toBe(11);
  });
});

describe('invocationTimer', () => {
  const event = (type: string, name: string, timestamp: number, index?: number) =>
    ({ type, timestamp, index, state: { name, type: 'Task', input: null } }) as unknown as LocalEvent;

  it('times each attempt of Lambda-bound states per Map iteration and ignores other states', () => {
    const seen: [string, number][] = [];
    const timer = invocationTimer(new Map([['Check Task', 'check-task']]), (step, ms) =>
      seen.push([step, ms]),
    );
    for (const e of [
      event('StateEntered', 'Check Task', 100, 0),
      event('StateEntered', 'Check Task', 105, 1),
      event('StateEntered', 'Wait For Task', 110, 0),
      event('StateExited', 'Wait For Task', 120, 0),
      event('StateRetried', 'Check Task', 130, 0),
      event('StateExited', 'Check Task', 145, 1),
      event('StateFailed', 'Check Task', 170, 0),
    ]) {
      timer(e);
    }
    expect(seen).toEqual([
      ['check-task', 30],
      ['check-task', 40],
      ['check-task', 40],
    ]);
  });
});

describe('startMemoryProbe', () => {
  it('sees memory allocated while it runs, and the kernel high-water mark covers it', async () => {
    const probe = startMemoryProbe(5);
    const block = Buffer.alloc(64 * 1024 * 1024, 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const report = probe.stop();
    expect(block.length).toBe(64 * 1024 * 1024);
    expect(report.peakArrayBuffers).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(report.maxRssBytes).toBeGreaterThanOrEqual(report.polledPeakRss - 1024);
    expect(report.samples).toBeGreaterThanOrEqual(2);
  });
});

describe('formatting', () => {
  it('right-aligns numeric columns and left-aligns text', () => {
    const text = table([
      ['name', 'MiB/s'],
      ['staging', '5.1'],
      ['raw download', '250.0'],
    ]);
    const lines = text.split('\n');
    expect(lines[2]).toBe('  staging         5.1');
    expect(lines[3]).toBe('  raw download  250.0');
  });

  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('withRetrier', () => {
  const definition: AslDefinition = {
    StartAt: 'Run Script',
    States: {
      'Run Script': {
        Type: 'Task',
        Retry: [
          { ErrorEquals: ['Lambda.ServiceException'], MaxAttempts: 2 },
          { ErrorEquals: ['S1RateLimitedError', 'S1TransientError'], IntervalSeconds: 5, MaxAttempts: 6 },
        ],
        End: true,
      },
      Collect: {
        Type: 'Map',
        ItemProcessor: {
          StartAt: 'Check Task',
          States: {
            'Check Task': {
              Type: 'Task',
              Retry: [{ ErrorEquals: ['S1RateLimitedError'], MaxAttempts: 6 }],
              End: true,
            },
          },
        },
        End: true,
      },
      'Record Outcome': { Type: 'Task', Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 3 }], End: true },
    },
  };

  it('puts the new retrier first wherever the error was retried, inside Map too, and leaves the original alone', () => {
    const patched = withRetrier(definition, PROPOSED_THROTTLE_RETRY);
    expect(patched.States['Run Script']?.Retry).toEqual([
      PROPOSED_THROTTLE_RETRY,
      { ErrorEquals: ['Lambda.ServiceException'], MaxAttempts: 2 },
      { ErrorEquals: ['S1TransientError'], IntervalSeconds: 5, MaxAttempts: 6 },
    ]);
    const processor = patched.States.Collect?.ItemProcessor as AslDefinition | undefined;
    const inner = processor?.States['Check Task'];
    expect(inner?.Retry).toEqual([PROPOSED_THROTTLE_RETRY]);
    expect(patched.States['Record Outcome']?.Retry).toEqual([
      { ErrorEquals: ['States.ALL'], MaxAttempts: 3 },
    ]);
    expect(definition.States['Run Script']?.Retry).toHaveLength(2);
  });
});

describe('processCpuSeconds (the bench reads s3rver CPU from /proc)', () => {
  it.skipIf(process.platform !== 'linux')('agrees with the process own count of its CPU', () => {
    const until = Date.now() + 150;
    while (Date.now() < until) Math.sqrt(Math.random());
    const own = process.cpuUsage();
    const read = processCpuSeconds(process.pid) as number;
    // /proc counts in clock ticks (10 ms)
    expect(read).toBeGreaterThan(0.15);
    expect(Math.abs(read - (own.user + own.system) / 1e6)).toBeLessThan(0.05);
    expect(processCpuSeconds(undefined)).toBeUndefined();
    expect(processCpuSeconds(2 ** 30)).toBeUndefined();
  });
});
