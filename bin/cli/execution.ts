/**
 * The investigation's execution: looking it up by investigation id, and waiting for it to finish (bounded, with
 * backoff) while showing what the bucket says about its progress.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { bucketProgress } from './case-file';
import { type ExecutionView, executionArnOf, humanDuration } from './format';
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
      out.err(`  ${humanDuration(io.now() - start).padStart(7)}  running: ${progress}`);
      lastProgress = progress;
    }
    const left = deadline - io.now();
    if (left <= 0) return { view, timedOut: true };
    await io.sleep(Math.min(backoffMs(attempt, EXECUTION_POLL), left));
  }
}
