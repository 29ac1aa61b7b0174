import { type App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/contract';
import { loadConfig } from '../../lib/config';
import {
  COORDINATION_KEY_ACTIONS,
  COORDINATION_TABLE_ACTIONS,
  CoordinationStore,
} from '../../lib/constructs/coordination-store';
import { TaskFunction } from '../../lib/constructs/task-function';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { extractStateMachine } from '../../local/asl/extract';
import { appFactory, exampleConfig, FIXTURE_ENTRY_ROOT } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

function build() {
  const app = apps.app();
  const stack = new Stack(app, 'CoordinationTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const store = new CoordinationStore(stack, 'Coordination');
  const bound = new TaskFunction(stack, 'Bound', { step: 'echo-step', entryRoot: FIXTURE_ENTRY_ROOT });
  const unbound = new TaskFunction(stack, 'Unbound', { step: 'echo-step', entryRoot: FIXTURE_ENTRY_ROOT });
  store.bind(bound);
  const id = (c: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
  return { app, stack, store, bound, unbound, template: Template.fromStack(stack), id };
}

function statementsOfRole(template: Template, roleId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((r) => (r.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === roleId))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('CoordinationStore', () => {
  const built = build();
  const { template, store, id } = built;

  it('is one on-demand table with point-in-time recovery, TTL and its customer-managed key, retained', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        SSESpecification: {
          SSEEnabled: true,
          SSEType: 'KMS',
          KMSMasterKeyId: { 'Fn::GetAtt': [id(store.key as never), 'Arn'] },
        },
      },
    });
    template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ EnableKeyRotation: true }),
    });
  });

  it('bind: the table name in the environment, item operations on the table, the key only via DynamoDB', () => {
    const fn = template.toJSON().Resources[id(built.bound)];
    expect(fn.Properties.Environment.Variables[ENV.coordinationTableName]).toEqual({ Ref: id(store.table) });
    const roleId = id(built.bound.executionRole);
    const statements = statementsOfRole(template, roleId);
    const dynamo = statements.filter((s) => actions(s).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(1);
    expect(actions(dynamo[0] as Statement).sort()).toEqual([...COORDINATION_TABLE_ACTIONS].sort());
    expect(dynamo[0]?.Resource).toEqual({ 'Fn::GetAtt': [id(store.table), 'Arn'] });
    const kms = statements.filter((s) => actions(s).some((a) => a.startsWith('kms:')));
    expect(kms).toHaveLength(1);
    expect(actions(kms[0] as Statement).sort()).toEqual([...COORDINATION_KEY_ACTIONS].sort());
    expect(kms[0]?.Resource).toEqual({ 'Fn::GetAtt': [id(store.key as never), 'Arn'] });
    expect(kms[0]?.Condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
  });

  it('gives nothing to a function it was not bound to', () => {
    const fn = template.toJSON().Resources[id(built.unbound)];
    expect(fn.Properties.Environment.Variables).not.toHaveProperty(ENV.coordinationTableName);
    const statements = statementsOfRole(template, id(built.unbound.executionRole));
    expect(
      statements.flatMap(actions).filter((a) => a.startsWith('dynamodb:') || a.startsWith('kms:')),
    ).toEqual([]);
  });

  it('reports no cdk-nag AwsSolutions violations', () => {
    const { app } = build();
    (app as App).synth();
    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
  });
});

describe('the stack with the coordination store', () => {
  function stackTemplate(overrides: Record<string, unknown> = {}) {
    const app = apps.app({ s1cado: exampleConfig({ webhookEnabled: true, ...overrides }) });
    const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
    return { stack, template: Template.fromStack(stack) };
  }
  const functionOf = (template: Template, step: string) =>
    Object.values(template.findResources('AWS::Lambda::Function')).find(
      (r) => r.Metadata?.S1CadoStep === step,
    );

  it('binds the store to the functions that keep intents or nonces, the S1 budget to every S1 client, and outputs the table name', () => {
    const { stack, template } = stackTemplate();
    const tableRef = { Ref: stack.getLogicalId(stack.coordination.table.node.defaultChild as never) };
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    const stepsWith = (variable: string) =>
      functions
        .filter((r) => r.Properties.Environment?.Variables?.[variable] !== undefined)
        .map((r) => r.Metadata?.S1CadoStep as string)
        .sort();
    const keepers = [
      // Reads import intents (the Cado pipelines to cancel), gives back leases: see the next test.
      'cancel-investigation',
      // Finds the task through the execute intent after the watchdog of Run Script's wait fired.
      'cancel-task',
      // Wait For Cado registers its pipeline and token (PutItem on the open Cado waits only): see below.
      'check-cado',
      'hand-to-cado',
      'poll-threats',
      'receive-webhook',
      'record-outcome',
      // Registers its task and token for the Task Watcher, which lists them.
      'run-script',
      'start-investigation',
    ];
    const s1Clients = stepsWith(ENV.s1ConsoleUrl);
    // Every S1 client draws on the one request budget (S1_REQUEST_BUDGET, the table).
    expect(stepsWith(ENV.s1RequestBudget)).toEqual(s1Clients);
    expect(stepsWith(ENV.coordinationTableName)).toEqual([...new Set([...keepers, ...s1Clients])].sort());
    const budget = functions.find((r) => r.Properties.Environment?.Variables?.[ENV.s1RequestBudget]);
    expect(JSON.parse(budget?.Properties.Environment.Variables[ENV.s1RequestBudget])).toEqual({
      maxWaitSeconds: 10,
      coolOffSeconds: 60,
      families: {},
    });
    template.hasOutput('CoordinationTableName', { Value: tableRef });
  });

  it('lets cancel-investigation read the store and give leases back, never create or update items but its S1 budget', () => {
    const { stack, template } = stackTemplate();
    const role = stack.getLogicalId(stack.operatorActions.cancelFunction.role?.node.defaultChild as never);
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
      .flatMap(
        (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Condition?: unknown }[],
      );
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
    ]);
    // The one update it may make is to the S1 request budget's items.
    const update = statements.find((s) => [s.Action].flat().includes('dynamodb:UpdateItem'));
    expect(update?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['s1budget#*'] },
    });
    // Its use of the table's key is through DynamoDB only (encrypting as well, for the budget's updates).
    const viaDynamo = statements.filter((s) => JSON.stringify(s.Condition ?? {}).includes('dynamodb.'));
    expect([...new Set(viaDynamo.flatMap((s) => [s.Action].flat()))].sort()).toEqual([
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:Encrypt',
      'kms:GenerateDataKey',
    ]);
  });

  it('reserves concurrency for the webhook and Stage Output from the config, and retries a throttled Stage Output', () => {
    const defaults = stackTemplate().template;
    expect(functionOf(defaults, 'receive-webhook')?.Properties.ReservedConcurrentExecutions).toBe(10);
    expect(functionOf(defaults, 'stage-output')?.Properties.ReservedConcurrentExecutions).toBe(20);
    expect(functionOf(defaults, 'run-script')?.Properties).not.toHaveProperty('ReservedConcurrentExecutions');

    // A throttled invoke never ran: Stage Output retries it with backoff instead of failing the agent.
    const { stack } = stackTemplate();
    const logicalId = stack.getLogicalId(stack.workflow.stateMachine.node.defaultChild as never);
    const { definition } = extractStateMachine(defaults.toJSON(), { logicalId });
    type Retry = { ErrorEquals: string[]; MaxAttempts?: number };
    const map = (
      definition as {
        States: Record<string, { ItemProcessor?: { States: Record<string, { Retry?: Retry[] }> } }>;
      }
    ).States['Collect From Each Agent'];
    expect(map?.ItemProcessor?.States['Stage Output']?.Retry).toContainEqual(
      expect.objectContaining({ ErrorEquals: ['Lambda.TooManyRequestsException'], MaxAttempts: 10 }),
    );

    const custom = stackTemplate({ webhookReservedConcurrency: 2, stagingReservedConcurrency: 8 }).template;
    expect(functionOf(custom, 'receive-webhook')?.Properties.ReservedConcurrentExecutions).toBe(2);
    expect(functionOf(custom, 'stage-output')?.Properties.ReservedConcurrentExecutions).toBe(8);
  });
});
