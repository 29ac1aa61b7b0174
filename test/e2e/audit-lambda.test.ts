/**
 * The audit Lambda end to end in-process: the real handler reads its secrets from the local AWS fake, audits the
 * S1 and Cado simulators, stores the report in s3rver and decides on SNS (aws-sdk-client-mock, checking what was
 * sent). Also the metric set it emits.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_METRICS, auditMetrics, decideNotification } from '../../lambdas/audit-permissions/deliver';
import { type AuditRun, handler } from '../../lambdas/audit-permissions/index';
import { handler as checkPermissionsHandler } from '../../lambdas/check-permissions/index';
import { loadCollectors } from '../../lambdas/collectors';
import { AuditReport } from '../../lambdas/shared/audit/report';
import { resetAwsClients } from '../../lambdas/shared/aws';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { resetServices } from '../../lambdas/shared/services';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';
import { type CadoSimulator, startCadoSimulator } from '../../local/cado-simulator';
import {
  type DemoTenant,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';
import { type LocalS3, startLocalS3 } from '../../local/s3';

const S1_TOKEN = 'S1tok-lambda-0123456789abcdefABCDEF-never-print';
const CADO_KEY = 'cado-lambda-key-0123456789abcdef-never-print';
const BUCKET = 'evidence';
const TOPIC = 'arn:aws:sns:us-east-1:000000000000:s1cado-notifications';
const DAY = 86_400_000;

let s1Sim: S1Simulator;
let cadoSim: CadoSimulator;
let tenant: DemoTenant;
let s3: LocalS3;
let aws: AwsFake;
const sns = mockClient(SNSClient);
const savedEnv = { ...process.env };

const context = {
  functionName: 'AuditPermissions',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:AuditPermissions',
  memoryLimitInMB: '256',
  awsRequestId: 'req-audit',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

const invoke = () => handler({ source: 'aws.events' }, context) as Promise<AuditRun>;

beforeAll(async () => {
  s3 = await startLocalS3({ buckets: [BUCKET] });
  aws = await startAwsFake();
});

afterAll(async () => {
  await Promise.all([s3?.close(), aws?.close()]);
  sns.restore();
});

beforeEach(async () => {
  s1Sim = await startS1Simulator({ rateLimits: false });
  tenant = seedDemoTenant(s1Sim, { token: S1_TOKEN });
  for (const collector of loadCollectors()) {
    s1Sim.addScript({
      scriptName: collector.libraryName,
      scriptType: 'artifactCollection',
      osTypes: [collector.osType],
      content: collector.content,
    });
  }
  cadoSim = await startCadoSimulator({ keys: [{ key: CADO_KEY, role: 'Lead Analyst' }] });
  Object.assign(process.env, s3.env, aws.env, {
    AWS_REGION: 'us-east-1',
    S1_CONSOLE_URL: s1Sim.url,
    S1_SECRET_ARN: aws.secrets.set('s1cado/s1-api', { apiToken: S1_TOKEN }),
    CADO_URL: cadoSim.url,
    CADO_SECRET_ARN: aws.secrets.set('s1cado/cado-api', { apiKey: CADO_KEY }),
    CADO_PROJECT_MODE: 'per-threat',
    ALLOW_LOOPBACK: 'true',
    EVIDENCE_BUCKET: BUCKET,
    NOTIFICATION_TOPIC_ARN: TOPIC,
    TOKEN_EXPIRY_WARNING_DAYS: '14',
    AUDIT_SITE_IDS: tenant.sites.rso.id,
  });
  resetServices();
  resetAwsClients();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  // Every test starts without earlier reports.
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'audits/' }));
  expect(listed.Contents ?? []).toEqual([]);
});

afterEach(async () => {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'audits/' }));
  for (const object of listed.Contents ?? []) {
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: object.Key }));
  }
  await Promise.all([s1Sim.close(), cadoSim.close()]);
  resetServices();
  resetAwsClients();
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  clearRegisteredSecrets();
});

async function storedReport(key: string): Promise<AuditReport> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return AuditReport.parse(JSON.parse((await out.Body?.transformToString()) ?? ''));
}

function published() {
  return sns.commandCalls(PublishCommand).map((call) => call.args[0].input);
}

describe('audit Lambda', () => {
  it('stores a passing report under audits/<date>/ and notifies nobody', async () => {
    const run = await invoke();
    expect(run.status).toBe('pass');
    expect(run.counts.pass).toBe(9);
    const key = run.delivery.storedAt?.key ?? '';
    expect(key).toMatch(/^audits\/\d{4}-\d{2}-\d{2}\/\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.json$/);
    expect(key.slice(7, 17)).toBe(run.startedAt.slice(0, 10));
    const { delivery: _delivery, ...report } = run;
    expect(await storedReport(key)).toEqual(report);
    expect(run.delivery.notification).toBe('not-needed');
    expect(published()).toEqual([]);
  });

  it('notifies a new warning once, not again while it stays the same', async () => {
    s1Sim.expireToken(S1_TOKEN, Date.now() + 3 * DAY - 60_000);
    const first = await invoke();
    expect(first.status).toBe('warn');
    expect(first.delivery.notification).toBe('sent');
    const [message] = published();
    expect(message?.TopicArn).toBe(TOPIC);
    expect(message?.Subject).toBe('S1-Cado permission audit: 1 new warning');
    expect(message?.Message).toContain(
      'New since the previous audit:\n  - S1 API token expiry (warn): The API token expires on',
    );
    expect(message?.Message).toContain(`Full report: s3://${BUCKET}/${first.delivery.storedAt?.key}`);
    expect(message?.Message).toContain('in 2 days');

    const second = await invoke();
    expect(second.delivery.previousKey).toBe(first.delivery.storedAt?.key);
    expect(second.delivery.notification).toBe('not-needed');
    expect(published()).toHaveLength(1);
  });

  it('notifies every run while a check fails, naming it, and never sends a token', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Remote Script Orchestration.upload');
    await invoke();
    const run = await invoke();
    expect(run.delivery.notification).toBe('sent');
    const messages = published();
    expect(messages).toHaveLength(2);
    expect(messages[1]?.Subject).toBe('S1-Cado permission audit: 1 failed');
    expect(messages[1]?.Message).toContain('Failed:\n  - S1 role permissions: The role');
    expect(messages[1]?.Message).toContain('lacks 1 of the 11 permissions the workflow needs: Upload.');
    for (const m of messages) {
      expect(JSON.stringify(m)).not.toContain(S1_TOKEN);
      expect(JSON.stringify(m)).not.toContain(CADO_KEY);
    }
  });

  it('treats a warning as new when the previous report had it as pass', async () => {
    await invoke();
    s1Sim.revoke(tenant.serviceUser.user.id, 'Roles.view');
    const run = await invoke();
    expect(run.checks.find((c) => c.id === 's1-role-permissions')?.status).toBe('unknown');
    expect(run.delivery.notification).toBe('sent');
    expect(published()[0]?.Subject).toBe('S1-Cado permission audit: 1 new warning');
  });

  it('ignores files under audits/ that are not reports, and reports from after this run', async () => {
    await s3.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'audits/2999-01-01/2999-01-01T00-00-00-000Z.json',
        Body: '{}',
      }),
    );
    s1Sim.expireToken(S1_TOKEN, Date.now() + 3 * DAY);
    const run = await invoke();
    expect(run.delivery.previousKey).toBeUndefined();
    expect(run.delivery.notification).toBe('sent');
  });

  it('still stores the report when SNS fails, then fails the invocation', async () => {
    sns
      .on(PublishCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AuthorizationErrorException' }));
    s1Sim.revoke(tenant.serviceUser.user.id, 'Remote Script Orchestration.upload');
    const error = await invoke().catch((e: unknown) => e);
    expect((error as Error).name).toBe('AuditDeliveryError');
    expect((error as Error).message).toContain(
      'publishing to the notification topic failed (AuthorizationErrorException)',
    );
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'audits/' }));
    expect(listed.Contents).toHaveLength(1);
  });

  it('reports an unreadable S1 secret as a failed check instead of crashing', async () => {
    process.env.S1_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:missing-AbCdEf';
    resetServices();
    const run = await invoke();
    const token = run.checks.find((c) => c.id === 's1-token-valid');
    expect(token?.status).toBe('fail');
    expect(token?.reason).toContain('could not be read');
    expect(run.checks.find((c) => c.id === 'cado-key-valid')?.status).toBe('pass');
  });
});

describe('check-permissions Lambda', () => {
  const input = () => ({
    input: { agentIds: [tenant.agents.linux.id, tenant.agents.noRso.id], requestedBy: 'test' },
    execution: { name: 'manual-x' },
  });

  it('reads the token from the secret and names the agents on sites without RemoteOps', async () => {
    const out = (await checkPermissionsHandler(input(), context)) as {
      preflight: { rejected: { agentId: string }[] };
    };
    expect(out.preflight.rejected.map((r) => r.agentId)).toEqual([tenant.agents.noRso.id]);
    expect(JSON.stringify(out)).toContain('lacks the RemoteOps (rso) licence module');
  });

  it('throws PreflightFailedError, matched by name, when the token has expired', async () => {
    s1Sim.expireToken(S1_TOKEN, Date.now() - 1);
    const error = await checkPermissionsHandler(input(), context).catch((e: unknown) => e);
    expect((error as Error).name).toBe('PreflightFailedError');
    expect((error as Error).message).not.toContain(S1_TOKEN);
  });
});

describe('audit metrics', () => {
  it('counts checks per status (zeros included) and flags each failed check by id', () => {
    const checks = [
      { id: 's1-token-valid', title: 't', status: 'pass', reason: 'r', fix: 'f' },
      { id: 's1-token-expiry', title: 't', status: 'fail', reason: 'r', fix: 'f' },
      { id: 'cado-permissions', title: 't', status: 'unknown', reason: 'r', fix: 'f' },
    ] as const;
    const report = AuditReport.parse({
      schema: 's1cado/audit@1',
      startedAt: '2025-01-15T06:00:00.000Z',
      finishedAt: '2025-01-15T06:00:01.000Z',
      status: 'fail',
      counts: { pass: 1, warn: 0, fail: 1, unknown: 1 },
      targets: {},
      checks,
      tool: { name: 's1-cado-forensics', version: '0.1.0' },
    });
    expect(auditMetrics(report)).toEqual([
      { name: AUDIT_METRICS.checks, dimensions: { Status: 'pass' }, value: 1 },
      { name: AUDIT_METRICS.checks, dimensions: { Status: 'warn' }, value: 0 },
      { name: AUDIT_METRICS.checks, dimensions: { Status: 'fail' }, value: 1 },
      { name: AUDIT_METRICS.checks, dimensions: { Status: 'unknown' }, value: 1 },
      { name: AUDIT_METRICS.checkFailed, dimensions: { CheckId: 's1-token-valid' }, value: 0 },
      { name: AUDIT_METRICS.checkFailed, dimensions: { CheckId: 's1-token-expiry' }, value: 1 },
      { name: AUDIT_METRICS.checkFailed, dimensions: { CheckId: 'cado-permissions' }, value: 0 },
    ]);
    // A fail→unknown change is news; the same unknown again is not.
    expect(decideNotification(report, report)).toMatchObject({ notify: true, newWarnings: [] });
    const recovered = { ...report, checks: report.checks.filter((c) => c.status !== 'fail') };
    expect(decideNotification(recovered, report).notify).toBe(false);
  });
});
