/**
 * Queued executes (DESIGN §9, "O(1) S1 traffic": executes that share a script version are batched). S1's
 * `/remote-scripts*` budget is about one request a second for the whole deployment, so a burst of investigations
 * that each sent its own execute would queue behind each other for as many seconds as there are agents. Instead,
 * Run Script decides (lease, execute intent) and queues the agent's execute here with the task token its state
 * waits on; the Task Watcher, the one place that sends them, takes the queue each pass, and sends one execute for
 * every group of queued agents that run the same script with the same arguments and runtime (up to
 * {@link EXECUTE_BATCH_LIMIT} agents a call). Each agent's execute intent is claimed before the call and settled
 * after it exactly as Run Script settles its own, so a lost answer is never sent twice.
 *
 * One partition, `queue#s1-execute`, one item per investigation and agent (a retried Run Script, with a new token,
 * replaces it). Items are removed once the execute was decided and the execution told (or its wait registered),
 * conditional on the write read; a TTL bounds a forgotten item.
 */
import { createHash } from 'node:crypto';
import { type AttributeValue, GetItemCommand } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { AgentStart } from '../schemas';
import { liveItem } from './live-items';
import { putRegistryItem, type RegistryOptions, RegistryPartition } from './registry';
import { PARTITION_KEY, SORT_KEY } from './table';

/** The partition holding every queued execute. */
export const QUEUED_EXECUTES_PK = 'queue#s1-execute';

/** The most agents one execute names (S1 takes an `ids` filter; 100 keeps the request small and the blast known). */
export const EXECUTE_BATCH_LIMIT = 100;

/** How long a queued execute is kept at most (TTL): longer than Run Script's watchdog can wait. */
export const QUEUED_EXECUTE_TTL_SECONDS = 7 * 24 * 3600;

/** One agent's execute, waiting for the Task Watcher to send it. */
export const QueuedExecute = z.object({
  /** The agent's state at Run Script: the task is registered, and the execution resumed, with it. */
  start: AgentStart,
  /** The script's input parameters (the target's: a direct upload's per-agent URLs are never queued). */
  inputParams: z.string(),
  /** The Step Functions task token of the waiting Run Script (secret-like: never logged, never in state). */
  taskToken: z.string().min(1),
  queuedAt: z.string(),
  /**
   * Not sent after this (ISO): by then the state's watchdog (longer: the longest runtime, the grace and ten minutes)
   * is near, and a task started then would run on the endpoint with nobody waiting for it. The execution is failed
   * instead, with nothing started.
   */
  sendBy: z.string(),
});
export type QueuedExecute = z.infer<typeof QueuedExecute>;

/** A listed queued execute, with what a conditional removal needs. */
export interface ListedQueuedExecute {
  readonly sk: string;
  readonly writeId: string;
  readonly queued: QueuedExecute;
}

/** Where the queued execute of `agentId` in `investigationId` lives. */
export function queuedExecuteSortKey(investigationId: string, agentId: string): string {
  return `execute#${investigationId}#${agentId}`;
}

/**
 * Executes that can be one S1 call: the same script, arguments and runtime. The arguments are hashed (they may be
 * long); the key says nothing an operator could not read in the script library.
 */
export function batchKey(queued: QueuedExecute): string {
  const { script } = queued.start.target;
  const params = createHash('sha256').update(queued.inputParams).digest('hex').slice(0, 16);
  return `${script.scriptId}|${script.runtimeTimeoutSeconds}|${params}`;
}

/** Queue, list and remove queued executes. */
export class QueuedExecutes extends RegistryPartition {
  constructor(options: RegistryOptions) {
    super(options, QUEUED_EXECUTES_PK, 'Queued executes');
  }

  /** Queues (or replaces, with a new token) the execute of one agent. */
  async queue(queued: QueuedExecute): Promise<void> {
    const parsed = QueuedExecute.parse(queued);
    const { investigation, target } = parsed.start;
    if (parsed.start.upload) {
      throw new RangeError('a direct upload carries per-agent part URLs: its execute is sent by Run Script');
    }
    const nowMs = this.now();
    try {
      await putRegistryItem(
        this.at(queuedExecuteSortKey(investigation.investigationId, target.agentId)),
        parsed,
        Math.ceil(nowMs / 1000) + QUEUED_EXECUTE_TTL_SECONDS,
        nowMs,
      );
    } catch (error) {
      throw this.failure('queue', error);
    }
  }

  /** Every queued execute (consistent read, all pages), oldest first, and the items that do not parse. */
  async list(): Promise<{ queued: ListedQueuedExecute[]; unreadable: { sk: string }[] }> {
    const queued: ListedQueuedExecute[] = [];
    const unreadable: { sk: string }[] = [];
    for await (const { sk, writeId, json } of this.items()) {
      const parsed = QueuedExecute.safeParse(json);
      if (parsed.success && writeId) queued.push({ sk, writeId, queued: parsed.data });
      else unreadable.push({ sk });
    }
    queued.sort((a, b) => a.queued.queuedAt.localeCompare(b.queued.queuedAt) || a.sk.localeCompare(b.sk));
    return { queued, unreadable };
  }

  /** The queued execute at `sk` as it is now (a retried Run Script may have queued it again with a new token). */
  async get(sk: string): Promise<ListedQueuedExecute | undefined> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      ({ Item: item } = await this.options.client.send(
        new GetItemCommand({
          TableName: this.options.tableName,
          Key: { [PARTITION_KEY]: { S: QUEUED_EXECUTES_PK }, [SORT_KEY]: { S: sk } },
          ConsistentRead: true,
        }),
      ));
    } catch (error) {
      throw this.failure('get', error);
    }
    const live = item && liveItem(item, this.now());
    if (!live?.writeId) return undefined;
    const parsed = QueuedExecute.safeParse(live.json);
    return parsed.success ? { sk, writeId: live.writeId, queued: parsed.data } : undefined;
  }
}
