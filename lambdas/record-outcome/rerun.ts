/**
 * Record Outcome in re-run mode, the last state of the HandOffRerun state machine: for each collection handed to
 * Cado again it writes the manifest's next version (Cado ids, hand-off status, the re-run in the timeline), then
 * updates `case.json`: the agents' lines, counts, status and summary, and one more `handoffReruns` entry. Record
 * Outcome is the only writer of case.json and the only updater of manifests, in both modes.
 */
import * as z from 'zod';
import { CaseNotFoundError } from '../shared/errors';
import { type AgentOutcome, CaseRecord, type HandoffRerun } from '../shared/evidence/case-record';
import { chainOf } from '../shared/evidence/chain';
import { caseKey } from '../shared/evidence/keys';
import { getJson, getJsonVersion, handoffCommand, Manifest, putJson } from '../shared/evidence/manifest';
import { logger } from '../shared/observability';
import { AgentFinalState, Investigation, RefusedEvidence, RerunInfo, s3Handoff } from '../shared/schemas';
import {
  announce,
  caseVerdict,
  type OutcomeResult,
  type RecordOutcomeDeps,
  signFinalManifest,
  summarizeAgent,
  writeReport,
} from './core';

/** Input of Record Outcome in re-run mode: Find Staged Evidence's output with the Map's results. */
export const RerunOutcomeInput = z.looseObject({
  investigation: Investigation,
  rerun: RerunInfo,
  results: z.array(AgentFinalState),
  refused: z.array(RefusedEvidence),
});
export type RerunOutcomeInput = z.infer<typeof RerunOutcomeInput>;

/** What the re-run did with one collection, and how it ended. */
interface RerunLine {
  readonly state: AgentFinalState;
  readonly outcome: AgentOutcome;
  readonly action: 'imported' | 'followed';
}

/**
 * One branch's final state as its agent's verdict. A pipeline Cado no longer knows (deleted with its project, or a
 * rebuilt platform) is recorded as failed, so the next re-run imports the evidence anew instead of following it.
 */
export function rerunLine(state: AgentFinalState, rerun: RerunInfo): RerunLine {
  const action = state.cado && state.cado.startedAt >= rerun.at ? 'imported' : 'followed';
  let final = state;
  if (state.cado && action === 'followed' && state.handoffError?.Error === 'CadoNotFoundError') {
    final = {
      ...state,
      cado: {
        ...state.cado,
        phase: 'failed',
        reason: `Cado no longer knows pipeline ${state.cado.pipelineId}`,
      },
    };
  }
  return { state: final, outcome: summarizeAgent(final), action: state.cado ? action : 'imported' };
}

/** The manifest's next version after a re-run. */
export function nextManifest(manifest: Manifest, line: RerunLine, rerun: RerunInfo, at: string): Manifest {
  const { outcome, state, action } = line;
  const complete = outcome.outcome === 'complete' || outcome.outcome === 'partial';
  const timeline = [
    ...manifest.timeline,
    {
      event: 'handoff-rerun',
      at: rerun.at,
      detail: `requested by ${rerun.by}${rerun.executionName ? ` (HandOffRerun ${rerun.executionName})` : ''}`,
    },
  ];
  if (action === 'imported' && state.cado) {
    const c = state.cado;
    timeline.push({
      event: 'cado-import-requested',
      at: c.startedAt,
      detail: `Cado project ${c.projectId} (${c.projectName}), pipeline ${c.pipelineId}`,
    });
  }
  timeline.push(
    complete
      ? { event: 'cado-complete', at: state.cado?.checkedAt ?? at }
      : { event: 'handoff-failed', at, detail: outcome.reason },
  );
  const cado = s3Handoff(state.cado) ?? manifest.cado;
  return {
    ...manifest,
    cado,
    // The chain as the final manifest has it, with the cado link from this re-run's hand-off.
    chain: chainOf({
      sha256: manifest.object.sha256,
      bytes: manifest.object.bytes,
      s1SignatureMatches: manifest.result.s1SignatureMatches,
      s1Integrity: manifest.integrity,
      verification: manifest.verification,
      cadoHash: cado?.evidenceHash,
    }),
    handoff: {
      status: complete ? 'complete' : 'failed',
      ...(complete ? {} : { reason: outcome.reason }),
      rerunCommand: manifest.handoff.rerunCommand,
    },
    timeline,
    writtenAt: at,
    writtenBy: 'record-outcome',
  };
}

/** Whether `manifest` already has this re-run's version (Record Outcome retried after its write went through). */
export function alreadyRecorded(manifest: Manifest, rerun: RerunInfo): boolean {
  return manifest.timeline.some(
    (e) =>
      e.event === 'handoff-rerun' &&
      e.at === rerun.at &&
      (rerun.executionName === undefined || (e.detail ?? '').includes(rerun.executionName)),
  );
}

/** Records a hand-off re-run; returns the verdict for the re-run state machine. */
export async function recordRerun(input: RerunOutcomeInput, deps: RecordOutcomeDeps): Promise<OutcomeResult> {
  const at = deps.nowIso();
  const { investigationId } = input.investigation;
  const key = caseKey(investigationId);
  const record = await getJson(deps.s3, deps.bucket, key, CaseRecord);
  if (!record) throw new CaseNotFoundError(`No case.json for ${investigationId} in s3://${deps.bucket}`);

  const agents = [...record.agents];
  const entry: HandoffRerun = {
    at: input.rerun.at,
    by: input.rerun.by,
    ...(input.rerun.executionName ? { executionName: input.rerun.executionName } : {}),
    agents: [],
  };
  const manifests = new Map<string, Manifest>();
  for (const state of input.results) {
    const line = rerunLine(state, input.rerun);
    const manifestKey = state.evidence?.manifestKey;
    if (manifestKey) {
      try {
        const current = await getJsonVersion(deps.s3, deps.bucket, manifestKey, Manifest);
        // A retried invocation writes each manifest's version once, and signs the version that is there.
        if (current) {
          let signed = { manifest: current.value, versionId: current.versionId };
          if (!alreadyRecorded(current.value, input.rerun)) {
            const next = nextManifest(current.value, line, input.rerun, at);
            const written = await putJson(deps.s3, deps.bucket, manifestKey, next);
            signed = { manifest: next, versionId: written.versionId };
          }
          await signFinalManifest(line.outcome, signed.manifest, manifestKey, signed.versionId, deps, at);
          manifests.set(manifestKey, signed.manifest);
        } else line.outcome.reason = `${line.outcome.reason} (manifest missing at ${manifestKey})`;
      } catch (error) {
        logger.error('Could not update manifest', { manifestKey, error: error as Error });
        line.outcome.reason = `${line.outcome.reason} (manifest not updated: ${(error as Error).name})`;
      }
    }
    const byKey = agents.findIndex(
      (a) => manifestKey !== undefined && a.evidence?.manifestKey === manifestKey,
    );
    const byAgent = agents.findIndex((a) => a.agentId === line.outcome.agentId && !a.evidence);
    const index = byKey >= 0 ? byKey : byAgent;
    if (index >= 0) agents[index] = line.outcome;
    else agents.push(line.outcome);
    entry.agents.push({
      agentId: line.outcome.agentId,
      outcome: line.outcome.outcome,
      reason: line.outcome.reason,
      ...(manifestKey ? { manifestKey } : {}),
      action: line.action,
      ...(line.state.cado ? { pipelineId: line.state.cado.pipelineId } : {}),
    });
  }
  for (const refused of input.refused) {
    entry.agents.push({
      agentId: refused.agentId,
      outcome: 'staged_handoff_failed',
      reason: refused.reason,
      manifestKey: refused.manifestKey,
      action: 'refused',
    });
  }

  const counted = caseVerdict(agents, record.error);
  const updated: CaseRecord = {
    ...record,
    ...counted,
    agents,
    // A retried invocation replaces its own entry rather than adding a second one.
    handoffReruns: [
      ...(record.handoffReruns ?? []).filter(
        (r) => !(r.at === entry.at && r.executionName === entry.executionName),
      ),
      entry,
    ],
  };
  if (counted.counts.staged_handoff_failed > 0) updated.handoffRerunCommand = handoffCommand(investigationId);
  else delete updated.handoffRerunCommand;
  updated.outcomeEvent = await announce(deps, updated, `rerun#${input.rerun.at}`);
  await putJson(deps.s3, deps.bucket, key, updated);
  // The report shows every collection: those this re-run did not touch keep their current manifests.
  for (const agent of updated.agents) {
    const manifestKey = agent.evidence?.manifestKey;
    if (!manifestKey || manifests.has(manifestKey)) continue;
    const manifest = await getJson(deps.s3, deps.bucket, manifestKey, Manifest).catch(() => undefined);
    if (manifest) manifests.set(manifestKey, manifest);
  }
  await writeReport(deps, key, updated, manifests);

  const unfinished = entry.agents.filter((a) => a.outcome !== 'complete');
  const done = entry.agents.length - unfinished.length;
  logger.info('Hand-off re-run recorded', {
    status: updated.status,
    complete: done,
    unfinished: unfinished.length,
  });
  let summary = `Hand-off re-run: ${done} of ${entry.agents.length} collection(s) processed by Cado`;
  if (unfinished.length > 0) {
    summary = `${summary}. ${unfinished
      .slice(0, 5)
      .map((a) => `${a.agentId}: ${a.reason}`)
      .join(' | ')}`;
  }
  return {
    investigationId,
    status: updated.status,
    errorName: unfinished.length > 0 ? 'HandOffFailed' : null,
    summary: summary.slice(0, 4000),
    caseKey: key,
    counts: updated.counts,
  };
}
