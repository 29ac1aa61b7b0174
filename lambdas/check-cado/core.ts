/**
 * Check Cado: polls the import pipeline (and the processing pipelines it triggers) until it completes, fails or
 * is cancelled, with the same backoff-and-deadline pattern as Check Task.
 *
 * The decision is {@link decideCado}, a pure function of the pipeline's outcome (itself the pure
 * `combineOutcome` of what Cado returned) and the time; {@link checkCado} only fetches and logs.
 */
import type { CadoClient, PipelineOutcome } from '../shared/cado';
import { logger } from '../shared/observability';
import { CADO_POLL, nextPoll } from '../shared/poll';
import type { HandedOff } from '../shared/schemas';

/**
 * Decides the next step after one look at the pipeline: a finished pipeline (`complete`, `failed`, `cancelled`)
 * ends the hand-off with Cado's reason; a running one waits again, or ends as `deadline` once the hand-off's
 * deadline has passed.
 */
export function decideCado(
  input: HandedOff,
  outcome: Pick<PipelineOutcome, 'state' | 'reason'>,
  nowMs: number,
  random: () => number = Math.random,
): HandedOff {
  const checkedAt = new Date(nowMs).toISOString();
  if (outcome.state !== 'running') {
    return { ...input, cado: { ...input.cado, phase: outcome.state, reason: outcome.reason, checkedAt } };
  }
  const poll = nextPoll(input.poll.attempt + 1, input.cado.deadline, nowMs, CADO_POLL, random);
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

/** Checks the pipeline once. */
export async function checkCado(
  input: HandedOff,
  deps: { cado: CadoClient; now: () => number },
): Promise<HandedOff> {
  const outcome = await deps.cado.pipelineOutcome(input.cado.pipelineId);
  const checked = decideCado(input, outcome, deps.now());
  if (outcome.state !== 'running')
    logger.info('Cado pipeline finished', { pipelineId: input.cado.pipelineId, state: outcome.state });
  return checked;
}
