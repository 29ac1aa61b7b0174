/**
 * Per-token rate limits (token buckets in simulated time) with the counters the bench prints: accepted and
 * limited requests, and the peak accepted rate over a sliding window.
 */

/** One limit: requests whose API path matches share a bucket per token. */
export interface RateLimitRule {
  /** Label in stats (e.g. `remote-scripts`). */
  readonly name: string;
  /** Path under `/web/api/v2.1`; a string is a prefix that must end at a `/` or the path's end. */
  readonly match: RegExp | string;
  /** Sustained rate (tokens added per simulated second). */
  readonly ratePerSecond: number;
  /** Bucket capacity (requests allowed in a burst). */
  readonly burst: number;
}

/**
 * Default limits, after the per-path table of S1's documentation as quoted by the Go SDK (reference §1.6).
 * The first matching rule applies; paths matching none are not limited.
 */
export const DEFAULT_RATE_LIMITS: readonly RateLimitRule[] = [
  { name: 'remote-scripts', match: '/remote-scripts', ratePerSecond: 1, burst: 30 },
  { name: 'threats', match: /^\/threats\/?$/, ratePerSecond: 10, burst: 50 },
  { name: 'threats-sub', match: '/threats', ratePerSecond: 100, burst: 100 },
  { name: 'agents', match: '/agents', ratePerSecond: 25, burst: 50 },
  { name: 'sites', match: '/sites', ratePerSecond: 100, burst: 100 },
  { name: 'rbac', match: '/rbac', ratePerSecond: 50, burst: 50 },
  { name: 'users', match: '/users', ratePerSecond: 40, burst: 40 },
  { name: 'user', match: '/user', ratePerSecond: 2, burst: 5 },
  { name: 'private', match: '/private', ratePerSecond: 10, burst: 20 },
];

/** Outcome of {@link RateLimiter.take}. */
export type RateDecision =
  | { readonly allowed: true; readonly rule: string | null }
  | { readonly allowed: false; readonly rule: string; readonly retryAfterSeconds: number };

/** Counters of one token on one rule (`rule: '*'` sums all of the token's requests). */
export interface RateLimitStat {
  /** Token record id (safe to print; the token itself never appears in stats). */
  readonly tokenId: string;
  readonly rule: string;
  readonly accepted: number;
  readonly limited: number;
  /** Highest number of accepted requests in any window of `windowMs`, per second. */
  readonly peakPerSecond: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

interface Counter {
  accepted: number;
  limited: number;
  times: number[];
}

function matches(rule: RateLimitRule, path: string): boolean {
  if (typeof rule.match !== 'string') return rule.match.test(path);
  return path === rule.match || path.startsWith(`${rule.match}/`);
}

/** Highest count of timestamps within any window of `windowMs` (two pointers over sorted times). */
function peakCount(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let left = 0;
  for (let right = 0; right < sorted.length; right++) {
    while ((sorted[right] ?? 0) - (sorted[left] ?? 0) >= windowMs) left++;
    best = Math.max(best, right - left + 1);
  }
  return best;
}

/** Token buckets keyed by (token id, rule). */
export class RateLimiter {
  /** The active rules; replace to change limits (buckets of removed rules are dropped lazily). */
  rules: readonly RateLimitRule[];
  private readonly buckets = new Map<string, Bucket>();
  private readonly counters = new Map<string, Counter>();

  constructor(
    rules: readonly RateLimitRule[],
    private readonly clock: () => number,
  ) {
    this.rules = rules;
  }

  /** Takes one request from the bucket of the first rule matching `path`; counts it either way. */
  take(tokenId: string, path: string): RateDecision {
    const rule = this.rules.find((candidate) => matches(candidate, path));
    const at = this.clock();
    if (!rule) {
      this.count(tokenId, '*', at, true);
      return { allowed: true, rule: null };
    }
    const key = `${tokenId}\u0000${rule.name}`;
    const bucket = this.buckets.get(key) ?? { tokens: rule.burst, updatedAt: at };
    const elapsed = Math.max(0, at - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(rule.burst, bucket.tokens + elapsed * rule.ratePerSecond);
    bucket.updatedAt = at;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.count(tokenId, rule.name, at, true);
      this.count(tokenId, '*', at, true);
      return { allowed: true, rule: rule.name };
    }
    this.count(tokenId, rule.name, at, false);
    this.count(tokenId, '*', at, false);
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / rule.ratePerSecond));
    return { allowed: false, rule: rule.name, retryAfterSeconds };
  }

  private count(tokenId: string, rule: string, at: number, accepted: boolean): void {
    const key = `${tokenId}\u0000${rule}`;
    const counter = this.counters.get(key) ?? { accepted: 0, limited: 0, times: [] };
    if (accepted) {
      counter.accepted++;
      counter.times.push(at);
    } else {
      counter.limited++;
    }
    this.counters.set(key, counter);
  }

  /** Counters per token and rule, with the peak accepted rate over `windowMs` (default 1 s). */
  stats(windowMs = 1000): RateLimitStat[] {
    return [...this.counters.entries()].map(([key, counter]) => {
      const [tokenId = '', rule = ''] = key.split('\u0000');
      return {
        tokenId,
        rule,
        accepted: counter.accepted,
        limited: counter.limited,
        peakPerSecond: (peakCount(counter.times, windowMs) * 1000) / windowMs,
      };
    });
  }

  /** Forgets buckets and counters. */
  reset(): void {
    this.buckets.clear();
    this.counters.clear();
  }
}
