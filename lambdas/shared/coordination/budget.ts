/**
 * The one S1 request budget of a deployment (DESIGN §9 "O(1) S1 traffic"): every S1 call takes a slot from the
 * budget of its path family before it is sent, so that all Lambdas together stay under S1's per-token limits and
 * a 429 becomes rare instead of the way throttling is discovered.
 *
 * Each family is one coordination-store item holding a GCRA schedule (the generic cell rate algorithm, a token
 * bucket kept as one number): `tat`, the time at which the bucket would be full again. One request costs `iv`
 * milliseconds (1000 / rate); a request at `now` may be sent at `max(now, tat - tolerance)`, where the tolerance
 * is `(burst - 1)` requests' worth, and taking its slot moves `tat` to `max(tat, now) + iv`. DynamoDB cannot take
 * a maximum inside an update, so there are two conditional UpdateItems, one per side of the maximum, and the
 * client tries the one its last answer makes likely: one store call per S1 call, two when the bucket changes
 * between idle and busy. Calls of one process that wait at the same time share one store call (n slots). A slot is only reserved when its send time is within `maxWaitSeconds`; otherwise nothing
 * is taken and the caller gets `S1RateLimitedError`, which Step Functions' Retry waits out.
 *
 * A 429 (S1 counted differently, another client shares the token, clock skew) empties the bucket for S1's
 * `Retry-After` and sets `slowUntil`, the end of a cool-off during which every slot costs twice `iv` (the rate
 * halves: multiplicative decrease; it comes back in one step when the cool-off ends). Both are in the item, so
 * every Lambda's next take obeys the empty bucket, and each take's answer tells it about the cool-off.
 *
 * The budget fails open: when the table cannot be reached, the call is sent unbudgeted with a warning, since a
 * DynamoDB fault must not stop evidence collection and S1's own 429 is still handled.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { now as clockNow, sleep as clockSleep } from '../clock';
import { ENV, S1_BUDGET_KEY_PREFIX, S1_RATE_LIMITS } from '../contract';
import { S1RateLimitedError } from '../errors';
import { logger } from '../observability';
import { parseEnv } from '../settings';
import { PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE } from './table';

/** Rate and burst of one family, in S1 requests per second and requests. */
export interface FamilyLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/** What the budget allows, as `S1_REQUEST_BUDGET` carries it. */
export interface S1BudgetSettings {
  /** Longest wait for a slot inside one call; beyond it the call fails with S1RateLimitedError. */
  readonly maxWaitSeconds: number;
  /** How long a 429 halves the family's rate. */
  readonly coolOffSeconds: number;
  /** Families (see `S1_RATE_LIMITS`) and their budget; families left out are not budgeted. In the environment
   * only overrides of {@link defaultBudgetFamilies} are given. */
  readonly families: Readonly<Record<string, FamilyLimit>>;
}

/**
 * The budget's default share of S1's documented burst, the fewest requests it leaves below it, and the arrival
 * jitter the rest must absorb: requests sent on schedule reach S1 closer together than they were sent when some are
 * delayed on the way (network, TLS, a slow store answer, a busy process), and at a family's full rate a jitter of
 * `j` seconds brings up to `rate × j` requests more than the schedule's burst into one instant. The headroom left
 * below S1's burst is therefore at least {@link ARRIVAL_JITTER_SECONDS} of the family's rate: with 0.5 s (the burst
 * bench at 5× time, where 100 ms of loopback delay is half a simulated second) 1 % of a 1,000-threat burst's
 * `GET /agents` came back 429 in some runs.
 */
export const DEFAULT_BURST_SHARE = 0.8;
export const MIN_BURST_HEADROOM = 2;
export const ARRIVAL_JITTER_SECONDS = 0.75;
/**
 * The budget's share of S1's documented rate. At the full rate, headroom that bunched arrivals used up comes back
 * only when the demand stops; at 90 % S1's bucket refills a tenth of its rate all along (2.5 requests a second for
 * `GET /agents`), so a long burst does not wear the headroom down: at the full rate, 1.1 % of a 1,000-threat
 * burst's requests still came back 429 in two of five bench runs, all of them `GET /agents`.
 */
export const DEFAULT_RATE_SHARE = 0.9;

/**
 * Budget per family from S1's documented limits: {@link DEFAULT_RATE_SHARE} of the rate, and a burst of
 * {@link DEFAULT_BURST_SHARE} of S1's, at least {@link MIN_BURST_HEADROOM} and {@link ARRIVAL_JITTER_SECONDS} of the
 * rate below it (and at least 1).
 */
export function defaultBudgetFamilies(): Record<string, FamilyLimit> {
  const families: Record<string, FamilyLimit> = Object.fromEntries(
    S1_RATE_LIMITS.map((limit) => [
      limit.family,
      {
        perSecond: limit.perSecond * DEFAULT_RATE_SHARE,
        burst: Math.max(
          1,
          Math.min(
            Math.floor(limit.burst * DEFAULT_BURST_SHARE),
            limit.burst - MIN_BURST_HEADROOM,
            Math.floor(limit.burst - limit.perSecond * ARRIVAL_JITTER_SECONDS),
          ),
        ),
      },
    ]),
  );
  // Status polls get a share of /remote-scripts* of their own, carved out of the family's budget, so that the
  // Task Watcher's one call every ~10 s is never starved by a queue of executes and result fetches (its tasks
  // would otherwise pass their watchdog while finished).
  const scripts = families['remote-scripts'];
  const documented = S1_RATE_LIMITS.find((limit) => limit.family === 'remote-scripts');
  if (scripts && documented) {
    // Of S1's own rate: one status call every 10 s, whatever share the rest gets.
    const share = STATUS_SHARE * documented.perSecond;
    families[STATUS_FAMILY] = { perSecond: share, burst: 2 };
    families['remote-scripts'] = {
      perSecond: scripts.perSecond - share,
      burst: Math.max(1, scripts.burst - 2),
    };
  }
  return families;
}

/** The budget family of `/remote-scripts/status` (a share of `remote-scripts`). */
export const STATUS_FAMILY = 'remote-scripts-status';
/** Share of `/remote-scripts*`'s rate kept for status polls: 0.1/s of S1's 1/s, one call every 10 s. */
export const STATUS_SHARE = 0.1;

/** The budget family of an API path: {@link familyOf}, with status polls on their own share. */
export function budgetFamilyOf(path: string): string | undefined {
  const bare = path.split('?')[0] ?? path;
  if (bare === '/remote-scripts/status') return STATUS_FAMILY;
  return familyOf(path);
}

const familyLimit = z.strictObject({
  perSecond: z.number().positive().max(10_000),
  burst: z.number().int().min(1).max(100_000),
});
const settingsSchema = z.strictObject({
  maxWaitSeconds: z.number().min(0).max(600),
  coolOffSeconds: z.number().min(0).max(3600),
  families: z.record(z.string().min(1), familyLimit).default({}),
});
const budgetEnv = z.object({
  [ENV.s1RequestBudget]: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
      const parsed = settingsSchema.safeParse(json);
      if (!parsed.success) {
        ctx.addIssue({
          code: 'custom',
          message: `must be { maxWaitSeconds, coolOffSeconds, families: { <family>: { perSecond, burst } } } (${parsed.error.issues
            .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
            .join('; ')})`,
        });
        return z.NEVER;
      }
      return parsed.data;
    }),
});

/**
 * The budget settings from the environment (the families it names override {@link defaultBudgetFamilies}), or
 * undefined when the function has no budget.
 */
export function budgetSettingsFromEnv(): S1BudgetSettings | undefined {
  const raw = parseEnv(budgetEnv, 'S1 request budget')[ENV.s1RequestBudget];
  if (!raw) return undefined;
  return { ...raw, families: { ...defaultBudgetFamilies(), ...raw.families } };
}

/** The family of an API path (below `/web/api/v2.1`), after `S1_RATE_LIMITS`; undefined when none applies. */
export function familyOf(path: string): string | undefined {
  const bare = path.split('?')[0] ?? path;
  for (const limit of S1_RATE_LIMITS) {
    const exact = 'exact' in limit && limit.exact;
    if (bare === limit.prefix || bare === `${limit.prefix}/`) return limit.family;
    if (!exact && bare.startsWith(`${limit.prefix}/`)) return limit.family;
  }
  return undefined;
}

/** Where a family's schedule lives in the coordination store. */
export function budgetKey(family: string): { readonly pk: string; readonly sk: string } {
  return { pk: `${S1_BUDGET_KEY_PREFIX}${family}`, sk: 'bucket' };
}

/** Counters of one process's budget use (the bench prints them). */
export interface BudgetStats {
  /** Slots taken. */
  taken: number;
  /** UpdateItem calls made for takes (≥ taken). */
  storeCalls: number;
  /** Calls refused by the budget itself (no slot within maxWaitSeconds). */
  refused: number;
  /** Of those, refused from what an earlier answer proved, without a store call. */
  refusedLocally: number;
  /** 429s reported to the budget. */
  throttled: number;
  /** Simulated/clock milliseconds spent waiting for slots. */
  waitedMs: number;
  /** Takes sent unbudgeted because the store failed. */
  storeFailures: number;
}

/** Options of {@link S1RequestBudget}. */
export interface S1RequestBudgetOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly settings: S1BudgetSettings;
  /** @default the shared clock */
  readonly now?: () => number;
  /** @default the shared clock's sleep */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Items of idle families disappear a day after their last use. */
const ITEM_TTL_SECONDS = 86_400;

type Attempt = 'idle' | 'busy';

/** A caller waiting for a slot: resolved with its send time (undefined: send unbudgeted), or rejected. */
interface Waiter {
  readonly operation: string;
  resolve(sendAt: number | undefined): void;
  reject(error: unknown): void;
}

/** The shared S1 request budget; see the module comment. */
export class S1RequestBudget {
  /** This process's counters. */
  readonly stats: BudgetStats = {
    taken: 0,
    storeCalls: 0,
    refused: 0,
    refusedLocally: 0,
    throttled: 0,
    waitedMs: 0,
    storeFailures: 0,
  };
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Per family: which update the last answer suggests. */
  private readonly hint = new Map<string, Attempt>();
  /** Per family: the end of the cool-off after a 429, as the last answer said. */
  private readonly slowUntil = new Map<string, number>();
  /**
   * Per family: a lower bound of `tat` from earlier answers (the schedule only ever moves forward), which lets a
   * call that certainly gets no slot in time be refused without asking the store.
   */
  private readonly knownTat = new Map<string, number>();
  /** Per family: callers waiting for the next store call, and whether one is out. */
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly pumping = new Set<string>();

  constructor(private readonly options: S1RequestBudgetOptions) {
    this.now = options.now ?? clockNow;
    this.sleep = options.sleep ?? clockSleep;
  }

  /**
   * Takes a slot for a request to `path` and waits until it may be sent. Returns at once for paths no family
   * budgets.
   * @throws S1RateLimitedError when no slot is free within `maxWaitSeconds` (nothing was taken or sent).
   */
  async acquire(path: string, operation: string, signal?: AbortSignal): Promise<void> {
    const family = budgetFamilyOf(path);
    const limit = family === undefined ? undefined : this.options.settings.families[family];
    if (family === undefined || limit === undefined) return;
    const at = this.now();
    const latest =
      at + (limit.burst - 1) * (1000 / limit.perSecond) + this.options.settings.maxWaitSeconds * 1000;
    if ((this.knownTat.get(family) ?? Number.NEGATIVE_INFINITY) > latest) {
      this.stats.refusedLocally++;
      throw this.refusal(family, limit, operation);
    }
    const sendAt = await new Promise<number | undefined>((resolve, reject) => {
      const queue = this.waiting.get(family) ?? [];
      queue.push({ operation, resolve, reject });
      this.waiting.set(family, queue);
      void this.pump(family, limit);
    });
    if (sendAt === undefined) return;
    const waitMs = Math.max(0, sendAt - this.now());
    if (waitMs > 0) {
      this.stats.waitedMs += waitMs;
      await this.sleep(waitMs, signal);
    }
  }

  /**
   * Serves the callers waiting for a family, one store call at a time: callers that arrive while a call is out
   * are served together by the next one, which takes as many slots as they need (a Lambda serves one invocation
   * at a time, so in AWS that is mostly one; a local run shares one process and gains most).
   */
  private async pump(family: string, limit: FamilyLimit): Promise<void> {
    if (this.pumping.has(family)) return;
    this.pumping.add(family);
    try {
      for (;;) {
        const batch = this.waiting.get(family)?.splice(0) ?? [];
        if (batch.length === 0) return;
        await this.serve(family, limit, batch);
      }
    } finally {
      this.pumping.delete(family);
    }
  }

  private async serve(family: string, limit: FamilyLimit, batch: Waiter[]): Promise<void> {
    const baseIv = 1000 / limit.perSecond;
    const toleranceMs = (limit.burst - 1) * baseIv;
    const maxWaitMs = this.options.settings.maxWaitSeconds * 1000;
    const at = this.now();
    const iv = (this.slowUntil.get(family) ?? 0) > at ? baseIv * 2 : baseIv;
    // More slots than fit within the wait would send some too late.
    const fits = Math.max(1, Math.floor((toleranceMs + maxWaitMs) / iv) + 1);
    let remaining = batch;
    let n = Math.min(remaining.length, fits);
    while (remaining.length > 0) {
      let answer: { tat: number; slowUntil: number } | 'full' | 'failed';
      try {
        answer = await this.takeSlots(family, n, at, iv, toleranceMs, maxWaitMs);
      } catch (error) {
        answer = 'failed';
        this.stats.storeFailures += remaining.length;
        logger.warn('S1 request budget unavailable; sending without it', {
          family,
          operation: remaining[0]?.operation,
          error: error instanceof Error ? error.name : 'Error',
        });
      }
      if (answer === 'failed') {
        for (const waiter of remaining) waiter.resolve(undefined);
        return;
      }
      if (answer === 'full') {
        if (n > 1) {
          n = Math.ceil(n / 2);
          continue;
        }
        for (const waiter of remaining) waiter.reject(this.refusal(family, limit, waiter.operation));
        return;
      }
      this.stats.taken += n;
      this.raiseKnownTat(family, answer.tat);
      if (Number.isFinite(answer.slowUntil)) this.slowUntil.set(family, answer.slowUntil);
      else this.slowUntil.delete(family);
      // Slot i follows the schedule as it was before this take: (tat - n·iv) + i·iv, minus the tolerance.
      const before = answer.tat - n * iv;
      const granted = remaining.slice(0, n);
      remaining = remaining.slice(n);
      granted.forEach((waiter, i) => {
        waiter.resolve(Math.max(at, before + i * iv - toleranceMs));
      });
      n = Math.min(remaining.length, n);
    }
  }

  /**
   * Takes `n` slots with one or two conditional UpdateItems (the likely side of the schedule first, then the other
   * one, then the first again for the race of the schedule moving in between); `full` when they do not fit.
   */
  private async takeSlots(
    family: string,
    n: number,
    at: number,
    iv: number,
    toleranceMs: number,
    maxWaitMs: number,
  ): Promise<{ tat: number; slowUntil: number } | 'full'> {
    const order: Attempt[] = this.hint.get(family) === 'busy' ? ['busy', 'idle', 'busy'] : ['idle', 'busy'];
    for (const attempt of order) {
      try {
        const answer = await this.take(family, attempt, at, n, iv, toleranceMs, maxWaitMs);
        this.hint.set(family, attempt);
        const item = answer.Attributes ?? {};
        return { tat: Number(item.tat?.N), slowUntil: Number(item.slowUntil?.N) };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    // Not idle, and the last slot would be beyond the wait: the schedule reaches at least that far.
    this.hint.set(family, 'busy');
    this.raiseKnownTat(family, at + toleranceMs + maxWaitMs - (n - 1) * iv);
    return 'full';
  }

  private refusal(family: string, limit: FamilyLimit, operation: string): S1RateLimitedError {
    this.stats.refused++;
    return new S1RateLimitedError(
      `S1 request budget for ${family} is taken for the next ${this.options.settings.maxWaitSeconds} s ` +
        `(${limit.perSecond}/s, burst ${limit.burst}, shared by every investigation); ${operation} was not sent`,
      { operation, details: { budget: family } },
    );
  }

  private raiseKnownTat(family: string, tat: number): void {
    this.knownTat.set(family, Math.max(this.knownTat.get(family) ?? Number.NEGATIVE_INFINITY, tat));
  }

  /**
   * Records a 429 for `path`: the family's rate is halved for the cool-off and the bucket emptied for
   * `retryAfterMs` (S1's `Retry-After`, else one request's interval). Best effort: a store failure is logged.
   */
  async throttled(path: string, retryAfterMs?: number): Promise<void> {
    const family = budgetFamilyOf(path);
    const limit = family === undefined ? undefined : this.options.settings.families[family];
    if (family === undefined || limit === undefined) return;
    this.stats.throttled++;
    const baseIv = 1000 / limit.perSecond;
    const toleranceMs = (limit.burst - 1) * baseIv;
    const at = this.now();
    const slowUntil = at + this.options.settings.coolOffSeconds * 1000;
    // An empty bucket until Retry-After has passed: tat such that tat - tolerance = at + wait.
    const pushed = at + (retryAfterMs ?? baseIv) + toleranceMs;
    this.slowUntil.set(family, slowUntil);
    const values = {
      ':slow': { N: String(slowUntil) },
      ':pushed': { N: String(pushed) },
      ':exp': { N: String(Math.ceil(at / 1000) + ITEM_TTL_SECONDS) },
    };
    this.raiseKnownTat(family, pushed);
    try {
      await this.update(family, {
        UpdateExpression: 'SET #tat = :pushed, #slow = :slow, #exp = :exp',
        ConditionExpression: 'attribute_not_exists(#tat) OR #tat < :pushed',
        ExpressionAttributeNames: { '#tat': 'tat', '#slow': 'slowUntil', '#exp': TTL_ATTRIBUTE },
        ExpressionAttributeValues: values,
      });
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        logger.warn('Could not record an S1 429 in the request budget', { family });
        return;
      }
      // The schedule is already further out; only the cool-off is new.
      try {
        const { ':pushed': _pushed, ...rest } = values;
        await this.update(family, {
          UpdateExpression: 'SET #slow = :slow, #exp = :exp',
          ExpressionAttributeNames: { '#slow': 'slowUntil', '#exp': TTL_ATTRIBUTE },
          ExpressionAttributeValues: rest,
        });
      } catch {
        logger.warn('Could not record an S1 429 in the request budget', { family });
      }
    }
    this.hint.set(family, 'busy');
  }

  /** One conditional UpdateItem taking `n` slots, on the idle (`tat <= now`) or busy side of the schedule. */
  private take(
    family: string,
    attempt: Attempt,
    at: number,
    n: number,
    iv: number,
    toleranceMs: number,
    maxWaitMs: number,
  ): Promise<UpdateItemCommandOutput> {
    this.stats.storeCalls++;
    const names = { '#tat': 'tat', '#exp': TTL_ATTRIBUTE };
    const exp = { N: String(Math.ceil(at / 1000) + ITEM_TTL_SECONDS) };
    if (attempt === 'idle') {
      return this.update(family, {
        UpdateExpression: 'SET #tat = :next, #exp = :exp',
        ConditionExpression: 'attribute_not_exists(#tat) OR #tat <= :now',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ':now': { N: String(at) },
          ':next': { N: String(at + n * iv) },
          ':exp': exp,
        },
      });
    }
    return this.update(family, {
      UpdateExpression: 'SET #tat = #tat + :cost, #exp = :exp',
      // The last of the n slots must be sendable within the wait: tat + (n-1)·iv - tolerance <= now + maxWait.
      ConditionExpression: '#tat > :now AND #tat <= :latest',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: {
        ':now': { N: String(at) },
        ':cost': { N: String(n * iv) },
        ':latest': { N: String(at + toleranceMs + maxWaitMs - (n - 1) * iv) },
        ':exp': exp,
      },
    });
  }

  private update(
    family: string,
    input: Omit<ConstructorParameters<typeof UpdateItemCommand>[0], 'TableName' | 'Key'>,
  ): Promise<UpdateItemCommandOutput> {
    const key = budgetKey(family);
    return this.options.client.send(
      new UpdateItemCommand({
        TableName: this.options.tableName,
        Key: { [PARTITION_KEY]: { S: key.pk }, [SORT_KEY]: { S: key.sk } },
        ReturnValues: 'ALL_NEW',
        ...input,
      }),
    );
  }
}
