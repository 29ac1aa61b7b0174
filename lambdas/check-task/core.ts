/**
 * Check Task: reads the agent's S1 task and decides what comes next: wait again (with backoff, never past the
 * deadline), stage the output, give up on a failure, or report the deadline. `completed` alone is not success:
 * with a failure detailedStatus, a non-zero statusCode or an errorReason, the result file, when S1 has one, is still
 * staged (the agent ends partial); without one it is a failed collection, as is a completed task without a result
 * file. A passed deadline is its own outcome, never a silent loop.
 *
 * The decision is {@link decideTask}, a pure function of the task rows S1 returned and the time; {@link checkTask}
 * only fetches the rows and logs.
 */
import { BATCH_DESCRIPTION_PREFIX } from '../shared/contract';
import { logger } from '../shared/observability';
import { nextPoll, TASK_POLL } from '../shared/poll';
import type { CheckedTask, RunningTask } from '../shared/schemas';
import { classifyTaskStatus, type S1Client, type S1TaskRow } from '../shared/sentinelone';

/** Dependencies of {@link checkTask}. */
export interface CheckTaskDeps {
  readonly s1: S1Client;
  readonly now: () => number;
}

/** Where a task stands: `running` waits again unless the deadline has passed. */
type RowPhase = Exclude<CheckedTask['task']['phase'], 'deadline'>;

/** The fields of a child task row that the decision reads. */
export type TaskRowFacts = Pick<
  S1TaskRow,
  | 'id'
  | 'agentId'
  | 'status'
  | 'detailedStatus'
  | 'statusCode'
  | 'statusDescription'
  | 'scriptResultsSignature'
> &
  Partial<Pick<S1TaskRow, 'errorReason'>>;

/**
 * The agent's child row among the parent task's rows: the one naming the agent; else, for a task of this agent
 * alone (`shared` false), the only row when it names no agent (S1 does not always fill `agentId` on a single-agent
 * task). A row naming another agent is never this agent's, and neither is a row of a batched task (`shared`) that
 * names nobody: taking it would stage another endpoint's collection as this one's evidence.
 */
export function agentRow<R extends Pick<S1TaskRow, 'agentId'>>(
  rows: readonly R[],
  agentId: string,
  shared = false,
): R | undefined {
  const named = rows.find((r) => r.agentId === agentId);
  if (named || shared) return named;
  const only = rows.length === 1 ? rows[0] : undefined;
  return only && !only.agentId ? only : undefined;
}

/** Whether the task was started for several agents at once (a batched execute, by its description). */
export function isSharedTask(description: string): boolean {
  return description.startsWith(BATCH_DESCRIPTION_PREFIX);
}

/**
 * What one listed row means, before the deadline is considered: S1's classification ({@link classifyTaskStatus})
 * plus the workflow's own rules: a success without a result file is a failed collection, and a failure whose result
 * file exists is kept (`completed`, with `scriptFailure`: the agent ends partial).
 */
export function rowPhase(row: TaskRowFacts): { phase: RowPhase; reason: string; scriptFailure?: string } {
  const verdict = classifyTaskStatus(row);
  if (verdict.outcome === 'succeeded') {
    if (!row.scriptResultsSignature) {
      return {
        phase: 'failed',
        reason: `${verdict.reason}, but S1 reports no result file for it (no scriptResultsSignature)`,
      };
    }
    return { phase: 'completed', reason: verdict.reason };
  }
  if (verdict.outcome === 'failed' && row.status === 'completed' && row.scriptResultsSignature) {
    // The collector exited with a failure but its output exists: keep it (the agent ends partial).
    return { phase: 'completed', reason: verdict.reason, scriptFailure: verdict.reason };
  }
  if (verdict.terminal) return { phase: 'failed', reason: verdict.reason };
  return { phase: 'running', reason: verdict.reason };
}

/**
 * Decides the next step after one look at the task: `rows` are what S1 listed for the parent task, `nowMs` the
 * time of the look, `random` the jitter source of the next wait.
 */
export function decideTask(
  input: RunningTask | CheckedTask,
  rows: readonly TaskRowFacts[],
  nowMs: number,
  random: () => number = Math.random,
): CheckedTask {
  const { task, target } = input;
  const row = agentRow(rows, target.agentId, isSharedTask(task.description));
  const checkedAt = new Date(nowMs).toISOString();
  const attempt = input.poll.attempt + 1;
  const common = {
    parentTaskId: task.parentTaskId,
    description: task.description,
    startedAt: task.startedAt,
    deadline: task.deadline,
    reusedExisting: task.reusedExisting,
    checkedAt,
  };

  if (!row) {
    // S1 may list child rows a little after creating the parent: keep looking until the deadline.
    const poll = nextPoll(attempt, task.deadline, nowMs, TASK_POLL, random);
    if (!poll) {
      return {
        ...input,
        task: {
          ...common,
          phase: 'deadline',
          reason: 'S1 never listed a task for this agent before the deadline',
        },
      };
    }
    return {
      ...input,
      task: { ...common, phase: 'running', reason: 'S1 does not list the agent task yet' },
      poll,
    };
  }

  const facts = rowFacts(row);
  const { phase, reason, scriptFailure } = rowPhase(row);
  if (phase !== 'running') {
    return {
      ...input,
      task: { ...common, ...facts, phase, reason, ...(scriptFailure ? { scriptFailure } : {}) },
    };
  }
  const poll = nextPoll(attempt, task.deadline, nowMs, TASK_POLL, random);
  if (!poll) {
    return {
      ...input,
      task: { ...common, ...facts, phase: 'deadline', reason: `Deadline passed while ${reason}` },
    };
  }
  return { ...input, task: { ...common, ...facts, phase: 'running', reason }, poll };
}

/** Checks the task once. */
export async function checkTask(input: RunningTask | CheckedTask, deps: CheckTaskDeps): Promise<CheckedTask> {
  const rows = await deps.s1.getTaskStatus(input.task.parentTaskId);
  const checked = decideTask(input, rows, deps.now());
  const { phase, childTaskId, status, reason } = checked.task;
  if (phase === 'completed') logger.info('Collection task completed', { childTaskId, status });
  else if (phase === 'failed')
    logger.warn('Collection task ended without a usable result', { childTaskId, reason });
  return checked;
}

/** What the state keeps of the row: S1's own words, for the manifest and the case. */
function rowFacts(row: TaskRowFacts) {
  return {
    childTaskId: row.id,
    status: row.status,
    ...(row.detailedStatus ? { detailedStatus: row.detailedStatus } : {}),
    ...(row.statusCode !== undefined && row.statusCode !== null
      ? { statusCode: String(row.statusCode) }
      : {}),
    ...(row.scriptResultsSignature ? { resultSignature: row.scriptResultsSignature } : {}),
  };
}
