/**
 * The `SentinelOne Threat` event: the one contract between threat intake (poller and webhook) and
 * `start-investigation`, and what the EventBridge rule's pattern matches on. The detail is small on purpose: ids,
 * routing facts and what the rule filters on, never the whole S1 threat (file paths, hashes, users) and never a
 * credential.
 */
import * as z from 'zod';
import { THREAT_EVENT } from '../contract';
import { S1Id } from '../schemas';
import type { S1Threat } from '../sentinelone';

/** `Source` of every intake event (declared in the contract, which the rule's pattern is built from). */
export const THREAT_EVENT_SOURCE = THREAT_EVENT.source;
/** `DetailType` of every intake event. */
export const THREAT_EVENT_DETAIL_TYPE = THREAT_EVENT.detailType;

/** Longest free-text field kept in an event (threat names are file names and can be long). */
const MAX_TEXT = 256;

const text = z.string().max(MAX_TEXT).nullable();

/** The `detail` of a `SentinelOne Threat` event. */
export const ThreatEventDetail = z.object({
  threatId: S1Id,
  /** `agentRealtimeInfo.agentId`: the agent to collect from. */
  agentId: S1Id,
  /** `windows`, `linux`, `macos` (lower case, as S1 reports it). */
  agentOsType: text,
  computerName: text,
  siteId: S1Id.nullable(),
  classification: text,
  /** `malicious`, `suspicious` or `n/a`. */
  confidenceLevel: text,
  threatName: text,
  /** `threatInfo.createdAt` / `updatedAt`, as S1 sent them. */
  createdAt: text,
  updatedAt: text,
  /** Which intake path produced the event. */
  via: z.enum(['poller', 'webhook', 'backfill']),
});
export type ThreatEventDetail = z.infer<typeof ThreatEventDetail>;

/** Which threats start an investigation (`config.threatFilter`); an absent list matches anything. */
export interface ThreatFilter {
  readonly confidenceLevels?: readonly string[];
  /** Compared without regard to case (the rule uses `equals-ignore-case` too). */
  readonly classifications?: readonly string[];
  readonly osTypes?: readonly string[];
  readonly siteIds?: readonly string[];
}

function clip(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT - 1)}…` : value;
}

/**
 * The event detail of an S1 threat, or undefined when the threat names no agent (nothing to collect from). Agent
 * facts come from `agentRealtimeInfo`; `agentDetectionInfo` is often null on real consoles.
 */
export function threatEventDetail(
  threat: S1Threat,
  via: ThreatEventDetail['via'],
): ThreatEventDetail | undefined {
  const info = threat.threatInfo ?? {};
  const agent = threat.agentRealtimeInfo ?? {};
  const agentId = agent.agentId ?? undefined;
  if (!agentId || !S1Id.safeParse(agentId).success || !S1Id.safeParse(threat.id).success) return undefined;
  const siteId = agent.siteId ?? null;
  return {
    threatId: threat.id,
    agentId,
    agentOsType: clip(agent.agentOsType?.toLowerCase()),
    computerName: clip(agent.agentComputerName),
    siteId: siteId !== null && S1Id.safeParse(siteId).success ? siteId : null,
    classification: clip(info.classification),
    confidenceLevel: clip(info.confidenceLevel),
    threatName: clip(info.threatName),
    createdAt: clip(info.createdAt),
    updatedAt: clip(info.updatedAt),
    via,
  };
}

/** Why `detail` does not pass `filter`, or undefined when it does. */
export function filterMismatch(detail: ThreatEventDetail, filter: ThreatFilter): string | undefined {
  const has = (list: readonly string[] | undefined, value: string | null, fold = false): boolean => {
    if (list === undefined || list.length === 0) return true;
    if (value === null) return false;
    return fold ? list.some((item) => item.toLowerCase() === value.toLowerCase()) : list.includes(value);
  };
  if (!has(filter.confidenceLevels, detail.confidenceLevel))
    return `confidence level ${detail.confidenceLevel}`;
  if (!has(filter.classifications, detail.classification, true))
    return `classification ${detail.classification}`;
  if (!has(filter.osTypes, detail.agentOsType)) return `OS type ${detail.agentOsType}`;
  if (!has(filter.siteIds, detail.siteId)) return `site ${detail.siteId}`;
  return undefined;
}
