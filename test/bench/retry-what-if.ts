/** A what-if for the burst: the synthesized definition with another Retry for S1 throttling. */
import { type AslDefinition, walkStates } from '../../local/asl/definition';

/** One ASL retrier. */
export interface Retrier {
  readonly ErrorEquals: readonly string[];
  readonly IntervalSeconds?: number;
  readonly BackoffRate?: number;
  readonly MaxAttempts?: number;
  readonly MaxDelaySeconds?: number;
  readonly JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * The retry proposed for S1 throttling: long enough to outlast a burst's backlog at 1 req/s (about 12 × up to
 * 10 minutes, 35 minutes on average with full jitter), instead of sharing the transient-error retrier (6 attempts,
 * at most 2 minutes apart).
 */
export const PROPOSED_THROTTLE_RETRY: Retrier = {
  ErrorEquals: ['S1RateLimitedError'],
  IntervalSeconds: 15,
  BackoffRate: 2,
  MaxAttempts: 12,
  MaxDelaySeconds: 600,
  JitterStrategy: 'FULL',
};

/**
 * A copy of `definition` in which every state that retries `retrier`'s errors retries them with `retrier` first;
 * those errors are taken out of the state's other retriers (a retrier left with no errors is dropped).
 */
export function withRetrier(definition: AslDefinition, retrier: Retrier): AslDefinition {
  const copy = structuredClone(definition);
  const errors = new Set(retrier.ErrorEquals);
  for (const { state } of walkStates(copy)) {
    if (!Array.isArray(state.Retry)) continue;
    const existing = state.Retry as Retrier[];
    if (!existing.some((r) => r.ErrorEquals.some((e) => errors.has(e)))) continue;
    const rest = existing
      .map((r) => ({ ...r, ErrorEquals: r.ErrorEquals.filter((e) => !errors.has(e)) }))
      .filter((r) => r.ErrorEquals.length > 0);
    state.Retry = [{ ...retrier, ErrorEquals: [...retrier.ErrorEquals] }, ...rest];
  }
  return copy;
}
