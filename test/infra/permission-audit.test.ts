import type { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_METRICS } from '../../lambdas/audit-permissions/deliver';
import { loadConfig } from '../../lib/config';
import { AUDIT_CHECKS_METRIC, AUDIT_SERVICE_NAME } from '../../lib/constructs/permission-audit';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { appFactory, exampleConfig } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

/** The stack as deployed, with its audit. */
function build(s1cado = exampleConfig()) {
  const app = apps.app({ s1cado });
  const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  const audit = stack.audit;
  const template = Template.fromStack(stack);
  const id = (c: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
  return { app, stack, audit, template, id };
}

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

/** Statements of every IAM policy attached to the audit function's role. */
function auditStatements(built: ReturnType<typeof build>): Statement[] {
  const roleId = built.id(built.audit.function.executionRole);
  return Object.values(built.template.findResources('AWS::IAM::Policy'))
    .filter((r) => (r.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === roleId))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actions = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();

describe('PermissionAudit', () => {
  let built: ReturnType<typeof build>;
  beforeAll(() => {
    built = build(
      exampleConfig({ threatFilter: { siteIds: ['1111111111111111111', '2222222222222222222'] } }),
    );
  });

  it('runs the audit-permissions handler with the S1, Cado, bucket, warning and topic settings', () => {
    const { template, stack, id } = built;
    template.hasResource('AWS::Lambda::Function', {
      Metadata: { S1CadoStep: 'audit-permissions' },
      Properties: Match.objectLike({
        Timeout: 180,
        Environment: {
          Variables: Match.objectLike({
            S1_CONSOLE_URL: stack.config.s1ConsoleUrl,
            S1_SECRET_ARN: Match.anyValue(),
            S1_ALLOWED_HOSTS: '*.sentinelone.net',
            ALLOW_LOOPBACK: 'false',
            CADO_URL: stack.config.cadoUrl,
            CADO_SECRET_ARN: Match.anyValue(),
            CADO_PROJECT_MODE: stack.config.cadoProjectMode,
            EVIDENCE_BUCKET: { Ref: id(stack.evidence.bucket) },
            TOKEN_EXPIRY_WARNING_DAYS: '14',
            NOTIFICATION_TOPIC_ARN: { Ref: id(stack.monitoring.topic) },
            AUDIT_SITE_IDS: '1111111111111111111,2222222222222222222',
            POWERTOOLS_SERVICE_NAME: AUDIT_SERVICE_NAME,
          }),
        },
      }),
    });
  });

  it('is scheduled from config.auditSchedule (daily at 06:00 UTC by default), retried by EventBridge', () => {
    const { template, audit, id } = built;
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 6 * * ? *)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [id(audit.function), 'Arn'] },
          Input: JSON.stringify({ source: 'schedule' }),
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [id(audit.function), 'Arn'] },
    });
    const custom = build(exampleConfig({ auditSchedule: 'rate(12 hours)', tokenExpiryWarningDays: 30 }));
    custom.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(12 hours)' });
    custom.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TOKEN_EXPIRY_WARNING_DAYS: '30' }) },
    });
  });

  it('may read the two secrets, write and read audits/ only, and publish to the topic', () => {
    const statements = auditStatements(built);
    const { stack, id } = built;
    const bucketArn = { 'Fn::GetAtt': [id(stack.evidence.bucket), 'Arn'] };
    const auditsArn = { 'Fn::Join': ['', [bucketArn, '/audits/*']] };
    expect(
      actions(statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(auditsArn))),
    ).toEqual(['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject']);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 's3:ListBucket',
        Resource: bucketArn,
        Condition: { StringLike: { 's3:prefix': ['audits/*'] } },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: 'sns:Publish', Resource: { Ref: id(stack.monitoring.topic) } }),
    );
    // Nothing under investigations/, and no bucket-wide object access.
    expect(JSON.stringify(statements)).not.toContain('investigations/');
    expect(actions(statements)).not.toContain('s3:DeleteObject');
    expect(actions(statements)).toEqual(
      expect.arrayContaining(['secretsmanager:GetSecretValue', 'kms:Decrypt', 'kms:GenerateDataKey']),
    );
  });

  it('alarms to the topic on a failed check, on the metric the Lambda emits, and when the function errors', () => {
    const { template, stack, audit, id } = built;
    expect(AUDIT_CHECKS_METRIC).toBe(AUDIT_METRICS.checks);
    const topic = { Ref: id(stack.monitoring.topic) };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'S1CadoForensics',
      MetricName: AUDIT_METRICS.checks,
      Dimensions: Match.arrayWith([
        { Name: 'Status', Value: 'fail' },
        { Name: 'service', Value: AUDIT_SERVICE_NAME },
      ]),
      Statistic: 'Sum',
      Period: 86_400,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
      OKActions: [topic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: id(audit.function) } }],
      AlarmActions: [topic],
    });
  });
});

describe('PermissionAudit with cdk-nag AwsSolutions', () => {
  function violations(app: App) {
    app.synth();
    return new AwsSolutionsChecks().validateScope(app).violations;
  }

  it('reports no violations', () => {
    expect(violations(build().app)).toEqual([]);
  });

  it('reports no violations with a fixed Cado project and imported secrets', () => {
    const { app } = build(
      exampleConfig({
        cadoProjectMode: 'fixed',
        cadoProjectName: 's1-threats',
        s1SecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s1-AbC123',
        cadoSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:cado',
      }),
    );
    expect(violations(app)).toEqual([]);
  });
});
