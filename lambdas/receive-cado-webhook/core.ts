/**
 * Receive Cado Webhook (DESIGN §9: "Cado pipelines resume ... from Cado's `processing_finished/failed` webhooks where
 * configured"): an HTTPS entry point for Cado's webhook, which wakes an immediate Cado pass over the open pipelines
 * (the Task Watcher's, lambdas/watch-tasks/cado.ts) and so resumes at once the executions whose pipeline ended.
 *
 * What Cado can send decides the authentication. A Cado webhook is `{name, url, event_type, payload_type: "custom",
 * payload}`: a URL and a JSON template in which Cado substitutes `$Title` and `$Event`; Cado documents no signature,
 * no custom header and no pipeline id in the payload (docs.cadosecurity.com, Integrations → Webhooks; the API's
 * `POST /api/v3/webhooks`). So the shared secret travels in the template, as its first field:
 *
 *     {"secret": "<the value in the stack's Cado webhook secret>", "title": "$Title", "event": "$Event"}
 *
 * and is compared in constant time with the secret in Secrets Manager (the previous value too, for a day after a
 * rotation). Not in the URL: URLs are what proxies, Cado's outbound proxy and access logs record, and what Cado's
 * webhook settings page shows; the body is logged by no one here. The secret comes first so that an `$Event` Cado
 * does not escape (UNCERTAIN whether it does) cannot hide it: when the body is not JSON, the leading field is read.
 *
 * The payload is never trusted to name a pipeline or its outcome: an authenticated request only wakes the check,
 * whose decisions come from Cado's API, as the watcher's do. A replayed request wakes one more check, nothing else.
 * A request without the secret gets 401 and causes nothing (no Cado call, no store read, no resume).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { logger } from '../shared/observability';
import type { CadoPassSummary } from '../watch-tasks/cado';

/** A request as the handler received it (headers lower-cased, body as raw bytes). */
export interface CadoWebhookRequest {
  readonly method: string;
  readonly body: Buffer;
}

/** The HTTP answer. */
export interface CadoWebhookResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Dependencies of {@link receiveCadoWebhook}. */
export interface CadoWebhookDeps {
  /** The secrets the payload may carry: the current one, and the previous one during a rotation's overlap. */
  readonly secrets: () => Promise<readonly string[]>;
  /** Re-reads the secret after a mismatch (rotation, rate-limited); resolves true when the current one changed. */
  readonly refreshSecrets?: () => Promise<boolean>;
  /** The Cado pass over every open pipeline, forced (the watcher's, with this function's clients). */
  readonly wake: () => Promise<CadoPassSummary>;
  /** @default 65536 */
  readonly maxBodyBytes?: number;
}

/** JSON field of the payload template that carries the shared secret. */
export const CADO_WEBHOOK_SECRET_FIELD = 'secret';

/** The secret's value as the template's first field, for a body that is not valid JSON. */
const LEADING_SECRET = /^\s*\{\s*"secret"\s*:\s*"([^"\\]{1,512})"/;

function respond(statusCode: number, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** The secret the body carries, or undefined. */
export function presentedSecret(body: string): string | undefined {
  try {
    const json = JSON.parse(body) as unknown;
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      const value = (json as Record<string, unknown>)[CADO_WEBHOOK_SECRET_FIELD];
      return typeof value === 'string' && value.length > 0 ? value : undefined;
    }
    return undefined;
  } catch {
    return LEADING_SECRET.exec(body)?.[1];
  }
}

/** Constant-time equality of two strings of any length (their SHA-256 digests are compared). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Cado's `$Title` when the body is JSON (for the log: the event kind, e.g. "PROCESSING FINISHED"). */
function titleOf(body: string): string | undefined {
  try {
    const title = (JSON.parse(body) as { title?: unknown }).title;
    return typeof title === 'string' ? title.slice(0, 80) : undefined;
  } catch {
    return undefined;
  }
}

async function authenticated(given: string, deps: CadoWebhookDeps): Promise<boolean> {
  const matches = (secrets: readonly string[]) => secrets.some((secret) => sameSecret(given, secret));
  if (matches(await deps.secrets())) return true;
  // Perhaps rotated since the cache was filled: read again (at most once a minute) and compare once more.
  if (deps.refreshSecrets && (await deps.refreshSecrets())) return matches(await deps.secrets());
  return false;
}

/** Handles one webhook request. Never throws for a caller's mistake; infrastructure failures become 5xx. */
export async function receiveCadoWebhook(
  request: CadoWebhookRequest,
  deps: CadoWebhookDeps,
): Promise<CadoWebhookResponse> {
  if (request.method.toUpperCase() !== 'POST') return respond(405, { error: 'use POST' }, { allow: 'POST' });
  const maxBodyBytes = deps.maxBodyBytes ?? 65_536;
  if (request.body.length > maxBodyBytes) {
    return respond(413, { error: `the body is larger than ${maxBodyBytes} bytes` });
  }
  const text = request.body.toString('utf8');
  const given = presentedSecret(text);
  if (given === undefined || !(await authenticated(given, deps))) {
    logger.warn('Cado webhook refused', { reason: given === undefined ? 'no secret' : 'wrong secret' });
    return respond(401, { error: 'not authenticated' });
  }
  logger.info('Cado webhook accepted; checking the open pipelines', { title: titleOf(text) });
  let summary: CadoPassSummary;
  try {
    summary = await deps.wake();
  } catch (error) {
    // The store (or the clients' setup) failed: the Task Watcher's own passes still come.
    logger.error('Cado webhook could not check the open pipelines', { errorName: (error as Error).name });
    return respond(503, { error: 'could not check the open pipelines now; the Task Watcher will' });
  }
  return respond(200, {
    checked: summary.checked,
    resumed: summary.resumed,
    stillOpen: summary.open - summary.resumed - summary.closed,
  });
}
