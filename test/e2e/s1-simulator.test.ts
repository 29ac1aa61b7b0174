/**
 * Contract of the S1 simulator's console API, exercised with plain fetch: auth, permissions, scope, paging,
 * validation, the execute traps, the task lifecycle under a manual clock, fetch-files, cancel, rate limits and
 * faults. (Downloads, zips and the storage host are in s1-simulator-storage.test.ts.)
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProfile,
  createManualClock,
  DEFAULT_RATE_LIMITS,
  DETAILED_STATUS,
  type DemoTenant,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';

const clock = createManualClock();
let sim: S1Simulator;
let tenant: DemoTenant;
let token: string;

interface CallOptions {
  method?: string;
  token?: string | null;
  json?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
}

/** Fields the tests read from list items and single objects (S1 shapes vary per endpoint). */
interface Item {
  [key: string]: unknown;
  id: string;
  name: string;
  computerName: string;
  text: string;
  pendingExecutionId: string;
  status: string;
  detailedStatus: string;
  updatedAt: string;
  threatInfo: { [key: string]: unknown; createdAt: string };
  agentRealtimeInfo: { agentId: string };
  agentDetectionInfo: { siteId: string | null };
  licenses: { modules: { name: string }[] };
  permissions: { identifier: string; value: boolean }[];
}

interface Link {
  taskId: string;
  fileName: string;
  downloadUrl: string;
}

/** `data` when it is an object. */
interface Data extends Item {
  health: string;
  fullName: string;
  affected: number;
  parentTaskId: string | null;
  pending: boolean;
  requiresApproval: boolean;
  success: boolean;
  createdAt: string;
  expiresAt: string;
  scriptContent: string;
  apiToken: { expiresAt: string };
  pages: Item[];
  sites: Item[];
  allSites: { totalLicenses: number };
  download_links: Link[];
  downloadLinks: Link[];
  errors: { taskId: string; errorString: string }[];
}

interface Body {
  /** An array for list endpoints, an object for the others. */
  data: Data & Item[];
  pagination: { nextCursor: string | null; totalItems: number | null };
  errors: { code: number; title: string; detail: string | null }[];
}

interface Reply {
  status: number;
  headers: Headers;
  body: Body;
}

async function call(path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  const auth = options.token === undefined ? token : options.token;
  if (auth !== null) headers.Authorization = `ApiToken ${auth}`;
  let body: string | FormData | undefined;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form;
  }
  const res = await fetch(`${sim.apiUrl}${path}`, { method: options.method ?? 'GET', headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Body };
}

async function execute(
  agentIds: string[] | undefined,
  scriptId: string,
  extra: Record<string, unknown> = {},
) {
  return call('/remote-scripts/execute', {
    method: 'POST',
    json: {
      ...(agentIds ? { filter: { ids: agentIds } } : {}),
      data: { scriptId, taskDescription: 'test run', outputDestination: 'SentinelCloud', ...extra },
    },
  });
}

function uploadForm(fields: Record<string, string>, content = 'echo collected\n'): FormData {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  form.append('file', new Blob([content], { type: 'application/terminal' }), 'collect.sh');
  return form;
}

/** The single element of a list (fails the test otherwise). */
function only<T>(list: readonly T[]): T {
  expect(list).toHaveLength(1);
  return list[0] as T;
}

function firstError(reply: Reply): Body['errors'][number] {
  const [error] = reply.body.errors;
  if (!error) throw new Error(`expected an error body, got status ${reply.status}`);
  return error;
}

/** The parent task id of an execute answer that started tasks. */
function started(reply: Reply): string {
  expect(reply.status).toBe(200);
  const id = reply.body.data.parentTaskId;
  if (!id) throw new Error('execute started no task');
  return id;
}

let linuxScriptId: string;
let windowsScriptId: string;

beforeAll(async () => {
  sim = await startS1Simulator({ clock: clock.now, seed: 'contract-test' });
  tenant = seedDemoTenant(sim);
  token = tenant.serviceUser.token;
  linuxScriptId = sim.addScript({
    scriptName: 'Linux triage',
    osTypes: ['linux'],
    content: '#!/bin/sh\n',
  }).id;
  windowsScriptId = sim.addScript({
    scriptName: 'Windows triage',
    osTypes: ['windows'],
    content: 'Get-Process',
  }).id;
});

afterAll(async () => {
  await sim.close();
});

afterEach(() => {
  sim.faults.clear();
  sim.rateLimiter.reset();
  sim.config.rateLimitsEnabled = true;
  sim.config.cursorEnd = null;
  sim.config.fetchFilesKey = 'download_links';
  sim.config.retryAfter = 'seconds';
});

describe('envelope, ids and auth', () => {
  it('answers system status without a token, and ignores a stale one', async () => {
    const reply = await call('/system/status', { token: null });
    expect(reply.status).toBe(200);
    expect(reply.body.data.health).toBe('ok');
    expect((await call('/system/status', { token: 'revoked-or-expired' })).status).toBe(200);
  });

  it('sends ids as 19-digit strings and an X-RQID header', async () => {
    const reply = await call('/agents?limit=100');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-rqid')).toMatch(/^[0-9a-f-]{36}$/);
    for (const agent of reply.body.data) {
      expect(agent.id).toMatch(/^\d{19}$/);
      expect(agent.siteId).toMatch(/^\d{19}$/);
      expect(BigInt(agent.id) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    }
  });

  it('refuses a missing, unknown or query-string token with 401 Authentication Failed', async () => {
    const expected = { errors: [{ code: 4010010, title: 'Authentication Failed', detail: null }] };
    expect(await call('/agents', { token: null })).toMatchObject({ status: 401, body: expected });
    expect(await call('/agents', { token: 'not-a-token' })).toMatchObject({ status: 401, body: expected });
    const viaQuery = await call(`/agents?APIToken=${token}`, { token: null });
    expect(viaQuery.status).toBe(401);
  });

  it('accepts the ApiToken scheme in any case', async () => {
    const reply = await call('/agents', { token: null, headers: { Authorization: `APITOKEN ${token}` } });
    expect(reply.status).toBe(200);
  });

  it('rotates a token: the old one fails, the new one works', async () => {
    const extra = sim.addUser({ fullName: 'rotating', scope: 'tenant' });
    const fresh = sim.rotateToken(extra.token);
    expect(fresh).not.toBe(extra.token);
    expect((await call('/user', { token: extra.token })).status).toBe(401);
    const reply = await call('/user', { token: fresh });
    expect(reply.status).toBe(200);
    expect(reply.body.data.fullName).toBe('rotating');
  });

  it('expires tokens in simulated time', async () => {
    const shortLived = sim.addUser({
      fullName: 'short',
      scope: 'tenant',
      tokenExpiresAt: clock.now() + 60_000,
    });
    expect((await call('/user', { token: shortLived.token })).status).toBe(200);
    clock.advance(60_000);
    expect((await call('/user', { token: shortLived.token })).status).toBe(401);
  });

  it('describes the token owner and the token lifetime', async () => {
    const reply = await call('/user');
    expect(reply.body.data).toMatchObject({
      fullName: 's1cado-service',
      scope: 'account',
      scopeRoles: [{ id: tenant.account.id, roleId: tenant.serviceUser.role.id }],
    });
    const details = await call('/users/api-token-details', {
      method: 'POST',
      json: { data: { apiToken: token } },
    });
    expect(details.status).toBe(200);
    expect(details.body.data.expiresAt).toBe(reply.body.data.apiToken.expiresAt);
    expect(Date.parse(details.body.data.expiresAt)).toBe(tenant.serviceUser.tokenRecord.expiresAt);
    expect(details.body.data.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const anonymous = await call('/users/api-token-details', {
      method: 'POST',
      token: null,
      json: { data: { apiToken: 'unknown' } },
    });
    expect(anonymous.status).toBe(401);
  });
});

describe('permissions and scope', () => {
  it('answers 403 Insufficient permissions when the role lacks the run permission', async () => {
    const reply = await call('/remote-scripts/execute', {
      method: 'POST',
      token: tenant.limitedUser.token,
      json: {
        filter: { ids: [tenant.agents.linux.id] },
        data: { scriptId: linuxScriptId, taskDescription: 'x', outputDestination: 'SentinelCloud' },
      },
    });
    expect(reply.status).toBe(403);
    expect(firstError(reply)).toMatchObject({ code: 4030010, title: 'Insufficient permissions' });
    expect(firstError(reply).detail).toContain('runDataCollectionScript');
    expect(sim.tasksOf('none')).toEqual([]);
  });

  it('renders roles as pages of permissions and guards them with Roles.view', async () => {
    const roleId = tenant.serviceUser.role.id;
    const reply = await call(`/rbac/role/${roleId}`);
    expect(reply.status).toBe(200);
    const rso = only(reply.body.data.pages.filter((page) => page.name === 'Remote Script Orchestration'));
    const run = only(rso.permissions.filter((perm) => perm.identifier === 'runDataCollectionScript'));
    expect(run.value).toBe(true);
    expect((await call(`/rbac/role/${roleId}`, { token: tenant.limitedUser.token })).status).toBe(403);

    sim.config.rsoPageName = 'RemoteOps';
    const renamed = await call(`/rbac/role/${roleId}`);
    expect(renamed.body.data.pages.map((page: { name: string }) => page.name)).toContain('RemoteOps');
    sim.config.rsoPageName = 'Remote Script Orchestration';

    sim.revoke(tenant.serviceUser.user.id, 'Roles.view');
    expect((await call(`/rbac/role/${roleId}`)).status).toBe(403);
    sim.grant(tenant.serviceUser.user.id, 'Roles.view');
  });

  it('needs Task Management view to poll status', async () => {
    sim.revoke(tenant.serviceUser.user.id, 'Task Management.view');
    try {
      expect((await call('/remote-scripts/status?parentTaskId=1400000000000000000')).status).toBe(403);
    } finally {
      sim.grant(tenant.serviceUser.user.id, 'Task Management.view');
    }
  });

  it('shows a site-scoped user only its own site', async () => {
    const agents = await call('/agents?limit=100', { token: tenant.limitedUser.token });
    const names = agents.body.data.map((agent: { computerName: string }) => agent.computerName);
    expect(names).toContain('ACME-DC01');
    expect(names).not.toContain('BRANCH-FS01');
    const sites = await call('/sites', { token: tenant.limitedUser.token });
    expect(sites.body.data.sites.map((site: { id: string }) => site.id)).toEqual([tenant.sites.rso.id]);
  });

  it('lists the rso licence module only on licensed sites', async () => {
    const reply = await call('/sites');
    const modules = (id: string) =>
      only(reply.body.data.sites.filter((site) => site.id === id)).licenses.modules.map((m) => m.name);
    expect(modules(tenant.sites.rso.id)).toEqual(['rso']);
    expect(modules(tenant.sites.noRso.id)).toEqual([]);
    expect(reply.body.data.allSites.totalLicenses).toBeGreaterThan(0);
  });
});

describe('paging and validation', () => {
  async function collect(path: string): Promise<{ ids: string[]; cursors: (string | null)[] }> {
    const ids: string[] = [];
    const cursors: (string | null)[] = [];
    let cursor: string | null | undefined;
    for (let guard = 0; guard < 20; guard++) {
      const sep = path.includes('?') ? '&' : '?';
      const url = cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path;
      const reply = await call(url);
      expect(reply.status).toBe(200);
      ids.push(...reply.body.data.map((item: { id: string }) => item.id));
      cursor = reply.body.pagination.nextCursor;
      cursors.push(cursor ?? null);
      if (!cursor) break;
    }
    return { ids, cursors };
  }

  it.each([null, ''] as const)('pages with cursors to the end marker %j', async (marker) => {
    sim.config.cursorEnd = marker;
    const { ids, cursors } = await collect('/agents?limit=2');
    expect(ids).toHaveLength(sim.state.agents.size);
    expect(new Set(ids).size).toBe(ids.length);
    expect(cursors.at(-1)).toBe(marker);
    const last = await call('/agents?limit=100');
    expect(last.body.pagination).toEqual({ nextCursor: marker, totalItems: sim.state.agents.size });
  });

  it('refuses limit over 1000, a bad cursor and malformed ids with 400 Validation Error', async () => {
    const tooMany = await call('/threats?limit=1001');
    expect(tooMany.status).toBe(400);
    expect(firstError(tooMany)).toMatchObject({ code: 4000010, title: 'Validation Error' });
    expect(firstError(await call('/agents?cursor=garbage')).detail).toBe('Invalid cursor value received');
    expect(firstError(await call('/agents?siteIds=0')).detail).toBe(
      'siteIds: 0: Must be greater than or equal to 100000000000000000.',
    );
  });

  it('accepts comma lists and repeated keys alike', async () => {
    const { windows, linux } = tenant.agents;
    const comma = await call(`/agents?ids=${windows.id},${linux.id}`);
    const repeated = await call(`/agents?ids=${windows.id}&ids=${linux.id}`);
    expect(comma.body.data.map((a: { id: string }) => a.id).sort()).toEqual([windows.id, linux.id].sort());
    expect(repeated.body.data).toEqual(comma.body.data);
  });
});

describe('threats and notes', () => {
  it('filters threats by threatInfo.createdAt and keeps the v2.1 shape', async () => {
    const since = new Date(tenant.threats.linux.createdAt - 1).toISOString();
    const reply = await call(`/threats?createdAt__gt=${since}`);
    expect(reply.body.data.map((t: { id: string }) => t.id)).toEqual([tenant.threats.linux.id]);
    const threat = only(reply.body.data);
    expect(threat.threatInfo).toMatchObject({ threatId: threat.id, confidenceLevel: 'suspicious' });
    expect(Date.parse(threat.threatInfo.createdAt)).toBe(tenant.threats.linux.createdAt);
    expect(threat.agentRealtimeInfo.agentId).toBe(tenant.agents.linux.id);
    expect(threat.agentDetectionInfo.siteId).toBeNull();
    expect(threat).not.toHaveProperty('createdAt');
    const malicious = await call('/threats?confidenceLevels=malicious');
    expect(malicious.body.data.map((t: { id: string }) => t.id)).toEqual([tenant.threats.windows.id]);
  });

  it('stores notes per threat and refuses a filter without ids', async () => {
    const id = tenant.threats.windows.id;
    const added = await call('/threats/notes', {
      method: 'POST',
      json: { filter: { ids: [id] }, data: { text: 'evidence staged' } },
    });
    expect(added.body.data.affected).toBe(1);
    const notes = await call(`/threats/${id}/notes`);
    expect(notes.body.data.map((n: { text: string }) => n.text)).toEqual(['evidence staged']);
    expect(sim.state.notes.get(id)?.[0]?.creator).toBe('s1cado-service');
    const unscoped = await call('/threats/notes', {
      method: 'POST',
      json: { filter: {}, data: { text: 'x' } },
    });
    expect(unscoped.status).toBe(400);
  });
});

describe('script library', () => {
  const validFields = {
    scriptName: 'Forensic collector',
    scriptType: 'dataCollection',
    osTypes: 'windows,linux',
    inputRequired: 'false',
    scopeLevel: 'site',
    scriptRuntimeTimeoutSeconds: '900',
    scriptDescription: 'collects triage data',
  };

  it('uploads multipart scripts with a SHA-256 signature and serves their content', async () => {
    const content = '#!/bin/bash\necho "collect"\n';
    const reply = await call('/remote-scripts', {
      method: 'POST',
      form: uploadForm({ ...validFields, scopeId: tenant.sites.rso.id }, content),
    });
    expect(reply.status).toBe(200);
    expect(reply.body.data).toMatchObject({
      scriptName: 'Forensic collector',
      scriptType: 'dataCollection',
      osTypes: ['windows', 'linux'],
      inputRequired: false,
      scriptRuntimeTimeoutSeconds: 900,
      scopeLevel: 'site',
      scopeId: tenant.sites.rso.id,
      signature: createHash('sha256').update(content).digest('hex'),
      fileSize: Buffer.byteLength(content),
    });
    expect(reply.body.data.id).toMatch(/^\d{19}$/);
    const logged = sim.requests.findLast(
      (entry) => entry.route === '/remote-scripts' && entry.method === 'POST',
    );
    expect(logged?.body).toMatchObject({
      fields: { scriptName: 'Forensic collector', osTypes: 'windows,linux' },
      files: [{ field: 'file', filename: 'collect.sh', size: Buffer.byteLength(content) }],
    });
    const source = await call(`/remote-scripts/script-content?scriptId=${reply.body.data.id}`);
    expect(source.body.data.scriptContent).toBe(content);
    const listed = await call('/remote-scripts?query=forensic&osTypes=linux');
    expect(listed.body.data.map((s: { id: string }) => s.id)).toEqual([reply.body.data.id]);
  });

  it.each([
    [{ scriptType: 'DataCollection' }, 'scriptType'],
    [{ osTypes: 'windows,solaris' }, 'osTypes'],
    [{ inputRequired: 'no' }, 'inputRequired'],
    [{ scopeLevel: 'group' }, 'scopeLevel'],
    [{ scriptRuntimeTimeoutSeconds: '0' }, 'scriptRuntimeTimeoutSeconds'],
    [{ scriptName: '' }, 'scriptName'],
  ])('refuses %j with 400 naming the field', async (override, field) => {
    const reply = await call('/remote-scripts', {
      method: 'POST',
      form: uploadForm({ ...validFields, scopeId: tenant.sites.rso.id, ...override }),
    });
    expect(reply.status).toBe(400);
    expect(firstError(reply).title).toBe('Validation Error');
    expect(firstError(reply).detail).toContain(field);
  });

  it('needs scopeId for site scripts and the file part', async () => {
    const noScope = await call('/remote-scripts', { method: 'POST', form: uploadForm(validFields) });
    expect(noScope.status).toBe(400);
    const form = new FormData();
    for (const [key, value] of Object.entries({ ...validFields, scopeId: tenant.sites.rso.id }))
      form.append(key, value);
    form.append('scriptFile', new Blob(['x']), 'x.sh');
    const wrongPart = await call('/remote-scripts', { method: 'POST', form });
    expect(firstError(wrongPart).detail).toContain('file');
  });

  it('deletes only by explicit ids and never built-in scripts', async () => {
    const created = sim.addScript({
      scriptName: 'temp',
      osTypes: ['linux'],
      content: 'x',
      creator: 'me',
      creatorId: '1',
    });
    const noIds = await call('/remote-scripts', { method: 'DELETE', json: { filter: {}, data: {} } });
    expect(noIds.status).toBe(400);
    expect(sim.state.scripts.has(created.id)).toBe(true);
    const deleted = await call('/remote-scripts', {
      method: 'DELETE',
      json: { filter: { ids: [created.id, tenant.builtinScript.id] }, data: {} },
    });
    expect(deleted.body.data.affected).toBe(1);
    expect(sim.state.scripts.has(created.id)).toBe(false);
    expect(sim.state.scripts.has(tenant.builtinScript.id)).toBe(true);
  });
});

describe('execute', () => {
  it('starts one child task per agent under a parent task', async () => {
    const reply = await execute([tenant.agents.linux.id], linuxScriptId);
    expect(reply.body.data).toMatchObject({ affected: 1, pending: false, pendingExecutionId: null });
    const parentTaskId = started(reply);
    expect(parentTaskId).toMatch(/^\d{19}$/);
    const [child] = sim.tasksOf(parentTaskId);
    expect(child?.agentId).toBe(tenant.agents.linux.id);
    expect(child?.id).not.toBe(parentTaskId);
  });

  it('runs on every agent in scope when the filter is empty, and records it', async () => {
    const before = sim.state.executions.length;
    const reply = await execute(undefined, tenant.builtinScript.id);
    expect(reply.status).toBe(200);
    // linux + macos online agents in the RSO site run the Linux/macOS script; nothing else qualifies.
    expect(reply.body.data.affected).toBe(2);
    const record = sim.state.executions[before];
    expect(record?.emptyFilter).toBe(true);
    expect(record?.eligibleAgentIds.sort()).toEqual([tenant.agents.linux.id, tenant.agents.macos.id].sort());
  });

  it('answers 200 without a task on OS mismatch, a site without rso, or a decommissioned agent', async () => {
    const none = { affected: 0, parentTaskId: null, pending: false, pendingExecutionId: null };
    expect((await execute([tenant.agents.windows.id], linuxScriptId)).body.data).toEqual(none);
    expect((await execute([tenant.agents.noRso.id], windowsScriptId)).body.data).toEqual(none);
    expect((await execute([tenant.agents.decommissioned.id], linuxScriptId)).body.data).toEqual(none);
  });

  it('holds the run for approval when the site guardrail applies', async () => {
    sim.setGuardrail(tenant.sites.rso.id, { enabled: true });
    try {
      const check = await call('/remote-scripts/guardrails/check', {
        method: 'POST',
        json: { data: { scriptId: windowsScriptId, agentIds: [tenant.agents.windows.id] } },
      });
      expect(check.body.data.requiresApproval).toBe(true);
      const reply = await execute([tenant.agents.windows.id], windowsScriptId);
      expect(reply.body.data).toMatchObject({ pending: true, parentTaskId: null });
      const pendingId = reply.body.data.pendingExecutionId as string;
      expect(pendingId).toMatch(/^\d{19}$/);
      const listed = await call('/remote-scripts/pending-executions');
      expect(listed.body.data.map((p: { pendingExecutionId: string }) => p.pendingExecutionId)).toContain(
        pendingId,
      );
      const approved = await call(`/remote-scripts/pending-executions/${pendingId}`, {
        method: 'PUT',
        json: { data: { action: 'approve' } },
      });
      expect(approved.body.data.success).toBe(true);
      const parent = sim.state.pendingExecutions.get(pendingId)?.parentTaskId;
      expect(parent && sim.tasksOf(parent).map((t) => t.agentId)).toEqual([tenant.agents.windows.id]);
    } finally {
      sim.setGuardrail(tenant.sites.rso.id, { enabled: false });
    }
  });

  it('validates the data block', async () => {
    const missing = await call('/remote-scripts/execute', {
      method: 'POST',
      json: {
        filter: { ids: [tenant.agents.linux.id] },
        data: { scriptId: linuxScriptId, outputDestination: 'SentinelCloud' },
      },
    });
    expect(missing.status).toBe(400);
    expect(firstError(missing).detail).toContain('taskDescription');
    const badDestination = await execute([tenant.agents.linux.id], linuxScriptId, {
      outputDestination: 'Ftp',
    });
    expect(badDestination.status).toBe(400);
    const unknownScript = await execute([tenant.agents.linux.id], '1999999999999999999');
    expect(unknownScript.status).toBe(404);
  });
});

describe('task lifecycle', () => {
  async function row(parentTaskId: string): Promise<Item> {
    const reply = await call(`/remote-scripts/status?parentTaskId=${parentTaskId}`);
    expect(reply.status).toBe(200);
    return only(reply.body.data);
  }

  it('moves created → pending → in_progress → completed with a result signature', async () => {
    const parentTaskId = started(await execute([tenant.agents.linux.id], linuxScriptId));
    const { createdMs, pickupMs, runMs } = sim.config.taskTiming;
    const first = await row(parentTaskId);
    expect(first).toMatchObject({ status: 'created', parentTaskId, agentId: tenant.agents.linux.id });
    expect(first.id).not.toBe(parentTaskId);
    expect(first).not.toHaveProperty('scriptResultsSignature');
    clock.advance(createdMs);
    expect((await row(parentTaskId)).status).toBe('pending');
    clock.advance(pickupMs - createdMs);
    expect((await row(parentTaskId)).status).toBe('in_progress');
    clock.advance(runMs);
    const done = await row(parentTaskId);
    expect(done).toMatchObject({
      status: 'completed',
      detailedStatus: DETAILED_STATUS.success,
      description: 'test run',
      agentComputerName: 'acme-web-01',
      agentOsType: 'linux',
      siteId: tenant.sites.rso.id,
    });
    expect(done.scriptResultsSignature).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(done.updatedAt)).toBe(clock.now());
  });

  const outcomes: [AgentProfile, string, string, boolean][] = [
    ['fail', 'failed', DETAILED_STATUS.failed, false],
    ['completedWithFailure', 'completed', DETAILED_STATUS.terminatedInFailure, false],
    ['noResultFile', 'completed', DETAILED_STATUS.success, false],
    ['cancel', 'canceled', DETAILED_STATUS.canceled, false],
    ['hang', 'in_progress', DETAILED_STATUS.inProgress, false],
    ['expire', 'expired', DETAILED_STATUS.expired, false],
    ['complete', 'completed', DETAILED_STATUS.success, true],
  ];

  it.each(outcomes)('profile %s ends %s (%s)', async (profile, status, detailed, hasFile) => {
    const agent = sim.addAgent({
      siteId: tenant.sites.rso.id,
      osType: 'linux',
      behavior: { profile, runMs: 1_000 },
    });
    const parentTaskId = started(await execute([agent.id], linuxScriptId));
    clock.advance(sim.config.taskTiming.expiryMs + 1);
    const final = await row(parentTaskId);
    expect(final.status).toBe(status);
    expect(final.detailedStatus).toBe(detailed);
    expect('scriptResultsSignature' in final).toBe(hasFile);
  });

  it('keeps an offline agent pending until the expiry window passes', async () => {
    const parentTaskId = started(await execute([tenant.agents.offline.id], windowsScriptId));
    clock.advance(sim.config.taskTiming.expiryMs - 1);
    expect((await row(parentTaskId)).status).toBe('pending');
    clock.advance(1);
    expect((await row(parentTaskId)).status).toBe('expired');
  });

  it('fails a run that outlives its runtime timeout', async () => {
    const agent = sim.addAgent({
      siteId: tenant.sites.rso.id,
      osType: 'linux',
      behavior: { runMs: 120_000 },
    });
    const parentTaskId = started(
      await execute([agent.id], linuxScriptId, { scriptRuntimeTimeoutSeconds: 60 }),
    );
    clock.advance(sim.config.taskTiming.pickupMs + 60_000);
    expect(await row(parentTaskId)).toMatchObject({
      status: 'failed',
      detailedStatus: DETAILED_STATUS.timedOut,
    });
  });

  it('requires a parent task id and filters rows', async () => {
    const missing = await call('/remote-scripts/status');
    expect(missing.status).toBe(400);
    const parentTaskId = started(
      await execute([tenant.agents.linux.id, tenant.agents.macos.id], tenant.builtinScript.id),
    );
    const both = await call(`/remote-scripts/status?parentTaskId__in=${parentTaskId}`);
    expect(both.body.data).toHaveLength(2);
    const [firstChild] = sim.tasksOf(parentTaskId);
    const one = await call(`/remote-scripts/status?parentTaskId=${parentTaskId}&ids=${firstChild?.id}`);
    expect(one.body.data.map((r: { id: string }) => r.id)).toEqual([firstChild?.id]);
    const byStatus = await call(`/remote-scripts/status?parentTaskId=${parentTaskId}&status=completed`);
    expect(byStatus.body.data).toEqual([]);
  });
});

describe('fetch-files and cancel', () => {
  it('returns links for finished tasks and per-task errors for the rest', async () => {
    const done = started(await execute([tenant.agents.linux.id], linuxScriptId));
    clock.advance(60_000);
    const running = started(await execute([tenant.agents.macos.id], tenant.builtinScript.id));
    const doneChild = sim.tasksOf(done)[0]?.id as string;
    const runningChild = sim.tasksOf(running)[0]?.id as string;
    const unknown = '1999999999999999999';
    const reply = await call('/remote-scripts/fetch-files', {
      method: 'POST',
      json: { data: { taskIds: [doneChild, runningChild, unknown] } },
    });
    expect(reply.status).toBe(200);
    const link = only(reply.body.data.download_links);
    const signature = (await sim.resultOf(doneChild)).sha256;
    expect(link).toMatchObject({ taskId: doneChild, fileName: `${signature}.zip` });
    expect(link.downloadUrl.startsWith(`${sim.storageUrl}/rso-results/${signature}?`)).toBe(true);
    expect(new URL(link.downloadUrl).searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(reply.body.data.errors.map((e: { taskId: string }) => e.taskId)).toEqual([runningChild, unknown]);
    expect(only(reply.body.data.errors.slice(0, 1)).errorString).toContain('not completed');

    sim.config.fetchFilesKey = 'downloadLinks';
    const camel = await call('/remote-scripts/fetch-files', {
      method: 'POST',
      json: { data: { taskIds: [doneChild] } },
    });
    expect(camel.body.data.downloadLinks).toHaveLength(1);
    expect(camel.body.data).not.toHaveProperty('download_links');
  });

  it('reports tasks without a file as errors', async () => {
    const agent = sim.addAgent({
      siteId: tenant.sites.rso.id,
      osType: 'linux',
      behavior: { profile: 'noResultFile' },
    });
    const parent = started(await execute([agent.id], linuxScriptId));
    clock.advance(60_000);
    const child = sim.tasksOf(parent)[0]?.id;
    const reply = await call('/remote-scripts/fetch-files', {
      method: 'POST',
      json: { data: { taskIds: [child] } },
    });
    expect(reply.body.data.download_links).toEqual([]);
    expect(reply.body.data.errors).toEqual([
      { taskId: child, errorString: expect.stringContaining('No results file') },
    ]);
  });

  it('cancels only tasks not yet delivered', async () => {
    const waiting = started(await execute([tenant.agents.offline.id], windowsScriptId));
    const running = started(await execute([tenant.agents.linux.id], linuxScriptId));
    clock.advance(sim.config.taskTiming.pickupMs);
    const reply = await call('/private/tasks/cancel-task', {
      method: 'POST',
      json: { filter: { parentTaskId__in: [waiting, running] } },
    });
    expect(reply.body.data.affected).toBe(1);
    expect(sim.taskView(only(sim.tasksOf(waiting)).id).status).toBe('canceled');
    expect(sim.taskView(only(sim.tasksOf(running)).id).status).toBe('in_progress');
    const unscoped = await call('/private/tasks/cancel-task', { method: 'POST', json: { filter: {} } });
    expect(unscoped.status).toBe(400);
  });
});

describe('rate limits', () => {
  it('allows a burst of 30 on /remote-scripts, then answers 429 with Retry-After until tokens refill', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await call('/remote-scripts?limit=1')).status);
    expect(statuses.slice(0, 30).every((status) => status === 200)).toBe(true);
    const limited = await call('/remote-scripts?limit=1');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await call('/agents')).status).toBe(200);
    clock.advance(1_000);
    expect((await call('/remote-scripts?limit=1')).status).toBe(200);

    const stats = sim
      .rateLimitStats()
      .find((s) => s.rule === 'remote-scripts' && s.userName === 's1cado-service');
    expect(stats).toMatchObject({ accepted: 31, limited: 2, peakPerSecond: 30 });
    expect(JSON.stringify(sim.rateLimitStats())).not.toContain(token);
  });

  it('can leave Retry-After out and keeps buckets per token', async () => {
    sim.config.retryAfter = 'none';
    sim.rateLimiter.rules = [{ name: 'tight', match: '/agents', ratePerSecond: 1, burst: 1 }];
    try {
      expect((await call('/agents')).status).toBe(200);
      const limited = await call('/agents');
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBeNull();
      expect((await call('/agents', { token: tenant.limitedUser.token })).status).toBe(200);
    } finally {
      sim.rateLimiter.rules = DEFAULT_RATE_LIMITS;
    }
  });
});

describe('faults', () => {
  it('answers injected statuses a given number of times, with an S1 body', async () => {
    const handle = sim.faults.respond(503, { times: 2, match: { path: '/agents' } });
    expect((await call('/agents')).status).toBe(503);
    const second = await call('/agents');
    expect(firstError(second)).toMatchObject({ code: 5030010, title: 'Service Unavailable' });
    expect((await call('/agents')).status).toBe(200);
    expect(handle.hits).toBe(2);
    expect(handle.active).toBe(false);
  });

  it('storms 429 with a Retry-After hint for one token only', async () => {
    sim.faults.respond(429, { retryAfter: 7, match: { token: tenant.limitedUser.token } });
    const limited = await call('/agents', { token: tenant.limitedUser.token });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect((await call('/agents')).status).toBe(200);
  });

  it('delays responses by real milliseconds', async () => {
    sim.faults.add({
      match: { method: 'GET', path: /\/sites$/ },
      times: 1,
      action: { type: 'delay', ms: 150 },
    });
    const before = performance.now();
    expect((await call('/sites')).status).toBe(200);
    expect(performance.now() - before).toBeGreaterThanOrEqual(140);
  });
});

describe('request log', () => {
  it('records host, method, route, query, raw headers, body and status', async () => {
    sim.clearRequests();
    await call(`/threats?ids=${tenant.threats.windows.id}&limit=5`);
    await call('/threats/notes', {
      method: 'POST',
      json: { filter: { ids: [tenant.threats.linux.id] }, data: { text: 'n' } },
    });
    expect(sim.requests).toHaveLength(2);
    expect(sim.requests[0]).toMatchObject({
      host: 'api',
      method: 'GET',
      path: '/web/api/v2.1/threats',
      route: '/threats',
      query: { ids: tenant.threats.windows.id, limit: '5' },
      status: 200,
      at: clock.now(),
    });
    expect(sim.requests[0]?.headers.authorization).toBe(`ApiToken ${token}`);
    expect(sim.requests[1]?.body).toEqual({
      filter: { ids: [tenant.threats.linux.id] },
      data: { text: 'n' },
    });
  });
});
