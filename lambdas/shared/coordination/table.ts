/**
 * The coordination store's table layout and name, from the contract the CDK construct defines the table with
 * (`COORDINATION_TABLE`, `ENV.coordinationTableName` in `../contract.ts`): items addressed by `pk` + `sk`, TTL on
 * `expiresAt` (epoch seconds).
 */
import * as z from 'zod';
import { COORDINATION_TABLE, ENV } from '../contract';
import { parseEnv } from '../settings';

/** Environment variable naming the table (set by `CoordinationStore.bind`). */
export const COORDINATION_TABLE_ENV = ENV.coordinationTableName;
/** Partition key attribute (string). */
export const PARTITION_KEY = COORDINATION_TABLE.partitionKey;
/** Sort key attribute (string). */
export const SORT_KEY = COORDINATION_TABLE.sortKey;
/** TTL attribute: epoch seconds after which the item counts as gone. */
export const TTL_ATTRIBUTE = COORDINATION_TABLE.ttlAttribute;
const tableEnv = z.object({
  [COORDINATION_TABLE_ENV]: z
    .string({ error: 'must name the coordination table (CoordinationStore.bind sets it)' })
    .trim()
    .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)'),
});

/**
 * Where the per-agent collection lease lives (Run Script takes it; Record Outcome gives it back early when the
 * collection failed): one collection per endpoint at a time, then the cooldown.
 */
export function agentLeaseKey(agentId: string): { readonly pk: string; readonly sk: string } {
  return { pk: `agent#${agentId}`, sk: 'collection' };
}

/** Where the single Task Watcher's lease lives (the watcher takes it; Run Script reads it before waking one). */
export const WATCHER_LEASE_KEY: { readonly pk: string; readonly sk: string } = {
  pk: 'watcher#s1-task',
  sk: 'lease',
};

/** The table name from the environment, or a ConfigError naming the variable. */
export function coordinationTableName(): string {
  return parseEnv(tableEnv, 'coordination store')[COORDINATION_TABLE_ENV];
}
