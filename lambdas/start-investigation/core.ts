/**
 * Start Investigation: the target of the intake bus's rule. Turns a `SentinelOne Threat` event into a
 * `StartExecution` named `threat-<threatId>`, so that a threat is investigated once, however many events name it
 * (the poller sees a threat again on every update, the webhook may repeat it, EventBridge delivers at least once).
 *
 * Two guards, because execution names alone do not make "once, ever":
 * 1. The evidence bucket: anything under `investigations/threat-<id>/` means an investigation ran. Step Functions
 *    frees an execution name 90 days after the execution closes; the bucket keeps its records for the evidence
 *    retention period. A prefix listing is used rather than a look at `case.json`, because `case.json` is written
 *    when an investigation ends while the task record appears when it starts; it needs only `s3:ListBucket` on that
 *    prefix, no read of the evidence and no KMS key.
 * 2. The execution name: `ExecutionAlreadyExists` means the threat is already being, or was recently,
 *    investigated; that is a success, the event has been handled. The input names the triggering event's id, so a
 *    second event about the same threat always meets `ExecutionAlreadyExists`; only a redelivery of the very same
 *    event (EventBridge delivers at least once, Lambda retries) repeats the input, and Step Functions then hands
 *    back the running execution: the same start, reported as started.
 *
 * Before starting, the threat is read back from S1 and the investigation is built from S1's facts, not the
 * event's: the bus only takes threat events from the intake functions, but an event is a claim, and the agent it
 * names is the endpoint the collector will run on. A threat S1 does not know, one naming no agent, or one S1's
 * facts take outside the threat filter is refused (logged, nothing started); an event naming another agent than
 * S1 does is investigated on S1's agent.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { DEFAULT_PROFILE_SETTINGS, type ProfileSettings, profileForThreat } from '../collectors/profiles';
import type { CoordinationStore } from '../shared/coordination/store';
import { investigationPrefix } from '../shared/evidence/keys';
import { attemptName, readRetries } from '../shared/intake/retries';
import {
  filterMismatch,
  THREAT_EVENT_DETAIL_TYPE,
  ThreatEventDetail,
  type ThreatFilter,
  threatEventDetail,
} from '../shared/intake/threat-event';
import { logger } from '../shared/observability';
import { WorkflowInput } from '../shared/schemas';
import type { S1Client } from '../shared/sentinelone';
import { addThreatNoteOnce } from '../shared/threat-notes';

/** `requestedBy` of every investigation intake starts (kept in the chain of custody). */
export const INTAKE_REQUESTER = 'threat-intake';

/** The EventBridge event the rule delivers. */
export const ThreatEvent = z.looseObject({
  'detail-type': z.literal(THREAT_EVENT_DETAIL_TYPE),
  source: z.string(),
  id: z.string().optional(),
  detail: ThreatEventDetail,
});
export type ThreatEvent = z.infer<typeof ThreatEvent>;

/** Dependencies of {@link startInvestigation}. */
export interface StartDeps {
  readonly sfn: SFNClient;
  readonly s3: S3Client;
  readonly evidenceBucket: string;
  readonly stateMachineArn: string;
  /** Reads the threat back before anything starts, and adds the threat note. */
  readonly s1: Pick<S1Client, 'getThreats' | 'addThreatNote'>;
  /** Add an S1 threat note naming the execution (best effort). */
  readonly addThreatNote: boolean;
  /** The intake's threat filter, applied again to S1's facts. @default - match anything */
  readonly filter?: ThreatFilter;
  /** Collection profile settings: the intake rules choose a threat's profile. @default - triage for all */
  readonly profiles?: ProfileSettings;
  /**
   * The coordination store: intake's pending retries of `not_attempted` threats (asked for only when a threat has
   * records already; unset, such a threat is never started again) and the claims of threat notes added.
   */
  readonly retries?: () => CoordinationStore;
  readonly now?: () => number;
}

/** What became of the event. */
export interface StartResult {
  readonly outcome: 'started' | 'already-investigated' | 'already-started' | 'refused';
  readonly executionName: string;
  readonly executionArn: string;
  readonly noteAdded?: boolean;
  /** Why S1's facts refused the event (`refused` only). */
  readonly reason?: string;
  /** The agent S1 names, when the event named another one. */
  readonly eventAgentId?: string;
}

/** The execution name (= investigation id) of a threat's investigation. */
export function investigationName(threatId: string): string {
  return `threat-${threatId}`;
}

/**
 * The workflow input for a threat event (`eventId`: the EventBridge event id, kept for traceability). The intake
 * rules of `profiles` choose the collection profile from the threat's confidence level and classification; the
 * input names it when it differs from the default.
 */
export function workflowInputFor(
  detail: ThreatEventDetail,
  eventId?: string,
  profiles: ProfileSettings = DEFAULT_PROFILE_SETTINGS,
): WorkflowInput {
  const profile = profileForThreat(detail, profiles);
  const what = [detail.classification, detail.confidenceLevel].filter(Boolean).join(', ');
  const reason = [
    `SentinelOne threat ${detail.threatName ? `"${detail.threatName}"` : detail.threatId}`,
    what ? ` (${what})` : '',
    detail.computerName ? ` on ${detail.computerName}` : '',
    `, via the ${detail.via}`,
    eventId ? ` (event ${eventId})` : '',
  ].join('');
  return WorkflowInput.parse({
    agentIds: [detail.agentId],
    threatId: detail.threatId,
    requestedBy: INTAKE_REQUESTER,
    reason: reason.slice(0, 1024),
    ...(profile !== profiles.defaultProfile ? { profile } : {}),
  });
}

function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

async function hasEvidenceRecords(deps: StartDeps, name: string): Promise<boolean> {
  const out = await deps.s3.send(
    new ListObjectsV2Command({ Bucket: deps.evidenceBucket, Prefix: investigationPrefix(name), MaxKeys: 1 }),
  );
  return (out.KeyCount ?? out.Contents?.length ?? 0) > 0;
}

/** Starts the investigation of the event's threat unless one exists already. */
export async function startInvestigation(event: ThreatEvent, deps: StartDeps): Promise<StartResult> {
  const { detail } = event;
  let name = investigationName(detail.threatId);
  logger.appendKeys({ investigationId: name, threatId: detail.threatId });

  if (await hasEvidenceRecords(deps, name)) {
    // Investigated before: done, unless that ended not_attempted and its retry is due (and not started yet).
    const pending = deps.retries ? (await readRetries(deps.retries())).entries[detail.threatId] : undefined;
    const due = pending && Date.parse(pending.nextAt) <= (deps.now ?? Date.now)();
    const retryName = pending ? attemptName(detail.threatId, pending.attempt) : undefined;
    if (!due || !retryName || (await hasEvidenceRecords(deps, retryName))) {
      logger.info('Threat already investigated (records in the evidence bucket); not starting again', {
        ...(pending ? { pendingRetry: pending.attempt, nextAt: pending.nextAt } : {}),
      });
      return {
        outcome: 'already-investigated',
        executionName: retryName ?? name,
        executionArn: executionArnOf(deps.stateMachineArn, retryName ?? name),
      };
    }
    name = retryName;
    logger.appendKeys({ investigationId: name });
    logger.info('Retrying a threat whose last investigation was not attempted', { attempt: pending.attempt });
  }
  const existingArn = executionArnOf(deps.stateMachineArn, name);

  // S1 errors propagate: Lambda retries the event, then it goes to the dead-letter queue (alarmed).
  const [threat] = await deps.s1.getThreats([detail.threatId]);
  const fromS1 = threat ? threatEventDetail(threat, detail.via) : undefined;
  const refusal = !threat
    ? `S1 does not know threat ${detail.threatId} (or the service user cannot see it)`
    : !fromS1
      ? `S1 names no agent for threat ${detail.threatId}`
      : deps.filter && filterMismatch(fromS1, deps.filter);
  if (refusal || !fromS1) {
    logger.warn('Threat event refused: S1 does not confirm it; nothing started', { reason: refusal });
    return {
      outcome: 'refused',
      executionName: name,
      executionArn: existingArn,
      reason: refusal || undefined,
    };
  }
  if (fromS1.agentId !== detail.agentId) {
    logger.warn('The event named another agent than S1 does; investigating the agent S1 names', {
      eventAgentId: detail.agentId,
      agentId: fromS1.agentId,
    });
  }

  const input = workflowInputFor(fromS1, event.id, deps.profiles);
  let executionArn: string;
  try {
    const out = await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.stateMachineArn,
        name,
        input: JSON.stringify(input),
      }),
    );
    executionArn = out.executionArn ?? existingArn;
  } catch (error) {
    if (!(error instanceof ExecutionAlreadyExists)) throw error;
    logger.info(
      'Threat already investigated or under investigation (execution name taken); not starting again',
    );
    return { outcome: 'already-started', executionName: name, executionArn: existingArn };
  }
  logger.info('Investigation started', { executionArn, agentId: fromS1.agentId });

  let noteAdded: boolean | undefined;
  if (deps.addThreatNote) {
    // Best effort: the investigation runs whether or not the console shows the note. Once per investigation: a
    // redelivered event meets the running execution again ("started"), and the claim stops a second note.
    const note = await addThreatNoteOnce({
      s1: deps.s1,
      store: deps.retries?.(),
      key: { pk: `note#${name}`, sk: 'started' },
      name,
      threatId: detail.threatId,
      text: `s1-cado-forensics investigation started: ${name}`,
    });
    if (note === 'already-added')
      logger.info('The threat note of this investigation was added before; not adding it again');
    else noteAdded = note === 'added';
  }
  return {
    outcome: 'started',
    executionName: name,
    executionArn,
    ...(noteAdded === undefined ? {} : { noteAdded }),
    ...(fromS1.agentId !== detail.agentId ? { eventAgentId: detail.agentId } : {}),
  };
}
