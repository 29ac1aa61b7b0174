/**
 * The coordination store's table layout, as the CDK construct defines it (`lib/constructs/coordination-store.ts`
 * keeps the same names; an infra test compares them): items addressed by `pk` + `sk`, TTL on `expiresAt`.
 */
import { z } from 'zod';
import { parseEnv } from '../settings';

/** Environment variable naming the table (set by `CoordinationStore.bind`). */
export const COORDINATION_TABLE_ENV = 'COORDINATION_TABLE_NAME';
/** Partition key attribute (string). */
export const PARTITION_KEY = 'pk';
/** Sort key attribute (string). */
export const SORT_KEY = 'sk';
/** TTL attribute: epoch seconds after which the item counts as gone. */
export const TTL_ATTRIBUTE = 'expiresAt';

const tableEnv = z.object({
  [COORDINATION_TABLE_ENV]: z
    .string({ error: 'must name the coordination table (CoordinationStore.bind sets it)' })
    .trim()
    .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)'),
});

/** The table name from the environment, or a ConfigError naming the variable. */
export function coordinationTableName(): string {
  return parseEnv(tableEnv, 'coordination store')[COORDINATION_TABLE_ENV];
}
