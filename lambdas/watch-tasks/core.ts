/**
 * Task Watcher (DESIGN §9, "O(1) S1 traffic"): one loop for every open S1 collection task, instead of one poll loop
 * per investigation.
 *
 * Run Script waits with `lambda:invoke.waitForTaskToken` and registers its task (open-tasks.ts). Every pass, the
 * watcher lists the open waits (one Query), asks S1 for all their parent tasks at once
 * (`GET /remote-scripts/status?parentTaskId__in=`, paged, 100 parents a call), and resumes each execution whose task
 * left `running` or passed its deadline with SendTaskSuccess, the state being exactly what Check Task's
 * {@link decideTask} makes of the rows (completed → staging, failed → failed collection, deadline → Cancel Task); an
 * agent a batched execute started no task on is failed at once ({@link notStarted}, SendTaskFailure).
 * Passes run every {@link WatchOptions.intervalSeconds} (10 s) for about {@link WatchOptions.runSeconds} (a scheduled
 * invocation a minute), and the loop ends as soon as nothing is open: no S1 call is made without an open task.
 *
 * Answers are at least once and harmless to repeat: a wait is removed only after Step Functions took the answer, or
 * said the token is closed (`TaskTimedOut`, `InvalidToken`, `TaskDoesNotExist`: the execution resumed already, timed
 * out through its watchdog, or ended). A lost SendTaskSuccess response leaves the wait, and the next pass gets
 * `TaskTimedOut` for it. One watcher runs at a time (a lease in the coordination store), so a late invocation
 * never doubles the S1 traffic.
 */
import { agentRow, decideTask, isSharedTask } from '../check-task/core';
import { forEachLimit } from '../shared/concurrency';
import type { ListedOpenTask, OpenS1Task } from '../shared/coordination/open-tasks';
import type { ItemKey, LeaseResult, ReleaseResult } from '../shared/coordination/store';
import { WATCHER_LEASE_KEY } from '../shared/coordination/table';
import { S1ExecutionNotStartedError } from '../shared/errors';
import { logger } from '../shared/observability';
import type { CheckedTask, RunningTask } from '../shared/schemas';
import { S1_ID_CHUNK_SIZE, type S1TaskRow } from '../shared/sentinelone';

/** Resumes waiting executions (SendTaskSuccess / SendTaskFailure). */
export interface TaskResumer {
  success(taskToken: string, output: unknown): Promise<void>;
  failure(taskToken: string, error: string, cause: string): Promise<void>;
}

/** Step Functions error names that mean the token is closed: the execution no longer waits on it. */
export const CLOSED_TOKEN_ERRORS: readonly string[] = ['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'];

/** Where the single watcher's lease lives. */
export { WATCHER_LEASE_KEY };

/** Timing of one invocation. */
export interface WatchOptions {
  /** Seconds between passes. @default 10 */
  readonly intervalSeconds?: number;
  /** No pass starts later than this after the first (the schedule starts the next invocation). @default 55 */
  readonly runSeconds?: number;
}

/** Dependencies of {@link watchTasks}. */
export interface WatchDeps extends WatchOptions {
  readonly s1: {
    getTaskStatusOfParents(
      parentTaskIds: readonly string[],
    ): Promise<{ rows: S1TaskRow[]; unreadableParents: string[] }>;
  };
  readonly openTasks: {
    list(): Promise<{ open: ListedOpenTask[]; unreadable: { sk: string }[] }>;
    remove(sk: string, writeId: string | undefined): Promise<'removed' | 'changed'>;
  };
  readonly resume: TaskResumer;
  /** The lease that keeps one watcher at a time (the coordination store's). */
  readonly lease?: {
    acquireLease(key: ItemKey, owner: string, leaseSeconds: number): Promise<LeaseResult>;
    releaseLease(key: ItemKey, owner: string): Promise<ReleaseResult>;
  };
  /** This invocation's name for the lease (the request id). */
  readonly owner?: string;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /**
   * Sends the queued executes (executes.ts) at the start of each pass, before the open tasks are listed (so a task
   * started now is asked about in the same pass); returns how many stay queued.
   */
  readonly sendExecutes?: () => Promise<number>;
  /**
   * Fetches the result links of tasks this pass found completed, before their executions resume into Stage Output
   * (result-links.ts); returns the S1 calls it made. A failure only means Stage Output asks S1 itself.
   */
  readonly prefetchLinks?: (childTaskIds: readonly string[]) => Promise<number>;
  /** Other waits watched in the same loop (the Cado pipelines, cado.ts): runs after each pass, returns how many stay open. */
  readonly alsoWatch?: () => Promise<number>;
}

/** What one pass did. */
export interface PassSummary {
  /** Waits open at the start of the pass. */
  readonly open: number;
  /** Executions resumed (SendTaskSuccess taken). */
  readonly resumed: number;
  /** Waits whose token was already closed (removed). */
  readonly closed: number;
  /** Answers that failed for another reason (kept for the next pass). */
  readonly failedAnswers: number;
  /** S1 status calls made (one per chunk and page is the S1 client's; this counts chunks asked). */
  readonly s1Calls: number;
  /** The pass failed before deciding (S1 or the store); `open` is then -1. */
  readonly failed?: boolean;
}

/** What one invocation did. */
export interface WatchSummary {
  readonly passes: PassSummary[];
  readonly stopped: 'nothing-open' | 'time-up' | 'other-watcher';
}

/** The state Check Task would have made of the rows, or undefined while the task runs before its deadline. */
export function resumedState(
  wait: OpenS1Task,
  rows: readonly S1TaskRow[],
  nowMs: number,
): CheckedTask | undefined {
  const running: RunningTask = {
    ...wait.start,
    task: {
      parentTaskId: wait.parentTaskId,
      description: wait.description,
      startedAt: wait.startedAt,
      deadline: wait.deadline,
      reusedExisting: wait.reusedExisting,
    },
    // Kept for the schema of the states after (no Wait reads it any more): one look, at the deadline.
    poll: { attempt: 0, waitSeconds: 1, deadline: wait.deadline },
  };
  const checked = decideTask(
    running,
    rows.filter((row) => row.parentTaskId === wait.parentTaskId),
    nowMs,
    () => 0.5,
  );
  if (checked.task.phase === 'running') return undefined;
  return { ...checked, poll: running.poll };
}

/**
 * The agent's task was never started, as far as S1's own answers prove it: the execute started tasks on fewer agents
 * than it named, S1 now lists a task for as many agents as it started, and none for this one. Then the agent has no
 * task (S1 found it decommissioned, out of scope or on a site without RemoteOps when the execute came), and waiting
 * for the deadline would only delay the verdict; nothing ran on it. Undefined otherwise.
 */
export function notStarted(
  wait: OpenS1Task,
  rows: readonly S1TaskRow[],
): S1ExecutionNotStartedError | undefined {
  const execute = wait.execute;
  if (!execute || execute.affected >= execute.targeted) return undefined;
  const own = rows.filter((row) => row.parentTaskId === wait.parentTaskId);
  const agentId = wait.start.target.agentId;
  if (agentRow(own, agentId, isSharedTask(wait.description))) return undefined;
  // A row naming no agent might be this one's: nothing is proven then.
  if (own.some((row) => !row.agentId)) return undefined;
  const listed = new Set(own.map((row) => row.agentId));
  if (listed.size < execute.affected) return undefined;
  return new S1ExecutionNotStartedError(
    `S1 started no task for agent ${agentId}: the execute (parent task ${wait.parentTaskId}, "${wait.description}") ` +
      `named ${execute.targeted} agents and started tasks on ${execute.affected}, all of which S1 lists, none on ` +
      "this one (decommissioned, out of the service user's scope, or on a site without RemoteOps when it came); " +
      'nothing ran on it',
    { details: { agentId, parentTaskId: wait.parentTaskId, ...execute } },
  );
}

/** The Cause of a failure sent for an agent: the Lambda error document the states after already read. */
export function failureCause(error: Error): string {
  return JSON.stringify({ errorType: error.name, errorMessage: error.message });
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

/** Executions answered at once in a pass (SendTaskSuccess and the wait's removal). */
export const ANSWERS_AT_ONCE = 16;

/**
 * Where the next pass starts asking: when the S1 request budget does not allow one status call per 100 open parents
 * in a pass, each pass asks what it can, starting where the previous one stopped, so every open task is asked in
 * turn (round robin) instead of the first chunk always and the rest never.
 */
export interface PassCursor {
  next: number;
}

/** Error names of a status call the budget or S1 refused for throttling: the pass keeps what it asked so far. */
const THROTTLED_ERRORS: readonly string[] = ['S1RateLimitedError'];

/** One pass over the open waits: every one whose parent task S1 was asked about this pass. */
export async function watchOnce(deps: WatchDeps, cursor: PassCursor = { next: 0 }): Promise<PassSummary> {
  const { open, unreadable } = await deps.openTasks.list();
  if (unreadable.length > 0) {
    logger.error('Open task waits that cannot be read are left to their TTL', {
      keys: unreadable.map((u) => u.sk),
    });
  }
  const summary = { open: open.length, resumed: 0, closed: 0, failedAnswers: 0, s1Calls: 0 };
  if (open.length === 0) return summary;
  const distinct = [...new Set(open.map((wait) => wait.task.parentTaskId))].sort();
  const start = distinct.length === 0 ? 0 : cursor.next % distinct.length;
  const parents = [...distinct.slice(start), ...distinct.slice(0, start)];
  const rows: S1TaskRow[] = [];
  const unreadableSet = new Set<string>();
  const asked = new Set<string>();
  for (let at = 0; at < parents.length; at += S1_ID_CHUNK_SIZE) {
    const chunk = parents.slice(at, at + S1_ID_CHUNK_SIZE);
    try {
      const answer = await deps.s1.getTaskStatusOfParents(chunk);
      rows.push(...answer.rows);
      for (const parent of answer.unreadableParents) unreadableSet.add(parent);
    } catch (error) {
      // Nothing asked yet: the pass failed. Otherwise the rest waits for the next pass, which starts with it.
      if (asked.size === 0) throw error;
      const log = THROTTLED_ERRORS.includes(errorName(error)) ? logger.info : logger.warn;
      log.call(logger, 'A status call was not answered; the parents not asked wait for the next pass', {
        errorName: errorName(error),
        asked: asked.size,
        notAsked: parents.length - asked.size,
      });
      break;
    }
    summary.s1Calls += 1;
    for (const parent of chunk) asked.add(parent);
  }
  cursor.next = start + asked.size;
  const nowMs = deps.now();
  const decided: { wait: ListedOpenTask; state: CheckedTask }[] = [];
  const failed: { wait: ListedOpenTask; error: Error }[] = [];
  for (const wait of open) {
    if (!asked.has(wait.task.parentTaskId)) continue;
    if (unreadableSet.has(wait.task.parentTaskId)) {
      logger.warn('S1 listed a row of this task that cannot be read; deciding nothing this pass', {
        parentTaskId: wait.task.parentTaskId,
      });
      continue;
    }
    const none = notStarted(wait.task, rows);
    if (none) {
      failed.push({ wait, error: none });
      continue;
    }
    const state = resumedState(wait.task, rows, nowMs);
    if (state) decided.push({ wait, state });
  }
  // The completed collections through S1's cloud are staged next: their result links in one call, not one each.
  const toStage = decided
    .filter(({ state }) => state.task.phase === 'completed' && !state.upload && state.task.childTaskId)
    .map(({ state }) => state.task.childTaskId as string);
  if (deps.prefetchLinks && toStage.length > 0) {
    summary.s1Calls += await deps.prefetchLinks(toStage).catch((error: unknown) => {
      logger.info('Result links not fetched ahead; Stage Output asks S1 itself', {
        errorName: errorName(error),
      });
      return 0;
    });
  }
  // Answers are independent: a few at once, so a pass resuming hundreds fits its interval.
  const answers = [
    ...decided.map(({ wait, state }) => ({ wait, state, error: undefined })),
    ...failed.map(({ wait, error }) => ({ wait, state: undefined, error })),
  ];
  await forEachLimit(answers, ANSWERS_AT_ONCE, async ({ wait, state, error: verdict }) => {
    try {
      if (verdict) await deps.resume.failure(wait.task.taskToken, verdict.name, failureCause(verdict));
      else await deps.resume.success(wait.task.taskToken, state);
      summary.resumed += 1;
      logger.info('Execution resumed', {
        parentTaskId: wait.task.parentTaskId,
        investigationId: wait.task.start.investigation.investigationId,
        ...(verdict ? { error: verdict.name } : { phase: state?.task.phase }),
      });
    } catch (error) {
      const name = errorName(error);
      if (!CLOSED_TOKEN_ERRORS.includes(name)) {
        // Kept: the next pass answers again (a lost answer gets TaskTimedOut then).
        summary.failedAnswers += 1;
        logger.warn('Could not resume the execution; trying again next pass', {
          parentTaskId: wait.task.parentTaskId,
          errorName: name,
        });
        return;
      }
      summary.closed += 1;
      logger.info('The waiting task was already closed', {
        parentTaskId: wait.task.parentTaskId,
        errorName: name,
      });
    }
    await deps.openTasks.remove(wait.sk, wait.writeId);
  });
  return summary;
}

/**
 * Passes every `intervalSeconds` until nothing is open or `runSeconds` are up. Returns at once (no S1 call) when
 * another watcher holds the lease.
 */
export async function watchTasks(deps: WatchDeps): Promise<WatchSummary> {
  const intervalMs = (deps.intervalSeconds ?? 10) * 1000;
  const runMs = (deps.runSeconds ?? 55) * 1000;
  const owner = deps.owner ?? 'watcher';
  if (deps.lease) {
    const lease = await deps.lease.acquireLease(
      WATCHER_LEASE_KEY,
      owner,
      Math.ceil((runMs + intervalMs) / 1000) + 30,
    );
    if (lease.status === 'held') return { passes: [], stopped: 'other-watcher' };
  }
  const passes: PassSummary[] = [];
  const started = deps.now();
  // A random first start: a watcher invocation that ends early must not leave the same parents last every time.
  const cursor: PassCursor = { next: Math.floor(Math.random() * 1_000_000) };
  try {
    for (;;) {
      const queuedLeft = deps.sendExecutes
        ? await deps.sendExecutes().catch((error: unknown) => {
            logger.warn('Watcher execute pass failed; trying again next pass', {
              errorName: errorName(error),
            });
            return 1;
          })
        : 0;
      let pass: PassSummary;
      try {
        pass = await watchOnce(deps, cursor);
      } catch (error) {
        // S1 or the store failed this pass (after the clients' own retries): the waits stay, the next pass retries.
        logger.warn('Watcher pass failed; trying again next pass', { errorName: errorName(error) });
        pass = { open: -1, resumed: 0, closed: 0, failedAnswers: 0, s1Calls: 0, failed: true };
      }
      passes.push(pass);
      const stillOpen = pass.open - pass.resumed - pass.closed;
      const othersOpen = deps.alsoWatch
        ? await deps.alsoWatch().catch((error: unknown) => {
            logger.warn('Watcher pass over the other waits failed; trying again next pass', {
              errorName: errorName(error),
            });
            return 1;
          })
        : 0;
      if (!pass.failed && stillOpen <= 0 && pass.failedAnswers === 0 && othersOpen <= 0 && queuedLeft <= 0)
        return { passes, stopped: 'nothing-open' };
      if (deps.now() - started + intervalMs > runMs) return { passes, stopped: 'time-up' };
      await deps.sleep(intervalMs);
    }
  } finally {
    if (deps.lease) {
      await deps.lease.releaseLease(WATCHER_LEASE_KEY, owner).catch((error: unknown) =>
        logger.warn('Could not release the watcher lease (it lapses by itself)', {
          errorName: errorName(error),
        }),
      );
    }
  }
}
