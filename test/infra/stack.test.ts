import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Alarm, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { REPO_ROOT, TaskFunction } from '../../lib/constructs/task-function';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { appFactory, cdkJsonContext, exampleConfig, FIXTURE_ENTRY_ROOT } from './helpers';

const CADO_ROLE = 'arn:aws:iam::210987654321:role/myCadoResponseRole';
const apps = appFactory();
afterAll(() => apps.cleanup());

function build(s1cado = exampleConfig()) {
  const app = apps.app({ s1cado });
  const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  return { app, stack };
}

/** The stack plus one function using every grant the workflow will, as the workflow construct will do it. */
function buildWithWorker(
  s1cado = exampleConfig({ cadoRoleArn: CADO_ROLE, notificationEmails: ['soc@example.com'] }),
) {
  const { app, stack } = build(s1cado);
  const fn = new TaskFunction(stack, 'StageOutput', {
    step: 'echo-step',
    entryRoot: FIXTURE_ENTRY_ROOT,
    logRetentionDays: stack.config.logRetentionDays,
  });
  stack.evidence.grantStageEvidence(fn);
  stack.evidence.grantReadEvidence(fn);
  stack.evidence.grantWriteAudits(fn);
  stack.secrets.grantReadS1Token(fn);
  stack.secrets.grantReadCadoKey(fn);
  stack.monitoring.grantPublish(fn);
  stack.monitoring.notifyOn(
    new Alarm(stack, 'Failures', {
      metric: new Metric({ namespace: 'S1CadoForensics', metricName: 'InvestigationFailed' }),
      threshold: 1,
      evaluationPeriods: 1,
    }),
  );
  return { app, stack, fn };
}

function violations(app: App) {
  app.synth();
  return new AwsSolutionsChecks().validateScope(app).violations;
}

describe('S1CadoForensicsStack', () => {
  it('composes evidence, secrets and notifications from the cdk.json example', () => {
    const t = Template.fromStack(build().stack);
    t.resourceCountIs('AWS::S3::Bucket', 2);
    t.resourceCountIs('AWS::SecretsManager::Secret', 2);
    t.resourceCountIs('AWS::SNS::Topic', 1);
    t.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 90 } } },
    });
    for (const name of ['EvidenceBucketName', 'S1SecretArn', 'CadoSecretArn', 'NotificationTopicArn']) {
      t.hasOutput(name, {});
    }
  });

  it('passes config through: retention, Object Lock, Cado role, imported secrets, emails', () => {
    const t = Template.fromStack(
      build(
        exampleConfig({
          evidenceRetentionDays: 730,
          objectLockDays: 180,
          logRetentionDays: 90,
          cadoRoleArn: CADO_ROLE,
          s1SecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s1-AbC123',
          notificationEmails: ['a@example.com', 'b@example.com'],
        }),
      ).stack,
    );
    t.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 180 } } },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Id: 'ExpireEvidence', ExpirationInDays: 730 })]),
      },
    });
    expect(JSON.stringify(t.findResources('AWS::S3::BucketPolicy'))).toContain(CADO_ROLE);
    t.resourceCountIs('AWS::SecretsManager::Secret', 1);
    t.resourceCountIs('AWS::SNS::Subscription', 2);
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'a@example.com' });
  });

  it('encrypts the topic with its own key and accepts TLS publishing only', () => {
    const { stack } = build();
    const t = Template.fromStack(stack);
    const keyId = stack.getLogicalId(
      stack.monitoring.key.node.defaultChild as Parameters<typeof stack.getLogicalId>[0],
    );
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('least privilege', () => {
  it('grants lambda:InvokeFunction on unqualified function ARNs only, never on <arn>:*', () => {
    const t = Template.fromStack(build().stack);
    const invokeResources: unknown[] = [];
    for (const policy of Object.values(t.findResources('AWS::IAM::Policy'))) {
      for (const st of policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>) {
        const actions = ([] as unknown[]).concat(st.Action);
        if (actions.includes('lambda:InvokeFunction'))
          invokeResources.push(...([] as unknown[]).concat(st.Resource));
      }
    }
    // Both state machines invoke their steps, so there is plenty to check.
    expect(invokeResources.length).toBeGreaterThan(10);
    for (const r of invokeResources) {
      expect(r, JSON.stringify(r)).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
    }
  });
});

describe('custody signing key', () => {
  it('is an ECC_NIST_P256 SIGN_VERIFY key, retained, named in the outputs; only Record Outcome may sign', () => {
    const { stack } = build();
    const t = Template.fromStack(stack);
    const keyId = stack.getLogicalId(stack.signing.key.node.defaultChild as never);
    const key = t.findResources('AWS::KMS::Key')[keyId];
    expect(key?.Properties).toMatchObject({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    expect(key?.DeletionPolicy).toBe('Retain');
    t.hasOutput('ManifestSigningKeyArn', { Value: { 'Fn::GetAtt': [keyId, 'Arn'] } });

    const signers: string[] = [];
    for (const policy of Object.values(t.findResources('AWS::IAM::Policy'))) {
      for (const st of policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>) {
        if (([] as unknown[]).concat(st.Action).includes('kms:Sign')) {
          signers.push(...(policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref));
        }
      }
    }
    const recordOutcome = stack.workflow.functions['record-outcome'] as TaskFunction;
    expect(signers).toEqual([stack.getLogicalId(recordOutcome.executionRole.node.defaultChild as never)]);
    const fn =
      t.findResources('AWS::Lambda::Function')[stack.getLogicalId(recordOutcome.node.defaultChild as never)];
    expect(fn?.Properties.Environment.Variables.MANIFEST_SIGNING_KEY_ARN).toEqual({
      'Fn::GetAtt': [keyId, 'Arn'],
    });
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no violations for the stack with a fully granted TaskFunction', () => {
    const { app } = buildWithWorker();
    expect(violations(app)).toEqual([]);
  });

  it('reports no violations with imported secrets and no Cado role', () => {
    const { app } = buildWithWorker(
      exampleConfig({
        s1SecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s1-AbC123',
        cadoSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:cado',
      }),
    );
    expect(violations(app)).toEqual([]);
  });

  it('keeps the acknowledgements narrow: a new wildcard grant on the same function is still reported', () => {
    const { app, stack, fn } = buildWithWorker();
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [stack.evidence.bucket.arnForObjects('other/*')],
      }),
    );
    expect(violations(app).map((v) => v.ruleName)).toEqual([
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::.*\/other\/\*\]$/),
    ]);
  });
});

describe('bin/app.ts', () => {
  /** Runs the CDK app the way the CLI does (context and outdir through the environment). */
  function runApp(s1cado: unknown, stackName = 'S1CadoForensics') {
    const outdir = mkdtempSync(path.join(tmpdir(), 's1cado-app-'));
    try {
      const context = { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], s1cado };
      const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bin', 'app.ts')], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        // CDK_VALIDATION=false skips only the built-in CloudFormation validation (slow); cdk-nag still runs.
        env: {
          ...process.env,
          CDK_CONTEXT_JSON: JSON.stringify(context),
          CDK_OUTDIR: outdir,
          CDK_VALIDATION: 'false',
        },
      });
      const template = path.join(outdir, `${stackName}.template.json`);
      return {
        status: result.status,
        stderr: result.stderr,
        synthesized: existsSync(template) && readFileSync(template, 'utf8'),
      };
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }

  it('synthesizes the example configuration with cdk-nag registered', () => {
    const result = runApp(cdkJsonContext().s1cado);
    expect(result.stderr).not.toMatch(/AwsSolutions-/);
    expect(result.status).toBe(0);
    expect(result.synthesized).toContain('AWS::S3::Bucket');
  }, 120_000);

  it('names the stack from s1cado.stackName, so a second one deploys beside the first', () => {
    const result = runApp(exampleConfig({ stackName: 'S1CadoForensicsTest' }), 'S1CadoForensicsTest');
    expect(result.status).toBe(0);
    expect(result.stderr).not.toMatch(/AwsSolutions-/);
    // The one physical name in the template follows the stack name, so two stacks do not collide on it.
    expect(result.synthesized).toContain('alias/S1CadoForensicsTest/evidence');
    expect(result.synthesized).not.toContain('alias/S1CadoForensics/');
  }, 120_000);

  it('fails on a bad config with the key and the fix, and no stack trace', () => {
    const result = runApp(exampleConfig({ s1ConsoleUrl: 'http://x' }));
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Invalid s1cado configuration: s1cado.s1ConsoleUrl: must be an https URL on *.sentinelone.net (got "http://x"); set it in cdk.json context or widen s1cado.s1AllowedHosts',
    );
    expect(result.synthesized).toBe(false);
  }, 120_000);
});
