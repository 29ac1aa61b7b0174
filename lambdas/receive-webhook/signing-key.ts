/**
 * The webhook's signing key, from a Secrets Manager secret holding `{"signingKey": "..."}` (the stack generates
 * one). Cached for a few minutes, registered for redaction the moment it is read. After a signature mismatch the
 * key may have been rotated, so it can be re-read, but at most once a minute: otherwise every forged request
 * would cost a Secrets Manager call.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { now as clockNow } from '../shared/clock';
import { SECRET_FIELDS } from '../shared/contract';
import { SecretError } from '../shared/errors';
import { registerSecret } from '../shared/redact';

/** JSON field of the webhook secret that holds the key. */
export const SIGNING_KEY_FIELD = SECRET_FIELDS.webhookSigningKey;
/** Shorter keys are refused: an HMAC is only as strong as its key. */
export const MIN_SIGNING_KEY_LENGTH = 32;

/** Options of {@link SigningKeyReader}. */
export interface SigningKeyReaderOptions {
  readonly client: SecretsManagerClient;
  readonly secretId: string;
  /** @default 300000 */
  readonly ttlMs?: number;
  /** Least time between two reads forced by {@link SigningKeyReader.refresh}. @default 60000 */
  readonly minRefreshIntervalMs?: number;
  /** @default the shared clock */
  readonly now?: () => number;
}

/** Reads and caches the signing key. */
export class SigningKeyReader {
  private cached: { value: string; loadedAt: number } | undefined;
  private readonly now: () => number;

  constructor(private readonly options: SigningKeyReaderOptions) {
    this.now = options.now ?? clockNow;
  }

  /** The key, from the cache while fresh. */
  async get(): Promise<string> {
    if (this.cached && this.now() - this.cached.loadedAt < (this.options.ttlMs ?? 300_000)) {
      return this.cached.value;
    }
    return this.load();
  }

  /** Reads the key again unless that happened within the last minute; resolves true when it changed. */
  async refresh(): Promise<boolean> {
    const before = this.cached;
    if (before && this.now() - before.loadedAt < (this.options.minRefreshIntervalMs ?? 60_000)) return false;
    const value = await this.load();
    return value !== before?.value;
  }

  private async load(): Promise<string> {
    let text: string | undefined;
    try {
      const out = await this.options.client.send(
        new GetSecretValueCommand({ SecretId: this.options.secretId }),
      );
      text = out.SecretString;
    } catch (error) {
      throw new SecretError(`Could not read the webhook signing key (${(error as Error).name})`, {
        cause: error,
      });
    }
    let value: unknown;
    try {
      value = text ? (JSON.parse(text) as Record<string, unknown>)[SIGNING_KEY_FIELD] : undefined;
    } catch {
      // The raw text may be the key itself: mask it before anything could print it.
      registerSecret(text);
      value = undefined;
    }
    if (typeof value !== 'string' || value.trim().length < MIN_SIGNING_KEY_LENGTH) {
      throw new SecretError(
        `The webhook secret must hold {"${SIGNING_KEY_FIELD}": "<at least ${MIN_SIGNING_KEY_LENGTH} characters>"}`,
      );
    }
    registerSecret(value);
    this.cached = { value: value.trim(), loadedAt: this.now() };
    return this.cached.value;
  }
}
