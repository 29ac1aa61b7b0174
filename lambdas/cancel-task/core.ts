/**
 * Cancel Task: after a deadline, asks S1 (best effort) to cancel the agent's task so it does not run later on an
 * agent that comes back online. S1 has no public cancel API; the private one cancels only tasks not yet delivered
 * to the agent. Whatever happens is recorded, and never fails the branch: the agent's result is "timed out".
 */
import { logger } from '../shared/observability';
import type { CancelInfo, CheckedTask } from '../shared/schemas';
import type { S1Client } from '../shared/sentinelone';

/** Tries to cancel; returns what happened. */
export async function cancelTask(
  input: CheckedTask,
  deps: { s1: S1Client; now: () => number },
): Promise<CancelInfo> {
  const at = new Date(deps.now()).toISOString();
  try {
    const result = await deps.s1.cancelTasks({
      parentTaskId: input.task.parentTaskId,
      ...(input.task.childTaskId ? { childTaskIds: [input.task.childTaskId] } : {}),
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
