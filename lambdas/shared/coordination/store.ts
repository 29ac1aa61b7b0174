/**
 * The coordination store (DESIGN §9): small typed operations on one DynamoDB table that several executions share.
 *
 * - {@link CoordinationStore.putIfAbsent}: create-if-absent; a second create answers `exists`, not an exception.
 * - {@link CoordinationStore.get}: a consistent read.
 * - {@link CoordinationStore.update}: replace the data when the item still has the version the caller read.
 * - {@link CoordinationStore.remove}: delete the item a given write created (and nobody replaced since).
 * - {@link CoordinationStore.acquireLease} / {@link CoordinationStore.releaseLease}: an owner-held lease that
 *   lapses at its expiry.
 *
 * Every item may carry a TTL (`expiresAt`, epoch seconds). DynamoDB deletes expired items lazily (days later,
 * sometimes), so every operation here treats an item past its `expiresAt` as absent: reads skip it, creates and
 * lease acquisitions overwrite it.
 *
 * An SDK retry can repeat a conditional write whose first attempt succeeded but whose answer was lost; the retry
 * then fails its condition against our own write. Each write therefore stamps a random `writeId`, and a failed
 * condition is followed by a consistent read: finding our own `writeId` means the write happened.
 *
 * Item data is kept as a JSON string (`data`) and validated with the caller's zod schema when read; conditions
 * only ever look at the store's own attributes (`version`, `owner`, `expiresAt`, `writeId`). Errors other than a
 * failed condition become {@link CoordinationStoreError} naming the operation, never the data.
 */
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { z } from 'zod';
import { now as clockNow } from '../clock';
import { CoordinationStoreError } from '../errors';
import { PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE } from './table';

/** Where an item lives: partition and sort key (strings). */
export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** An item as stored, with its data validated. */
export interface StoredItem<T> {
  readonly key: ItemKey;
  readonly data: T;
  /** 1 when created, +1 on every update. */
  readonly version: number;
  /** Identifies the write that produced this version. */
  readonly writeId: string;
  /** Epoch milliseconds after which the item counts as gone (whole seconds); undefined when it never expires. */
  readonly expiresAt: number | undefined;
}

/** Answer of {@link CoordinationStore.putIfAbsent}. */
export type CreateResult<T> =
  | { readonly status: 'created'; readonly item: StoredItem<T> }
  | { readonly status: 'exists'; readonly item: StoredItem<T> };

/** Answer of {@link CoordinationStore.update}. */
export type UpdateResult<T> =
  | { readonly status: 'updated'; readonly item: StoredItem<T> }
  /** The item has another version (or is gone: `current` undefined). */
  | { readonly status: 'conflict'; readonly current: StoredItem<T> | undefined };

/** Answer of {@link CoordinationStore.remove}. */
export type RemoveResult = { readonly status: 'removed' } | { readonly status: 'changed' | 'absent' };

/** A lease as stored. */
export interface Lease {
  readonly key: ItemKey;
  readonly owner: string;
  /** Epoch milliseconds (whole seconds) when the lease lapses. */
  readonly expiresAt: number;
}

/** Answer of {@link CoordinationStore.acquireLease}. */
export type LeaseResult =
  | { readonly status: 'acquired'; readonly lease: Lease }
  /** Someone else holds it until `lease.expiresAt`. */
  | { readonly status: 'held'; readonly lease: Lease };

/** Answer of {@link CoordinationStore.releaseLease}. */
export type ReleaseResult = { readonly status: 'released' } | { readonly status: 'not-held' };

/** Options of {@link CoordinationStore}. */
export interface CoordinationStoreOptions {
  /** A client with timeouts and capped retries (`dynamoClient()` from `../aws`). */
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** @default the shared clock */
  readonly now?: () => number;
  /** @default crypto.randomUUID */
  readonly newWriteId?: () => string;
}

/** Options of writes that may give the item a TTL. */
export interface ExpiryOptions {
  /** Seconds from now after which the item counts as gone. @default - never expires */
  readonly ttlSeconds?: number;
}

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });

/** Typed operations on the coordination table. */
export class CoordinationStore {
  private readonly now: () => number;
  private readonly newWriteId: () => string;

  constructor(private readonly options: CoordinationStoreOptions) {
    this.now = options.now ?? clockNow;
    this.newWriteId = options.newWriteId ?? randomUUID;
  }

  /** The item at `key` (consistent read), or undefined when there is none or it has expired. */
  async get<T>(key: ItemKey, schema: z.ZodType<T>): Promise<StoredItem<T> | undefined> {
    const raw = await this.read(key, 'get');
    return raw && !this.expired(raw) ? this.decode(key, raw, schema) : undefined;
  }

  /**
   * Creates the item unless a live one exists at `key`. `exists` carries the item found (an expired one is
   * replaced, as if TTL had already removed it).
   */
  async putIfAbsent<T>(
    key: ItemKey,
    data: T,
    schema: z.ZodType<T>,
    options: ExpiryOptions = {},
  ): Promise<CreateResult<T>> {
    const writeId = this.newWriteId();
    const item = this.encode(key, data, 1, writeId, options.ttlSeconds);
    const written = await this.conditionalWrite('putIfAbsent', key, writeId, () =>
      this.options.client.send(
        new PutItemCommand({
          TableName: this.options.tableName,
          Item: item,
          ConditionExpression: `attribute_not_exists(#pk) OR #exp <= :now`,
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#exp': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':now': N(this.nowSeconds()) },
        }),
      ),
    );
    if (written.ok) return { status: 'created', item: this.decode(key, item, schema) };
    if (written.current && !this.expired(written.current)) {
      return { status: 'exists', item: this.decode(key, written.current, schema) };
    }
    // Gone or expired between the failed condition and the read: the next caller will win; say so honestly.
    throw new CoordinationStoreError(`Coordination store: the item changed during putIfAbsent; try again`, {
      details: { operation: 'putIfAbsent' },
    });
  }

  /**
   * Replaces the data of the item at `key` if it still has `expectedVersion` (and has not expired); the new
   * version is `expectedVersion + 1`. The TTL is set anew from `ttlSeconds`, or removed when that is unset.
   */
  async update<T>(
    key: ItemKey,
    data: T,
    schema: z.ZodType<T>,
    options: ExpiryOptions & { readonly expectedVersion: number },
  ): Promise<UpdateResult<T>> {
    const writeId = this.newWriteId();
    const version = options.expectedVersion + 1;
    const item = this.encode(key, data, version, writeId, options.ttlSeconds);
    const written = await this.conditionalWrite('update', key, writeId, () =>
      this.options.client.send(
        new PutItemCommand({
          TableName: this.options.tableName,
          Item: item,
          ConditionExpression: `#v = :expected AND (attribute_not_exists(#exp) OR #exp > :now)`,
          ExpressionAttributeNames: { '#v': 'version', '#exp': TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ':expected': N(options.expectedVersion),
            ':now': N(this.nowSeconds()),
          },
        }),
      ),
    );
    if (written.ok) return { status: 'updated', item: this.decode(key, item, schema) };
    const current =
      written.current && !this.expired(written.current)
        ? this.decode(key, written.current, schema)
        : undefined;
    return { status: 'conflict', current };
  }

  /** Deletes the item at `key` if it is still the one `writeId` wrote. */
  async remove(key: ItemKey, writeId: string): Promise<RemoveResult> {
    try {
      await this.options.client.send(
        new DeleteItemCommand({
          TableName: this.options.tableName,
          Key: this.keyOf(key),
          ConditionExpression: '#w = :w',
          ExpressionAttributeNames: { '#w': 'writeId' },
          ExpressionAttributeValues: { ':w': S(writeId) },
        }),
      );
      return { status: 'removed' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw this.failure('remove', error);
    }
    // A retried delete whose first attempt succeeded finds nothing: absent is what the caller wanted.
    return { status: (await this.read(key, 'remove')) ? 'changed' : 'absent' };
  }

  /**
   * Takes the lease at `key` for `owner` for `leaseSeconds`, when it is free, lapsed, or already `owner`'s (then
   * it is renewed). `held` names the other owner and when its lease lapses.
   */
  async acquireLease(key: ItemKey, owner: string, leaseSeconds: number): Promise<LeaseResult> {
    if (!(leaseSeconds > 0)) throw new RangeError('leaseSeconds must be positive');
    const writeId = this.newWriteId();
    const expiresAtSeconds = this.expirySeconds(leaseSeconds);
    const written = await this.conditionalWrite('acquireLease', key, writeId, () =>
      this.options.client.send(
        new PutItemCommand({
          TableName: this.options.tableName,
          Item: {
            ...this.keyOf(key),
            owner: S(owner),
            version: N(1),
            writeId: S(writeId),
            [TTL_ATTRIBUTE]: N(expiresAtSeconds),
            updatedAt: S(new Date(this.now()).toISOString()),
          },
          ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now OR #owner = :owner',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#exp': TTL_ATTRIBUTE, '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': N(this.nowSeconds()), ':owner': S(owner) },
        }),
      ),
    );
    if (written.ok) return { status: 'acquired', lease: { key, owner, expiresAt: expiresAtSeconds * 1000 } };
    const current = written.current;
    const holder = current?.owner?.S;
    const until = Number(current?.[TTL_ATTRIBUTE]?.N);
    if (!current || holder === undefined || !Number.isFinite(until) || this.expired(current)) {
      throw new CoordinationStoreError(
        'Coordination store: the lease changed during acquireLease; try again',
        {
          details: { operation: 'acquireLease' },
        },
      );
    }
    return { status: 'held', lease: { key, owner: holder, expiresAt: until * 1000 } };
  }

  /** Who holds the lease at `key` and until when, or undefined when nobody does (none, or lapsed). */
  async leaseHolder(key: ItemKey): Promise<Lease | undefined> {
    const raw = await this.read(key, 'leaseHolder');
    const owner = raw?.owner?.S;
    const until = Number(raw?.[TTL_ATTRIBUTE]?.N);
    if (!raw || owner === undefined || !Number.isFinite(until) || this.expired(raw)) return undefined;
    return { key, owner, expiresAt: until * 1000 };
  }

  /** Gives the lease at `key` back, if `owner` holds it. */
  async releaseLease(key: ItemKey, owner: string): Promise<ReleaseResult> {
    try {
      await this.options.client.send(
        new DeleteItemCommand({
          TableName: this.options.tableName,
          Key: this.keyOf(key),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': S(owner) },
        }),
      );
      return { status: 'released' };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { status: 'not-held' };
      throw this.failure('releaseLease', error);
    }
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /**
   * Runs a conditional write. `ok` when it succeeded, or when its condition failed against our own earlier
   * attempt (same `writeId`); otherwise the item found instead (undefined when there is none).
   */
  private async conditionalWrite(
    operation: string,
    key: ItemKey,
    writeId: string,
    write: () => Promise<unknown>,
  ): Promise<{ ok: true } | { ok: false; current: Record<string, AttributeValue> | undefined }> {
    try {
      await write();
      return { ok: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw this.failure(operation, error);
    }
    const current = await this.read(key, operation);
    if (current?.writeId?.S === writeId) return { ok: true };
    return { ok: false, current };
  }

  private async read(key: ItemKey, operation: string): Promise<Record<string, AttributeValue> | undefined> {
    try {
      const out = await this.options.client.send(
        new GetItemCommand({ TableName: this.options.tableName, Key: this.keyOf(key), ConsistentRead: true }),
      );
      return out.Item;
    } catch (error) {
      throw this.failure(operation, error);
    }
  }

  private keyOf(key: ItemKey): Record<string, AttributeValue> {
    if (!key.pk || !key.sk) throw new RangeError('coordination store keys need a non-empty pk and sk');
    return { [PARTITION_KEY]: S(key.pk), [SORT_KEY]: S(key.sk) };
  }

  private encode<T>(
    key: ItemKey,
    data: T,
    version: number,
    writeId: string,
    ttlSeconds: number | undefined,
  ): Record<string, AttributeValue> {
    if (ttlSeconds !== undefined && !(ttlSeconds > 0)) throw new RangeError('ttlSeconds must be positive');
    return {
      ...this.keyOf(key),
      data: S(JSON.stringify(data)),
      version: N(version),
      writeId: S(writeId),
      updatedAt: S(new Date(this.now()).toISOString()),
      ...(ttlSeconds === undefined ? {} : { [TTL_ATTRIBUTE]: N(this.expirySeconds(ttlSeconds)) }),
    };
  }

  private decode<T>(key: ItemKey, raw: Record<string, AttributeValue>, schema: z.ZodType<T>): StoredItem<T> {
    const version = Number(raw.version?.N);
    const writeId = raw.writeId?.S;
    let json: unknown;
    try {
      json = JSON.parse(raw.data?.S ?? '');
    } catch {
      json = undefined;
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success || !Number.isInteger(version) || writeId === undefined) {
      throw new CoordinationStoreError(
        'Coordination store: an item does not have the shape its reader expects (data, version, writeId)',
        { details: { pk: key.pk } },
      );
    }
    const exp = Number(raw[TTL_ATTRIBUTE]?.N);
    return {
      key,
      data: parsed.data,
      version,
      writeId,
      expiresAt: Number.isFinite(exp) ? exp * 1000 : undefined,
    };
  }

  private expired(raw: Record<string, AttributeValue>): boolean {
    const exp = Number(raw[TTL_ATTRIBUTE]?.N);
    return Number.isFinite(exp) && exp <= this.nowSeconds();
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private expirySeconds(ttlSeconds: number): number {
    return Math.ceil((this.now() + ttlSeconds * 1000) / 1000);
  }

  private failure(operation: string, error: unknown): CoordinationStoreError {
    const name = error instanceof Error ? error.name : 'Error';
    return new CoordinationStoreError(`Coordination store ${operation} failed (${name})`, {
      cause: error,
      details: { operation },
    });
  }
}
