/**
 * Cancel Task: after a deadline, asks S1 (best effort) to cancel the agent's task so it does not run later on an
 * agent that comes back online. S1 has no public cancel API; the private one cancels only tasks not yet delivered
 * to the agent. Whatever happens is recorded, and never fails the branch: the agent's result is "timed out".
 */
import * as z from 'zod';
import { isSharedTask } from '../check-task/core';
import { ExecuteIntent, executeIntentKey } from '../run-script/core';
import type { CoordinationStore } from '../shared/coordination/store';
import { logger } from '../shared/observability';
import { AgentStart, type CancelInfo, type CheckedTask } from '../shared/schemas';
import type { S1Client } from '../shared/sentinelone';

/**
 * The state after the watchdog of Run Script's wait fired (no Task Watcher answered): the task is not in the state,
 * only in the execute intent Run Script recorded.
 */
export const WatchdogState = AgentStart.extend({
  task: z.object({ phase: z.literal('deadline'), reason: z.string() }),
});
export type WatchdogState = z.infer<typeof WatchdogState>;

/**
 * Cancel Task after the watchdog: finds the task in the agent's execute intent and cancels it like after a deadline.
 * No started task on record: nothing to cancel, and that is what the record says.
 */
export async function cancelAfterWatchdog(
  input: WatchdogState,
  deps: { s1: S1Client; now: () => number; store: Pick<CoordinationStore, 'get'> },
): Promise<CancelInfo> {
  const intent = await deps.store.get(
    executeIntentKey(input.investigation.investigationId, input.target.agentId),
    ExecuteIntent,
  );
  const parentTaskId = intent?.data.state === 'started' ? intent.data.parentTaskId : undefined;
  if (!parentTaskId) {
    return {
      attempted: false,
      affected: 0,
      unsupported: false,
      at: new Date(deps.now()).toISOString(),
      reason: 'no started S1 task is recorded for this agent',
    };
  }
  return cancelTask(
    { target: input.target, task: { parentTaskId, description: intent?.data.description } },
    deps,
  );
}

/**
 * The child task to cancel when the state does not name it: a batched execute's parent task has a child per agent
 * (watch-tasks/executes.ts), and canceling the parent would cancel the other agents' tasks too. So the parent's
 * rows are looked up, and only a parent whose every row is this agent's is canceled as a whole; never a batched
 * one (by its `description`), even while S1 lists none of its rows yet.
 */
export async function agentChild(
  parentTaskId: string,
  agentId: string,
  s1: Pick<S1Client, 'getTaskStatus'>,
  description?: string,
): Promise<{ childTaskIds?: string[]; others: boolean }> {
  const rows = await s1.getTaskStatus(parentTaskId);
  const mine = rows.filter((row) => row.agentId === agentId).map((row) => row.id);
  const others =
    (description !== undefined && isSharedTask(description)) || rows.some((row) => row.agentId !== agentId);
  return mine.length > 0 ? { childTaskIds: mine, others } : { others };
}

/** Tries to cancel; returns what happened. */
export async function cancelTask(
  input: {
    readonly target: { readonly agentId: string };
    readonly task: Pick<CheckedTask['task'], 'parentTaskId' | 'childTaskId'> & {
      readonly description?: string;
    };
  },
  deps: { s1: S1Client; now: () => number },
): Promise<CancelInfo> {
  const at = new Date(deps.now()).toISOString();
  try {
    const child = input.task.childTaskId
      ? { childTaskIds: [input.task.childTaskId], others: false }
      : await agentChild(input.task.parentTaskId, input.target.agentId, deps.s1, input.task.description);
    if (!child.childTaskIds && child.others) {
      return {
        attempted: false,
        affected: 0,
        unsupported: false,
        at,
        reason:
          'the task is a batched execute of several agents and S1 lists no task of this agent; nothing canceled',
      };
    }
    const result = await deps.s1.cancelTasks({
      parentTaskId: input.task.parentTaskId,
      // A parent of this agent's alone is canceled whole (as before batching); a batched one by this agent's child.
      ...(child.childTaskIds && (child.others || input.task.childTaskId)
        ? { childTaskIds: child.childTaskIds }
        : {}),
    });
    return {
      attempted: true,
      affected: result.affected,
      unsupported: result.unsupported === true,
      at,
      ...(result.unsupported ? { reason: 'the S1 console does not offer task cancellation' } : {}),
    };
  } catch (error) {
    // Transient failures reach Step Functions' Retry; anything else is recorded and the branch goes on.
    if ((error as { retryable?: boolean }).retryable) throw error;
    logger.warn('Cancel failed', { error: error as Error });
    return {
      attempted: true,
      affected: 0,
      unsupported: false,
      at,
      reason: `${(error as Error).name}: ${(error as Error).message}`,
    };
  }
}
