/**
 * The shared S1 request budget against dynalite with the coordination table: slots are handed out at the family's
 * rate after the burst, several budgets (Lambdas) sharing the table share the schedule, a slot beyond the wait
 * limit is refused with S1RateLimitedError without taking anything, and a 429 empties the bucket for Retry-After
 * and halves the rate for the cool-off, seen by every budget on the table from its next take.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/contract';
import {
  budgetFamilyOf,
  budgetSettingsFromEnv,
  defaultBudgetFamilies,
  familyOf,
  type S1BudgetSettings,
  S1RequestBudget,
} from '../../lambdas/shared/coordination/budget';
import { S1RateLimitedError } from '../../lambdas/shared/errors';
import { type LocalDynamo, startLocalCoordinationStore } from '../../local/dynamo';

let dynamo: LocalDynamo & { tableName: string };
let time = Date.UTC(2026, 11, 3, 12, 0, 0);
const now = () => time;
/** Sleeping moves the shared fake time; `sent` records when each caller would send. */
const sleep = async (ms: number) => {
  time += ms;
};

/** A budget on the shared table whose only family is `remote-scripts` (a fresh item per test). */
function budgetFor(settings: Partial<S1BudgetSettings> & { families: S1BudgetSettings['families'] }) {
  return new S1RequestBudget({
    client: dynamo.client,
    tableName: dynamo.tableName,
    settings: { maxWaitSeconds: 10, coolOffSeconds: 60, ...settings },
    now,
    sleep,
  });
}

beforeAll(async () => {
  dynamo = await startLocalCoordinationStore();
});
afterAll(async () => {
  await dynamo?.close();
});

describe('budgetFamilyOf', () => {
  it('gives status polls a share of /remote-scripts* of their own, 0.1/s of S1 1/s, and the rest 90 % of S1 rate less that', () => {
    expect(budgetFamilyOf('/remote-scripts/status')).toBe('remote-scripts-status');
    expect(budgetFamilyOf('/remote-scripts/execute')).toBe('remote-scripts');
    const families = defaultBudgetFamilies();
    expect(families['remote-scripts-status']).toEqual({ perSecond: 0.1, burst: 2 });
    expect(families['remote-scripts']?.burst).toBe(22);
    expect(families['remote-scripts']?.perSecond).toBeCloseTo(0.8, 10);
  });
});

describe('familyOf', () => {
  it('maps paths to the families of S1 limits, /threats itself apart from its sub-paths', () => {
    expect(familyOf('/remote-scripts/status')).toBe('remote-scripts');
    expect(familyOf('/remote-scripts')).toBe('remote-scripts');
    expect(familyOf('/threats')).toBe('threats');
    expect(familyOf('/threats/notes')).toBe('threats-sub');
    expect(familyOf('/user')).toBe('user');
    expect(familyOf('/users/api-token-details')).toBe('users');
    expect(familyOf('/system/status')).toBeUndefined();
  });
});

describe('S1RequestBudget', () => {
  it('lets the burst through at once, then one slot per interval, across budgets sharing the table', async () => {
    // Each test uses its own family name so that items do not carry over.
    const name = 'remote-scripts';
    time += 3_600_000;
    const a = budgetFor({ families: { [name]: { perSecond: 2, burst: 3 } } });
    const b = budgetFor({ families: { [name]: { perSecond: 2, burst: 3 } } });
    const start = time;
    const sendTimes: number[] = [];
    // Sequential callers alternating between two "Lambdas": the wait is applied through the shared fake clock.
    for (let i = 0; i < 7; i++) {
      const budget = i % 2 === 0 ? a : b;
      const asked = time;
      await budget.acquire('/remote-scripts/execute', 'POST /remote-scripts/execute');
      sendTimes.push(time - start);
      time = asked; // callers arrive together; only their own send time moves
    }
    // Burst 3 at 0 ms, then 500 ms apart (2/s).
    expect(sendTimes).toEqual([0, 0, 0, 500, 1000, 1500, 2000]);
    expect(a.stats.taken + b.stats.taken).toBe(7);
    // One store call per take while the schedule stays busy (plus one for each budget's first switch).
    expect(a.stats.storeCalls + b.stats.storeCalls).toBeLessThanOrEqual(7 + 2);
  });

  it('refuses a slot beyond maxWaitSeconds with S1RateLimitedError and takes nothing', async () => {
    time += 3_600_000;
    const budget = budgetFor({
      maxWaitSeconds: 2,
      families: { 'remote-scripts': { perSecond: 1, burst: 1 } },
    });
    const asked = time;
    for (let i = 0; i < 3; i++) {
      await budget.acquire('/remote-scripts/fetch-files', 'GET /remote-scripts/status');
      time = asked;
    }
    const refused = budget.acquire('/remote-scripts/fetch-files', 'GET /remote-scripts/status');
    await expect(refused).rejects.toBeInstanceOf(S1RateLimitedError);
    await expect(refused).rejects.toMatchObject({
      name: 'S1RateLimitedError',
      details: { budget: 'remote-scripts' },
    });
    expect(budget.stats.refused).toBe(1);
    // Nothing was taken: once time passes, the next slot is the one after the three taken.
    time = asked + 3000;
    const before = time;
    await budget.acquire('/remote-scripts/fetch-files', 'GET /remote-scripts/status');
    expect(time - before).toBe(0);
  });

  it('halves the rate after a 429 for every budget on the table, and restores it after the cool-off', async () => {
    time += 3_600_000;
    const limits = { families: { 'remote-scripts': { perSecond: 1, burst: 1 } }, coolOffSeconds: 30 };
    const a = budgetFor(limits);
    const b = budgetFor(limits);
    await a.acquire('/remote-scripts/fetch-files', 'GET');
    await a.throttled('/remote-scripts/fetch-files', 5000);
    // The bucket is empty for Retry-After (5 s) for every budget; b learns of the cool-off from that answer, so
    // its next slot costs twice the interval.
    const asked = time;
    await b.acquire('/remote-scripts/fetch-files', 'GET');
    expect(time - asked).toBe(5000);
    time = asked;
    await b.acquire('/remote-scripts/fetch-files', 'GET');
    expect(time - asked).toBe(6000);
    time = asked;
    await b.acquire('/remote-scripts/fetch-files', 'GET');
    expect(time - asked).toBe(8000);
    // After the cool-off the slots are 1 s apart again.
    time = asked + 60_000;
    await a.acquire('/remote-scripts/fetch-files', 'GET');
    const after = time;
    await a.acquire('/remote-scripts/fetch-files', 'GET');
    await a.acquire('/remote-scripts/fetch-files', 'GET');
    expect(time - after).toBe(2000);
  });

  it('serves callers waiting at the same time with one store call, each at its own slot', async () => {
    time += 3_600_000;
    const budget = budgetFor({ families: { 'remote-scripts': { perSecond: 1, burst: 2 } } });
    const start = time;
    const sendTimes: number[] = [];
    // The fake sleep moves time for everyone; record each caller's slot by what its sleep asked for instead.
    const recording = new S1RequestBudget({
      client: dynamo.client,
      tableName: dynamo.tableName,
      settings: {
        maxWaitSeconds: 10,
        coolOffSeconds: 60,
        families: { 'remote-scripts': { perSecond: 1, burst: 2 } },
      },
      now,
      sleep: async (ms) => {
        sendTimes.push(time + ms - start);
      },
    });
    await budget.acquire('/remote-scripts/fetch-files', 'GET'); // makes the item exist and busy
    time = start;
    sendTimes.length = 0;
    await Promise.all([1, 2, 3, 4].map(() => recording.acquire('/remote-scripts/fetch-files', 'GET')));
    // One slot was taken at `start`; of the burst of 2 one is left now, then one a second.
    expect(sendTimes.sort((a, b) => a - b)).toEqual([1000, 2000, 3000]);
    expect(recording.stats.taken).toBe(4);
    expect(recording.stats.storeCalls).toBeLessThanOrEqual(3);
  });

  it('does not budget paths outside every family', async () => {
    const budget = budgetFor({ families: defaultBudgetFamilies() });
    await budget.acquire('/system/status', 'GET /system/status');
    expect(budget.stats.storeCalls).toBe(0);
  });
});

describe('budgetSettingsFromEnv', () => {
  it('is undefined without the variable; the families given override the defaults', () => {
    const previous = process.env[ENV.s1RequestBudget];
    try {
      delete process.env[ENV.s1RequestBudget];
      expect(budgetSettingsFromEnv()).toBeUndefined();
      process.env[ENV.s1RequestBudget] = JSON.stringify({
        maxWaitSeconds: 5,
        coolOffSeconds: 60,
        families: { 'remote-scripts': { perSecond: 2, burst: 10 } },
      });
      const settings = budgetSettingsFromEnv();
      expect(settings?.families['remote-scripts']).toEqual({ perSecond: 2, burst: 10 });
      // S1's documented 25/s burst 50 for /agents: 90 % of the rate, 0.75 s of it (19 requests) left for jitter.
      expect(settings?.families.agents).toEqual({ perSecond: 22.5, burst: 31 });
      // /sites: 100/s burst 100, where the jitter headroom is most of the burst.
      expect(settings?.families.sites).toEqual({ perSecond: 90, burst: 25 });
      // /threats: 10/s burst 50, at 80 % of the burst (more than the jitter needs).
      expect(settings?.families.threats).toEqual({ perSecond: 9, burst: 40 });
      // /user: 2/s burst 5, at least two below the burst.
      expect(settings?.families.user).toEqual({ perSecond: 1.8, burst: 3 });
      process.env[ENV.s1RequestBudget] = '{"maxWaitSeconds": -1}';
      expect(() => budgetSettingsFromEnv()).toThrow(/S1_REQUEST_BUDGET/);
    } finally {
      if (previous === undefined) delete process.env[ENV.s1RequestBudget];
      else process.env[ENV.s1RequestBudget] = previous;
    }
  });
});
