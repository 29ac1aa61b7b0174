/**
 * Cancel Investigation (`s1cado cancel`): an operator stops an investigation on purpose. In this order, so that
 * nothing new starts while the rest is cleaned up:
 *
 * 1. Stops the Step Functions execution (`StopExecution`, error `InvestigationCancelled`). A step already running
 *    finishes on its own, but no further state runs, so no new S1 task and no new Cado import is started.
 * 2. Asks S1 to cancel each agent's task (the task records under the investigation's prefix name them), with the
 *    same private endpoint Cancel Task uses: S1 cancels only tasks not yet delivered to the agent.
 *    An agent whose task S1 cancelled gets its collection lease back, so the next investigation may collect.
 * 3. Asks Cado to cancel each pipeline still running for the investigation's staged objects (the import intents in
 *    the coordination store name them), and their processing pipelines.
 * 4. Adds a note on the S1 threat, when the investigation has one.
 * 5. Writes `cancellation.json` once (If-None-Match): who, why, and what each step did.
 *
 * Nothing staged is deleted or rewritten: the evidence, its manifests and task records stay as they were. A failure
 * in steps 2-4 is recorded and the rest goes on; the cancel fails only when it cannot stop the execution or write
 * its record. An execution already stopped without a record (a cancel cut short, or a stop from the console) is
 * cleaned up the same way, so running the command again completes it.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  type SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { agentChild } from '../cancel-task/core';
import { ImportIntent, importIntentKey } from '../hand-to-cado/core';
import { type CadoClient, classifyPipeline } from '../shared/cado';
import type { CoordinationStore } from '../shared/coordination/store';
import { agentLeaseKey } from '../shared/coordination/table';
import { InvestigationNotRunningError } from '../shared/errors';
import {
  CANCELLATION_SCHEMA,
  type CancellationRecord,
  type CancelledPipeline,
  type CancelledTask,
} from '../shared/evidence/cancellation';
import { cancellationKey, investigationPrefix } from '../shared/evidence/keys';
import { getJson, putJson, TOOL_NAME } from '../shared/evidence/manifest';
import { logger } from '../shared/observability';
import { redact } from '../shared/redact';
import { CancelInvestigationInput } from '../shared/schemas';
import type { S1Client } from '../shared/sentinelone';

export { CancelInvestigationInput };

/** The Step Functions error a cancelled execution ends with. */
export const CANCELLED_ERROR = 'InvestigationCancelled';

/** At most this many listing pages (1000 keys each) are read: far more than one investigation writes. */
const MAX_LIST_PAGES = 20;

/** Dependencies of {@link cancelInvestigation}. */
export interface CancelDeps {
  readonly sfn: SFNClient;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly stateMachineArn: string;
  readonly s1: Pick<S1Client, 'cancelTasks' | 'addThreatNote' | 'getTaskStatus'>;
  readonly cado: Pick<CadoClient, 'getPipeline' | 'listChildPipelines' | 'abortPipeline'>;
  readonly store: Pick<CoordinationStore, 'get' | 'releaseLease'>;
  readonly nowIso: () => string;
  readonly version: string;
}

/** What the function returns: the record and where it is. */
export interface CancelResult extends CancellationRecord {
  readonly recordKey: string;
}

/** The fields of a task record the cancel reads (Run Script writes it; tolerant of more). */
const TaskRecordView = z.looseObject({
  agentId: z.string(),
  parentTaskId: z.string().optional(),
  description: z.string().optional(),
});
/** The fields of a manifest the cancel reads. */
const ManifestView = z.looseObject({
  agent: z.looseObject({ agentId: z.string() }),
  object: z.looseObject({ bucket: z.string(), key: z.string(), versionId: z.string().nullable() }),
});
/** The workflow input fields the cancel reads. */
const InputView = z.looseObject({ threatId: z.string().optional() });

const describe = (error: unknown) =>
  redact(`${(error as Error).name}: ${(error as Error).message}`).slice(0, 500);

function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

async function listKeys(deps: CancelDeps, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const out = await deps.s3.send(
      new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const item of out.Contents ?? []) if (item.Key) keys.push(item.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
    if (!token) break;
  }
  return keys;
}

async function cancelS1Task(
  deps: CancelDeps,
  agentId: string,
  parentTaskId: string,
  description: string | undefined,
): Promise<CancelledTask> {
  try {
    // A batched execute's parent holds other agents' (and investigations') tasks: cancel only this agent's child.
    const child = await agentChild(parentTaskId, agentId, deps.s1, description);
    if (!child.childTaskIds && child.others) {
      return {
        agentId,
        parentTaskId,
        outcome: 'not_cancelled',
        affected: 0,
        reason: 'S1 lists no task of this agent under the batched parent task; nothing canceled',
      };
    }
    const result = await deps.s1.cancelTasks({
      parentTaskId,
      ...(child.others && child.childTaskIds ? { childTaskIds: child.childTaskIds } : {}),
    });
    if (result.unsupported) {
      return {
        agentId,
        parentTaskId,
        outcome: 'unsupported',
        affected: 0,
        reason: 'the S1 console does not offer task cancellation',
      };
    }
    return {
      agentId,
      parentTaskId,
      outcome: result.affected > 0 ? 'cancelled' : 'not_cancelled',
      affected: result.affected,
      ...(result.affected > 0
        ? {}
        : { reason: 'S1 cancelled nothing: the task was already delivered to the agent, or it ended' }),
    };
  } catch (error) {
    logger.warn('S1 task cancel failed', { parentTaskId, error: (error as Error).name });
    return { agentId, parentTaskId, outcome: 'failed', affected: 0, reason: describe(error) };
  }
}

async function abortIfRunning(deps: CancelDeps, key: string, pipelineId: number): Promise<CancelledPipeline> {
  try {
    const pipeline = await deps.cado.getPipeline(pipelineId);
    if (classifyPipeline(pipeline).state === 'running') {
      await deps.cado.abortPipeline(pipelineId);
      return { key, pipelineId, outcome: 'aborted' };
    }
    return { key, pipelineId, outcome: 'already_ended', reason: classifyPipeline(pipeline).reason };
  } catch (error) {
    logger.warn('Cado pipeline cancel failed', { pipelineId, error: (error as Error).name });
    return { key, pipelineId, outcome: 'failed', reason: describe(error) };
  }
}

/** The Cado pipelines of one staged object (the import and its processing pipelines), each cancelled if running. */
async function cancelPipelines(deps: CancelDeps, manifestKey: string): Promise<CancelledPipeline[]> {
  let manifest: z.infer<typeof ManifestView> | undefined;
  let pipelineId: number | undefined;
  try {
    manifest = await getJson(deps.s3, deps.bucket, manifestKey, ManifestView);
    if (!manifest) return [];
    const { bucket, key, versionId } = manifest.object;
    pipelineId = (await deps.store.get(importIntentKey(bucket, key, versionId), ImportIntent))?.data
      .pipelineId;
  } catch (error) {
    logger.warn('Could not read the hand-off of a staged object', {
      manifestKey,
      error: (error as Error).name,
    });
    return [];
  }
  if (pipelineId === undefined) return [];
  const key = manifest.object.key;
  const results = [await abortIfRunning(deps, key, pipelineId)];
  try {
    for (const child of await deps.cado.listChildPipelines(pipelineId)) {
      results.push(await abortIfRunning(deps, key, child.id));
    }
  } catch (error) {
    results.push({
      key,
      pipelineId,
      outcome: 'failed',
      reason: `listing its processing pipelines: ${describe(error)}`,
    });
  }
  return results;
}

/** Cancels the investigation `input.investigationId` (see the module comment). */
export async function cancelInvestigation(
  input: CancelInvestigationInput,
  deps: CancelDeps,
): Promise<CancelResult> {
  const { investigationId, reason, requestedBy } = input;
  logger.appendKeys({ investigationId });
  const executionArn = executionArnOf(deps.stateMachineArn, investigationId);
  const recordKey = cancellationKey(investigationId);

  let execution: { status?: string; input?: string };
  try {
    execution = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist) {
      throw new InvestigationNotRunningError(
        `There is no execution named ${investigationId} (check the id with s1cado status); nothing was cancelled`,
      );
    }
    throw error;
  }
  const statusBefore = execution.status ?? 'UNKNOWN';
  const earlier = await getJson(
    deps.s3,
    deps.bucket,
    recordKey,
    z.looseObject({ cancelledBy: z.string(), at: z.string() }),
  );
  if (earlier) {
    throw new InvestigationNotRunningError(
      `Investigation ${investigationId} was already cancelled by ${earlier.cancelledBy} at ${earlier.at} (${recordKey})`,
    );
  }
  if (statusBefore !== 'RUNNING' && statusBefore !== 'ABORTED') {
    throw new InvestigationNotRunningError(
      `Investigation ${investigationId} is not running (${statusBefore}); nothing was cancelled`,
    );
  }

  let stopped = false;
  if (statusBefore === 'RUNNING') {
    await deps.sfn.send(
      new StopExecutionCommand({
        executionArn,
        error: CANCELLED_ERROR,
        cause: redact(`Cancelled by ${requestedBy}: ${reason}`).slice(0, 32_000),
      }),
    );
    stopped = true;
    logger.info('Execution stopped', { requestedBy });
  }

  const parsedInput = InputView.safeParse(JSON.parse(execution.input ?? '{}'));
  const threatId = parsedInput.success ? parsedInput.data.threatId : undefined;
  const prefix = investigationPrefix(investigationId);
  const keys = await listKeys(deps, prefix);

  const s1Tasks: CancelledTask[] = [];
  // `<prefix><agentId>/task.json`: one per agent that had a task started.
  for (const key of keys.filter((k) => /^[^/]+\/task\.json$/.test(k.slice(prefix.length)))) {
    const record = await getJson(deps.s3, deps.bucket, key, TaskRecordView).catch(() => undefined);
    if (record?.parentTaskId)
      s1Tasks.push(await cancelS1Task(deps, record.agentId, record.parentTaskId, record.description));
  }

  // An agent whose task S1 cancelled is free for the next investigation: its collection lease goes back (only if
  // this investigation holds it). Where S1 cancelled nothing the task may still run, so the lease runs its course.
  for (const task of s1Tasks.filter((t) => t.outcome === 'cancelled')) {
    const released = await deps.store
      .releaseLease(agentLeaseKey(task.agentId), investigationId)
      .catch((error: unknown) => {
        logger.warn('Could not release the collection lease', {
          agentId: task.agentId,
          error: (error as Error).name,
        });
        return { status: 'failed' as const };
      });
    task.leaseReleased = released.status === 'released';
  }

  const cadoPipelines: CancelledPipeline[] = [];
  for (const key of keys.filter((k) => k.endsWith('/manifest.json'))) {
    cadoPipelines.push(...(await cancelPipelines(deps, key)));
  }

  let threatNote: CancellationRecord['threatNote'] = null;
  if (threatId) {
    try {
      await deps.s1.addThreatNote(
        [threatId],
        `s1-cado-forensics investigation ${investigationId} cancelled by ${requestedBy}: ${reason}`.slice(
          0,
          2000,
        ),
      );
      threatNote = { added: true };
    } catch (error) {
      logger.warn('Could not add the threat note', { error: (error as Error).name });
      threatNote = { added: false, reason: describe(error) };
    }
  }

  const record: CancellationRecord = {
    schema: CANCELLATION_SCHEMA,
    investigationId,
    cancelledBy: requestedBy,
    reason,
    at: deps.nowIso(),
    execution: { arn: executionArn, statusBefore, stopped },
    ...(threatId ? { threatId } : {}),
    s1Tasks,
    cadoPipelines,
    threatNote,
    evidenceObjects: keys.length,
    tool: { name: TOOL_NAME, version: deps.version },
  };
  await putJson(deps.s3, deps.bucket, recordKey, record, { createOnly: true });
  logger.info('Investigation cancelled', {
    stopped,
    s1Tasks: s1Tasks.length,
    cadoPipelines: cadoPipelines.length,
  });
  return { ...record, recordKey };
}
