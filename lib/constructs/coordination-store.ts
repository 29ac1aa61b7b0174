import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import {
  COORDINATION_TABLE,
  ENV,
  OPEN_CADO_PIPELINES_PK,
  RESULT_LINK_KEY_PREFIX,
  S1_BUDGET_KEY_PREFIX,
} from '../../lambdas/shared/contract';

/** Item operations a bound function may call: single-item reads and (conditional) writes, nothing in bulk. */
export const COORDINATION_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const;
/** What `S1_REQUEST_BUDGET` carries: the wait limit, the cool-off after a 429, and overrides of family limits. */
export interface S1BudgetEnvironment {
  readonly maxWaitSeconds: number;
  readonly coolOffSeconds: number;
  readonly families: Readonly<Record<string, { readonly perSecond: number; readonly burst: number }>>;
}
/** What DynamoDB needs from the caller to read and write items under a customer-managed key. */
export const COORDINATION_KEY_ACTIONS = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:Encrypt',
  'kms:GenerateDataKey',
] as const;

/** Properties of {@link CoordinationStore}. */
export interface CoordinationStoreProps {
  /**
   * The key encrypting the table.
   * @default - a customer-managed key of its own (rotation on, retained), like the stack's other stores
   */
  readonly encryptionKey?: IKey;
}

/**
 * The coordination store (DESIGN §9): one DynamoDB table holding what several executions share — webhook nonces
 * now; per-agent leases, import intents and open tasks as they land. On-demand capacity, point-in-time recovery,
 * encryption with a customer-managed key, TTL on `expiresAt` (epoch seconds). The table is retained when the stack
 * is deleted: an import intent or a lease may be the only record that a side effect already happened.
 *
 * Items are addressed by `pk` + `sk` (both strings). TTL deletion is lazy (it can lag by days), so the runtime
 * (`lambdas/shared/coordination`) treats an item past its `expiresAt` as absent in every condition it writes.
 *
 * Use {@link CoordinationStore.bind} to give a function the table: it sets `COORDINATION_TABLE_NAME` and grants
 * the item operations and the key use through DynamoDB, in one call.
 */
export class CoordinationStore extends Construct {
  /** The table. */
  readonly table: Table;
  /** The key encrypting it. */
  readonly key: IKey;

  constructor(scope: Construct, id: string, props: CoordinationStoreProps = {}) {
    super(scope, id);
    this.key =
      props.encryptionKey ??
      new Key(this, 'Key', {
        description: 'Encrypts the s1-cado-forensics coordination store (leases, nonces, import intents)',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    this.table = new Table(this, 'Table', {
      partitionKey: { name: COORDINATION_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: COORDINATION_TABLE.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      timeToLiveAttribute: COORDINATION_TABLE.ttlAttribute,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * Gives `fn` the store: sets `COORDINATION_TABLE_NAME` (`ENV.coordinationTableName`) to the table name and grants
   * {@link COORDINATION_TABLE_ACTIONS} on the table and {@link COORDINATION_KEY_ACTIONS} on its key, the latter
   * only through DynamoDB (`kms:ViaService`).
   */
  bind(fn: LambdaFunction): Grant {
    fn.addEnvironment(ENV.coordinationTableName, this.table.tableName);
    this.grantKey(fn);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: [...COORDINATION_TABLE_ACTIONS],
      resourceArns: [this.table.tableArn],
    });
  }

  /**
   * Gives `fn` the shared S1 request budget (DESIGN §9): sets `S1_REQUEST_BUDGET` (`ENV.s1RequestBudget`) and the
   * table name, and grants `dynamodb:UpdateItem` on the budget's items only (partition keys `s1budget#…`) and the
   * key through DynamoDB. `ApiSecrets.bindS1` calls it for every S1 client once the stack connects the two.
   */
  bindS1Budget(fn: LambdaFunction, settings: S1BudgetEnvironment): Grant {
    fn.addEnvironment(ENV.coordinationTableName, this.table.tableName);
    fn.addEnvironment(ENV.s1RequestBudget, JSON.stringify(settings));
    this.grantKey(fn);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['dynamodb:UpdateItem'],
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${S1_BUDGET_KEY_PREFIX}*`] } },
    });
  }

  /**
   * Gives `fn` the store's items to read and delete only (`dynamodb:GetItem`, `dynamodb:DeleteItem`, and
   * `kms:Decrypt`/`kms:DescribeKey` through DynamoDB), never to create or update: `s1cado cancel` reads import
   * intents and gives back the collection leases of tasks S1 cancelled.
   */
  bindReadAndRelease(fn: LambdaFunction): Grant {
    fn.addEnvironment(ENV.coordinationTableName, this.table.tableName);
    Grant.addToPrincipal({
      grantee: fn,
      actions: ['kms:Decrypt', 'kms:DescribeKey'],
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
    });
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'],
      resourceArns: [this.table.tableArn],
    });
  }

  /**
   * Gives `fn` the result links the Task Watcher fetched ahead (partition keys `result-link#…`), and the key through
   * DynamoDB: `dynamodb:GetItem` and `dynamodb:DeleteItem` (Stage Output takes its task's link and drops it
   * once used).
   */
  bindFetchedResultLinks(fn: LambdaFunction): Grant {
    fn.addEnvironment(ENV.coordinationTableName, this.table.tableName);
    this.grantKey(fn);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'],
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${RESULT_LINK_KEY_PREFIX}*`] } },
    });
  }

  /**
   * Gives `fn` the open Cado pipeline waits only (partition `open#cado-pipeline`), and the key through DynamoDB:
   * `register` is `dynamodb:PutItem` (Wait For Cado registers its wait); `answer` is `dynamodb:Query` to list them,
   * `dynamodb:UpdateItem` to note a look and `dynamodb:DeleteItem` to remove an answered one (the Cado webhook
   * receiver, which needs no other item of the store).
   */
  bindOpenCadoWaits(fn: LambdaFunction, use: 'register' | 'answer'): Grant {
    fn.addEnvironment(ENV.coordinationTableName, this.table.tableName);
    this.grantKey(fn);
    return Grant.addToPrincipal({
      grantee: fn,
      actions:
        use === 'register'
          ? ['dynamodb:PutItem']
          : ['dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [OPEN_CADO_PIPELINES_PK] } },
    });
  }

  private grantKey(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: [...COORDINATION_KEY_ACTIONS],
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
    });
  }
}
