/**
 * Reads the API credentials from Secrets Manager: `{ "apiToken": … }` for S1 and `{ "apiKey": … }` for Cado.
 * Values are cached for a TTL (one read per warm Lambda in the common case), registered for redaction the moment
 * they are loaded, and re-read on demand after a 401 (the token may have been rotated since it was cached).
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsClient } from './aws';
import { now } from './clock';
import type { SECRET_FIELDS } from './contract';
import { SecretError } from './errors';
import type { CredentialSource } from './http';
import { registerSecret } from './redact';

/** The JSON field holding the credential. */
export type SecretField = (typeof SECRET_FIELDS)['s1Token' | 'cadoKey'];

/** Options for {@link SecretReader}. */
export interface SecretReaderOptions {
  /** @default the shared Secrets Manager client */
  readonly client?: SecretsManagerClient;
  /** How long a value is trusted before it is read again. @default 300000 (5 minutes) */
  readonly ttlMs?: number;
}

interface Entry {
  value: string;
  loadedAt: number;
}

/** A small TTL cache in front of Secrets Manager. */
export class SecretReader {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly ttlMs: number;

  constructor(private readonly options: SecretReaderOptions = {}) {
    this.ttlMs = options.ttlMs ?? 300_000;
  }

  /** The credential in `field` of secret `secretId`, from the cache when fresh. */
  async get(secretId: string, field: SecretField): Promise<string> {
    const key = `${secretId}#${field}`;
    const cached = this.cache.get(key);
    if (cached && now() - cached.loadedAt < this.ttlMs) return cached.value;
    return this.load(secretId, field);
  }

  /** Reads the secret again, bypassing the cache; resolves true when the value changed. */
  async refresh(secretId: string, field: SecretField): Promise<boolean> {
    const before = this.cache.get(`${secretId}#${field}`)?.value;
    const after = await this.load(secretId, field);
    return after !== before;
  }

  private load(secretId: string, field: SecretField): Promise<string> {
    const key = `${secretId}#${field}`;
    const running = this.inflight.get(key);
    if (running) return running;
    const promise = this.fetch(secretId, field)
      .then((value) => {
        this.cache.set(key, { value, loadedAt: now() });
        return value;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return promise;
  }

  private async fetch(secretId: string, field: SecretField): Promise<string> {
    const name = describeSecretId(secretId);
    let text: string | undefined;
    try {
      const out = await (this.options.client ?? secretsClient()).send(
        new GetSecretValueCommand({ SecretId: secretId }),
      );
      text = out.SecretString;
    } catch (error) {
      const reason = (error as { name?: string }).name ?? 'Error';
      throw new SecretError(`Could not read secret ${name} (${reason})`, { cause: error });
    }
    if (!text) throw new SecretError(`Secret ${name} has no string value; store {"${field}": "<value>"}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // The raw text may itself be the credential: register it before anything could print it.
      registerSecret(text);
      throw new SecretError(`Secret ${name} is not JSON; store {"${field}": "<value>"}`);
    }
    const value =
      parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[field] : undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      throw new SecretError(
        `Secret ${name} has no non-empty "${field}" field; store {"${field}": "<value>"}`,
      );
    }
    registerSecret(value);
    return value.trim();
  }
}

/** A short, non-sensitive name for a secret id or ARN (the ARN's name part). */
function describeSecretId(secretId: string): string {
  const match = /:secret:(.+)$/.exec(secretId);
  return `"${match ? match[1] : secretId}"`;
}

/** A {@link CredentialSource} backed by a secret: `<scheme> <value>` as the Authorization header. */
export function secretCredential(
  reader: SecretReader,
  secretId: string,
  field: SecretField,
  scheme: 'ApiToken' | 'Bearer',
): CredentialSource {
  return {
    authorization: async () => `${scheme} ${await reader.get(secretId, field)}`,
    refresh: () => reader.refresh(secretId, field),
  };
}

/** A fixed credential (CLI and local runs that take the token from the environment). */
export function staticCredential(value: string, scheme: 'ApiToken' | 'Bearer'): CredentialSource {
  registerSecret(value);
  return { authorization: async () => `${scheme} ${value}`, refresh: async () => false };
}
