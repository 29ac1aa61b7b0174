/**
 * The Task Watcher's Cado pass (DESIGN §9: "Cado pipelines resume the same way ... else from the watcher"), also run
 * by the Cado webhook receiver when Cado says a pipeline finished.
 *
 * Wait For Cado registers the pipeline it follows with its task token (open-pipelines.ts). A pass lists the open
 * waits (one Query), asks Cado about each that is due (not asked for {@link lookGapMs}: at least
 * {@link CadoPassOptions.intervalSeconds}, growing with its age to 5 minutes; or past its deadline; every one when
 * `force`, as after a webhook), and decides with Check Cado's own
 * {@link lookAtPipeline}: a pipeline that ended, passed its hand-off deadline, or found no file (Check Cado imports
 * once more) resumes its execution with SendTaskSuccess, the output being exactly the state Check Cado returns, so
 * the states after it (Record Outcome) are unchanged. A still running one is marked checked.
 *
 * At least once and harmless to repeat, as for S1 tasks: a wait is removed only after Step Functions took the
 * answer or said the token is closed; a lost answer leaves the wait unmarked, so the next pass asks again and gets
 * `TaskTimedOut`.
 */

import { lookAtPipeline } from '../check-cado/core';
import type { CadoClient } from '../shared/cado';
import { forEachLimit } from '../shared/concurrency';
import { ENV } from '../shared/contract';
import type { ListedOpenPipeline } from '../shared/coordination/open-pipelines';
import { ConfigError } from '../shared/errors';
import { logger } from '../shared/observability';
import { CLOSED_TOKEN_ERRORS, type TaskResumer } from './core';

/** Timing of the Cado pass. */
export interface CadoPassOptions {
  /**
   * Least seconds between two looks at one running pipeline; the gap grows with the pipeline's age (a quarter of it)
   * up to {@link CADO_LOOK_CAP_SECONDS}, as the old per-execution backoff did, and a passed deadline is looked at
   * when it comes. @default 30
   */
  readonly intervalSeconds?: number;
}

/** The longest gap between two looks at a running pipeline (unless `intervalSeconds` is longer). */
export const CADO_LOOK_CAP_SECONDS = 300;

/** Milliseconds to leave between two looks at a pipeline registered `ageMs` ago. */
export function lookGapMs(ageMs: number, intervalSeconds = 30): number {
  const floor = intervalSeconds * 1000;
  return Math.min(Math.max(floor, CADO_LOOK_CAP_SECONDS * 1000), Math.max(floor, ageMs / 4));
}

/** Cado pipelines looked at (and their executions answered) at once in a pass. */
export const CADO_LOOKS_AT_ONCE = 8;

/** Dependencies of {@link cadoPass}. */
export interface CadoPassDeps extends CadoPassOptions {
  readonly cado: Pick<CadoClient, 'pipelineOutcome' | 'getEvidence' | 'importS3'>;
  readonly openPipelines: {
    list(): Promise<{ open: ListedOpenPipeline[]; unreadable: { sk: string }[] }>;
    markChecked(sk: string, writeId: string, atMs: number): Promise<boolean>;
    remove(sk: string, writeId: string): Promise<'removed' | 'changed'>;
  };
  readonly resume: TaskResumer;
  readonly now: () => number;
}

/** What one Cado pass did. */
export interface CadoPassSummary {
  /** Waits open at the start. */
  readonly open: number;
  /** Pipelines Cado was asked about. */
  readonly checked: number;
  /** Executions resumed (SendTaskSuccess taken). */
  readonly resumed: number;
  /** Waits whose token was already closed (removed). */
  readonly closed: number;
  /** Looks or answers that failed (the wait is kept for the next pass). */
  readonly failed: number;
}

/** The waits still open after a pass (what keeps the watcher's loop going). */
export function stillOpen(summary: CadoPassSummary): number {
  return summary.open - summary.resumed - summary.closed;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

/**
 * One pass over the open Cado waits. `force` asks Cado about every one now (a webhook said something finished);
 * `projectId`, when known, limits that to one project's pipelines.
 */
export async function cadoPass(
  deps: CadoPassDeps,
  options: { readonly force?: boolean; readonly projectId?: number } = {},
): Promise<CadoPassSummary> {
  const { open, unreadable } = await deps.openPipelines.list();
  if (unreadable.length > 0) {
    logger.error('Open Cado waits that cannot be read are left to their TTL', {
      keys: unreadable.map((u) => u.sk),
    });
  }
  const summary = { open: open.length, checked: 0, resumed: 0, closed: 0, failed: 0 };
  // Pipelines are independent: a few looks at once, so a pass over hundreds fits its interval.
  await forEachLimit(open, CADO_LOOKS_AT_ONCE, async (listed) => {
    const { followed } = listed.wait;
    const nowMs = deps.now();
    const registeredMs = Date.parse(listed.wait.registeredAt);
    const lastMs = listed.checkedAtMs ?? registeredMs;
    const pastDeadline = nowMs >= Date.parse(followed.cado.deadline);
    const forced =
      options.force && (options.projectId === undefined || options.projectId === followed.cado.projectId);
    const due = nowMs - lastMs >= lookGapMs(nowMs - registeredMs, deps.intervalSeconds);
    if (!forced && !pastDeadline && !due) return;
    const ids = { projectId: followed.cado.projectId, pipelineId: followed.cado.pipelineId };
    summary.checked += 1;
    let look: Awaited<ReturnType<typeof lookAtPipeline>>;
    try {
      look = await lookAtPipeline(followed, { cado: deps.cado as CadoClient, now: deps.now });
    } catch (error) {
      // Cado failed (after the client's retries): the wait stays, unmarked, so the next pass asks again.
      summary.failed += 1;
      logger.warn('Could not read the Cado pipeline; trying again next pass', {
        ...ids,
        errorName: errorName(error),
      });
      return;
    }
    if (!look.resume) {
      await deps.openPipelines.markChecked(listed.sk, listed.writeId, nowMs);
      return;
    }
    try {
      await deps.resume.success(listed.wait.taskToken, look.state);
      summary.resumed += 1;
      logger.info('Execution resumed from its Cado pipeline', {
        ...ids,
        executionName: listed.wait.executionName,
        phase: look.state.cado.phase,
        reimport: look.reimport,
      });
    } catch (error) {
      const name = errorName(error);
      if (!CLOSED_TOKEN_ERRORS.includes(name)) {
        summary.failed += 1;
        logger.warn('Could not resume the execution; trying again next pass', { ...ids, errorName: name });
        return;
      }
      summary.closed += 1;
      logger.info('The waiting Cado state was already closed', { ...ids, errorName: name });
    }
    await deps.openPipelines.remove(listed.sk, listed.writeId);
  });
  return summary;
}

/** {@link CadoPassOptions.intervalSeconds} from `CADO_WATCH_INTERVAL_SECONDS` (the Task Watcher construct sets it). */
export function cadoWatchIntervalSeconds(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[ENV.cadoWatchIntervalSeconds];
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new ConfigError(
      `${ENV.cadoWatchIntervalSeconds} must be a whole number of seconds ≥ 1, got "${raw}"`,
    );
  }
  return seconds;
}
