/**
 * End-to-end: staging a result over a download that breaks, is cut short, or whose link expires. The evidence in
 * S3 is re-read and hashed against the file the S1 simulator served; a download that never completes leaves
 * nothing behind and is never reported as collected.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  agentLine,
  agentResult,
  E2E_TIME_SCALE,
  type E2eStack,
  investigate,
  listKeys,
  nextThreatId,
  s1Requests,
  sha256Hex,
  startE2eStack,
  verifiedEvidence,
} from './helpers';

/** Results big enough for a break in the middle (the simulator's default is 64 KiB). */
const RESULT_SIZE = 512 * 1024;
/** A result staged in more than one part (Stage Output uploads 16 MiB parts). */
const MULTIPART_RESULT_SIZE = 17 * 1024 * 1024;

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

function storageGets(since: number) {
  return stack.s1Sim.requests.slice(since).filter((r) => r.host === 'storage' && r.method === 'GET');
}

describe('result downloads', () => {
  it('a connection reset mid-stream is resumed with a Range request; the staged bytes are identical', async () => {
    const { linux } = stack.tenant.agents;
    // Over the 16 MiB part size, so the resumed stream also goes through a multipart upload.
    stack.s1Sim.setAgentBehavior(linux.id, { result: { size: MULTIPART_RESULT_SIZE } });
    const breakAt = 5 * 1024 * 1024 + 17;
    const reset = stack.s1Sim.faults.add({
      match: { host: 'storage' },
      times: 1,
      action: { type: 'reset', afterBytes: breakAt },
    });
    const before = stack.s1Sim.requests.length;
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.failure).toBeUndefined();
    expect(run.caseRecord.status).toBe('complete');
    expect(reset.hits).toBe(1);
    const evidence = agentResult(run, linux.id).evidence;
    const { manifest, bytes, served } = await verifiedEvidence(
      stack,
      evidence?.key as string,
      evidence?.manifestKey as string,
    );
    expect(served.size).toBeGreaterThan(breakAt);
    expect(bytes.length).toBe(served.size);
    expect(sha256Hex(bytes)).toBe(served.sha256);
    expect(manifest.object).toMatchObject({ sha256: served.sha256, bytes: served.size });
    expect(manifest.download.resumes).toBeGreaterThanOrEqual(1);

    const gets = storageGets(before);
    expect(gets[0]).toMatchObject({ aborted: true, bytesSent: breakAt });
    expect(gets[0]?.headers.range).toBeUndefined();
    const resumed = gets.slice(1).find((r) => r.headers.range !== undefined);
    const from = Number(/^bytes=(\d+)-$/.exec(resumed?.headers.range ?? '')?.[1]);
    // Resumed from where the received bytes end (never from 0, never past what was sent).
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(breakAt);
    expect(resumed?.status).toBe(206);
  });

  it('a body cut short on every attempt is detected: the agent fails with a download error, nothing is staged', async () => {
    const { linux } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(linux.id, { result: { size: RESULT_SIZE } });
    const truncate = stack.s1Sim.faults.add({
      match: { host: 'storage' },
      action: { type: 'truncate', afterBytes: 10_000 },
    });
    const before = stack.s1Sim.requests.length;
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.output).toBeUndefined();
    expect(run.failure?.error).toBe('InvestigationFailed');
    expect(run.caseRecord.status).toBe('failed');
    const line = agentLine(run, linux.id);
    expect(line.outcome).toBe('failed');
    expect(line.reason).toMatch(/^DownloadInterruptedError: /);
    expect(line.evidence).toBeUndefined();
    // Stage Output was retried as a whole before giving up, and every body was cut short.
    expect(run.stats.invocationsByState['Stage Output']).toBeGreaterThan(1);
    const gets = storageGets(before);
    expect(gets.length).toBe(truncate.hits);
    expect(gets.every((r) => r.aborted === true && r.bytesSent === 10_000)).toBe(true);

    const childTaskId = line.s1Task?.childTaskId as string;
    expect(childTaskId).toMatch(/^\d+$/);
    expect(
      await listKeys(stack, `investigations/${run.investigationId}/${linux.id}/${childTaskId}/`),
    ).toEqual([]);
    expect(await listKeys(stack, `investigations/${run.investigationId}/${linux.id}/`)).toEqual([
      `investigations/${run.investigationId}/${linux.id}/task.json`,
    ]);
    expect(stack.cadoSim.state.imports.some((i) => i.keys.some((k) => k.includes(run.investigationId)))).toBe(
      false,
    );
  });

  it('an expired link is fetched again and the download completes', async () => {
    const { windows } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(windows.id, { result: { size: RESULT_SIZE } });
    // Links live two simulated minutes; the first download is held back four, so its link has expired on arrival.
    stack.s1Sim.config.linkExpirySeconds = 120;
    stack.s1Sim.faults.add({
      match: { host: 'storage' },
      times: 1,
      action: { type: 'delay', ms: Math.ceil((240 * 1000) / E2E_TIME_SCALE) },
    });
    const before = stack.s1Sim.requests.length;
    const run = await investigate(stack, {
      agentIds: [windows.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.failure).toBeUndefined();
    expect(run.caseRecord.status).toBe('complete');
    const gets = storageGets(before);
    expect(gets[0]?.status).toBe(403);
    expect(gets.at(-1)?.status).toBe(200);
    // fetch-files was asked again for a fresh link, and the fresh link differs from the expired one.
    expect(s1Requests(stack, '/remote-scripts/fetch-files', before).length).toBeGreaterThanOrEqual(2);
    expect(gets.at(-1)?.query['X-Amz-Signature']).not.toEqual(gets[0]?.query['X-Amz-Signature']);

    const evidence = agentResult(run, windows.id).evidence;
    const { manifest, bytes, served } = await verifiedEvidence(
      stack,
      evidence?.key as string,
      evidence?.manifestKey as string,
    );
    expect(manifest.download.linkRefreshes).toBeGreaterThanOrEqual(1);
    expect(sha256Hex(bytes)).toBe(served.sha256);
    expect(manifest.object).toMatchObject({ sha256: served.sha256, bytes: served.size });
  });
});
