/**
 * The Task Watcher's execute pass (DESIGN §9, "executes that share a script version are batched"): takes the
 * executes Run Script queued (queued-executes.ts) and sends one `POST /remote-scripts/execute` for each group of
 * agents that run the same script with the same arguments and runtime, naming them all in `filter.ids`. S1 starts
 * one parent task with a child task per agent, and each agent follows its own child from there: its wait is
 * registered with its own task token, exactly as Run Script registers a task it started itself.
 *
 * Exactly once, per agent, as in Run Script (run-script/core.ts): each agent's execute intent is read first (a
 * task started by an earlier attempt is reused; an attempt that may have started one nobody can name ends the agent
 * `outcome_unknown`), then claimed (`executing`, conditional on the version read) before the call, and settled
 * after it. A refusal for throttling (the shared budget, or a 429) leaves the group queued for the next pass; any
 * other refusal fails every agent of the call with S1's error; an answer that never came (5xx after sending, a
 * timeout, a reset) ends every agent of the call `outcome_unknown`, with the task description to search for: one
 * lost answer costs the whole batch its proof, never a second task on any endpoint.
 */
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  decideFromIntent,
  EXECUTE_INTENT_TTL_SECONDS,
  ExecuteIntent,
  executeIntentKey,
  executeRefused,
  failedAttemptOutcome,
  nextTaskRecord,
  outcomeUnknown,
  settleAbandoned,
  TaskRecord,
  type TaskRecordBase,
  taskDeadline,
  taskDescription,
  writeTaskRecord,
} from '../run-script/core';
import { forEachLimit } from '../shared/concurrency';
import { BATCH_DESCRIPTION_PREFIX, METRICS } from '../shared/contract';
import type { OpenS1Task } from '../shared/coordination/open-tasks';
import {
  batchKey,
  EXECUTE_BATCH_LIMIT,
  type ListedQueuedExecute,
} from '../shared/coordination/queued-executes';
import type { CoordinationStore, StoredItem } from '../shared/coordination/store';
import { S1ExecutionNotStartedError, S1RateLimitedError } from '../shared/errors';
import { taskRecordKey } from '../shared/evidence/keys';
import { getJson } from '../shared/evidence/manifest';
import { logger, metrics } from '../shared/observability';
import type { ExecuteInput, ExecuteResult } from '../shared/sentinelone';
import { CLOSED_TOKEN_ERRORS, failureCause, type TaskResumer } from './core';

/** Dependencies of {@link sendQueuedExecutes}. */
export interface ExecutePassDeps {
  readonly queue: {
    list(): Promise<{ queued: ListedQueuedExecute[]; unreadable: { sk: string }[] }>;
    remove(sk: string, writeId: string): Promise<'removed' | 'changed'>;
    get(sk: string): Promise<ListedQueuedExecute | undefined>;
  };
  readonly store: Pick<CoordinationStore, 'get' | 'putIfAbsent' | 'update'>;
  readonly s1: { execute(input: ExecuteInput): Promise<ExecuteResult> };
  readonly openTasks: {
    register(task: OpenS1Task, options: { onlyIfAbsent?: boolean }): Promise<boolean>;
  };
  readonly resume: Pick<TaskResumer, 'failure'>;
  /** The evidence bucket, for each agent's task record (chain of custody). */
  readonly s3: S3Client;
  readonly bucket: string;
  readonly graceSeconds: number;
  readonly now: () => number;
  /** @default 8 random bytes, hex */
  readonly newBatchId?: () => string;
  /**
   * True once no new execute may start (the invocation is near its timeout): a call cut off between the claim and
   * the settle would leave its agents' outcome unknown. The rest stays queued for the next invocation.
   */
  readonly outOfTime?: () => boolean;
}

/** What one execute pass did. */
export interface ExecutePassSummary {
  /** Executes queued at the start of the pass. */
  readonly queued: number;
  /** Execute calls sent to S1. */
  readonly calls: number;
  /** Agents whose task was started (or found started by an earlier attempt). */
  readonly started: number;
  /** Agents failed with S1's refusal or an unknown outcome. */
  readonly failed: number;
  /** Agents left queued (throttled, or their intent changed meanwhile). */
  readonly left: number;
}

/** One agent of a call: its queue entry and the intent it claimed. */
interface Claimed {
  readonly entry: ListedQueuedExecute;
  readonly intent: StoredItem<ExecuteIntent>;
  readonly base: TaskRecordBase;
  /** The record's attempts so far (each append adds one). */
  attempts: TaskRecord['attempts'];
}

const ttl = { ttlSeconds: EXECUTE_INTENT_TTL_SECONDS };

/** Agents of one call claimed, settled and answered at once (store and S3 calls; S1 sees one execute). */
export const AGENTS_AT_ONCE = 16;

/** The S1 task description of a batched execute: the batch id is what the console search finds. */
export function batchDescription(batchId: string, libraryName: string): string {
  return `${BATCH_DESCRIPTION_PREFIX}${batchId}: ${libraryName}`.slice(0, 250);
}

/** Groups queued executes into calls: same script, arguments and runtime, at most the batch limit, oldest first. */
export function executeCalls(queued: readonly ListedQueuedExecute[]): ListedQueuedExecute[][] {
  const groups = new Map<string, ListedQueuedExecute[]>();
  for (const entry of queued) {
    const key = batchKey(entry.queued);
    const group = groups.get(key);
    if (group) group.push(entry);
    else groups.set(key, [entry]);
  }
  const calls: ListedQueuedExecute[][] = [];
  for (const group of groups.values()) {
    for (let at = 0; at < group.length; at += EXECUTE_BATCH_LIMIT) {
      calls.push(group.slice(at, at + EXECUTE_BATCH_LIMIT));
    }
  }
  return calls;
}

/** Sends the queued executes, one call per group; see the file's comment. */
export async function sendQueuedExecutes(deps: ExecutePassDeps): Promise<ExecutePassSummary> {
  const { queued, unreadable } = await deps.queue.list();
  if (unreadable.length > 0) {
    logger.error('Queued executes that cannot be read are left to their TTL', {
      keys: unreadable.map((u) => u.sk),
    });
  }
  const summary = { queued: queued.length, calls: 0, started: 0, failed: 0, left: 0 };
  const calls = executeCalls(queued);
  for (const [index, call] of calls.entries()) {
    if (deps.outOfTime?.()) {
      summary.left += calls.slice(index).reduce((sum, c) => sum + c.length, 0);
      logger.info('Near the invocation timeout; the other queued executes wait for the next one', {
        left: summary.left,
      });
      break;
    }
    const outcome = await sendCall(call, deps, summary);
    if (outcome === 'throttled') {
      // The budget is spent for now: every later call would be refused too.
      summary.left += calls.slice(index + 1).reduce((sum, c) => sum + c.length, 0);
      break;
    }
  }
  return summary;
}

type Summary = { calls: number; started: number; failed: number; left: number };

async function sendCall(
  call: readonly ListedQueuedExecute[],
  deps: ExecutePassDeps,
  summary: Summary,
): Promise<'sent' | 'throttled' | 'nothing'> {
  const first = call[0] as ListedQueuedExecute;
  const { script } = first.queued.start.target;
  const at = new Date(deps.now()).toISOString();
  const description =
    call.length === 1
      ? taskDescription(
          first.queued.start.investigation.investigationId,
          first.queued.start.target.agentId,
          script.libraryName,
        )
      : batchDescription((deps.newBatchId ?? (() => randomBytes(8).toString('hex')))(), script.libraryName);
  const executing: ExecuteIntent = {
    description,
    scriptId: script.scriptId,
    state: 'executing',
    at,
    agents: call.length,
    sender: 'watcher',
  };
  const claims: (Claimed | undefined)[] = [];
  await forEachLimit(call, AGENTS_AT_ONCE, async (entry, index) => {
    claims[index] = await claim(entry, executing, deps, summary);
  });
  const claimed = claims.filter((c): c is Claimed => c !== undefined);
  if (claimed.length === 0) return 'nothing';
  const agentIds = claimed.map((c) => c.entry.queued.start.target.agentId);

  let parentTaskId: string;
  let affected: number;
  try {
    summary.calls += 1;
    ({ parentTaskId, affected } = await deps.s1.execute({
      agentIds,
      scriptId: script.scriptId,
      taskDescription: description,
      inputParams: first.queued.inputParams,
      runtimeTimeoutSeconds: script.runtimeTimeoutSeconds,
    }));
  } catch (error) {
    const refused = executeRefused(error);
    const outcome = failedAttemptOutcome(error, refused);
    const throttled = error instanceof S1RateLimitedError;
    await forEachLimit(claimed, AGENTS_AT_ONCE, async (agent) => {
      await settle(agent, { ...executing, state: refused ? 'refused' : 'unknown', outcome }, deps);
      if (throttled) {
        summary.left += 1;
        return;
      }
      const failure = refused
        ? (error as Error)
        : outcomeUnknown(description, agent.entry.queued.start.target.agentId, outcome, error);
      await appendRecord(agent, deps, at, { state: 'attempt-failed', outcome });
      await answerFailure(agent.entry, failure, deps, summary);
    });
    if (throttled) {
      logger.info('Execute throttled; the agents stay queued for the next pass', { agents: claimed.length });
      return 'throttled';
    }
    logger.warn('Execute failed for every agent it named', {
      errorName: error instanceof Error ? error.name : 'Error',
      agents: claimed.length,
      refused,
    });
    return 'sent';
  }

  const startedMs = deps.now();
  const startedAt = new Date(startedMs).toISOString();
  const deadline = taskDeadline(startedMs, script.runtimeTimeoutSeconds, deps.graceSeconds);
  logger.info('Collection tasks started', { parentTaskId, agents: claimed.length, affected, deadline });
  const execute = { targeted: claimed.length, affected };
  await forEachLimit(claimed, AGENTS_AT_ONCE, async (agent) => {
    // The tasks run: a failure to record must not fail the agent (a retry would then end outcome_unknown).
    await settle(agent, { ...executing, state: 'started', parentTaskId, startedAt, deadline }, deps);
    await appendRecord(agent, deps, startedAt, { state: 'started', parentTaskId, deadline });
    await registerStarted(
      agent.entry,
      { parentTaskId, description, startedAt, deadline, execute },
      false,
      deps,
      summary,
    );
  });
  metrics.addMetric(METRICS.tasksStarted, 'Count', claimed.length);
  return 'sent';
}

/**
 * Reads and claims the agent's execute intent. Returns the claim, or undefined when the agent was dealt with
 * otherwise: a task already started (registered), an outcome nobody can prove (failed), or an intent that changed
 * meanwhile (left queued for the next pass).
 */
async function claim(
  entry: ListedQueuedExecute,
  executing: ExecuteIntent,
  deps: ExecutePassDeps,
  summary: Summary,
): Promise<Claimed | undefined> {
  const { investigation, target } = entry.queued.start;
  const key = executeIntentKey(investigation.investigationId, target.agentId);
  const intent = await deps.store.get(key, ExecuteIntent);
  const decision = decideFromIntent(intent?.data);
  if (decision.action === 'reuse') {
    const { parentTaskId, startedAt, deadline } = decision;
    const description = intent?.data.description ?? executing.description;
    await registerStarted(entry, { parentTaskId, description, startedAt, deadline }, true, deps, summary);
    return undefined;
  }
  const record = await getJson(
    deps.s3,
    deps.bucket,
    taskRecordKey(investigation.investigationId, target.agentId),
    TaskRecord,
  );
  const base: TaskRecordBase = {
    investigationId: investigation.investigationId,
    agentId: target.agentId,
    scriptId: target.script.scriptId,
    description: executing.description,
  };
  const attempts = record?.attempts ?? [];
  if (decision.action === 'unknown') {
    await settleAbandoned(deps.store, key, intent, decision.outcome);
    const description = intent?.data.description ?? executing.description;
    const mine = {
      entry,
      intent: intent as StoredItem<ExecuteIntent>,
      base: { ...base, description },
      attempts,
    };
    await appendRecord(mine, deps, executing.at, {
      state: 'attempt-failed',
      outcome: `outcome unknown: ${decision.outcome}`,
    });
    await answerFailure(entry, outcomeUnknown(description, target.agentId, decision.outcome), deps, summary);
    return undefined;
  }
  if (Date.parse(entry.queued.sendBy) <= deps.now()) {
    // Too late to start a task anyone would wait for: nothing is sent, and the execution is told so.
    await answerFailure(
      entry,
      new S1ExecutionNotStartedError(
        `The execute for agent ${target.agentId} was queued at ${entry.queued.queuedAt} and not sent by ` +
          `${entry.queued.sendBy} (the Task Watcher did not run, or S1's request budget stayed spent); ` +
          'no task was started',
        { details: { agentId: target.agentId } },
      ),
      deps,
      summary,
    );
    return undefined;
  }
  const written = intent
    ? await deps.store.update(key, executing, ExecuteIntent, { ...ttl, expectedVersion: intent.version })
    : await deps.store.putIfAbsent(key, executing, ExecuteIntent, ttl);
  if (written.status !== 'created' && written.status !== 'updated') {
    // Another writer got there first (a retried Run Script): the next pass reads what it wrote.
    summary.left += 1;
    return undefined;
  }
  const mine: Claimed = { entry, intent: written.item, base, attempts };
  await appendRecord(mine, deps, executing.at, { state: 'starting' });
  return mine;
}

/** Settles a claimed intent; a store failure leaves it `executing`, which a retry reads as unknown (safe side). */
async function settle(agent: Claimed, data: ExecuteIntent, deps: ExecutePassDeps): Promise<void> {
  const { investigation, target } = agent.entry.queued.start;
  await deps.store
    .update(executeIntentKey(investigation.investigationId, target.agentId), data, ExecuteIntent, {
      ...ttl,
      expectedVersion: agent.intent.version,
    })
    .catch((storeError: unknown) =>
      logger.error('Could not record how the execute ended', {
        agentId: target.agentId,
        error: storeError as Error,
      }),
    );
}

/** Appends to the agent's task record in the evidence bucket (never fails the agent). */
async function appendRecord(
  agent: Pick<Claimed, 'entry' | 'base' | 'attempts'>,
  deps: ExecutePassDeps,
  at: string,
  event: Parameters<typeof nextTaskRecord>[3],
): Promise<void> {
  const { investigation, target } = agent.entry.queued.start;
  const next = nextTaskRecord(agent.base, agent.attempts, at, event);
  agent.attempts = next.attempts;
  await writeTaskRecord(deps, taskRecordKey(investigation.investigationId, target.agentId), next);
}

/** Registers the agent's wait for its started task (its own token) and takes it off the queue. */
async function registerStarted(
  entry: ListedQueuedExecute,
  task: Pick<OpenS1Task, 'parentTaskId' | 'description' | 'startedAt' | 'deadline' | 'execute'>,
  reusedExisting: boolean,
  deps: ExecutePassDeps,
  summary: Summary,
): Promise<void> {
  // A retried Run Script may have queued it again meanwhile, with the token its state now waits on.
  const latest = (await deps.queue.get(entry.sk).catch(() => undefined)) ?? entry;
  const { start, taskToken } = latest.queued;
  try {
    // A wait already there was registered by a later Run Script (it found the task started): its token is newer.
    await deps.openTasks.register(
      { start, ...task, reusedExisting, taskToken, registeredAt: new Date(deps.now()).toISOString() },
      { onlyIfAbsent: true },
    );
  } catch (error) {
    // The task runs and its intent says so: the next pass finds it started and registers again.
    logger.warn('Could not register the started task; the next pass tries again', {
      agentId: start.target.agentId,
      errorName: error instanceof Error ? error.name : 'Error',
    });
    summary.left += 1;
    return;
  }
  summary.started += 1;
  // Kept when queued again after the read: the next pass finds the task started and registers that token.
  await deps.queue.remove(latest.sk, latest.writeId);
}

/** Fails the agent's waiting Run Script with `error` and takes it off the queue (kept if the answer failed). */
async function answerFailure(
  entry: ListedQueuedExecute,
  error: Error,
  deps: ExecutePassDeps,
  summary: Summary,
): Promise<void> {
  const latest = (await deps.queue.get(entry.sk).catch(() => undefined)) ?? entry;
  try {
    await deps.resume.failure(latest.queued.taskToken, error.name, failureCause(error));
  } catch (answerError) {
    const name = answerError instanceof Error ? answerError.name : 'Error';
    if (!CLOSED_TOKEN_ERRORS.includes(name)) {
      // Kept: the next pass reads the settled intent and answers again.
      logger.warn('Could not fail the waiting execution; trying again next pass', { errorName: name });
      summary.left += 1;
      return;
    }
  }
  summary.failed += 1;
  await deps.queue.remove(latest.sk, latest.writeId);
}
