/**
 * End-to-end: Cado's `file_name` read as full keys or as names under `prefix` (the spec does not say which). The
 * hand-off sends the full key first; when the platform reports it found no file, Check Cado imports once more with
 * `prefix` + name, and the manifest records which layout worked.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import { agentLine, type E2eStack, investigate, nextThreatId, readJson, startE2eStack } from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack();
});

afterEach(async () => {
  stack.cadoSim.behaviour.fileNameResolution = 'either';
  await stack.reset();
});

afterAll(async () => {
  await stack?.close();
});

function importsOf(investigationId: string) {
  return stack.cadoSim.state.imports.filter((i) => i.keys.some((k) => k.includes(investigationId)));
}

describe('a platform that reads file_name as names under prefix', () => {
  it('imports nothing with the full key, then imports the file with prefix and name, and records that', async () => {
    stack.cadoSim.behaviour.fileNameResolution = 'name-under-prefix';
    const { linux } = stack.tenant.agents;
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    const line = agentLine(run, linux.id);
    expect(line.outcome).toBe('complete');
    const key = line.evidence?.key as string;
    const cut = key.lastIndexOf('/') + 1;
    const imports = importsOf(run.investigationId);
    expect(imports.map((i) => [i.fileName, i.prefix])).toEqual([
      [[key], undefined],
      [[key.slice(cut)], key.slice(0, cut)],
    ]);
    // The second import found the object; the first did not.
    const [first, second] = imports;
    expect(stack.cadoSim.state.evidences.get(first?.evidenceIds[0] as number)?.found).toBe(false);
    expect(stack.cadoSim.state.evidences.get(second?.evidenceIds[0] as number)?.found).toBe(true);

    const manifest = await readJson<Manifest>(stack, line.evidence?.manifestKey as string);
    expect(manifest.cado).toMatchObject({
      pipelineId: second?.pipelineId,
      fileNameLayout: 'prefix-and-name',
      fileNameFallback: {
        from: 'full-key',
        pipelineId: first?.pipelineId,
        reason: expect.stringMatching(/not found/),
      },
    });
    expect(manifest.handoff.status).toBe('complete');
  });
});

describe('a platform that reads file_name as full keys', () => {
  it('imports once, with the full key, and records the layout', async () => {
    stack.cadoSim.behaviour.fileNameResolution = 'full-key';
    const { windows } = stack.tenant.agents;
    const run = await investigate(stack, {
      agentIds: [windows.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    const line = agentLine(run, windows.id);
    expect(line.outcome).toBe('complete');
    expect(importsOf(run.investigationId)).toHaveLength(1);
    const manifest = await readJson<Manifest>(stack, line.evidence?.manifestKey as string);
    expect(manifest.cado?.fileNameLayout).toBe('full-key');
    expect(manifest.cado?.fileNameFallback).toBeUndefined();
  });
});

describe('a platform that finds the file in neither form', () => {
  it('tries the other form once only, then reports the hand-off failed with both reasons', async () => {
    stack.cadoSim.behaviour.fileNameResolution = 'name-under-prefix';
    stack.cadoSim.behaviour.outcomeFor = () => ({
      acquisition: { kind: 'failed', progressText: 'object not found: s3://evidence/elsewhere' },
    });
    const { linux } = stack.tenant.agents;
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    stack.cadoSim.behaviour.outcomeFor = undefined;
    const line = agentLine(run, linux.id);
    expect(line.outcome).toBe('staged_handoff_failed');
    expect(importsOf(run.investigationId)).toHaveLength(2);
    expect(line.reason).toMatch(/not found/);
  });
});
