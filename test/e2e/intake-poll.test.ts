/**
 * poll-threats against the S1 simulator (real HTTP, cursor paging, rate limits and faults) and the AWS fake
 * (EventBridge PutEvents, SSM parameters), through the real clients. Time is a manual clock shared by the
 * simulator, the fake and the poller; the S1 client's retry sleeps advance it, so nothing waits for real.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type PollDeps, type PollResult, pollThreats } from '../../lambdas/poll-threats/core';
import {
  isoFromKey,
  MAX_MARK_IDS,
  MarkStore,
  parseMark,
  serializeMark,
  timeKey,
} from '../../lambdas/poll-threats/mark';
import { S1AuthError, ThreatPublishError } from '../../lambdas/shared/errors';
import { THREAT_EVENT_DETAIL_TYPE, THREAT_EVENT_SOURCE } from '../../lambdas/shared/intake/threat-event';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client, type S1Client } from '../../lambdas/shared/sentinelone';
import { HIGH_WATER_MARK_PLACEHOLDER } from '../../lib/constructs/threat-intake';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';
import {
  type Agent,
  createManualClock,
  type DemoTenant,
  type ManualClock,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
  type ThreatInput,
} from '../../local/s1-simulator';

const TOKEN = 'S1tok-poller-0123456789abcdefABCDEF-secret';
const BUS = 's1cado-threats';
const PARAM = '/s1cado/test/high-water-mark';
const START = Date.UTC(2025, 0, 15, 10, 0, 0);
const MINUTE = 60_000;
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

let clock: ManualClock;
let sim: S1Simulator;
let tenant: DemoTenant;
let aws: AwsFake;
let events: EventBridgeClient;
let ssm: SSMClient;
let s1: S1Client;
/** Requests the AWS fake had received before the current test. */
let awsBaseline = 0;

beforeAll(async () => {
  clock = createManualClock(START);
  sim = await startS1Simulator({ clock: clock.now, rateLimits: false });
  tenant = seedDemoTenant(sim, { token: TOKEN });
  aws = await startAwsFake({ clock: clock.now });
  aws.eventBridge.createBus(BUS);
  events = new EventBridgeClient({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
  });
  ssm = new SSMClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  s1 = createS1Client({
    consoleUrl: sim.url,
    credentials: staticCredential(TOKEN, 'ApiToken'),
    hostPolicy: { allowLoopback: true },
    retry: { maxAttempts: 3, maxElapsedMs: 60_000, baseDelayMs: 100, maxDelayMs: 1_000 },
    random: () => 0.5,
    sleep: async (ms) => {
      clock.advance(ms);
    },
  });
});

afterAll(async () => {
  events?.destroy();
  ssm?.destroy();
  await aws?.close();
  await sim?.close();
  clearRegisteredSecrets();
});

beforeEach(() => {
  clock.set(START);
  sim.state.threats.clear();
  sim.faults.clear();
  sim.config.cursorEnd = null;
  sim.clearRequests();
  aws.eventBridge.clearEvents();
  aws.eventBridge.clearFaults();
  aws.ssm.delete(PARAM);
  awsBaseline = aws.requests.length;
});

afterEach(() => {
  vi.restoreAllMocks();
});

function deps(overrides: Partial<PollDeps> = {}): PollDeps {
  return {
    s1,
    events,
    eventBusName: BUS,
    marks: new MarkStore(ssm, PARAM),
    filter: { confidenceLevels: ['malicious'], osTypes: ['windows', 'linux'] },
    now: clock.now,
    lookbackSeconds: 3600,
    settleSeconds: 30,
    pageSize: 100,
    maxPages: 20,
    timeBudgetSeconds: 60,
    publish: { sleep: async () => undefined, random: () => 0.5 },
    ...overrides,
  };
}

/** A threat on `agent` last updated `minutesAgo` before the clock's current time. */
function threat(agent: Agent, minutesAgo: number, extra: Partial<ThreatInput> = {}) {
  const at = clock.now() - minutesAgo * MINUTE;
  return sim.addThreat({ agentId: agent.id, createdAt: at, updatedAt: at, ...extra });
}

/** Threat ids on the bus, in the order they were put. */
function published(): string[] {
  return aws.eventBridge.events(BUS).map((event) => String(event.detail.threatId));
}

/** The PutEvents calls of the current test. */
function putEventsCalls() {
  return aws.requests.slice(awsBaseline).filter((r) => r.service === 'events' && r.operation === 'PutEvents');
}

function savedMark() {
  return parseMark(aws.ssm.get(PARAM));
}

function threatPageRequests() {
  return sim.requests.filter(
    (entry) => entry.host === 'api' && entry.route === '/threats' && entry.method === 'GET',
  );
}

describe('poll-threats: first run', () => {
  it('looks back the configured window only, leaves unsettled threats for later, and saves its mark', async () => {
    const tooOld = threat(tenant.agents.windows, 90);
    const inWindow = threat(tenant.agents.windows, 30);
    const recent = threat(tenant.agents.linux, 2);
    const unsettled = threat(tenant.agents.linux, 0.1);

    const result = await pollThreats(deps());

    expect(result).toMatchObject({ firstRun: true, stoppedBy: 'end', published: 2, pages: 1 });
    expect(published()).toEqual([inWindow.id, recent.id]);
    expect(published()).not.toContain(tooOld.id);
    expect(published()).not.toContain(unsettled.id);
    // The query went to S1 as a window on updatedAt, oldest first, with the filter server-side.
    const query = threatPageRequests()[0]?.query ?? {};
    expect(query).toMatchObject({
      updatedAt__gt: expect.any(String),
      updatedAt__lte: result.until,
      sortBy: 'updatedAt',
      sortOrder: 'asc',
      confidenceLevels: 'malicious',
      osTypes: 'windows,linux',
    });
    expect(Date.parse(String(query.updatedAt__gt))).toBe(START - 60 * MINUTE - 1);
    expect(result.mark).toEqual({
      updatedAt: isoFromKey(BigInt(recent.updatedAt) * 1000n),
      ids: [recent.id],
    });
    expect(savedMark()).toEqual(result.mark);

    const event = aws.eventBridge.events(BUS)[0];
    expect(event).toMatchObject({ source: THREAT_EVENT_SOURCE, detailType: THREAT_EVENT_DETAIL_TYPE });
    expect(event?.detail).toEqual({
      threatId: inWindow.id,
      agentId: tenant.agents.windows.id,
      agentOsType: 'windows',
      computerName: 'ACME-DC01',
      siteId: tenant.sites.rso.id,
      classification: 'Malware',
      confidenceLevel: 'malicious',
      threatName: 'invoice_2024.exe',
      createdAt: expect.stringMatching(/^\d{4}-.*\.\d{6}Z$/),
      updatedAt: expect.stringMatching(/^\d{4}-.*\.\d{6}Z$/),
      via: 'poller',
    });
  });

  it('saves the start of the window even when nothing was found, so later runs do not slide', async () => {
    const result = await pollThreats(deps());
    expect(result).toMatchObject({ firstRun: true, published: 0 });
    expect(savedMark()).toEqual({ updatedAt: isoFromKey(BigInt(START - 3_600_000) * 1000n), ids: [] });

    // Two hours later a threat from 90 minutes ago appears: the mark still covers it.
    clock.advance(120 * MINUTE);
    const late = threat(tenant.agents.windows, 90);
    const second = await pollThreats(deps());
    expect(second.firstRun).toBe(false);
    expect(published()).toEqual([late.id]);
  });

  it('starts from the lookback when the parameter holds the deploy-time placeholder', async () => {
    aws.ssm.set(PARAM, '{"version":1,"state":"not-started"}');
    const inWindow = threat(tenant.agents.windows, 30);
    threat(tenant.agents.windows, 120);
    const result = await pollThreats(deps());
    expect(result.firstRun).toBe(true);
    expect(published()).toEqual([inWindow.id]);
  });
});

describe('poll-threats: incremental runs', () => {
  it('publishes each threat once across runs, including threats updated again later', async () => {
    const first = threat(tenant.agents.windows, 10);
    await pollThreats(deps());
    expect(published()).toEqual([first.id]);

    clock.advance(2 * MINUTE);
    const second = threat(tenant.agents.linux, 1);
    await pollThreats(deps());
    expect(published()).toEqual([first.id, second.id]);

    clock.advance(2 * MINUTE);
    const run3 = await pollThreats(deps());
    expect(run3.published).toBe(0);
    expect(published()).toEqual([first.id, second.id]);

    // An update (e.g. a new analyst verdict) brings a threat back: it is published again, on purpose.
    const stored = sim.state.threats.get(first.id);
    if (stored) stored.updatedAt = clock.now() - MINUTE;
    clock.advance(2 * MINUTE);
    await pollThreats(deps());
    expect(published()).toEqual([first.id, second.id, first.id]);
  });

  it('neither skips nor repeats threats sharing one updatedAt across page and run boundaries', async () => {
    // Five threats stamped with the same instant (a bulk console action), two per page, one page per run.
    const at = clock.now() - 5 * MINUTE;
    const same = Array.from({ length: 5 }, () =>
      sim.addThreat({ agentId: tenant.agents.windows.id, createdAt: at, updatedAt: at }),
    );
    const earlier = threat(tenant.agents.linux, 6);
    const limited = deps({ pageSize: 2, maxPages: 1 });

    const runs: PollResult[] = [];
    for (let i = 0; i < 5; i++) {
      runs.push(await pollThreats(limited));
      clock.advance(MINUTE);
    }
    const ids = published();
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(6);
    expect(new Set(ids)).toEqual(new Set([earlier.id, ...same.map((t) => t.id)]));
    // Pages holding only threats handled before do not use up the page budget, so each run makes progress.
    expect(runs.map((run) => run.published)).toEqual([2, 1, 2, 1, 0]);
    expect(runs.map((run) => run.pages)).toEqual([1, 1, 2, 3, 3]);
    // While the tie is being worked through, the mark stays at its instant and lists the ids handled there.
    expect(runs[1]?.mark.ids).toHaveLength(2);
    expect(runs[2]?.mark.ids).toHaveLength(4);
    expect(runs[4]?.stoppedBy).toBe('end');
    expect(timeKey(runs[2]?.mark.updatedAt)).toBe(BigInt(at) * 1000n);
    expect(runs[4]?.published).toBe(0);
  });

  it('stops after its time budget and resumes on the next run', async () => {
    for (let i = 0; i < 6; i++) threat(tenant.agents.windows, 10 - i);
    // Each look at the clock costs 20 s of simulated time (a slow S1).
    const slowNow = () => clock.advance(20_000);
    const first = await pollThreats(deps({ pageSize: 2, now: slowNow, timeBudgetSeconds: 30 }));
    expect(first.stoppedBy).toBe('time-budget');
    expect(first.published).toBeLessThan(6);
    clock.advance(MINUTE);
    await pollThreats(deps({ pageSize: 2 }));
    expect(published()).toHaveLength(6);
    expect(new Set(published()).size).toBe(6);
  });
});

describe('poll-threats: filter', () => {
  it('asks S1 to filter and re-checks every threat itself', async () => {
    const wanted = threat(tenant.agents.windows, 9, { classification: 'Ransomware' });
    const suspicious = threat(tenant.agents.windows, 8, {
      confidenceLevel: 'suspicious',
      classification: 'Ransomware',
    });
    const mac = threat(tenant.agents.macos, 7, { classification: 'Ransomware' });
    const otherSite = threat(tenant.agents.noRso, 6, { classification: 'Ransomware' });
    const otherClass = threat(tenant.agents.linux, 5, { classification: 'PUA' });
    const filter = {
      confidenceLevels: ['malicious'],
      classifications: ['ransomware'],
      osTypes: ['windows', 'linux'],
      siteIds: [tenant.sites.rso.id],
    };
    // A console that ignores every filter parameter: only the poller's own check stands between it and the bus.
    const ignoringConsole: Pick<S1Client, 'listThreatPages'> = {
      listThreatPages: (query = {}) =>
        s1.listThreatPages({ updatedAfter: query.updatedAfter, until: query.until, limit: query.limit }),
    };

    const result = await pollThreats(deps({ s1: ignoringConsole, filter }));

    expect(published()).toEqual([wanted.id]);
    expect(result).toMatchObject({ published: 1, filtered: 4 });
    // Filtered threats are handled too: the mark moves past them.
    expect(result.mark.ids).toEqual([otherClass.id]);
    for (const skipped of [suspicious, mac, otherSite]) expect(published()).not.toContain(skipped.id);
  });

  it('sends the filter to S1 as comma lists', async () => {
    await pollThreats(
      deps({ filter: { confidenceLevels: ['malicious', 'suspicious'], siteIds: [tenant.sites.rso.id] } }),
    );
    expect(threatPageRequests()[0]?.query).toMatchObject({
      confidenceLevels: 'malicious,suspicious',
      siteIds: tenant.sites.rso.id,
    });
  });
});

describe('poll-threats: paging', () => {
  for (const end of [null, ''] as const) {
    it(`pages to the end when S1 marks it with ${JSON.stringify(end)}`, async () => {
      sim.config.cursorEnd = end;
      const threats = Array.from({ length: 5 }, (_, i) => threat(tenant.agents.windows, 10 - i));
      const result = await pollThreats(deps({ pageSize: 2 }));
      expect(result).toMatchObject({ stoppedBy: 'end', pages: 3, published: 5 });
      expect(published()).toEqual(threats.map((t) => t.id));
      const requests = threatPageRequests();
      expect(requests).toHaveLength(3);
      expect(requests[0]?.query.cursor).toBeUndefined();
      expect(requests[2]?.query.cursor).toEqual(expect.any(String));
    });
  }

  it('stops at the page limit and carries on next run', async () => {
    const threats = Array.from({ length: 5 }, (_, i) => threat(tenant.agents.windows, 10 - i));
    const first = await pollThreats(deps({ pageSize: 2, maxPages: 2 }));
    expect(first).toMatchObject({ stoppedBy: 'page-limit', pages: 2, published: 4 });
    clock.advance(MINUTE);
    const second = await pollThreats(deps({ pageSize: 2, maxPages: 2 }));
    expect(second).toMatchObject({ stoppedBy: 'end', published: 1 });
    expect(published()).toEqual(threats.map((t) => t.id));
  });
});

describe('poll-threats: PutEvents failures', () => {
  it('retries only the entries EventBridge refused', async () => {
    const threats = Array.from({ length: 12 }, (_, i) => threat(tenant.agents.windows, 20 - i));
    aws.eventBridge.failEntries(3, 'ThrottlingException');
    const result = await pollThreats(deps());
    expect(result.published).toBe(12);
    expect(published()).toHaveLength(12);
    expect(new Set(published())).toEqual(new Set(threats.map((t) => t.id)));
    const calls = putEventsCalls();
    // Batches of 10 and 2, plus one retry carrying the 3 refused entries.
    expect(calls.map((call) => (call.body.Entries as unknown[]).length)).toEqual([10, 3, 2]);
  });

  it('fails the run after bounded retries, keeping the mark before the refused threat', async () => {
    const threats = Array.from({ length: 4 }, (_, i) => threat(tenant.agents.windows, 10 - i));
    const stuck = threats[2]?.id;
    aws.eventBridge.failEntries((entry) =>
      JSON.parse(String(entry.Detail)).threatId === stuck ? 'InternalFailure' : undefined,
    );

    await expect(
      pollThreats(deps({ publish: { maxAttempts: 3, sleep: async () => undefined } })),
    ).rejects.toThrow(ThreatPublishError);
    expect(putEventsCalls()).toHaveLength(3);
    expect(savedMark()?.ids).toEqual([threats[1]?.id]);

    aws.eventBridge.clearFaults();
    clock.advance(MINUTE);
    await pollThreats(deps());
    // The refused threat goes out on the next run; the ones before it are not repeated.
    const ids = published();
    expect(ids.filter((id) => id === threats[0]?.id)).toHaveLength(1);
    expect(ids.filter((id) => id === threats[1]?.id)).toHaveLength(1);
    expect(ids).toContain(stuck);
    expect(ids.at(-1)).toBe(threats[3]?.id);
  });
});

describe('poll-threats: S1 throttling and errors', () => {
  it('rides out a short 429 storm (the client retries)', async () => {
    const t = threat(tenant.agents.windows, 5);
    sim.faults.respond(429, { times: 2, match: { path: '/threats' }, retryAfter: 1 });
    const result = await pollThreats(deps());
    expect(result).toMatchObject({ stoppedBy: 'end', published: 1 });
    expect(published()).toEqual([t.id]);
  });

  it('keeps what it did when S1 keeps answering 429, resumes next run, and never logs the token', async () => {
    const threats = Array.from({ length: 4 }, (_, i) => threat(tenant.agents.windows, 10 - i));
    const output: string[] = [];
    const capture = (chunk: unknown) => {
      output.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    // After the first page's events are on the bus, S1 starts throttling for good.
    const stop = aws.eventBridge.onEvent(() => {
      if (aws.eventBridge.events(BUS).length === 1) sim.faults.respond(429, { match: { path: '/threats' } });
    });
    const result = await pollThreats(deps({ pageSize: 2 }));
    stop();
    expect(result).toMatchObject({ stoppedBy: 's1-unavailable', published: 2, pages: 1 });
    expect(savedMark()?.ids).toEqual([threats[1]?.id]);
    expect(output.join('')).toContain('S1 is throttling');
    expect(output.join('')).not.toContain(TOKEN);
    expect(JSON.stringify(result)).not.toContain(TOKEN);

    sim.faults.clear();
    clock.advance(MINUTE);
    await pollThreats(deps({ pageSize: 2 }));
    expect(published()).toEqual(threats.map((t) => t.id));
  });

  it('fails the invocation on errors that will not pass by themselves (a rejected token)', async () => {
    threat(tenant.agents.windows, 5);
    sim.faults.respond(401, { match: { path: '/threats' } });
    await expect(pollThreats(deps())).rejects.toBeInstanceOf(S1AuthError);
    expect(published()).toEqual([]);
  });
});

describe('high-water mark', () => {
  it('compares S1 times to the microsecond, whatever the fraction length or zone', () => {
    const a = timeKey('2024-07-30T06:43:22.938877Z');
    const b = timeKey('2024-07-30T06:43:22.938876Z');
    expect(a !== undefined && b !== undefined && a - b).toBe(1n);
    expect(timeKey('2024-07-30T06:43:22Z')).toBe(BigInt(Date.UTC(2024, 6, 30, 6, 43, 22)) * 1000n);
    expect(timeKey('2024-07-30T08:43:22.5+02:00')).toBe(timeKey('2024-07-30T06:43:22.500000Z'));
    expect(timeKey('2024-07-30T06:43:22.9388771234Z')).toBe(a);
    expect(timeKey('yesterday')).toBeUndefined();
    expect(timeKey(null)).toBeUndefined();
  });

  it('writes S1-style times that read back to the same instant', () => {
    const key = timeKey('2024-07-30T06:43:22.000001Z') ?? 0n;
    expect(isoFromKey(key)).toBe('2024-07-30T06:43:22.000001Z');
    expect(isoFromKey(key - 2n)).toBe('2024-07-30T06:43:21.999999Z');
  });

  it('reads only well-formed marks and keeps the stored value within the standard tier', () => {
    expect(parseMark(undefined)).toBeUndefined();
    expect(parseMark('not json')).toBeUndefined();
    expect(parseMark(HIGH_WATER_MARK_PLACEHOLDER)).toBeUndefined();
    expect(parseMark('{"version":1,"updatedAt":"soon","ids":[]}')).toBeUndefined();
    const ids = Array.from({ length: 400 }, (_, i) => String(1_000_000_000_000_000_000n + BigInt(i)));
    const value = serializeMark(
      { updatedAt: '2024-07-30T06:43:22.938877Z', ids },
      '2024-07-30T06:44:00.000Z',
    );
    expect(value.length).toBeLessThanOrEqual(4096);
    const read = parseMark(value);
    expect(read?.ids).toHaveLength(MAX_MARK_IDS);
    // The ids kept are the last handled.
    expect(read?.ids.at(-1)).toBe(ids.at(-1));
    expect(read?.updatedAt).toBe('2024-07-30T06:43:22.938877Z');
  });
});
