/**
 * Check Cado: polls the import pipeline (and the processing pipelines it triggers) until it completes, fails or
 * is cancelled, with the same backoff-and-deadline pattern as Check Task.
 */
import type { CadoClient } from '../shared/cado';
import { logger } from '../shared/observability';
import { CADO_POLL, nextPoll } from '../shared/poll';
import type { HandedOff } from '../shared/schemas';

/** Checks the pipeline once. */
export async function checkCado(
  input: HandedOff,
  deps: { cado: CadoClient; now: () => number },
): Promise<HandedOff> {
  const outcome = await deps.cado.pipelineOutcome(input.cado.pipelineId);
  const nowMs = deps.now();
  const checkedAt = new Date(nowMs).toISOString();
  if (outcome.state !== 'running') {
    logger.info('Cado pipeline finished', { pipelineId: input.cado.pipelineId, state: outcome.state });
    return { ...input, cado: { ...input.cado, phase: outcome.state, reason: outcome.reason, checkedAt } };
  }
  const poll = nextPoll(input.poll.attempt + 1, input.cado.deadline, nowMs, CADO_POLL);
  if (!poll) {
    return {
      ...input,
      cado: {
        ...input.cado,
        phase: 'deadline',
        reason: `Still running at the deadline: ${outcome.reason}`,
        checkedAt,
      },
    };
  }
  return { ...input, cado: { ...input.cado, phase: 'running', reason: outcome.reason, checkedAt }, poll };
}
