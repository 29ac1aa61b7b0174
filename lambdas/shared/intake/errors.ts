/**
 * Errors of threat intake. Like every project error they extend `AppError` (message redacted, `name` a literal),
 * so logs, alarms and the DLQ show a stable name.
 */
import { AppError } from '../errors';

/** Some threat events could not be put on the bus even after retrying the failed entries. */
export class ThreatPublishError extends AppError {
  override readonly name = 'ThreatPublishError';
  override readonly retryable = true;
}

/** The poller's high-water mark could not be read or saved. */
export class HighWaterMarkError extends AppError {
  override readonly name = 'HighWaterMarkError';
  override readonly retryable = true;
}
