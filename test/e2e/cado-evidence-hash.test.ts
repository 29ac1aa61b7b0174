/**
 * The chain's last link: once Cado has processed an import, Check Cado reads Cado's evidence record and compares
 * its hash (`details.disk_hash`) with our SHA-256. Against the Cado simulator, which reports the digest of the bytes
 * it read from s3rver (or none, or another algorithm's, or another value).
 */
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import type { CadoBehaviour } from '../../local/cado-simulator';
import { type E2eStack, investigate, nextThreatId, readJson, useE2eStack } from './helpers';

let stack: E2eStack;
useE2eStack((started) => {
  stack = started;
});

/** One Linux investigation; its agent line and final manifest. */
async function handOff() {
  const run = await investigate(stack, {
    agentIds: [stack.tenant.agents.linux.id],
    threatId: nextThreatId(),
    requestedBy: 'analyst@example.com',
    reason: 'evidence hash test',
  });
  const line = run.caseRecord.agents[0];
  const manifest = await readJson<Manifest>(stack, line?.evidence?.manifestKey as string);
  const link = manifest.chain?.find((l) => l.link === 'cado');
  return { run, line, manifest, link };
}

describe("Cado's evidence hash against ours", () => {
  it.each<[string, CadoBehaviour['evidenceHash'], string, RegExp]>([
    ['no hash in the record', 'none', 'not_available', /has no hash/],
    ['the SHA-256 of the bytes Cado read', 'sha256', 'verified', /equals the staged SHA-256/],
    ['an MD5', 'md5', 'not_available', /an MD5-sized hash .*not a SHA-256/],
    ['another SHA-256', () => 'ab'.repeat(32), 'mismatch', /^Cado's evidence hash (ab)+ differs/],
  ])('%s: recorded, and the hand-off never fails on it', async (_what, hash, status, detail) => {
    stack.cadoSim.behaviour.evidenceHash = hash;
    const { run, line, manifest, link } = await handOff();
    expect(line?.outcome).toBe('complete');
    expect(run.caseRecord.status).toBe('complete');
    expect(link).toEqual({ link: 'cado', status, detail: expect.stringMatching(detail) });
    expect(manifest.cado?.evidenceHash).toMatchObject({ status, evidenceId: expect.any(Number) });
    if (status === 'verified') expect(manifest.cado?.evidenceHash?.cadoHash).toBe(manifest.object.sha256);
    // Check Cado asked for exactly the evidence its pipeline named.
    const evidenceId = manifest.cado?.evidenceHash?.evidenceId as number;
    expect(stack.cadoSim.state.evidences.get(evidenceId)?.key).toBe(manifest.object.key);
  });

  it("an evidence record Cado cannot serve is 'not available', not a failure", async () => {
    stack.cadoSim.behaviour.evidenceHash = 'sha256';
    stack.cadoSim.faults.respond(403, { path: /^\/api\/v3\/evidences\// });
    const { line, link } = await handOff();
    expect(line?.outcome).toBe('complete');
    expect(link).toEqual({
      link: 'cado',
      status: 'not_available',
      detail: expect.stringMatching(/^Cado's evidence record \d+ could not be read \(Cado\w+Error\)$/),
    });
  });
});
