/**
 * The one HTTP layer for S1 and Cado (over `http-transport.ts`: Node's own http/https). It reuses connections, bounds every attempt with connect and total
 * timeouts, retries throttling, 5xx and network failures with capped exponential backoff and full jitter (honouring
 * `Retry-After`), re-reads the credential once after a 401, and turns every failure into a typed error whose `name`
 * Step Functions can match. Secrets never reach messages or logs: only method and path are ever shown.
 */
import { channel } from 'node:diagnostics_channel';
import type { z } from 'zod';
import { sleep as clockSleep, now } from './clock';
import { RETRY_LOG_MESSAGE } from './contract';
import {
  CadoAuthError,
  CadoConflictError,
  CadoForbiddenError,
  CadoNotFoundError,
  CadoRateLimitedError,
  CadoResponseError,
  CadoTlsError,
  CadoTransientError,
  CadoValidationError,
  S1AuthError,
  S1ForbiddenError,
  S1NotFoundError,
  S1RateLimitedError,
  S1ResponseError,
  S1TlsError,
  S1TransientError,
  S1ValidationError,
  type ServiceError,
  type ServiceErrorOptions,
  type ServiceName,
} from './errors';
import { type Dispatcher, defaultDispatcher, type ResponseData, request } from './http-transport';
import { logger } from './observability';
import { redact } from './redact';

export {
  createDispatcher,
  type Dispatcher,
  type DispatcherOptions,
  defaultDispatcher,
  type RequestInit,
  type ResponseData,
  request,
} from './http-transport';

/** Node's own multipart form (a web `FormData`); {@link HttpClient} encodes it with its boundary. */
export const FormData = globalThis.FormData;
export type FormData = globalThis.FormData;

/** What each retry publishes on {@link RETRY_CHANNEL}: the fields of the retry log line (method and path only). */
export interface RetryNotice {
  readonly remoteService: ServiceName;
  readonly operation: string;
  readonly status: number | undefined;
  readonly error: string;
  readonly attempt: number;
  readonly delayMs: number;
}

/**
 * A `node:diagnostics_channel` channel on which every retry is published besides its log line, so that a caller
 * with its own output (the CLI's local audit) can show retries readably instead of as JSON log lines.
 */
export const RETRY_CHANNEL = 's1cado:http:retry';
const retryChannel = channel(RETRY_CHANNEL);

/** How hard to try before giving up. */
export interface RetryPolicy {
  /** Attempts in total, the first included. */
  readonly maxAttempts: number;
  /** No new attempt starts after this much time since the first (clock ms). */
  readonly maxElapsedMs: number;
  /** Backoff base: attempt n waits a random time in [0, min(maxDelayMs, baseDelayMs·2^(n-1))]. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * Retries inside one Lambda invocation are short; longer waits belong to Step Functions `Retry`, which matches the
 * error names thrown here.
 */
export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 4,
  maxElapsedMs: 25_000,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
};

/** Supplies the Authorization header and can re-read it after a 401. */
export interface CredentialSource {
  /** The full header value, e.g. `ApiToken abc…` or `Bearer abc…`. */
  authorization(): Promise<string>;
  /** Re-reads the credential; resolves true when a different value was loaded (worth one more try). */
  refresh(): Promise<boolean>;
}

/** Options for {@link HttpClient}. */
export interface HttpClientOptions {
  readonly service: ServiceName;
  /** Base URL the request paths are appended to, e.g. `https://x.sentinelone.net/web/api/v2.1`. */
  readonly baseUrl: string;
  readonly credentials: CredentialSource;
  /** Connection pool to use; defaults to a shared keep-alive agent. */
  readonly dispatcher?: Dispatcher;
  /** Total time for one attempt, headers and body. @default 30000 */
  readonly requestTimeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Larger JSON bodies are refused. @default 16 MiB */
  readonly maxResponseBytes?: number;
  /** Random source in [0, 1) for jitter (tests). @default Math.random */
  readonly random?: () => number;
  /** Sleep used between attempts (tests). @default the shared clock's sleep */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Called before every attempt is sent (the S1 request budget): may wait for a slot, or throw to send nothing.
   * @default - attempts are sent at once
   */
  readonly beforeAttempt?: (path: string, operation: string, signal?: AbortSignal) => Promise<void>;
  /** Called after each 429 answer, with the `Retry-After` the service gave. @default - nothing */
  readonly onRateLimited?: (path: string, retryAfterMs: number | undefined) => Promise<void>;
}

type QueryValue = string | number | boolean | null | undefined | readonly (string | number)[];

/** One request. */
export interface RequestOptions<T> {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the base URL, starting with `/`. */
  readonly path: string;
  /** Query parameters; arrays are sent comma-separated, null/undefined are left out. */
  readonly query?: Readonly<Record<string, QueryValue>>;
  readonly json?: unknown;
  /** A multipart body; build it with `FormData` (re-exported here). */
  readonly form?: FormData;
  /**
   * Whether the request may be sent again when its outcome is unknown (5xx, reset, timeout). Throttled (429) and
   * never-connected attempts are always retried since the server did not act on them.
   * @default true for GET, PUT and DELETE; false for POST and PATCH
   */
  readonly idempotent?: boolean;
  /** Validates the parsed body; the tolerant schemas of the clients keep unknown fields. */
  readonly schema?: z.ZodType<T>;
  readonly signal?: AbortSignal;
  /** Overrides the per-attempt timeout. */
  readonly timeoutMs?: number;
}

/** A successful response. */
export interface HttpResponse<T> {
  readonly status: number;
  readonly body: T;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** S1's `X-RQID`, when sent. */
  readonly requestId: string | undefined;
  /** Attempts it took. */
  readonly attempts: number;
}

type ErrorKind =
  | 'rateLimited'
  | 'transient'
  | 'auth'
  | 'forbidden'
  | 'notFound'
  | 'validation'
  | 'conflict'
  | 'response'
  | 'tls';
type ErrorCtor = new (message: string, options?: ServiceErrorOptions) => ServiceError;

const ERRORS: Record<ServiceName, Record<ErrorKind, ErrorCtor>> = {
  S1: {
    rateLimited: S1RateLimitedError,
    transient: S1TransientError,
    auth: S1AuthError,
    forbidden: S1ForbiddenError,
    notFound: S1NotFoundError,
    validation: S1ValidationError,
    conflict: S1ValidationError,
    response: S1ResponseError,
    tls: S1TlsError,
  },
  Cado: {
    rateLimited: CadoRateLimitedError,
    transient: CadoTransientError,
    auth: CadoAuthError,
    forbidden: CadoForbiddenError,
    notFound: CadoNotFoundError,
    validation: CadoValidationError,
    conflict: CadoConflictError,
    response: CadoResponseError,
    tls: CadoTlsError,
  },
};

/** Builds the typed error for `service`. Exported for clients that raise their own response errors. */
export function serviceError(
  service: ServiceName,
  kind: ErrorKind,
  message: string,
  options?: ServiceErrorOptions,
): ServiceError {
  const Ctor = ERRORS[service][kind];
  return new Ctor(message, options);
}

/** Parses `Retry-After` (delta seconds or an HTTP date) into milliseconds, or undefined. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  nowMs = Date.now(),
): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const trimmed = raw.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** Network error codes raised before the request reached the server: always safe to retry. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ECONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

/** Certificate verification failures: a bad certificate does not fix itself, so these are never retried. */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

interface Failure {
  error: ServiceError;
  /** Retrying could help. */
  retryable: boolean;
  /** The server certainly did not act on the request. */
  notProcessed: boolean;
  retryAfterMs?: number;
}

/** Serialises a query object: arrays comma-separated (S1's documented form), empty values dropped. */
export function buildQuery(query: Readonly<Record<string, QueryValue>> | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      if (value.length > 0) params.set(key, value.join(','));
    } else {
      params.set(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** A JSON HTTP client for one service and base URL. */
export class HttpClient {
  private readonly retry: RetryPolicy;
  private readonly dispatcher: Dispatcher;
  private readonly base: string;

  constructor(private readonly options: HttpClientOptions) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.dispatcher = options.dispatcher ?? defaultDispatcher();
    this.base = options.baseUrl.replace(/\/+$/, '');
  }

  /** The service this client talks to. */
  get service(): ServiceName {
    return this.options.service;
  }

  /** Sends a request, retrying as the policy allows; resolves with the parsed body or throws a typed error. */
  async request<T = unknown>(req: RequestOptions<T>): Promise<HttpResponse<T>> {
    const started = now();
    const idempotent =
      req.idempotent ?? (req.method === 'GET' || req.method === 'PUT' || req.method === 'DELETE');
    const operation = `${req.method} ${req.path}`;
    let refreshedCredential = false;
    let attempt = 0;
    for (;;) {
      attempt++;
      await this.options.beforeAttempt?.(req.path, operation, req.signal);
      const outcome = await this.once(req, operation);
      if ('body' in outcome) {
        return { ...outcome, attempts: attempt };
      }
      const failure = outcome.failure;
      if (failure.error.status === 429) await this.options.onRateLimited?.(req.path, failure.retryAfterMs);
      if (failure.error.status === 401 && !refreshedCredential) {
        refreshedCredential = true;
        // Once, whether or not the value changed: a 401 can be a passing glitch of the console as well as a
        // rotated secret. A second 401 is final (the only 4xx tried again).
        const changed = await this.options.credentials.refresh();
        logger.info('Credential rejected; re-read it and trying once more', {
          remoteService: this.service,
          operation,
          changed,
        });
        continue;
      }
      const mayRetry = failure.retryable && (idempotent || failure.notProcessed);
      const delay = this.delayFor(attempt, failure.retryAfterMs);
      const elapsed = now() - started;
      if (!mayRetry || attempt >= this.retry.maxAttempts || elapsed + delay > this.retry.maxElapsedMs) {
        throw failure.error;
      }
      const notice: RetryNotice = {
        remoteService: this.service,
        operation,
        status: failure.error.status,
        error: failure.error.name,
        attempt,
        delayMs: Math.round(delay),
      };
      logger.warn(RETRY_LOG_MESSAGE, { ...notice });
      if (retryChannel.hasSubscribers) retryChannel.publish(notice);
      await (this.options.sleep ?? clockSleep)(delay);
    }
  }

  private delayFor(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return retryAfterMs;
    const cap = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    return (this.options.random ?? Math.random)() * cap;
  }

  private async once<T>(
    req: RequestOptions<T>,
    operation: string,
  ): Promise<Omit<HttpResponse<T>, 'attempts'> | { failure: Failure }> {
    const service = this.service;
    const url = `${this.base}${req.path}${buildQuery(req.query)}`;
    const headers: Record<string, string> = {
      authorization: await this.options.credentials.authorization(),
      accept: 'application/json',
      'user-agent': 's1-cado-forensics',
    };
    let body: string | Uint8Array | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.form) {
      // The web Response encodes a FormData as multipart and names its boundary (script uploads are small).
      const encoded = new Response(req.form);
      headers['content-type'] = encoded.headers.get('content-type') ?? 'multipart/form-data';
      body = new Uint8Array(await encoded.arrayBuffer());
    }
    const timeout = AbortSignal.timeout(req.timeoutMs ?? this.options.requestTimeoutMs ?? 30_000);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;

    let response: ResponseData;
    try {
      response = await request(url, {
        method: req.method,
        headers,
        body,
        dispatcher: this.dispatcher,
        signal,
      });
    } catch (error) {
      if (req.signal?.aborted) throw req.signal.reason;
      return { failure: this.networkFailure(error, operation) };
    }

    const requestId = headerValue(response.headers['x-rqid']);
    let text: string;
    try {
      text = await readLimited(response.body, this.options.maxResponseBytes ?? 16 * 1024 * 1024);
    } catch (error) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (error instanceof ResponseTooLargeError) {
        return {
          failure: {
            error: serviceError(
              service,
              'response',
              `${service} ${operation}: response larger than allowed`,
              {
                status: response.statusCode,
                operation,
                requestId,
              },
            ),
            retryable: false,
            notProcessed: false,
          },
        };
      }
      return { failure: this.networkFailure(error, operation) };
    }

    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      let parsed: unknown;
      if (text.length > 0) {
        try {
          parsed = JSON.parse(text);
        } catch {
          return this.responseFailure(
            `${service} ${operation}: response is not JSON`,
            status,
            operation,
            requestId,
          );
        }
      }
      if (req.schema) {
        const result = req.schema.safeParse(parsed);
        if (!result.success) {
          const where = result.error.issues
            .slice(0, 5)
            .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
            .join('; ');
          return this.responseFailure(
            `${service} ${operation}: unexpected response shape (${where})`,
            status,
            operation,
            requestId,
          );
        }
        parsed = result.data;
      }
      return { status, body: parsed as T, headers: response.headers, requestId };
    }
    return { failure: this.statusFailure(status, text, operation, requestId, response.headers) };
  }

  private responseFailure(message: string, status: number, operation: string, requestId: string | undefined) {
    return {
      failure: {
        error: serviceError(this.service, 'response', message, { status, operation, requestId }),
        retryable: false,
        notProcessed: false,
      },
    };
  }

  private networkFailure(error: unknown, operation: string): Failure {
    const code = errorCode(error);
    if (code && TLS_CODES.has(code)) {
      return {
        error: serviceError(
          this.service,
          'tls',
          `${this.service} ${operation}: the server's TLS certificate was not accepted (${code}); check the URL or configure its CA certificate`,
          { operation, cause: error },
        ),
        retryable: false,
        notProcessed: true,
      };
    }
    const timedOut = (error as { name?: string })?.name === 'TimeoutError' || code?.includes('TIMEOUT');
    const what = timedOut ? 'timed out' : `network error${code ? ` (${code})` : ''}`;
    return {
      error: serviceError(this.service, 'transient', `${this.service} ${operation}: ${what}`, {
        operation,
        cause: error,
      }),
      retryable: true,
      notProcessed: code !== undefined && CONNECT_CODES.has(code),
    };
  }

  private statusFailure(
    status: number,
    text: string,
    operation: string,
    requestId: string | undefined,
    headers: Record<string, string | string[] | undefined>,
  ): Failure {
    const { code, description } = describeErrorBody(text);
    const suffix = description ? `: ${description}` : '';
    const message = `${this.service} ${operation} answered ${status}${suffix}`;
    const retryAfterMs =
      status === 429 || status === 503 ? parseRetryAfter(headers['retry-after']) : undefined;
    const options: ServiceErrorOptions = { status, code, operation, requestId, retryAfterMs };
    const make = (kind: ErrorKind) => serviceError(this.service, kind, message, options);
    if (status === 429)
      return { error: make('rateLimited'), retryable: true, notProcessed: true, retryAfterMs };
    if (status === 408 || status >= 500) {
      return { error: make('transient'), retryable: status !== 501, notProcessed: false, retryAfterMs };
    }
    if (status === 401) return { error: make('auth'), retryable: false, notProcessed: true };
    if (status === 403) return { error: make('forbidden'), retryable: false, notProcessed: true };
    if (status === 404) return { error: make('notFound'), retryable: false, notProcessed: true };
    if (status === 409) return { error: make('conflict'), retryable: false, notProcessed: true };
    return { error: make('validation'), retryable: false, notProcessed: true };
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Pulls a short description out of an error body: S1 `{errors:[{code,title,detail}]}`, also under `error` (a
 * string, one such object, or an object holding `errors`), or Cado `{status:"error", message, code}` (v3) /
 * `{msg}` (v2). Redacted, and bounded in length.
 */
export function describeErrorBody(text: string): { code?: string; description?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    const plain = text.trim().slice(0, 200);
    return plain ? { description: redact(plain) } : {};
  }
  if (!parsed || typeof parsed !== 'object') return {};
  const parts: string[] = [];
  let code: string | undefined;
  const readItem = (item: unknown) => {
    if (!item || typeof item !== 'object') return;
    const e = item as Record<string, unknown>;
    code ??= typeof e.code === 'string' || typeof e.code === 'number' ? String(e.code) : undefined;
    const text = [e.title ?? e.message, e.detail].filter((v) => typeof v === 'string' && v).join(' - ');
    if (text) parts.push(text);
  };
  const read = (body: Record<string, unknown>, depth: number) => {
    if (Array.isArray(body.errors)) for (const item of body.errors.slice(0, 3)) readItem(item);
    for (const key of ['message', 'msg', 'detail']) {
      if (typeof body[key] === 'string' && body[key]) parts.push(body[key] as string);
    }
    if (typeof body.error === 'string' && body.error) parts.push(body.error);
    else if (depth === 0 && body.error && typeof body.error === 'object' && !Array.isArray(body.error)) {
      const inner = body.error as Record<string, unknown>;
      if (Array.isArray(inner.errors)) read(inner, 1);
      else readItem(inner);
    }
  };
  const body = parsed as Record<string, unknown>;
  read(body, 0);
  if (code === undefined && (typeof body.code === 'string' || typeof body.code === 'number'))
    code = String(body.code);
  const description = parts.join('; ').slice(0, 300);
  return { code, description: description ? redact(description) : undefined };
}

class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
}

async function readLimited(body: ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) {
      body.destroy();
      throw new ResponseTooLargeError();
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
