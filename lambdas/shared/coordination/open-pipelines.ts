/**
 * Open Cado waits: the Cado pipelines whose executions wait with a Step Functions task token (DESIGN §9, "Cado
 * pipelines resume the same way").
 *
 * Wait For Cado registers each pipeline its execution follows under one partition, `open#cado-pipeline`, one item
 * per execution and agent: the state the execution holds (the Check Cado input, naming the project, the pipeline
 * and the hand-off deadline), the task token, and when Cado was last asked about it. The Task Watcher's Cado pass
 * and the Cado webhook receiver list the partition (one Query, paged), ask Cado about the pipelines that are due,
 * and resume each execution whose pipeline ended (or passed its deadline); they remove the item once Step Functions
 * took the answer or said the token is closed. Removal and the "last checked" update are conditional on the write
 * they read, so a registration made meanwhile (a retry, with a new token) is never lost.
 *
 * Items use the coordination store's encoding (`data` JSON, `writeId`, TTL a day past the deadline).
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { OPEN_CADO_PIPELINES_PK } from '../contract';
import { CadoFollowed } from '../schemas';
import { putRegistryItem, type RegistryOptions, RegistryPartition } from './registry';
import { PARTITION_KEY, SORT_KEY } from './table';

/** The partition holding every open Cado pipeline wait (in the contract: the webhook's grant names it). */
export { OPEN_CADO_PIPELINES_PK };

/** How long past its deadline an open wait is kept (TTL). */
export const OPEN_PIPELINE_TTL_AFTER_DEADLINE_SECONDS = 24 * 3600;

/** One registered wait for a Cado pipeline. */
export const OpenCadoPipeline = z.object({
  /** The state Check Cado would be given: the resumed state is Check Cado's decision on it. */
  followed: CadoFollowed,
  /** The execution waiting (its name), for logs and for telling two executions of one investigation apart. */
  executionName: z.string().min(1),
  /** The Step Functions task token of the waiting state (secret-like: never logged, never in state). */
  taskToken: z.string().min(1),
  registeredAt: z.string(),
});
export type OpenCadoPipeline = z.infer<typeof OpenCadoPipeline>;

/** A listed wait, with what a conditional update or removal needs. */
export interface ListedOpenPipeline {
  readonly sk: string;
  readonly writeId: string;
  readonly wait: OpenCadoPipeline;
  /** When Cado was last asked about it (epoch ms); absent: never since registration. */
  readonly checkedAtMs?: number;
}

const S = (value: string): AttributeValue => ({ S: value });

/** Where the wait of one agent's hand-off in one execution lives. */
export function openPipelineSortKey(executionName: string, agentId: string): string {
  return `pipeline#${executionName}#${agentId}`;
}

/** Register, list, mark checked and remove open Cado pipeline waits. */
export class OpenPipelines extends RegistryPartition {
  constructor(options: RegistryOptions) {
    super(options, OPEN_CADO_PIPELINES_PK, 'Open Cado waits');
  }

  /** Registers (or replaces, with a new token) the wait of one agent's hand-off. */
  async register(wait: OpenCadoPipeline): Promise<void> {
    const parsed = OpenCadoPipeline.parse(wait);
    const sk = openPipelineSortKey(parsed.executionName, parsed.followed.target.agentId);
    const deadlineSeconds = Math.ceil(Date.parse(parsed.followed.cado.deadline) / 1000);
    const base = Number.isFinite(deadlineSeconds) ? deadlineSeconds : Math.ceil(this.now() / 1000);
    try {
      const nowMs = this.now();
      await putRegistryItem(this.at(sk), parsed, base + OPEN_PIPELINE_TTL_AFTER_DEADLINE_SECONDS, nowMs);
    } catch (error) {
      throw this.failure('register', error);
    }
  }

  /** Every open wait (consistent read, all pages), and the keys of items that do not parse. */
  async list(): Promise<{ open: ListedOpenPipeline[]; unreadable: { sk: string }[] }> {
    const open: ListedOpenPipeline[] = [];
    const unreadable: { sk: string }[] = [];
    for await (const { sk, writeId, json, item } of this.items()) {
      const parsed = OpenCadoPipeline.safeParse(json);
      const checked = Number(item.checkedAtMs?.N);
      if (parsed.success && writeId) {
        open.push({
          sk,
          writeId,
          wait: parsed.data,
          ...(Number.isFinite(checked) ? { checkedAtMs: checked } : {}),
        });
      } else unreadable.push({ sk });
    }
    return { open, unreadable };
  }

  /** Notes that Cado was asked at `atMs` (the write stays `writeId`); false when the wait was replaced or removed. */
  async markChecked(sk: string, writeId: string, atMs: number): Promise<boolean> {
    try {
      await this.options.client.send(
        new UpdateItemCommand({
          TableName: this.options.tableName,
          Key: { [PARTITION_KEY]: S(OPEN_CADO_PIPELINES_PK), [SORT_KEY]: S(sk) },
          UpdateExpression: 'SET checkedAtMs = :at',
          ConditionExpression: '#w = :w',
          ExpressionAttributeNames: { '#w': 'writeId' },
          ExpressionAttributeValues: { ':w': S(writeId), ':at': { N: String(atMs) } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw this.failure('mark checked', error);
    }
  }
}
