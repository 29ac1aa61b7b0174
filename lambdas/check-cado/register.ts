/**
 * Wait For Cado (DESIGN §9, "Cado pipelines resume the same way"): the state waits with
 * `lambda:invoke.waitForTaskToken`, and this half of the check-cado Lambda registers the followed pipeline with that
 * token in the coordination store (open-pipelines.ts). The Task Watcher's Cado pass, or a Cado webhook waking it,
 * resumes the execution with Check Cado's decision. A retried Wait For Cado registers again with its new token,
 * replacing the old one.
 */
import type { OpenPipelines } from '../shared/coordination/open-pipelines';
import { logger } from '../shared/observability';
import type { CadoFollowed } from '../shared/schemas';

/** Registers `followed` (the state entering Wait For Cado) under `taskToken`. */
export async function registerCadoWait(
  followed: CadoFollowed,
  taskToken: string,
  executionName: string,
  deps: { readonly openPipelines: Pick<OpenPipelines, 'register'>; readonly now: () => number },
): Promise<void> {
  await deps.openPipelines.register({
    followed,
    executionName,
    taskToken,
    registeredAt: new Date(deps.now()).toISOString(),
  });
  logger.info('Cado pipeline registered for the Task Watcher', {
    projectId: followed.cado.projectId,
    pipelineId: followed.cado.pipelineId,
    deadline: followed.cado.deadline,
  });
}
