/**
 * The callback half of Run Script (DESIGN §9, "O(1) S1 traffic"): the state waits with
 * `lambda:invoke.waitForTaskToken`, and Run Script registers the task it started (or found started) with that token
 * in the coordination store, for the Task Watcher to resume. A retried Run Script finds the task through its execute
 * intent (never a second task) and registers again with its own, new token, replacing the old one.
 */
import type { OpenTasks } from '../shared/coordination/open-tasks';
import { logger } from '../shared/observability';
import type { RunningTask } from '../shared/schemas';

/** Registers `running` (Run Script's result) under `taskToken`. */
export async function registerWait(
  running: RunningTask,
  taskToken: string,
  deps: { readonly openTasks: OpenTasks; readonly now: () => number },
): Promise<void> {
  const { investigation, target, upload, task } = running;
  await deps.openTasks.register({
    // The direct upload too: the Task Watcher's SendTaskSuccess output is the state the next states read.
    start: { investigation, target, ...(upload ? { upload } : {}) },
    parentTaskId: task.parentTaskId,
    description: task.description,
    startedAt: task.startedAt,
    deadline: task.deadline,
    reusedExisting: task.reusedExisting,
    taskToken,
    registeredAt: new Date(deps.now()).toISOString(),
  });
  logger.info('Task registered for the Task Watcher', {
    parentTaskId: task.parentTaskId,
    deadline: task.deadline,
  });
}
