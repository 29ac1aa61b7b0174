/**
 * Webhook request signing: `X-S1cado-Signature: sha256=<hex>` is HMAC-SHA256, keyed with the shared signing key,
 * over `<timestamp>.<raw body>`, where `<timestamp>` is the `X-S1cado-Timestamp` header (Unix seconds). Signing the
 * timestamp with the body lets the receiver refuse replays outside a short window.
 *
 * A sender computes it like this (shell):
 * `printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$key" | sed 's/^.* /sha256=/'`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying the signature (lower case, as Lambda Function URLs deliver headers). */
export const SIGNATURE_HEADER = 'x-s1cado-signature';
/** Header carrying the signing time in Unix seconds. */
export const TIMESTAMP_HEADER = 'x-s1cado-timestamp';

const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

function digest(key: string, timestamp: string, body: Buffer): Buffer {
  return createHmac('sha256', key).update(`${timestamp}.`).update(body).digest();
}

/** The signature header value for `body` sent at `timestamp` (Unix seconds, as a string). */
export function signWebhook(key: string, timestamp: string, body: string | Buffer): string {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return `sha256=${digest(key, timestamp, bytes).toString('hex')}`;
}

/** Whether `provided` is the signature of `body` at `timestamp`; compares in constant time. */
export function signatureMatches(key: string, timestamp: string, body: Buffer, provided: string): boolean {
  const match = SIGNATURE.exec(provided.trim());
  if (!match?.[1]) return false;
  const expected = digest(key, timestamp, body);
  const given = Buffer.from(match[1], 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether a header value has the signature's shape (checked before any key is read). */
export function isSignatureShaped(value: string): boolean {
  return SIGNATURE.test(value.trim());
}
