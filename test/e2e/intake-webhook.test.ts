/**
 * receive-webhook: request authentication (HMAC over timestamp and body, replay window, constant-time compare),
 * body limits and validation, trusting S1 over the caller, and the event it puts on the bus. Runs against the S1
 * simulator and the AWS fake (Secrets Manager for the signing key, EventBridge for the event), through the real
 * clients, and once end to end through the Lambda handler with a Function URL event.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { receiveWebhook, type WebhookDeps, type WebhookRequest } from '../../lambdas/receive-webhook/core';
import { nonceKey } from '../../lambdas/receive-webhook/nonce';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../../lambdas/receive-webhook/signature';
import { DEFAULT_ROTATION_OVERLAP_MS, SigningKeyReader } from '../../lambdas/receive-webhook/signing-key';
import { resetAwsClients } from '../../lambdas/shared/aws';
import { CoordinationStore } from '../../lambdas/shared/coordination/store';
import { THREAT_EVENT_DETAIL_TYPE, THREAT_EVENT_SOURCE } from '../../lambdas/shared/intake/threat-event';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client, type S1Client } from '../../lambdas/shared/sentinelone';
import { resetServices } from '../../lambdas/shared/services';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';
import { type LocalDynamo, startLocalCoordinationStore } from '../../local/dynamo';
import {
  createManualClock,
  type DemoTenant,
  type ManualClock,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';

const TOKEN = 'S1tok-webhook-0123456789abcdefABCDEF-secret';
const KEY = 'whk-7Qd0c2f9E1b4a8D6e3F5a7B9c1D3e5F7a9B1c3D5';
const ROTATED_KEY = 'whk-rotated-5F7a9B1c3D5e7F9a1B3c5D7e9F1a3B5c7';
const BUS = 's1cado-threats';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

let clock: ManualClock;
let sim: S1Simulator;
let tenant: DemoTenant;
let aws: AwsFake;
let events: EventBridgeClient;
let secrets: SecretsManagerClient;
let s1: S1Client;
let secretArn: string;
let dynamo: LocalDynamo & { tableName: string };
let nonces: CoordinationStore;

beforeAll(async () => {
  clock = createManualClock();
  sim = await startS1Simulator({ clock: clock.now, rateLimits: false });
  tenant = seedDemoTenant(sim, { token: TOKEN });
  aws = await startAwsFake({ clock: clock.now });
  aws.eventBridge.createBus(BUS);
  dynamo = await startLocalCoordinationStore();
  nonces = new CoordinationStore({ client: dynamo.client, tableName: dynamo.tableName, now: clock.now });
  events = new EventBridgeClient({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
  });
  secrets = new SecretsManagerClient({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
  });
  s1 = createS1Client({
    consoleUrl: sim.url,
    credentials: staticCredential(TOKEN, 'ApiToken'),
    hostPolicy: { allowLoopback: true },
    retry: { maxAttempts: 2, maxElapsedMs: 10_000, baseDelayMs: 100, maxDelayMs: 500 },
    sleep: async (ms) => {
      clock.advance(ms);
    },
  });
});

afterAll(async () => {
  events?.destroy();
  secrets?.destroy();
  await aws?.close();
  await dynamo?.close();
  await sim?.close();
  clearRegisteredSecrets();
});

let output: string[];

beforeEach(() => {
  // Each test signs at a second of its own: a request signed in an earlier test would be a replay.
  clock.advance(1_000);
  secretArn = aws.secrets.set('webhook-signing', { signingKey: KEY });
  aws.eventBridge.clearEvents();
  sim.faults.clear();
  output = [];
  const capture = (chunk: unknown) => {
    output.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
});

afterEach(() => {
  vi.restoreAllMocks();
  // Whatever a test did, neither the key nor the S1 token may have been printed.
  const printed = output.join('');
  expect(printed).not.toContain(KEY);
  expect(printed).not.toContain(ROTATED_KEY);
  expect(printed).not.toContain(TOKEN);
});

function deps(overrides: Partial<WebhookDeps> = {}): WebhookDeps {
  const reader = new SigningKeyReader({ client: secrets, secretId: secretArn, now: clock.now });
  return {
    signingKeys: () => reader.keys(),
    refreshSigningKey: () => reader.refresh(),
    s1,
    events,
    eventBusName: BUS,
    nonces,
    filter: { confidenceLevels: ['malicious'], osTypes: ['windows', 'linux'] },
    now: clock.now,
    maxBodyBytes: 16_384,
    maxSkewSeconds: 300,
    publish: { sleep: async () => undefined },
    ...overrides,
  };
}

/** A signed request; `at` is the signing time in epoch ms (default: now). */
function signed(body: unknown, options: { key?: string; at?: number; text?: string } = {}): WebhookRequest {
  const text = options.text ?? JSON.stringify(body);
  const timestamp = String(Math.floor((options.at ?? clock.now()) / 1000));
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [TIMESTAMP_HEADER]: timestamp,
      [SIGNATURE_HEADER]: signWebhook(options.key ?? KEY, timestamp, text),
    },
    body: Buffer.from(text),
  };
}

function windowsThreatBody() {
  return { threatId: tenant.threats.windows.id, agentId: tenant.agents.windows.id };
}

function errorOf(response: { body: string }): string {
  return String((JSON.parse(response.body) as { error?: string }).error);
}

describe('receive-webhook: authentication', () => {
  it('accepts a correctly signed request and puts the threat event on the bus', async () => {
    const response = await receiveWebhook(signed(windowsThreatBody()), deps());
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body)).toMatchObject({
      status: 'accepted',
      threatId: tenant.threats.windows.id,
      verifiedWithS1: true,
      matchesFilter: true,
    });
    const [event] = aws.eventBridge.events(BUS);
    expect(event).toMatchObject({ source: THREAT_EVENT_SOURCE, detailType: THREAT_EVENT_DETAIL_TYPE });
    expect(event?.detail).toMatchObject({
      threatId: tenant.threats.windows.id,
      agentId: tenant.agents.windows.id,
      agentOsType: 'windows',
      via: 'webhook',
    });
  });

  it('refuses a signature made with another key, a tampered body, or a malformed header', async () => {
    const wrongKey = await receiveWebhook(signed(windowsThreatBody(), { key: `${KEY}x` }), deps());
    expect(wrongKey.statusCode).toBe(401);
    expect(errorOf(wrongKey)).toBe('the signature does not match');

    const request = signed(windowsThreatBody());
    const tampered = {
      ...request,
      body: Buffer.from(JSON.stringify({ ...windowsThreatBody(), agentId: '1' })),
    };
    expect((await receiveWebhook(tampered, deps())).statusCode).toBe(401);

    const malformed = { ...request, headers: { ...request.headers, [SIGNATURE_HEADER]: 'deadbeef' } };
    const answer = await receiveWebhook(malformed, deps());
    expect(answer.statusCode).toBe(401);
    expect(errorOf(answer)).toContain('sha256=');

    const unsigned = { ...request, headers: { 'content-type': 'application/json' } };
    expect((await receiveWebhook(unsigned, deps())).statusCode).toBe(401);
    expect(aws.eventBridge.events(BUS)).toEqual([]);
  });

  it('refuses a stale or future timestamp even with a valid signature', async () => {
    const stale = await receiveWebhook(signed(windowsThreatBody(), { at: clock.now() - 301_000 }), deps());
    expect(stale.statusCode).toBe(401);
    expect(errorOf(stale)).toContain('300 s');
    const future = await receiveWebhook(signed(windowsThreatBody(), { at: clock.now() + 301_000 }), deps());
    expect(future.statusCode).toBe(401);
    const recent = await receiveWebhook(signed(windowsThreatBody(), { at: clock.now() - 290_000 }), deps());
    expect(recent.statusCode).toBe(202);
  });

  it('picks up a rotated key after a mismatch, but re-reads the secret at most once a minute', async () => {
    const d = deps();
    expect((await receiveWebhook(signed(windowsThreatBody()), d)).statusCode).toBe(202);
    aws.secrets.set('webhook-signing', { signingKey: ROTATED_KEY });
    const reads = () => aws.requests.filter((r) => r.operation === 'GetSecretValue').length;

    const before = reads();
    // Within a minute of the last read: no re-read, so a flood of forged requests cannot hammer Secrets Manager.
    expect((await receiveWebhook(signed(windowsThreatBody(), { key: ROTATED_KEY }), d)).statusCode).toBe(401);
    expect(
      (await receiveWebhook(signed(windowsThreatBody(), { key: 'forged-key-forged-key-forged-key-x' }), d))
        .statusCode,
    ).toBe(401);
    expect(reads()).toBe(before);

    clock.advance(61_000);
    expect((await receiveWebhook(signed(windowsThreatBody(), { key: ROTATED_KEY }), d)).statusCode).toBe(202);
    // The re-read fetches the new current version and, since it is fresh, the previous one (the overlap).
    expect(reads()).toBe(before + 2);
  });

  it('accepts the previous key for the overlap after a rotation, and only the current one after it', async () => {
    const d = deps();
    expect((await receiveWebhook(signed(windowsThreatBody()), d)).statusCode).toBe(202);
    aws.secrets.set('webhook-signing', { signingKey: ROTATED_KEY });
    clock.advance(61_000);
    // The sender switched: its first request forces the re-read.
    expect((await receiveWebhook(signed(windowsThreatBody(), { key: ROTATED_KEY }), d)).statusCode).toBe(202);
    // A sender not yet switched still gets through during the overlap.
    clock.advance(1_000);
    expect((await receiveWebhook(signed(windowsThreatBody()), d)).statusCode).toBe(202);
    clock.advance(DEFAULT_ROTATION_OVERLAP_MS);
    const late = await receiveWebhook(signed(windowsThreatBody()), d);
    expect(late.statusCode).toBe(401);
    expect(errorOf(late)).toContain('signature does not match');
    expect((await receiveWebhook(signed(windowsThreatBody(), { key: ROTATED_KEY }), d)).statusCode).toBe(202);
  });

  it('throws SecretError (the handler answers 500) when the secret holds no usable key', async () => {
    aws.secrets.set('webhook-signing', { signingKey: 'short' });
    await expect(receiveWebhook(signed(windowsThreatBody()), deps())).rejects.toMatchObject({
      name: 'SecretError',
    });
  });
});

describe('receive-webhook: replays', () => {
  it('refuses a replay of an accepted request inside its window with 409, whatever the hex case', async () => {
    const request = signed(windowsThreatBody());
    expect((await receiveWebhook(request, deps())).statusCode).toBe(202);
    const replay = await receiveWebhook(request, deps());
    expect(replay.statusCode).toBe(409);
    expect(errorOf(replay)).toContain('already accepted');
    const signature = String(request.headers[SIGNATURE_HEADER]);
    const upper = {
      ...request,
      headers: {
        ...request.headers,
        [SIGNATURE_HEADER]: signature.toUpperCase().replace('SHA256=', 'sha256='),
      },
    };
    expect((await receiveWebhook(upper, deps())).statusCode).toBe(409);
    expect(aws.eventBridge.events(BUS)).toHaveLength(1);

    // Past the window the same bytes are stale (401); the sender re-signs and is accepted.
    clock.advance(301_000);
    expect((await receiveWebhook(request, deps())).statusCode).toBe(401);
    expect((await receiveWebhook(signed(windowsThreatBody()), deps())).statusCode).toBe(202);
    expect(aws.eventBridge.events(BUS)).toHaveLength(2);
  });

  it('keeps the nonce until the timestamp leaves the window, as a hash, never the signature', async () => {
    const at = clock.now() - 120_000;
    const request = signed(windowsThreatBody(), { at });
    expect((await receiveWebhook(request, deps())).statusCode).toBe(202);
    const key = nonceKey(String(request.headers[SIGNATURE_HEADER]));
    const { Item } = await dynamo.client.send(
      new GetItemCommand({ TableName: dynamo.tableName, Key: { pk: { S: key.pk }, sk: { S: key.sk } } }),
    );
    expect(Number(Item?.expiresAt?.N)).toBe(Math.floor(at / 1000) + 300 + 1);
    const hex = String(request.headers[SIGNATURE_HEADER]).slice('sha256='.length);
    expect(JSON.stringify(Item)).not.toContain(hex);
  });

  it('lets the sender resend a request that failed (503), and then only once', async () => {
    const request = signed(windowsThreatBody());
    sim.faults.respond(503, { match: { path: '/threats' } });
    expect((await receiveWebhook(request, deps())).statusCode).toBe(503);
    sim.faults.clear();
    expect((await receiveWebhook(request, deps())).statusCode).toBe(202);
    expect((await receiveWebhook(request, deps())).statusCode).toBe(409);
    expect(aws.eventBridge.events(BUS)).toHaveLength(1);
  });

  it('answers 503 and queues nothing when the coordination store cannot be reached', async () => {
    const unreachable = new DynamoDBClient({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 500, requestTimeout: 500 },
    });
    try {
      const store = new CoordinationStore({
        client: unreachable,
        tableName: dynamo.tableName,
        now: clock.now,
      });
      const response = await receiveWebhook(signed(windowsThreatBody()), deps({ nonces: store }));
      expect(response.statusCode).toBe(503);
      expect(errorOf(response)).toContain('coordination store');
      expect(aws.eventBridge.events(BUS)).toEqual([]);
    } finally {
      unreachable.destroy();
    }
  });
});

describe('receive-webhook: request checks', () => {
  it('refuses an oversized body before reading the key', async () => {
    const reads = () => aws.requests.filter((r) => r.operation === 'GetSecretValue').length;
    const before = reads();
    const big = signed({ ...windowsThreatBody(), padding: 'x'.repeat(20_000) });
    const response = await receiveWebhook(big, deps());
    expect(response.statusCode).toBe(413);
    expect(reads()).toBe(before);
  });

  it('refuses other methods and content types', async () => {
    const request = signed(windowsThreatBody());
    const get = await receiveWebhook({ ...request, method: 'GET' }, deps());
    expect(get.statusCode).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const form = {
      ...request,
      headers: { ...request.headers, 'content-type': 'application/x-www-form-urlencoded' },
    };
    expect((await receiveWebhook(form, deps())).statusCode).toBe(415);
  });

  it('answers 400 for a signed body that is not JSON', async () => {
    const response = await receiveWebhook(signed(undefined, { text: '{"threatId": ' }), deps());
    expect(response.statusCode).toBe(400);
    expect(errorOf(response)).toBe('the body is not valid JSON');
  });

  it('answers 422 naming the bad fields, never echoing their values', async () => {
    // A big id sent as a JSON number has already lost digits by the time it is parsed.
    const text = '{"threatId": 715718962991148224, "agentId": "abc"}';
    const response = await receiveWebhook(signed(undefined, { text }), deps());
    expect(response.statusCode).toBe(422);
    const error = errorOf(response);
    expect(error).toContain('threatId');
    expect(error).toContain('agentId');
    expect(error).not.toContain('abc');
  });
});

describe('receive-webhook: trusting S1', () => {
  it("uses S1's facts, not the caller's, and says whether the filter matches", async () => {
    const body = {
      threatId: tenant.threats.linux.id,
      agentId: tenant.agents.windows.id,
      confidenceLevel: 'malicious',
      classification: 'Ransomware',
    };
    const response = await receiveWebhook(signed(body), deps());
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body)).toMatchObject({
      agentId: tenant.agents.linux.id,
      matchesFilter: false,
    });
    expect(aws.eventBridge.events(BUS)[0]?.detail).toMatchObject({
      agentId: tenant.agents.linux.id,
      confidenceLevel: 'suspicious',
      classification: 'Cryptominer',
    });
  });

  it('refuses a threat S1 does not know', async () => {
    const response = await receiveWebhook(
      signed({ threatId: '1234567890123456789', agentId: tenant.agents.windows.id }),
      deps(),
    );
    expect(response.statusCode).toBe(422);
    expect(aws.eventBridge.events(BUS)).toEqual([]);
  });

  it('answers 503 with Retry-After while S1 throttles, 502 when S1 refuses the token', async () => {
    sim.faults.respond(429, { match: { path: '/threats' } });
    const throttled = await receiveWebhook(signed(windowsThreatBody()), deps());
    expect(throttled.statusCode).toBe(503);
    expect(throttled.headers['retry-after']).toBe('30');
    sim.faults.clear();
    sim.faults.respond(401, { match: { path: '/threats' } });
    expect((await receiveWebhook(signed(windowsThreatBody()), deps())).statusCode).toBe(502);
  });

  it("trusts the caller's facts when S1 verification is off", async () => {
    const body = {
      ...windowsThreatBody(),
      confidenceLevel: 'malicious',
      agentOsType: 'Linux',
      threatName: 'x.exe',
    };
    const s1Calls = sim.requests.length;
    const response = await receiveWebhook(signed(body), deps({ s1: undefined }));
    expect(response.statusCode).toBe(202);
    expect(aws.eventBridge.events(BUS)[0]?.detail).toMatchObject({
      agentOsType: 'linux',
      threatName: 'x.exe',
    });
    expect(sim.requests.length).toBe(s1Calls);
  });

  it('answers 503 when EventBridge keeps refusing the event', async () => {
    aws.eventBridge.failEntries(10, 'InternalFailure');
    const response = await receiveWebhook(
      signed(windowsThreatBody()),
      deps({ publish: { maxAttempts: 2, sleep: async () => undefined } }),
    );
    aws.eventBridge.clearFaults();
    expect(response.statusCode).toBe(503);
  });
});

describe('receive-webhook: Lambda handler with a Function URL event', () => {
  const saved = { ...process.env };

  afterEach(() => {
    process.env = { ...saved };
    resetAwsClients();
    resetServices();
  });

  it('reads its settings, verifies a base64 body and answers like a Function URL expects', async () => {
    Object.assign(process.env, aws.env, dynamo.env, {
      COORDINATION_TABLE_NAME: dynamo.tableName,
      EVENT_BUS_NAME: BUS,
      WEBHOOK_SECRET_ARN: secretArn,
      S1_CONSOLE_URL: sim.url,
      S1_SECRET_ARN: aws.secrets.set('s1-token', { apiToken: TOKEN }),
      S1_ALLOWED_HOSTS: '127.0.0.1',
      ALLOW_LOOPBACK: 'true',
      THREAT_CONFIDENCE_LEVELS: 'malicious',
      THREAT_OS_TYPES: 'windows,linux',
    });
    resetAwsClients();
    resetServices();
    const { handler } = await import('../../lambdas/receive-webhook/index');
    // The Lambda's clock is real time: sign with it.
    const text = JSON.stringify(windowsThreatBody());
    const timestamp = String(Math.floor(Date.now() / 1000));
    const event = {
      version: '2.0',
      rawPath: '/',
      headers: {
        'content-type': 'application/json',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signWebhook(KEY, timestamp, text),
      },
      requestContext: { http: { method: 'POST' } },
      body: Buffer.from(text).toString('base64'),
      isBase64Encoded: true,
    } as unknown as LambdaFunctionURLEvent;
    const response = await handler(event, { functionName: 'receive-webhook' } as Context);
    expect(typeof response === 'object' && response.statusCode).toBe(202);
    expect(aws.eventBridge.events(BUS).map((e) => e.detail.threatId)).toEqual([tenant.threats.windows.id]);
    const replay = await handler(event, { functionName: 'receive-webhook' } as Context);
    expect(typeof replay === 'object' && replay.statusCode).toBe(409);
    expect(aws.eventBridge.events(BUS)).toHaveLength(1);

    process.env.WEBHOOK_SECRET_ARN = aws.secrets.set('broken', { nothing: 'here' });
    const broken = await handler(event, { functionName: 'receive-webhook' } as Context);
    expect(typeof broken === 'object' && broken.statusCode).toBe(500);
  });
});
