/**
 * End-to-end: the direct-to-S3 path. The Linux collector runs for real (bash, a fake root holding a large
 * incompressible log) as the simulated agent's script, with the input parameters Run Script sent to S1: it zips
 * its collection, uploads it to s3rver through the presigned part URLs and leaves only its report for S1. The same
 * collection through S1's cloud is refused by the size limit of that path (`maxResultBytes`, 1 MiB here); directly,
 * it is staged, verified (read-back and SHA256SUMS) and handed to Cado. A part URL used for another key is refused.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListPartsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directUploadKey } from '../../lambdas/shared/evidence/direct-upload';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import type { ZipEntryInput } from '../../local/s1-simulator';
import {
  agentLine,
  type E2eStack,
  investigate,
  listKeys,
  readJson,
  readObject,
  sha256Hex,
  useE2eStack,
} from './helpers';

const MIB = 1024 * 1024;
const LINUX_SCRIPT = path.resolve(__dirname, '..', '..', 'lambdas', 'collectors', 'linux', 'triage.sh');
/** The collection's big file: far over the 1 MiB the S1-cloud path accepts in this stack. */
const LOG_BYTES = 24 * MIB;

let stack: E2eStack;
useE2eStack((s) => (stack = s), { config: { maxResultBytes: MIB } });

let base: string;
beforeAll(() => {
  base = mkdtempSync(path.join(tmpdir(), 's1cado-direct-'));
  mkdirSync(path.join(base, 'root', 'var', 'log'), { recursive: true });
  writeFileSync(path.join(base, 'root', 'var', 'log', 'syslog'), randomBytes(LOG_BYTES));
});
afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

/** Every file below `dir`, as result entries (paths relative to it). */
function filesOf(dir: string, rel = ''): ZipEntryInput[] {
  return readdirSync(path.join(dir, rel)).flatMap((name) => {
    const relative = rel ? `${rel}/${name}` : name;
    const full = path.join(dir, relative);
    return statSync(full).isDirectory()
      ? filesOf(dir, relative)
      : [{ name: relative, content: readFileSync(full) }];
  });
}

/** The agent runs the real Linux collector with the task's input parameters (plus the fake root). */
function runCollector(label: string, seen: string[], rewrite: (params: string) => string = (p) => p) {
  return async ({ inputParams }: { taskId: string; inputParams: string }): Promise<ZipEntryInput[]> => {
    seen.push(inputParams);
    inputParams = rewrite(inputParams);
    const out = path.join(base, `out-${label}`);
    const tmp = path.join(base, `tmp-${label}`);
    mkdirSync(out, { recursive: true });
    mkdirSync(tmp, { recursive: true });
    const sections = label.startsWith('small') ? 'system' : 'system,logs';
    const params = `${inputParams} --root ${path.join(base, 'root')} --sections ${sections}`;
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('/bin/bash', [LINUX_SCRIPT, params], {
        env: { PATH: '/nonexistent', S1_OUTPUT_DIR_PATH: out, TMPDIR: tmp },
        stdio: 'ignore',
      });
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) throw new Error(`collector exited ${code}`);
    return filesOf(out);
  };
}

/** Peak RSS of this process (the Lambdas run in it) while `run` runs, sampled every 50 ms. */
async function peakRss<T>(run: () => Promise<T>): Promise<{ value: T; startMiB: number; peakMiB: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  try {
    const value = await run();
    return { value, startMiB: Math.round(start / MIB), peakMiB: Math.round(peak / MIB) };
  } finally {
    clearInterval(timer);
  }
}

describe('direct-to-S3 collection', () => {
  it('through S1 the collection is over the cloud path’s limit; directly it is staged, verified and handed off', async () => {
    const agentId = stack.tenant.agents.linux.id;

    // The S1-cloud path: the same collector, the same data, refused by the size limit.
    const cloudParams: string[] = [];
    stack.s1Sim.setAgentBehavior(agentId, { result: { run: runCollector('cloud', cloudParams) } });
    const cloud = await investigate(stack, { agentIds: [agentId], requestedBy: 'e2e' });
    const refusedLine = agentLine(cloud, agentId);
    expect(refusedLine.outcome).toBe('failed');
    expect(refusedLine.reason).toMatch(/maxResultBytes/);
    expect(cloudParams[0]).not.toContain('--upload-parts');

    // Directly to S3.
    const seen: string[] = [];
    stack.s1Sim.setAgentBehavior(agentId, { result: { run: runCollector('direct', seen) } });
    const {
      value: run,
      startMiB,
      peakMiB,
    } = await peakRss(() =>
      investigate(stack, { agentIds: [agentId], requestedBy: 'e2e', directUpload: true }),
    );
    console.log(
      `direct upload of a ${LOG_BYTES / MIB} MiB collection: in-process RSS ${startMiB} MiB at start, peak ${peakMiB} MiB`,
    );
    const line = agentLine(run, agentId);
    expect(line.outcome).toBe('complete');

    // The collector got the part URLs in its one argument string, and uploaded through them.
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/--upload-parts https?:\/\/\S+,[0-9a-f]{64},[0-9a-f]{64}(\s|$)/);
    const key = directUploadKey(run.investigationId, agentId);
    const object = await readObject(stack, key);
    expect(object.length).toBeGreaterThan(LOG_BYTES);

    // The manifest: the collector's SHA-256 is the evidence hash, every part checked, the read-back verified.
    const manifestKey = (await listKeys(stack, `investigations/${run.investigationId}/${agentId}/`)).find(
      (k) => k.endsWith('/manifest.json'),
    ) as string;
    const manifest = await readJson<Manifest>(stack, manifestKey);
    expect(manifest.object.key).toBe(key);
    expect(manifest.object.sha256).toBe(sha256Hex(object));
    expect(manifest.directUpload).toMatchObject({ status: 'completed', reason: 'requested', problems: [] });
    expect(manifest.directUpload?.parts.length).toBeGreaterThan(1);
    expect(manifest.directUpload?.parts.reduce((n, p) => n + p.bytes, 0)).toBe(object.length);
    expect(manifest.verification?.readBack.status).toBe('verified');
    expect(manifest.verification?.listing.status).toBe('verified');
    expect(manifest.cado?.phase).toBe('complete');
    // The S1 result carried only the report, and is kept as evidence of its own.
    const s1Result = await readObject(stack, manifest.directUpload?.s1Result.key as string);
    expect(s1Result.length).toBeLessThan(64 * 1024);

    // No URL signature anywhere in the execution's events or in the bucket's records.
    expect(JSON.stringify(run.events)).not.toMatch(/X-Amz-Signature|--upload-parts/);
    for (const k of await listKeys(stack, `investigations/${run.investigationId}/`)) {
      if (k.endsWith('.json'))
        expect((await readObject(stack, k)).toString()).not.toContain('X-Amz-Signature');
    }

    // A part URL from the task's input parameters, used for another key, is refused by S3.
    const arg = (seen[0] as string).split(/\s+/)[
      (seen[0] as string).split(/\s+/).indexOf('--upload-parts') + 1
    ];
    const [partBase, firstSignature] = (arg as string).split(',');
    const url = new URL(`${partBase}&partNumber=1&X-Amz-Signature=${firstSignature}`);
    url.pathname = url.pathname.replace(/direct\/collection\.zip$/, 'direct/other.zip');
    const refused = await fetch(url, { method: 'PUT', body: 'x' });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('SignatureDoesNotMatch');
  });

  it('when S3 refuses the collector’s parts, its S1 result is the evidence and the upload is aborted', async () => {
    const agentId = stack.tenant.agents.linux.id;
    const seen: string[] = [];
    // The endpoint's copy of the signatures is damaged (as an expired or altered URL would be): every PUT is refused.
    const damage = (params: string) =>
      params.replace(
        /,([0-9a-f]{64})/g,
        (_m, sig: string) => `,${sig.replace(/^./, (c) => (c === '0' ? '1' : '0'))}`,
      );
    stack.s1Sim.setAgentBehavior(agentId, { result: { run: runCollector('small-refused', seen, damage) } });
    const run = await investigate(stack, { agentIds: [agentId], requestedBy: 'e2e', directUpload: true });
    expect(agentLine(run, agentId), JSON.stringify(agentLine(run, agentId))).toMatchObject({
      outcome: 'complete',
    });
    const manifestKey = (await listKeys(stack, `investigations/${run.investigationId}/${agentId}/`)).find(
      (k) => k.endsWith('/manifest.json'),
    ) as string;
    const manifest = await readJson<Manifest>(stack, manifestKey);
    expect(manifest.directUpload?.status).toBe('not_used');
    expect(manifest.directUpload?.problems[0]).toMatch(/S3 answered HTTP 403/);
    expect(manifest.object.key).toBe(manifest.directUpload?.s1Result.key);
    expect(manifest.verification?.listing.status).toBe('verified');
    const upload = await readJson<{ uploadId: string; key: string }>(
      stack,
      `investigations/${run.investigationId}/${agentId}/direct/upload.json`,
    );
    await expect(
      stack.s3.client.send(
        new ListPartsCommand({ Bucket: stack.bucket, Key: upload.key, UploadId: upload.uploadId }),
      ),
    ).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });
});
