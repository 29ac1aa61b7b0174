/**
 * A realistic Lambda `context` for handlers invoked in-process by the local runner.
 */
import type { Context } from 'aws-lambda';
import type { ExtractedFunction } from './extract';

/** Facts of one invocation. */
export interface InvocationInfo {
  readonly requestId: string;
  /** Real-time epoch ms at which Lambda would stop the function (start + the function's `Timeout`). */
  readonly deadline: number;
  /** ARN the function was invoked with (may carry a qualifier). */
  readonly invokedArn?: string;
}

/**
 * Builds the `context` Lambda passes to a Node.js handler. `getRemainingTimeInMillis()` counts down in real time
 * (not dilated clock time): Lambda's timeout is wall-clock, whatever `S1CADO_TIME_SCALE` says.
 */
export function createLambdaContext(fn: ExtractedFunction, info: InvocationInfo): Context {
  const unsupported = (what: string) => () => {
    throw new Error(
      `context.${what}() is a legacy callback API; return or throw from the async handler instead`,
    );
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: info.invokedArn ?? fn.arn,
    memoryLimitInMB: String(fn.memorySize),
    awsRequestId: info.requestId,
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: `local/[$LATEST]${info.requestId.replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, info.deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}
