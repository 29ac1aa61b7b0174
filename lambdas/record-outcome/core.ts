/**
 * Record Outcome: turns whatever each agent's branch ended with into one verdict per agent and one for the
 * investigation, writes `case.json`, and writes the final version of each manifest (with Cado's result). The
 * execution then fails only if no agent's evidence reached Cado, and says why.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { METRICS } from '../shared/contract';
import { doOnce } from '../shared/coordination/once';
import type { CoordinationStore } from '../shared/coordination/store';
import { agentLeaseKey } from '../shared/coordination/table';
import type {
  AgentOutcome,
  AgentOutcomeStatus,
  CaseRecord,
  CaseStatus,
} from '../shared/evidence/case-record';
import { putCaseReport, renderCaseReport } from '../shared/evidence/case-report';
import { chainOf, Verification, xdrChain } from '../shared/evidence/chain';
import { caseKey, caseKeyForExecution, verificationKey } from '../shared/evidence/keys';
import { getJson, handoffCommand, Manifest, putJson, TOOL_NAME } from '../shared/evidence/manifest';
import { putOutcomeEvent } from '../shared/evidence/outcome-event';
import { type ManifestSigner, signManifest } from '../shared/evidence/signature';
import { nextRetry, readRetries, updateRetries } from '../shared/intake/retries';
import { logger, metrics } from '../shared/observability';
import { redact } from '../shared/redact';
import {
  type AgentFinalState,
  type CadoHandoff,
  type CaughtError,
  type OutcomeInput,
  s3Handoff,
} from '../shared/schemas';
import type { S1Client, ThreatAnalystVerdict, ThreatIncidentStatus } from '../shared/sentinelone';
import { addThreatNoteOnce } from '../shared/threat-notes';

export type { AgentOutcome, AgentOutcomeStatus, CaseRecord, CaseStatus };

/** What Record Outcome returns to the state machine. */
export interface OutcomeResult {
  investigationId: string;
  status: CaseStatus;
  /** Error name for the Fail state when the investigation did not succeed. */
  errorName: 'InvestigationFailed' | 'HandOffFailed' | 'InvestigationNotAttempted' | null;
  summary: string;
  caseKey: string;
  counts: Record<AgentOutcomeStatus, number>;
}

/** Reads the message out of a caught error's Cause (a Lambda error JSON, or plain text for States.* errors). */
export function describeCaught(error: CaughtError | undefined): string {
  if (!error) return 'unknown error';
  let detail = error.Cause ?? '';
  try {
    const cause = JSON.parse(detail) as { errorMessage?: unknown; errorType?: unknown };
    if (typeof cause.errorMessage === 'string') detail = cause.errorMessage;
  } catch {
    // Not JSON: keep the plain text.
  }
  const text = detail ? `${error.Error}: ${detail}` : error.Error;
  return redact(text).slice(0, 1000);
}

/**
 * The investigation and evidence prefix an AgentCollectionSharedError names. Lambda's error Cause carries the
 * message only, so they are read back from it (Run Script's `collectionShared` writes both).
 */
function sharedDetails(error: CaughtError): { investigationId: string; evidencePrefix: string } | undefined {
  const message = describeCaught(error);
  const investigationId = /collected from by investigation ([A-Za-z0-9_-]+)/.exec(message)?.[1];
  const evidencePrefix = /evidence under (investigations\/[A-Za-z0-9_-]+\/[0-9]+\/)/.exec(message)?.[1];
  return investigationId && evidencePrefix ? { investigationId, evidencePrefix } : undefined;
}

/** Decides how one agent ended. */
export function summarizeAgent(state: AgentFinalState): AgentOutcome {
  const base: AgentOutcome = {
    agentId: state.target?.agentId ?? 'unknown',
    computerName: state.target?.computerName,
    osType: state.target?.osType,
    outcome: 'failed',
    reason: '',
  };
  if (state.task?.parentTaskId) {
    base.s1Task = {
      parentTaskId: state.task.parentTaskId,
      childTaskId: state.task.childTaskId,
      status: state.task.status,
      detailedStatus: state.task.detailedStatus,
    };
  }
  // Mode cado-xdr: `xdr` is set once Cado was asked; an import that failed before that has only the mode.
  if (state.xdr || (!state.evidence && state.investigation?.collectionMode === 'cado-xdr'))
    return summarizeXdrAgent(state, base);
  if (state.evidence) {
    const e = state.evidence;
    base.evidence = {
      bucket: e.bucket,
      key: e.key,
      versionId: e.versionId,
      bytes: e.bytes,
      sha256: e.sha256,
      manifestKey: e.manifestKey,
    };
    if (state.cado) {
      const c = state.cado;
      base.cado = {
        projectId: c.projectId,
        projectName: c.projectName,
        pipelineId: c.pipelineId,
        phase: c.phase,
      };
      if (c.reason) base.cado.reason = c.reason;
    }
    if (state.error) {
      // Staged, then failed before the hand-off (Verify Evidence: integrity): kept in S3, never handed to Cado.
      return { ...base, outcome: 'failed', reason: describeCaught(state.error) };
    }
    if (state.handoffError) {
      return {
        ...base,
        outcome: 'staged_handoff_failed',
        reason: `Cado hand-off failed: ${describeCaught(state.handoffError)}`,
      };
    }
    if (state.cado?.phase === 'complete') {
      if (state.task?.scriptFailure) {
        const why = `Evidence staged and processed by Cado, but the collector reported a failure: ${state.task.scriptFailure}`;
        return { ...base, outcome: 'partial', reason: why };
      }
      return { ...base, outcome: 'complete', reason: 'Evidence staged and processed by Cado' };
    }
    const why =
      state.cado?.phase === 'deadline'
        ? 'Cado did not finish processing before the hand-off deadline'
        : state.cado
          ? `Cado pipeline ${state.cado.phase}${state.cado.reason ? `: ${state.cado.reason}` : ''}`
          : 'the hand-off did not run';
    return { ...base, outcome: 'staged_handoff_failed', reason: why };
  }
  if (state.error?.Error === 'AgentCollectionSharedError') {
    const shared = sharedDetails(state.error);
    return {
      ...base,
      outcome: 'shared',
      reason: describeCaught(state.error),
      ...(shared ? { sharedWith: shared } : {}),
    };
  }
  if (state.error?.Error === 'S1ExecuteOutcomeUnknownError') {
    return { ...base, outcome: 'outcome_unknown', reason: describeCaught(state.error) };
  }
  if (state.error) return { ...base, outcome: 'failed', reason: describeCaught(state.error) };
  if (state.task?.phase === 'deadline') {
    if (state.cancel) {
      base.cancel = {
        attempted: state.cancel.attempted,
        affected: state.cancel.affected,
        unsupported: state.cancel.unsupported,
      };
    }
    // Cancel Task failed: the task may still be running on the endpoint, which the responder must know.
    const cancelError = state.cancelError ? describeCaught(state.cancelError) : undefined;
    if (cancelError) base.cancelError = cancelError;
    const cancelled = state.cancel
      ? state.cancel.affected > 0
        ? ', canceled'
        : ', cancel not possible'
      : cancelError
        ? `, cancel failed (${cancelError}): the task may still be running`
        : '';
    return {
      ...base,
      outcome: 'timed_out',
      reason: `The S1 task did not finish before its deadline (${state.task.deadline ?? 'unknown'}); last status ${state.task.status ?? 'unknown'}${cancelled}`,
    };
  }
  if (state.task?.phase === 'failed') {
    return {
      ...base,
      outcome: 'failed',
      reason: state.task.reason ?? `S1 task ended ${state.task.status ?? 'unsuccessfully'}`,
    };
  }
  return { ...base, outcome: 'failed', reason: 'The branch ended without evidence or an error (unexpected)' };
}

/**
 * An agent of collection mode cado-xdr: Cado collected through its SentinelOne integration, so the line names Cado's
 * project and pipeline, not evidence of ours, and its custody says which links are not available and why.
 */
function summarizeXdrAgent(state: AgentFinalState, base: AgentOutcome): AgentOutcome {
  const xdr = state.xdr;
  const line: AgentOutcome = {
    ...base,
    collectedBy: 'cado-xdr',
    ...(xdr
      ? {
          xdr: {
            accountName: xdr.accountName,
            deviceId: xdr.deviceId,
            profile: xdr.profile,
            collectionType: xdr.collectionType,
          },
        }
      : {}),
    custody: xdrChain(state.cado?.evidenceHash),
  };
  if (state.cado) {
    const c = state.cado;
    line.cado = {
      projectId: c.projectId,
      projectName: c.projectName,
      pipelineId: c.pipelineId,
      phase: c.phase,
    };
    if (c.reason) line.cado.reason = c.reason;
  }
  if (state.handoffError) {
    const why = describeCaught(state.handoffError);
    return state.handoffError.Error === 'CadoXdrImportOutcomeUnknownError'
      ? { ...line, outcome: 'outcome_unknown', reason: why }
      : { ...line, outcome: 'failed', reason: `Cado XDR import failed: ${why}` };
  }
  if (state.cado?.phase === 'complete') {
    return {
      ...line,
      outcome: 'complete',
      reason: 'Collected by Cado through its SentinelOne integration and processed (no copy in our bucket)',
    };
  }
  const why =
    state.cado?.phase === 'deadline'
      ? 'Cado did not finish collecting and processing before the hand-off deadline'
      : state.cado
        ? `Cado's XDR collection ${state.cado.phase}${state.cado.reason ? `: ${state.cado.reason}` : ''}`
        : 'the XDR import did not run';
  return { ...line, outcome: 'failed', reason: why };
}

/**
 * The investigation's verdict from its agents' lines: counts, status and a summary that says why. Shared by Record
 * Outcome and the CLI's hand-off re-run, which re-judges a case after updating agents.
 */
export function caseVerdict(
  agents: readonly Pick<AgentOutcome, 'agentId' | 'computerName' | 'outcome' | 'reason'>[],
  error: string | undefined,
): Pick<CaseRecord, 'counts' | 'status' | 'summary'> {
  const counts: Record<AgentOutcomeStatus, number> = {
    complete: 0,
    partial: 0,
    staged_handoff_failed: 0,
    failed: 0,
    timed_out: 0,
    rejected: 0,
    outcome_unknown: 0,
    shared: 0,
  };
  for (const agent of agents) counts[agent.outcome]++;

  let status: CaseStatus;
  // A shared agent is collected by the investigation its line names: it counts as done here.
  const done = counts.complete + counts.shared;
  if (done > 0 && done === agents.length) status = 'complete';
  else if (done > 0 || counts.partial > 0) status = 'partial';
  else if (counts.staged_handoff_failed > 0) status = 'staged_handoff_failed';
  else status = 'failed';

  const parts = [
    `${counts.complete} of ${agents.length} agent(s) collected and processed by Cado`,
    counts.partial ? `${counts.partial} processed although the collector reported a failure (partial)` : '',
    counts.staged_handoff_failed ? `${counts.staged_handoff_failed} staged but not handed off` : '',
    counts.failed ? `${counts.failed} failed` : '',
    counts.timed_out ? `${counts.timed_out} timed out` : '',
    counts.rejected ? `${counts.rejected} rejected` : '',
    counts.shared ? `${counts.shared} reusing another investigation's collection` : '',
    counts.outcome_unknown
      ? `${counts.outcome_unknown} with an execute of unknown outcome (see the console)`
      : '',
  ].filter(Boolean);
  let summary = parts.join('; ');
  if (error) summary = `${summary}. The investigation stopped early: ${error}`;
  else if (agents.length === 0) summary = 'No agents were collected from';
  const failures = agents
    .filter((a) => a.outcome !== 'complete')
    .map((a) => `${a.computerName ?? a.agentId}: ${a.reason}`);
  if (status !== 'complete' && failures.length > 0)
    summary = `${summary}. ${failures.slice(0, 5).join(' | ')}`;
  return { counts, status, summary: summary.slice(0, 4000) };
}

/**
 * Errors of the states before any endpoint action that pass with time or a fresh secret: throttling, 5xx,
 * network, a token S1 rejected even after a re-read (or expired), a secret or coordination-store failure.
 */
export const NOT_ATTEMPTED_ERRORS: ReadonlySet<string> = new Set([
  'S1RateLimitedError',
  'S1TransientError',
  'S1AuthError',
  // The token rejected (after one re-read of the secret) or expired: an operator fixes it by rotating the secret.
  'PreflightFailedError',
  'SecretError',
  'CoordinationStoreError',
  'Lambda.ServiceException',
  'Lambda.TooManyRequestsException',
  'States.Timeout',
]);

/**
 * Whether the investigation failed before any endpoint action, in a way worth retrying: an early state (Check
 * Permissions, Resolve Targets, Ensure Scripts) failed with one of {@link NOT_ATTEMPTED_ERRORS}. A failure of the
 * Map itself does not count (scripts are then ensured, and an agent may have been sent the collector).
 */
export function notAttempted(input: OutcomeInput): boolean {
  return (
    input.error !== undefined &&
    NOT_ATTEMPTED_ERRORS.has(input.error.Error) &&
    input.results === undefined &&
    input.scripts === undefined
  );
}

/** The threat an investigation is about: from the investigation, else from the raw workflow input. */
function threatIdOf(input: OutcomeInput): string | undefined {
  if (input.investigation?.threatId) return input.investigation.threatId;
  // Before Resolve Targets the state is the raw workflow input (plus the caught error).
  for (const raw of [input as { threatId?: unknown }, input.input as { threatId?: unknown } | undefined]) {
    if (typeof raw?.threatId === 'string' && /^\d+$/.test(raw.threatId)) return raw.threatId;
  }
  return undefined;
}

/** Builds `case.json` from the state machine's input to Record Outcome. */
export function summarizeCase(input: OutcomeInput, finishedAt: string, version: string): CaseRecord {
  const investigation = input.investigation;
  const investigationId = investigation?.investigationId ?? input.execution?.name ?? 'unknown';
  const agents: AgentOutcome[] = (input.results ?? []).map(summarizeAgent);
  for (const rejected of input.rejected ?? []) {
    agents.push({
      agentId: rejected.agentId,
      computerName: rejected.computerName,
      outcome: 'rejected',
      reason: rejected.reason,
    });
  }
  const error = input.error ? describeCaught(input.error) : undefined;
  const verdict = caseVerdict(agents, error);
  const { counts } = verdict;
  let { status, summary } = verdict;
  if (notAttempted(input)) {
    status = 'not_attempted';
    summary = `Not attempted: the investigation stopped before any endpoint action (${error}); intake retries it`;
  }

  const record: CaseRecord = {
    schema: 's1cado/case@1',
    investigationId,
    finishedAt,
    status,
    summary,
    counts,
    agents,
    scripts: (input.scripts ?? []).map((s) => ({
      osType: s.osType,
      libraryName: s.libraryName,
      scriptId: s.scriptId,
      sha256: s.sha256,
      uploaded: s.uploaded,
      ...(s.lookAlikes?.length ? { lookAlikes: s.lookAlikes } : {}),
    })),
    tool: { name: TOOL_NAME, version },
  };
  if (investigation) {
    record.executionArn = investigation.executionArn;
    record.threatId = investigation.threatId;
    record.requestedBy = investigation.requestedBy;
    record.reason = investigation.reason;
    record.startedAt = investigation.startedAt;
  } else if (input.execution?.startTime) {
    record.startedAt = input.execution.startTime;
  }
  if (error) record.error = error;
  const threatId = threatIdOf(input);
  if (threatId && !record.threatId) record.threatId = threatId;
  if (counts.staged_handoff_failed > 0) record.handoffRerunCommand = handoffCommand(investigationId);
  return record;
}

/** Dependencies of {@link recordOutcome}. */
export interface RecordOutcomeDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly nowIso: () => string;
  readonly version: string;
  /**
   * The coordination store: intake's pending retries and the agents' collection leases; unset, a `not_attempted`
   * investigation schedules no retry and leases lapse on their own.
   */
  readonly retries?: CoordinationStore;
  /** With no cooldown, every agent's lease is given back at the end, not only failed ones. @default 30 */
  readonly cooldownMinutes?: number;
  /** Signs each final manifest (KMS in the product); unset, manifests stay unsigned and the case says so. */
  readonly signer?: ManifestSigner;
  /** Set to add one evidence-record note to the investigation's S1 threat (best effort, once). */
  readonly s1?: Pick<S1Client, 'addThreatNote' | 'updateThreats'>;
  /** With `s1`, whether to add the evidence-record note. @default true */
  readonly threatNotes?: boolean;
  /** Set (with `s1`) to update the threat's incident status / analyst verdict after a collection (once). */
  readonly threatUpdate?: {
    readonly incidentStatus?: ThreatIncidentStatus;
    readonly analystVerdict?: ThreatAnalystVerdict;
  };
  /** Set to put the outcome event on the project's bus (best effort, once per outcome). */
  readonly events?: { readonly client: EventBridgeClient; readonly busName: string };
}

/** Writes the final manifests and `case.json`; returns the verdict for the state machine. */
export async function recordOutcome(input: OutcomeInput, deps: RecordOutcomeDeps): Promise<OutcomeResult> {
  const finishedAt = deps.nowIso();
  const record = summarizeCase(input, finishedAt, deps.version);
  // summarizeCase lists the branch results first, in order, then the rejected agents.
  const results = input.results ?? [];
  const manifests = new Map<string, Manifest>();
  for (const [index, agent] of record.agents.entries()) {
    if (!agent.evidence) continue;
    const final = await finalizeManifest(agent, s3Handoff(results[index]?.cado), deps, finishedAt);
    if (final) manifests.set(agent.evidence.manifestKey, final);
  }
  const key = caseKeyForExecution(record.investigationId);
  if (deps.retries && record.threatId) await scheduleRetry(deps.retries, record, Date.parse(finishedAt));
  if (deps.retries) await releaseLeases(deps.retries, record, deps.cooldownMinutes ?? 30);
  // Before case.json, so that the case says whether the threat carries the record; the claim makes a retry skip it.
  if (deps.s1 && deps.threatNotes !== false && record.threatId && record.status !== 'not_attempted') {
    record.threatNote = await addThreatNoteOnce({
      s1: deps.s1,
      store: deps.retries,
      key: { pk: `note#${record.investigationId}`, sk: 'outcome' },
      name: record.investigationId,
      threatId: record.threatId,
      text: evidenceRecordNote(record, deps.bucket),
    });
  }
  const update = deps.threatUpdate;
  const collected = record.status === 'complete' || record.status === 'partial';
  if (deps.s1 && update && record.threatId && collected && (update.incidentStatus || update.analystVerdict)) {
    const { s1 } = deps;
    const threatId = record.threatId;
    record.threatUpdate = {
      ...update,
      result: await doOnce(
        deps.retries,
        { pk: `threat-update#${record.investigationId}`, sk: 'outcome' },
        record.investigationId,
        'update the S1 threat',
        async () => {
          await s1.updateThreats([threatId], update);
        },
      ),
    };
  }
  record.outcomeEvent = await announce(deps, record, 'outcome');
  await putJson(deps.s3, deps.bucket, key, record);
  await writeReport(deps, key, record, manifests);
  logger.info('Investigation recorded', { status: record.status, counts: record.counts, caseKey: key });
  const outcome = metrics.singleMetric();
  outcome.addDimension('Outcome', record.status);
  outcome.addMetric(METRICS.investigations, 'Count', 1);
  return {
    investigationId: record.investigationId,
    status: record.status,
    errorName:
      record.status === 'complete' || record.status === 'partial'
        ? null
        : record.status === 'staged_handoff_failed'
          ? 'HandOffFailed'
          : record.status === 'not_attempted'
            ? 'InvestigationNotAttempted'
            : 'InvestigationFailed',
    summary: record.summary,
    caseKey: key,
    counts: record.counts,
  };
}

/**
 * Keeps intake's pending retry of the threat in step with this outcome: the next attempt (with backoff) after a
 * `not_attempted` one, nothing after a real outcome. Done before case.json is written, so a case file saying
 * `not_attempted` always has its retry (or says in its summary that the cap was reached).
 */
async function scheduleRetry(store: CoordinationStore, record: CaseRecord, nowMs: number): Promise<void> {
  const threatId = record.threatId as string;
  const next =
    record.status === 'not_attempted' ? nextRetry(threatId, record.investigationId, nowMs) : undefined;
  if (record.status === 'not_attempted' && !next) {
    record.summary = `${record.summary} — given up after this attempt (the retry cap is reached)`.slice(
      0,
      4000,
    );
  }
  if (!next && !(threatId in (await readRetries(store)).entries)) return;
  await updateRetries(store, (entries) => {
    if (next) entries[threatId] = next;
    else delete entries[threatId];
    return entries;
  });
  if (next)
    logger.warn('Not attempted; intake retries the threat', { attempt: next.attempt, nextAt: next.nextAt });
}

/**
 * Gives back the collection lease of every agent whose collection failed, so the next investigation of it collects
 * anew instead of reusing a failure; with no cooldown, of every agent whose collection ended. Agents that may still
 * run something (timed out, outcome unknown) keep it until it lapses.
 */
async function releaseLeases(
  store: CoordinationStore,
  record: CaseRecord,
  cooldownMinutes: number,
): Promise<void> {
  const ended = new Set<string>(
    cooldownMinutes > 0 ? ['failed'] : ['failed', 'complete', 'partial', 'staged_handoff_failed'],
  );
  for (const agent of record.agents.filter((a) => ended.has(a.outcome) && a.agentId !== 'unknown')) {
    await store.releaseLease(agentLeaseKey(agent.agentId), record.investigationId).catch((error: unknown) =>
      logger.warn('Could not release the collection lease', {
        agentId: agent.agentId,
        error: error as Error,
      }),
    );
  }
}

/** Writes and signs the agent's final manifest; returns it (undefined when it could not be written). */
async function finalizeManifest(
  agent: AgentOutcome,
  cado: CadoHandoff | undefined,
  deps: RecordOutcomeDeps,
  at: string,
): Promise<Manifest | undefined> {
  const key = agent.evidence?.manifestKey as string;
  try {
    const manifest = await getJson(deps.s3, deps.bucket, key, Manifest);
    if (!manifest) {
      logger.error('Manifest missing for staged evidence', { manifestKey: key, agentId: agent.agentId });
      agent.reason = `${agent.reason} (manifest missing at ${key})`;
      return undefined;
    }
    // A partial agent's evidence was handed off too; its reason says what the collector reported.
    const complete = agent.outcome === 'complete' || agent.outcome === 'partial';
    const verification =
      (await getJson(deps.s3, deps.bucket, verificationKey(key), Verification)) ?? manifest.verification;
    const updated: Manifest = {
      ...manifest,
      cado: cado ?? manifest.cado,
      ...(verification ? { verification } : {}),
      chain: chainOf({
        sha256: manifest.object.sha256,
        bytes: manifest.object.bytes,
        s1SignatureMatches: manifest.result.s1SignatureMatches,
        s1Integrity: manifest.integrity,
        verification,
        cadoHash: (cado ?? manifest.cado)?.evidenceHash,
      }),
      handoff: {
        status: complete ? 'complete' : 'failed',
        ...(agent.outcome === 'complete' ? {} : { reason: agent.reason }),
        rerunCommand: manifest.handoff.rerunCommand,
      },
      timeline: [
        ...manifest.timeline,
        complete ? { event: 'cado-complete', at } : { event: 'handoff-failed', at, detail: agent.reason },
      ],
      writtenAt: at,
      writtenBy: 'record-outcome',
    };
    const written = await putJson(deps.s3, deps.bucket, key, updated);
    await signFinalManifest(agent, updated, key, written.versionId, deps, at);
    return updated;
  } catch (error) {
    logger.error('Could not finalize manifest', { manifestKey: key, error: error as Error });
    agent.reason = `${agent.reason} (manifest not updated: ${(error as Error).name})`;
    return undefined;
  }
}

/**
 * Puts the case's outcome event on the bus once per `occasion` (the investigation's end, or one hand-off re-run),
 * however often Record Outcome runs. Undefined when no bus is configured.
 */
export async function announce(
  deps: Pick<RecordOutcomeDeps, 'events' | 'retries' | 'bucket'>,
  record: CaseRecord,
  occasion: string,
): Promise<CaseRecord['outcomeEvent']> {
  const events = deps.events;
  if (!events) return undefined;
  return doOnce(
    deps.retries,
    { pk: `event#${record.investigationId}`, sk: occasion },
    record.investigationId,
    'put the outcome event',
    () => putOutcomeEvent(events.client, events.busName, record, deps.bucket),
  );
}

/**
 * Writes `case.md` beside the case file. The report is a rendering of `case.json`, which is already written: a
 * failure to write it is logged and loses nothing (the next hand-off re-run writes it again).
 */
export async function writeReport(
  deps: Pick<RecordOutcomeDeps, 's3' | 'bucket'>,
  caseKey: string,
  record: CaseRecord,
  manifests: ReadonlyMap<string, Manifest>,
): Promise<void> {
  try {
    await putCaseReport(deps.s3, deps.bucket, caseKey, renderCaseReport(record, manifests, deps.bucket));
  } catch (error) {
    logger.error('Could not write the case report', { caseKey, error: error as Error });
  }
}

/**
 * Signs the manifest version just written and says in the case record whether it is signed. A failure to sign
 * loses nothing (the manifest and evidence stand), but the case says so, and `s1cado verify` fails that agent.
 */
export async function signFinalManifest(
  agent: AgentOutcome,
  manifest: Manifest,
  manifestKey: string,
  manifestVersionId: string | null,
  deps: Pick<RecordOutcomeDeps, 's3' | 'bucket' | 'signer'>,
  at: string,
): Promise<void> {
  const evidence = agent.evidence;
  if (!evidence) return;
  if (!deps.signer) {
    evidence.signature = { status: 'unsigned', detail: 'no signing key is configured' };
    return;
  }
  try {
    const signed = await signManifest(deps.s3, deps.signer, {
      bucket: deps.bucket,
      manifestKey,
      manifestVersionId,
      manifest,
      at,
      by: 'record-outcome',
    });
    evidence.signature = { status: 'signed', key: signed.key };
  } catch (error) {
    const name = (error as Error).name;
    logger.error('Could not sign the final manifest', { manifestKey, error: error as Error });
    evidence.signature = { status: 'failed', detail: `signing failed: ${name}` };
    agent.reason = `${agent.reason} (manifest not signed: ${name})`;
  }
}

/**
 * The evidence record as an S1 threat note: the outcome, then per collection its outcome, S3 URI and version,
 * SHA-256 and Cado project and pipeline; where the case file is and how to verify it. Bounded (the case file has
 * everything): at most 10 agents are listed.
 */
export function evidenceRecordNote(record: CaseRecord, bucket: string): string {
  const shown = record.agents.slice(0, 10);
  const lines = [
    `s1-cado-forensics ${record.investigationId}: ${record.status} — ${record.summary}`.slice(0, 600),
    ...shown.map((agent) => {
      const parts = [`${agent.computerName ?? agent.agentId} (${agent.agentId}): ${agent.outcome}`];
      const e = agent.evidence;
      if (e) {
        parts.push(`s3://${e.bucket}/${e.key}${e.versionId ? ` (version ${e.versionId})` : ''}`);
        parts.push(`SHA-256 ${e.sha256}`);
      }
      if (agent.cado)
        parts.push(
          `Cado project ${agent.cado.projectId} (${agent.cado.projectName}), pipeline ${agent.cado.pipelineId}: ${agent.cado.phase}`,
        );
      return `- ${parts.join(' · ')}`;
    }),
    ...(record.agents.length > shown.length
      ? [`- and ${record.agents.length - shown.length} more agent(s)`]
      : []),
    `Case file: s3://${bucket}/${caseKey(record.investigationId)} · check the custody: npx s1cado verify ${record.investigationId}`,
  ];
  return lines.join('\n');
}
