/**
 * The simulator's state: API keys, projects, evidence, imports and pipelines, and the pipeline lifecycle.
 *
 * Pipelines never run on timers. Their state is a pure function of the simulated time (`clock()`), the plan
 * fixed when they were created (durations, subtasks, outcome) and an abort time if one was requested, so a
 * test that moves an injected clock sees exactly the state that time implies. Child *processing* pipelines
 * appear when `sync(now)` is called (the server does it before every request, `sim.state` does it on access).
 */
import type { CadoRole } from './roles';

/** Pipeline kinds the simulator creates (a subset of Cado's `type` enum). */
export type PipelineType = 'acquisition' | 'processing';

/** v3 `status` of a pipeline (platforms ≥ 2.269.0). */
export type PipelineStatus = 'queued' | 'in_progress' | 'complete' | 'failed' | 'cancelled';

/** State of one subtask. */
export type SubtaskState = 'PENDING' | 'RUNNING' | 'SUCCESS' | 'FAILURE' | 'CANCELLED';

/**
 * How a pipeline ends. The string forms use the defaults; `subtask` is the index (within the pipeline's own
 * phase: acquisition or processing) of the subtask that fails or is cancelled.
 */
export type PipelineOutcome =
  | 'complete'
  | 'failed'
  | 'cancelled'
  | { readonly kind: 'complete' }
  | { readonly kind: 'failed'; readonly progressText?: string; readonly subtask?: number }
  | { readonly kind: 'cancelled'; readonly subtask?: number };

/** An outcome with every default filled in. */
export interface ResolvedOutcome {
  readonly kind: 'complete' | 'failed' | 'cancelled';
  /** Text of the failing subtask's `progress_text` (failed only). */
  readonly progressText: string;
  /** Index into the pipeline's subtasks where the outcome strikes (ignored for complete). */
  readonly subtask: number;
}

/** Subtasks of an acquisition pipeline (S3 import). */
export const ACQUISITION_SUBTASKS: readonly string[] = [
  'Validate import request',
  'Download from S3',
  'Verify acquired evidence',
];

/** Subtasks of a processing pipeline. */
export const PROCESSING_SUBTASKS: readonly string[] = [
  'Start worker',
  'Extract evidence',
  'Parse artifacts',
  'Build timeline',
  'Run detections',
];

/** Index of the S3 download subtask inside an acquisition (or combined) pipeline. */
export const DOWNLOAD_SUBTASK = 1;

const DEFAULT_TEXT = {
  acquisition: 'Failed to acquire evidence from S3',
  processing: 'Failed to extract evidence: archive was encrypted',
} as const;

/** Fills in the defaults of an outcome for a pipeline phase. */
export function resolveOutcome(outcome: PipelineOutcome, phase: PipelineType): ResolvedOutcome {
  const spec = typeof outcome === 'string' ? { kind: outcome } : outcome;
  const subtasks = phase === 'acquisition' ? ACQUISITION_SUBTASKS : PROCESSING_SUBTASKS;
  const requested = 'subtask' in spec && spec.subtask !== undefined ? spec.subtask : 1;
  return {
    kind: spec.kind,
    progressText: ('progressText' in spec ? spec.progressText : undefined) ?? DEFAULT_TEXT[phase],
    subtask: Math.min(Math.max(0, Math.trunc(requested)), subtasks.length - 1),
  };
}

/** One API key and the user it acts as. */
export interface ApiKeyRecord {
  /** The secret key (the Bearer token). */
  key: string;
  readonly role: CadoRole;
  /** Whether the user behind the key accepted the EULA (reported by whoami). */
  eulaAgreed: boolean;
  /** A revoked key answers 401; the record stays so pipelines keep their user. */
  revoked: boolean;
  readonly userId: number;
  readonly username: string;
  readonly displayName: string;
}

/** A project (investigation). */
export interface ProjectRecord {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  /** Epoch ms. */
  readonly created: number;
  readonly createdBy: number;
}

/** One piece of evidence an import created. */
export interface EvidenceRecord {
  readonly id: number;
  readonly projectId: number;
  /** The evidence name Cado shows: the object key, or `bucket/prefix` for a whole-bucket import. */
  readonly name: string;
  readonly bucket: string;
  /** Object key; undefined for a whole-bucket or whole-prefix import. */
  readonly key?: string;
  /** Bytes Cado found in S3 (only when the simulator checks S3). */
  sizeBytes?: number;
  /** Whether the object was found (only when the simulator checks S3). */
  found?: boolean;
  /** Digests of the bytes Cado read (only when the behaviour reports an evidence hash). */
  digests?: { sha256: string; md5: string };
}

/** What one `POST /api/v3/import/aws/s3` asked for, as received. Tests assert on these. */
export interface ImportRecord {
  readonly id: number;
  /** Epoch ms (simulated). */
  readonly at: number;
  readonly projectId: number;
  readonly bucket: string;
  /** `file_name` exactly as sent (string, array or undefined). */
  readonly fileName: unknown;
  /** Object keys the import resolved to (empty for a whole-bucket import). */
  readonly keys: readonly string[];
  readonly prefix?: string;
  readonly cloudId?: string;
  /** True when `file_name` was absent or empty: Cado would import the whole bucket or prefix. */
  readonly wholeBucket: boolean;
  readonly userId: number;
  readonly role: CadoRole;
  readonly pipelineId: number;
  readonly evidenceIds: readonly number[];
}

/** What a pipeline will do, fixed at creation. */
export interface PipelinePlan {
  readonly queuedMs: number;
  readonly runMs: number;
  readonly subtasks: readonly string[];
  readonly outcome: ResolvedOutcome;
}

/** A stored pipeline. Its visible state comes from {@link pipelineSnapshot}. */
export interface PipelineRecord {
  readonly id: number;
  readonly type: PipelineType;
  readonly name: string;
  readonly projectId: number;
  readonly evidenceId: number;
  readonly userId: number;
  /** Epoch ms (simulated). */
  readonly created: number;
  readonly plan: PipelinePlan;
  readonly triggeringPipelineId?: number;
  /** Plan of the processing pipeline this one spawns when it completes, if any. */
  readonly child?: PipelinePlan & { readonly spawnDelayMs: number };
  childId?: number;
  /** When an abort was requested (`PATCH {aborted:true}`), epoch ms. */
  abortedAt?: number;
}

/** A cloud account (the `cloud_id` an import may name), or an XDR account (the `account_name` of an XDR import). */
export interface CloudAccountRecord {
  readonly name: string;
  readonly type: 'aws' | 'sentinelone';
  /** SentinelOne: the console URL Cado calls (`credential_data.endpoint` of `POST /api/v3/accounts`). */
  readonly endpoint?: string;
  /** SentinelOne: the API token Cado sends (`credential_data.token`). Test-only. */
  readonly token?: string;
  /** What `GET /api/v3/accounts` reports as `public_identifier` (the spec does not say what it is for S1). */
  readonly publicIdentifier?: string;
}

/** Subtasks of an XDR acquisition: Cado runs Cado Host through SentinelOne and waits for its upload. */
export const XDR_ACQUISITION_SUBTASKS: readonly string[] = [
  'Validate import request',
  'Deploy Cado Host through SentinelOne',
  'Wait for Cado Host upload',
];

/** One `POST /api/v3/import/xdr`, as the simulator recorded it. */
export interface XdrImportRecord {
  readonly at: number;
  readonly projectId: number;
  readonly accountName: string;
  readonly deviceId: string;
  readonly hostname: string;
  readonly hostOptions: Record<string, unknown>;
  readonly pipelineId: number;
  readonly evidenceId: number;
}

/** Everything {@link CadoState.createXdrImport} needs. */
export interface XdrImportPlan extends Omit<XdrImportRecord, 'pipelineId' | 'evidenceId'> {
  readonly userId: number;
  readonly queuedMs: number;
  readonly acquisitionMs: number;
  readonly processingMs: number;
  readonly childSpawnDelayMs: number;
  readonly acquisition: ResolvedOutcome;
  readonly processing: ResolvedOutcome;
}

/** One subtask as of a given time. */
export interface SubtaskSnapshot {
  readonly index: number;
  readonly name: string;
  readonly state: SubtaskState;
  readonly progressText: readonly string[];
  readonly startTime?: number;
  readonly finishTime?: number;
}

/** A pipeline as of a given time. */
export interface PipelineSnapshot {
  readonly status: PipelineStatus;
  readonly terminal: boolean;
  readonly aborted: boolean;
  readonly startTime?: number;
  readonly finishTime?: number;
  readonly subtasks: readonly SubtaskSnapshot[];
}

interface Ending {
  readonly kind: ResolvedOutcome['kind'];
  readonly at: number;
  /** Subtask the ending strikes (failed/cancelled). */
  readonly strike: number;
  readonly aborted: boolean;
}

/** How and when a pipeline ends, given its plan and any abort request. */
function ending(p: PipelineRecord): Ending {
  const { queuedMs, runMs, subtasks, outcome } = p.plan;
  const start = p.created + queuedMs;
  const slice = runMs / subtasks.length;
  const planned: Ending =
    outcome.kind === 'complete'
      ? { kind: 'complete', at: start + runMs, strike: subtasks.length, aborted: false }
      : {
          kind: outcome.kind,
          at: start + (outcome.subtask + 1) * slice,
          strike: outcome.subtask,
          aborted: outcome.kind === 'cancelled',
        };
  if (p.abortedAt === undefined || p.abortedAt >= planned.at) return planned;
  const running = p.abortedAt < start || slice === 0 ? 0 : Math.floor((p.abortedAt - start) / slice);
  return {
    kind: 'cancelled',
    at: p.abortedAt,
    strike: Math.min(running, subtasks.length - 1),
    aborted: true,
  };
}

/** The pipeline's visible state at `now`. */
export function pipelineSnapshot(p: PipelineRecord, now: number): PipelineSnapshot {
  const { queuedMs, runMs, subtasks } = p.plan;
  const start = p.created + queuedMs;
  const slice = runMs / subtasks.length;
  const end = ending(p);
  const times = (i: number, finished: boolean) => ({
    startTime: Math.round(start + i * slice),
    ...(finished ? { finishTime: Math.round(Math.min(start + (i + 1) * slice, end.at)) } : {}),
  });
  if (now < end.at) {
    const queued = now < start;
    const current = queued ? -1 : Math.min(Math.floor((now - start) / slice), subtasks.length - 1);
    return {
      status: queued ? 'queued' : 'in_progress',
      terminal: false,
      aborted: false,
      ...(queued ? {} : { startTime: start }),
      subtasks: subtasks.map((name, index) => {
        if (index < current)
          return { index, name, state: 'SUCCESS', progressText: [], ...times(index, true) };
        if (index === current)
          return { index, name, state: 'RUNNING', progressText: [], ...times(index, false) };
        return { index, name, state: 'PENDING', progressText: [] };
      }),
    };
  }
  // A pipeline aborted while still queued never started: no start time, every subtask CANCELLED untouched.
  const started = end.kind !== 'cancelled' || end.at > start;
  return {
    status: end.kind,
    terminal: true,
    aborted: end.aborted,
    ...(started ? { startTime: start } : {}),
    finishTime: end.at,
    subtasks: subtasks.map((name, index): SubtaskSnapshot => {
      if (index < end.strike)
        return { index, name, state: 'SUCCESS', progressText: [], ...times(index, true) };
      if (index === end.strike && end.kind === 'failed') {
        return {
          index,
          name,
          state: 'FAILURE',
          progressText: [p.plan.outcome.progressText],
          ...times(index, true),
        };
      }
      if (index === end.strike && end.kind === 'cancelled' && started) {
        return { index, name, state: 'CANCELLED', progressText: ['Cancelled'], ...times(index, true) };
      }
      return { index, name, state: end.kind === 'complete' ? 'SUCCESS' : 'CANCELLED', progressText: [] };
    }),
  };
}

/** Counts of subtask states, as in the v3 `summary` block. */
export function summarize(
  snapshot: PipelineSnapshot,
): Record<'total' | 'success' | 'failure' | 'pending' | 'running' | 'cancelled', number> {
  const count = (state: SubtaskState) => snapshot.subtasks.filter((s) => s.state === state).length;
  return {
    total: snapshot.subtasks.length,
    success: count('SUCCESS'),
    failure: count('FAILURE'),
    pending: count('PENDING'),
    running: count('RUNNING'),
    cancelled: count('CANCELLED'),
  };
}

/** Raised by the model for a request that conflicts with its state (the server answers 409). */
export class ProjectNameTakenError extends Error {
  override readonly name = 'ProjectNameTakenError';
}

/** Everything {@link CadoState.createImport} needs to lay out the pipelines of one import. */
export interface ImportPlan {
  readonly projectId: number;
  readonly bucket: string;
  readonly fileName: unknown;
  readonly keys: readonly string[];
  readonly prefix?: string;
  readonly cloudId?: string;
  readonly user: ApiKeyRecord;
  readonly now: number;
  /** Sizes found in S3 by key (the prefix total under `''` for a whole-bucket import); absent: S3 not checked. */
  readonly found?: ReadonlyMap<string, number>;
  /** Digests of the bytes read, by key, when the behaviour reports an evidence hash. */
  readonly digests?: ReadonlyMap<string, { sha256: string; md5: string }>;
  readonly queuedMs: number;
  readonly acquisitionMs: number;
  readonly processingMs: number;
  readonly childPipelines: boolean;
  readonly childSpawnDelayMs: number;
  readonly acquisition: ResolvedOutcome;
  readonly processing: ResolvedOutcome;
}

/** The mutable, typed model behind the simulator. Maps are keyed by id (API keys by the key). */
export class CadoState {
  readonly keys = new Map<string, ApiKeyRecord>();
  readonly projects = new Map<number, ProjectRecord>();
  readonly evidences = new Map<number, EvidenceRecord>();
  readonly pipelines = new Map<number, PipelineRecord>();
  readonly imports: ImportRecord[] = [];
  readonly accounts = new Map<string, CloudAccountRecord>();
  readonly xdrImports: XdrImportRecord[] = [];

  // Distinct id ranges, so a client that mixes up project, evidence and pipeline ids gets a 404, not luck.
  private nextUserId = 1;
  private nextProjectId = 1;
  private nextEvidenceId = 501;
  private nextPipelineId = 1001;

  /** Registers an API key. */
  addKey(key: string, role: CadoRole, eulaAgreed = true): ApiKeyRecord {
    const userId = this.nextUserId++;
    const record: ApiKeyRecord = {
      key,
      role,
      eulaAgreed,
      revoked: false,
      userId,
      username: `api-user-${userId}`,
      displayName: `API key ${userId} (${role})`,
    };
    this.keys.set(key, record);
    return record;
  }

  /** Creates a project; throws {@link ProjectNameTakenError} when the name is taken. */
  createProject(name: string, description: string, createdBy: number, now: number): ProjectRecord {
    for (const project of this.projects.values()) {
      if (project.name === name) throw new ProjectNameTakenError(`Project name already exists: ${name}`);
    }
    const project: ProjectRecord = { id: this.nextProjectId++, name, description, created: now, createdBy };
    this.projects.set(project.id, project);
    return project;
  }

  /** Records an import and creates its evidence and first pipeline. */
  createImport(plan: ImportPlan): ImportRecord {
    const wholeBucket = plan.keys.length === 0;
    const names = wholeBucket ? [`${plan.bucket}/${plan.prefix ?? ''}`] : plan.keys;
    const evidenceIds = names.map((name, i) => {
      const key = wholeBucket ? undefined : plan.keys[i];
      const size = plan.found?.get(key ?? '');
      const evidence: EvidenceRecord = {
        id: this.nextEvidenceId++,
        projectId: plan.projectId,
        name,
        bucket: plan.bucket,
        ...(key === undefined ? {} : { key }),
        ...(plan.found ? { found: size !== undefined } : {}),
        ...(size === undefined ? {} : { sizeBytes: size }),
      };
      const digests = key === undefined ? undefined : plan.digests?.get(key);
      if (digests) evidence.digests = digests;
      this.evidences.set(evidence.id, evidence);
      return evidence.id;
    });
    const evidenceId = evidenceIds[0] as number;
    const evidenceName = names[0] as string;
    const pipeline = plan.childPipelines
      ? this.addPipeline({
          type: 'acquisition',
          name: `Acquisition: ${evidenceName}`,
          projectId: plan.projectId,
          evidenceId,
          userId: plan.user.userId,
          created: plan.now,
          plan: {
            queuedMs: plan.queuedMs,
            runMs: plan.acquisitionMs,
            subtasks: ACQUISITION_SUBTASKS,
            outcome: plan.acquisition,
          },
          child: {
            queuedMs: plan.queuedMs,
            runMs: plan.processingMs,
            subtasks: PROCESSING_SUBTASKS,
            outcome: plan.processing,
            spawnDelayMs: plan.childSpawnDelayMs,
          },
        })
      : this.addPipeline({
          // Without child pipelines one processing pipeline downloads and processes, as in Cado's real v2 example.
          type: 'processing',
          name: `Processing: ${evidenceName}`,
          projectId: plan.projectId,
          evidenceId,
          userId: plan.user.userId,
          created: plan.now,
          plan: {
            queuedMs: plan.queuedMs,
            runMs: plan.acquisitionMs + plan.processingMs,
            subtasks: [...ACQUISITION_SUBTASKS, ...PROCESSING_SUBTASKS],
            outcome:
              plan.acquisition.kind !== 'complete'
                ? plan.acquisition
                : { ...plan.processing, subtask: plan.processing.subtask + ACQUISITION_SUBTASKS.length },
          },
        });
    const record: ImportRecord = {
      id: this.imports.length + 1,
      at: plan.now,
      projectId: plan.projectId,
      bucket: plan.bucket,
      fileName: plan.fileName,
      keys: plan.keys,
      ...(plan.prefix === undefined ? {} : { prefix: plan.prefix }),
      ...(plan.cloudId === undefined ? {} : { cloudId: plan.cloudId }),
      wholeBucket,
      userId: plan.user.userId,
      role: plan.user.role,
      pipelineId: pipeline.id,
      evidenceIds,
    };
    this.imports.push(record);
    return record;
  }

  /**
   * Records an XDR import: an evidence named like a Cado Host upload of the device (the real naming is not
   * documented; this one names the host, which is what a client can match on), an acquisition pipeline naming the
   * device, and its processing child.
   */
  createXdrImport(plan: XdrImportPlan): XdrImportRecord {
    const evidence: EvidenceRecord = {
      id: this.nextEvidenceId++,
      projectId: plan.projectId,
      name: `cado-host-capture-${plan.hostname}-${Math.floor(plan.at / 1000)}.tar.lz4`,
      bucket: 'cado-collector',
    };
    this.evidences.set(evidence.id, evidence);
    const pipeline = this.addPipeline({
      type: 'acquisition',
      name: `XDR acquisition: SentinelOne ${plan.hostname} (${plan.deviceId})`,
      projectId: plan.projectId,
      evidenceId: evidence.id,
      userId: plan.userId,
      created: plan.at,
      plan: {
        queuedMs: plan.queuedMs,
        runMs: plan.acquisitionMs,
        subtasks: XDR_ACQUISITION_SUBTASKS,
        outcome: plan.acquisition,
      },
      child: {
        queuedMs: plan.queuedMs,
        runMs: plan.processingMs,
        subtasks: PROCESSING_SUBTASKS,
        outcome: plan.processing,
        spawnDelayMs: plan.childSpawnDelayMs,
      },
    });
    const record: XdrImportRecord = {
      at: plan.at,
      projectId: plan.projectId,
      accountName: plan.accountName,
      deviceId: plan.deviceId,
      hostname: plan.hostname,
      hostOptions: plan.hostOptions,
      pipelineId: pipeline.id,
      evidenceId: evidence.id,
    };
    this.xdrImports.push(record);
    return record;
  }

  /** Spawns every child processing pipeline that is due by `now`, in the order they fell due. */
  sync(now: number): void {
    const due: { parent: PipelineRecord; at: number }[] = [];
    for (const parent of this.pipelines.values()) {
      if (!parent.child || parent.childId !== undefined) continue;
      const end = ending(parent);
      const at = end.at + parent.child.spawnDelayMs;
      if (end.kind === 'complete' && at <= now) due.push({ parent, at });
    }
    due.sort((a, b) => a.at - b.at || a.parent.id - b.parent.id);
    for (const { parent, at } of due) {
      const { spawnDelayMs: _, ...plan } = parent.child as NonNullable<PipelineRecord['child']>;
      const evidence = this.evidences.get(parent.evidenceId);
      const child = this.addPipeline({
        type: 'processing',
        name: `Processing: ${evidence?.name ?? parent.evidenceId}`,
        projectId: parent.projectId,
        evidenceId: parent.evidenceId,
        userId: parent.userId,
        created: at,
        plan,
        triggeringPipelineId: parent.id,
      });
      parent.childId = child.id;
    }
  }

  private addPipeline(init: Omit<PipelineRecord, 'id'>): PipelineRecord {
    const pipeline: PipelineRecord = { id: this.nextPipelineId++, ...init };
    this.pipelines.set(pipeline.id, pipeline);
    return pipeline;
  }
}
