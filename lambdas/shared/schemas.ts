/**
 * The workflow's state, as zod schemas that grow step by step (types come from `z.infer`, so validation and types
 * cannot drift): WorkflowInput → Investigation + Target → CollectionTarget (with its script) → RunningTask →
 * CheckedTask → StagedEvidence → HandedOff. Each handler parses its input with the schema of the step before it and
 * returns the next one. Step Functions state stays small: no file contents, no URLs, no secrets.
 */
import * as z from 'zod';
import { CustomPathsSchema, ProfileNameSchema } from '../collectors/profiles';
import { COLLECTION_MODES, XDR_PROFILES } from './cado/xdr';
import { INVESTIGATION_ID_PATTERN, LIMITS } from './contract';
import { custodyText } from './custody-text';

/** S1 ids are 18–19 digit integers sent as strings; as JS numbers they would lose precision. */
export const S1Id = z
  .string({ error: 'must be a string of digits (S1 ids exceed the safe integer range of JSON numbers)' })
  .regex(/^\d{1,20}$/, 'must be a string of digits');

/** What a caller (threat intake, CLI, console) puts into StartExecution. */
export const WorkflowInput = z.strictObject({
  /** The S1 agent ids (not UUIDs) to collect from. */
  agentIds: z
    .array(S1Id)
    .min(1, 'name at least one agent id')
    .max(LIMITS.maxAgents, `at most ${LIMITS.maxAgents} agents per investigation`)
    .refine((ids) => new Set(ids).size === ids.length, 'agent ids must not repeat'),
  /** The S1 threat that triggered the investigation, if any. */
  threatId: S1Id.optional(),
  /** Who or what started it: an IAM principal, `threat-intake`, an analyst's name. Kept in the chain of custody. */
  requestedBy: custodyText(256).min(1, 'say who requested the collection'),
  /** Free text kept in the chain of custody. */
  reason: custodyText(1024).optional(),
  /** Collection profile: triage, full, memory or custom. @default - the configured default (triage) */
  profile: ProfileNameSchema.optional(),
  /** The absolute paths and globs of the `custom` profile (required by it, refused by the others). */
  customPaths: CustomPathsSchema.optional(),
  /** Send the collection straight from the endpoint to S3 (presigned part URLs) instead of through S1's cloud. */
  directUpload: z.boolean({ error: 'must be true or false' }).optional(),
  /** How to collect: our collector through S1 RemoteOps, or Cado through its SentinelOne integration. @default config */
  collectionMode: z.enum(COLLECTION_MODES).optional(),
});
export type WorkflowInput = z.infer<typeof WorkflowInput>;

/**
 * The execution's own facts (`$$.Execution`: name, ARN, start time), which the state machine passes to the states
 * that need them next to their input: Check Permissions (first step) and Record Outcome.
 */
export const ExecutionContext = z.object({
  name: z.string(),
  id: z.string().optional(),
  startTime: z.string().optional(),
});
export type ExecutionContext = z.infer<typeof ExecutionContext>;

/** The input of Check Permissions: the execution input as the caller sent it (any JSON value), not yet validated. */
export const InvestigationRequest = z.object({ input: z.unknown(), execution: ExecutionContext });
export type InvestigationRequest = z.infer<typeof InvestigationRequest>;

/** Investigation id = execution name: `threat-<threatId>` or `manual-<time>-<short id>`. */
export const InvestigationId = z
  .string()
  .regex(
    INVESTIGATION_ID_PATTERN,
    'must be 1–80 letters, digits, "-" or "_", not starting with "_" (a Step Functions execution name)',
  );

/** The investigation as every step sees it. */
export const Investigation = z.object({
  investigationId: InvestigationId,
  executionArn: z.string().optional(),
  threatId: S1Id.optional(),
  requestedBy: z.string(),
  reason: z.string().optional(),
  startedAt: z.string(),
  /** The collection profile asked for (Ensure Scripts applies the configured default when absent). */
  profile: ProfileNameSchema.optional(),
  /** The `custom` profile's paths. */
  customPaths: z.array(z.string()).optional(),
  /** The caller asked for the direct-to-S3 path for every agent. */
  directUpload: z.boolean().optional(),
  /** Set by Resolve Targets (execution input, else config); absent in state written before the mode existed. */
  collectionMode: z.enum(COLLECTION_MODES).optional(),
});
export type Investigation = z.infer<typeof Investigation>;

/** Operating systems the collectors support. */
export const OsType = z.enum(['windows', 'linux']);
export type OsType = z.infer<typeof OsType>;

/** An agent we will collect from. */
export const Target = z.object({
  agentId: S1Id,
  agentUuid: z.string(),
  computerName: z.string(),
  osType: OsType,
  osName: z.string().optional(),
  siteId: S1Id,
  siteName: z.string().optional(),
  accountId: S1Id,
  accountName: z.string().optional(),
  groupId: z.string().optional(),
});
export type Target = z.infer<typeof Target>;

/** An agent we will not collect from, and why. */
export const RejectedTarget = z.object({
  agentId: z.string(),
  computerName: z.string().optional(),
  reason: z.string(),
});
export type RejectedTarget = z.infer<typeof RejectedTarget>;

/**
 * The fields of an S1 agent record (`GET /agents`) that Resolve Targets decides on and builds a {@link Target}
 * from. Check Permissions reads the agents once and passes these on: the full record is kilobytes per agent, and
 * S1 adds fields, so only these travel in the state.
 */
export const AgentRecord = z.object({
  id: z.string(),
  uuid: z.string().optional(),
  computerName: z.string().optional(),
  osType: z.string().optional(),
  osName: z.string().optional(),
  siteId: z.string().optional(),
  siteName: z.string().optional(),
  accountId: z.string().optional(),
  accountName: z.string().optional(),
  groupId: z.string().optional(),
  isDecommissioned: z.boolean().optional(),
  isUninstalled: z.boolean().optional(),
});
export type AgentRecord = z.infer<typeof AgentRecord>;

/** What Check Permissions hands to Resolve Targets. */
export const PreflightFindings = z.object({
  /** The S1 service user's scope (`tenant`, `account`, `site`), when S1 told it: Ensure Scripts uploads there. */
  s1UserScope: z.string().optional(),
  /** Agents on sites without RemoteOps, with the audit's reason and fix. */
  rejected: z.array(RejectedTarget).max(LIMITS.maxAgents),
  /** The other requested agents S1 knows (an id missing here is not in the service user's scope). */
  agents: z.array(AgentRecord).max(LIMITS.maxAgents),
});
export type PreflightFindings = z.infer<typeof PreflightFindings>;

/** Output of Check Permissions: the request, passed on as it came, and the preflight's findings. */
export const PreflightChecked = InvestigationRequest.extend({ preflight: PreflightFindings });
export type PreflightChecked = z.infer<typeof PreflightChecked>;

/** Output of Resolve Targets (with the S1 service user's scope found by Check Permissions). */
export const ResolvedTargets = z.object({
  investigation: Investigation,
  targets: z.array(Target),
  rejected: z.array(RejectedTarget),
  /** `tenant`, `account` or `site`: where Ensure Scripts uploads the collectors. */
  s1UserScope: z.string().optional(),
});
export type ResolvedTargets = z.infer<typeof ResolvedTargets>;

/** A library script under the collector's name whose SHA-256 is not the collector's, or cannot be learnt. */
export const LookAlikeScript = z.object({
  scriptId: S1Id,
  scriptName: z.string(),
  s1Signature: z.string().nullable(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
  expectedSha256: z.string().regex(/^[0-9a-f]{64}$/),
  verdict: z.enum(['mismatch', 'unverifiable']),
  source: z.enum(['signature', 'content']).nullable(),
});
export type LookAlikeScript = z.infer<typeof LookAlikeScript>;

/** A collection script as it exists in the S1 library. */
export const ScriptRef = z.object({
  scriptId: S1Id,
  libraryName: z.string(),
  name: z.string(),
  version: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  osType: OsType,
  scriptType: z.string(),
  runtimeTimeoutSeconds: z.number().int().positive(),
  inputParams: z.string(),
  /** The collection profile baked into this script. */
  profile: ProfileNameSchema.optional(),
  /** Whether this run uploaded it (false: it was already in the library). */
  uploaded: z.boolean(),
  /** Same-name library scripts that are not this collector (never run): their ids and hashes. */
  lookAlikes: z.array(LookAlikeScript).optional(),
});
export type ScriptRef = z.infer<typeof ScriptRef>;

/** A target with the script it will run. */
export const CollectionTarget = Target.extend({ script: ScriptRef });
export type CollectionTarget = z.infer<typeof CollectionTarget>;

/** Output of Ensure Scripts. */
export const ScriptsEnsured = ResolvedTargets.extend({
  targets: z.array(CollectionTarget),
  scripts: z.array(ScriptRef),
});
export type ScriptsEnsured = z.infer<typeof ScriptsEnsured>;

/**
 * A multipart upload Prepare Upload opened for the collector to fill directly (no URL, no signature: Run Script
 * presigns the part URLs and sends them to S1 only).
 */
export const DirectUpload = z.object({
  bucket: z.string(),
  key: z.string(),
  uploadId: z.string().min(1),
  /** How many part URLs the collector gets. */
  parts: z.number().int().positive(),
  /** Why this agent goes direct. */
  reason: z.enum(['requested', 'profile', 'size-budget']),
  /** Where Prepare Upload recorded it (written once: a retry reuses the same upload). */
  recordKey: z.string(),
  createdAt: z.string(),
});
export type DirectUpload = z.infer<typeof DirectUpload>;

/** Input of one Map iteration (and, with `upload`, the output of Prepare Upload). */
export const AgentStart = z.object({
  investigation: Investigation,
  target: CollectionTarget,
  /** The direct upload Prepare Upload opened; null when the collection goes through S1's cloud. */
  upload: DirectUpload.nullish(),
});
export type AgentStart = z.infer<typeof AgentStart>;

/** When to look again. `waitSeconds` feeds the Wait state's `SecondsPath`. */
export const Poll = z.object({
  attempt: z.number().int().nonnegative(),
  waitSeconds: z.number().int().positive(),
  deadline: z.string(),
});
export type Poll = z.infer<typeof Poll>;

/** The S1 task started for one agent. */
export const TaskInfo = z.object({
  parentTaskId: S1Id,
  description: z.string(),
  startedAt: z.string(),
  deadline: z.string(),
  /** True when a retried Run Script found the task an earlier attempt had started. */
  reusedExisting: z.boolean(),
});

/** Output of Run Script. */
export const RunningTask = AgentStart.extend({ task: TaskInfo, poll: Poll });
export type RunningTask = z.infer<typeof RunningTask>;

/** Where a task stands after a check. */
export const TaskPhase = z.enum(['running', 'completed', 'failed', 'deadline']);

/** Output of Check Task. */
export const CheckedTask = RunningTask.extend({
  task: TaskInfo.extend({
    phase: TaskPhase,
    childTaskId: S1Id.optional(),
    status: z.string().optional(),
    detailedStatus: z.string().optional(),
    statusCode: z.string().optional(),
    resultSignature: z.string().optional(),
    /** The task completed but the script reported a failure; its result file is kept (the agent ends partial). */
    scriptFailure: z.string().optional(),
    reason: z.string().optional(),
    checkedAt: z.string(),
  }),
});
export type CheckedTask = z.infer<typeof CheckedTask>;

/** A completed task (the input of Stage Output). */
export const CompletedTask = CheckedTask.extend({
  task: CheckedTask.shape.task.extend({ phase: z.literal('completed'), childTaskId: S1Id }),
});
export type CompletedTask = z.infer<typeof CompletedTask>;

/** The staged evidence of one agent. */
export const Evidence = z.object({
  bucket: z.string(),
  key: z.string(),
  versionId: z.string().nullable(),
  /** The stored object's ETag (identifies the write where the store keeps no versions, as s3rver). */
  etag: z.string().nullable().optional(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  fileName: z.string(),
  manifestKey: z.string(),
  /** Verify Evidence's record (set once the read-back and listing check passed). */
  verificationKey: z.string().optional(),
  s1Signature: z.string().nullable(),
  /** Whether S1's result signature equals our SHA-256 (null when S1 gave none or it is not a SHA-256). */
  s1SignatureMatches: z.boolean().nullable(),
  stagedAt: z.string(),
});
export type Evidence = z.infer<typeof Evidence>;

/** Output of Stage Output. */
export const StagedEvidence = CompletedTask.extend({ evidence: Evidence });
export type StagedEvidence = z.infer<typeof StagedEvidence>;

/** Where a Cado pipeline stands. */
export const CadoPhase = z.enum(['running', 'complete', 'failed', 'cancelled', 'deadline']);

/** The hand-off of one agent's evidence to Cado. */
export const CadoHandoff = z.object({
  projectId: z.number().int(),
  projectName: z.string(),
  pipelineId: z.number().int(),
  fileNameForm: z.enum(['array', 'string']),
  /** How `file_name` named the object in the import that {@link pipelineId} follows (absent: `full-key`). */
  fileNameLayout: z.enum(['full-key', 'prefix-and-name']).optional(),
  /** The Cado account alias the import used, so a second import uses the same one. */
  cloudId: z.string().optional(),
  /** Set when the first import found no file and one more was sent in the other layout. */
  fileNameFallback: z
    .object({
      from: z.enum(['full-key', 'prefix-and-name']),
      pipelineId: z.number().int(),
      reason: z.string(),
    })
    .optional(),
  startedAt: z.string(),
  deadline: z.string(),
  phase: CadoPhase,
  reason: z.string().optional(),
  checkedAt: z.string().optional(),
  /** Cado's evidence hash against our SHA-256, once the pipeline completed (the chain's `cado` link). */
  evidenceHash: z
    .object({
      status: z.enum(['verified', 'mismatch', 'not_available']),
      detail: z.string(),
      evidenceId: z.number().int().optional(),
      cadoHash: z.string().optional(),
    })
    .optional(),
});
export type CadoHandoff = z.infer<typeof CadoHandoff>;

/** Output of Hand To Cado and Check Cado. */
export const HandedOff = StagedEvidence.extend({ cado: CadoHandoff, poll: Poll });
export type HandedOff = z.infer<typeof HandedOff>;

// ---- collection mode cado-xdr: Cado collects through its SentinelOne integration ----------------------------------

/** Input of the XDR import (one Map iteration in mode cado-xdr): no script, nothing of ours runs on the endpoint. */
export const XdrAgentStart = z.object({ investigation: Investigation, target: Target });
export type XdrAgentStart = z.infer<typeof XdrAgentStart>;

/** What was asked of Cado: which of its accounts collected from which device, and how. */
export const XdrCollection = z.object({
  collectedBy: z.literal('cado-xdr'),
  accountName: z.string(),
  deviceId: z.string(),
  profile: z.enum(XDR_PROFILES),
  collectionType: z.enum(['balanced', 'custom']),
  lightMode: z.boolean(),
  /** True when a retried step found the import an earlier attempt had started. */
  reused: z.boolean(),
});
export type XdrCollection = z.infer<typeof XdrCollection>;

/** The Cado side of an XDR import: as for an S3 import, without the S3 naming fields. */
export const XdrCadoHandoff = CadoHandoff.omit({
  fileNameForm: true,
  fileNameLayout: true,
  fileNameFallback: true,
  cloudId: true,
});
export type XdrCadoHandoff = z.infer<typeof XdrCadoHandoff>;

/** Output of the XDR import and of Check Cado following it. */
export const XdrHandedOff = XdrAgentStart.extend({ xdr: XdrCollection, cado: XdrCadoHandoff, poll: Poll });
export type XdrHandedOff = z.infer<typeof XdrHandedOff>;

/** What Check Cado follows: an S3 import of our staged evidence, or an XDR import. */
export const CadoFollowed = z.union([HandedOff, XdrHandedOff]);
export type CadoFollowed = z.infer<typeof CadoFollowed>;

/** What Hand To Cado starts from: staged evidence (S3 import) or an agent to collect through Cado (XDR import). */
export const HandToCadoInput = z.union([StagedEvidence, XdrAgentStart]);
export type HandToCadoInput = z.infer<typeof HandToCadoInput>;

/** What Step Functions puts at a Catch's ResultPath. */
export const CaughtError = z.looseObject({ Error: z.string(), Cause: z.string().optional() });
export type CaughtError = z.infer<typeof CaughtError>;

/** Output of Cancel Task. */
export const CancelInfo = z.object({
  attempted: z.boolean(),
  affected: z.number().int().nonnegative(),
  unsupported: z.boolean(),
  at: z.string(),
  reason: z.string().optional(),
});
export type CancelInfo = z.infer<typeof CancelInfo>;

/**
 * Whatever an agent's branch ended with: any stage of the growing state, plus a caught `error` (collection
 * failed) or `handoffError` (evidence staged, Cado failed) and a `cancel` record (or `cancelError`) after a deadline.
 */
export const AgentFinalState = z.looseObject({
  investigation: Investigation.optional(),
  target: CollectionTarget.partial({ script: true }).optional(),
  task: CheckedTask.shape.task.partial().optional(),
  evidence: Evidence.optional(),
  cado: z.union([CadoHandoff, XdrCadoHandoff]).optional(),
  /** Mode cado-xdr: Cado collected; no evidence of ours. */
  xdr: XdrCollection.optional(),
  error: CaughtError.optional(),
  handoffError: CaughtError.optional(),
  cancel: CancelInfo.optional(),
  /** Cancel Task itself failed (caught at `$.cancelError`): recorded in case.json with the timed-out agent. */
  cancelError: CaughtError.optional(),
});
export type AgentFinalState = z.infer<typeof AgentFinalState>;

/** The S3 hand-off of a branch's state (undefined for an XDR import, which has no staged evidence of ours). */
export function s3Handoff(cado: AgentFinalState['cado']): CadoHandoff | undefined {
  return cado && 'fileNameForm' in cado ? cado : undefined;
}

/** Input of Record Outcome: everything known when the investigation ends. */
export const OutcomeInput = z.looseObject({
  investigation: Investigation.optional(),
  /** Raw execution facts, for when the run failed before Resolve Targets produced an Investigation. */
  execution: ExecutionContext.optional(),
  input: z.unknown().optional(),
  targets: z.array(z.unknown()).optional(),
  rejected: z.array(RejectedTarget).optional(),
  scripts: z.array(ScriptRef).optional(),
  results: z.array(AgentFinalState).optional(),
  error: CaughtError.optional(),
});
export type OutcomeInput = z.infer<typeof OutcomeInput>;

// ---- the hand-off re-run (the HandOffRerun state machine) ------------------------------------------------------

/** What `s1cado handoff` (or the console) puts into a HandOffRerun StartExecution. */
export const HandoffRerunInput = z.strictObject({
  /** The investigation whose staged evidence is handed to Cado again. */
  investigationId: InvestigationId,
  /** Who asks; kept in the manifests' timeline and in case.json's `handoffReruns`. */
  requestedBy: z.string().trim().min(1, 'say who requested the re-run').max(256),
});
export type HandoffRerunInput = z.infer<typeof HandoffRerunInput>;

/** What `s1cado cancel` sends the cancel-investigation Lambda. */
export const CancelInvestigationInput = z.strictObject({
  investigationId: InvestigationId,
  /** Why; recorded in cancellation.json and the S1 threat note. */
  reason: z.string().trim().min(1, 'say why the investigation is cancelled').max(1024),
  /** Who asks (the CLI sends the caller's identity); recorded likewise. */
  requestedBy: z.string().trim().min(1, 'say who cancels').max(256),
});
export type CancelInvestigationInput = z.infer<typeof CancelInvestigationInput>;

/** What `s1cado backfill` sends the backfill-threats Lambda: threats created in (since, until]. */
export const BackfillInput = z
  .strictObject({
    since: z.iso.datetime({ offset: true }),
    until: z.iso.datetime({ offset: true }),
    /** List what would be started; put no event. */
    dryRun: z.boolean().default(false),
    requestedBy: z.string().trim().min(1).max(256),
  })
  .refine((input) => Date.parse(input.since) < Date.parse(input.until), {
    message: 'since must be before until',
    path: ['since'],
  });
export type BackfillInput = z.infer<typeof BackfillInput>;

/** One run of the re-run machine, as every step after Find Staged Evidence sees it. */
export const RerunInfo = z.object({
  at: z.string(),
  by: z.string(),
  executionName: z.string().optional(),
});
export type RerunInfo = z.infer<typeof RerunInfo>;

/** Staged evidence that is not handed off again, and why (its object is missing or no longer the manifest's). */
export const RefusedEvidence = z.object({
  agentId: z.string(),
  computerName: z.string().optional(),
  manifestKey: z.string(),
  reason: z.string(),
});
export type RefusedEvidence = z.infer<typeof RefusedEvidence>;

/**
 * A collection to hand off again: the Hand To Cado input rebuilt from its manifest, or, when a pipeline that the
 * investigation (or an earlier re-run) started may still be running, the Check Cado input that follows it.
 */
export const RerunItem = z.union([HandedOff, StagedEvidence]);
export type RerunItem = z.infer<typeof RerunItem>;

/** Output of Find Staged Evidence. */
export const StagedForRerun = z.object({
  investigation: Investigation,
  rerun: RerunInfo,
  staged: z.array(RerunItem),
  refused: z.array(RefusedEvidence),
});
export type StagedForRerun = z.infer<typeof StagedForRerun>;
