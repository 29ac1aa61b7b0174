/**
 * The simulator's data model. Records are plain mutable objects kept in {@link SimState} maps keyed by id;
 * tests may change them directly (e.g. take an agent offline) and the next request sees the change.
 *
 * All ids are 19-digit decimal strings, as S1 sends them (they exceed 2^53, so never numbers).
 * Times are epoch milliseconds of the simulator's clock; the routes render them as ISO-8601 with microseconds.
 */
import type { Permission } from './permissions';

/** Operating systems RemoteOps knows (`osTypes` of scripts, `osType` of agents). */
export type OsType = 'windows' | 'linux' | 'macos';

/** RemoteOps script types; each needs its own run/cancel permission. */
export type ScriptType = 'action' | 'artifactCollection' | 'dataCollection';

/** Scope of a user or a role: `tenant` is what the console calls "global". */
export type UserScope = 'tenant' | 'account' | 'site';

/** Task status values of `GET /remote-scripts/status`. */
export type TaskStatus =
  | 'created'
  | 'scheduled'
  | 'pending'
  | 'pending_user_action'
  | 'in_progress'
  | 'completed'
  | 'partially_completed'
  | 'failed'
  | 'canceled'
  | 'expired';

/**
 * How an agent behaves when a script task reaches it.
 * - `complete`: completes successfully with a result file (default for online agents).
 * - `fail`: ends as `failed`.
 * - `completedWithFailure`: `completed` but detailedStatus "The execution terminated in failure", no file.
 * - `completedWithFailureAndResult`: the same, but the collector's output exists (a result file, as other
 *   integrations expect after a non-zero exit).
 * - `expire`: never picked up; `pending` until the expiry window, then `expired` (default for offline agents).
 * - `cancel`: canceled by a console user while pending ("Execution canceled by user").
 * - `hang`: `in_progress` forever.
 * - `noResultFile`: completes successfully but produces no result file.
 */
export type AgentProfile =
  | 'complete'
  | 'fail'
  | 'completedWithFailure'
  | 'completedWithFailureAndResult'
  | 'expire'
  | 'cancel'
  | 'hang'
  | 'noResultFile';

/** One file to place in a result zip. */
export interface ZipEntryInput {
  /** Path inside the archive (relative, forward slashes). */
  readonly name: string;
  readonly content: Buffer;
}

/**
 * What a completed task's result zip contains: either `size` bytes of deterministic pseudo-random data in one
 * entry (generated on demand, never held in memory), or the given entries (e.g. a collector's real output).
 */
export type ResultSpec =
  | {
      readonly size: number;
      readonly entryName?: string;
      /**
       * Shape the result like the real collector's output: the generated data as one file of a
       * `s1cado-<os>-triage/` folder with a few small files, `collection.log` and a `SHA256SUMS` of all of them.
       */
      readonly collector?: boolean;
    }
  | { readonly entries: ZipEntryInput[] }
  /**
   * The agent runs the script: `run` gets the task's input parameters as RemoteOps passes them (one string) and
   * answers the files the script left in its output directory, which become the result. Called once, when the task
   * starts (tests run a real collector this way, e.g. one that uploads to S3 itself).
   */
  | {
      readonly run: (task: {
        readonly taskId: string;
        readonly inputParams: string;
      }) => Promise<ZipEntryInput[]>;
    };

/** Per-agent task behaviour; every field is optional and falls back to the simulator's defaults. */
export interface AgentBehavior {
  profile?: AgentProfile;
  /** Time from task creation until the agent picks the task up (created → pending → in_progress). */
  pickupMs?: number;
  /** Time the script runs (in_progress) before it reaches its terminal state. */
  runMs?: number;
  /** Content of the result zip. */
  result?: ResultSpec;
}

/** Approval guardrail of a site: when it applies, execute answers `pending: true` instead of running. */
export interface Guardrail {
  enabled: boolean;
  /** Script types that need approval; empty = all types. */
  scriptTypes: ScriptType[];
  /** Approval is needed when at least this many endpoints are targeted (1 = always). */
  endpointsQuantity: number;
}

export interface Account {
  id: string;
  name: string;
  createdAt: number;
}

export interface Site {
  id: string;
  name: string;
  accountId: string;
  /** The default group of the site (agents belong to it). */
  groupId: string;
  state: 'active' | 'expired' | 'deleted';
  /** Licence SKU shown in `/sites` (`Core`, `Control`, `Complete`, ...). */
  sku: string;
  /** Whether the `rso` (Remote Script Orchestration) licence module is present. */
  rso: boolean;
  /** Whether `/sites` shows the `licenses` block at all (false: the record says nothing about licences). */
  licenceData: boolean;
  guardrail: Guardrail;
  totalLicenses: number;
  createdAt: number;
}

export interface Agent {
  id: string;
  /** 32 lower-case hex characters. */
  uuid: string;
  computerName: string;
  osType: OsType;
  osName: string;
  osRevision: string;
  machineType: 'desktop' | 'laptop' | 'server' | 'kubernetes node';
  isActive: boolean;
  isDecommissioned: boolean;
  isUninstalled: boolean;
  networkStatus: 'connected' | 'disconnected' | 'connecting' | 'disconnecting';
  agentVersion: string;
  siteId: string;
  accountId: string;
  groupId: string;
  externalIp: string;
  lastActiveDate: number;
  /** Scenario switch: how tasks on this agent play out. */
  behavior: AgentBehavior;
}

/** Stored threat fields; the route renders the full S1 threat object around them. */
export interface Threat {
  id: string;
  agentId: string;
  threatName: string;
  classification: string;
  classificationSource: string;
  confidenceLevel: 'malicious' | 'suspicious' | 'n/a';
  analystVerdict: string;
  incidentStatus: string;
  mitigationStatus: string;
  detectionType: string;
  initiatedBy: string;
  filePath: string;
  sha1: string;
  sha256: string | null;
  storyline: string;
  processUser: string;
  createdAt: number;
  updatedAt: number;
  /** Agent version at detection time (for `agentDetectionInfo`). */
  detectionAgentVersion: string;
}

export interface ThreatNote {
  id: string;
  threatId: string;
  text: string;
  creatorId: string;
  creator: string;
  createdAt: number;
}

export interface Script {
  id: string;
  scriptName: string;
  scriptType: ScriptType;
  scriptDescription: string | null;
  osTypes: OsType[];
  inputRequired: boolean;
  inputExample: string | null;
  inputInstructions: string | null;
  scriptRuntimeTimeoutSeconds: number;
  scopeLevel: 'global' | 'account' | 'site';
  /** Account or site id; null for global scripts. */
  scopeId: string | null;
  fileName: string;
  content: Buffer;
  /**
   * What `GET /remote-scripts` reports as `signature`: SHA-256 hex of `content` unless a test planted something
   * else (null, empty, SHA-1-shaped, base64) through {@link ScriptSignatureShape}.
   */
  signature: string | null;
  /** What it reports as `signatureType` (`SHA256`, or `SHA-256` like S1's own built-in scripts). */
  signatureType: string;
  /** `SentinelOne` for built-in library scripts. */
  creator: string;
  /** `-1` for built-in library scripts. */
  creatorId: string;
  createdAt: number;
  updatedAt: number;
  version: string;
}

/** One `POST /remote-scripts/execute` call that started tasks. */
export interface ParentTask {
  id: string;
  scriptId: string;
  description: string;
  initiatedById: string;
  initiatedBy: string;
  createdAt: number;
  childIds: string[];
}

/** The per-agent task (its id is what fetch-files takes). */
export interface ChildTask {
  id: string;
  parentTaskId: string;
  agentId: string;
  scriptId: string;
  scriptType: ScriptType;
  description: string;
  inputParams: string;
  outputDestination: string;
  runtimeTimeoutSeconds: number;
  initiatedById: string;
  initiatedBy: string;
  createdAt: number;
  /** Behaviour captured from the agent when the task was created (later agent changes do not alter it). */
  profile: AgentProfile;
  pickupMs: number;
  runMs: number;
  result: ResultSpec;
  /** Set by `POST /private/tasks/cancel-task` while the task was not yet delivered. */
  canceledAt: number | null;
}

/** An execution waiting for approval (guardrail). */
export interface PendingExecution {
  id: string;
  state: 'waiting' | 'approved' | 'declined' | 'expired';
  scriptId: string;
  agentIds: string[];
  executionData: Record<string, unknown>;
  creatorId: string;
  creator: string;
  reviewerId: string | null;
  createdAt: number;
  /** Parent task started when the execution was approved. */
  parentTaskId: string | null;
}

export interface Role {
  id: string;
  name: string;
  description: string;
  scope: UserScope;
  /** Account or site id of the role's scope; null for tenant. */
  scopeId: string | null;
  predefinedRole: boolean;
  permissions: Set<Permission>;
  createdAt: number;
}

export interface User {
  id: string;
  fullName: string;
  email: string | null;
  /** Service users are API-only users (`source: "mgmt"`). */
  isServiceUser: boolean;
  scope: UserScope;
  /** Account id (account scope) or site id (site scope); null for tenant scope. */
  scopeId: string | null;
  roleId: string;
  createdAt: number;
}

export interface ApiTokenRecord {
  /** Internal id, safe to print (the token itself is not). */
  id: string;
  token: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
  /** Replaced by {@link S1Simulator.rotateToken} or revoked by a test. */
  revoked: boolean;
}

/** A record of every execute call, so tests can prove that no unscoped execution ever happened. */
export interface ExecutionRecord {
  at: number;
  userId: string;
  scriptId: string;
  /** The filter exactly as sent. */
  filter: unknown;
  /** True when the filter selected agents by nothing at all (every agent in scope). */
  emptyFilter: boolean;
  /** Agents matched by the filter before eligibility checks. */
  matchedAgentIds: string[];
  /** Agents a task was (or would be, when pending) created for. */
  eligibleAgentIds: string[];
  parentTaskId: string | null;
  pendingExecutionId: string | null;
}
