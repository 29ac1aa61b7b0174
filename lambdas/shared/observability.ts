/**
 * One logger and one metrics emitter per process (Powertools). The logger's JSON replacer runs on every key and
 * value it serialises, including formatted errors and their stacks, so secrets are masked in every log line however
 * they got there. Tracing is Lambda's active X-Ray tracing; the Powertools tracer (and the X-Ray SDK it loads, about
 * a third of a bundle's init time) is left out because no handler adds subsegments of its own.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ENV, METRICS } from './contract';
import { isSensitiveKey, redact } from './redact';

const serviceName = process.env[ENV.powertoolsServiceName] ?? METRICS.serviceName;

/** JSON replacer that masks credential keys and redacts every string. Exported for tests. */
export function redactingReplacer(key: string, value: unknown): unknown {
  if (key !== '' && isSensitiveKey(key) && value !== null && value !== undefined) return '[REDACTED]';
  if (typeof value === 'string') return redact(value);
  return value;
}

/** The process-wide structured logger. */
export const logger = new Logger({ serviceName, jsonReplacerFn: redactingReplacer });

/** The process-wide metrics emitter (CloudWatch EMF). */
export const metrics = new Metrics({
  serviceName,
  namespace: process.env[ENV.powertoolsMetricsNamespace] ?? METRICS.namespace,
});
