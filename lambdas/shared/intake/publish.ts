/**
 * Puts `SentinelOne Threat` events on the intake bus. PutEvents takes at most 10 entries and answers 200 even when
 * some of them failed (`FailedEntryCount`, per-entry `ErrorCode`), so each batch is checked entry by entry and only
 * the failed entries are sent again, a bounded number of times with backoff and jitter. The caller learns exactly
 * which threats made it, which is what the poller's high-water mark needs.
 */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { sleep as clockSleep } from '../clock';
import { logger } from '../observability';
import { THREAT_EVENT_DETAIL_TYPE, THREAT_EVENT_SOURCE, type ThreatEventDetail } from './threat-event';

/** PutEvents accepts at most this many entries per call. */
export const PUT_EVENTS_BATCH = 10;

/** Options of {@link publishThreatEvents}. */
export interface PublishOptions {
  /** Attempts per entry, the first included. @default 4 */
  readonly maxAttempts?: number;
  /** Backoff base: retry n waits a random time in [base·2^(n-1)/2, base·2^(n-1)]. @default 200 */
  readonly baseDelayMs?: number;
  /** @default the shared clock's sleep */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Random source in [0, 1) for jitter. @default Math.random */
  readonly random?: () => number;
}

/** A threat whose event did not make it onto the bus. */
export interface FailedThreatEvent {
  readonly threatId: string;
  /** EventBridge's `ErrorCode`, or the name of the error the whole call failed with. */
  readonly errorCode: string;
}

/** What happened to each event. */
export interface PublishResult {
  /** Threat ids whose event was accepted, in input order. */
  readonly published: string[];
  readonly failed: FailedThreatEvent[];
}

function entryOf(busName: string, detail: ThreatEventDetail): PutEventsRequestEntry {
  return {
    EventBusName: busName,
    Source: THREAT_EVENT_SOURCE,
    DetailType: THREAT_EVENT_DETAIL_TYPE,
    Detail: JSON.stringify(detail),
  };
}

/** Puts one event per detail on `busName`, in batches of 10, retrying only failed entries. */
export async function publishThreatEvents(
  client: EventBridgeClient,
  busName: string,
  details: readonly ThreatEventDetail[],
  options: PublishOptions = {},
): Promise<PublishResult> {
  const maxAttempts = options.maxAttempts ?? 4;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const wait = options.sleep ?? ((ms: number) => clockSleep(ms));
  const random = options.random ?? Math.random;
  const accepted = new Set<string>();
  const failed: FailedThreatEvent[] = [];
  // Results are tracked by threat id, so each threat goes out once per call.
  const unique = [...new Map(details.map((detail) => [detail.threatId, detail])).values()];

  for (let start = 0; start < unique.length; start += PUT_EVENTS_BATCH) {
    let pending = unique.slice(start, start + PUT_EVENTS_BATCH);
    let lastErrors = new Map<string, string>();
    for (let attempt = 1; pending.length > 0 && attempt <= maxAttempts; attempt++) {
      if (attempt > 1) {
        const cap = baseDelayMs * 2 ** (attempt - 2);
        await wait(Math.round(cap / 2 + (random() * cap) / 2));
      }
      lastErrors = new Map();
      try {
        const out = await client.send(
          new PutEventsCommand({ Entries: pending.map((detail) => entryOf(busName, detail)) }),
        );
        const results = out.Entries ?? [];
        pending.forEach((detail, index) => {
          const result = results[index];
          // A missing result row is not proof of delivery: count it as failed and send it again.
          if (result?.EventId && !result.ErrorCode) accepted.add(detail.threatId);
          else lastErrors.set(detail.threatId, result?.ErrorCode ?? 'MissingResult');
        });
      } catch (error) {
        const code = (error as { name?: string }).name ?? 'Error';
        for (const detail of pending) lastErrors.set(detail.threatId, code);
      }
      pending = pending.filter((detail) => lastErrors.has(detail.threatId));
      if (pending.length > 0) {
        logger.warn('Some threat events were not accepted by EventBridge', {
          attempt,
          failed: pending.length,
          errorCodes: [...new Set(lastErrors.values())],
        });
      }
    }
    for (const detail of pending) {
      failed.push({ threatId: detail.threatId, errorCode: lastErrors.get(detail.threatId) ?? 'Unknown' });
    }
  }
  return {
    published: unique.filter((detail) => accepted.has(detail.threatId)).map((d) => d.threatId),
    failed,
  };
}
