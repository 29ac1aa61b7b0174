/**
 * The audit's check of Cado's SentinelOne XDR account (collection mode cado-xdr), against the Cado simulator over
 * real HTTP: missing, ambiguous, on another console, on ours, and when Cado does not say which console it uses.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type AuditDeps, runAudit } from '../../lambdas/audit-permissions/core';
import type { AuditCheck } from '../../lambdas/shared/audit/report';
import { type CadoClient, createCadoClient } from '../../lambdas/shared/cado';
import { staticCredential } from '../../lambdas/shared/secrets';
import { type CadoSimulator, startCadoSimulator } from '../../local/cado-simulator';

const KEY = 'cado-xdr-audit-key-0123456789abcdef';
const OUR_CONSOLE = 'https://acme.sentinelone.net';

let sim: CadoSimulator;
let client: CadoClient;

beforeEach(async () => {
  await sim?.close();
  await client?.close();
  sim = await startCadoSimulator({ keys: [{ key: KEY, role: 'Lead Analyst' }] });
  client = createCadoClient({
    baseUrl: sim.url,
    credentials: staticCredential(KEY, 'Bearer'),
    allowLoopback: true,
  });
});
afterAll(async () => {
  await client?.close();
  await sim?.close();
});

async function xdrCheck(xdr: NonNullable<AuditDeps['cado']>['xdr']): Promise<AuditCheck> {
  const report = await runAudit({ cado: { client, xdr }, collectors: () => [], warningDays: 14 });
  const check = report.checks.find((c) => c.id === 'cado-xdr-account');
  if (!check) throw new Error('the report has no cado-xdr-account check');
  return check;
}

describe('audit: Cado SentinelOne XDR account', () => {
  it('fails when Cado has none and cado-xdr is the configured mode, and only warns when it is not', async () => {
    sim.addCloudAccount('aws-main'); // an AWS account is no XDR account
    const required = await xdrCheck({ s1ConsoleUrl: OUR_CONSOLE, required: true });
    expect(required.status).toBe('fail');
    expect(required.reason).toMatch(/no SentinelOne XDR account/);
    expect(required.fix).toMatch(/Settings → Accounts/);
    expect((await xdrCheck({ s1ConsoleUrl: OUR_CONSOLE, required: false })).status).toBe('warn');
  });

  it('reports a mismatched console, naming both hosts', async () => {
    sim.addXdrAccount({
      name: 'S1',
      endpoint: 'https://other.sentinelone.net',
      token: 't',
      publicIdentifier: 'https://other.sentinelone.net',
    });
    const check = await xdrCheck({ s1ConsoleUrl: `${OUR_CONSOLE}/web/api/v2.1`, required: true });
    expect(check.status).toBe('fail');
    expect(check.reason).toMatch(/other\.sentinelone\.net, not ours \(acme\.sentinelone\.net\)/);
  });

  it('passes for the account on our console, and picks the configured one among several', async () => {
    sim.addXdrAccount({
      name: 'Other',
      endpoint: 'https://x.example',
      token: 't',
      publicIdentifier: 'https://x.example',
    });
    sim.addXdrAccount({
      name: 'Ours',
      endpoint: OUR_CONSOLE,
      token: 't',
      publicIdentifier: `${OUR_CONSOLE}/`,
    });
    const ambiguous = await xdrCheck({ s1ConsoleUrl: OUR_CONSOLE, required: true });
    expect(ambiguous.status).toBe('fail');
    expect(ambiguous.reason).toMatch(/2 SentinelOne accounts \(Other, Ours\)/);
    const named = await xdrCheck({ s1ConsoleUrl: OUR_CONSOLE, required: true, accountName: 'Ours' });
    expect(named.status).toBe('pass');
    const missing = await xdrCheck({ s1ConsoleUrl: OUR_CONSOLE, required: true, accountName: 'Gone' });
    expect(missing.status).toBe('fail');
    expect(missing.reason).toMatch(/no SentinelOne account named "Gone"/);
  });

  it('warns that it cannot compare when Cado does not say which console the account uses', async () => {
    sim.addXdrAccount({ name: 'S1', endpoint: OUR_CONSOLE, token: 'secret-token-never-listed' });
    const check = await xdrCheck({ s1ConsoleUrl: OUR_CONSOLE, required: true });
    expect(check.status).toBe('warn');
    expect(check.reason).toMatch(/does not say which console/);
    expect(JSON.stringify(check)).not.toContain('secret-token-never-listed');
  });

  it('is unknown, not failed, when the accounts cannot be read', async () => {
    sim.faults.add({ path: '/api/v3/accounts', status: 403 });
    const check = await xdrCheck({ s1ConsoleUrl: OUR_CONSOLE, required: true });
    expect(check.status).toBe('unknown');
  });
});
