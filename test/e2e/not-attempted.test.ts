/**
 * End-to-end: investigations that fail before any endpoint action are not lost. A 429 storm on the first state,
 * longer than every retry, ends the investigation `not_attempted` with a pending retry; intake (the poller's retry
 * duty, then Start Investigation) retries it to completion in the same test, under the next attempt's name. A 401
 * on `GET /user` is met with one re-read of the secret and a second try. Nothing is doubled: one S1 task for the
 * agent, one Cado import for its evidence.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { republishDueRetries } from '../../lambdas/poll-threats/retries';
import { now as clockNow } from '../../lambdas/shared/clock';
import { CoordinationStore } from '../../lambdas/shared/coordination/store';
import type { CaseRecord } from '../../lambdas/shared/evidence/case-record';
import { caseKey } from '../../lambdas/shared/evidence/keys';
import { attemptName, readRetries } from '../../lambdas/shared/intake/retries';
import { ThreatEventDetail, threatEventDetail } from '../../lambdas/shared/intake/threat-event';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client, type S1Threat } from '../../lambdas/shared/sentinelone';
import { startInvestigation } from '../../lambdas/start-investigation/core';
import { type E2eStack, investigate, readJson, s1Requests, startE2eStack } from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack();
});

afterEach(async () => {
  await stack.reset();
});

afterAll(async () => {
  await stack?.close();
});

const BUS = 'intake-retries-e2e';

describe('not lost to a storm', () => {
  it('a 429 storm past every retry of Check Permissions ends not_attempted, and intake retries it to completion', async () => {
    const { linux } = stack.tenant.agents;
    const threat = stack.tenant.threats.linux;
    const store = new CoordinationStore({ client: stack.dynamo.client, tableName: stack.coordinationTable });
    const executionsBefore = stack.s1Sim.state.executions.length;
    const storm = stack.s1Sim.faults.respond(429, { match: { path: '/user' } });

    const first = await investigate(stack, {
      agentIds: [linux.id],
      threatId: threat.id,
      requestedBy: 'threat-intake',
    });
    storm.remove();

    // Every retry of the state was used up, and nothing reached the endpoint.
    expect(storm.hits).toBeGreaterThan(30);
    expect(
      first.events.filter((e) => e.type === 'StateRetried' && e.state.name === 'Check Permissions'),
    ).toHaveLength(12);
    expect(first.caseRecord).toMatchObject({ status: 'not_attempted', threatId: threat.id });
    expect(first.caseRecord.summary).toMatch(/intake retries it/);
    expect(stack.s1Sim.state.executions.length).toBe(executionsBefore);
    const pending = (await readRetries(store)).entries[threat.id];
    expect(pending).toMatchObject({ attempt: 1, after: first.investigationId });

    // A duplicate event before the retry is due starts nothing.
    const sfn = new SFNClient({
      endpoint: stack.aws.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const s1 = createS1Client({
      consoleUrl: stack.s1Url,
      credentials: staticCredential(stack.secrets.s1Token, 'ApiToken'),
      hostPolicy: { allowLoopback: true, allowedHosts: ['127.0.0.1'] },
    });
    const startDeps = {
      sfn,
      s3: stack.s3.client,
      evidenceBucket: stack.bucket,
      stateMachineArn: stack.stateMachineArn,
      s1,
      addThreatNote: false,
      retries: () => store,
    };
    const [s1Threat] = await s1.getThreats([threat.id]);
    const detail = threatEventDetail(s1Threat as S1Threat, 'poller') as ThreatEventDetail;
    const early = await startInvestigation(
      { 'detail-type': 'SentinelOne Threat', source: 's1cado.threat-intake', detail },
      { ...startDeps, now: clockNow },
    );
    expect(early.outcome).toBe('already-investigated');

    // The poller's retry duty, once the backoff has passed: the threat is re-read from S1 and put on the bus.
    stack.aws.eventBridge.createBus(BUS);
    const later = () => clockNow() + 3600_000;
    const events = new EventBridgeClient({
      endpoint: stack.aws.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const republished = await republishDueRetries({
      s1,
      events,
      eventBusName: BUS,
      retries: store,
      now: later,
    });
    expect(republished).toEqual({ due: 1, republished: 1, gone: 0 });
    const [event] = stack.aws.eventBridge.events(BUS);
    expect(event?.detail).toMatchObject({ threatId: threat.id, agentId: linux.id });

    // Start Investigation starts the due attempt under its own name, once.
    const threatEvent = {
      'detail-type': 'SentinelOne Threat' as const,
      source: 's1cado.threat-intake',
      id: event?.id,
      detail: ThreatEventDetail.parse(event?.detail),
    };
    const started = await startInvestigation(threatEvent, { ...startDeps, now: later });
    expect(started).toMatchObject({ outcome: 'started', executionName: attemptName(threat.id, 1) });
    await stack.aws.stepFunctions.waitFor(started.executionArn);
    const again = await startInvestigation(threatEvent, { ...startDeps, now: later });
    expect(again.outcome).not.toBe('started');

    const retried = await readJson<CaseRecord>(stack, caseKey(attemptName(threat.id, 1)));
    expect(retried.status).toBe('complete');
    expect((await readRetries(store)).entries[threat.id]).toBeUndefined();
    // Nothing doubled: one execute for the agent, one Cado import of its evidence.
    const executions = stack.s1Sim.state.executions.slice(executionsBefore);
    expect(executions.filter((e) => e.eligibleAgentIds.includes(linux.id))).toHaveLength(1);
    const key = retried.agents[0]?.evidence?.key as string;
    expect(stack.cadoSim.state.imports.filter((i) => i.keys.includes(key))).toHaveLength(1);
  }, 120_000);

  it('a 429 storm past every retry of Ensure Scripts ends not_attempted with a pending retry, no task started', async () => {
    const { windows } = stack.tenant.agents;
    const threat = stack.tenant.threats.windows;
    const store = new CoordinationStore({ client: stack.dynamo.client, tableName: stack.coordinationTable });
    const executionsBefore = stack.s1Sim.state.executions.length;
    const storm = stack.s1Sim.faults.respond(429, { match: { method: 'GET', path: '/remote-scripts' } });
    const run = await investigate(stack, {
      agentIds: [windows.id],
      threatId: threat.id,
      requestedBy: 'threat-intake',
    });
    storm.remove();

    expect(
      run.events.filter((e) => e.type === 'StateRetried' && e.state.name === 'Ensure Scripts'),
    ).toHaveLength(12);
    expect(run.caseRecord).toMatchObject({ status: 'not_attempted', threatId: threat.id });
    expect(stack.s1Sim.state.executions.length).toBe(executionsBefore);
    expect((await readRetries(store)).entries[threat.id]).toMatchObject({
      attempt: 1,
      after: run.investigationId,
    });
  }, 120_000);

  it('a redelivered intake event starts one investigation and adds the S1 threat note once', async () => {
    const { windows } = stack.tenant.agents;
    const store = new CoordinationStore({ client: stack.dynamo.client, tableName: stack.coordinationTable });
    const s1 = createS1Client({
      consoleUrl: stack.s1Url,
      credentials: staticCredential(stack.secrets.s1Token, 'ApiToken'),
      hostPolicy: { allowLoopback: true, allowedHosts: ['127.0.0.1'] },
    });
    const at = clockNow();
    const threat = stack.s1Sim.addThreat({ agentId: windows.id, createdAt: at, updatedAt: at });
    const [s1Threat] = await s1.getThreats([threat.id]);
    const detail = threatEventDetail(s1Threat as S1Threat, 'webhook') as ThreatEventDetail;
    const deps = {
      sfn: new SFNClient({
        endpoint: stack.aws.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      }),
      s3: stack.s3.client,
      evidenceBucket: stack.bucket,
      stateMachineArn: stack.stateMachineArn,
      s1,
      addThreatNote: true,
      retries: () => store,
      now: clockNow,
    };
    const event = {
      'detail-type': 'SentinelOne Threat' as const,
      source: 's1cado.threat-intake',
      id: 'e-dup',
      detail,
    };
    const notesBefore = stack.s1Sim.state.notes.get(threat.id)?.length ?? 0;
    const first = await startInvestigation(event, deps);
    const redelivered = await startInvestigation(event, deps);

    expect(first).toMatchObject({ outcome: 'started', noteAdded: true });
    expect(redelivered.executionArn).toBe(first.executionArn);
    expect(redelivered.noteAdded).toBeUndefined();
    expect((stack.s1Sim.state.notes.get(threat.id)?.length ?? 0) - notesBefore).toBe(1);
    expect(stack.aws.stepFunctions.list().filter((e) => e.name === first.executionName)).toHaveLength(1);
    await stack.aws.stepFunctions.waitFor(first.executionArn);
    expect(windows.id).toBe(detail.agentId);
  });

  it('a 401 on GET /user: the secret is re-read once and the call tried again; the investigation completes', async () => {
    const { windows } = stack.tenant.agents;
    const before = stack.s1Sim.requests.length;
    const rejected = stack.s1Sim.faults.respond(401, { times: 1, match: { path: '/user' } });
    const run = await investigate(stack, { agentIds: [windows.id], requestedBy: 'e2e', reason: '401 once' });

    expect(rejected.hits).toBe(1);
    const userCalls = s1Requests(stack, '/user', before);
    expect(userCalls.map((r) => r.status).slice(0, 2)).toEqual([401, 200]);
    expect(run.caseRecord.status).toBe('complete');
  });
});
