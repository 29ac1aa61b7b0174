import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEP_METADATA_KEY, TaskFunction, type TaskFunctionProps } from '../../lib/constructs/task-function';
import { appFactory, FIXTURE_COLLECTORS_DIR, FIXTURE_ENTRY_ROOT } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

function build(props: Partial<TaskFunctionProps> = {}, bundle = false) {
  const app = apps.app({ bundle });
  const stack = new Stack(app, 'T');
  const fn = new TaskFunction(stack, 'EchoStep', {
    step: 'echo-step',
    entryRoot: FIXTURE_ENTRY_ROOT,
    ...props,
  });
  return { app, stack, fn };
}

describe('TaskFunction defaults', () => {
  let t: Template;
  let ids: { fn: string; logGroup: string; role: string };

  beforeAll(() => {
    const { stack, fn } = build();
    t = Template.fromStack(stack);
    const id = (c: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(c.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
    ids = { fn: id(fn), logGroup: id(fn.taskLogGroup), role: id(fn.executionRole) };
  });

  it('runs Node.js 22 on ARM64 with active tracing, 60 s and 256 MiB', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
      Timeout: 60,
      MemorySize: 256,
    });
  });

  it('sets the Powertools environment, and no Node flag that costs at every cold start', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 's1-cado-forensics',
          POWERTOOLS_METRICS_NAMESPACE: 'S1CadoForensics',
          POWERTOOLS_LOG_LEVEL: 'INFO',
        },
      },
    });
    // --enable-source-maps would parse the map at every init; source-stack.ts reads it when a handler fails.
    const variables = t.findResources('AWS::Lambda::Function')[ids.fn]?.Properties.Environment.Variables;
    expect(variables?.NODE_OPTIONS).toBeUndefined();
  });

  it('carries the S1CadoStep metadata the local runner binds on', () => {
    const fnResource = t.findResources('AWS::Lambda::Function')[ids.fn];
    expect(fnResource?.Metadata?.[STEP_METADATA_KEY]).toBe('echo-step');
  });

  it('logs to its own retained log group with a year of retention', () => {
    const logGroup = t.findResources('AWS::Logs::LogGroup')[ids.logGroup];
    expect(logGroup).toMatchObject({ DeletionPolicy: 'Retain', Properties: { RetentionInDays: 365 } });
    t.hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: { LogGroup: { Ref: ids.logGroup } } });
  });

  it('has a role with no managed policies: log writes to its log group, X-Ray in a policy of its own', () => {
    expect(t.findResources('AWS::IAM::Role')[ids.role]?.Properties.ManagedPolicyArns).toBeUndefined();
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: ids.role }],
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: { 'Fn::GetAtt': [ids.logGroup, 'Arn'] },
          },
        ],
      },
    });
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: ids.role }],
      PolicyDocument: {
        Statement: [
          { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' },
        ],
      },
    });
  });
});

describe('TaskFunction props', () => {
  it('applies timeout, memory, log retention and caller environment, which wins over the defaults', () => {
    const { stack } = build({
      timeout: Duration.seconds(120),
      memorySize: 1024,
      logRetentionDays: 30,
      environment: { EVIDENCE_BUCKET: 'b', POWERTOOLS_SERVICE_NAME: 'custom', POWERTOOLS_LOG_LEVEL: 'DEBUG' },
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 120,
      MemorySize: 1024,
      Environment: {
        Variables: Match.objectLike({
          EVIDENCE_BUCKET: 'b',
          POWERTOOLS_SERVICE_NAME: 'custom',
          POWERTOOLS_LOG_LEVEL: 'DEBUG',
        }),
      },
    });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('rejects a step that is not kebab-case and a retention CloudWatch does not accept', () => {
    expect(() => build({ step: 'RunScript' })).toThrow(/kebab-case/);
    expect(() => build({ logRetentionDays: 10 })).toThrow(/logRetentionDays must be one of/);
  });

  it('resolves the entry from entryRoot and the step', () => {
    expect(() => build({ step: 'no-such-step' })).toThrow(/no-such-step/);
  });

  it('refuses a collectors folder outside the repository', () => {
    expect(() => build({ bundleCollectors: true, collectorsDir: '/tmp' })).toThrow(/inside the repository/);
  });
});

describe('TaskFunction bundle', () => {
  let assetDir: string;

  beforeAll(() => {
    const { app } = build({ bundleCollectors: true, collectorsDir: FIXTURE_COLLECTORS_DIR }, true);
    const outdir = app.synth().directory;
    const assets = readdirSync(outdir)
      .filter((d) => d.startsWith('asset.'))
      .map((d) => path.join(outdir, d))
      .filter((d) => existsSync(path.join(d, 'index.js')));
    expect(assets).toHaveLength(1);
    assetDir = assets[0] as string;
  }, 120_000);

  it('is CommonJS with a source map', () => {
    expect(existsSync(path.join(assetDir, 'index.js.map'))).toBe(true);
    expect(readFileSync(path.join(assetDir, 'index.js'), 'utf8')).toMatch(/module\.exports/);
  });

  it('keeps error class names through minification (Step Functions matches on them)', async () => {
    const mod = createRequire(__filename)(path.join(assetDir, 'index.js')) as {
      handler: (e: { fail?: boolean }) => Promise<unknown>;
    };
    await expect(mod.handler({})).resolves.toEqual({ ok: true });
    await expect(mod.handler({ fail: true })).rejects.toMatchObject({ name: 'FixtureFailedError' });
  });

  it("maps a failure's stack to source positions from the map beside index.js, without --enable-source-maps", async () => {
    expect(process.execArgv).not.toContain('--enable-source-maps');
    const mod = createRequire(__filename)(path.join(assetDir, 'index.js')) as {
      handler: (e: { fail?: boolean }) => Promise<unknown>;
    };
    const error = (await mod.handler({ fail: true }).catch((e: unknown) => e)) as Error;
    const frames = (error.stack ?? '').split('\n').filter((line) => line.trimStart().startsWith('at '));
    // The throwing line of the fixture (line 14 of echo-step/index.ts), not a position in the minified bundle.
    expect(frames.some((line) => /lambdas\/echo-step\/index\.ts:14:\d+\)?$/.test(line))).toBe(true);
    expect(error.stack).not.toContain(`${path.join(assetDir, 'index.js')}:`);
  });

  it('copies the collection scripts beside the handler, under collectors/<os>/', () => {
    expect(readdirSync(assetDir).sort()).toEqual(['collectors', 'index.js', 'index.js.map']);
    expect(readdirSync(path.join(assetDir, 'collectors', 'linux'))).toEqual(['collect.sh']);
    expect(readdirSync(path.join(assetDir, 'collectors', 'windows'))).toEqual(['collect.ps1']);
  });
});
