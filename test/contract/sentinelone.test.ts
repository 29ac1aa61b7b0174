/**
 * The real S1 client against responses recorded by Cortex XSOAR, Kibana, SEKOIA, Rapid7 and Swimlane (see
 * fixtures/SOURCES.md), replayed from a loopback server. Each test checks what we read (fields where we read them,
 * ids as exact strings) and what we sent (method, path, query, body field names) against what those integrations
 * send to the real API.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { s1SitesCheck, siteWithoutRsoReason } from '../../lambdas/shared/audit/checks';
import {
  S1ExecutionNotStartedError,
  S1RemoteOpsRefusedError,
  S1ResponseError,
  S1ValidationError,
} from '../../lambdas/shared/errors';
import { logger } from '../../lambdas/shared/observability';
import { staticCredential } from '../../lambdas/shared/secrets';
import {
  classifyTaskStatus,
  createS1Client,
  type S1Site,
  siteHasModule,
  siteLicence,
  type TaskStatusFields,
} from '../../lambdas/shared/sentinelone';
import { fixture, type ReplayServer, type Route, startReplay } from './replay';

const TOKEN = 'S1tok-contract-0123456789abcdefABCDEF';
const API = '/web/api/v2.1';

let server: ReplayServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.restoreAllMocks();
});

async function client(routes: Route[]) {
  server = await startReplay(routes.map((r) => ({ ...r, path: `${API}${r.path}` })));
  return createS1Client({
    consoleUrl: server.url,
    credentials: staticCredential(TOKEN, 'ApiToken'),
    hostPolicy: { allowLoopback: true },
    retry: { maxAttempts: 1 },
  });
}

function calls(path: string) {
  return server?.calls(`${API}${path}`) ?? [];
}

/** Fixtures that hold only the `data` array of a list answer (XSOAR's test_data files) get the envelope back. */
function page(rows: unknown, nextCursor: string | null = null) {
  return { data: rows, pagination: { nextCursor, totalItems: Array.isArray(rows) ? rows.length : 0 } };
}

/** Every request carried the token in the Authorization header only, never in the URL. */
function expectTokenInHeaderOnly() {
  for (const request of server?.requests ?? []) {
    expect(request.headers.authorization).toBe(`ApiToken ${TOKEN}`);
    expect(request.url).not.toContain(TOKEN);
    expect(request.url.toLowerCase()).not.toContain('apitoken');
  }
}

describe('agents', () => {
  it('reads the XSOAR agent record: id and scope as exact strings, state flags as sent', async () => {
    const s1 = await client([
      { method: 'GET', path: '/agents', replies: [{ body: page(fixture('s1/xsoar-agents.json')) }] },
    ]);
    const [agent] = await s1.getAgents(['657613730168123595']);
    expect(agent).toMatchObject({
      id: '657613730168123595',
      uuid: 'f431b0a1a8744d2a8a92fc88fa3c13bc',
      computerName: 'EC2AMAZ-AJ0KANC',
      osType: 'windows',
      isActive: false,
      isDecommissioned: true,
      isUninstalled: false,
      networkStatus: 'connecting',
      siteId: '475482421366727779',
      accountId: '433241117337583618',
      groupId: '475482421375116388',
    });
    const [request] = calls('/agents');
    // XSOAR and Kibana filter /agents by `ids`; we page with the documented limit and skip the count.
    expect(request).toMatchObject({
      method: 'GET',
      query: { ids: '657613730168123595', limit: '1000', skipCount: 'true' },
    });
    expectTokenInHeaderOnly();
  });

  it("follows Kibana's nextCursor to the next page and keeps the 19-digit id exact", async () => {
    const s1 = await client([
      {
        method: 'GET',
        path: '/agents',
        replies: [
          { body: fixture('s1/kibana-agents.json') },
          { body: fixture('s1/rapid7-agents-empty.json') },
        ],
      },
    ]);
    const agents = await s1.getAgents(['1913920934584665209']);
    expect(agents.map((a) => a.id)).toEqual(['1913920934584665209']);
    expect(agents[0]).toMatchObject({ osType: 'linux', siteId: '1392053568582758390', isActive: true });
    expect(calls('/agents').map((r) => r.query.cursor)).toEqual([undefined, 'after-1']);
  });

  it('skips one row that fails its schema with a warning naming the field, and keeps the others', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const broken = fixture<Record<string, unknown>[]>('s1/xsoar-agents.json')[0] as Record<string, unknown>;
    delete broken.id; // the kind of drift a strict parser dies on
    const good = fixture<{ data: unknown[] }>('s1/kibana-agents.json').data[0];
    const s1 = await client([{ method: 'GET', path: '/agents', replies: [{ body: page([broken, good]) }] }]);
    const agents = await s1.getAgents(['1913920934584665209', '657613730168123595']);
    expect(agents.map((a) => a.id)).toEqual(['1913920934584665209']);
    const skipped = warn.mock.calls.filter(([message]) =>
      String(message).includes('does not match its schema'),
    );
    expect(skipped).toHaveLength(1);
    expect(skipped[0]?.[1]).toMatchObject({ path: '/agents', field: 'id', problem: 'is missing', row: 0 });
  });
});

describe('threats', () => {
  it('reads the XSOAR v2.1 threat where the intake reads it, then ends on a null cursor', async () => {
    const s1 = await client([
      {
        method: 'GET',
        path: '/threats',
        replies: [
          {
            body: {
              ...fixture<object>('s1/xsoar-threats-2_1.json'),
              pagination: { nextCursor: 'next-page' },
            },
          },
          { body: fixture('s1/rapid7-threats-empty.json') },
        ],
      },
    ]);
    const threats = [];
    for await (const threat of s1.listThreats({ createdAfter: '2019-09-15T00:00:00.000000Z' }))
      threats.push(threat);
    expect(threats).toHaveLength(1);
    const [threat] = threats;
    expect(threat?.id).toBe('715718962991148224');
    expect(threat?.threatInfo).toMatchObject({
      threatId: '715718962991148224',
      createdAt: '2019-09-15T12:05:49.095889Z',
      classification: 'Malware',
      confidenceLevel: 'malicious',
      sha1: '3395856ce81f2b7382dee72602f798b642f14140',
    });
    expect(threat?.agentRealtimeInfo).toMatchObject({
      agentId: '657613730168123595',
      agentOsType: 'windows',
      siteId: '475482421366727779',
    });
    const [first, second] = calls('/threats');
    // Range filters with the double-underscore suffix, as XSOAR and Kibana send them; microseconds kept.
    expect(first?.query).toMatchObject({
      createdAt__gt: '2019-09-15T00:00:00.000000Z',
      sortBy: 'createdAt',
      sortOrder: 'asc',
      limit: '100',
    });
    expect(second?.query.cursor).toBe('next-page');
  });

  it('adds a note with the body Swimlane documents ({filter:{ids}, data:{text}}) and reads affected', async () => {
    const s1 = await client([
      {
        method: 'POST',
        path: '/threats/notes',
        replies: [{ body: fixture('s1/swimlane-threat-note.json'), headers: { 'x-rqid': 'f71d36aa' } }],
      },
    ]);
    await expect(s1.addThreatNote(['715718962991148224'], 'collected by s1cado')).resolves.toEqual({
      affected: 1,
    });
    expect(calls('/threats/notes')[0]?.body).toEqual({
      filter: { ids: ['715718962991148224'] },
      data: { text: 'collected by s1cado' },
    });
  });

  it('takes a 200 whose errors list holds an empty object (Rapid7) as the success it is', async () => {
    const s1 = await client([
      {
        method: 'POST',
        path: '/threats/notes',
        replies: [{ body: fixture('s1/rapid7-affected-with-empty-error.json') }],
      },
    ]);
    await expect(s1.addThreatNote(['715718962991148224'], 'x')).resolves.toEqual({ affected: 1 });
  });
});

describe('execute', () => {
  it('reads parentTaskId from the SEKOIA answer and sends the body XSOAR, Kibana and SEKOIA send', async () => {
    const s1 = await client([
      {
        method: 'POST',
        path: '/remote-scripts/execute',
        replies: [{ body: fixture('s1/sekoia-execute.json') }],
      },
    ]);
    const run = await s1.execute({
      agentIds: ['1234567'],
      scriptId: '1234566789',
      taskDescription: 'inv-1 collect',
      inputParams: '--case inv-1',
      runtimeTimeoutSeconds: 60,
    });
    expect(run).toMatchObject({ parentTaskId: '1234567890', affected: 1 });
    const body = calls('/remote-scripts/execute')[0]?.body as {
      filter: object;
      data: Record<string, unknown>;
    };
    expect(body.filter).toEqual({ ids: ['1234567'] });
    // Field names the public integrations put under data (reference §execute); nothing else.
    const known = [
      'scriptId',
      'taskDescription',
      'outputDestination',
      'inputParams',
      'scriptRuntimeTimeoutSeconds',
      'requiresApproval',
      'password',
    ];
    expect(Object.keys(body.data).every((key) => known.includes(key))).toBe(true);
    expect(body.data).toMatchObject({
      scriptId: '1234566789',
      taskDescription: 'inv-1 collect',
      outputDestination: 'SentinelCloud',
      inputParams: '--case inv-1',
      scriptRuntimeTimeoutSeconds: 60,
    });
  });

  it("refuses XSOAR's affected-only answer with a typed error that says the tasks cannot be followed", async () => {
    const s1 = await client([
      {
        method: 'POST',
        path: '/remote-scripts/execute',
        replies: [{ body: fixture('s1/xsoar-execute-affected-only.json') }],
      },
    ]);
    const error = await s1
      .execute({ agentIds: ['1234567'], scriptId: '1', taskDescription: 't' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(S1ExecutionNotStartedError);
    expect(error.message).toContain('affected 1 agent(s) but returned no parentTaskId');
    expect(calls('/remote-scripts/execute')).toHaveLength(1); // never re-sent: it may have run
  });
});

describe('execute refusals', () => {
  it('turns a refusal that names RemoteOps into S1RemoteOpsRefusedError carrying what S1 said', async () => {
    // Constructed: no public recording of this refusal exists; the body has the recorded error shape (XSOAR).
    const body = fixture<{ errors: { detail: string }[] }>('s1/xsoar-validation-error.json');
    (body.errors[0] as { detail: string }).detail =
      'Remote Script Orchestration is not enabled for this site';
    const s1 = await client([
      { method: 'POST', path: '/remote-scripts/execute', replies: [{ status: 400, body }] },
    ]);
    const error = await s1
      .execute({ agentIds: ['1234567'], scriptId: '1', taskDescription: 't' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(S1RemoteOpsRefusedError);
    expect(error.message).toContain('because of RemoteOps on their site');
    expect(error.message).toContain('Remote Script Orchestration is not enabled for this site');
  });

  it('leaves other refusals as they are', async () => {
    const s1 = await client([
      {
        method: 'POST',
        path: '/remote-scripts/execute',
        replies: [{ status: 400, body: fixture('s1/xsoar-validation-error.json') }],
      },
    ]);
    const error = await s1
      .execute({ agentIds: ['1234567'], scriptId: '1', taskDescription: 't' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(S1ValidationError);
  });
});

describe('task status', () => {
  it('reads the XSOAR status row and filters by parentTaskId as XSOAR does', async () => {
    const s1 = await client([
      {
        method: 'GET',
        path: '/remote-scripts/status',
        replies: [{ body: page(fixture('s1/xsoar-task-status-completed.json')) }],
      },
    ]);
    const [row] = await s1.getTaskStatus('123456789');
    expect(row).toMatchObject({
      id: '123456',
      parentTaskId: '123456789',
      agentId: '0987654321',
      status: 'completed',
      detailedStatus: 'Execution completed successfully',
      statusCode: null,
      scriptResultsSignature: '34324324324324235r24fe2r2333432',
    });
    expect(classifyTaskStatus(row as TaskStatusFields).outcome).toBe('succeeded');
    expect(calls('/remote-scripts/status')[0]?.query).toMatchObject({
      parentTaskId: '123456789',
      limit: '1000',
    });
  });

  it('does not skip a row of our execution that lacks its id (SEKOIA): a typed error names the field and agent', async () => {
    const s1 = await client([
      {
        method: 'GET',
        path: '/remote-scripts/status',
        replies: [{ body: fixture('s1/sekoia-task-status-completed-failure.json') }],
      },
    ]);
    const error = await s1.getTaskStatus('1234567890').catch((e) => e);
    expect(error).toBeInstanceOf(S1ResponseError);
    expect(error.message).toContain('field "id" is missing');
    expect(error.message).toContain('agent 0123456789');
  });

  it('skips, with a warning, an unreadable row that names another execution', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const ours = fixture<unknown[]>('s1/xsoar-task-status-completed.json');
    const theirs = fixture<{ data: unknown[] }>('s1/sekoia-task-status-in-progress.json').data;
    const s1 = await client([
      { method: 'GET', path: '/remote-scripts/status', replies: [{ body: page([...theirs, ...ours]) }] },
    ]);
    const rows = await s1.getTaskStatus('123456789');
    expect(rows.map((r) => r.id)).toEqual(['123456']);
    expect(warn.mock.calls.some(([, extra]) => (extra as { field?: string })?.field === 'id')).toBe(true);
  });

  it.each([
    ['sekoia-task-status-completed-failure.json', 'failed', 'The execution terminated in failure'],
    ['sekoia-task-status-failed.json', 'failed', 'The execution terminated in failure'],
    ['sekoia-task-status-canceled.json', 'canceled', 'Execution canceled by user'],
    ['sekoia-task-status-in-progress.json', 'running', 'Execution in progress'],
  ])('classifies the recorded row of %s as %s', (file, outcome, detail) => {
    const [row] = fixture<{ data: TaskStatusFields[] }>(`s1/${file}`).data;
    const verdict = classifyTaskStatus(row as TaskStatusFields);
    expect(verdict.outcome).toBe(outcome);
    expect(verdict.reason).toContain(detail);
  });

  it('puts errorReason into the failure reason', () => {
    const [row] = fixture<{ data: TaskStatusFields[] }>('s1/sekoia-task-status-failed.json').data;
    const verdict = classifyTaskStatus({
      ...(row as TaskStatusFields),
      errorReason: 'Script exited with code 3',
    });
    expect(verdict.outcome).toBe('failed');
    expect(verdict.reason).toContain('error reason: Script exited with code 3');
    // A completed row whose only sign of failure is errorReason is not a success.
    const [done] = fixture<TaskStatusFields[]>('s1/xsoar-task-status-completed.json');
    expect(
      classifyTaskStatus({ ...(done as TaskStatusFields), errorReason: 'Zip upload refused' }).outcome,
    ).toBe('failed');
    expect(classifyTaskStatus({ ...(done as TaskStatusFields), errorReason: '' }).outcome).toBe('succeeded');
  });
});

describe('result links', () => {
  it('reads the XSOAR download_links answer and asks with {data:{taskIds}} as XSOAR and Kibana do', async () => {
    const s1 = await client([
      {
        method: 'POST',
        path: '/remote-scripts/fetch-files',
        replies: [{ body: fixture('s1/xsoar-fetch-files.json') }],
      },
    ]);
    const result = await s1.fetchFiles(['1234566']);
    expect(result).toEqual({
      links: [{ taskId: '1234566', fileName: 'file1.zip', downloadUrl: 'https://url/1' }],
      errors: [],
    });
    expect(calls('/remote-scripts/fetch-files')[0]?.body).toEqual({ data: { taskIds: ['1234566'] } });
  });

  it("does not attribute Kibana's link for another task to ours", async () => {
    const s1 = await client([
      {
        method: 'POST',
        path: '/remote-scripts/fetch-files',
        replies: [{ body: fixture('s1/kibana-remote-script-results.json') }],
      },
    ]);
    const result = await s1.fetchFiles(['1234566']);
    expect(result.links).toEqual([]);
    expect(result.errors).toEqual([
      { taskId: '1234566', errorString: expect.stringContaining('no download link') },
    ]);
  });
});

describe('sites and licences', () => {
  it('reads the Swimlane /sites capture: only the site whose modules list rso is licensed', async () => {
    const s1 = await client([
      { method: 'GET', path: '/sites', replies: [{ body: fixture('s1/swimlane-sites.json') }] },
    ]);
    const sites = await s1.getSites();
    expect(sites.map((s) => [s.id, s.name, siteLicence(s)])).toEqual([
      ['1286405255257023125', 'Default site', 'unlicensed'],
      ['1758952600032266153', 'content-test-site', 'licensed'],
      ['1758953501354646085', 'content-second-site', 'unlicensed'],
    ]);
    expect(siteHasModule(sites[1] as S1Site)).toBe(true);
    expect(calls('/sites')[0]?.query).toMatchObject({ limit: '1000', skipCount: 'true' });
  });

  it('reads a /sites answer without licence blocks (Rapid7) as unknown, not unlicensed', async () => {
    const s1 = await client([
      {
        method: 'GET',
        path: '/sites',
        replies: [{ body: fixture('s1/rapid7-sites-without-licenses.json') }],
      },
    ]);
    const sites = await s1.getSites();
    expect(sites.map((s) => s.id)).toEqual([
      '1111-1111-11111111-1111',
      '1111-1111-11111111-1112',
      '1111-1111-11111111-1113',
      '1111-1111-11111111-1114',
    ]);
    expect(sites.map((s) => siteLicence(s))).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
  });

  it('lets the preflight try agents of such sites, and the audit report them as unknown with a console check', async () => {
    const s1 = await client([
      {
        method: 'GET',
        path: '/sites',
        replies: [{ body: fixture('s1/rapid7-sites-without-licenses.json') }],
      },
    ]);
    const sites = await s1.getSites();
    expect(sites.map(siteWithoutRsoReason)).toEqual([undefined, undefined, undefined, undefined]);
    const audit = s1SitesCheck({ ok: true, value: sites });
    expect(audit.status).toBe('unknown');
    expect(audit.reason).toContain('no licence data for 4 of 4 sites');
    expect(audit.fix).toContain('Remote Script Orchestration');
  });

  it('keeps rejecting, and failing the audit for, a site whose module list lacks rso (Swimlane)', async () => {
    const s1 = await client([
      { method: 'GET', path: '/sites', replies: [{ body: fixture('s1/swimlane-sites.json') }] },
    ]);
    const sites = await s1.getSites();
    expect(sites.map((site) => siteWithoutRsoReason(site) !== undefined)).toEqual([true, false, true]);
    expect(s1SitesCheck({ ok: true, value: sites }).status).toBe('fail');
  });

  it('reads the SEKOIA system status', async () => {
    const s1 = await client([
      { method: 'GET', path: '/system/status', replies: [{ body: fixture('s1/sekoia-system-status.json') }] },
    ]);
    await expect(s1.systemStatus()).resolves.toEqual({ health: 'ok' });
  });
});

describe('error bodies', () => {
  it('puts the title and detail of the XSOAR validation error into the typed error', async () => {
    const s1 = await client([
      {
        method: 'GET',
        path: '/sites',
        replies: [{ status: 400, body: fixture('s1/xsoar-validation-error.json') }],
      },
    ]);
    const error = await s1.getSites().catch((e) => e);
    expect(error).toBeInstanceOf(S1ValidationError);
    expect(error.message).toContain(
      'Validation Error - siteIds: 0: Must be greater than or equal to 100000000000000000.',
    );
    expect(error.code).toBe('4000010');
  });

  it('reads the same errors when they arrive under "error", as an object or as a string', async () => {
    const errors = fixture<{ errors: unknown[] }>('s1/xsoar-validation-error.json');
    const s1 = await client([
      {
        method: 'GET',
        path: '/sites',
        replies: [
          { status: 400, body: { error: errors } },
          { status: 400, body: { error: 'Invalid cursor value received' } },
        ],
      },
    ]);
    const nested = await s1.getSites().catch((e) => e);
    expect(nested.message).toContain('siteIds: 0: Must be greater than or equal to');
    expect(nested.code).toBe('4000010');
    const plain = await s1.getSites().catch((e) => e);
    expect(plain.message).toContain('Invalid cursor value received');
  });
});
