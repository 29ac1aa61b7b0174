/**
 * The investigation's execution: looking it up by investigation id, and waiting for it to finish (bounded, with
 * backoff) while showing what the bucket says about its progress.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { formatDuration } from '../units';
import { bucketProgress } from './case-file';
import { type ExecutionView, executionArnOf } from './format';
import type { CliIo, Output } from './io';

/** A backoff schedule in clock milliseconds. */
export interface Backoff {
  readonly firstMs: number;
  readonly factor: number;
  readonly capMs: number;
}

/** DescribeExecution is cheap, but an investigation takes minutes to hours: 5 s, growing to 30 s. */
export const EXECUTION_POLL: Backoff = { firstMs: 5_000, factor: 1.5, capMs: 30_000 };

/** The pause before look number `attempt + 1`. */
export function backoffMs(attempt: number, schedule: Backoff): number {
  return Math.min(schedule.capMs, Math.round(schedule.firstMs * schedule.factor ** attempt));
}

/** DescribeExecution of the investigation; undefined when there is no execution by that name. */
export async function describeInvestigation(
  sfn: SFNClient,
  stateMachineArn: string,
  investigationId: string,
): Promise<ExecutionView | undefined> {
  try {
    const out = await sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArnOf(stateMachineArn, investigationId) }),
    );
    return {
      executionArn: out.executionArn ?? executionArnOf(stateMachineArn, investigationId),
      status: out.status ?? 'UNKNOWN',
      ...(out.startDate ? { startDate: out.startDate } : {}),
      ...(out.stopDate ? { stopDate: out.stopDate } : {}),
      ...(out.error ? { error: out.error } : {}),
      ...(out.cause ? { cause: out.cause } : {}),
    };
  } catch (error) {
    if ((error as Error).name === 'ExecutionDoesNotExist') return undefined;
    throw error;
  }
}

/** Reads the bucket's view of a running investigation as one line; undefined when it cannot be read. */
export async function progressText(
  s3: S3Client,
  bucket: string,
  investigationId: string,
): Promise<string | undefined> {
  try {
    const progress = await bucketProgress(s3, bucket, investigationId);
    if (progress.caseWritten) return 'outcome recorded';
    if (progress.tasksStarted.size === 0) return 'resolving agents and scripts';
    return `S1 task started on ${progress.tasksStarted.size} agent(s), evidence staged for ${progress.staged.size}`;
  } catch {
    // Progress is a courtesy: an operator without s3:ListBucket still gets the execution status.
    return undefined;
  }
}

/** What {@link waitForExecution} needs. */
export interface WaitOptions {
  readonly sfn: SFNClient;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly stateMachineArn: string;
  readonly investigationId: string;
  readonly timeoutMs: number;
  readonly io: CliIo;
  readonly out: Output;
}

/** Polls until the execution leaves RUNNING or `timeoutMs` (clock time) passes; progress goes to stderr. */
export async function waitForExecution(
  opts: WaitOptions,
): Promise<{ view: ExecutionView | undefined; timedOut: boolean }> {
  const { io, out } = opts;
  const start = io.now();
  const deadline = start + opts.timeoutMs;
  let lastProgress: string | undefined;
  for (let attempt = 0; ; attempt++) {
    const view = await describeInvestigation(opts.sfn, opts.stateMachineArn, opts.investigationId);
    if (view?.status !== 'RUNNING') return { view, timedOut: false };
    const progress = await progressText(opts.s3, opts.bucket, opts.investigationId);
    if (progress !== undefined && progress !== lastProgress) {
      out.err(`  ${formatDuration(io.now() - start).padStart(7)}  running: ${progress}`);
      lastProgress = progress;
    }
    const left = deadline - io.now();
    if (left <= 0) return { view, timedOut: true };
    await io.sleep(Math.min(backoffMs(attempt, EXECUTION_POLL), left));
  }
}

/** The history events after `afterId`, oldest first (read newest first, so a long history costs one page a look). */
async function historySince(sfn: SFNClient, executionArn: string, afterId: number): Promise<HistoryEvent[]> {
  const fresh: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, nextToken }),
    );
    for (const event of page.events ?? []) {
      if ((event.id ?? 0) <= afterId) return fresh.reverse();
      fresh.push(event);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return fresh.reverse();
}

/** A history event as a progress line, or undefined for the ones not worth a line. */
function progressLine(event: HistoryEvent): string | undefined {
  if (event.type === 'TaskStateEntered') return event.stateEnteredEventDetails?.name;
  if (event.type === 'MapIterationStarted') {
    const d = event.mapIterationStartedEventDetails;
    return `${d?.name ?? 'Map'}: item ${d?.index ?? '?'} started`;
  }
  if (event.type === 'MapIterationFailed') {
    const d = event.mapIterationFailedEventDetails;
    return `${d?.name ?? 'Map'}: item ${d?.index ?? '?'} failed`;
  }
  return undefined;
}

/** What {@link followExecution} needs. */
export interface FollowOptions {
  readonly sfn: SFNClient;
  readonly executionArn: string;
  readonly timeoutMs: number;
  readonly io: CliIo;
  readonly out: Output;
}

/**
 * Follows an execution until it leaves RUNNING or `timeoutMs` (clock time) passes, printing the states it enters
 * (from its history) to stderr as they happen; returns its last view and, once it succeeded, its output.
 */
export async function followExecution(
  opts: FollowOptions,
): Promise<{ view: ExecutionView | undefined; output: unknown; timedOut: boolean }> {
  const { io, out, sfn, executionArn } = opts;
  const start = io.now();
  const deadline = start + opts.timeoutMs;
  let seen = 0;
  let last: string | undefined;
  let history = true;
  for (let attempt = 0; ; attempt++) {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (history) {
      try {
        for (const event of await historySince(sfn, executionArn, seen)) {
          seen = Math.max(seen, event.id ?? 0);
          const line = progressLine(event);
          if (line !== undefined && line !== last) {
            out.err(`  ${formatDuration(io.now() - start).padStart(7)}  ${line}`);
            last = line;
          }
        }
      } catch {
        // Progress is a courtesy: an operator without states:GetExecutionHistory still gets the outcome.
        history = false;
      }
    }
    const view: ExecutionView = {
      executionArn: described.executionArn ?? executionArn,
      status: described.status ?? 'UNKNOWN',
      ...(described.startDate ? { startDate: described.startDate } : {}),
      ...(described.stopDate ? { stopDate: described.stopDate } : {}),
      ...(described.error ? { error: described.error } : {}),
      ...(described.cause ? { cause: described.cause } : {}),
    };
    if (view.status !== 'RUNNING') {
      const output = described.output ? (JSON.parse(described.output) as unknown) : undefined;
      return { view, output, timedOut: false };
    }
    const left = deadline - io.now();
    if (left <= 0) return { view, output: undefined, timedOut: true };
    await io.sleep(Math.min(backoffMs(attempt, EXECUTION_POLL), left));
  }
}
