/**
 * The writes every registry partition of the coordination table shares (open S1 task waits, open Cado waits,
 * queued executes): an item in the store's encoding (`data` JSON, `version`, a fresh `writeId`, `updatedAt`, TTL),
 * put unconditionally (a retry's registration replaces the earlier one), and a removal conditional on the write
 * that was read, so a registration made meanwhile is never lost. Listing is {@link liveItems}.
 */
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { now as clockNow } from '../clock';
import { CoordinationStoreError } from '../errors';
import { type LiveItem, liveItems } from './live-items';
import { PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE } from './table';

const S = (value: string): AttributeValue => ({ S: value });

/** Where a registry item lives and what it holds. */
export interface RegistryItem {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly pk: string;
  readonly sk: string;
}

/**
 * Puts `data` at the item (replacing what was there, or with `onlyIfAbsent` only where nothing live is) with TTL
 * `expiresAtSeconds`; returns the new write id, or undefined when `onlyIfAbsent` found an item.
 */
export async function putRegistryItem(
  at: RegistryItem,
  data: unknown,
  expiresAtSeconds: number,
  nowMs: number,
  onlyIfAbsent = false,
): Promise<string | undefined> {
  const writeId = randomUUID();
  const condition = onlyIfAbsent
    ? {
        ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#exp': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':now': { N: String(Math.floor(nowMs / 1000)) } },
      }
    : {};
  try {
    await at.client.send(
      new PutItemCommand({
        TableName: at.tableName,
        Item: {
          [PARTITION_KEY]: S(at.pk),
          [SORT_KEY]: S(at.sk),
          data: S(JSON.stringify(data)),
          version: { N: '1' },
          writeId: S(writeId),
          updatedAt: S(new Date(nowMs).toISOString()),
          [TTL_ATTRIBUTE]: { N: String(expiresAtSeconds) },
        },
        ...condition,
      }),
    );
  } catch (error) {
    if (onlyIfAbsent && error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
  return writeId;
}

/**
 * Removes the item if it still is the write `writeId` (undefined: whatever is there). `changed`: another write
 * replaced it meanwhile, and it stays.
 */
export async function removeRegistryItem(
  at: RegistryItem,
  writeId: string | undefined,
): Promise<'removed' | 'changed'> {
  try {
    await at.client.send(
      new DeleteItemCommand({
        TableName: at.tableName,
        Key: { [PARTITION_KEY]: S(at.pk), [SORT_KEY]: S(at.sk) },
        ...(writeId
          ? {
              ConditionExpression: 'attribute_not_exists(#w) OR #w = :w',
              ExpressionAttributeNames: { '#w': 'writeId' },
              ExpressionAttributeValues: { ':w': S(writeId) },
            }
          : {}),
      }),
    );
    return 'removed';
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return 'changed';
    throw error;
  }
}

/** Where a registry partition lives, and its clock. */
export interface RegistryOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** @default the shared clock */
  readonly now?: () => number;
}

/**
 * What every registry partition class shares: the item address, the conditional removal, and errors that name the
 * registry (`label`) and the operation, never the item's data.
 */
export abstract class RegistryPartition {
  protected readonly now: () => number;

  protected constructor(
    protected readonly options: RegistryOptions,
    private readonly pk: string,
    private readonly label: string,
  ) {
    this.now = options.now ?? clockNow;
  }

  /** Removes the item at `sk` if it is still the write `writeId`; `changed` when another write replaced it. */
  async remove(sk: string, writeId: string | undefined): Promise<'removed' | 'changed'> {
    try {
      return await removeRegistryItem(this.at(sk), writeId);
    } catch (error) {
      throw this.failure('remove', error);
    }
  }

  /** The partition's live items, every page (a consistent Query); a failed Query names the registry. */
  protected items(): AsyncGenerator<LiveItem> {
    return liveItems({
      client: this.options.client,
      tableName: this.options.tableName,
      partition: this.pk,
      nowMs: this.now(),
      failure: (error) => this.failure('list', error),
    });
  }

  protected at(sk: string): RegistryItem {
    return { client: this.options.client, tableName: this.options.tableName, pk: this.pk, sk };
  }

  protected failure(operation: string, error: unknown): CoordinationStoreError {
    const name = error instanceof Error ? error.name : 'Error';
    return new CoordinationStoreError(`${this.label}: ${operation} failed (${name})`, {
      cause: error,
      details: { operation },
    });
  }
}
