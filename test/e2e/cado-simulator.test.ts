import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CadoSimulator,
  type CadoSimulatorOptions,
  startCadoSimulator,
} from '../../local/cado-simulator';

const LEAD = 'lead-key-0123456789';
const ANALYST = 'analyst-key-0123456789';
const READER = 'reader-key-0123456789';
const PLATFORM_ADMIN = 'platform-admin-key-0123456789';
const T0 = Date.UTC(2025, 5, 1);
const TIMING = { queuedMs: 1_000, acquisitionMs: 3_000, processingMs: 5_000, childSpawnDelayMs: 0 };

interface Pagination {
  type: string;
  total_records: number;
  current_page: number;
  total_pages: number;
  per_page: number;
}

/** The v3 envelope, loosely: tests read what they assert on. */
interface Envelope<T> {
  status: string;
  data: T;
  pagination: Pagination;
  message: string;
  code: string;
}

interface SubtaskJson {
  name: string;
  state: string;
  progress_text: string[];
  start_time: number | null;
  finish_time: number | null;
}

interface PipelineJson {
  pipeline: { id: number; type: string };
  status?: string;
  terminated: boolean;
  aborted: boolean;
  summary: Record<'total' | 'success' | 'failure' | 'pending' | 'running' | 'cancelled', number>;
  subtasks: SubtaskJson[];
  triggering_pipeline_id?: number;
  evidence: { id: number; name: string };
}

interface WhoamiJson {
  rbac_role: string;
  eula_agreed: boolean;
  permissions: Record<string, boolean>;
}

interface ApiResult<T> {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  json: Envelope<T>;
}

let t = T0;
const clock = () => t;
let sim: CadoSimulator;

async function start(options: CadoSimulatorOptions = {}): Promise<CadoSimulator> {
  t = T0;
  sim = await startCadoSimulator({
    clock,
    keys: [
      { key: LEAD, role: 'Lead Analyst' },
      { key: ANALYST, role: 'Analyst' },
      { key: READER, role: 'Read Only Analyst' },
      { key: PLATFORM_ADMIN, role: 'Platform Administrator' },
    ],
    ...options,
    behaviour: { timing: TIMING, ...options.behaviour },
  });
  return sim;
}

async function api<T = unknown>(
  method: string,
  path: string,
  options: { key?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<ApiResult<T>> {
  const key = options.key === undefined ? LEAD : options.key;
  const response = await fetch(`${sim.apiUrl}${path}`, {
    method,
    headers: {
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    ...(options.raw === undefined ? {} : { body: options.raw }),
  });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON (e.g. an HTML fault page): keep the text.
  }
  return { status: response.status, headers: response.headers, json: json as Envelope<T> };
}

/** The single item of a list (fails the test otherwise). */
function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

async function createProject(name: string): Promise<number> {
  const created = await api<{ id: number }>('POST', '/projects', { body: { case_name: name } });
  expect(created.status).toBe(201);
  return created.json.data.id;
}

async function importKey(
  projectId: number,
  key: string,
  extra: Record<string, unknown> = {},
): Promise<number> {
  const started = await api<{ pipeline_id: number }>('POST', '/import/aws/s3', {
    body: { project_id: projectId, bucket: 'evidence', file_name: [key], ...extra },
  });
  expect(started.status).toBe(200);
  return started.json.data.pipeline_id;
}

async function pipeline(id: number): Promise<PipelineJson> {
  const got = await api<PipelineJson>('GET', `/pipelines/${id}`);
  expect(got.status).toBe(200);
  return got.json.data;
}

describe('Cado simulator: auth, roles and platform', () => {
  beforeEach(async () => {
    await start();
  });
  afterEach(async () => {
    await sim.close();
  });

  it('answers 401 with the v3 error envelope for a missing, unknown or malformed key, never echoing it', async () => {
    const missing = await api('GET', '/auth/whoami', { key: null });
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({
      status: 'error',
      code: expect.any(String),
      message: expect.any(String),
    });

    const unknown = await api('GET', '/auth/whoami', { key: 'not-a-real-key-secret' });
    expect(unknown.status).toBe(401);
    expect(JSON.stringify(unknown.json)).not.toContain('not-a-real-key-secret');

    const wrongScheme = await api('GET', '/auth/whoami', {
      key: null,
      headers: { authorization: `Token ${LEAD}` },
    });
    expect(wrongScheme.status).toBe(401);
  });

  it('revokes and rotates keys', async () => {
    const rotated = sim.rotateKey(ANALYST);
    expect((await api<WhoamiJson>('GET', '/auth/whoami', { key: ANALYST })).status).toBe(401);
    const whoami = await api<WhoamiJson>('GET', '/auth/whoami', { key: rotated });
    expect(whoami.json.data.rbac_role).toBe('Analyst');

    sim.revokeKey(rotated);
    expect((await api('GET', '/auth/whoami', { key: rotated })).status).toBe(401);
  });

  it('reports the role and its permissions on whoami', async () => {
    const lead = (await api<WhoamiJson>('GET', '/auth/whoami')).json.data;
    expect(lead).toMatchObject({ rbac_role: 'Lead Analyst', eula_agreed: true });
    expect(lead.permissions).toMatchObject({
      projects_create: true,
      import_data_full: true,
      import_data_triage: true,
      pipelines_read: true,
      cloud_accounts_read: true,
    });
    const analyst = (await api<WhoamiJson>('GET', '/auth/whoami', { key: ANALYST })).json.data;
    expect(analyst.permissions).toMatchObject({ projects_create: false, import_data_full: true });
    const reader = (await api<WhoamiJson>('GET', '/auth/whoami', { key: READER })).json.data;
    expect(reader.permissions).toMatchObject({
      projects_create: false,
      import_data_full: false,
      pipelines_read: true,
    });
  });

  it('enforces roles on endpoints with 403', async () => {
    expect((await api('POST', '/projects', { key: ANALYST, body: { case_name: 'x' } })).status).toBe(403);
    const projectId = await createProject('roles');
    const body = { project_id: projectId, bucket: 'evidence', file_name: ['a.zip'] };
    expect((await api('POST', '/import/aws/s3', { key: READER, body })).status).toBe(403);
    expect((await api('POST', '/import/aws/s3', { key: ANALYST, body })).status).toBe(200);
    expect((await api('GET', '/projects', { key: PLATFORM_ADMIN })).status).toBe(403);
    expect((await api('GET', '/system/status', { key: PLATFORM_ADMIN })).status).toBe(200);
  });

  it('blocks keys whose user has not accepted the EULA when enforcement is on (except whoami)', async () => {
    sim.addKey({ key: 'no-eula-key', role: 'Lead Analyst', eulaAgreed: false });
    expect((await api('GET', '/projects', { key: 'no-eula-key' })).status).toBe(200);
    sim.behaviour.enforceEula = true;
    const blocked = await api('GET', '/projects', { key: 'no-eula-key' });
    expect(blocked).toMatchObject({ status: 403, json: { code: 'eula_not_agreed' } });
    const whoami = await api<WhoamiJson>('GET', '/auth/whoami', { key: 'no-eula-key' });
    expect(whoami.json.data.eula_agreed).toBe(false);
  });

  it('reports system status, switchable to unhealthy, and the platform version', async () => {
    const healthy = await api('GET', '/system/status');
    expect(healthy.json.data).toEqual({
      status: 'running',
      status_message: '',
      is_installing: false,
      setup_complete: true,
    });
    sim.setHealth({ status: 'upgrading', status_message: 'Upgrade in progress', is_installing: true });
    expect((await api('GET', '/system/status')).json.data).toMatchObject({
      status: 'upgrading',
      is_installing: true,
    });
    const platform = await api('GET', '/platform');
    expect(platform.json.data).toMatchObject({ version: '2.324.0', deployment_details: { cloud: 'aws' } });
  });

  it('answers 404 for unknown paths and 405 for a wrong method', async () => {
    expect((await api('GET', '/nothing-here')).status).toBe(404);
    expect((await api('DELETE', '/projects/1')).status).toBe(405);
  });
});

describe('Cado simulator: projects', () => {
  beforeEach(async () => {
    await start();
  });
  afterEach(async () => {
    await sim.close();
  });

  it('creates a project (201) and refuses a duplicate name with 409', async () => {
    const created = await api('POST', '/projects', { body: { case_name: 'threat-42', description: 'd' } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ status: 'success', data: { message: expect.any(String), id: 1 } });
    const duplicate = await api('POST', '/projects', { body: { case_name: 'threat-42' } });
    expect(duplicate).toMatchObject({ status: 409, json: { status: 'error', code: 'conflict' } });
  });

  it('validates case_name (required, at most 80 characters)', async () => {
    expect((await api('POST', '/projects', { body: {} })).status).toBe(400);
    expect((await api('POST', '/projects', { body: { case_name: 'x'.repeat(81) } })).status).toBe(400);
    expect((await api('POST', '/projects', { body: { case_name: 'x'.repeat(80) } })).status).toBe(201);
    expect((await api('POST', '/projects', { raw: '{not json' })).status).toBe(400);
  });

  it('lists with a substring name filter and 1-based page pagination; gets one by id', async () => {
    for (const name of ['threat-1', 'threat-10', 'threat-11', 'manual-1']) await createProject(name);
    const filtered = await api<unknown[]>('GET', '/projects?name=threat-1&per_page=2&page=2');
    expect(filtered.json.pagination).toEqual({
      type: 'page',
      total_records: 3,
      current_page: 2,
      total_pages: 2,
      per_page: 2,
    });
    expect(filtered.json.data).toHaveLength(1);
    const all = await api<{ details: { name: string } }[]>('GET', '/projects?name=threat-1&per_page=10');
    expect(all.json.data.map((p) => p.details.name).sort()).toEqual(['threat-1', 'threat-10', 'threat-11']);
    expect((await api('GET', '/projects?page=0')).status).toBe(400);

    const one = await api<unknown>('GET', '/projects/4');
    expect(one.json.data).toMatchObject({ id: 4, created: T0, details: { name: 'manual-1' } });
    expect((await api('GET', '/projects/99')).status).toBe(404);
  });
});

describe('Cado simulator: S3 import', () => {
  afterEach(async () => {
    await sim.close();
  });

  it('types file_name as an array on current platforms and records what was asked', async () => {
    await start();
    const projectId = await createProject('imports');
    const asString = await api('POST', '/import/aws/s3', {
      body: { project_id: projectId, bucket: 'evidence', file_name: 'a/b.zip' },
    });
    expect(asString).toMatchObject({ status: 400, json: { status: 'error', code: 'validation_error' } });

    const pipelineId = await importKey(projectId, 'investigations/threat-1/agent/task/out.zip');
    expect(sim.state.imports.at(-1)).toMatchObject({
      pipelineId,
      projectId,
      bucket: 'evidence',
      keys: ['investigations/threat-1/agent/task/out.zip'],
      fileName: ['investigations/threat-1/agent/task/out.zip'],
      wholeBucket: false,
    });
    expect((await pipeline(pipelineId)).evidence.name).toBe('investigations/threat-1/agent/task/out.zip');
  });

  it('types file_name as a string before 2.230.0', async () => {
    await start({ platformVersion: '2.225.0' });
    const projectId = await createProject('old platform');
    const asArray = await api('POST', '/import/aws/s3', {
      body: { project_id: projectId, bucket: 'evidence', file_name: ['a.zip'] },
    });
    expect(asArray.status).toBe(400);
    const asString = await api('POST', '/import/aws/s3', {
      body: { project_id: projectId, bucket: 'evidence', file_name: 'a.zip' },
    });
    expect(asString.status).toBe(200);
  });

  it('accepts an import without file_name but records it as a whole-bucket import', async () => {
    await start();
    const projectId = await createProject('whole bucket');
    const started = await api('POST', '/import/aws/s3', {
      body: { project_id: projectId, bucket: 'evidence', prefix: 'investigations/' },
    });
    expect(started.status).toBe(200);
    expect(sim.state.imports.at(-1)).toMatchObject({
      wholeBucket: true,
      keys: [],
      prefix: 'investigations/',
    });
  });

  it('validates project_id and cloud_id', async () => {
    await start();
    const projectId = await createProject('validation');
    const asText = await api('POST', '/import/aws/s3', {
      body: { project_id: String(projectId), bucket: 'evidence', file_name: ['a.zip'] },
    });
    expect(asText.status).toBe(400);
    const unknown = await api('POST', '/import/aws/s3', {
      body: { project_id: 9999, bucket: 'evidence', file_name: ['a.zip'] },
    });
    expect(unknown.status).toBe(404);
    const noAccount = await api('POST', '/import/aws/s3', {
      body: { project_id: projectId, bucket: 'evidence', file_name: ['a.zip'], cloud_id: 'prod' },
    });
    expect(noAccount.status).toBe(404);
    sim.addCloudAccount('prod');
    await importKey(projectId, 'a.zip', { cloud_id: 'prod' });
    expect(sim.state.imports.at(-1)?.cloudId).toBe('prod');
  });
});

describe('Cado simulator: pipelines over simulated time', () => {
  afterEach(async () => {
    await sim.close();
  });

  it('moves an acquisition from queued through in_progress to complete, then spawns a processing child', async () => {
    await start();
    const projectId = await createProject('lifecycle');
    const id = await importKey(projectId, 'k.zip');

    const queued = await pipeline(id);
    expect(queued).toMatchObject({
      pipeline: { id, type: 'acquisition' },
      status: 'queued',
      terminated: false,
      can_be_terminated: true,
      created: T0,
      project: { id: projectId, name: 'lifecycle' },
    });
    expect(queued.summary).toMatchObject({ total: 3, pending: 3 });

    t = T0 + 1_500;
    const running = await pipeline(id);
    expect(running).toMatchObject({ status: 'in_progress', start_time: T0 + 1_000 });
    expect(running.subtasks.map((s) => s.state)).toEqual(['RUNNING', 'PENDING', 'PENDING']);
    expect((await api<PipelineJson[]>('GET', `/pipelines?triggering_pipeline_id=${id}`)).json.data).toEqual(
      [],
    );

    t = T0 + 4_000;
    const done = await pipeline(id);
    expect(done).toMatchObject({
      status: 'complete',
      terminated: true,
      aborted: false,
      can_be_terminated: false,
    });
    expect(done.summary).toEqual({ total: 3, success: 3, failure: 0, pending: 0, running: 0, cancelled: 0 });

    const children = await api<PipelineJson[]>('GET', `/pipelines?triggering_pipeline_id=${id}`);
    expect(children.json.pagination.total_records).toBe(1);
    const child = only(children.json.data);
    expect(child).toMatchObject({
      pipeline: { type: 'processing' },
      triggering_pipeline_id: id,
      status: 'queued',
    });
    expect(child.subtasks[0]).toEqual({ name: 'Start worker', state: 'PENDING' });

    t = T0 + 4_000 + 1_000 + 5_000;
    expect(await pipeline(child.pipeline.id)).toMatchObject({
      status: 'complete',
      triggering_pipeline_id: id,
    });
    const byProject = await api<PipelineJson[]>('GET', `/pipelines?project_id=${projectId}&order_by=id`);
    expect(byProject.json.data.map((p) => p.pipeline.id)).toEqual([id, child.pipeline.id]);
  });

  it('delays the child when told to, and runs a single processing pipeline when children are off', async () => {
    await start({ behaviour: { timing: { ...TIMING, childSpawnDelayMs: 2_000 } } });
    const projectId = await createProject('children');
    const parent = await importKey(projectId, 'a.zip');
    t = T0 + 4_000;
    expect(
      (await api<PipelineJson[]>('GET', `/pipelines?triggering_pipeline_id=${parent}`)).json.data,
    ).toHaveLength(0);
    t = T0 + 6_000;
    expect(
      (await api<PipelineJson[]>('GET', `/pipelines?triggering_pipeline_id=${parent}`)).json.data,
    ).toHaveLength(1);

    sim.behaviour.childPipelines = false;
    const single = await importKey(projectId, 'b.zip');
    t += 1_000 + 3_000 + 5_000;
    const done = await pipeline(single);
    expect(done).toMatchObject({ pipeline: { type: 'processing' }, status: 'complete' });
    expect(done.summary.total).toBe(8);
    expect(
      (await api<PipelineJson[]>('GET', `/pipelines?triggering_pipeline_id=${single}`)).json.data,
    ).toHaveLength(0);
  });

  it('fails an acquisition with a FAILURE subtask carrying progress_text and spawns no child', async () => {
    await start({
      behaviour: { acquisitionOutcome: { kind: 'failed', progressText: 'archive was encrypted' } },
    });
    const id = await importKey(await createProject('failing'), 'enc.zip');
    t = T0 + 10_000;
    const failed = await pipeline(id);
    expect(failed).toMatchObject({ status: 'failed', terminated: true, aborted: false });
    expect(failed.summary).toMatchObject({ success: 1, failure: 1, cancelled: 1 });
    expect(failed.subtasks[1]).toMatchObject({ state: 'FAILURE', progress_text: ['archive was encrypted'] });
    expect(
      (await api<PipelineJson[]>('GET', `/pipelines?triggering_pipeline_id=${id}`)).json.data,
    ).toHaveLength(0);
  });

  it('fails only the processing child when processing fails', async () => {
    await start({ behaviour: { processingOutcome: 'failed' } });
    const id = await importKey(await createProject('processing fails'), 'a.zip');
    t = T0 + 60_000;
    expect((await pipeline(id)).status).toBe('complete');
    const child = only(
      (await api<PipelineJson[]>('GET', `/pipelines?triggering_pipeline_id=${id}`)).json.data,
    );
    expect(child.status).toBe('failed');
    expect(child.summary.failure).toBe(1);
  });

  it('ends cancelled (aborted) by outcome or by PATCH {aborted:true}, and refuses to abort a finished pipeline', async () => {
    await start({ behaviour: { acquisitionOutcome: 'cancelled' } });
    const projectId = await createProject('cancel');
    const byOutcome = await importKey(projectId, 'a.zip');
    sim.behaviour.acquisitionOutcome = 'complete';
    const byPatch = await importKey(projectId, 'b.zip');

    t = T0 + 1_500;
    const patched = await api('PATCH', `/pipelines/${byPatch}`, { body: { aborted: true } });
    expect(patched.status).toBe(200);
    expect(
      (await api('PATCH', `/pipelines/${byPatch}`, { key: READER, body: { aborted: true } })).status,
    ).toBe(403);

    t = T0 + 10_000;
    for (const id of [byOutcome, byPatch]) {
      const cancelled = await pipeline(id);
      expect(cancelled).toMatchObject({ status: 'cancelled', terminated: true, aborted: true });
      expect(cancelled.summary.cancelled).toBeGreaterThan(0);
      expect(cancelled.summary.failure).toBe(0);
    }
    expect((await pipeline(byPatch)).subtasks[0]).toMatchObject({
      state: 'CANCELLED',
      finish_time: T0 + 1_500,
    });
    expect((await api('PATCH', `/pipelines/${byPatch}`, { body: { aborted: true } })).status).toBe(400);
    expect(
      (await api<PipelineJson[]>('GET', `/pipelines?triggering_pipeline_id=${byPatch}`)).json.data,
    ).toHaveLength(0);
  });

  it('omits status on legacy platforms, leaving terminated/aborted/summary to decide', async () => {
    await start({ platformVersion: '2.260.0', behaviour: { acquisitionOutcome: 'failed' } });
    expect(sim.behaviour.legacyStatus).toBe(true);
    const id = await importKey(await createProject('legacy'), 'a.zip');
    const running = await pipeline(id);
    expect(running).not.toHaveProperty('status');
    expect(running.terminated).toBe(false);
    t = T0 + 10_000;
    const ended = await pipeline(id);
    expect(ended).not.toHaveProperty('status');
    expect(ended).toMatchObject({ terminated: true, aborted: false });
    expect(ended.summary.failure).toBe(1);
    const listed = (await api<PipelineJson[]>('GET', '/pipelines')).json.data[0];
    expect(listed).not.toHaveProperty('status');
  });

  it('lets a hook pick outcomes per import', async () => {
    await start({
      behaviour: {
        outcomeFor: ({ keys }) =>
          keys.some((k) => k.includes('agent-2')) ? { acquisition: 'failed' } : undefined,
      },
    });
    const projectId = await createProject('per agent');
    const ok = await importKey(projectId, 'threat/agent-1/out.zip');
    const bad = await importKey(projectId, 'threat/agent-2/out.zip');
    t = T0 + 10_000;
    expect((await pipeline(ok)).status).toBe('complete');
    expect((await pipeline(bad)).status).toBe('failed');
    expect((await api('GET', '/pipelines/424242')).status).toBe(404);
  });
});

describe('Cado simulator: faults and request log', () => {
  beforeEach(async () => {
    await start();
  });
  afterEach(async () => {
    await sim.close();
  });

  it('answers 429 with Retry-After for a counted number of matching requests', async () => {
    const rule = sim.faults.add({
      method: 'GET',
      path: '/api/v3/auth/whoami',
      status: 429,
      retryAfter: 7,
      times: 2,
    });
    const first = await api('GET', '/auth/whoami');
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('7');
    expect((await api('GET', '/system/status')).status).toBe(200);
    expect((await api<WhoamiJson>('GET', '/auth/whoami')).status).toBe(429);
    expect((await api<WhoamiJson>('GET', '/auth/whoami')).status).toBe(200);
    expect(rule).toMatchObject({ fired: 2, remaining: 0 });
  });

  it('skips, matches by RegExp, serves HTML bodies, delays and resets', async () => {
    sim.faults.add({
      path: /^\/api\/v3\/pipelines/,
      skip: 1,
      times: 1,
      status: 502,
      body: '<html>Bad Gateway</html>',
    });
    expect((await api('GET', '/pipelines')).status).toBe(200);
    const html = await api('GET', '/pipelines');
    expect(html).toMatchObject({ status: 502, json: '<html>Bad Gateway</html>' });
    expect(html.headers.get('content-type')).toContain('text/html');

    sim.faults.add({ path: '/api/v3/platform', delayMs: 150, times: 1 });
    const began = Date.now();
    expect((await api('GET', '/platform')).status).toBe(200);
    expect(Date.now() - began).toBeGreaterThanOrEqual(140);

    sim.faults.add({ path: '/api/v3/projects', reset: true, times: 1 });
    await expect(api('GET', '/projects')).rejects.toThrow();
    expect(sim.requests.at(-1)).toMatchObject({ path: '/api/v3/projects', status: 0 });
    expect((await api('GET', '/projects')).status).toBe(200);
  });

  it('goes down with 503 for everything, or refuses connections, and comes back on the same port', async () => {
    const port = sim.port;
    await sim.faults.down();
    const unavailable = await api('GET', '/auth/whoami');
    expect(unavailable).toMatchObject({ status: 503, json: { status: 'error' } });

    await sim.faults.down('refuse');
    await expect(api('GET', '/auth/whoami')).rejects.toThrow();
    await sim.faults.up();
    expect(sim.port).toBe(port);
    expect((await api<WhoamiJson>('GET', '/auth/whoami')).status).toBe(200);

    sim.faults.add({ status: 500 });
    await sim.faults.clear();
    expect((await api<WhoamiJson>('GET', '/auth/whoami')).status).toBe(200);
  });

  it('logs every request with lower-cased headers, query, parsed body and status', async () => {
    sim.clearRequests();
    await api('POST', '/projects', { body: { case_name: 'logged' }, headers: { 'X-Trace': 'abc' } });
    await api('GET', '/projects?name=logged&page=1', { key: 'bad-key' });
    expect(sim.requests).toHaveLength(2);
    expect(sim.requests[0]).toMatchObject({
      at: T0,
      method: 'POST',
      path: '/api/v3/projects',
      body: { case_name: 'logged' },
      status: 201,
      headers: { authorization: `Bearer ${LEAD}`, 'x-trace': 'abc' },
    });
    expect(sim.requests[1]).toMatchObject({ query: { name: 'logged', page: '1' }, status: 401 });
  });
});

describe('Cado simulator: S3 existence check against s3rver', () => {
  const bucket = 'evidence';
  let s3rver: S3rver;
  let directory: string;
  let endpoint: string;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'cado-sim-s3-'));
    s3rver = new S3rver({
      address: '127.0.0.1',
      port: 0,
      directory,
      silent: true,
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    const address = await s3rver.run();
    endpoint = `http://127.0.0.1:${address.port}`;
    const client = new S3Client({ endpoint, region: 'us-east-1', credentials, forcePathStyle: true });
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'inv/agent/task/out.zip', Body: Buffer.alloc(1234) }),
    );
    client.destroy();
  });
  afterAll(async () => {
    await s3rver.close();
    await rm(directory, { recursive: true, force: true });
  });
  afterEach(async () => {
    await sim.close();
  });

  it('records the size of a staged object and fails the pipeline when the object is missing', async () => {
    await start({ s3: { endpoint, region: 'us-east-1', credentials, forcePathStyle: true } });
    const projectId = await createProject('s3');
    const present = await importKey(projectId, 'inv/agent/task/out.zip');
    const missing = await importKey(projectId, 'inv/agent/task/never-staged.zip');

    const evidence = [...sim.state.evidences.values()];
    expect(evidence.find((e) => e.key === 'inv/agent/task/out.zip')).toMatchObject({
      found: true,
      sizeBytes: 1234,
    });
    expect(evidence.find((e) => e.key === 'inv/agent/task/never-staged.zip')).toMatchObject({ found: false });

    t = T0 + 10_000;
    expect((await pipeline(present)).status).toBe('complete');
    const failed = await pipeline(missing);
    expect(failed.status).toBe('failed');
    const failure = failed.subtasks.find((s) => s.state === 'FAILURE');
    expect(failure?.name).toBe('Download from S3');
    expect(failure?.progress_text[0]).toMatch(/object not found/);
  });
});
