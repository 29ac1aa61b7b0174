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
import { S1RateLimitedError, S1TransientError } from '../shared/errors';
import { taskRecordKey } from '../shared/evidence/keys';
import { getJson, putJson } from '../shared/evidence/manifest';
import { logger } from '../shared/observability';
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

/** Starts (or finds) the agent's collection task. */
export async function runScript(input: AgentStart, deps: RunScriptDeps): Promise<RunningTask> {
  const { investigation, target } = input;
  const key = taskRecordKey(investigation.investigationId, target.agentId);
  const description = taskDescription(
    investigation.investigationId,
    target.agentId,
    target.script.libraryName,
  );
  const record = await getJson(deps.s3, deps.bucket, key, TaskRecord);

  if (record?.state === 'started' && record.parentTaskId && record.deadline && record.startedAt) {
    logger.info('Task already started by an earlier attempt; not starting another', {
      parentTaskId: record.parentTaskId,
      agentId: target.agentId,
    });
    return running(
      input,
      record.parentTaskId,
      description,
      record.startedAt,
      record.deadline,
      true,
      deps.now(),
    );
  }
  const attempts = record?.attempts ?? [];
  const nowIso = new Date(deps.now()).toISOString();
  if (record && record.state !== 'started') {
    logger.warn('An earlier attempt did not record a started task; starting now', {
      agentId: target.agentId,
      previous: record.attempts.at(-1)?.outcome,
    });
  }
  const base = {
    investigationId: investigation.investigationId,
    agentId: target.agentId,
    scriptId: target.script.scriptId,
    description,
  };
  await putJson(deps.s3, deps.bucket, key, {
    ...base,
    state: 'starting',
    attempts: [...attempts, { at: nowIso, outcome: 'starting' }],
  } satisfies TaskRecord);

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
    // Whether S1 acted is unknown only for transient failures of the POST; say so in the record.
    const unknown = error instanceof S1TransientError && !(error instanceof S1RateLimitedError);
    await putJson(deps.s3, deps.bucket, key, {
      ...base,
      state: 'attempt-failed',
      attempts: [
        ...attempts,
        {
          at: nowIso,
          outcome: `${(error as Error).name}${unknown ? ' (S1 may have started the task)' : ''}`,
        },
      ],
    } satisfies TaskRecord).catch((recordError: unknown) =>
      logger.error('Could not record the failed attempt', { error: recordError as Error }),
    );
    throw error;
  }

  const startedAt = new Date(deps.now()).toISOString();
  const deadline = new Date(
    deps.now() + (target.script.runtimeTimeoutSeconds + deps.graceSeconds) * 1000,
  ).toISOString();
  await putJson(deps.s3, deps.bucket, key, {
    ...base,
    state: 'started',
    parentTaskId,
    startedAt,
    deadline,
    attempts: [...attempts, { at: startedAt, outcome: `started ${parentTaskId}` }],
  } satisfies TaskRecord);
  logger.info('Collection task started', { parentTaskId, agentId: target.agentId, deadline });
  return running(input, parentTaskId, description, startedAt, deadline, false, deps.now());
}

function running(
  input: AgentStart,
  parentTaskId: string,
  description: string,
  startedAt: string,
  deadline: string,
  reusedExisting: boolean,
  nowMs: number,
): RunningTask {
  // A deadline already behind us still gets one check, which then reports it.
  const poll = nextPoll(0, deadline, nowMs, TASK_POLL) ?? { attempt: 0, waitSeconds: 1, deadline };
  return { ...input, task: { parentTaskId, description, startedAt, deadline, reusedExisting }, poll };
}
