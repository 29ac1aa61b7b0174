/**
 * The SentinelOne client against the S1 simulator (a real HTTP server on 127.0.0.1): paging, big ids, retries,
 * credential refresh, multipart upload, execute traps, task status, result links, cancel and the audit calls.
 * Simulated time is a manual clock; the client's retry sleeps advance it, so nothing waits for real.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HostNotAllowedError,
  InputValidationError,
  S1ApprovalRequiredError,
  S1AuthError,
  S1ExecutionNotStartedError,
  S1ForbiddenError,
  S1RateLimitedError,
  S1ResponseError,
  S1TransientError,
} from '../../lambdas/shared/errors';
import type { CredentialSource } from '../../lambdas/shared/http';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { SecretReader, secretCredential, staticCredential } from '../../lambdas/shared/secrets';
import {
  assertDownloadUrl,
  classifyTaskStatus,
  createS1Client,
  type S1Client,
  type S1ClientOptions,
  siteHasModule,
} from '../../lambdas/shared/sentinelone';
import {
  createManualClock,
  type DemoTenant,
  type ManualClock,
  type RequestLogEntry,
  type S1Simulator,
  type S1SimulatorOptions,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';

const TOKEN = 'S1tok-0123456789abcdefABCDEF-client-test-token';
const BIG_ID = '1913920934584665209';

let clock: ManualClock;
let sim: S1Simulator;
let tenant: DemoTenant;
let sleeps: number[];

async function start(options: S1SimulatorOptions = {}) {
  clock = createManualClock();
  sim = await startS1Simulator({ clock: clock.now, rateLimits: false, ...options });
  tenant = seedDemoTenant(sim, { token: TOKEN });
}

function client(overrides: Partial<S1ClientOptions> = {}): S1Client {
  return createS1Client({
    consoleUrl: sim.url,
    credentials: staticCredential(TOKEN, 'ApiToken'),
    hostPolicy: { allowLoopback: true },
    retry: { maxAttempts: 4, maxElapsedMs: 600_000, baseDelayMs: 100, maxDelayMs: 1_000 },
    random: () => 0.5,
    // Retry waits pass in simulated time only: the simulator's buckets refill, the test does not wait.
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
    ...overrides,
  });
}

function apiCalls(route: string, method?: string): RequestLogEntry[] {
  return sim.requests.filter(
    (entry) => entry.host === 'api' && entry.route === route && (!method || entry.method === method),
  );
}

/** Gives an existing agent a chosen id (the simulator's ids are random 19-digit strings). */
function renameAgent(agentId: string, newId: string) {
  const agent = sim.state.agents.get(agentId);
  if (!agent) throw new Error('no such agent');
  sim.state.agents.delete(agentId);
  agent.id = newId;
  sim.state.agents.set(newId, agent);
  return agent;
}

beforeEach(async () => {
  sleeps = [];
  await start();
});

afterEach(async () => {
  await sim.close();
  clearRegisteredSecrets();
});

describe('paging', () => {
  it.each([
    ['null', null],
    ['""', ''],
  ] as const)('reads every page of threats when the last cursor is %s', async (_label, cursorEnd) => {
    sim.config.cursorEnd = cursorEnd;
    for (let i = 0; i < 23; i++) {
      sim.addThreat({ agentId: tenant.agents.linux.id, createdAt: clock.now() - 60_000 + i });
    }
    const pages: number[] = [];
    for await (const page of client().listThreatPages({ limit: 10 })) pages.push(page.length);
    expect(pages).toEqual([10, 10, 5]);
    const calls = apiCalls('/threats');
    expect(calls).toHaveLength(3);
    expect(calls[0]?.query.cursor).toBeUndefined();
    expect(calls[2]?.query.cursor).toEqual(expect.any(String));
  });

  it('filters threats incrementally by creation time, oldest first', async () => {
    const after = new Date(clock.now() - 7 * 60_000).toISOString();
    const threats = [];
    for await (const threat of client().listThreats({
      createdAfter: after,
      confidenceLevels: ['suspicious'],
    })) {
      threats.push(threat);
    }
    expect(threats.map((t) => t.id)).toEqual([tenant.threats.linux.id]);
    expect(threats[0]?.agentRealtimeInfo?.agentId).toBe(tenant.agents.linux.id);
    expect(apiCalls('/threats')[0]?.query).toMatchObject({
      createdAt__gt: after,
      confidenceLevels: 'suspicious',
      sortBy: 'createdAt',
      sortOrder: 'asc',
    });
  });

  it('stops with a typed error instead of looping when the cursor repeats', async () => {
    const page = { data: [], pagination: { nextCursor: 'c2FtZQ==', totalItems: null } };
    sim.faults.add({ match: { path: '/agents' }, action: { type: 'status', status: 200, body: page } });
    await expect(client().getAgents([tenant.agents.linux.id])).rejects.toThrow(S1ResponseError);
    expect(apiCalls('/agents')).toHaveLength(2);
  });

  it('splits a long agent id list into chunks and pages each to the end', async () => {
    const ids = Array.from({ length: 150 }, () => sim.addAgent({ siteId: tenant.sites.rso.id }).id);
    const agents = await client().getAgents(ids);
    expect(new Set(agents.map((a) => a.id))).toEqual(new Set(ids));
    const calls = apiCalls('/agents');
    expect(calls).toHaveLength(2);
    expect(String(calls[0]?.query.ids).split(',')).toHaveLength(100);
  });
});

describe('19-digit ids', () => {
  it('round-trip exactly as strings (agent id and parent task id)', async () => {
    const agent = renameAgent(tenant.agents.linux.id, BIG_ID);
    expect(Number(BIG_ID)).not.toBe(BigInt(BIG_ID)); // the point: a number would round
    const [found] = await client().getAgents([BIG_ID]);
    expect(found?.id).toBe(BIG_ID);
    expect(found?.computerName).toBe(agent.computerName);

    const run = await client().execute({
      agentIds: [BIG_ID],
      scriptId: tenant.builtinScript.id,
      taskDescription: 'test: big ids',
    });
    const record = sim.state.executions.at(-1);
    expect(record?.filter).toEqual({ ids: [BIG_ID] });
    expect(run.parentTaskId).toBe(record?.parentTaskId);
    expect(run.parentTaskId).toMatch(/^\d{19}$/);
    const rows = await client().getTaskStatus(run.parentTaskId);
    expect(rows.map((r) => [r.parentTaskId, r.agentId])).toEqual([[run.parentTaskId, BIG_ID]]);
    expect(apiCalls('/remote-scripts/status')[0]?.query.parentTaskId).toBe(run.parentTaskId);
  });

  it('never uses an id that lost digits as a JSON number: the agent row is skipped, not rounded', async () => {
    const body = `{"data":[{"id":${BIG_ID},"computerName":"x"}],"pagination":{"nextCursor":null}}`;
    sim.faults.add({
      match: { path: '/agents' },
      action: { type: 'status', status: 200, body: JSON.parse(body) },
    });
    await expect(client().getAgents([BIG_ID])).resolves.toEqual([]);
  });

  it('refuses a task row of ours whose id lost digits, rather than skipping the task', async () => {
    const body = `{"data":[{"id":${BIG_ID},"parentTaskId":"123","status":"completed"}],"pagination":{}}`;
    sim.faults.add({
      match: { path: '/remote-scripts/status' },
      action: { type: 'status', status: 200, body: JSON.parse(body) },
    });
    await expect(client().getTaskStatus('123')).rejects.toThrow(/field "id"/);
  });
});

describe('retries', () => {
  it('honours Retry-After on 429 and then succeeds', async () => {
    sim.faults.respond(429, { match: { path: '/agents' }, times: 2, retryAfter: 3 });
    const agents = await client().getAgents([tenant.agents.linux.id]);
    expect(agents).toHaveLength(1);
    expect(sleeps).toEqual([3_000, 3_000]);
    expect(apiCalls('/agents').map((e) => e.status)).toEqual([429, 429, 200]);
  });

  it('backs off with jitter on 429 without Retry-After', async () => {
    sim.faults.respond(429, { match: { path: '/agents' }, times: 1 });
    await client().getAgents([tenant.agents.linux.id]);
    // First retry: random (0.5) × min(maxDelay, base·2^0) = 50 ms.
    expect(sleeps).toEqual([50]);
  });

  it("survives the simulator's own per-token rate limit", async () => {
    await sim.close();
    await start({ rateLimits: [{ name: 'agents', match: '/agents', ratePerSecond: 1, burst: 1 }] });
    const s1 = client();
    await s1.getAgents([tenant.agents.linux.id]);
    await s1.getAgents([tenant.agents.windows.id]);
    expect(apiCalls('/agents').map((e) => e.status)).toEqual([200, 429, 200]);
    expect(sleeps).toEqual([1_000]);
  });

  it('retries 5xx on reads and then succeeds', async () => {
    sim.faults.respond(503, { match: { path: '/remote-scripts/status' }, times: 2 });
    const run = await client().execute({
      agentIds: [tenant.agents.linux.id],
      scriptId: tenant.builtinScript.id,
      taskDescription: 'test: 5xx',
    });
    const rows = await client().getTaskStatus(run.parentTaskId);
    expect(rows).toHaveLength(1);
    expect(apiCalls('/remote-scripts/status').map((e) => e.status)).toEqual([503, 503, 200]);
  });

  it('gives up after the cap with S1TransientError / S1RateLimitedError', async () => {
    sim.faults.respond(503, { match: { path: '/agents' } });
    await expect(client().getAgents([tenant.agents.linux.id])).rejects.toThrow(S1TransientError);
    expect(apiCalls('/agents')).toHaveLength(4);

    sim.faults.clear();
    sim.clearRequests();
    sim.faults.respond(429, { match: { path: '/sites' } });
    const error = await client()
      .getSites()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S1RateLimitedError);
    expect((error as S1RateLimitedError).status).toBe(429);
    expect(apiCalls('/sites')).toHaveLength(4);
  });

  it('never repeats an execute after an ambiguous 5xx (it could run the script twice)', async () => {
    sim.faults.respond(502, { match: { path: '/remote-scripts/execute' }, times: 1 });
    await expect(
      client().execute({
        agentIds: [tenant.agents.linux.id],
        scriptId: tenant.builtinScript.id,
        taskDescription: 'test: no double run',
      }),
    ).rejects.toThrow(S1TransientError);
    expect(apiCalls('/remote-scripts/execute')).toHaveLength(1);
  });
});

describe('credential refresh after 401', () => {
  const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:s1cado/s1-api-AbCdEf';

  function secretBacked(): { credentials: CredentialSource; setSecret: (token: string) => void } {
    const sm = new SecretsManagerClient({ region: 'us-east-1' });
    const mock = mockClient(sm);
    const setSecret = (token: string) =>
      mock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ apiToken: token }) });
    setSecret(TOKEN);
    return {
      credentials: secretCredential(new SecretReader({ client: sm }), ARN, 'apiToken', 'ApiToken'),
      setSecret,
    };
  }

  it('re-reads a rotated secret once and succeeds with the new token', async () => {
    const { credentials, setSecret } = secretBacked();
    const s1 = client({ credentials });
    expect((await s1.getCurrentUser()).id).toBe(tenant.serviceUser.user.id);

    const rotated = sim.rotateToken(TOKEN, 'S1tok-rotated-9876543210zyxwvuZYXWVU-new');
    setSecret(rotated);
    sim.clearRequests();
    expect((await s1.getCurrentUser()).id).toBe(tenant.serviceUser.user.id);
    expect(apiCalls('/user').map((e) => [e.status, e.headers.authorization])).toEqual([
      [401, `ApiToken ${TOKEN}`],
      [200, `ApiToken ${rotated}`],
    ]);
  });

  it('throws S1AuthError after one re-read and one more try when the secret still holds the revoked token', async () => {
    const { credentials } = secretBacked();
    const s1 = client({ credentials });
    sim.revokeToken(TOKEN);
    await expect(s1.getCurrentUser()).rejects.toThrow(S1AuthError);
    // A 401 may be a passing glitch: the call is tried once more after the re-read, never a third time.
    expect(apiCalls('/user')).toHaveLength(2);
  });
});

describe('script library', () => {
  it('uploads multipart with one part per field as S1 expects, then lists, reads and deletes it', async () => {
    const content = Buffer.from('#!/bin/bash\necho "triage" > "$S1_OUTPUT_DIR_PATH/out.txt"\n');
    const s1 = client();
    const script = await s1.uploadScript({
      content,
      fileName: 'triage.sh',
      scriptName: 's1cado triage v1',
      scriptType: 'dataCollection',
      osTypes: ['linux', 'macos'],
      scopeLevel: 'site',
      scopeId: tenant.sites.rso.id,
      runtimeTimeoutSeconds: 900,
      description: 'Collects triage data',
    });
    const [entry] = apiCalls('/remote-scripts', 'POST');
    expect(entry?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(entry?.body).toEqual({
      fields: {
        scriptName: 's1cado triage v1',
        scriptType: 'dataCollection',
        osTypes: 'linux,macos',
        inputRequired: 'false',
        scopeLevel: 'site',
        scopeId: tenant.sites.rso.id,
        scriptRuntimeTimeoutSeconds: '900',
        scriptDescription: 'Collects triage data',
      },
      files: [
        { field: 'file', filename: 'triage.sh', contentType: expect.any(String), size: content.length },
      ],
    });
    expect(script.id).toMatch(/^\d{19}$/);
    expect(script.osTypes).toEqual(['linux', 'macos']);
    expect(sim.state.scripts.get(script.id)?.content.equals(content)).toBe(true);

    const listed = await s1.listScripts({
      query: 'triage',
      scriptType: 'dataCollection',
      osTypes: ['linux'],
    });
    expect(listed.map((s) => s.id)).toEqual([script.id]);
    expect(await s1.getScriptContent(script.id)).toBe(content.toString('utf8'));
  });

  it('reads a string "affected" as a number', async () => {
    sim.config.numbersAsStrings = true;
    expect(await client().addThreatNote([tenant.threats.linux.id], 'note')).toEqual({ affected: 1 });
  });
});

describe('execute', () => {
  it('refuses an empty or absent target and sends nothing', async () => {
    const s1 = client();
    for (const agentIds of [[], undefined]) {
      await expect(
        s1.execute({
          agentIds: agentIds as unknown as string[],
          scriptId: tenant.builtinScript.id,
          taskDescription: 'must not run',
        }),
      ).rejects.toThrow(InputValidationError);
    }
    expect(apiCalls('/remote-scripts/execute')).toHaveLength(0);
    expect(sim.state.executions).toHaveLength(0);
  });

  it('sends filter.ids and the run options, and returns the parent task', async () => {
    const run = await client().execute({
      agentIds: [tenant.agents.linux.id, tenant.agents.linux.id],
      scriptId: tenant.builtinScript.id,
      taskDescription: 'sfn:threat-1 agent-x',
      inputParams: '--quick',
      runtimeTimeoutSeconds: 600,
    });
    expect(run.affected).toBe(1);
    expect(apiCalls('/remote-scripts/execute')[0]?.body).toEqual({
      filter: { ids: [tenant.agents.linux.id] },
      data: {
        scriptId: tenant.builtinScript.id,
        taskDescription: 'sfn:threat-1 agent-x',
        outputDestination: 'SentinelCloud',
        inputParams: '--quick',
        scriptRuntimeTimeoutSeconds: 600,
        requiresApproval: false,
      },
    });
    expect(sim.tasksOf(run.parentTaskId)).toHaveLength(1);
  });

  it('detects the OS-mismatch no-op as S1ExecutionNotStartedError', async () => {
    const error = await client()
      .execute({
        agentIds: [tenant.agents.windows.id],
        scriptId: tenant.builtinScript.id,
        taskDescription: 'x',
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S1ExecutionNotStartedError);
    expect((error as Error).message).toMatch(/osTypes/);
    expect((error as S1ExecutionNotStartedError).details).toMatchObject({ affected: 0, targeted: 1 });
    expect(sim.state.executions[0]?.parentTaskId).toBeNull();
  });

  it('turns a pending approval into S1ApprovalRequiredError carrying the pending execution id', async () => {
    sim.setGuardrail(tenant.sites.rso.id, { enabled: true });
    const error = await client()
      .execute({
        agentIds: [tenant.agents.linux.id],
        scriptId: tenant.builtinScript.id,
        taskDescription: 'x',
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S1ApprovalRequiredError);
    const pendingId = [...sim.state.pendingExecutions.keys()][0];
    expect((error as S1ApprovalRequiredError).details.pendingExecutionId).toBe(pendingId);
  });
});

describe('task status', () => {
  it('classifies what agents report: completed, completed-with-failure, failed, expired, canceled, running', async () => {
    const script = sim.addScript({ scriptName: 'all', osTypes: ['windows', 'linux', 'macos'], content: 'x' });
    const site = tenant.sites.rso.id;
    const agents = {
      succeeded: sim.addAgent({ siteId: site, behavior: { profile: 'complete' } }),
      completedWithFailure: sim.addAgent({ siteId: site, behavior: { profile: 'completedWithFailure' } }),
      failed: sim.addAgent({ siteId: site, behavior: { profile: 'fail' } }),
      expired: sim.addAgent({ siteId: site, isActive: false }),
      canceled: sim.addAgent({ siteId: site, behavior: { profile: 'cancel' } }),
      running: sim.addAgent({ siteId: site, behavior: { profile: 'hang' } }),
    };
    const s1 = client();
    const run = await s1.execute({
      agentIds: Object.values(agents).map((a) => a.id),
      scriptId: script.id,
      taskDescription: 'sfn:classify',
    });
    expect(run.affected).toBe(6);

    const early = await s1.getTaskStatus(run.parentTaskId);
    expect(early.map((r) => classifyTaskStatus(r).outcome)).toEqual(Array(6).fill('running'));

    clock.advance(5 * 3_600_000);
    const rows = await s1.getTaskStatus(run.parentTaskId);
    const byAgent = new Map(rows.map((r) => [r.agentId, classifyTaskStatus(r).outcome]));
    expect(Object.fromEntries(Object.entries(agents).map(([k, a]) => [k, byAgent.get(a.id)]))).toEqual({
      succeeded: 'succeeded',
      completedWithFailure: 'failed',
      failed: 'failed',
      expired: 'expired',
      canceled: 'canceled',
      running: 'running',
    });
    const done = rows.find((r) => r.agentId === agents.succeeded.id);
    expect(done?.scriptResultsSignature).toMatch(/^[0-9a-f]{64}$/);

    const one = await s1.getTaskStatus(run.parentTaskId, {
      childTaskIds: [done?.id ?? ''],
      descriptionContains: 'classify',
    });
    expect(one.map((r) => r.id)).toEqual([done?.id]);
    expect(apiCalls('/remote-scripts/status').at(-1)?.query).toMatchObject({
      ids: done?.id,
      description__contains: 'classify',
    });
  });

  it('pages through more than 1000 child tasks (S1 caps a page at 1000)', async () => {
    const script = sim.addScript({ scriptName: 'w', osTypes: ['windows'], content: 'x' });
    const ids = Array.from({ length: 1001 }, () => sim.addAgent({ siteId: tenant.sites.rso.id }).id);
    const run = await client().execute({ agentIds: ids, scriptId: script.id, taskDescription: 'x' });
    sim.config.cursorEnd = '';
    const rows = await client().getTaskStatus(run.parentTaskId);
    expect(new Set(rows.map((r) => r.agentId))).toEqual(new Set(ids));
    expect(apiCalls('/remote-scripts/status').map((e) => e.query.limit)).toEqual(['1000', '1000']);
  });
});

describe('result links', () => {
  async function completedTask(s1: S1Client) {
    const run = await s1.execute({
      agentIds: [tenant.agents.linux.id],
      scriptId: tenant.builtinScript.id,
      taskDescription: 'sfn:links',
    });
    clock.advance(60_000);
    const [row] = await s1.getTaskStatus(run.parentTaskId);
    if (!row) throw new Error('no task row');
    expect(classifyTaskStatus(row).outcome).toBe('succeeded');
    return row.id;
  }

  it.each(['download_links', 'downloadLinks'] as const)('reads links under data.%s', async (key) => {
    sim.config.fetchFilesKey = key;
    const s1 = client();
    const taskId = await completedTask(s1);
    const result = await s1.fetchFiles([taskId]);
    expect(result.errors).toEqual([]);
    expect(result.links).toEqual([
      { taskId, fileName: expect.stringMatching(/\.zip$/), downloadUrl: expect.any(String) },
    ]);
    const url = result.links[0]?.downloadUrl ?? '';
    expect(new URL(url).origin).toBe(sim.storageUrl);
    expect(assertDownloadUrl(url, { allowLoopback: true }).origin).toBe(sim.storageUrl);
    expect(apiCalls('/remote-scripts/fetch-files')[0]?.body).toEqual({ data: { taskIds: [taskId] } });

    // The link works without any Authorization header (the staging step downloads it that way).
    const response = await request(url);
    expect(response.statusCode).toBe(200);
    await response.body.dump();
  });

  it('reads links nested under data.data.downloadLinks (the generated spec shape)', async () => {
    const body = {
      data: {
        data: {
          downloadLinks: [
            { taskId: BIG_ID, fileName: 'r.zip', downloadUrl: 'https://b.s3.amazonaws.com/r?x=1' },
          ],
        },
      },
    };
    sim.faults.add({
      match: { path: '/remote-scripts/fetch-files' },
      action: { type: 'status', status: 200, body },
    });
    expect((await client().fetchFiles([BIG_ID])).links).toEqual([
      { taskId: BIG_ID, fileName: 'r.zip', downloadUrl: 'https://b.s3.amazonaws.com/r?x=1' },
    ]);
  });

  it('reports per-task errors, and tasks S1 says nothing about', async () => {
    const s1 = client();
    const done = await completedTask(s1);
    const pending = await s1.execute({
      agentIds: [tenant.agents.offline.id],
      scriptId: sim.addScript({ scriptName: 'w', osTypes: ['windows'], content: 'x' }).id,
      taskDescription: 'x',
    });
    const pendingTask = sim.tasksOf(pending.parentTaskId)[0]?.id ?? '';
    const result = await s1.fetchFiles([done, pendingTask, BIG_ID]);
    expect(result.links.map((l) => l.taskId)).toEqual([done]);
    expect(result.errors).toEqual([
      { taskId: pendingTask, errorString: expect.stringMatching(/not completed/) },
      { taskId: BIG_ID, errorString: 'Task not found' },
    ]);

    sim.faults.add({
      match: { path: '/remote-scripts/fetch-files' },
      action: { type: 'status', status: 200, body: { data: { download_links: [], errors: [] } } },
    });
    expect((await s1.fetchFiles([done])).errors).toEqual([
      { taskId: done, errorString: expect.stringMatching(/no download link/) },
    ]);
  });

  it('refuses a download URL off the allowlist', async () => {
    const s1 = client();
    const taskId = await completedTask(s1);
    const [link] = (await s1.fetchFiles([taskId])).links;
    const error = (() => {
      try {
        assertDownloadUrl(link?.downloadUrl ?? '', {
          allowedHosts: ['*.amazonaws.com'],
          allowLoopback: false,
        });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(HostNotAllowedError);
    expect(error?.message).not.toMatch(/X-Amz-Signature/i);
  });
});

describe('cancel', () => {
  async function pendingRun(s1: S1Client) {
    const script = sim.addScript({ scriptName: 'w', osTypes: ['windows'], content: 'x' });
    return s1.execute({ agentIds: [tenant.agents.offline.id], scriptId: script.id, taskDescription: 'x' });
  }

  it('cancels undelivered tasks through the private endpoint', async () => {
    const s1 = client();
    const run = await pendingRun(s1);
    expect(await s1.cancelTasks({ parentTaskId: run.parentTaskId })).toEqual({
      attempted: true,
      affected: 1,
    });
    expect(apiCalls('/private/tasks/cancel-task')[0]?.body).toEqual({
      filter: { parentTaskId__in: [run.parentTaskId] },
    });
    const [row] = await s1.getTaskStatus(run.parentTaskId);
    expect(row && classifyTaskStatus(row).outcome).toBe('canceled');
  });

  it.each([404, 405, 403])('reports unsupported instead of failing on %s', async (status) => {
    const s1 = client();
    const run = await pendingRun(s1);
    sim.faults.respond(status, { match: { path: '/private/tasks/cancel-task' } });
    expect(await s1.cancelTasks({ childTaskIds: sim.tasksOf(run.parentTaskId).map((t) => t.id) })).toEqual({
      attempted: true,
      affected: 0,
      unsupported: true,
    });
  });

  it('reports unsupported when the user may not cancel', async () => {
    const s1 = client();
    const run = await pendingRun(s1);
    sim.revoke(tenant.serviceUser.user.id, 'Remote Script Orchestration.cancelDataCollectionScript');
    expect(await s1.cancelTasks({ parentTaskId: run.parentTaskId })).toMatchObject({ unsupported: true });
  });
});

describe('threats', () => {
  it('gets threats by id and adds a note', async () => {
    const s1 = client();
    const threats = await s1.getThreats([tenant.threats.windows.id]);
    expect(threats.map((t) => [t.id, t.threatInfo?.confidenceLevel])).toEqual([
      [tenant.threats.windows.id, 'malicious'],
    ]);
    expect(await s1.addThreatNote([tenant.threats.windows.id], 'Evidence staged: s3://bucket/key')).toEqual({
      affected: 1,
    });
    expect(apiCalls('/threats/notes')[0]?.body).toEqual({
      filter: { ids: [tenant.threats.windows.id] },
      data: { text: 'Evidence staged: s3://bucket/key' },
    });
    expect(sim.state.notes.get(tenant.threats.windows.id)?.map((n) => n.text)).toEqual([
      'Evidence staged: s3://bucket/key',
    ]);
  });
});

describe('audit helpers', () => {
  it('reads the current user, token expiry, role pages, sites and system status', async () => {
    const s1 = client();
    const user = await s1.getCurrentUser();
    expect(user).toMatchObject({
      id: tenant.serviceUser.user.id,
      fullName: 's1cado-service',
      scope: 'account',
    });
    const roleId = user.scopeRoles?.[0]?.roleId ?? '';
    expect(roleId).toBe(tenant.serviceUser.role.id);
    expect(Date.parse(user.apiToken?.expiresAt ?? '')).toBe(tenant.serviceUser.tokenRecord.expiresAt);

    const details = await s1.getApiTokenDetails(TOKEN);
    expect(Date.parse(details.expiresAt ?? '')).toBe(tenant.serviceUser.tokenRecord.expiresAt);
    const [tokenCall] = apiCalls('/users/api-token-details');
    expect(tokenCall?.body).toEqual({ data: { apiToken: TOKEN } });
    expect(JSON.stringify(tokenCall?.query)).not.toContain(TOKEN);

    sim.config.rsoPageName = 'RemoteOps';
    const role = await s1.getRole(roleId);
    const rso = role.pages?.find((page) => page.identifier === 'remoteScriptOrchestration');
    expect(rso?.name).toBe('RemoteOps');
    expect(rso?.permissions?.find((p) => p.identifier === 'runDataCollectionScript')?.value).toBe(true);

    sim.config.cursorEnd = '';
    const sites = await s1.getSites();
    expect(new Map(sites.map((site) => [site.id, siteHasModule(site)]))).toEqual(
      new Map([
        [tenant.sites.rso.id, true],
        [tenant.sites.noRso.id, false],
      ]),
    );
    const [only] = await s1.getSites({ siteIds: [tenant.sites.noRso.id] });
    expect(only?.name).toBe('Branch Office');
    expect(apiCalls('/sites').at(-1)?.query.siteIds).toBe(tenant.sites.noRso.id);

    expect((await s1.systemStatus()).health).toBe('ok');
  });

  it('surfaces a missing permission as S1ForbiddenError', async () => {
    const s1 = client({ credentials: staticCredential(tenant.limitedUser.token, 'ApiToken') });
    await expect(s1.getRole(tenant.limitedUser.role.id)).rejects.toThrow(S1ForbiddenError);
  });
});
