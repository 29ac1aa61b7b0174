/**
 * Poll Threats: on a schedule, lists the S1 threats updated since the high-water mark (oldest update first,
 * cursor-paged), keeps those that pass the threat filter, and puts one `SentinelOne Threat` event per threat on the
 * intake bus. The mark moves only over threats that were handled (published, or deliberately dropped by the filter)
 * and is saved after every page, so a run cut short by its page or time budget, by S1 throttling or by a Lambda
 * timeout resumes exactly where it stopped. Delivery is at least once; start-investigation is idempotent.
 *
 * Why `updatedAt` and not `createdAt`: a threat can start to match later (its confidence level rises, it is
 * reclassified); an update brings it back into view.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ServiceError, ThreatPublishError } from '../shared/errors';
import { type PublishOptions, publishThreatEvents } from '../shared/intake/publish';
import {
  filterMismatch,
  type ThreatEventDetail,
  type ThreatFilter,
  threatEventDetail,
} from '../shared/intake/threat-event';
import { logger, metrics } from '../shared/observability';
import type { S1Client } from '../shared/sentinelone';
import { type HighWaterMark, isoFromKey, isoFromMs, type MarkStore, timeKey } from './mark';

/** Dependencies and limits of {@link pollThreats}. */
export interface PollDeps {
  readonly s1: Pick<S1Client, 'listThreatPages'>;
  readonly events: EventBridgeClient;
  readonly eventBusName: string;
  readonly marks: Pick<MarkStore, 'read' | 'save'>;
  readonly filter: ThreatFilter;
  readonly now: () => number;
  /** First run: start this far back. */
  readonly lookbackSeconds: number;
  /** Leave threats updated in the last this-many seconds to the next run. */
  readonly settleSeconds: number;
  readonly pageSize: number;
  readonly maxPages: number;
  /** No new page is requested after this long. */
  readonly timeBudgetSeconds: number;
  /** PutEvents retry tuning (tests). */
  readonly publish?: PublishOptions;
}

/** Why a run ended. */
export type PollStop = 'end' | 'page-limit' | 'time-budget' | 's1-unavailable';

/** What a run did. */
export interface PollResult {
  readonly stoppedBy: PollStop;
  readonly firstRun: boolean;
  readonly pages: number;
  readonly published: number;
  /** Threats S1 returned that the filter dropped. */
  readonly filtered: number;
  /** Threats already handled by an earlier run (the mark's instant). */
  readonly alreadySeen: number;
  /** Threats without an agent id (nothing to collect from). */
  readonly unroutable: number;
  /** The window asked for: (from, until]. */
  readonly from: string;
  readonly until: string;
  /** The mark after the run. */
  readonly mark: HighWaterMark;
}

type Disposition = 'publish' | 'filtered' | 'seen' | 'unroutable';

interface Item {
  readonly id: string;
  readonly key: bigint | undefined;
  readonly disposition: Disposition;
  readonly detail?: ThreatEventDetail;
}

/** The mark while a run moves it: the instant and the ids handled at it. */
class MovingMark {
  constructor(
    public key: bigint,
    public ids: Set<string>,
  ) {}

  /** Records that the threat `id` updated at `key` is handled. Never moves backwards. */
  advance(id: string, key: bigint | undefined): boolean {
    if (key === undefined || key < this.key) return false;
    if (key > this.key) {
      this.key = key;
      this.ids = new Set([id]);
      return true;
    }
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    return true;
  }

  snapshot(): HighWaterMark {
    return { updatedAt: isoFromKey(this.key), ids: [...this.ids] };
  }
}

/** One poll run. */
export async function pollThreats(deps: PollDeps): Promise<PollResult> {
  const startedAt = deps.now();
  const stored = await deps.marks.read();
  const firstRun = stored === undefined;
  const from = stored ?? { updatedAt: isoFromMs(startedAt - deps.lookbackSeconds * 1000), ids: [] };
  const fromKey = timeKey(from.updatedAt) ?? 0n;
  const seenAtFrom = new Set(from.ids);
  const until = isoFromMs(startedAt - deps.settleSeconds * 1000);
  const mark = new MovingMark(fromKey, new Set(from.ids));
  const savedAt = () => new Date(deps.now()).toISOString();

  const counts = { published: 0, filtered: 0, alreadySeen: 0, unroutable: 0 };
  const handledThisRun = new Set<string>();
  let pages = 0;
  /** Pages that brought something new; pages of threats handled before do not use up the page budget. */
  let productivePages = 0;
  let stoppedBy: PollStop = 'end';
  // A first run records where it started even when it finds nothing, so the window does not slide with the clock.
  let dirty = firstRun;

  const classify = (threat: Parameters<typeof threatEventDetail>[0]): Item => {
    const key = timeKey(threat.threatInfo?.updatedAt);
    const id = threat.id;
    // S1 was asked for "after the mark minus 1 µs" (its filter is strict): what is older, or listed at the mark's
    // instant, or already seen in this run, was handled before.
    if (
      (key !== undefined && (key < fromKey || (key === fromKey && seenAtFrom.has(id)))) ||
      handledThisRun.has(id)
    ) {
      return { id, key, disposition: 'seen' };
    }
    const detail = threatEventDetail(threat, 'poller');
    if (!detail) return { id, key, disposition: 'unroutable' };
    const mismatch = filterMismatch(detail, deps.filter);
    if (mismatch) {
      logger.debug('Threat does not match the filter', { threatId: id, mismatch });
      return { id, key, disposition: 'filtered' };
    }
    return { id, key, disposition: 'publish', detail };
  };

  if ((timeKey(until) ?? 0n) > fromKey) {
    const threats = deps.s1.listThreatPages({
      updatedAfter: isoFromKey(fromKey - 1n),
      until,
      confidenceLevels: deps.filter.confidenceLevels,
      classifications: deps.filter.classifications,
      osTypes: deps.filter.osTypes,
      siteIds: deps.filter.siteIds,
      limit: deps.pageSize,
    });
    try {
      for await (const page of threats) {
        pages++;
        const items = page.map(classify);
        // A tie at the mark's instant larger than a page would otherwise pin every run to the same pages.
        if (items.some((item) => item.disposition !== 'seen')) productivePages++;
        const details = items.flatMap((item) => (item.detail ? [item.detail] : []));
        const result = details.length
          ? await publishThreatEvents(deps.events, deps.eventBusName, details, deps.publish)
          : { published: [], failed: [] };
        const failed = new Set(result.failed.map((failure) => failure.threatId));
        counts.published += result.published.length;

        // The mark moves over the handled prefix of the page only: nothing after a failed event may be skipped.
        for (const item of items) {
          if (item.disposition === 'publish' && failed.has(item.id)) break;
          handledThisRun.add(item.id);
          if (item.disposition !== 'publish')
            counts[item.disposition === 'seen' ? 'alreadySeen' : item.disposition]++;
          if (mark.advance(item.id, item.key)) dirty = true;
        }
        if (dirty) {
          await deps.marks.save(mark.snapshot(), savedAt());
          dirty = false;
        }
        if (failed.size > 0) {
          metrics.addMetric('ThreatEventsFailed', 'Count', failed.size);
          throw new ThreatPublishError(
            `${failed.size} threat event(s) could not be put on the bus (${[...new Set(result.failed.map((f) => f.errorCode))].join(', ')}); the next run resumes from them`,
          );
        }
        if (productivePages >= deps.maxPages) {
          stoppedBy = 'page-limit';
          break;
        }
        if (deps.now() - startedAt >= deps.timeBudgetSeconds * 1000) {
          stoppedBy = 'time-budget';
          break;
        }
      }
    } catch (error) {
      // Throttling and outages pass: keep what was done and let the next scheduled run resume. Anything else
      // (bad token, missing permission, a publish failure) fails the invocation so that an alarm fires.
      if (!(error instanceof ServiceError && error.retryable)) throw error;
      stoppedBy = 's1-unavailable';
      logger.warn('S1 is throttling or unavailable; the next run resumes from the saved mark', {
        error: error.name,
        status: error.status,
      });
    }
  }
  if (dirty) await deps.marks.save(mark.snapshot(), savedAt());

  metrics.addMetric('ThreatEventsPublished', 'Count', counts.published);
  const result: PollResult = {
    stoppedBy,
    firstRun,
    pages,
    ...counts,
    from: from.updatedAt,
    until,
    mark: mark.snapshot(),
  };
  logger.info('Threat poll finished', {
    ...result,
    mark: { updatedAt: result.mark.updatedAt, ids: result.mark.ids.length },
  });
  return result;
}
