/**
 * The live items of one partition of the coordination table (consistent read, every page), as the open-wait
 * registries (open-tasks.ts, open-pipelines.ts) list them: items past their TTL count as gone, and each item's
 * `data` is handed over as parsed JSON (undefined when it does not parse) with its sort key and write id.
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE } from './table';

/** One live item of the partition. */
export interface LiveItem {
  readonly sk: string;
  readonly writeId: string | undefined;
  /** The item's `data` attribute as JSON, or undefined when it is missing or not JSON. */
  readonly json: unknown;
  /** The raw item (for attributes beside `data`). */
  readonly item: Record<string, AttributeValue>;
}

/**
 * Yields the partition's live items page by page.
 * @throws what `failure` makes of a failed Query (the caller's CoordinationStoreError).
 */
export async function* liveItems(options: {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly partition: string;
  readonly nowMs: number;
  readonly failure: (error: unknown) => Error;
}): AsyncGenerator<LiveItem> {
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    let page: QueryCommandOutput;
    try {
      page = await options.client.send(
        new QueryCommand({
          TableName: options.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
          ExpressionAttributeValues: { ':pk': { S: options.partition } },
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
    } catch (error) {
      throw options.failure(error);
    }
    for (const item of page.Items ?? []) {
      const live = liveItem(item, options.nowMs);
      if (live) yield live;
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}

/** One item as {@link liveItems} hands it over (also for a single GetItem), or undefined when its TTL has passed. */
export function liveItem(item: Record<string, AttributeValue>, nowMs: number): LiveItem | undefined {
  const exp = Number(item[TTL_ATTRIBUTE]?.N);
  if (Number.isFinite(exp) && exp * 1000 <= nowMs) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(item.data?.S ?? '');
  } catch {
    json = undefined;
  }
  return { sk: item[SORT_KEY]?.S ?? '', writeId: item.writeId?.S, json, item };
}
