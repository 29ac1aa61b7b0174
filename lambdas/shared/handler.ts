/**
 * Thin-handler plumbing shared by every Lambda: parse the input with the step's zod schema (a clear, specific
 * error when it does not fit), tag log lines with the step and investigation, flush metrics, and let typed errors
 * propagate unchanged so Step Functions can match them by name (only their stack is mapped to source positions).
 */
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { InputValidationError } from './errors';
import { logger, metrics } from './observability';
import { mapErrorStack } from './source-stack';

/** Turns zod issues into one readable line: `path: message; path: message`. Values are never echoed. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 8)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(input)'}: ${issue.message}`)
    .join('; ');
}

/** Parses `value` or throws an {@link InputValidationError} that names the step and every bad field. */
export function parseInput<S extends z.ZodTypeAny>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new InputValidationError(`${what} is invalid: ${describeIssues(result.error)}`);
  return result.data;
}

/** Builds a Lambda handler for one workflow step. */
export function stepHandler<S extends z.ZodTypeAny, O>(
  step: string,
  schema: S,
  run: (input: z.infer<S>, context: Context) => Promise<O>,
): (event: unknown, context: Context) => Promise<O> {
  return async (event, context) => {
    logger.addContext(context);
    logger.appendKeys({ step });
    try {
      const input = parseInput(schema, event, `${step} input`);
      const investigationId = (input as { investigation?: { investigationId?: string } })?.investigation
        ?.investigationId;
      if (investigationId) logger.appendKeys({ investigationId });
      return await run(input, context);
    } catch (error) {
      // Source positions for the log line and for Lambda's error report; the map is read only now.
      mapErrorStack(error);
      logger.error(`${step} failed`, error as Error);
      throw error;
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.removeKeys(['investigationId']);
    }
  };
}
