/**
 * Contract of the S1 simulator's result files and storage host, with plain fetch: real zips whose SHA-256 is
 * the task's signature, presigned links (signature, expiry, no second auth mechanism), byte ranges, broken
 * downloads (reset/truncate) and resuming them.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AgentBehavior,
  createManualClock,
  type DemoTenant,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';
import { keystream, PatternSource } from '../../local/s1-simulator/zip';

const clock = createManualClock();
let sim: S1Simulator;
let tenant: DemoTenant;
let scriptId: string;

const SIZE = 3 * 1024 * 1024 + 7; // several chunks, not block-aligned

interface ZipEntry {
  name: string;
  crc: number;
  data: Buffer;
}

/** Reads a stored-entries zip through its end-of-central-directory record, checking every header. */
function readZip(zip: Buffer): ZipEntry[] {
  const eocd = zip.length - 22;
  expect(zip.readUInt32LE(eocd)).toBe(0x06054b50);
  const count = zip.readUInt16LE(eocd + 10);
  const centralSize = zip.readUInt32LE(eocd + 12);
  let pos = zip.readUInt32LE(eocd + 16);
  expect(pos + centralSize).toBe(eocd);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(pos)).toBe(0x02014b50);
    const method = zip.readUInt16LE(pos + 10);
    const crc = zip.readUInt32LE(pos + 16);
    const compressed = zip.readUInt32LE(pos + 20);
    const size = zip.readUInt32LE(pos + 24);
    const nameLength = zip.readUInt16LE(pos + 28);
    const skip = zip.readUInt16LE(pos + 30) + zip.readUInt16LE(pos + 32);
    const local = zip.readUInt32LE(pos + 42);
    const name = zip.subarray(pos + 46, pos + 46 + nameLength).toString('utf8');
    expect(method).toBe(0);
    expect(compressed).toBe(size);
    expect(zip.readUInt32LE(local)).toBe(0x04034b50);
    expect(zip.readUInt32LE(local + 14)).toBe(crc);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    entries.push({ name, crc, data: zip.subarray(dataStart, dataStart + size) });
    pos += 46 + nameLength + skip;
  }
  return entries;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function api(path: string, json: unknown): Promise<{ status: number; data: Record<string, unknown> }> {
  const res = await fetch(`${sim.apiUrl}${path}`, {
    method: 'POST',
    headers: { Authorization: `ApiToken ${tenant.serviceUser.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(json),
  });
  const body = (await res.json()) as { data: Record<string, unknown> };
  return { status: res.status, data: body.data };
}

interface Link {
  taskId: string;
  fileName: string;
  downloadUrl: string;
}

async function fetchLink(taskId: string): Promise<Link> {
  const reply = await api('/remote-scripts/fetch-files', { data: { taskIds: [taskId] } });
  const links = reply.data.download_links as Link[];
  expect(links).toHaveLength(1);
  return links[0] as Link;
}

/** Runs the script on a fresh Linux agent with this behaviour and returns the completed child task id. */
async function completedTask(behavior: AgentBehavior): Promise<string> {
  const agent = sim.addAgent({ siteId: tenant.sites.rso.id, osType: 'linux', behavior });
  const reply = await api('/remote-scripts/execute', {
    filter: { ids: [agent.id] },
    data: { scriptId, taskDescription: 'collect', outputDestination: 'SentinelCloud' },
  });
  const parentTaskId = reply.data.parentTaskId as string;
  clock.advance(sim.config.taskTiming.pickupMs + sim.config.taskTiming.runMs);
  const [task] = sim.tasksOf(parentTaskId);
  if (!task) throw new Error('no task started');
  expect(sim.taskView(task.id).status).toBe('completed');
  return task.id;
}

/** Reads a body chunk by chunk; on a broken connection returns what arrived and the error. */
async function readUntilError(res: Response): Promise<{ data: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  const reader = res.body?.getReader();
  if (!reader) return { data: Buffer.alloc(0), error: undefined };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { data: Buffer.concat(chunks), error: undefined };
      chunks.push(Buffer.from(value));
    }
  } catch (error) {
    return { data: Buffer.concat(chunks), error };
  }
}

let generatedTask: string;
let full: Buffer;
let link: Link;

beforeAll(async () => {
  sim = await startS1Simulator({ clock: clock.now, seed: 'storage-test', rateLimits: false });
  tenant = seedDemoTenant(sim);
  scriptId = sim.addScript({ scriptName: 'collector', osTypes: ['linux'], content: '#!/bin/sh\n' }).id;
  generatedTask = await completedTask({ result: { size: SIZE } });
  link = await fetchLink(generatedTask);
  const res = await fetch(link.downloadUrl);
  expect(res.status).toBe(200);
  full = Buffer.from(await res.arrayBuffer());
});

afterAll(async () => {
  await sim.close();
});

beforeEach(async () => {
  // Each test gets a link valid at its own clock time (tests move the clock).
  link = await fetchLink(generatedTask);
});

afterEach(() => {
  sim.faults.clear();
});

describe('result files', () => {
  it('serves a valid zip whose SHA-256 is the status signature and the file name', async () => {
    const status = await fetch(
      `${sim.apiUrl}/remote-scripts/status?parentTaskId=${sim.state.tasks.get(generatedTask)?.parentTaskId}`,
      {
        headers: { Authorization: `ApiToken ${tenant.serviceUser.token}` },
      },
    );
    const [row] = ((await status.json()) as { data: { scriptResultsSignature: string }[] }).data;
    expect(sha256(full)).toBe(row?.scriptResultsSignature);
    expect(link.fileName).toBe(`${sha256(full)}.zip`);
    const [entry, ...rest] = readZip(full);
    expect(rest).toEqual([]);
    expect(entry?.name).toBe('collection.bin');
    expect(entry?.data.length).toBe(SIZE);
    expect(crc32(entry?.data ?? Buffer.alloc(0))).toBe(entry?.crc);
    // Pseudo-random, not a constant fill: a long run of one byte would betray a broken generator.
    expect(new Set(entry?.data.subarray(0, 4096)).size).toBeGreaterThan(200);
  });

  it('packs caller-supplied entries unchanged', async () => {
    const manifest = Buffer.from(JSON.stringify({ host: 'acme-web-01', files: 2 }));
    const binary = Buffer.from([0, 1, 2, 250, 251, 255]);
    const taskId = await completedTask({
      result: {
        entries: [
          { name: 'manifest.json', content: manifest },
          { name: 'artifacts/raw.bin', content: binary },
        ],
      },
    });
    const got = Buffer.from(await (await fetch((await fetchLink(taskId)).downloadUrl)).arrayBuffer());
    const entries = readZip(got);
    expect(entries.map((entry) => entry.name)).toEqual(['manifest.json', 'artifacts/raw.bin']);
    expect(entries[0]?.data.equals(manifest)).toBe(true);
    expect(entries[1]?.data.equals(binary)).toBe(true);
    expect(entries.every((entry) => crc32(entry.data) === entry.crc)).toBe(true);
    expect((await sim.resultOf(taskId)).sha256).toBe(sha256(got));
  });

  it('generates any byte range of pseudo-random content directly', () => {
    // A small pool makes every block boundary and pool wrap-around show up within a few KiB.
    const source = new PatternSource(keystream(Buffer.alloc(16, 7), 4096), 42, 1_000_000);
    const whole = Buffer.concat([...source.read(0, source.size)]);
    expect(whole.length).toBe(1_000_000);
    expect(whole.subarray(0, 4096).equals(whole.subarray(4096, 8192))).toBe(false);
    for (const [start, end] of [
      [0, 1],
      [5, 37],
      [4090, 4100],
      [262_139, 524_300],
      [999_990, 1_000_000],
    ] as const) {
      expect(Buffer.concat([...source.read(start, end)]).equals(whole.subarray(start, end))).toBe(true);
    }
  });

  it('reports a result as expired after the retention period', async () => {
    const timing = sim.config.taskTiming;
    const retention = timing.resultRetentionMs;
    timing.resultRetentionMs = 10 * 60_000;
    try {
      const taskId = await completedTask({});
      clock.advance(timing.resultRetentionMs + 1);
      const reply = await api('/remote-scripts/fetch-files', { data: { taskIds: [taskId] } });
      expect(reply.data.download_links).toEqual([]);
      expect(reply.data.errors).toEqual([{ taskId, errorString: expect.stringContaining('expired') }]);
    } finally {
      timing.resultRetentionMs = retention;
    }
  });
});

describe('storage host', () => {
  it('answers HEAD and GET with Content-Length and Accept-Ranges', async () => {
    const head = await fetch(link.downloadUrl, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(full.length));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect(head.headers.get('content-type')).toBe('application/zip');
    expect(head.headers.get('content-disposition')).toBe(`filename=${link.fileName}`);
  });

  it.each([
    ['bytes=1000-', 1000, undefined],
    ['bytes=10-19', 10, 19],
    ['bytes=-5', -5, undefined],
  ] as const)('serves %s as 206 with Content-Range', async (range, start, end) => {
    const res = await fetch(link.downloadUrl, { headers: { Range: range } });
    expect(res.status).toBe(206);
    const body = Buffer.from(await res.arrayBuffer());
    const first = start < 0 ? full.length + start : start;
    const last = end ?? full.length - 1;
    expect(res.headers.get('content-range')).toBe(`bytes ${first}-${last}/${full.length}`);
    expect(body.equals(full.subarray(first, last + 1))).toBe(true);
  });

  it('answers 416 to a range past the end', async () => {
    const res = await fetch(link.downloadUrl, { headers: { Range: `bytes=${full.length}-` } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${full.length}`);
  });

  it('rejects any Authorization header without echoing it, and logs what arrived', async () => {
    sim.clearRequests();
    const secret = tenant.serviceUser.token;
    const res = await fetch(link.downloadUrl, { headers: { Authorization: `ApiToken ${secret}` } });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain('<Code>InvalidArgument</Code>');
    expect(text).toContain('Only one auth mechanism allowed');
    expect(text).not.toContain(secret);
    const [entry] = sim.requests;
    expect(entry).toMatchObject({ host: 'storage', status: 400 });
    expect(entry?.headers.authorization).toBe(`ApiToken ${secret}`);
  });

  it('never receives the token in a normal download', async () => {
    sim.clearRequests();
    await (await fetch(link.downloadUrl)).arrayBuffer();
    const storage = sim.requests.filter((entry) => entry.host === 'storage');
    expect(storage).toHaveLength(1);
    expect(storage[0]?.headers.authorization).toBeUndefined();
    expect(JSON.stringify(storage)).not.toContain(tenant.serviceUser.token);
    expect(storage[0]?.bytesSent).toBe(full.length);
  });

  it('refuses tampered links with SignatureDoesNotMatch and unsigned ones with AccessDenied', async () => {
    const tampered = new URL(link.downloadUrl);
    tampered.searchParams.set('X-Amz-Expires', '604800');
    const forged = await fetch(tampered);
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    const bare = new URL(link.downloadUrl);
    bare.search = '';
    const unsigned = await fetch(bare);
    expect(unsigned.status).toBe(403);
    expect(await unsigned.text()).toContain('<Code>AccessDenied</Code>');
  });

  it('expires links in simulated time; a fresh fetch-files link works again', async () => {
    const taskId = await completedTask({ result: { size: 1024 } });
    const first = await fetchLink(taskId);
    clock.advance(3600 * 1000 + 1000);
    const expired = await fetch(first.downloadUrl);
    expect(expired.status).toBe(403);
    const text = await expired.text();
    expect(text).toContain('<Code>AccessDenied</Code>');
    expect(text).toContain('Request has expired');
    const again = await fetchLink(taskId);
    expect(again.downloadUrl).not.toBe(first.downloadUrl);
    expect((await fetch(again.downloadUrl)).status).toBe(200);
  });

  it('treats every link as expired while the expireLinks fault is on', async () => {
    sim.faults.expireLinks = true;
    expect((await fetch(link.downloadUrl)).status).toBe(403);
    sim.faults.clear();
    const fresh = link;
    expect((await fetch(fresh.downloadUrl)).status).toBe(200);
  });

  it('injects storage errors as S3 XML', async () => {
    const fresh = link;
    sim.faults.respond(503, { times: 1, retryAfter: 2, match: { host: 'storage' } });
    const slow = await fetch(fresh.downloadUrl);
    expect(slow.status).toBe(503);
    expect(slow.headers.get('retry-after')).toBe('2');
    expect(await slow.text()).toContain('<Code>SlowDown</Code>');
    expect((await fetch(fresh.downloadUrl)).status).toBe(200);
  });
});

describe('broken downloads', () => {
  it('resets the connection after N bytes; a Range request resumes from what arrived', async () => {
    const fresh = link;
    sim.faults.add({
      match: { host: 'storage' },
      times: 1,
      action: { type: 'reset', afterBytes: 1_000_000 },
    });
    const res = await fetch(fresh.downloadUrl);
    expect(res.headers.get('content-length')).toBe(String(full.length));
    const partial = await readUntilError(res);
    expect(partial.error).toBeDefined();
    expect(partial.data.length).toBeLessThanOrEqual(1_000_000);
    const logged = sim.requests.findLast((entry) => entry.host === 'storage');
    expect(logged).toMatchObject({ bytesSent: 1_000_000, aborted: true });

    const rest = await fetch(fresh.downloadUrl, { headers: { Range: `bytes=${partial.data.length}-` } });
    expect(rest.status).toBe(206);
    const resumed = Buffer.concat([partial.data, Buffer.from(await rest.arrayBuffer())]);
    expect(sha256(resumed)).toBe(sha256(full));
  });

  it('truncates the body short of Content-Length', async () => {
    const fresh = link;
    sim.faults.add({
      match: { host: 'storage' },
      times: 1,
      action: { type: 'truncate', afterBytes: 777_777 },
    });
    const res = await fetch(fresh.downloadUrl);
    expect(res.status).toBe(200);
    const partial = await readUntilError(res);
    expect(partial.error).toBeDefined();
    expect(partial.data.length).toBe(777_777);
    expect(partial.data.equals(full.subarray(0, 777_777))).toBe(true);
    expect(sim.requests.findLast((entry) => entry.host === 'storage')).toMatchObject({ aborted: true });
    expect((await fetch(fresh.downloadUrl)).status).toBe(200);
  });
});
