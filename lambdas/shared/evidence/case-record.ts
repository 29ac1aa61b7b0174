/**
 * `case.json`, the outcome of a whole investigation (schema `s1cado/case@1`): written by Record Outcome (and updated
 * by it again in each hand-off re-run), read by the CLI and the demo. One schema for all of them; readers keep fields they do not know.
 */
import * as z from 'zod';

/** How one agent ended. */
export const AgentOutcomeStatus = z.enum([
  'complete',
  /** Evidence staged and processed by Cado, but the collector reported a failure (its output may be incomplete). */
  'partial',
  'staged_handoff_failed',
  'failed',
  'timed_out',
  'rejected',
  /** The S1 execute may have started a task nobody can name (see the reason for what to search for). */
  'outcome_unknown',
  /** Another investigation collects (or just collected) from the agent: `sharedWith` has its evidence. */
  'shared',
]);
export type AgentOutcomeStatus = z.infer<typeof AgentOutcomeStatus>;

/** How the investigation ended. */
export const CaseStatus = z.enum([
  'complete',
  'partial',
  'staged_handoff_failed',
  'failed',
  /** Failed before any endpoint action (throttling, 5xx, a rejected token): intake retries it. */
  'not_attempted',
]);
export type CaseStatus = z.infer<typeof CaseStatus>;

/** One agent's line in `case.json`. */
export const AgentOutcome = z.looseObject({
  /** Outcome `shared`: the investigation whose collection from this agent is reused, and where its evidence is. */
  sharedWith: z.object({ investigationId: z.string(), evidencePrefix: z.string() }).optional(),
  agentId: z.string(),
  computerName: z.string().optional(),
  osType: z.string().optional(),
  outcome: AgentOutcomeStatus,
  reason: z.string(),
  s1Task: z
    .looseObject({
      parentTaskId: z.string().optional(),
      childTaskId: z.string().optional(),
      status: z.string().optional(),
      detailedStatus: z.string().optional(),
    })
    .optional(),
  evidence: z
    .looseObject({
      bucket: z.string(),
      key: z.string(),
      versionId: z.string().nullable(),
      bytes: z.number(),
      sha256: z.string(),
      manifestKey: z.string(),
      /** The final manifest's signature (`manifest.signature.json`): signed, or why not. */
      signature: z
        .object({
          status: z.enum(['signed', 'failed', 'unsigned']),
          key: z.string().optional(),
          detail: z.string().optional(),
        })
        .optional(),
    })
    .optional(),
  cado: z
    .looseObject({
      projectId: z.number(),
      projectName: z.string(),
      pipelineId: z.number(),
      phase: z.string(),
      reason: z.string().optional(),
    })
    .optional(),
  cancel: z
    .looseObject({ attempted: z.boolean(), affected: z.number(), unsupported: z.boolean() })
    .optional(),
  /** Cancel Task failed after the deadline (its error): the S1 task may still be running. */
  cancelError: z.string().optional(),
  /** Collection mode cado-xdr: Cado collected through its SentinelOne integration (no evidence of ours). */
  collectedBy: z.literal('cado-xdr').optional(),
  xdr: z
    .looseObject({
      accountName: z.string(),
      deviceId: z.string(),
      profile: z.string(),
      collectionType: z.string(),
    })
    .optional(),
  /** Mode cado-xdr: the chain of custody, every link of ours "not available" with why (see `xdrChain`). */
  custody: z.array(z.looseObject({ link: z.string(), status: z.string(), detail: z.string() })).optional(),
});
export type AgentOutcome = z.infer<typeof AgentOutcome>;

/** A run of the hand-off re-run (`s1cado handoff`, the HandOffRerun state machine), as `case.json` records it. */
export const HandoffRerun = z.object({
  at: z.string(),
  by: z.string(),
  /** The HandOffRerun execution that did it. */
  executionName: z.string().optional(),
  agents: z.array(
    z.object({
      agentId: z.string(),
      outcome: AgentOutcomeStatus,
      reason: z.string(),
      manifestKey: z.string().optional(),
      /** `imported`: a new Cado import; `followed`: a pipeline started earlier was followed; `refused`: not handed off. */
      action: z.enum(['imported', 'followed', 'refused']).optional(),
      pipelineId: z.number().optional(),
    }),
  ),
});
export type HandoffRerun = z.infer<typeof HandoffRerun>;

/** `case.json`. */
export const CaseRecord = z.looseObject({
  schema: z.literal('s1cado/case@1'),
  investigationId: z.string(),
  executionArn: z.string().optional(),
  threatId: z.string().optional(),
  requestedBy: z.string().optional(),
  reason: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string(),
  status: CaseStatus,
  summary: z.string(),
  counts: z.record(AgentOutcomeStatus, z.number()),
  agents: z.array(AgentOutcome),
  scripts: z.array(
    z.looseObject({
      osType: z.string(),
      libraryName: z.string(),
      scriptId: z.string(),
      sha256: z.string(),
      uploaded: z.boolean(),
    }),
  ),
  error: z.string().optional(),
  handoffRerunCommand: z.string().optional(),
  handoffReruns: z.array(HandoffRerun).optional(),
  /** The evidence-record note on the S1 threat: added, added by an earlier try, or failed (best effort). */
  threatNote: z.enum(['added', 'already-added', 'failed']).optional(),
  /** The configured S1 threat update after a collection, and what became of it (best effort, once). */
  threatUpdate: z
    .object({
      incidentStatus: z.string().optional(),
      analystVerdict: z.string().optional(),
      result: z.enum(['done', 'already-done', 'failed']),
    })
    .optional(),
  /** The outcome event on the project's bus: put, put by an earlier try, or failed (best effort). */
  outcomeEvent: z.enum(['done', 'already-done', 'failed']).optional(),
  tool: z.object({ name: z.string(), version: z.string() }),
});
export type CaseRecord = z.infer<typeof CaseRecord>;
