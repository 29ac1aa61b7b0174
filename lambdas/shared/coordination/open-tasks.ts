/**
 * Open waits: the S1 tasks whose executions wait with a Step Functions task token (DESIGN §9, "O(1) S1 traffic").
 *
 * Run Script registers each task it started (or found started) under one partition, `open#s1-task`, one item per
 * investigation and agent: the parent and child ids the watcher asks S1 about, the deadline, the task token, and
 * the agent's state, from which the watcher builds the state the execution resumes with. A retried Run Script
 * (a new token) overwrites the item. The Task Watcher lists the partition (one Query, paged), and removes an item
 * once its execution was resumed, or once Step Functions answered that the token is closed (`TaskTimedOut`,
 * `InvalidToken`: the execution moved on). The removal is conditional on the write it read, so a registration
 * made meanwhile by a retry (with a new token) is never lost.
 *
 * Items are stored in the coordination store's encoding (`data` JSON, `version`, `writeId`, TTL), with a TTL a
 * day past the deadline so a forgotten item cannot keep the watcher busy.
 */
import * as z from 'zod';
import { AgentStart } from '../schemas';
import { putRegistryItem, type RegistryOptions, RegistryPartition } from './registry';

/** The partition holding every open S1 task wait. */
export const OPEN_S1_TASKS_PK = 'open#s1-task';

/** How long past its deadline an open wait is kept (TTL). */
export const OPEN_TASK_TTL_AFTER_DEADLINE_SECONDS = 24 * 3600;

/** One registered wait for an S1 task. */
export const OpenS1Task = z.object({
  /** The agent's state at Run Script (investigation and target): the resumed state is built on it. */
  start: AgentStart,
  parentTaskId: z.string().min(1),
  description: z.string(),
  startedAt: z.string(),
  deadline: z.string(),
  reusedExisting: z.boolean(),
  /** The Step Functions task token of the waiting Run Script (secret-like: never logged, never in state). */
  taskToken: z.string().min(1),
  registeredAt: z.string(),
  /**
   * What S1 said of the execute that started the task, when the watcher sent it: how many agents it named and how
   * many it started a task on. Fewer started than named lets the watcher tell the others at once that they have none.
   */
  execute: z
    .object({ targeted: z.number().int().positive(), affected: z.number().int().nonnegative() })
    .optional(),
});
export type OpenS1Task = z.infer<typeof OpenS1Task>;

/** A listed wait, with what a conditional removal needs. */
export interface ListedOpenTask {
  readonly sk: string;
  readonly writeId: string;
  readonly task: OpenS1Task;
}

/** An item of the partition that does not parse (kept out of the list, reported). */
export interface UnreadableOpenTask {
  readonly sk: string;
  readonly writeId: string | undefined;
}

/** Options of {@link OpenTasks}. */
export type OpenTasksOptions = RegistryOptions;

/** Where the wait of `agentId` in `investigationId` lives. */
export function openTaskSortKey(investigationId: string, agentId: string): string {
  return `task#${investigationId}#${agentId}`;
}

/** Register, list and remove open S1 task waits. */
export class OpenTasks extends RegistryPartition {
  constructor(options: RegistryOptions) {
    super(options, OPEN_S1_TASKS_PK, 'Open task waits');
  }

  /**
   * Registers (or replaces, with a new token) the wait of one agent's task. With `onlyIfAbsent`, a wait already
   * registered stays (the Task Watcher's registration after a batched execute must not replace the one a later Run
   * Script made with a newer token); returns whether it registered.
   */
  async register(task: OpenS1Task, options: { onlyIfAbsent?: boolean } = {}): Promise<boolean> {
    const parsed = OpenS1Task.parse(task);
    const sk = openTaskSortKey(parsed.start.investigation.investigationId, parsed.start.target.agentId);
    const deadlineSeconds = Math.ceil(Date.parse(parsed.deadline) / 1000);
    const nowMs = this.now();
    const expires = Number.isFinite(deadlineSeconds)
      ? deadlineSeconds + OPEN_TASK_TTL_AFTER_DEADLINE_SECONDS
      : Math.ceil(nowMs / 1000) + OPEN_TASK_TTL_AFTER_DEADLINE_SECONDS;
    try {
      const written = await putRegistryItem(this.at(sk), parsed, expires, nowMs, options.onlyIfAbsent);
      return written !== undefined;
    } catch (error) {
      throw this.failure('register', error);
    }
  }

  /** Every open wait (consistent read, all pages), and the items that do not parse. */
  async list(): Promise<{ open: ListedOpenTask[]; unreadable: UnreadableOpenTask[] }> {
    const open: ListedOpenTask[] = [];
    const unreadable: UnreadableOpenTask[] = [];
    for await (const { sk, writeId, json } of this.items()) {
      const parsed = OpenS1Task.safeParse(json);
      if (parsed.success && writeId) open.push({ sk, writeId, task: parsed.data });
      else unreadable.push({ sk, writeId });
    }
    return { open, unreadable };
  }
}
