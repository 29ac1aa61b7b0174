/**
 * Intake retries of threats whose investigation ended `not_attempted` (it failed before any endpoint action:
 * throttling, 5xx, a rejected token). Only a real outcome makes a threat done; until then it has a pending retry
 * here, in the coordination store, with backoff up to a cap:
 *
 * - Record Outcome schedules the next attempt when an investigation of a threat ends `not_attempted`, and clears the
 *   threat's entry when one ends with a real outcome.
 * - Poll Threats re-reads due threats from S1 on each run and puts their events on the bus again.
 * - Start Investigation starts the due attempt under its own execution name (`threat-<id>-r<n>`: Step Functions
 *   keeps a closed execution's name for 90 days), once.
 *
 * One item holds every pending retry (`intake#retries` / `index`), updated with its version; pending retries are
 * few (a storm's worth of threats), far below DynamoDB's 400 KB item limit, and {@link MAX_PENDING_RETRIES} bounds it.
 */
import * as z from 'zod';
import type { CoordinationStore, ItemKey, StoredItem } from '../coordination/store';
import { CoordinationStoreError } from '../errors';

/** Attempts of one threat, the first included; after the last `not_attempted` one the threat is given up on. */
export const MAX_INTAKE_ATTEMPTS = 6;
/** Backoff before the first retry; doubled for each one after. */
export const INTAKE_RETRY_BASE_SECONDS = 5 * 60;
/** Most threats with a pending retry at once (the oldest are dropped, with a log line, beyond it). */
export const MAX_PENDING_RETRIES = 500;

/** The item holding every pending retry. */
export const RETRIES_KEY: ItemKey = { pk: 'intake#retries', sk: 'index' };

/** One threat's pending retry. */
export const PendingRetry = z.object({
  threatId: z.string(),
  /** The attempt to start next (1 = the first retry). */
  attempt: z.number().int().positive(),
  /** Not before this instant (ISO-8601). */
  nextAt: z.string(),
  /** The investigation that ended `not_attempted`. */
  after: z.string(),
});
export type PendingRetry = z.infer<typeof PendingRetry>;

export const PendingRetries = z.object({ entries: z.record(z.string(), PendingRetry) });
export type PendingRetries = z.infer<typeof PendingRetries>;

/** The execution name (= investigation id) of attempt `attempt` (0 = the first) of a threat's investigation. */
export function attemptName(threatId: string, attempt: number): string {
  return attempt === 0 ? `threat-${threatId}` : `threat-${threatId}-r${attempt}`;
}

/** Which attempt an investigation id is (0 for `threat-<id>`, n for `threat-<id>-r<n>`). */
export function attemptOf(investigationId: string): number {
  const match = /^threat-\d+-r(\d+)$/.exec(investigationId);
  return match ? Number(match[1]) : 0;
}

/** Seconds to wait before retry `attempt` (1, 2, …): the base, doubled for each retry after the first. */
export function retryBackoffSeconds(attempt: number): number {
  return INTAKE_RETRY_BASE_SECONDS * 2 ** Math.max(0, attempt - 1);
}

/**
 * The entry to keep after an attempt of `threatId` ended `not_attempted`, or undefined when the cap is reached
 * (the threat is given up on; its case file says so).
 */
export function nextRetry(
  threatId: string,
  investigationId: string,
  nowMs: number,
): PendingRetry | undefined {
  const attempt = attemptOf(investigationId) + 1;
  if (attempt >= MAX_INTAKE_ATTEMPTS) return undefined;
  return {
    threatId,
    attempt,
    nextAt: new Date(nowMs + retryBackoffSeconds(attempt) * 1000).toISOString(),
    after: investigationId,
  };
}

/** The pending retries that are due at `nowMs`, oldest first. */
export function dueRetries(retries: PendingRetries, nowMs: number): PendingRetry[] {
  return Object.values(retries.entries)
    .filter((entry) => Date.parse(entry.nextAt) <= nowMs)
    .sort((a, b) => a.nextAt.localeCompare(b.nextAt));
}

/** Reads the pending retries (none when the item does not exist yet). */
export async function readRetries(store: CoordinationStore): Promise<PendingRetries> {
  return (await store.get(RETRIES_KEY, PendingRetries))?.data ?? { entries: {} };
}

/**
 * Applies `change` to the pending retries with a versioned write, re-reading and re-applying after a concurrent
 * change (at most five times, then a retryable {@link CoordinationStoreError}).
 */
export async function updateRetries(
  store: CoordinationStore,
  change: (entries: Record<string, PendingRetry>) => Record<string, PendingRetry>,
): Promise<PendingRetries> {
  let current: StoredItem<PendingRetries> | undefined = await store.get(RETRIES_KEY, PendingRetries);
  for (let turn = 0; turn < 5; turn++) {
    let entries = change({ ...(current?.data.entries ?? {}) });
    const ids = Object.keys(entries);
    if (ids.length > MAX_PENDING_RETRIES) {
      const keep = Object.values(entries)
        .sort((a, b) => b.nextAt.localeCompare(a.nextAt))
        .slice(0, MAX_PENDING_RETRIES);
      entries = Object.fromEntries(keep.map((entry) => [entry.threatId, entry]));
    }
    const data: PendingRetries = { entries };
    const result = current
      ? await store.update(RETRIES_KEY, data, PendingRetries, { expectedVersion: current.version })
      : await store.putIfAbsent(RETRIES_KEY, data, PendingRetries);
    if (result.status === 'created' || result.status === 'updated') return data;
    current = result.status === 'exists' ? result.item : result.current;
  }
  throw new CoordinationStoreError(
    'Coordination store: the pending intake retries kept changing; try again',
    {
      details: { operation: 'updateRetries' },
    },
  );
}
