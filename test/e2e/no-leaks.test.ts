/**
 * End-to-end: secrets never leave. Runs investigations that go well and badly (resumed and expired downloads, cut
 * downloads, S1 5xx, Cado down, refused input) with debug logging on, then scans everything they produced: every
 * byte written to stdout/stderr, the execution events and outputs, the failures, and every JSON object in the
 * evidence bucket, for the S1 token, the Cado key and any presigned-link signature. The storage host must never
 * have been sent an Authorization header.
 */
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import {
  E2E_TIME_SCALE,
  type E2eStack,
  type InvestigationRun,
  investigate,
  listKeys,
  nextThreatId,
  readObject,
  startE2eStack,
} from './helpers';

// Before any module creates the process-wide logger: log every level, so the scan covers every log line.
const previousLogLevel = vi.hoisted(() => {
  const previous = process.env.POWERTOOLS_LOG_LEVEL;
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
  return previous;
});

let stack: E2eStack;
let output = '';
const spies: MockInstance[] = [];

/** Captures (and silences) everything written to stdout and stderr from now on. */
function captureOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    spies.push(
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
        output += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
        callback?.();
        return true;
      }),
    );
  }
}

beforeAll(async () => {
  captureOutput();
  stack = await startE2eStack();
});

afterAll(async () => {
  for (const spy of spies) spy.mockRestore();
  await stack?.close();
  if (previousLogLevel === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
  else process.env.POWERTOOLS_LOG_LEVEL = previousLogLevel;
});

/** Serializes events and errors including what JSON.stringify leaves out of Error objects. */
function dump(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v instanceof Error ? { ...v, name: v.name, message: v.message, cause: v.cause, stack: v.stack } : v,
  );
}

async function scenarios(): Promise<InvestigationRun[]> {
  const { windows, linux } = stack.tenant.agents;
  const runs: InvestigationRun[] = [];

  // Both agents collected, through an expired link and a reset connection.
  stack.s1Sim.setAgentBehavior(windows.id, { result: { size: 300_000 } });
  stack.s1Sim.config.linkExpirySeconds = 120;
  stack.s1Sim.faults.add({
    match: { host: 'storage' },
    times: 1,
    action: { type: 'delay', ms: Math.ceil((240 * 1000) / E2E_TIME_SCALE) },
  });
  stack.s1Sim.faults.add({
    match: { host: 'storage' },
    times: 1,
    action: { type: 'reset', afterBytes: 50_000 },
  });
  runs.push(
    await investigate(stack, {
      agentIds: [windows.id, linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    }),
  );
  await stack.reset();

  // S1 5xx while polling, then a download cut short every time.
  stack.s1Sim.setAgentBehavior(linux.id, { result: { size: 300_000 } });
  stack.s1Sim.faults.respond(503, { times: 2, match: { path: '/remote-scripts/status' } });
  stack.s1Sim.faults.add({ match: { host: 'storage' }, action: { type: 'truncate', afterBytes: 20_000 } });
  runs.push(await investigate(stack, { agentIds: [linux.id], requestedBy: 'e2e', threatId: nextThreatId() }));
  await stack.reset();

  // Cado down after staging.
  await stack.cadoSim.faults.down('unavailable');
  runs.push(
    await investigate(stack, { agentIds: [windows.id], requestedBy: 'e2e', threatId: nextThreatId() }),
  );
  await stack.reset();

  // Refused input.
  runs.push(
    await investigate(
      stack,
      { agentIds: [Number(1)], requestedBy: 'e2e', token: 'x' },
      { name: 'manual-bad-input' },
    ),
  );
  return runs;
}

describe('secrets', () => {
  it('never appear in logs, events, outputs, errors, case files or manifests', async () => {
    const runs = await scenarios();
    expect(runs.map((r) => r.caseRecord.status)).toEqual([
      'complete',
      'failed',
      'staged_handoff_failed',
      'failed',
    ]);

    const signatures = new Set(
      stack.s1Sim.requests
        .filter((r) => r.host === 'storage')
        .map((r) => r.query['X-Amz-Signature'])
        .filter((s): s is string => typeof s === 'string' && s.length > 0),
    );
    // Several links were issued (first, refreshed, one per retry), so the scan below is not vacuous.
    expect(signatures.size).toBeGreaterThan(2);

    const documents: string[] = [];
    for (const key of await listKeys(stack, 'investigations/')) {
      if (key.endsWith('.json')) documents.push((await readObject(stack, key)).toString('utf8'));
    }
    expect(documents.length).toBeGreaterThan(runs.length);
    const haystacks: Record<string, string> = {
      'stdout/stderr': output,
      events: runs.map((r) => dump(r.events)).join('\n'),
      outputs: runs.map((r) => dump(r.output)).join('\n'),
      failures: runs.map((r) => dump({ error: r.failure?.error, cause: r.failure?.cause })).join('\n'),
      'bucket JSON': documents.join('\n'),
    };
    // Info lines were captured, and the logs and errors recorded what went wrong: the scan saw the failure paths.
    const contains = (where: string, text: string) => haystacks[where]?.includes(text) ?? false;
    expect(contains('stdout/stderr', '"level":"INFO"'), 'info logs captured').toBe(true);
    expect(contains('stdout/stderr', 'DownloadInterruptedError'), 'download error logged').toBe(true);
    expect(contains('stdout/stderr', 'Result link refused'), 'link refresh logged').toBe(true);
    expect(contains('bucket JSON', 'DownloadInterruptedError'), 'download error in case.json').toBe(true);
    expect(contains('failures', 'HandOffFailed'), 'hand-off failure reported').toBe(true);

    const needles: Record<string, string> = {
      'S1 token': stack.secrets.s1Token,
      'Cado key': stack.secrets.cadoKey,
      'presigned query': 'X-Amz-Signature',
      'presigned credential': 'X-Amz-Credential',
    };
    for (const [i, signature] of [...signatures].entries()) needles[`link signature ${i}`] = signature;
    const leaks: string[] = [];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [what, needle] of Object.entries(needles)) {
        if (text.includes(needle)) leaks.push(`${what} in ${where}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('go only where they belong: no Authorization to the storage host, no token in a URL, no crossing over', () => {
    const storage = stack.s1Sim.requests.filter((r) => r.host === 'storage');
    expect(storage.length).toBeGreaterThan(0);
    expect(storage.filter((r) => r.headers.authorization !== undefined)).toEqual([]);

    const api = stack.s1Sim.requests.filter((r) => r.host === 'api');
    expect(api.length).toBeGreaterThan(0);
    expect(api.every((r) => r.headers.authorization === `ApiToken ${stack.secrets.s1Token}`)).toBe(true);
    expect(api.filter((r) => JSON.stringify(r.query).includes(stack.secrets.s1Token))).toEqual([]);
    expect(api.filter((r) => JSON.stringify(r).includes(stack.secrets.cadoKey))).toEqual([]);

    const cado = stack.cadoSim.requests;
    expect(cado.length).toBeGreaterThan(0);
    expect(cado.filter((r) => JSON.stringify(r).includes(stack.secrets.s1Token))).toEqual([]);
    expect(cado.filter((r) => JSON.stringify(r.query).includes(stack.secrets.cadoKey))).toEqual([]);
  });
});
