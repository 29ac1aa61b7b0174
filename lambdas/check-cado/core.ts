/**
 * Check Cado: polls the import pipeline (and the processing pipelines it triggers) until it completes, fails or
 * is cancelled, with the same backoff-and-deadline pattern as Check Task.
 *
 * The decision is {@link decideCado}, a pure function of the pipeline's outcome (itself the pure
 * `combineOutcome` of what Cado returned) and the time; {@link checkCado} only fetches and logs.
 */
import { type CadoClient, otherFileNameLayout, type PipelineOutcome, reportsNoFile } from '../shared/cado';
import { compareCadoHash } from '../shared/evidence/chain';
import { logger } from '../shared/observability';
import { CADO_POLL, nextPoll } from '../shared/poll';
import type { CadoFollowed, HandedOff, XdrHandedOff } from '../shared/schemas';

/**
 * Decides the next step after one look at the pipeline: a finished pipeline (`complete`, `failed`, `cancelled`)
 * ends the hand-off with Cado's reason; a running one waits again, or ends as `deadline` once the hand-off's
 * deadline has passed.
 */
export function decideCado<T extends CadoFollowed>(
  input: T,
  outcome: Pick<PipelineOutcome, 'state' | 'reason'>,
  nowMs: number,
  random: () => number = Math.random,
): T {
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

/**
 * Whether the import should be sent once more in the other `file_name` layout: the pipeline reports it found no
 * file, no second import was sent yet, and the key has a folder to split off as `prefix`.
 */
export function shouldTryOtherLayout(
  input: HandedOff,
  outcome: Pick<PipelineOutcome, 'state' | 'reason'>,
): boolean {
  return reportsNoFile(outcome) && !input.cado.fileNameFallback && input.evidence.key.includes('/');
}

/** What one look at a followed pipeline decided, and whether the waiting execution must be resumed with it. */
export interface PipelineLook<T extends CadoFollowed> {
  /** Check Cado's decision (phase, reason, evidence hash once complete). */
  readonly state: T;
  /**
   * Resume the waiting execution with {@link state}: the pipeline ended or passed its deadline, or (phase still
   * `running`) Cado found no file and the execution's Check Cado must import once more in the other layout.
   */
  readonly resume: boolean;
  /** The resume is for that re-import (Check Cado acts; no one else sends a second import). */
  readonly reimport: boolean;
}

/**
 * Looks at the followed pipeline once, without side effects in Cado: the Task Watcher's Cado pass and the Cado
 * webhook decide with it. The other-layout import is left to the execution's Check Cado (one request/response state,
 * so the import is sent by exactly one step, as before).
 */
export async function lookAtPipeline<T extends CadoFollowed>(
  input: T,
  deps: { cado: CadoClient; now: () => number },
): Promise<PipelineLook<T>> {
  if (!('evidence' in input)) {
    const state = (await checkXdr(input as XdrHandedOff, deps)) as T;
    return { state, resume: state.cado.phase !== 'running', reimport: false };
  }
  const outcome = await deps.cado.pipelineOutcome(input.cado.pipelineId);
  if (shouldTryOtherLayout(input, outcome)) {
    const checkedAt = new Date(deps.now()).toISOString();
    const reason = `Cado found no file (${outcome.reason}); Check Cado imports once more in the other layout`;
    const state = { ...input, cado: { ...input.cado, phase: 'running', reason, checkedAt } } as T;
    return { state, resume: true, reimport: true };
  }
  const state = (await decideS3(input, outcome, deps)) as T;
  return { state, resume: state.cado.phase !== 'running', reimport: false };
}

/** Checks the pipeline once (of an S3 import, or in collection mode cado-xdr of Cado's own collection). */
export async function checkCado<T extends CadoFollowed>(
  input: T,
  deps: { cado: CadoClient; now: () => number },
): Promise<T> {
  if (!('evidence' in input)) return (await checkXdr(input as XdrHandedOff, deps)) as T;
  return (await checkS3(input, deps)) as T;
}

/** An XDR import: the same decision, and Cado's evidence record noted without a comparison (we hold no copy). */
async function checkXdr(
  input: XdrHandedOff,
  deps: { cado: CadoClient; now: () => number },
): Promise<XdrHandedOff> {
  const outcome = await deps.cado.pipelineOutcome(input.cado.pipelineId);
  const checked = decideCado(input, outcome, deps.now());
  if (checked.cado.phase !== 'complete') return checked;
  logger.info('Cado finished collecting through SentinelOne', { pipelineId: input.cado.pipelineId });
  const evidenceId = outcome.pipeline.evidenceId;
  let cadoHash: string | undefined;
  if (evidenceId !== undefined) {
    cadoHash = await deps.cado.getEvidence(evidenceId).then(
      (e) => e.diskHash?.slice(0, 200),
      (error: unknown) => {
        logger.warn("Could not read Cado's evidence record", { evidenceId, error: (error as Error).name });
        return undefined;
      },
    );
  }
  const detail =
    'Cado collected this evidence itself through its SentinelOne integration; this tool never held a copy, so ' +
    `there is no hash of ours to compare${cadoHash ? ` (Cado reports ${cadoHash})` : ''}`;
  return {
    ...checked,
    cado: {
      ...checked.cado,
      evidenceHash: {
        status: 'not_available',
        detail,
        ...(evidenceId !== undefined ? { evidenceId } : {}),
        ...(cadoHash ? { cadoHash } : {}),
      },
    },
  };
}

async function checkS3(input: HandedOff, deps: { cado: CadoClient; now: () => number }): Promise<HandedOff> {
  const outcome = await deps.cado.pipelineOutcome(input.cado.pipelineId);
  if (shouldTryOtherLayout(input, outcome)) {
    const nowMs = deps.now();
    return importOtherLayout(input, outcome.reason, deps, nowMs, new Date(nowMs).toISOString());
  }
  return decideS3(input, outcome, deps);
}

/** The decision on an S3 import's outcome, with Cado's evidence hash once it completed. */
async function decideS3(
  input: HandedOff,
  outcome: PipelineOutcome,
  deps: { cado: CadoClient; now: () => number },
): Promise<HandedOff> {
  const checked = decideCado(input, outcome, deps.now());
  if (outcome.state !== 'running')
    logger.info('Cado pipeline finished', { pipelineId: input.cado.pipelineId, state: outcome.state });
  if (checked.cado.phase !== 'complete') return checked;
  return {
    ...checked,
    cado: { ...checked.cado, evidenceHash: await evidenceHash(input, outcome, deps.cado) },
  };
}

/**
 * Cado's evidence record for the processed import, compared with our SHA-256. Reading it is best effort: an
 * error (a platform without the endpoint, a key without the right) makes the link "not available", never a failure.
 */
async function evidenceHash(
  input: HandedOff,
  outcome: PipelineOutcome,
  cado: CadoClient,
): Promise<NonNullable<HandedOff['cado']['evidenceHash']>> {
  const evidenceId = outcome.pipeline.evidenceId;
  if (evidenceId === undefined) {
    return { status: 'not_available', detail: 'the Cado pipeline names no evidence record' };
  }
  try {
    const evidence = await cado.getEvidence(evidenceId);
    const compared = compareCadoHash(input.evidence.sha256, evidence.diskHash);
    if (compared.status === 'mismatch') {
      logger.error("Cado's evidence hash differs from the staged SHA-256", {
        evidenceId,
        cadoHash: evidence.diskHash,
        sha256: input.evidence.sha256,
      });
    }
    return {
      ...compared,
      evidenceId,
      ...(evidence.diskHash ? { cadoHash: evidence.diskHash.slice(0, 200) } : {}),
    };
  } catch (error) {
    logger.warn("Could not read Cado's evidence record", { evidenceId, error: (error as Error).name });
    return {
      status: 'not_available',
      detail: `Cado's evidence record ${evidenceId} could not be read (${(error as Error).name})`,
      evidenceId,
    };
  }
}

/**
 * The import found no file: send it once more with `file_name` in the other layout (full key, or prefix and name;
 * see `FileNameLayout`), and follow that pipeline. The first import imported nothing, so nothing is doubled. Any
 * error of this second import ends the hand-off as failed instead of being retried (it may have started a pipeline).
 */
async function importOtherLayout(
  input: HandedOff,
  reason: string,
  deps: { cado: CadoClient; now: () => number },
  nowMs: number,
  checkedAt: string,
): Promise<HandedOff> {
  const from = input.cado.fileNameLayout ?? 'full-key';
  const to = otherFileNameLayout(from);
  const fallback = { from, pipelineId: input.cado.pipelineId, reason };
  try {
    const imported = await deps.cado.importS3({
      projectId: input.cado.projectId,
      bucket: input.evidence.bucket,
      key: input.evidence.key,
      fileNameForm: input.cado.fileNameForm,
      fileNameLayout: to,
      ...(input.cado.cloudId ? { cloudId: input.cado.cloudId } : {}),
    });
    logger.warn('Cado found no file; imported once more with the other file_name layout', {
      firstPipelineId: input.cado.pipelineId,
      pipelineId: imported.pipelineId,
      from,
      to,
    });
    const poll = nextPoll(0, input.cado.deadline, nowMs, CADO_POLL);
    const cado = {
      ...input.cado,
      pipelineId: imported.pipelineId,
      fileNameForm: imported.fileNameForm,
      fileNameLayout: imported.fileNameLayout,
      fileNameFallback: fallback,
      checkedAt,
    };
    if (!poll) {
      return {
        ...input,
        cado: { ...cado, phase: 'deadline', reason: `Re-imported at the deadline: ${reason}` },
      };
    }
    return { ...input, cado: { ...cado, phase: 'running', reason: `Re-imported after: ${reason}` }, poll };
  } catch (error) {
    const why = `Cado found no file (${reason}); the import in the ${to} layout failed: ${(error as Error).message}`;
    return {
      ...input,
      cado: {
        ...input.cado,
        fileNameFallback: fallback,
        phase: 'failed',
        reason: why.slice(0, 1000),
        checkedAt,
      },
    };
  }
}
