import { type App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNING_KEY_FIELD } from '../../lambdas/receive-webhook/signing-key';
import * as intakeEnv from '../../lambdas/shared/intake/settings';
import * as events from '../../lambdas/shared/intake/threat-event';
import { loadConfig } from '../../lib/config';
import { ApiSecrets } from '../../lib/constructs/api-secrets';
import { CoordinationStore } from '../../lib/constructs/coordination-store';
import { EvidenceBucket } from '../../lib/constructs/evidence-bucket';
import { Monitoring } from '../../lib/constructs/monitoring';
import {
  HIGH_WATER_MARK_PLACEHOLDER,
  THREAT_EVENT_DETAIL_TYPE,
  THREAT_EVENT_SOURCE,
  ThreatIntake,
  type ThreatIntakeProps,
  WEBHOOK_SIGNING_KEY_FIELD,
} from '../../lib/constructs/threat-intake';
import { appFactory, exampleConfig } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
type Resource = { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:s1cado-investigation';

/**
 * Threat intake with the constructs it builds on, composed as the stack composes them, in a stack of its own (so
 * the test does not depend on whether the stack already wires intake in). The workflow is imported by ARN: its
 * own tests cover it.
 */
function build(s1cado = exampleConfig(), extra: Partial<ThreatIntakeProps> = {}) {
  const app = apps.app({ s1cado });
  const stack = new Stack(app, 'IntakeTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const config = loadConfig(app.node);
  const evidence = new EvidenceBucket(stack, 'Evidence', { accessLogRetentionDays: config.logRetentionDays });
  const secrets = new ApiSecrets(stack, 'ApiSecrets', {
    s1SecretArn: config.s1SecretArn,
    cadoSecretArn: config.cadoSecretArn,
    endpoints: config,
  });
  const monitoring = new Monitoring(stack, 'Monitoring');
  const coordination = new CoordinationStore(stack, 'Coordination');
  const stateMachine = StateMachine.fromStateMachineArn(stack, 'Workflow', STATE_MACHINE_ARN);
  const intake = new ThreatIntake(stack, 'ThreatIntake', {
    config,
    stateMachine,
    secrets,
    evidence,
    monitoring,
    coordination,
    ...extra,
  });
  const template = Template.fromStack(stack);
  const id = (c: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
  return { app, stack, intake, template, id, secrets, evidence, monitoring, coordination };
}
type Built = ReturnType<typeof build>;

function resources(built: Built): Record<string, Resource> {
  return built.template.toJSON().Resources as Record<string, Resource>;
}

/** The function (logical id and resource) implementing `step`. */
function functionOf(built: Built, step: string): [string, Resource] {
  const entry = Object.entries(resources(built)).find(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.S1CadoStep === step,
  );
  if (!entry) throw new Error(`no function for ${step}`);
  return entry;
}

function envOf(built: Built, step: string): Record<string, unknown> {
  return (functionOf(built, step)[1].Properties.Environment as { Variables: Record<string, unknown> })
    .Variables;
}

/** Statements of every IAM policy attached to the role of the function for `step`. */
function statementsOf(built: Built, step: string): Statement[] {
  const roleId = ((functionOf(built, step)[1].Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'] ??
    [])[0];
  return Object.values(resources(built))
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === roleId))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();

const statementFor = (statements: Statement[], action: string) =>
  statements.find((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]).includes(action));

describe('ThreatIntake', () => {
  let built: Built;
  beforeAll(() => {
    built = build(
      exampleConfig({
        pollSchedule: 'rate(5 minutes)',
        threatFilter: {
          confidenceLevels: ['malicious', 'suspicious'],
          classifications: ['Ransomware', 'Trojan'],
          siteIds: ['1111111111111111111'],
        },
      }),
    );
  });

  it('speaks the event contract of the handlers', () => {
    expect(THREAT_EVENT_SOURCE).toBe(events.THREAT_EVENT_SOURCE);
    expect(THREAT_EVENT_DETAIL_TYPE).toBe(events.THREAT_EVENT_DETAIL_TYPE);
    expect(WEBHOOK_SIGNING_KEY_FIELD).toBe(SIGNING_KEY_FIELD);
  });

  it('routes matching threat events on its own bus to the intake queue, filtering like the poller', () => {
    const { template, intake, id } = built;
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: id(intake.bus) },
      EventPattern: {
        source: [THREAT_EVENT_SOURCE],
        'detail-type': [THREAT_EVENT_DETAIL_TYPE],
        detail: {
          confidenceLevel: ['malicious', 'suspicious'],
          agentOsType: ['windows', 'linux'],
          siteId: ['1111111111111111111'],
          classification: [{ 'equals-ignore-case': 'Ransomware' }, { 'equals-ignore-case': 'Trojan' }],
        },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [id(intake.intakeQueue), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [id(intake.deadLetterQueue), 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21_600 },
        }),
      ],
    });
  });

  it('has start-investigation consume the intake queue with bounded concurrency, partial batch failures and a redrive', () => {
    const { template, intake, id } = built;
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [id(intake.intakeQueue), 'Arn'] },
      FunctionName: { Ref: functionOf(built, 'start-investigation')[0] },
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 10 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const queue = template.findResources('AWS::SQS::Queue')[id(intake.intakeQueue)];
    const timeout = functionOf(built, 'start-investigation')[1].Properties.Timeout as number;
    expect(queue?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      // AWS's advice for a Lambda consumer: six times its timeout, so a slow batch is not delivered twice.
      VisibilityTimeout: timeout * 6,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [id(intake.deadLetterQueue), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    // Shorter than the dead-letter queue's 14 days.
    expect(queue?.Properties.MessageRetentionPeriod).toBeLessThan(1_209_600);
  });

  it('sends events start-investigation fails on after its retries to the dead-letter queue', () => {
    const { template, intake, id } = built;
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionOf(built, 'start-investigation')[0] },
      MaximumRetryAttempts: 2,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [id(intake.deadLetterQueue), 'Arn'] } },
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('runs the poller on the configured schedule, without Lambda retries (the next run resumes)', () => {
    const { template } = built;
    const [pollId] = functionOf(built, 'poll-threats');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [pollId, 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: pollId },
      MaximumRetryAttempts: 0,
    });
  });

  it('keeps the high-water mark in an SSM parameter created with the placeholder the poller understands', () => {
    const { template, intake, id } = built;
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Type: 'String',
      Value: HIGH_WATER_MARK_PLACEHOLDER,
    });
    expect(envOf(built, 'poll-threats')).toMatchObject({
      POLL_MARK_PARAMETER: { Ref: id(intake.highWaterMark) },
      EVENT_BUS_NAME: { Ref: id(intake.bus) },
      THREAT_CONFIDENCE_LEVELS: 'malicious,suspicious',
      THREAT_CLASSIFICATIONS: 'Ransomware,Trojan',
      THREAT_OS_TYPES: 'windows,linux',
      THREAT_SITE_IDS: '1111111111111111111',
      POLL_LOOKBACK_SECONDS: '3600',
    });
  });

  it('sets environments the handlers accept', () => {
    const saved = { ...process.env };
    try {
      for (const step of ['poll-threats', 'start-investigation'] as const) {
        const env = envOf(built, step);
        for (const [key, value] of Object.entries(env)) {
          // Deploy-time references resolve to ARNs and names; stand-ins of the right shape are enough here.
          process.env[key] =
            typeof value === 'string'
              ? value
              : key === 'STATE_MACHINE_ARN'
                ? 'arn:aws:states:us-east-1:123456789012:stateMachine:investigation'
                : `resolved-${key.toLowerCase()}`;
        }
      }
      expect(intakeEnv.pollSettings()).toMatchObject({
        lookbackSeconds: 3600,
        timeBudgetSeconds: 45,
        filter: { classifications: ['Ransomware', 'Trojan'], siteIds: ['1111111111111111111'] },
      });
      expect(intakeEnv.startSettings()).toMatchObject({ addThreatNote: true });
    } finally {
      process.env = saved;
    }
  });

  it('grants the poller exactly its bus, its parameter and the S1 token', () => {
    const { intake, id, secrets } = built;
    const statements = statementsOf(built, 'poll-threats');
    expect(statementFor(statements, 'events:PutEvents')?.Resource).toEqual({
      'Fn::GetAtt': [id(intake.bus), 'Arn'],
    });
    expect(JSON.stringify(statementFor(statements, 'ssm:PutParameter')?.Resource)).toContain(
      id(intake.highWaterMark),
    );
    expect(statementFor(statements, 'secretsmanager:GetSecretValue')?.Resource).toEqual({
      Ref: id(secrets.s1Secret),
    });
    const actions = actionsOf(statements);
    expect(actions.some((a) => a.startsWith('s3:') || a.startsWith('states:'))).toBe(false);
  });

  it('lets start-investigation start the one state machine and list threat investigations, nothing more', () => {
    const { evidence, id } = built;
    const statements = statementsOf(built, 'start-investigation');
    expect(statementFor(statements, 'states:StartExecution')?.Resource).toBe(STATE_MACHINE_ARN);
    expect(statementFor(statements, 's3:ListBucket')).toMatchObject({
      Resource: { 'Fn::GetAtt': [id(evidence.bucket), 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['investigations/threat-*'] } },
    });
    const actions = actionsOf(statements);
    expect(actions).not.toContain('s3:GetObject');
    expect(actions.some((a) => a.startsWith('events:'))).toBe(false);
    // The coordination store (pending retries of not-attempted threats): its key only through DynamoDB.
    expect(actions).toContain('dynamodb:GetItem');
    for (const statement of statements.filter((st) => actionsOf([st]).some((a) => a.startsWith('kms:')))) {
      expect(JSON.stringify(statement.Condition)).toContain('kms:ViaService');
    }
    expect(envOf(built, 'start-investigation')).toMatchObject({
      THREAT_NOTE: 'true',
      S1_SECRET_ARN: expect.anything(),
    });
  });

  it('lets backfill-threats put events, list threat investigations and describe executions, nothing more', () => {
    const { intake, evidence, id } = built;
    const statements = statementsOf(built, 'backfill-threats');
    expect(statementFor(statements, 'events:PutEvents')?.Resource).toEqual({
      'Fn::GetAtt': [id(intake.bus), 'Arn'],
    });
    expect(statementFor(statements, 's3:ListBucket')).toMatchObject({
      Resource: { 'Fn::GetAtt': [id(evidence.bucket), 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['investigations/threat-*'] } },
    });
    expect(statementFor(statements, 'states:DescribeExecution')?.Resource).toBe(
      `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:*`,
    );
    const actions = actionsOf(statements);
    // It never starts an investigation itself (start-investigation does, from the bus), reads no evidence and
    // writes nothing to the bucket.
    expect(actions).not.toContain('states:StartExecution');
    expect(actions.some((a) => a.startsWith('s3:') && a !== 's3:ListBucket')).toBe(false);
    expect(actions.some((a) => a.startsWith('dynamodb:'))).toBe(false);
    expect(envOf(built, 'backfill-threats')).toMatchObject({
      EVENT_BUS_NAME: { Ref: id(intake.bus) },
      STATE_MACHINE_ARN,
      THREAT_CONFIDENCE_LEVELS: 'malicious,suspicious',
      BACKFILL_MAX_THREATS: '500',
    });
  });

  it('deploys no webhook unless enabled', () => {
    built.template.resourceCountIs('AWS::Lambda::Url', 0);
    expect(built.intake.webhookFunction).toBeUndefined();
  });

  it('alarms on a failing poller and on dead letters', () => {
    const { template, monitoring, id } = built;
    const topic = { Ref: id(monitoring.topic) };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionOf(built, 'poll-threats')[0] } }],
      EvaluationPeriods: 3,
      AlarmActions: [topic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      AlarmActions: [topic],
    });
  });
});

describe('ThreatIntake options', () => {
  it('with the webhook: a Function URL authenticated by the signed request, and a generated signing key', () => {
    const built = build(exampleConfig({ webhookEnabled: true }));
    const { template, intake, id } = built;
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [functionOf(built, 'receive-webhook')[0], 'Arn'] },
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'signingKey', PasswordLength: 64 }),
    });
    const secret = intake.webhookSecret;
    if (!secret) throw new Error('no webhook secret');
    const statements = statementsOf(built, 'receive-webhook');
    const readable = statements
      .filter((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue'))
      .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
    expect(readable).toEqual(
      expect.arrayContaining([{ Ref: id(secret) }, { Ref: id(built.secrets.s1Secret) }]),
    );
    expect(readable).toHaveLength(2);
    expect(statementFor(statements, 'events:PutEvents')?.Resource).toEqual({
      'Fn::GetAtt': [id(intake.bus), 'Arn'],
    });
    expect(envOf(built, 'receive-webhook')).toMatchObject({
      WEBHOOK_SECRET_ARN: { Ref: id(secret) },
      WEBHOOK_VERIFY_WITH_S1: 'true',
      COORDINATION_TABLE_NAME: { Ref: id(built.coordination.table) },
    });
    // Replay nonces: item reads and conditional writes on the one table, nothing else of DynamoDB.
    const dynamo = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(1);
    expect(dynamo[0]?.Resource).toEqual({ 'Fn::GetAtt': [id(built.coordination.table), 'Arn'] });
    expect(functionOf(built, 'receive-webhook')[1].Properties.ReservedConcurrentExecutions).toBe(10);
  });

  it("keeps the webhook signing key on the project's credentials key, or on a key of its own", () => {
    const built = build(exampleConfig({ webhookEnabled: true }));
    const signing = built.intake.webhookSecret;
    const credentialsKey = built.secrets.key;
    if (!signing || !credentialsKey) throw new Error('expected a signing secret and a credentials key');
    expect(resources(built)[built.id(signing)]?.Properties.KmsKeyId).toEqual({
      'Fn::GetAtt': [built.id(credentialsKey), 'Arn'],
    });

    const imported = build(
      exampleConfig({
        webhookEnabled: true,
        s1SecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s1-AbC123',
        cadoSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:cado-AbC123',
      }),
    );
    expect(imported.secrets.key).toBeUndefined();
    const own = imported.intake.webhookSecret;
    if (!own) throw new Error('no webhook secret');
    const keyRef = resources(imported)[imported.id(own)]?.Properties.KmsKeyId as { 'Fn::GetAtt': string[] };
    const key = resources(imported)[keyRef['Fn::GetAtt'][0] as string];
    expect(key?.Type).toBe('AWS::KMS::Key');
    expect(key?.Properties.EnableKeyRotation).toBe(true);
    // The webhook may decrypt with it (through Secrets Manager), which reading the secret needs.
    expect(actionsOf(statementsOf(imported, 'receive-webhook'))).toContain('kms:Decrypt');
  });

  it.each([
    [false, ['poll-threats', 'backfill-threats']],
    [true, ['poll-threats', 'backfill-threats', 'receive-webhook']],
  ])('lets only the intake functions put threat events on the bus (webhook %s)', (webhookEnabled, steps) => {
    const built = build(exampleConfig({ webhookEnabled }));
    const policies = Object.values(resources(built)).filter((r) => r.Type === 'AWS::Events::EventBusPolicy');
    const statements = policies.map((p) => p.Properties.Statement as Record<string, unknown>);
    const deny = statements.find((st) => st.Sid === 'cdk-OnlyIntakePutsThreatEvents');
    expect(deny).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'events:PutEvents',
      Resource: { 'Fn::GetAtt': [built.id(built.intake.bus), 'Arn'] },
      Condition: { StringEquals: { 'events:source': 's1cado.threat-intake' } },
    });
    if (!deny) throw new Error('no OnlyIntakePutsThreatEvents statement');
    const allowed = (deny.Condition as { ArnNotEquals: { 'aws:PrincipalArn': unknown } }).ArnNotEquals[
      'aws:PrincipalArn'
    ];
    const roleOf = (step: string) => {
      const role = functionOf(built, step)[1].Properties.Role as { 'Fn::GetAtt': string[] };
      return { 'Fn::GetAtt': [role['Fn::GetAtt'][0], 'Arn'] };
    };
    expect([allowed].flat()).toEqual(steps.map(roleOf));
  });

  it('gives the webhook the reserved concurrency the config names', () => {
    const built = build(exampleConfig({ webhookEnabled: true, webhookReservedConcurrency: 3 }));
    expect(functionOf(built, 'receive-webhook')[1].Properties.ReservedConcurrentExecutions).toBe(3);
    // The poller and start-investigation keep drawing from the unreserved pool.
    expect(functionOf(built, 'poll-threats')[1].Properties).not.toHaveProperty(
      'ReservedConcurrentExecutions',
    );
  });

  it('without threat notes, start-investigation still reads threats back from S1, and adds no note', () => {
    const built = build(exampleConfig(), { addThreatNote: false });
    expect(actionsOf(statementsOf(built, 'start-investigation'))).toContain('secretsmanager:GetSecretValue');
    expect(envOf(built, 'start-investigation')).toMatchObject({
      THREAT_NOTE: 'false',
      S1_SECRET_ARN: expect.anything(),
      THREAT_CONFIDENCE_LEVELS: 'malicious',
    });
  });

  it('takes a replacement rule pattern', () => {
    const built = build(exampleConfig(), {
      eventPattern: { source: [THREAT_EVENT_SOURCE], detail: { agentId: ['1913920934584665209'] } },
    });
    built.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: [THREAT_EVENT_SOURCE], detail: { agentId: ['1913920934584665209'] } },
    });
  });
});

describe('ThreatIntake with cdk-nag AwsSolutions', () => {
  function violations(app: App) {
    app.synth();
    return new AwsSolutionsChecks().validateScope(app).violations;
  }

  it('reports no violations', () => {
    expect(violations(build().app)).toEqual([]);
  });

  it('reports no violations with the webhook, imported secrets and without monitoring', () => {
    const { app } = build(
      exampleConfig({
        webhookEnabled: true,
        s1SecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s1-AbC123',
        cadoSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:cado',
      }),
      { monitoring: undefined },
    );
    expect(violations(app)).toEqual([]);
  });
});
