/**
 * dynalite (a DynamoDB-API server on LevelDB, in memory here) on 127.0.0.1, standing in for the coordination
 * store. The tables are created from the synthesized template's `AWS::DynamoDB::Table` resources: key schema,
 * attribute definitions, billing mode and indexes as CDK wrote them, never retyped here. Each is named after its
 * logical id (a deployed table gets a generated name; handlers read it from `COORDINATION_TABLE_NAME` either way).
 *
 * What dynalite does not do, and what the product does instead (see shared/reference/local-runtime.md):
 * - TTL: no `UpdateTimeToLive`, no deletion of expired items. The runtime treats an item past its `expiresAt` as
 *   absent in every read and condition, so expiry behaves the same with or without the sweeper.
 * - SSE with a KMS key and point-in-time recovery: not emulated (the infra tests cover them).
 * - `ReturnValuesOnConditionCheckFailure` is ignored; the runtime reads the item after a failed condition.
 *
 * Handlers reach it through `AWS_ENDPOINT_URL_DYNAMODB` (in {@link LocalDynamo.env}); it accepts any credentials.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DynamoDBClient,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb';
import dynalite from 'dynalite';
import { CoordinationStore } from '../lib/constructs/coordination-store';

/** A table to create: the template's definition and the logical id it came from. */
export interface LocalTableDefinition {
  readonly logicalId: string;
  readonly input: CreateTableCommandInput;
}

/** Options of {@link startLocalDynamo}. */
export interface LocalDynamoOptions {
  /** Tables to create at start (see {@link tablesFromTemplate}). */
  readonly tables: readonly LocalTableDefinition[];
}

/** A running dynalite. */
export interface LocalDynamo {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** `AWS_ENDPOINT_URL_DYNAMODB`. */
  readonly env: Readonly<Record<string, string>>;
  /** Table names by the logical id of their template resource. */
  readonly tableNames: Readonly<Record<string, string>>;
  /** Settings any DynamoDB client needs to talk to this server. */
  readonly clientConfig: DynamoDBClientConfig;
  /** A client with {@link LocalDynamo.clientConfig}. */
  readonly client: DynamoDBClient;
  /** Closes client connections, the server and its store. */
  close(): Promise<void>;
}

type TemplateResource = { Type?: string; Properties?: Record<string, unknown> };

const TABLE_FIELDS = [
  'KeySchema',
  'AttributeDefinitions',
  'BillingMode',
  'ProvisionedThroughput',
  'GlobalSecondaryIndexes',
  'LocalSecondaryIndexes',
] as const;

/** Every `AWS::DynamoDB::Table` of a synthesized template, as CreateTable input named after its logical id. */
export function tablesFromTemplate(template: Record<string, unknown>): LocalTableDefinition[] {
  const resources = (template.Resources ?? {}) as Record<string, TemplateResource>;
  return Object.entries(resources)
    .filter(([, resource]) => resource.Type === 'AWS::DynamoDB::Table')
    .map(([logicalId, resource]) => {
      const props = resource.Properties ?? {};
      const input: Record<string, unknown> = { TableName: logicalId };
      for (const field of TABLE_FIELDS) {
        const value = props[field];
        if (value === undefined) continue;
        if (JSON.stringify(value).includes('"Fn::') || JSON.stringify(value).includes('"Ref"')) {
          throw new Error(
            `${logicalId}.${field} depends on another resource; a local table needs literal values`,
          );
        }
        input[field] = value;
      }
      if (!input.KeySchema || !input.AttributeDefinitions) {
        throw new Error(`${logicalId} has no KeySchema/AttributeDefinitions in the template`);
      }
      input.BillingMode ??= 'PROVISIONED';
      return { logicalId, input: input as unknown as CreateTableCommandInput };
    });
}

/** Client settings for dynalite at `endpoint` (it accepts any credentials). */
export function localDynamoClientConfig(endpoint: string): DynamoDBClientConfig {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
  };
}

/** Starts dynalite on 127.0.0.1 (a free port), in memory, with `tables` created and ACTIVE. */
export async function startLocalDynamo(opts: LocalDynamoOptions): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const gate = drainGate(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientConfig = localDynamoClientConfig(endpoint);
  const client = new DynamoDBClient(clientConfig);
  const close = async () => {
    client.destroy();
    // dynalite closes its database at server.close and throws (process-wide) from any action still running then,
    // so requests in flight finish first and new ones get the 503 DynamoDB gives when it cannot serve.
    await gate.drain(DRAIN_TIMEOUT_MS);
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
  };
  const tableNames: Record<string, string> = {};
  try {
    for (const table of opts.tables) {
      await client.send(new CreateTableCommand(table.input));
      tableNames[table.logicalId] = table.input.TableName ?? table.logicalId;
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { endpoint, env: { AWS_ENDPOINT_URL_DYNAMODB: endpoint }, tableNames, clientConfig, client, close };
}

/**
 * dynalite with only the coordination store's table, defined by synthesizing the `CoordinationStore` construct
 * alone (for tests of one handler; the local stack takes the table from the whole stack's template).
 */
export async function startLocalCoordinationStore(): Promise<LocalDynamo & { readonly tableName: string }> {
  const stack = new Stack(new App(), 'CoordinationLocal');
  const store = new CoordinationStore(stack, 'Coordination');
  const logicalId = stack.getLogicalId(store.table.node.defaultChild as CfnTable);
  const dynamo = await startLocalDynamo({ tables: tablesFromTemplate(Template.fromStack(stack).toJSON()) });
  return { ...dynamo, tableName: dynamo.tableNames[logicalId] ?? logicalId };
}

/** How long closing waits for requests in flight (an action of the in-memory store takes milliseconds). */
const DRAIN_TIMEOUT_MS = 2_000;

/** Time for an action whose client went away to reach its callback before the database closes. */
const SETTLE_MS = 25;

/**
 * Puts `server`'s request handlers behind a gate: once {@link drain} starts, new requests are answered 503
 * ServiceUnavailable (as DynamoDB answers when it cannot serve), and `drain` resolves when those in flight have
 * answered, or after `timeoutMs`.
 */
function drainGate(server: Server): { drain(timeoutMs: number): Promise<void> } {
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  let closing = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (closing) {
      res.writeHead(503, { 'content-type': 'application/x-amz-json-1.0', connection: 'close' });
      res.end(
        JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#ServiceUnavailable',
          message: 'Service is closing',
        }),
      );
      return;
    }
    inFlight++;
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      inFlight--;
      if (inFlight === 0) idle?.();
    };
    // `close` too: a client that went away gets no `finish`; its action (in memory, quick) settles in the grace below.
    res.once('finish', finished);
    res.once('close', finished);
    for (const handler of handlers) handler.call(server, req, res);
  });
  return {
    async drain(timeoutMs) {
      closing = true;
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    },
  };
}
