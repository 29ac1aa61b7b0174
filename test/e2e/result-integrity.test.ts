/**
 * End-to-end: a result altered on the way (same length, one byte flipped by the S1 simulator's storage host) is
 * fetched once more; still different from S1's result hash, that agent ends as an integrity failure: the objects
 * are kept and tagged integrity=mismatch, the manifest records both hashes, and nothing is handed to Cado. A flip
 * on the first download only is healed by the re-fetch.
 */
import { GetObjectTaggingCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import {
  agentResult,
  type E2eStack,
  investigate,
  listKeys,
  readJson,
  readObject,
  sha256Hex,
  startE2eStack,
} from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack();
});

afterEach(async () => {
  await stack.reset();
});

afterAll(async () => {
  await stack?.close();
});

async function tagsOf(key: string): Promise<Record<string, string>> {
  const out = await stack.s3.client.send(new GetObjectTaggingCommand({ Bucket: stack.bucket, Key: key }));
  return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key, t.Value]));
}

function cadoImports(since: number) {
  return stack.cadoSim.requests.slice(since).filter((r) => r.method === 'POST' && /import/.test(r.path));
}

describe('an altered download (same length, one byte flipped)', () => {
  it('fails that agent with EvidenceIntegrityError after one re-fetch: evidence kept and tagged, no Cado import', async () => {
    const agent = stack.tenant.agents.linux;
    stack.s1Sim.faults.add({ match: { host: 'storage' }, action: { type: 'flip', at: 100 } });
    const cadoBefore = stack.cadoSim.requests.length;
    const run = await investigate(stack, {
      agentIds: [agent.id],
      requestedBy: 'e2e',
      reason: 'altered result',
    });

    const outcome = run.caseRecord.agents.find((a) => a.agentId === agent.id);
    expect(outcome).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining('EvidenceIntegrityError'),
    });
    expect(cadoImports(cadoBefore)).toEqual([]);

    // Every agent failed, so the execution failed and has no output: the task is found in the simulator.
    expect(run.failure?.error).toBe('InvestigationFailed');
    const task = [...stack.s1Sim.state.tasks.values()].find(
      (t) => t.agentId === agent.id && t.description.includes(run.investigationId),
    );
    const childTaskId = task?.id as string;
    const served = await stack.s1Sim.resultOf(childTaskId);
    const prefix = `investigations/${run.investigationId}/${agent.id}/${childTaskId}/`;
    const keys = (await listKeys(stack, prefix)).sort();
    const manifestKey = `${prefix}manifest.json`;
    const zips = keys.filter((k) => k.endsWith('.zip'));
    expect(keys).toContain(manifestKey);
    expect(zips).toEqual([`${prefix}${served.sha256}.zip`, `${prefix}refetch-${served.sha256}.zip`]);

    for (const key of zips) {
      const bytes = await readObject(stack, key);
      expect(bytes.length).toBe(served.size);
      expect(sha256Hex(bytes)).not.toBe(served.sha256);
      expect(await tagsOf(key)).toEqual({ integrity: 'mismatch' });
    }

    const manifest = await readJson<Manifest>(stack, manifestKey);
    expect(manifest.integrity).toMatchObject({
      status: 'mismatch',
      s1Sha256: served.sha256,
      s1Source: 'scriptResultsSignature',
      attempts: [
        { key: zips[0], matchesS1: false, tag: 'mismatch' },
        { key: zips[1], matchesS1: false, tag: 'mismatch' },
      ],
    });
    expect(manifest.integrity?.stagedSha256).not.toBe(served.sha256);
    expect(manifest.handoff).toMatchObject({ status: 'failed' });
    expect(manifest.cado).toBeNull();
  });

  it('is healed by the one re-fetch when only the first download was altered', async () => {
    const agent = stack.tenant.agents.linux;
    stack.s1Sim.faults.add({ match: { host: 'storage' }, times: 1, action: { type: 'flip', at: 7 } });
    const cadoBefore = stack.cadoSim.requests.length;
    const run = await investigate(stack, {
      agentIds: [agent.id],
      requestedBy: 'e2e',
      reason: 'one bad download',
    });

    expect(run.caseRecord.agents.find((a) => a.agentId === agent.id)?.outcome).toBe('complete');
    expect(cadoImports(cadoBefore)).toHaveLength(1);
    const evidence = agentResult(run, agent.id).evidence;
    const served = await stack.s1Sim.resultOf(agentResult(run, agent.id).task?.childTaskId as string);
    expect(evidence?.key.endsWith(`/refetch-${served.sha256}.zip`)).toBe(true);
    expect(sha256Hex(await readObject(stack, evidence?.key as string))).toBe(served.sha256);
    const manifest = await readJson<Manifest>(stack, evidence?.manifestKey as string);
    expect(manifest.integrity).toMatchObject({
      status: 'verified',
      stagedSha256: served.sha256,
      attempts: [
        { matchesS1: false, tag: 'mismatch' },
        { matchesS1: true, tag: null },
      ],
    });
    // The altered first download is kept, and flagged.
    expect(await tagsOf(manifest.integrity?.attempts[0]?.key as string)).toEqual({ integrity: 'mismatch' });
  });
});
