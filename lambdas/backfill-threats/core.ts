/**
 * Backfill Threats (`s1cado backfill`): replays the S1 threats created in a time window through the same intake as
 * the poller, for threats the intake missed (an outage, a filter widened later, a stack deployed after the fact).
 * Each threat that passes the threat filter, names an agent and was never investigated goes on the intake bus as
 * a `SentinelOne Threat` event (`via: "backfill"`); start-investigation then reads it back from S1 and starts
 * `threat-<id>` exactly as for a polled threat. A threat already investigated (records under
 * `investigations/threat-<id>/`, or an execution of that name) is skipped and reported, so a second backfill of the
 * same window starts nothing new; start-investigation's own guards make a replay idempotent even without this check.
 *
 * `dryRun` lists what would be queued and puts no event. The run reads at most `maxThreats` threats and says when
 * it stopped there (narrow the window and run again).
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ExecutionDoesNotExist, type SFNClient } from '@aws-sdk/client-sfn';
import { investigationPrefix } from '../shared/evidence/keys';
import { type FailedThreatEvent, type PublishOptions, publishThreatEvents } from '../shared/intake/publish';
import {
  filterMismatch,
  type ThreatEventDetail,
  type ThreatFilter,
  threatEventDetail,
} from '../shared/intake/threat-event';
import { logger } from '../shared/observability';
import type { BackfillInput } from '../shared/schemas';
import type { S1Client } from '../shared/sentinelone';
import { investigationName } from '../start-investigation/core';

/** Dependencies of {@link backfillThreats}. */
export interface BackfillDeps {
  readonly s1: Pick<S1Client, 'listThreatPages'>;
  readonly events: EventBridgeClient;
  readonly eventBusName: string;
  readonly sfn: SFNClient;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly stateMachineArn: string;
  readonly filter: ThreatFilter;
  /** At most this many threats are read from S1 per run. */
  readonly maxThreats: number;
  readonly publish?: PublishOptions;
}

/** A threat the backfill did not queue, and why. */
export interface SkippedThreat {
  readonly threatId: string;
  readonly reason: 'already-investigated' | 'filtered' | 'no-agent';
  readonly detail: string;
}

/** A threat queued (or, in a dry run, that would be). */
export interface QueuedThreat {
  readonly threatId: string;
  /** The investigation start-investigation starts for it. */
  readonly investigationId: string;
  readonly agentId: string;
  readonly computerName: string | null;
}

/** What a run did. */
export interface BackfillResult {
  readonly since: string;
  readonly until: string;
  readonly dryRun: boolean;
  readonly requestedBy: string;
  /** Events put on the intake bus (dry run: none; `queued` lists what would be). */
  readonly queued: QueuedThreat[];
  readonly skipped: SkippedThreat[];
  /** Events EventBridge did not accept after the publisher's retries. */
  readonly failed: FailedThreatEvent[];
  /** Threats S1 listed in the window. */
  readonly listed: number;
  /** True when the run stopped at `maxThreats`: threats after the last one listed were not looked at. */
  readonly truncated: boolean;
}

function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** Why the threat's investigation counts as done or under way, or undefined when there is none. */
async function investigated(deps: BackfillDeps, name: string): Promise<string | undefined> {
  const listed = await deps.s3.send(
    new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: investigationPrefix(name), MaxKeys: 1 }),
  );
  if ((listed.KeyCount ?? listed.Contents?.length ?? 0) > 0) {
    return `records under ${investigationPrefix(name)}`;
  }
  try {
    const execution = await deps.sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArnOf(deps.stateMachineArn, name) }),
    );
    return `execution ${name} is ${execution.status ?? 'known'}`;
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist) return undefined;
    throw error;
  }
}

/** One backfill run over (input.since, input.until]. */
export async function backfillThreats(input: BackfillInput, deps: BackfillDeps): Promise<BackfillResult> {
  const queued: QueuedThreat[] = [];
  const details: ThreatEventDetail[] = [];
  const skipped: SkippedThreat[] = [];
  const seen = new Set<string>();
  let listed = 0;
  let truncated = false;

  const pages = deps.s1.listThreatPages({
    createdAfter: input.since,
    until: input.until,
    confidenceLevels: deps.filter.confidenceLevels,
    classifications: deps.filter.classifications,
    osTypes: deps.filter.osTypes,
    siteIds: deps.filter.siteIds,
    limit: Math.min(100, deps.maxThreats),
  });
  outer: for await (const page of pages) {
    for (const threat of page) {
      if (listed >= deps.maxThreats) {
        truncated = true;
        break outer;
      }
      listed++;
      if (seen.has(threat.id)) continue;
      seen.add(threat.id);
      const detail = threatEventDetail(threat, 'backfill');
      if (!detail) {
        skipped.push({ threatId: threat.id, reason: 'no-agent', detail: 'S1 names no agent for it' });
        continue;
      }
      const mismatch = filterMismatch(detail, deps.filter);
      if (mismatch) {
        skipped.push({
          threatId: threat.id,
          reason: 'filtered',
          detail: `outside the threat filter: ${mismatch}`,
        });
        continue;
      }
      const name = investigationName(detail.threatId);
      const done = await investigated(deps, name);
      if (done) {
        skipped.push({ threatId: threat.id, reason: 'already-investigated', detail: done });
        continue;
      }
      details.push(detail);
      queued.push({
        threatId: detail.threatId,
        investigationId: name,
        agentId: detail.agentId,
        computerName: detail.computerName,
      });
    }
  }

  let failed: FailedThreatEvent[] = [];
  if (!input.dryRun && details.length > 0) {
    const result = await publishThreatEvents(deps.events, deps.eventBusName, details, deps.publish);
    failed = result.failed;
  }
  const failedIds = new Set(failed.map((f) => f.threatId));
  logger.info('Backfill run', {
    since: input.since,
    until: input.until,
    dryRun: input.dryRun,
    requestedBy: input.requestedBy,
    listed,
    queued: queued.length - failedIds.size,
    skipped: skipped.length,
    failed: failed.length,
    truncated,
  });
  return {
    since: input.since,
    until: input.until,
    dryRun: input.dryRun,
    requestedBy: input.requestedBy,
    queued: queued.filter((q) => !failedIds.has(q.threatId)),
    skipped,
    failed,
    listed,
    truncated,
  };
}
