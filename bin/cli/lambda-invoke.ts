/**
 * Synchronous invocation of a deployed Lambda. A function error (`FunctionError` set, payload
 * `{errorType, errorMessage}`) becomes a {@link FunctionInvocationError} carrying the function's own type and
 * message; the result is validated with the schema of the step's output.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { z } from 'zod';
import { describeIssues } from '../../lambdas/shared/handler';
import { redact } from '../../lambdas/shared/redact';
import { FunctionInvocationError, UnexpectedFunctionResultError } from './errors';

function functionError(functionName: string, kind: string, text: string): FunctionInvocationError {
  let errorType = kind;
  let errorMessage = text;
  try {
    const doc = JSON.parse(text) as { errorType?: unknown; errorMessage?: unknown };
    if (typeof doc.errorType === 'string') errorType = doc.errorType;
    if (typeof doc.errorMessage === 'string') errorMessage = doc.errorMessage;
  } catch {
    // Not the runtime's error document (e.g. a crash before the runtime started): keep the raw text.
  }
  return new FunctionInvocationError(functionName, errorType, redact(errorMessage).slice(0, 2000));
}

/** Invokes `functionName` with `payload` and returns its result, validated by `schema`. */
export async function invokeFunction<S extends z.ZodTypeAny>(
  lambda: LambdaClient,
  functionName: string,
  payload: unknown,
  schema: S,
): Promise<z.infer<S>> {
  const out = await lambda.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: 'RequestResponse',
      Payload: Buffer.from(JSON.stringify(payload), 'utf8'),
    }),
  );
  const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
  if (out.FunctionError) throw functionError(functionName, out.FunctionError, text);
  let result: unknown;
  try {
    result = JSON.parse(text);
  } catch {
    throw new UnexpectedFunctionResultError(`${functionName} returned something that is not JSON`);
  }
  const parsed = schema.safeParse(result);
  if (!parsed.success) {
    throw new UnexpectedFunctionResultError(
      `${functionName} returned an unexpected result (${describeIssues(parsed.error)}); is the CLI the same ` +
        'version as the deployed stack?',
    );
  }
  return parsed.data;
}
