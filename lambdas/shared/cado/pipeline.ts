/**
 * Cado pipelines as this project sees them, and the pure rules that decide when processing has ended and how
 * (reference/cado-api.md §3.2 "Terminal-state rule"):
 * 1. when the pipeline reports `status` (platforms ≥ 2.269.0) it decides;
 * 2. otherwise `terminated` or `aborted` means it ended, and the subtask counts say how: any failure → failed,
 *    else any cancellation (or an abort) → cancelled, else complete.
 * Once an import's pipeline has completed, the child pipelines it triggered decide the overall outcome.
 */
import { redact } from '../redact';
import type { RawPipeline } from './schemas';

/** Subtask counts, as in the pipeline's `summary` block. */
export interface PipelineSummary {
  readonly total: number;
  readonly success: number;
  readonly failure: number;
  readonly pending: number;
  readonly running: number;
  readonly cancelled: number;
}

/** One step of a pipeline. */
export interface CadoSubtask {
  readonly name: string;
  /** Upper-cased: `PENDING`, `RUNNING`, `SUCCESS`, `FAILURE`, `CANCELLED` (others are kept as sent). */
  readonly state: string;
  /** Human-readable messages, e.g. "archive was encrypted" (empty in list items). */
  readonly progressText: readonly string[];
}

/** A pipeline, normalised across platform releases. */
export interface CadoPipeline {
  readonly id: number;
  /** `acquisition`, `processing`, …; undefined when the platform did not say. */
  readonly type: string | undefined;
  readonly name: string | undefined;
  /** v3 `status` (≥ 2.269.0): `queued`, `in_progress`, `complete`, `failed`, `cancelled`; absent on older platforms. */
  readonly status: string | undefined;
  readonly terminated: boolean;
  readonly aborted: boolean;
  /** The reported summary, or one counted from the subtasks when the platform sent none. */
  readonly summary: PipelineSummary;
  readonly subtasks: readonly CadoSubtask[];
  readonly evidence: { readonly id: number; readonly name: string | undefined } | undefined;
  readonly project: { readonly id: number; readonly name: string | undefined } | undefined;
  /** The pipeline that started this one (child pipelines only). */
  readonly triggeringPipelineId: number | undefined;
  /** When it finished (epoch ms): the pipeline's `finish_time` or its last subtask's; undefined while unknown. */
  readonly finishedAt: number | undefined;
}

/** Where a pipeline stands. `running` covers queued and in progress. */
export type PipelineState = 'running' | 'complete' | 'failed' | 'cancelled';

/** The verdict on one pipeline. */
export interface PipelineClassification {
  readonly state: PipelineState;
  /** One line for logs, the manifest and people: why, built from the failing subtasks' `progress_text`. */
  readonly reason: string;
}

/** A pipeline id with its verdict, as reported by {@link combineOutcome}. */
export interface ClassifiedPipeline extends PipelineClassification {
  readonly id: number;
  readonly type: string | undefined;
  readonly evidenceId: number | undefined;
}

/** The outcome of an import: its pipeline and, once that completed, the child pipelines it triggered. */
export interface PipelineOutcome extends PipelineClassification {
  readonly pipeline: ClassifiedPipeline;
  readonly children: readonly ClassifiedPipeline[];
}

/** Reasons are bounded: they end up in Step Functions state (256 KiB in total) and in log lines. */
const MAX_REASON_LENGTH = 500;

/** Timestamps below this are epoch seconds (v2 subtasks use float seconds); at or above, milliseconds. */
const SECONDS_CUTOFF = 1e11;

function toEpochMs(value: number | null | undefined): number | undefined {
  if (value === null || value === undefined || !Number.isFinite(value) || value <= 0) return undefined;
  return Math.round(value < SECONDS_CUTOFF ? value * 1000 : value);
}

function countSubtasks(subtasks: readonly CadoSubtask[]): PipelineSummary {
  const n = (state: string) => subtasks.filter((s) => s.state === state).length;
  return {
    total: subtasks.length,
    success: n('SUCCESS'),
    failure: n('FAILURE'),
    pending: n('PENDING'),
    running: n('RUNNING'),
    cancelled: n('CANCELLED'),
  };
}

/**
 * Normalises a parsed pipeline. `fallbackId` is used when the body carries no id (the id the caller asked for);
 * returns undefined when there is none at all.
 */
export function toPipeline(raw: RawPipeline, fallbackId?: number): CadoPipeline | undefined {
  const id = raw.pipeline?.id ?? raw.pipeline_id ?? raw.id ?? fallbackId;
  if (id === undefined || id === null) return undefined;
  const subtasks: CadoSubtask[] = raw.subtasks.map((s) => ({
    name: s.name,
    state: s.state,
    progressText: s.progress_text,
  }));
  const finishTimes = raw.subtasks.map((s) => toEpochMs(s.finish_time)).filter((t) => t !== undefined);
  const lastSubtaskFinish = finishTimes.length > 0 ? Math.max(...finishTimes) : undefined;
  return {
    id,
    type: raw.pipeline?.type ?? raw.pipeline_type ?? raw.type,
    name: raw.name,
    status: raw.status,
    terminated: raw.terminated,
    aborted: raw.aborted,
    summary: raw.summary ?? countSubtasks(subtasks),
    subtasks,
    evidence: raw.evidence ? { id: raw.evidence.id, name: raw.evidence.name } : undefined,
    project: raw.project ? { id: raw.project.id, name: raw.project.name } : undefined,
    triggeringPipelineId: raw.triggering_pipeline_id ?? undefined,
    finishedAt: toEpochMs(raw.finish_time) ?? lastSubtaskFinish,
  };
}

/** Status words mapped to states; both spellings of "cancelled" and a few synonyms seen across releases. */
const STATUS_STATES: Readonly<Record<string, PipelineState>> = {
  queued: 'running',
  pending: 'running',
  in_progress: 'running',
  inprogress: 'running',
  running: 'running',
  started: 'running',
  complete: 'complete',
  completed: 'complete',
  success: 'complete',
  succeeded: 'complete',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
  aborted: 'cancelled',
};

/** `In Progress`, `in-progress` and `IN_PROGRESS` all become `in_progress`. */
function normaliseStatus(status: string): string {
  return status
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

function clip(text: string): string {
  const safe = redact(text.replace(/\s+/g, ' ').trim());
  return safe.length > MAX_REASON_LENGTH ? `${safe.slice(0, MAX_REASON_LENGTH - 1)}…` : safe;
}

function label(p: CadoPipeline): string {
  return `Cado ${p.type ? `${p.type} ` : ''}pipeline ${p.id}`;
}

/** "name: text; text" for each FAILURE subtask (or each CANCELLED one when `state` says so). */
function subtaskDetails(p: CadoPipeline, state: 'FAILURE' | 'CANCELLED'): string {
  return p.subtasks
    .filter((s) => s.state === state)
    .map((s) => {
      const text = s.progressText.join('; ');
      return text ? `${s.name || 'subtask'}: ${text}` : s.name || 'subtask';
    })
    .join(' | ');
}

function verdict(p: CadoPipeline, state: PipelineState, how: string): PipelineClassification {
  if (state === 'complete') return { state, reason: clip(`${label(p)} completed`) };
  if (state === 'running') {
    const { success, total } = p.summary;
    const progress = total > 0 ? ` (${success} of ${total} subtasks done)` : '';
    return { state, reason: clip(`${label(p)} is ${how}${progress}`) };
  }
  if (state === 'failed') {
    const details = subtaskDetails(p, 'FAILURE');
    const counts =
      p.summary.failure > 0
        ? `${p.summary.failure} of ${p.summary.total} subtasks failed`
        : 'no failing subtask was reported';
    return { state, reason: clip(`${label(p)} failed: ${details || counts}`) };
  }
  const details = subtaskDetails(p, 'CANCELLED');
  return { state, reason: clip(`${label(p)} was cancelled${details ? `: ${details}` : ''}`) };
}

/**
 * Classifies one pipeline by the reference's terminal-state rule. A `status` the rule does not know falls back to
 * the `terminated`/`aborted` rule, so a renamed status never leaves a finished pipeline "running" forever.
 */
export function classifyPipeline(p: CadoPipeline): PipelineClassification {
  if (p.status !== undefined && p.status.trim() !== '') {
    const status = normaliseStatus(p.status);
    const state = STATUS_STATES[status];
    if (state !== undefined) return verdict(p, state, status === 'queued' ? 'queued' : 'in progress');
  }
  if (!p.terminated && !p.aborted) return verdict(p, 'running', 'in progress');
  // Cado's captured v2 pipeline ended with 1 FAILURE and 12 CANCELLED subtasks: the failure is the story.
  const counted = countSubtasks(p.subtasks);
  const failures = Math.max(p.summary.failure, counted.failure);
  const cancellations = Math.max(p.summary.cancelled, counted.cancelled);
  if (failures > 0) return verdict(p, 'failed', '');
  if (cancellations > 0 || p.aborted) return verdict(p, 'cancelled', '');
  return verdict(p, 'complete', '');
}

function classified(p: CadoPipeline): ClassifiedPipeline {
  return { id: p.id, type: p.type, evidenceId: p.evidence?.id, ...classifyPipeline(p) };
}

/** Options of {@link combineOutcome}. */
export interface CombineOptions {
  /** Current time, epoch ms. */
  readonly now: number;
  /**
   * How long after an *acquisition* pipeline completed without children to keep reporting `running`, waiting for
   * its processing pipeline to appear. Processing pipelines and pipelines of unknown type never wait.
   */
  readonly childGraceMs: number;
}

/**
 * The overall outcome of an import. Until the parent completes, the parent decides. After that the children do:
 * running while any child runs; then failed if any failed, cancelled if any was cancelled, else complete.
 * Pure: `children` is what `GET /api/v3/pipelines?triggering_pipeline_id=` returned (undefined when not asked).
 */
export function combineOutcome(
  parent: CadoPipeline,
  children: readonly CadoPipeline[] | undefined,
  options: CombineOptions,
): PipelineOutcome {
  const top = classified(parent);
  if (top.state !== 'complete' || children === undefined) {
    return { state: top.state, reason: top.reason, pipeline: top, children: [] };
  }
  const kids = children.map(classified);
  if (kids.length === 0) {
    const waited = parent.finishedAt === undefined ? undefined : options.now - parent.finishedAt;
    if (
      parent.type?.toLowerCase() === 'acquisition' &&
      waited !== undefined &&
      waited < options.childGraceMs
    ) {
      return {
        state: 'running',
        reason: clip(`${label(parent)} completed; waiting for its processing pipeline to start`),
        pipeline: top,
        children: [],
      };
    }
    return { state: 'complete', reason: top.reason, pipeline: top, children: [] };
  }
  const pick = (state: PipelineState) => kids.filter((k) => k.state === state);
  const running = pick('running');
  const failed = pick('failed');
  const cancelled = pick('cancelled');
  const summary = (list: readonly ClassifiedPipeline[]) => list.map((k) => k.reason).join(' | ');
  let state: PipelineState;
  let reason: string;
  if (running.length > 0) {
    state = 'running';
    reason = `${running.length} of ${kids.length} child pipelines still running: ${summary(running)}`;
  } else if (failed.length > 0) {
    state = 'failed';
    reason = summary(failed);
  } else if (cancelled.length > 0) {
    state = 'cancelled';
    reason = summary(cancelled);
  } else {
    state = 'complete';
    reason = `${label(parent)} and its ${kids.length} child pipeline${kids.length === 1 ? '' : 's'} completed`;
  }
  return { state, reason: clip(reason), pipeline: top, children: kids };
}
