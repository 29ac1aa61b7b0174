/**
 * Run Script: starts the collector on one agent and sets the deadline by which the task must finish.
 *
 * Idempotent. S1's task-status API cannot be searched by description alone (it requires the parent task id), so
 * the parent task id is recorded in the evidence bucket (`investigations/<id>/<agent>/task.json`) as soon as S1
 * returns it; a retried invocation (Lambda timeout, Step Functions retry) reads the record and carries on with the
 * task that already runs instead of starting a second one. The task description names the investigation and the
 * agent, so the task can be traced from the S1 console too.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { METRICS } from '../shared/contract';
import { S1RateLimitedError, S1TransientError } from '../shared/errors';
import { taskRecordKey } from '../shared/evidence/keys';
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
  state: z.enum(['starting', 'started', 'attempt-failed']),
  parentTaskId: z.string().optional(),
  startedAt: z.string().optional(),
  deadline: z.string().optional(),
  attempts: z.array(z.object({ at: z.string(), outcome: z.string() })),
});
export type TaskRecord = z.infer<typeof TaskRecord>;

/** Dependencies of {@link runScript}. */
export interface RunScriptDeps {
  readonly s1: S1Client;
  readonly s3: S3Client;
  readonly bucket: string;
  /** Extra time after the runtime timeout for an offline agent to pick the task up. */
  readonly graceSeconds: number;
  readonly now: () => number;
}

/** The S1 task description: traceable from the console back to the investigation and agent. */
export function taskDescription(investigationId: string, agentId: string, libraryName: string): string {
  return `s1cado ${investigationId} agent ${agentId}: ${libraryName}`.slice(0, 250);
}

/** What the task record says to do: carry on with the task an earlier attempt started, or start one. */
export type StartDecision =
  | {
      readonly action: 'reuse';
      readonly parentTaskId: string;
      readonly startedAt: string;
      readonly deadline: string;
    }
  | {
      readonly action: 'start';
      /** True when an earlier attempt left a record (it started no task, or did not say which). */
      readonly retry: boolean;
      /** The attempts recorded so far, which the new record keeps. */
      readonly attempts: TaskRecord['attempts'];
      /** How the last recorded attempt ended, when there was one (it did not record a started task). */
      readonly previousOutcome?: string;
    };

/**
 * Decides from the agent's task record (undefined: none yet) whether to start the task. Only a record of a
 * started task with its parent id, start and deadline is reused; a record left `starting` or `attempt-failed`
 * names no task to carry on with, so the task is started (S1 cannot be searched by description alone).
 */
export function decideStart(record: TaskRecord | undefined): StartDecision {
  if (record?.state === 'started' && record.parentTaskId && record.deadline && record.startedAt) {
    return {
      action: 'reuse',
      parentTaskId: record.parentTaskId,
      startedAt: record.startedAt,
      deadline: record.deadline,
    };
  }
  if (!record) return { action: 'start', retry: false, attempts: [] };
  return {
    action: 'start',
    retry: true,
    attempts: record.attempts,
    previousOutcome: record.attempts.at(-1)?.outcome,
  };
}

/**
 * How a failed execute call is recorded: the error's name, and whether S1 may have acted anyway. That is unknown
 * only for a transient failure of the POST (a 5xx or a lost response); a throttled call was refused.
 */
export function failedAttemptOutcome(error: unknown): string {
  const name = error instanceof Error ? error.name : 'Error';
  const unknown = error instanceof S1TransientError && !(error instanceof S1RateLimitedError);
  return `${name}${unknown ? ' (S1 may have started the task)' : ''}`;
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
    | { readonly state: 'attempt-failed'; readonly outcome: string }
    | { readonly state: 'started'; readonly parentTaskId: string; readonly deadline: string },
): TaskRecord {
  switch (event.state) {
    case 'starting':
      return { ...base, state: 'starting', attempts: [...attempts, { at, outcome: 'starting' }] };
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

/** Starts (or finds) the agent's collection task. */
export async function runScript(input: AgentStart, deps: RunScriptDeps): Promise<RunningTask> {
  const { investigation, target } = input;
  const key = taskRecordKey(investigation.investigationId, target.agentId);
  const description = taskDescription(
    investigation.investigationId,
    target.agentId,
    target.script.libraryName,
  );
  const decision = decideStart(await getJson(deps.s3, deps.bucket, key, TaskRecord));

  if (decision.action === 'reuse') {
    logger.info('Task already started by an earlier attempt; not starting another', {
      parentTaskId: decision.parentTaskId,
      agentId: target.agentId,
    });
    const { parentTaskId, startedAt, deadline } = decision;
    return runningTask(
      input,
      { parentTaskId, description, startedAt, deadline, reusedExisting: true },
      deps.now(),
    );
  }
  const { attempts } = decision;
  if (decision.retry) {
    logger.warn('An earlier attempt did not record a started task; starting now', {
      agentId: target.agentId,
      previous: decision.previousOutcome,
    });
  }
  const base: TaskRecordBase = {
    investigationId: investigation.investigationId,
    agentId: target.agentId,
    scriptId: target.script.scriptId,
    description,
  };
  const attemptAt = new Date(deps.now()).toISOString();
  await putJson(deps.s3, deps.bucket, key, nextTaskRecord(base, attempts, attemptAt, { state: 'starting' }));

  let parentTaskId: string;
  try {
    ({ parentTaskId } = await deps.s1.execute({
      agentIds: [target.agentId],
      scriptId: target.script.scriptId,
      taskDescription: description,
      inputParams: target.script.inputParams,
      runtimeTimeoutSeconds: target.script.runtimeTimeoutSeconds,
    }));
  } catch (error) {
    const failed = nextTaskRecord(base, attempts, attemptAt, {
      state: 'attempt-failed',
      outcome: failedAttemptOutcome(error),
    });
    await putJson(deps.s3, deps.bucket, key, failed).catch((recordError: unknown) =>
      logger.error('Could not record the failed attempt', { error: recordError as Error }),
    );
    throw error;
  }

  const startedMs = deps.now();
  const startedAt = new Date(startedMs).toISOString();
  const deadline = taskDeadline(startedMs, target.script.runtimeTimeoutSeconds, deps.graceSeconds);
  await putJson(
    deps.s3,
    deps.bucket,
    key,
    nextTaskRecord(base, attempts, startedAt, { state: 'started', parentTaskId, deadline }),
  );
  logger.info('Collection task started', { parentTaskId, agentId: target.agentId, deadline });
  metrics.addMetric(METRICS.tasksStarted, 'Count', 1);
  return runningTask(
    input,
    { parentTaskId, description, startedAt, deadline, reusedExisting: false },
    deps.now(),
  );
}
