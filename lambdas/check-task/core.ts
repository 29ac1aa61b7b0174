/**
 * Check Task: reads the agent's S1 task and decides what comes next: wait again (with backoff, never past the
 * deadline), stage the output, give up on a failure, or report the deadline. `completed` alone is not success:
 * a failure detailedStatus or a non-zero statusCode is a failed collection, and so is a completed task without a
 * result file. A passed deadline is its own outcome, never a silent loop.
 */
import { logger } from '../shared/observability';
import { nextPoll, TASK_POLL } from '../shared/poll';
import type { CheckedTask, RunningTask } from '../shared/schemas';
import { classifyTaskStatus, type S1Client, type S1TaskRow } from '../shared/sentinelone';

/** Dependencies of {@link checkTask}. */
export interface CheckTaskDeps {
  readonly s1: S1Client;
  readonly now: () => number;
}

/** Checks the task once. */
export async function checkTask(input: RunningTask | CheckedTask, deps: CheckTaskDeps): Promise<CheckedTask> {
  const { task, target } = input;
  const rows = await deps.s1.getTaskStatus(task.parentTaskId);
  const row = rows.find((r) => r.agentId === target.agentId) ?? (rows.length === 1 ? rows[0] : undefined);
  const nowMs = deps.now();
  const checkedAt = new Date(nowMs).toISOString();
  const attempt = input.poll.attempt + 1;
  const base = { parentTaskId: task.parentTaskId, description: task.description, startedAt: task.startedAt };
  const common = { ...base, deadline: task.deadline, reusedExisting: task.reusedExisting, checkedAt };

  if (!row) {
    // S1 may list child rows a little after creating the parent: keep looking until the deadline.
    const poll = nextPoll(attempt, task.deadline, nowMs, TASK_POLL);
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
  const verdict = classifyTaskStatus(row);
  if (verdict.outcome === 'succeeded') {
    if (!row.scriptResultsSignature) {
      return {
        ...input,
        task: {
          ...common,
          ...facts,
          phase: 'failed',
          reason: `${verdict.reason}, but S1 reports no result file for it (no scriptResultsSignature)`,
        },
      };
    }
    logger.info('Collection task completed', { childTaskId: row.id, status: row.status });
    return { ...input, task: { ...common, ...facts, phase: 'completed', reason: verdict.reason } };
  }
  if (verdict.terminal) {
    logger.warn('Collection task ended without a usable result', {
      childTaskId: row.id,
      reason: verdict.reason,
    });
    return { ...input, task: { ...common, ...facts, phase: 'failed', reason: verdict.reason } };
  }
  const poll = nextPoll(attempt, task.deadline, nowMs, TASK_POLL);
  if (!poll) {
    return {
      ...input,
      task: { ...common, ...facts, phase: 'deadline', reason: `Deadline passed while ${verdict.reason}` },
    };
  }
  return { ...input, task: { ...common, ...facts, phase: 'running', reason: verdict.reason }, poll };
}

function rowFacts(row: S1TaskRow) {
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
