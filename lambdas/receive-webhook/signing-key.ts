/**
 * The webhook's signing keys, from a Secrets Manager secret holding `{"signingKey": "..."}` (the stack generates
 * one). Cached for a few minutes, registered for redaction the moment they are read. After a signature mismatch
 * the key may have been rotated, so it can be re-read, but at most once a minute: otherwise every forged request
 * would cost a Secrets Manager call.
 *
 * Rotation without a gap: putting a new value makes it AWSCURRENT and the old one AWSPREVIOUS. For an overlap
 * after the current version was created (24 h by default) the previous key is accepted too, so the sender can
 * switch at its own pace; after it, only the current key signs.
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
  /** JSON field of the secret holding the key. @default SIGNING_KEY_FIELD (`signingKey`) */
  readonly field?: string;
  /** @default 300000 */
  readonly ttlMs?: number;
  /** Least time between two reads forced by {@link SigningKeyReader.refresh}. @default 60000 */
  readonly minRefreshIntervalMs?: number;
  /** How long after a rotation the previous key still signs. @default 86400000 (24 h) */
  readonly rotationOverlapMs?: number;
  /** @default the shared clock */
  readonly now?: () => number;
}

/** Default {@link SigningKeyReaderOptions.rotationOverlapMs}. */
export const DEFAULT_ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

interface LoadedKeys {
  readonly current: string;
  readonly previous?: string;
  /** When the current version was created (epoch ms); the previous key expires `rotationOverlapMs` after it. */
  readonly currentSince: number;
  readonly loadedAt: number;
}

/** Reads and caches the signing keys. */
export class SigningKeyReader {
  private cached: LoadedKeys | undefined;
  private readonly now: () => number;

  constructor(private readonly options: SigningKeyReaderOptions) {
    this.now = options.now ?? clockNow;
  }

  /** Every key a valid signature may use now: the current one, and the previous one during its overlap. */
  async keys(): Promise<string[]> {
    const loaded = await this.fresh();
    const overlap = this.options.rotationOverlapMs ?? DEFAULT_ROTATION_OVERLAP_MS;
    const previousValid = loaded.previous !== undefined && this.now() - loaded.currentSince < overlap;
    return previousValid ? [loaded.current, loaded.previous as string] : [loaded.current];
  }

  /** Reads the keys again unless that happened within the last minute; resolves true when the current one changed. */
  async refresh(): Promise<boolean> {
    const before = this.cached;
    if (before && this.now() - before.loadedAt < (this.options.minRefreshIntervalMs ?? 60_000)) return false;
    const after = await this.load();
    return after.current !== before?.current;
  }

  private async fresh(): Promise<LoadedKeys> {
    if (this.cached && this.now() - this.cached.loadedAt < (this.options.ttlMs ?? 300_000))
      return this.cached;
    return this.load();
  }

  private async load(): Promise<LoadedKeys> {
    const current = await this.read('AWSCURRENT');
    if (current === undefined) {
      throw new SecretError('The webhook signing key secret has no current version');
    }
    const field = this.options.field ?? SIGNING_KEY_FIELD;
    const value = keyOf(current.text, field);
    if (value === undefined) {
      throw new SecretError(
        `The webhook secret must hold {"${field}": "<at least ${MIN_SIGNING_KEY_LENGTH} characters>"}`,
      );
    }
    const overlap = this.options.rotationOverlapMs ?? DEFAULT_ROTATION_OVERLAP_MS;
    const currentSince = current.createdAt ?? 0;
    // The previous version is worth a read only while it may still sign; one with a bad shape never signs.
    const previous =
      this.now() - currentSince < overlap ? keyOf((await this.read('AWSPREVIOUS'))?.text, field) : undefined;
    this.cached = {
      current: value,
      ...(previous !== undefined && previous !== value ? { previous } : {}),
      currentSince,
      loadedAt: this.now(),
    };
    return this.cached;
  }

  /** One staged version's text and creation time; undefined when the secret has no version with that stage. */
  private async read(
    stage: 'AWSCURRENT' | 'AWSPREVIOUS',
  ): Promise<{ text?: string; createdAt?: number } | undefined> {
    try {
      const out = await this.options.client.send(
        new GetSecretValueCommand({ SecretId: this.options.secretId, VersionStage: stage }),
      );
      return { text: out.SecretString, createdAt: out.CreatedDate?.getTime() };
    } catch (error) {
      if (stage === 'AWSPREVIOUS' && (error as Error).name === 'ResourceNotFoundException') return undefined;
      throw new SecretError(`Could not read the webhook signing key (${(error as Error).name})`, {
        cause: error,
      });
    }
  }
}

/** The key in a secret's text, registered for redaction; undefined when the text does not hold a usable one. */
function keyOf(text: string | undefined, field: string): string | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = (JSON.parse(text) as Record<string, unknown>)[field];
  } catch {
    // The raw text may be the key itself: mask it before anything could print it.
    registerSecret(text);
    return undefined;
  }
  if (typeof value !== 'string') return undefined;
  registerSecret(value);
  const key = value.trim();
  return key.length >= MIN_SIGNING_KEY_LENGTH ? key : undefined;
}
