/**
 * start-investigation: one execution per threat, ever. Against s3rver (the evidence bucket), the AWS fake (Step
 * Functions executions with the service's naming rules, EventBridge) and the S1 simulator (threat notes), through
 * the real clients; once through the Lambda handler with an EventBridge event.
 */
import { randomUUID } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetAwsClients } from '../../lambdas/shared/aws';
import { caseKey, taskRecordKey } from '../../lambdas/shared/evidence/keys';
import { publishThreatEvents } from '../../lambdas/shared/intake/publish';
import {
  THREAT_EVENT_DETAIL_TYPE,
  THREAT_EVENT_SOURCE,
  type ThreatEventDetail,
} from '../../lambdas/shared/intake/threat-event';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { WorkflowInput } from '../../lambdas/shared/schemas';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client, type S1Client } from '../../lambdas/shared/sentinelone';
import { resetServices } from '../../lambdas/shared/services';
import {
  INTAKE_REQUESTER,
  type StartDeps,
  type StartResult,
  startInvestigation,
  type ThreatEvent,
} from '../../lambdas/start-investigation/core';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';
import {
  createManualClock,
  type DemoTenant,
  type ManualClock,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';
import { type LocalS3, localS3Env, startLocalS3 } from '../../local/s3';

const TOKEN = 'S1tok-start-0123456789abcdefABCDEF-secret';
const BUCKET = 'evidence';
const MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:s1cado-investigation';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

let clock: ManualClock;
let sim: S1Simulator;
let tenant: DemoTenant;
let aws: AwsFake;
let s3: LocalS3;
let sfn: SFNClient;
let s1: S1Client;
/** Releases the running executions (the fake state machine waits for it). */
let release: () => void;
let released: Promise<void>;

beforeAll(async () => {
  clock = createManualClock();
  sim = await startS1Simulator({ clock: clock.now, rateLimits: false });
  tenant = seedDemoTenant(sim, { token: TOKEN });
  aws = await startAwsFake({ clock: clock.now });
  s3 = await startLocalS3({ buckets: [BUCKET] });
  sfn = new SFNClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  s1 = createS1Client({
    consoleUrl: sim.url,
    credentials: staticCredential(TOKEN, 'ApiToken'),
    hostPolicy: { allowLoopback: true },
    retry: { maxAttempts: 1 },
  });
  aws.registerStateMachine(MACHINE, async () => {
    await released;
    return { ok: true };
  });
});

afterAll(async () => {
  release?.();
  sfn?.destroy();
  await aws?.close();
  await s3?.close();
  await sim?.close();
  clearRegisteredSecrets();
});

beforeEach(() => {
  released = new Promise((resolve) => {
    release = resolve;
  });
  sim.faults.clear();
});

afterEach(() => release());

function deps(overrides: Partial<StartDeps> = {}): StartDeps {
  return {
    sfn,
    s3: s3.client,
    evidenceBucket: BUCKET,
    stateMachineArn: MACHINE,
    s1,
    addThreatNote: true,
    ...overrides,
  };
}

/** A threat on the Windows agent, with its event. */
function newThreatEvent(extra: Partial<ThreatEventDetail> = {}): ThreatEvent {
  const threat = sim.addThreat({
    agentId: tenant.agents.windows.id,
    threatName: 'evil.exe',
    classification: 'Trojan',
  });
  return {
    'detail-type': THREAT_EVENT_DETAIL_TYPE,
    source: THREAT_EVENT_SOURCE,
    id: randomUUID(),
    detail: {
      threatId: threat.id,
      agentId: tenant.agents.windows.id,
      agentOsType: 'windows',
      computerName: 'ACME-DC01',
      siteId: tenant.sites.rso.id,
      classification: 'Trojan',
      confidenceLevel: 'malicious',
      threatName: 'evil.exe',
      createdAt: null,
      updatedAt: null,
      via: 'poller',
      ...extra,
    },
  };
}

function executionsOf(threatId: string) {
  return aws.stepFunctions.list().filter((execution) => execution.name === `threat-${threatId}`);
}

function notesOf(threatId: string): string[] {
  return (sim.state.notes.get(threatId) ?? []).map((note) => note.text);
}

describe('start-investigation', () => {
  it('starts threat-<id> with the workflow input built from the event, and notes it on the threat', async () => {
    const event = newThreatEvent();
    const { threatId } = event.detail;
    const result = await startInvestigation(event, deps());

    expect(result).toEqual({
      outcome: 'started',
      executionName: `threat-${threatId}`,
      executionArn: `arn:aws:states:us-east-1:000000000000:execution:s1cado-investigation:threat-${threatId}`,
      noteAdded: true,
    });
    const [execution] = executionsOf(threatId);
    const input = WorkflowInput.parse(JSON.parse(execution?.input ?? '{}'));
    expect(input).toEqual({
      agentIds: [tenant.agents.windows.id],
      threatId,
      requestedBy: INTAKE_REQUESTER,
      reason: `SentinelOne threat "evil.exe" (Trojan, malicious) on ACME-DC01, via the poller (event ${event.id})`,
    });
    expect(notesOf(threatId)).toEqual([`s1-cado-forensics investigation started: threat-${threatId}`]);
  });

  it("acts on S1's facts, not the event's: another agent in the event is replaced by the one S1 names", async () => {
    // A forged or stale event names the Linux host for a threat S1 reports on the Windows one.
    const event = newThreatEvent({ agentId: tenant.agents.linux.id, computerName: 'acme-web-01' });
    const { threatId } = event.detail;
    const result = await startInvestigation(event, deps());

    expect(result).toMatchObject({ outcome: 'started', eventAgentId: tenant.agents.linux.id });
    const [execution] = executionsOf(threatId);
    const input = WorkflowInput.parse(JSON.parse(execution?.input ?? '{}'));
    expect(input.agentIds).toEqual([tenant.agents.windows.id]);
    expect(input.reason).toContain(`on ${tenant.agents.windows.computerName}`);
    const reads = sim.requests.filter((r) => r.route === '/threats' && r.method === 'GET');
    expect(reads.some((r) => JSON.stringify(r.query).includes(threatId))).toBe(true);
  });

  it.each([
    ['a threat S1 does not know', () => ({ threatId: '1999999999999999999' }), 'does not know threat'],
    [
      "a threat S1's facts put outside the filter",
      () => ({
        threatId: sim.addThreat({ agentId: tenant.agents.windows.id, confidenceLevel: 'suspicious' }).id,
      }),
      'confidence',
    ],
  ])('refuses %s: nothing started, no note', async (_what, detailOf, reason) => {
    const event = newThreatEvent(detailOf());
    const { threatId } = event.detail;
    const result = await startInvestigation(
      event,
      deps({ filter: { confidenceLevels: ['malicious'], osTypes: ['windows', 'linux'] } }),
    );

    expect(result.outcome).toBe('refused');
    expect(result.reason).toContain(reason);
    expect(executionsOf(threatId)).toHaveLength(0);
    expect(notesOf(threatId)).toEqual([]);
  });

  it('starts nothing while S1 cannot confirm the threat: the error goes back for a retry', async () => {
    const event = newThreatEvent();
    sim.faults.respond(503, { match: { path: '/threats' } });
    await expect(startInvestigation(event, deps())).rejects.toThrow();
    expect(executionsOf(event.detail.threatId)).toHaveLength(0);
  });

  it('does not start a second execution while the first runs or after it ended', async () => {
    const event = newThreatEvent();
    const { threatId } = event.detail;
    const first = await startInvestigation(event, deps());
    expect(first.outcome).toBe('started');

    // The same event delivered again: Step Functions hands back the running execution (the same start).
    const redelivered = await startInvestigation(event, deps());
    expect(redelivered).toMatchObject({ outcome: 'started', executionArn: first.executionArn });

    // The next poll sees the threat updated: another event, and the name is taken.
    const updated: ThreatEvent = { ...event, id: randomUUID() };
    expect((await startInvestigation(updated, deps())).outcome).toBe('already-started');
    // The webhook names the same threat with other facts: taken too.
    const fromWebhook: ThreatEvent = {
      ...event,
      id: randomUUID(),
      detail: { ...event.detail, via: 'webhook', classification: 'Ransomware' },
    };
    expect((await startInvestigation(fromWebhook, deps())).outcome).toBe('already-started');

    release();
    const [execution] = executionsOf(threatId);
    await aws.stepFunctions.waitFor(execution?.executionArn ?? '');
    expect((await startInvestigation(event, deps())).outcome).toBe('already-started');

    expect(executionsOf(threatId)).toHaveLength(1);
  });

  it('does not start again when the evidence bucket holds the investigation, whatever Step Functions remembers', async () => {
    // Investigated long ago: the execution name has been freed, the records remain.
    const done = newThreatEvent();
    await s3.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: caseKey(`threat-${done.detail.threatId}`), Body: '{}' }),
    );
    const calls = aws.requests.length;
    expect((await startInvestigation(done, deps())).outcome).toBe('already-investigated');
    expect(aws.requests.slice(calls).some((r) => r.operation === 'StartExecution')).toBe(false);

    // An investigation that started but never wrote case.json counts too.
    const partial = newThreatEvent();
    await s3.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: taskRecordKey(`threat-${partial.detail.threatId}`, tenant.agents.windows.id),
        Body: '{}',
      }),
    );
    expect((await startInvestigation(partial, deps())).outcome).toBe('already-investigated');
    expect(executionsOf(done.detail.threatId)).toEqual([]);
    expect(executionsOf(partial.detail.threatId)).toEqual([]);

    // Records of a longer id that merely starts with the same digits are not mistaken for this one's.
    const other = newThreatEvent();
    await s3.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: caseKey(`threat-${other.detail.threatId}0`), Body: '{}' }),
    );
    expect((await startInvestigation(other, deps())).outcome).toBe('started');
  });

  it('still starts when the note cannot be added, and works without notes', async () => {
    sim.faults.respond(503, { match: { path: '/threats/notes' } });
    const event = newThreatEvent();
    const result = await startInvestigation(event, deps());
    expect(result).toMatchObject({ outcome: 'started', noteAdded: false });
    expect(executionsOf(event.detail.threatId)).toHaveLength(1);

    const quiet = await startInvestigation(newThreatEvent(), deps({ addThreatNote: false }));
    expect(quiet.outcome).toBe('started');
    expect(quiet.noteAdded).toBeUndefined();
  });

  it('handles the same threat put on the bus by the poller and the webhook once', async () => {
    const events = new EventBridgeClient({
      endpoint: aws.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    aws.eventBridge.createBus('intake');
    const results: Promise<StartResult>[] = [];
    // The fake's listener stands in for the rule: each event goes to start-investigation.
    const stop = aws.eventBridge.onEvent((event) => {
      const delivered = {
        'detail-type': event.detailType,
        source: event.source,
        id: event.id,
        detail: event.detail,
      };
      results.push(startInvestigation(delivered as ThreatEvent, deps()));
    });
    const event = newThreatEvent();
    await publishThreatEvents(events, 'intake', [event.detail]);
    await publishThreatEvents(events, 'intake', [{ ...event.detail, via: 'webhook' }]);
    stop();
    events.destroy();
    const outcomes = (await Promise.all(results)).map((r) => r.outcome).sort();
    expect(outcomes).toEqual(['already-started', 'started']);
    expect(executionsOf(event.detail.threatId)).toHaveLength(1);
  });
});

describe('start-investigation: Lambda handler', () => {
  const saved = { ...process.env };

  afterEach(() => {
    process.env = { ...saved };
    resetAwsClients();
    resetServices();
  });

  it('reads its settings, starts from an EventBridge event, and rejects a malformed one by name', async () => {
    Object.assign(process.env, aws.env, localS3Env(s3.endpoint), {
      STATE_MACHINE_ARN: MACHINE,
      EVIDENCE_BUCKET: BUCKET,
      THREAT_NOTE: 'false',
      S1_CONSOLE_URL: sim.url,
      S1_SECRET_ARN: aws.secrets.set('s1-token', { apiToken: TOKEN }),
      S1_ALLOWED_HOSTS: '127.0.0.1',
      ALLOW_LOOPBACK: 'true',
      THREAT_CONFIDENCE_LEVELS: 'malicious',
      THREAT_OS_TYPES: 'windows,linux',
    });
    resetAwsClients();
    resetServices();
    const { handler } = await import('../../lambdas/start-investigation/index');
    const context = { functionName: 'start-investigation' } as Context;
    const event = {
      version: '0',
      id: 'e-1',
      account: '000000000000',
      region: 'us-east-1',
      ...newThreatEvent(),
    };
    const result = (await handler(event, context)) as StartResult;
    expect(result.outcome).toBe('started');
    expect(executionsOf(event.detail.threatId)).toHaveLength(1);

    const malformed = { ...event, detail: { ...event.detail, agentId: 657613730168123 } };
    await expect(handler(malformed, context)).rejects.toMatchObject({ name: 'InputValidationError' });
  });
});
