/**
 * Receive Webhook: an authenticated HTTPS entry point for threat notifications (a SOAR, an S1 notification relay).
 * A request must be a POST of at most a few KiB of JSON, signed with the shared key (see signature.ts) within the
 * last five minutes, and not seen before (its signature is kept as a nonce for that window: a replay gets 409). The body names a threat and its agent; by default the threat is read back from S1 and S1's
 * facts are used, so a caller holding the key can at most point intake at a real threat, never invent one or
 * redirect a collection to another agent. The result is the same `SentinelOne Threat` event the poller puts on
 * the bus; the rule on the bus decides whether it starts an investigation.
 *
 * Errors are answered with a status and a short reason; no response or log line carries the key, the signature or
 * the body.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import * as z from 'zod';
import { ServiceError } from '../shared/errors';
import { describeIssues } from '../shared/handler';
import { type PublishOptions, publishThreatEvents } from '../shared/intake/publish';
import {
  filterMismatch,
  type ThreatEventDetail,
  type ThreatFilter,
  threatEventDetail,
} from '../shared/intake/threat-event';
import { logger } from '../shared/observability';
import { S1Id } from '../shared/schemas';
import type { S1Client, S1Threat } from '../shared/sentinelone';
import { claimNonce, type NonceStore, releaseNonce } from './nonce';
import { isSignatureShaped, SIGNATURE_HEADER, signatureMatches, TIMESTAMP_HEADER } from './signature';

/** A request as the handler received it (headers lower-cased, body as raw bytes). */
export interface WebhookRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Buffer;
}

/** The HTTP answer. */
export interface WebhookResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Dependencies of {@link receiveWebhook}. */
export interface WebhookDeps {
  /** The keys a signature may use: the current one, and the previous one during a rotation's overlap. */
  readonly signingKeys: () => Promise<readonly string[]>;
  /** Re-reads the keys after a mismatch (rotation); resolves true when the current one changed. */
  readonly refreshSigningKey?: () => Promise<boolean>;
  /** Set to read the threat back from S1 and trust S1's facts; unset to trust the caller's. */
  readonly s1?: Pick<S1Client, 'getThreats'>;
  readonly events: EventBridgeClient;
  readonly eventBusName: string;
  /** Where accepted signatures are kept for their window (the coordination store). */
  readonly nonces: NonceStore;
  readonly filter: ThreatFilter;
  readonly now: () => number;
  readonly maxBodyBytes: number;
  readonly maxSkewSeconds: number;
  readonly publish?: PublishOptions;
}

const optionalText = z.string().max(256).nullish();

/** The request body: a threat and its agent, plus optional facts used only when S1 is not consulted. */
export const WebhookBody = z.looseObject({
  threatId: S1Id,
  agentId: S1Id,
  threatName: optionalText,
  classification: optionalText,
  confidenceLevel: optionalText,
  agentOsType: optionalText,
  computerName: optionalText,
  siteId: S1Id.nullish(),
  createdAt: optionalText,
  updatedAt: optionalText,
});
export type WebhookBody = z.infer<typeof WebhookBody>;

function respond(statusCode: number, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

const reject = (statusCode: number, error: string, headers?: Record<string, string>) =>
  respond(statusCode, { error }, headers);

/** Handles one webhook request. Never throws for a caller's mistake; infrastructure failures become 5xx. */
export async function receiveWebhook(request: WebhookRequest, deps: WebhookDeps): Promise<WebhookResponse> {
  if (request.method.toUpperCase() !== 'POST') return reject(405, 'use POST', { allow: 'POST' });
  const contentType = (request.headers['content-type'] ?? '').toLowerCase();
  if (!contentType.startsWith('application/json')) return reject(415, 'send Content-Type: application/json');
  if (request.body.length > deps.maxBodyBytes) {
    return reject(413, `the body is larger than ${deps.maxBodyBytes} bytes`);
  }

  const authFailure = await authenticate(request, deps);
  if (authFailure) {
    logger.warn('Webhook request refused', { reason: authFailure });
    return reject(401, authFailure);
  }

  // Authentic: the signature becomes a nonce for the rest of its window. It is kept only when the event was
  // queued (202); any other answer had no effect, so the nonce is given back and the sender may try again.
  const signature = request.headers[SIGNATURE_HEADER] ?? '';
  let nonce: Awaited<ReturnType<typeof claimNonce>>;
  try {
    nonce = await claimNonce(deps.nonces, signature, request.headers[TIMESTAMP_HEADER]?.trim() ?? '', {
      now: deps.now(),
      maxSkewSeconds: deps.maxSkewSeconds,
    });
  } catch (error) {
    return upstreamFailure(error, 'the coordination store');
  }
  if (nonce === 'replay') {
    logger.warn('Webhook request refused', { reason: 'replay' });
    return reject(
      409,
      'this signed request was already accepted; sign it again (new timestamp) to resend it',
    );
  }
  const response = await afterAuthentication(request, deps);
  if (response.statusCode !== 202) {
    try {
      await releaseNonce(deps.nonces, nonce);
    } catch (error) {
      // The sender can still re-sign with a new timestamp; the answer it gets stays the real one.
      logger.warn('Webhook could not release its nonce', error as Error);
    }
  }
  return response;
}

/** Everything after authentication: parse, verify with S1, publish. */
async function afterAuthentication(request: WebhookRequest, deps: WebhookDeps): Promise<WebhookResponse> {
  let json: unknown;
  try {
    json = JSON.parse(request.body.toString('utf8'));
  } catch {
    return reject(400, 'the body is not valid JSON');
  }
  const parsed = WebhookBody.safeParse(json);
  if (!parsed.success) return reject(422, `the body is invalid: ${describeIssues(parsed.error)}`);
  const claim = parsed.data;

  let detail: ThreatEventDetail;
  if (deps.s1) {
    let threats: S1Threat[];
    try {
      threats = await deps.s1.getThreats([claim.threatId]);
    } catch (error) {
      return upstreamFailure(error, 'S1');
    }
    const threat = threats[0];
    const fromS1 = threat ? threatEventDetail(threat, 'webhook') : undefined;
    if (!threat)
      return reject(422, `S1 does not know threat ${claim.threatId} (or the service user cannot see it)`);
    if (!fromS1) return reject(422, `S1 names no agent for threat ${claim.threatId}`);
    if (fromS1.agentId !== claim.agentId) {
      logger.warn('Webhook named another agent than S1 does; using S1', {
        threatId: claim.threatId,
        claimedAgentId: claim.agentId,
        agentId: fromS1.agentId,
      });
    }
    detail = fromS1;
  } else {
    detail = {
      threatId: claim.threatId,
      agentId: claim.agentId,
      agentOsType: claim.agentOsType?.toLowerCase() ?? null,
      computerName: claim.computerName ?? null,
      siteId: claim.siteId ?? null,
      classification: claim.classification ?? null,
      confidenceLevel: claim.confidenceLevel ?? null,
      threatName: claim.threatName ?? null,
      createdAt: claim.createdAt ?? null,
      updatedAt: claim.updatedAt ?? null,
      via: 'webhook',
    };
  }

  let result: Awaited<ReturnType<typeof publishThreatEvents>>;
  try {
    result = await publishThreatEvents(deps.events, deps.eventBusName, [detail], deps.publish);
  } catch (error) {
    return upstreamFailure(error, 'EventBridge');
  }
  if (result.failed.length > 0) {
    logger.error('Webhook threat event was not accepted by EventBridge', { failed: result.failed });
    return reject(503, 'the event could not be queued; try again', { 'retry-after': '30' });
  }
  const mismatch = filterMismatch(detail, deps.filter);
  logger.info('Webhook threat event queued', {
    threatId: detail.threatId,
    agentId: detail.agentId,
    mismatch,
  });
  return respond(202, {
    status: 'accepted',
    threatId: detail.threatId,
    agentId: detail.agentId,
    verifiedWithS1: deps.s1 !== undefined,
    matchesFilter: mismatch === undefined,
    ...(mismatch ? { filterMismatch: mismatch } : {}),
  });
}

/** Why the request is not authentic, or undefined when it is. */
async function authenticate(request: WebhookRequest, deps: WebhookDeps): Promise<string | undefined> {
  const timestamp = request.headers[TIMESTAMP_HEADER]?.trim();
  const signature = request.headers[SIGNATURE_HEADER]?.trim();
  if (!timestamp || !signature) return `sign the request (${TIMESTAMP_HEADER} and ${SIGNATURE_HEADER})`;
  if (!/^\d{1,12}$/.test(timestamp)) return `${TIMESTAMP_HEADER} must be Unix seconds`;
  if (!isSignatureShaped(signature)) return `${SIGNATURE_HEADER} must be sha256=<64 hex digits>`;
  const skew = Math.abs(deps.now() / 1000 - Number(timestamp));
  if (skew > deps.maxSkewSeconds) {
    return `${TIMESTAMP_HEADER} is more than ${deps.maxSkewSeconds} s away from the current time`;
  }
  const signedBy = async () =>
    (await deps.signingKeys()).some((key) => signatureMatches(key, timestamp, request.body, signature));
  if (await signedBy()) return undefined;
  if (deps.refreshSigningKey && (await deps.refreshSigningKey())) {
    if (await signedBy()) return undefined;
  }
  return 'the signature does not match';
}

/** A 503 for failures that pass (throttling, outages), else a 502; the cause is logged, not returned. */
function upstreamFailure(error: unknown, service: string): WebhookResponse {
  const retryable = error instanceof ServiceError ? error.retryable : true;
  logger.error(`Webhook could not reach ${service}`, error as Error);
  return retryable
    ? reject(503, `${service} is unavailable; try again later`, { 'retry-after': '30' })
    : reject(502, `${service} refused the request; see the function's logs`);
}
