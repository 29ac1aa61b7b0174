/**
 * The coordination store: one DynamoDB table several executions share (see store.ts for the operations and
 * table.ts for the layout). Handlers use {@link coordinationStore}, for the table named by
 * `COORDINATION_TABLE_NAME` on the project's DynamoDB client (timeouts, three attempts).
 */
import { dynamoClient } from '../aws';
import { OpenPipelines } from './open-pipelines';
import { OpenTasks } from './open-tasks';
import { QueuedExecutes } from './queued-executes';
import { CoordinationStore } from './store';
import { coordinationTableName } from './table';

export * from './open-pipelines';
export * from './open-tasks';
export * from './queued-executes';
export * from './store';
export * from './table';

/**
 * A store for the table the environment names, on the process's DynamoDB client. Cheap: nothing is cached here,
 * so a local run that resets the AWS clients or changes the table gets a fresh one.
 */
export function coordinationStore(): CoordinationStore {
  return new CoordinationStore({ client: dynamoClient(), tableName: coordinationTableName() });
}

/** The open S1 task waits (open-tasks.ts) in the table the environment names. */
export function openTasks(): OpenTasks {
  return new OpenTasks({ client: dynamoClient(), tableName: coordinationTableName() });
}

/** The open Cado pipeline waits (open-pipelines.ts) in the table the environment names. */
export function openPipelines(): OpenPipelines {
  return new OpenPipelines({ client: dynamoClient(), tableName: coordinationTableName() });
}

/** The queued S1 executes (queued-executes.ts) in the table the environment names. */
export function queuedExecutes(): QueuedExecutes {
  return new QueuedExecutes({ client: dynamoClient(), tableName: coordinationTableName() });
}
