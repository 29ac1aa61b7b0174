/**
 * Polling schedule for the Wait ⇄ Check loops: waits grow from `firstSeconds` by `factor` up to `capSeconds`, and
 * never run past the deadline. Lambdas never sleep; the Wait state does, for the seconds computed here.
 */
import type { Poll } from './schemas';

/** Shape of a backoff schedule. */
export interface PollSchedule {
  readonly firstSeconds: number;
  readonly factor: number;
  readonly capSeconds: number;
  /**
   * Each wait is spread by ± this fraction, so investigations started together (a burst of threats) stop polling
   * in step against S1's per-token rate limit.
   */
  readonly jitter: number;
}

/** S1 tasks: first look after 15 s, then back off to 2 minutes (S1 rate-limits /remote-scripts* at ~1 req/s). */
export const TASK_POLL: PollSchedule = { firstSeconds: 15, factor: 1.5, capSeconds: 120, jitter: 0.2 };
/** Cado pipelines take minutes to hours: start at 30 s, cap at 5 minutes. */
export const CADO_POLL: PollSchedule = { firstSeconds: 30, factor: 1.5, capSeconds: 300, jitter: 0.2 };

/** Seconds to wait before check number `attempt + 1`, ignoring the deadline. */
export function backoffSeconds(attempt: number, schedule: PollSchedule): number {
  return Math.max(
    1,
    Math.min(schedule.capSeconds, Math.round(schedule.firstSeconds * schedule.factor ** attempt)),
  );
}

/**
 * The next poll after `attempt` checks, or undefined when the deadline has passed. The wait is jittered (see
 * {@link PollSchedule.jitter}) and cut so that the last check happens at the deadline, not after it.
 */
export function nextPoll(
  attempt: number,
  deadline: string,
  nowMs: number,
  schedule: PollSchedule,
  random: () => number = Math.random,
): Poll | undefined {
  const remainingMs = Date.parse(deadline) - nowMs;
  if (!(remainingMs > 0)) return undefined;
  const spread = 1 + schedule.jitter * (2 * random() - 1);
  const wanted = Math.round(backoffSeconds(attempt, schedule) * spread);
  const waitSeconds = Math.max(1, Math.min(wanted, Math.ceil(remainingMs / 1000)));
  return { attempt, waitSeconds, deadline };
}
