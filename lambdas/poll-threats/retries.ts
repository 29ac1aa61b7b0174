/**
 * The poller's second duty: threats whose investigation ended `not_attempted` and whose retry is due (see
 * `../shared/intake/retries.ts`) are re-read from S1 and put on the bus again, so Start Investigation starts their
 * next attempt. A threat S1 no longer returns (deleted, out of scope) loses its retry, with a log line.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { CoordinationStore } from '../shared/coordination/store';
import { type PublishOptions, publishThreatEvents } from '../shared/intake/publish';
import { dueRetries, readRetries, updateRetries } from '../shared/intake/retries';
import { type ThreatEventDetail, threatEventDetail } from '../shared/intake/threat-event';
import { logger } from '../shared/observability';
import type { S1Client } from '../shared/sentinelone';

/** Dependencies of {@link republishDueRetries}. */
export interface RetryDeps {
  readonly s1: Pick<S1Client, 'getThreats'>;
  readonly events: EventBridgeClient;
  readonly eventBusName: string;
  readonly retries: CoordinationStore;
  readonly now: () => number;
  readonly publish?: PublishOptions;
}

/** What a run did with the pending retries. */
export interface RetryResult {
  readonly due: number;
  readonly republished: number;
  /** Threats S1 no longer returns: their retries were dropped. */
  readonly gone: number;
}

/** At most this many due threats are re-read per run (one S1 call per 100 ids). */
export const MAX_RETRIES_PER_RUN = 100;

/** Puts the events of the due retries on the bus again. */
export async function republishDueRetries(deps: RetryDeps): Promise<RetryResult> {
  const due = dueRetries(await readRetries(deps.retries), deps.now()).slice(0, MAX_RETRIES_PER_RUN);
  if (due.length === 0) return { due: 0, republished: 0, gone: 0 };
  const ids = due.map((entry) => entry.threatId);
  const threats = await deps.s1.getThreats(ids);
  const details = threats
    .map((threat) => threatEventDetail(threat, 'poller'))
    .filter((detail): detail is ThreatEventDetail => detail !== undefined);
  const found = new Set(details.map((detail) => detail.threatId));
  const gone = ids.filter((id) => !found.has(id));
  if (gone.length) {
    logger.warn('Threats with a pending retry are no longer in S1; dropping their retries', {
      threatIds: gone,
    });
    await updateRetries(deps.retries, (entries) => {
      for (const id of gone) delete entries[id];
      return entries;
    });
  }
  const published = details.length
    ? await publishThreatEvents(deps.events, deps.eventBusName, details, deps.publish)
    : undefined;
  const republished = details.length - (published?.failed.length ?? 0);
  logger.info('Re-published threats whose investigation was not attempted', { due: due.length, republished });
  return { due: due.length, republished, gone: gone.length };
}
