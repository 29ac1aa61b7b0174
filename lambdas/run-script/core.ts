/**
 * Run Script: starts the collector on one agent, exactly once, and sets the deadline by which the task must finish.
 *
 * Exactly once (DESIGN §9). Before calling execute, Run Script records an execute intent in the coordination store
 * (`execute#<investigation>` / `agent#<agent>`, state `executing`) and settles it after the call: `started` with the
 * parent task id, `refused` when S1 provably did nothing (429, 4xx, nothing started), `unknown` otherwise (5xx after
 * the body was sent, timeout, reset). A retried invocation (a lost Lambda response, a Step Functions retry) reads
 * the intent first: `started` carries on with that task; `refused` (or none) starts; `executing` or `unknown` means
 * S1 may have started a task whose parent id we never saw.
 *
 * Reconciling such a task would need a lookup by description, and S1 offers none: `GET /remote-scripts/status`
 * (the only task listing, Task Management.view) requires `parentTaskId` or `parentTaskId__in` (reference §2.5), and
 * the parent id is exactly what the lost answer held. So Run Script can never prove that no task exists, and it never
 * starts a second one: the agent ends `outcome_unknown` ({@link S1ExecuteOutcomeUnknownError}) with the task
 * description to search for in the console. The task record in the evidence bucket
 * (`investigations/<id>/<agent>/task.json`) keeps the attempts for the chain of custody.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { LIMITS, METRICS } from '../shared/contract';
import type { CoordinationStore, ItemKey, StoredItem } from '../shared/coordination/store';
import { agentLeaseKey } from '../shared/coordination/table';
import {
  AgentCollectionSharedError,
  AppError,
  DirectUploadError,
  InputValidationError,
  S1ApprovalRequiredError,
  S1AuthError,
  S1ExecuteOutcomeUnknownError,
  S1ExecutionNotStartedError,
  S1ForbiddenError,
  S1NotFoundError,
  S1RateLimitedError,
  S1TlsError,
  S1ValidationError,
} from '../shared/errors';
import { withUploadArgument } from '../shared/evidence/direct-upload';
import { investigationPrefix, taskRecordKey } from '../shared/evidence/keys';
import { getJson, putJson } from '../shared/evidence/manifest';
import { logger, metrics } from '../shared/observability';
import { nextPoll, TASK_POLL } from '../shared/poll';
import type { AgentStart, RunningTask } from '../shared/schemas';
import type { S1Client } from '../shared/sentinelone';

/** The record of the task started for one agent. */
export const TaskRecord = z.object({
  investigationId: z.string(),
  agentId: z.string(),
  scriptId: z.string(),
  description: z.string(),
  state: z.enum(['starting', 'queued', 'started', 'attempt-failed']),
  parentTaskId: z.string().optional(),
  startedAt: z.string().optional(),
  deadline: z.string().optional(),
  attempts: z.array(z.object({ at: z.string(), outcome: z.string() })),
});
export type TaskRecord = z.infer<typeof TaskRecord>;

/** The execute intent of one agent in one investigation, as the coordination store keeps it. */
export const ExecuteIntent = z.object({
  description: z.string(),
  scriptId: z.string(),
  state: z.enum(['executing', 'started', 'refused', 'unknown']),
  at: z.string(),
  parentTaskId: z.string().optional(),
  startedAt: z.string().optional(),
  deadline: z.string().optional(),
  /** How the last attempt ended, when it did not start a task. */
  outcome: z.string().optional(),
  /** How many agents the execute named (a batched execute: one parent task, a child per agent). @default 1 */
  agents: z.number().int().positive().optional(),
  /** Who claimed it: the Task Watcher sends queued executes (watch-tasks/executes.ts). @default "run-script" */
  sender: z.enum(['run-script', 'watcher']).optional(),
});
export type ExecuteIntent = z.infer<typeof ExecuteIntent>;

/** Where the execute intent of `agentId` in `investigationId` lives. */
export function executeIntentKey(investigationId: string, agentId: string): ItemKey {
  return { pk: `execute#${investigationId}`, sk: `agent#${agentId}` };
}

/** How long an execute intent is kept: longer than any investigation (retries, re-runs) can last. */
export const EXECUTE_INTENT_TTL_SECONDS = 30 * 24 * 3600;

/** What the execute intent says to do. */
export type IntentDecision =
  | {
      readonly action: 'reuse';
      readonly parentTaskId: string;
      readonly startedAt: string;
      readonly deadline: string;
    }
  | { readonly action: 'start' }
  /** An earlier attempt may have started a task nobody can name: never start another. */
  | { readonly action: 'unknown'; readonly outcome: string };

/** Decides from the agent's execute intent (undefined: none yet) whether to start the task. */
export function decideFromIntent(intent: ExecuteIntent | undefined): IntentDecision {
  if (!intent || intent.state === 'refused') return { action: 'start' };
  if (intent.state === 'started' && intent.parentTaskId && intent.startedAt && intent.deadline) {
    return {
      action: 'reuse',
      parentTaskId: intent.parentTaskId,
      startedAt: intent.startedAt,
      deadline: intent.deadline,
    };
  }
  if (intent.state === 'executing') {
    return {
      action: 'unknown',
      outcome: `an earlier attempt (${intent.at}) ended without an answer from S1`,
    };
  }
  return {
    action: 'unknown',
    outcome: intent.outcome ?? `an earlier attempt (${intent.at}) got no clear answer`,
  };
}

/**
 * Whether S1 provably did not start a task on a failed execute: it refused the request (429, 401, 403, 404, 4xx
 * validation, TLS failure before sending) or answered that it started nothing, or our own input check refused it
 * before sending. A 5xx, a timeout, a reset or an unreadable 200 leave the outcome unknown.
 */
export function executeRefused(error: unknown): boolean {
  return (
    error instanceof S1RateLimitedError ||
    error instanceof S1AuthError ||
    error instanceof S1ForbiddenError ||
    error instanceof S1NotFoundError ||
    error instanceof S1ValidationError ||
    error instanceof S1TlsError ||
    error instanceof S1ExecutionNotStartedError ||
    error instanceof S1ApprovalRequiredError ||
    error instanceof InputValidationError
  );
}

/** The error an agent ends with when its execute may have started a task: what happened and what to search for. */
export function outcomeUnknown(
  description: string,
  agentId: string,
  why: string,
  cause?: unknown,
): S1ExecuteOutcomeUnknownError {
  return new S1ExecuteOutcomeUnknownError(
    `The outcome of the S1 execute for agent ${agentId} is unknown (${why}); S1 offers no task lookup by ` +
      `description, so no second task is started. Search the console's task list for "${description}"`,
    {
      operation: 'POST /remote-scripts/execute',
      ...(cause === undefined ? {} : { cause }),
      details: { agentId, taskDescription: description },
    },
  );
}

/**
 * How long an investigation holds an agent: while its task may run (runtime + grace), while it is staged, and for
 * the cooldown after. Record Outcome gives the lease back early when the collection failed.
 */
export function agentLeaseSeconds(
  runtimeTimeoutSeconds: number,
  graceSeconds: number,
  cooldownMinutes: number,
): number {
  return runtimeTimeoutSeconds + graceSeconds + LIMITS.stagingTimeoutSeconds + cooldownMinutes * 60;
}

/** The error of an investigation that reuses another one's collection from the agent. */
export function collectionShared(agentId: string, holder: string, until: number): AgentCollectionSharedError {
  const evidencePrefix = `${investigationPrefix(holder)}${agentId}/`;
  return new AgentCollectionSharedError(
    `Agent ${agentId} is collected from by investigation ${holder} (running or within the cooldown, until ` +
      `${new Date(until).toISOString()}); this investigation reuses that collection: evidence under ${evidencePrefix}`,
    { details: { agentId, sharedWith: holder, evidencePrefix } },
  );
}

/** Dependencies of {@link runScript}. */
export interface RunScriptDeps {
  readonly s1: S1Client;
  readonly s3: S3Client;
  readonly bucket: string;
  /** The coordination store holding execute intents and the per-agent leases. */
  readonly store: CoordinationStore;
  /** Minutes after a collection during which other investigations of the agent reuse it. @default 30 */
  readonly cooldownMinutes?: number;
  /** Extra time after the runtime timeout for an offline agent to pick the task up. */
  readonly graceSeconds: number;
  readonly now: () => number;
  /**
   * The collector's direct-upload argument for `input.upload` (presigned part URLs: sent to S1 only, never
   * returned or logged). Required when the input carries an upload.
   */
  readonly directUploadArgument?: (input: AgentStart) => Promise<string>;
  /**
   * Queues the execute for the Task Watcher to send, batched with other agents running the same script (DESIGN §9,
   * queued-executes.ts), instead of sending it here. Used for every collection through S1's cloud when the state
   * waits with a task token; a direct upload's execute (per-agent part URLs) is always sent here.
   */
  readonly queueExecute?: (input: AgentStart, inputParams: string) => Promise<void>;
}

/** Run Script's answer when the execute was queued for the Task Watcher (the state waits on its token). */
export interface QueuedRun {
  readonly queued: true;
}

/** The S1 task description: traceable from the console back to the investigation and agent. */
export function taskDescription(investigationId: string, agentId: string, libraryName: string): string {
  return `s1cado ${investigationId} agent ${agentId}: ${libraryName}`.slice(0, 250);
}

/** How a failed execute call is recorded: the error's name, and whether S1 may have acted anyway. */
export function failedAttemptOutcome(error: unknown, refused: boolean): string {
  const name = error instanceof Error ? error.name : 'Error';
  const status = error instanceof AppError && 'status' in error && error.status ? ` ${error.status}` : '';
  return `${name}${status}${refused ? ' (refused: no task started)' : ' (S1 may have started the task)'}`;
}

/** The task's deadline: its runtime timeout plus the grace for an offline agent, from when it started. */
export function taskDeadline(startedMs: number, runtimeTimeoutSeconds: number, graceSeconds: number): string {
  return new Date(startedMs + (runtimeTimeoutSeconds + graceSeconds) * 1000).toISOString();
}

/** The task record's fields that every state shares. */
export type TaskRecordBase = Pick<TaskRecord, 'investigationId' | 'agentId' | 'scriptId' | 'description'>;

/** The task record after an attempt: `event` says how it stands, and is appended to the attempts. */
export function nextTaskRecord(
  base: TaskRecordBase,
  attempts: TaskRecord['attempts'],
  at: string,
  event:
    | { readonly state: 'starting' }
    | { readonly state: 'queued' }
    | { readonly state: 'attempt-failed'; readonly outcome: string }
    | { readonly state: 'started'; readonly parentTaskId: string; readonly deadline: string },
): TaskRecord {
  switch (event.state) {
    case 'starting':
      return { ...base, state: 'starting', attempts: [...attempts, { at, outcome: 'starting' }] };
    case 'queued':
      return {
        ...base,
        state: 'queued',
        attempts: [...attempts, { at, outcome: 'queued for the Task Watcher to send (batched)' }],
      };
    case 'attempt-failed':
      return { ...base, state: 'attempt-failed', attempts: [...attempts, { at, outcome: event.outcome }] };
    case 'started':
      return {
        ...base,
        state: 'started',
        parentTaskId: event.parentTaskId,
        startedAt: at,
        deadline: event.deadline,
        attempts: [...attempts, { at, outcome: `started ${event.parentTaskId}` }],
      };
  }
}

/**
 * The state after Run Script: the task and the first poll. A deadline already behind us still gets one check
 * (after a second), which then reports it.
 */
export function runningTask(
  input: AgentStart,
  task: RunningTask['task'],
  nowMs: number,
  random: () => number = Math.random,
): RunningTask {
  const poll = nextPoll(0, task.deadline, nowMs, TASK_POLL, random) ?? {
    attempt: 0,
    waitSeconds: 1,
    deadline: task.deadline,
  };
  return { ...input, task, poll };
}

/**
 * Settles an intent left `executing` by an attempt that never reported (it may have started a task nobody can name)
 * as `unknown`, conditional on the version read; other states stay as they are.
 */
export async function settleAbandoned(
  store: Pick<CoordinationStore, 'update'>,
  key: ItemKey,
  intent: StoredItem<ExecuteIntent> | undefined,
  outcome: string,
): Promise<void> {
  if (intent?.data.state !== 'executing') return;
  await store.update(key, { ...intent.data, state: 'unknown', outcome }, ExecuteIntent, {
    ttlSeconds: EXECUTE_INTENT_TTL_SECONDS,
    expectedVersion: intent.version,
  });
}

/**
 * Writes the agent's task record (the chain of custody's account of each attempt). Never fails the agent: the
 * intent in the coordination store is what keeps the execute exactly once; a record that could not be written is
 * logged.
 */
export async function writeTaskRecord(
  at: { readonly s3: S3Client; readonly bucket: string },
  key: string,
  record: TaskRecord,
): Promise<void> {
  await putJson(at.s3, at.bucket, key, record).catch((recordError: unknown) =>
    logger.error('Could not record the attempt', {
      agentId: record.agentId,
      state: record.state,
      error: recordError as Error,
    }),
  );
}

/** Starts (or finds) the agent's collection task; see the file's comment for how it stays exactly once. */
export async function runScript(input: AgentStart, deps: RunScriptDeps): Promise<RunningTask | QueuedRun> {
  const { investigation, target } = input;
  const { agentId } = target;
  const key = taskRecordKey(investigation.investigationId, agentId);
  const intentKey = executeIntentKey(investigation.investigationId, agentId);
  const description = taskDescription(investigation.investigationId, agentId, target.script.libraryName);
  const ttl = { ttlSeconds: EXECUTE_INTENT_TTL_SECONDS };
  const base: TaskRecordBase = {
    investigationId: investigation.investigationId,
    agentId,
    scriptId: target.script.scriptId,
    description,
  };
  // One collection per endpoint at a time (and the cooldown): another investigation's lease means reuse.
  const lease = await deps.store.acquireLease(
    agentLeaseKey(agentId),
    investigation.investigationId,
    agentLeaseSeconds(target.script.runtimeTimeoutSeconds, deps.graceSeconds, deps.cooldownMinutes ?? 30),
  );
  if (lease.status === 'held') throw collectionShared(agentId, lease.lease.owner, lease.lease.expiresAt);
  const record = await getJson(deps.s3, deps.bucket, key, TaskRecord);
  const attempts = record?.attempts ?? [];
  const attemptAt = new Date(deps.now()).toISOString();
  // Before any intent is claimed: an argument that cannot be made fails the agent with nothing started.
  const inputParams = await directInputParams(input, deps);

  let intent: StoredItem<ExecuteIntent> | undefined = await deps.store.get(intentKey, ExecuteIntent);
  const executing: ExecuteIntent = {
    description,
    scriptId: target.script.scriptId,
    state: 'executing',
    at: attemptAt,
  };
  for (let claimed = false; !claimed; ) {
    if (
      deps.queueExecute &&
      !input.upload &&
      intent?.data.state === 'executing' &&
      intent.data.sender === 'watcher'
    ) {
      // The watcher is sending it now (a retried Run Script, with a new token): it answers the latest queued token.
      await deps.queueExecute(input, inputParams);
      logger.info('Execute in flight at the Task Watcher; queued again with this attempt’s token', {
        agentId,
      });
      return { queued: true };
    }
    const decision = decideFromIntent(intent?.data);
    if (decision.action === 'reuse') {
      logger.info('Task already started by an earlier attempt; not starting another', {
        parentTaskId: decision.parentTaskId,
        agentId,
      });
      const { parentTaskId, startedAt, deadline } = decision;
      return runningTask(
        input,
        { parentTaskId, description, startedAt, deadline, reusedExisting: true },
        deps.now(),
      );
    }
    if (decision.action === 'unknown') {
      await settleAbandoned(deps.store, intentKey, intent, decision.outcome);
      const failed = nextTaskRecord(base, attempts, attemptAt, {
        state: 'attempt-failed',
        outcome: `outcome unknown: ${decision.outcome}`,
      });
      await writeTaskRecord(deps, key, failed);
      throw outcomeUnknown(description, agentId, decision.outcome);
    }
    if (deps.queueExecute && !input.upload) {
      // Sent by the Task Watcher, which claims and settles the intent like below (watch-tasks/executes.ts).
      await writeTaskRecord(deps, key, nextTaskRecord(base, attempts, attemptAt, { state: 'queued' }));
      await deps.queueExecute(input, inputParams);
      logger.info('Execute queued for the Task Watcher', { agentId, scriptId: target.script.scriptId });
      return { queued: true };
    }
    // Claim the execute: a concurrent or earlier invocation that got there first decides instead (next turn).
    const claim = intent
      ? await deps.store.update(intentKey, executing, ExecuteIntent, {
          ...ttl,
          expectedVersion: intent.version,
        })
      : await deps.store.putIfAbsent(intentKey, executing, ExecuteIntent, ttl);
    if (claim.status === 'created' || claim.status === 'updated') {
      intent = claim.item;
      claimed = true;
    } else {
      intent = claim.status === 'exists' ? claim.item : claim.current;
    }
  }
  const claimedIntent = intent as StoredItem<ExecuteIntent>;
  if (record) {
    logger.warn('An earlier attempt did not start a task; starting now', {
      agentId,
      previous: record.attempts.at(-1)?.outcome,
    });
  }
  await writeTaskRecord(deps, key, nextTaskRecord(base, attempts, attemptAt, { state: 'starting' }));

  let parentTaskId: string;
  try {
    ({ parentTaskId } = await deps.s1.execute({
      agentIds: [agentId],
      scriptId: target.script.scriptId,
      taskDescription: description,
      inputParams,
      runtimeTimeoutSeconds: target.script.runtimeTimeoutSeconds,
    }));
  } catch (error) {
    const refused = executeRefused(error);
    const outcome = failedAttemptOutcome(error, refused);
    await deps.store
      .update(intentKey, { ...executing, state: refused ? 'refused' : 'unknown', outcome }, ExecuteIntent, {
        ...ttl,
        expectedVersion: claimedIntent.version,
      })
      .catch((storeError: unknown) =>
        // Left `executing`, which a retry reads as unknown: the safe side.
        logger.error('Could not record how the execute ended', { error: storeError as Error }),
      );
    const failed = nextTaskRecord(base, attempts, attemptAt, { state: 'attempt-failed', outcome });
    await writeTaskRecord(deps, key, failed);
    if (refused) throw error;
    throw outcomeUnknown(description, agentId, outcome, error);
  }

  const startedMs = deps.now();
  const startedAt = new Date(startedMs).toISOString();
  const deadline = taskDeadline(startedMs, target.script.runtimeTimeoutSeconds, deps.graceSeconds);
  // The task runs: a failure to record it must not fail the agent (a retry would then end outcome_unknown).
  await deps.store
    .update(intentKey, { ...executing, state: 'started', parentTaskId, startedAt, deadline }, ExecuteIntent, {
      ...ttl,
      expectedVersion: claimedIntent.version,
    })
    .catch((storeError: unknown) =>
      logger.error('Could not record the started task in the coordination store', {
        error: storeError as Error,
      }),
    );
  await writeTaskRecord(
    deps,
    key,
    nextTaskRecord(base, attempts, startedAt, { state: 'started', parentTaskId, deadline }),
  );
  logger.info('Collection task started', { parentTaskId, agentId, deadline });
  metrics.addMetric(METRICS.tasksStarted, 'Count', 1);
  return runningTask(
    input,
    { parentTaskId, description, startedAt, deadline, reusedExisting: false },
    deps.now(),
  );
}

/** The script's input parameters, with the direct-upload argument when Prepare Upload opened an upload. */
async function directInputParams(input: AgentStart, deps: RunScriptDeps): Promise<string> {
  if (!input.upload) return input.target.script.inputParams;
  if (!deps.directUploadArgument) {
    throw new DirectUploadError(
      'This Run Script cannot presign direct-upload part URLs (no signer configured)',
    );
  }
  return withUploadArgument(input.target.script.inputParams, await deps.directUploadArgument(input));
}
