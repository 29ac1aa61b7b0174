/**
 * A whole client run with a known token, happy paths and failures alike: no log line and no error (message,
 * stack, JSON form) may contain the token or a download link's signature, and the simulator's request log must
 * show the token only in the Authorization header of API-host requests.
 */

import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '../../lambdas/shared/observability';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { staticCredential } from '../../lambdas/shared/secrets';
import { assertDownloadUrl, createS1Client } from '../../lambdas/shared/sentinelone';
import {
  createManualClock,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';

const TOKEN = 'S1tok-secret-4b1d9e7c2a55f0e8-never-print-me';

let sim: S1Simulator;
const written: string[] = [];
const errors: unknown[] = [];
const signatures: string[] = [];
let restore: () => void;

/** Captures every write to stdout/stderr while the scenario runs (the logger writes through these streams). */
function captureOutput(): () => void {
  const originals = { out: process.stdout.write, err: process.stderr.write };
  const spy =
    (original: typeof process.stdout.write) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (original as (...args: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    };
  process.stdout.write = spy(originals.out) as typeof process.stdout.write;
  process.stderr.write = spy(originals.err) as typeof process.stderr.write;
  return () => {
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
  };
}

async function expectFailure(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  errors.push(error);
}

beforeAll(async () => {
  const clock = createManualClock();
  sim = await startS1Simulator({ clock: clock.now, rateLimits: false });
  const tenant = seedDemoTenant(sim, { token: TOKEN });
  const previousLevel = logger.getLevelName() as LogLevel;
  logger.setLogLevel('DEBUG');
  const stopCapture = captureOutput();
  restore = () => {
    stopCapture();
    logger.setLogLevel(previousLevel);
  };
  try {
    const s1 = createS1Client({
      consoleUrl: sim.url,
      credentials: staticCredential(TOKEN, 'ApiToken'),
      hostPolicy: { allowLoopback: true },
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, maxElapsedMs: 60_000 },
      sleep: async (ms) => {
        clock.advance(ms);
      },
    });

    // Happy path: whoami, token details, run, poll, links, note.
    await s1.getCurrentUser();
    await s1.getApiTokenDetails(TOKEN);
    await s1.getAgents([tenant.agents.linux.id]);
    const run = await s1.execute({
      agentIds: [tenant.agents.linux.id],
      scriptId: tenant.builtinScript.id,
      taskDescription: 'secrets test',
    });
    clock.advance(60_000);
    const rows = await s1.getTaskStatus(run.parentTaskId);
    const files = await s1.fetchFiles(rows.map((row) => row.id));
    for (const link of files.links) {
      signatures.push(new URL(link.downloadUrl).searchParams.get('X-Amz-Signature') ?? link.downloadUrl);
      assertDownloadUrl(link.downloadUrl, { allowLoopback: true });
      const response = await request(link.downloadUrl);
      await response.body.dump();
    }
    await s1.addThreatNote([tenant.threats.linux.id], 'secrets test note');

    // Failures: throttling and 5xx past the cap, approval, OS mismatch, off-allowlist link, errors echoing the token.
    sim.faults.respond(429, { match: { path: '/agents' }, times: 3, retryAfter: 1 });
    await expectFailure(s1.getAgents([tenant.agents.linux.id]));
    sim.faults.respond(503, { match: { path: '/sites' }, times: 3 });
    await expectFailure(s1.getSites());
    await expectFailure(
      s1.execute({
        agentIds: [tenant.agents.windows.id],
        scriptId: tenant.builtinScript.id,
        taskDescription: 'x',
      }),
    );
    sim.setGuardrail(tenant.sites.rso.id, { enabled: true });
    await expectFailure(
      s1.execute({
        agentIds: [tenant.agents.linux.id],
        scriptId: tenant.builtinScript.id,
        taskDescription: 'x',
      }),
    );
    for (const link of files.links) {
      await expectFailure(
        Promise.resolve().then(() => assertDownloadUrl(link.downloadUrl, { allowLoopback: false })),
      );
    }
    sim.faults.add({
      match: { path: '/remote-scripts/execute' },
      times: 1,
      action: {
        type: 'status',
        status: 400,
        body: {
          errors: [{ code: 4000010, title: 'Validation Error', detail: `token ${TOKEN} is not valid here` }],
        },
      },
    });
    await expectFailure(
      s1.execute({
        agentIds: [tenant.agents.linux.id],
        scriptId: tenant.builtinScript.id,
        taskDescription: 'x',
      }),
    );
    sim.faults.add({
      match: { path: '/remote-scripts/fetch-files' },
      times: 1,
      action: {
        type: 'status',
        status: 200,
        body: {
          data: { download_links: [], errors: [{ taskId: rows[0]?.id, errorString: `denied for ${TOKEN}` }] },
        },
      },
    });
    const echoed = await s1.fetchFiles(rows.map((row) => row.id));
    errors.push(...echoed.errors.map((e) => new Error(e.errorString)));
    sim.revokeToken(TOKEN);
    await expectFailure(s1.getCurrentUser());
    await expectFailure(s1.getApiTokenDetails(TOKEN));
  } finally {
    restore();
  }
});

afterAll(async () => {
  await sim.close();
  clearRegisteredSecrets();
});

describe('the S1 token and download signatures stay secret', () => {
  it('captured a real run (log lines, errors and links)', () => {
    expect(written.join('')).toContain('S1 execution started');
    expect(written.join('')).toContain('Request failed; retrying');
    expect(errors.length).toBeGreaterThanOrEqual(8);
    expect(signatures.length).toBe(1);
  });

  it('appears in no log line', () => {
    const output = written.join('');
    expect(output).not.toContain(TOKEN);
    for (const signature of signatures) expect(output).not.toContain(signature);
  });

  it('appears in no error message, stack or JSON form', () => {
    for (const error of errors) {
      const e = error as Error & { toJSON?: () => unknown };
      const forms = [e.message, String(e.stack), JSON.stringify(e), JSON.stringify(e.toJSON?.() ?? {})];
      for (const form of forms) {
        expect(form).not.toContain(TOKEN);
        for (const signature of signatures) expect(form).not.toContain(signature);
      }
    }
  });

  it('went only to the API host, only in the Authorization header (and the token-details body)', () => {
    expect(sim.requests.length).toBeGreaterThan(10);
    for (const entry of sim.requests) {
      const { authorization, ...otherHeaders } = entry.headers;
      expect(entry.path).not.toContain(TOKEN);
      expect(JSON.stringify(entry.query)).not.toContain(TOKEN);
      expect(JSON.stringify(otherHeaders)).not.toContain(TOKEN);
      if (entry.host === 'storage') {
        expect(authorization).toBeUndefined();
        expect(JSON.stringify(entry.body ?? null)).not.toContain(TOKEN);
        continue;
      }
      expect(authorization).toBe(`ApiToken ${TOKEN}`);
      if (entry.route !== '/users/api-token-details') {
        expect(JSON.stringify(entry.body ?? null)).not.toContain(TOKEN);
      }
    }
    expect(sim.requests.some((entry) => entry.host === 'storage')).toBe(true);
  });
});
