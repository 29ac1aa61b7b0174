/**
 * Every error this project throws on purpose. Step Functions `Retry`/`Catch` match on `name`, so each class sets
 * `name` to a string literal (bundling keeps class names too, but a literal cannot be minified away). The names and
 * their `retryable` flags are declared in `contract.ts` (`ERRORS`), which the state machine's Retry lists are built
 * from: `name` must be one of its keys, and `retryable` is read from it.
 *
 * Messages never contain secrets: callers pass texts through `redact()` and URLs through `safeUrl()` first, and
 * the base class redacts once more as a last line of defence.
 */
import { ERRORS, type ErrorName, RETRY_ON } from './contract';
import { redact } from './redact';

/** Extra facts attached to an error; must not contain secrets (they are redacted anyway). */
export type ErrorDetails = Record<string, string | number | boolean | null | undefined>;

/** Options common to all project errors. */
export interface AppErrorOptions {
  cause?: unknown;
  details?: ErrorDetails;
}

/** Base class of every error this project throws deliberately. */
export abstract class AppError extends Error {
  abstract override readonly name: ErrorName;
  readonly details: ErrorDetails;

  constructor(message: string, options: AppErrorOptions = {}) {
    super(redact(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details ?? {};
  }

  /** True when trying again later may succeed (throttling, 5xx, network): `ERRORS[name]` of the contract. */
  get retryable(): boolean {
    return ERRORS[this.name]?.retryable ?? false;
  }

  /** A JSON-safe view for logs and state output. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, retryable: this.retryable, ...this.details };
  }
}

/** Which remote service a {@link ServiceError} is about. */
export type ServiceName = 'S1' | 'Cado';

/** Facts about a failed HTTP exchange. */
export interface ServiceErrorOptions extends AppErrorOptions {
  status?: number;
  /** The service's own error code, e.g. S1 `4010010`. */
  code?: string;
  /** The service's request id (S1 `X-RQID`), useful when opening a support case. */
  requestId?: string;
  /** How long the service asked us to wait, when it said so. */
  retryAfterMs?: number;
  /** Method and path (never the query string) of the failed call. */
  operation?: string;
}

/** An error answered by (or on the way to) S1 or Cado. */
export abstract class ServiceError extends AppError {
  abstract readonly service: ServiceName;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly operation: string | undefined;

  constructor(message: string, options: ServiceErrorOptions = {}) {
    super(message, options);
    this.status = options.status;
    this.code = options.code;
    this.requestId = options.requestId;
    this.retryAfterMs = options.retryAfterMs;
    this.operation = options.operation;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      service: this.service,
      status: this.status,
      code: this.code,
      requestId: this.requestId,
      operation: this.operation,
    };
  }
}

// --- SentinelOne -------------------------------------------------------------------------------------------

/** S1 answered 429: too many requests for this token. */
export class S1RateLimitedError extends ServiceError {
  override readonly name = 'S1RateLimitedError';
  readonly service = 'S1';
}
/** S1 failed in a way that may pass: 5xx, connection reset, timeout. */
export class S1TransientError extends ServiceError {
  override readonly name = 'S1TransientError';
  readonly service = 'S1';
}
/** S1 rejected the token (401) even after re-reading the secret. */
export class S1AuthError extends ServiceError {
  override readonly name = 'S1AuthError';
  readonly service = 'S1';
}
/** The S1 user lacks a permission or scope for this call (403). */
export class S1ForbiddenError extends ServiceError {
  override readonly name = 'S1ForbiddenError';
  readonly service = 'S1';
}
/** S1 does not know the resource (404). */
export class S1NotFoundError extends ServiceError {
  override readonly name = 'S1NotFoundError';
  readonly service = 'S1';
}
/** S1 refused the request as invalid (400 and other 4xx). */
export class S1ValidationError extends ServiceError {
  override readonly name = 'S1ValidationError';
  readonly service = 'S1';
}
/** The S1 host's TLS certificate could not be verified; retrying will not help. */
export class S1TlsError extends ServiceError {
  override readonly name = 'S1TlsError';
  readonly service = 'S1';
}
/** S1 answered 2xx with a body we cannot use. */
export class S1ResponseError extends ServiceError {
  override readonly name = 'S1ResponseError';
  readonly service = 'S1';
}

// --- Cado --------------------------------------------------------------------------------------------------

/** Cado answered 429. */
export class CadoRateLimitedError extends ServiceError {
  override readonly name = 'CadoRateLimitedError';
  readonly service = 'Cado';
}
/** Cado failed in a way that may pass: 5xx, connection refused or reset, timeout. */
export class CadoTransientError extends ServiceError {
  override readonly name = 'CadoTransientError';
  readonly service = 'Cado';
}
/** Cado rejected the API key (401) even after re-reading the secret. */
export class CadoAuthError extends ServiceError {
  override readonly name = 'CadoAuthError';
  readonly service = 'Cado';
}
/** The Cado key's role may not do this (403). */
export class CadoForbiddenError extends ServiceError {
  override readonly name = 'CadoForbiddenError';
  readonly service = 'Cado';
}
/** Cado does not know the resource (404). */
export class CadoNotFoundError extends ServiceError {
  override readonly name = 'CadoNotFoundError';
  readonly service = 'Cado';
}
/** Cado refused the request as invalid (400, 422 and other 4xx). */
export class CadoValidationError extends ServiceError {
  override readonly name = 'CadoValidationError';
  readonly service = 'Cado';
}
/** Cado reported a conflict (409), e.g. a project name that already exists. */
export class CadoConflictError extends ServiceError {
  override readonly name = 'CadoConflictError';
  readonly service = 'Cado';
}
/** The Cado platform's TLS certificate could not be verified (self-signed without the CA configured?). */
export class CadoTlsError extends ServiceError {
  override readonly name = 'CadoTlsError';
  readonly service = 'Cado';
}
/**
 * A Cado XDR import (Cado collecting through its SentinelOne integration) may have started, and no pipeline can be
 * named for it: never sent again (it would run a second collection on the endpoint); the console says.
 */
export class CadoXdrImportOutcomeUnknownError extends ServiceError {
  override readonly name = 'CadoXdrImportOutcomeUnknownError';
  readonly service = 'Cado';
}
/** Cado's SentinelOne XDR account is missing, or does not see the agent (another console?): nothing was asked. */
export class CadoXdrAccountError extends ServiceError {
  override readonly name = 'CadoXdrAccountError';
  readonly service = 'Cado';
}
/** Cado answered 2xx with a body we cannot use. */
export class CadoResponseError extends ServiceError {
  override readonly name = 'CadoResponseError';
  readonly service = 'Cado';
}

/**
 * Names of the Cado errors worth trying again later (throttling, 5xx, network), for callers that only see a name,
 * such as a Lambda invocation's `errorType`: the ones the state machine retries Cado calls on.
 */
export const CADO_RETRYABLE_ERROR_NAMES: readonly string[] = [
  ...RETRY_ON.cadoThrottling,
  ...RETRY_ON.cadoTransient,
];

// --- Local failures ----------------------------------------------------------------------------------------

/** The input of a handler or CLI command is invalid; the message says which field and why. */
export class InputValidationError extends AppError {
  override readonly name = 'InputValidationError';
}
/** The deployment or runtime configuration is invalid. */
export class ConfigError extends AppError {
  override readonly name = 'ConfigError';
}
/** A URL is not https or its host is not on the allowlist. */
export class HostNotAllowedError extends AppError {
  override readonly name = 'HostNotAllowedError';
}
/** A secret could not be read or does not have the expected shape. */
export class SecretError extends AppError {
  override readonly name = 'SecretError';
}

/**
 * S1 accepted an execute request but started nothing: 200 without a `parentTaskId` and not pending approval.
 * S1 does this when the script's `osTypes` do not include the agent's OS, or the agent is out of scope.
 */
export class S1ExecutionNotStartedError extends ServiceError {
  override readonly name = 'S1ExecutionNotStartedError';
  readonly service = 'S1';
}
/**
 * S1 refused an execute request in words that name RemoteOps (Remote Script Orchestration): the agents' site is
 * not licensed or not enabled for it. Nothing was started. Its message carries what S1 said.
 */
export class S1RemoteOpsRefusedError extends ServiceError {
  override readonly name = 'S1RemoteOpsRefusedError';
  readonly service = 'S1';
}
/** S1 turned the execution into a pending execution that a console user must approve (guardrail). */
export class S1ApprovalRequiredError extends ServiceError {
  override readonly name = 'S1ApprovalRequiredError';
  readonly service = 'S1';
}
/**
 * An execute whose outcome is unknown (5xx after the body was sent, timeout, reset, a lost Run Script response) and
 * that S1 offers no way to settle: the task may run on the endpoint. Never retried; `details.taskDescription` is what
 * to search for in the console's task list.
 */
export class S1ExecuteOutcomeUnknownError extends ServiceError {
  override readonly name = 'S1ExecuteOutcomeUnknownError';
  readonly service = 'S1';
}
/**
 * The agent is being, or was just, collected from by another investigation (its lease, or its cooldown): this one
 * reuses that collection instead of running the collector again. `details` name the investigation and its task.
 */
export class AgentCollectionSharedError extends AppError {
  override readonly name = 'AgentCollectionSharedError';
}

// --- Evidence ----------------------------------------------------------------------------------------------

/** The result download failed in a way resuming cannot fix (unexpected status, no length, bad range). */
export class DownloadError extends AppError {
  override readonly name = 'DownloadError';
}
/** The download kept breaking off and the resume budget is spent; trying the whole step again may pass. */
export class DownloadInterruptedError extends AppError {
  override readonly name = 'DownloadInterruptedError';
}
/** The presigned result link expired and fetching a fresh one did not help. */
export class DownloadLinkExpiredError extends AppError {
  override readonly name = 'DownloadLinkExpiredError';
}
/** S1 reported the task complete but offered no result file (yet); S1 sometimes lags, so this is retried a little. */
export class ResultNotAvailableError extends AppError {
  override readonly name = 'ResultNotAvailableError';
}
/** An investigation has no `case.json` (it has not finished, or the id is wrong): there is nothing to re-run yet. */
export class CaseNotFoundError extends AppError {
  override readonly name = 'CaseNotFoundError';
}
/**
 * `s1cado cancel` on an investigation that is not running (it ended, was never started, or its cancellation is
 * already recorded): nothing was stopped or changed.
 */
export class InvestigationNotRunningError extends AppError {
  override readonly name = 'InvestigationNotRunningError';
}
/** The storage announced a result larger than `maxResultBytes`: refused before any byte is uploaded. */
export class ResultTooLargeError extends AppError {
  override readonly name = 'ResultTooLargeError';
}
/**
 * The direct-to-S3 path cannot be used or did not deliver: the part-URL argument does not fit S1's input
 * parameters, or the collector reported no completed upload (its S1 result then holds what it collected).
 */
export class DirectUploadError extends AppError {
  override readonly name = 'DirectUploadError';
}
/** Stored evidence does not match what was downloaded (size or hash): never reported as collected. */
export class EvidenceIntegrityError extends AppError {
  override readonly name = 'EvidenceIntegrityError';
}

// --- Preflight, audit and intake ---------------------------------------------------------------------------

/** A preflight check failed: the investigation cannot collect anything. The message is the audit's reason and fix. */
export class PreflightFailedError extends AppError {
  override readonly name = 'PreflightFailedError';
}
/** The audit ran but storing or announcing its report failed (details say what failed). */
export class AuditDeliveryError extends AppError {
  override readonly name = 'AuditDeliveryError';
}
/** Some threat events could not be put on the bus even after retrying the failed entries. */
export class ThreatPublishError extends AppError {
  override readonly name = 'ThreatPublishError';
}
/** The threat poller's high-water mark could not be read or saved. */
export class HighWaterMarkError extends AppError {
  override readonly name = 'HighWaterMarkError';
}

// --- Coordination store ------------------------------------------------------------------------------------

/**
 * The coordination store could not be reached or gave an answer it should not (after the client's own retries).
 * Retryable: nothing was decided, the caller may try again or give up without acting.
 */
export class CoordinationStoreError extends AppError {
  override readonly name = 'CoordinationStoreError';
}
