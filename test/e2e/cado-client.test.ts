/**
 * The Cado client against the Cado simulator (a real HTTP server on 127.0.0.1 with simulated time): what it sends,
 * how it reads what comes back across platform releases, and how it fails.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type CadoClientOptions, createCadoClient, missingPermissionsFor } from '../../lambdas/shared/cado';
import {
  CadoAuthError,
  CadoConflictError,
  CadoForbiddenError,
  CadoRateLimitedError,
  CadoTransientError,
  CadoValidationError,
  InputValidationError,
} from '../../lambdas/shared/errors';
import type { CredentialSource } from '../../lambdas/shared/http';
import { logger } from '../../lambdas/shared/observability';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { SecretReader, secretCredential, staticCredential } from '../../lambdas/shared/secrets';
import {
  type CadoRequestLogEntry,
  type CadoSimulator,
  type CadoSimulatorOptions,
  startCadoSimulator,
} from '../../local/cado-simulator';

const LEAD = 'lead-key-5f1e0c8a9b7d6e4f';
const ANALYST = 'analyst-key-2a3b4c5d6e7f8091';
const READER = 'reader-key-9d8c7b6a5f4e3d2c';
const T0 = Date.UTC(2025, 5, 1);
const TIMING = { queuedMs: 1_000, acquisitionMs: 3_000, processingMs: 5_000, childSpawnDelayMs: 0 };
/** Queued + acquisition: the acquisition pipeline has completed (and, with no spawn delay, its child exists). */
const ACQUIRED = TIMING.queuedMs + TIMING.acquisitionMs;
/** Everything done. */
const PROCESSED = ACQUIRED + TIMING.queuedMs + TIMING.processingMs;

let t = T0;
const clock = () => t;
let sim: CadoSimulator | undefined;
let delays: number[] = [];

async function start(options: CadoSimulatorOptions = {}): Promise<CadoSimulator> {
  t = T0;
  sim = await startCadoSimulator({
    clock,
    keys: [
      { key: LEAD, role: 'Lead Analyst' },
      { key: ANALYST, role: 'Analyst' },
      { key: READER, role: 'Read Only Analyst' },
    ],
    ...options,
    behaviour: { timing: TIMING, ...options.behaviour },
  });
  return sim;
}

function client(
  simulator: CadoSimulator,
  credentials: CredentialSource | string = LEAD,
  extra: Partial<CadoClientOptions> = {},
) {
  return createCadoClient({
    baseUrl: simulator.apiUrl,
    credentials: typeof credentials === 'string' ? staticCredential(credentials, 'Bearer') : credentials,
    allowLoopback: true,
    clock,
    childGraceMs: 0,
    retry: { maxAttempts: 4, maxElapsedMs: 120_000, baseDelayMs: 200, maxDelayMs: 2_000 },
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: () => 0.5,
    ...extra,
  });
}

function calls(simulator: CadoSimulator, method: string, path: string | RegExp): CadoRequestLogEntry[] {
  return simulator.requests.filter(
    (r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)),
  );
}

afterEach(async () => {
  await sim?.close();
  sim = undefined;
  delays = [];
  clearRegisteredSecrets();
  vi.restoreAllMocks();
});

describe('whoami and permissions', () => {
  it('reads role and permission flags and names what an Analyst key lacks for the hand-off', async () => {
    const s = await start();
    s.addKey({ key: 'no-eula-key-0123456789ab', role: 'Lead Analyst', eulaAgreed: false });
    const lead = await client(s).whoami();
    expect(lead).toMatchObject({ role: 'Lead Analyst', eulaAgreed: true });
    expect(lead.permissions.projects_create).toBe(true);
    expect(missingPermissionsFor(lead, 'handoff')).toEqual([]);

    const analyst = await client(s, ANALYST).whoami();
    expect(analyst.role).toBe('Analyst');
    expect(missingPermissionsFor(analyst, 'handoff').map((m) => m.permission)).toEqual(['projects_create']);
    expect(missingPermissionsFor(analyst, 'import')).toEqual([]);

    const reader = await client(s, READER).whoami();
    expect(missingPermissionsFor(reader, 'handoff').map((m) => m.permission)).toEqual([
      'projects_create',
      'import_data_full or import_data_triage',
    ]);
    expect(missingPermissionsFor(reader, 'poll')).toEqual([]);

    expect((await client(s, 'no-eula-key-0123456789ab').whoami()).eulaAgreed).toBe(false);
    const sent = calls(s, 'GET', '/api/v3/auth/whoami').map((r) => r.headers.authorization);
    expect(sent[0]).toBe(`Bearer ${LEAD}`);
  });

  it('re-reads the secret once after a 401 and then throws CadoAuthError', async () => {
    const s = await start();
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ apiKey: 'stale-key-000000000000' }) })
      .resolves({ SecretString: JSON.stringify({ apiKey: 'still-wrong-key-11111111' }) });
    const reader = new SecretReader({ client: new SecretsManagerClient({}) });
    const cado = client(s, secretCredential(reader, 'cado-secret', 'apiKey', 'Bearer'));
    const error = await cado.whoami().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CadoAuthError);
    expect((error as CadoAuthError).status).toBe(401);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(calls(s, 'GET', '/api/v3/auth/whoami').map((r) => r.headers.authorization)).toEqual([
      'Bearer stale-key-000000000000',
      'Bearer still-wrong-key-11111111',
    ]);
    sm.restore();
  });

  it('picks up a rotated key through the one re-read', async () => {
    const s = await start();
    const rotated = s.rotateKey(LEAD, 'rotated-lead-key-222222222');
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ apiKey: LEAD }) })
      .resolves({ SecretString: JSON.stringify({ apiKey: rotated }) });
    const reader = new SecretReader({ client: new SecretsManagerClient({}) });
    const me = await client(s, secretCredential(reader, 'cado-secret', 'apiKey', 'Bearer')).whoami();
    expect(me.role).toBe('Lead Analyst');
    expect(calls(s, 'GET', '/api/v3/auth/whoami').map((r) => r.status)).toEqual([401, 200]);
    sm.restore();
  });
});

describe('systemStatus', () => {
  it('is healthy only when running, set up and not installing (any casing)', async () => {
    const s = await start();
    const cado = client(s);
    expect(await cado.systemStatus()).toEqual({ status: 'running', message: '', healthy: true });
    s.setHealth({ status: 'Running' });
    expect((await cado.systemStatus()).healthy).toBe(true);
    s.setHealth({ status: 'upgrading', status_message: 'Upgrading to 2.325.0', is_installing: true });
    expect(await cado.systemStatus()).toEqual({
      status: 'upgrading',
      message: 'Upgrading to 2.325.0',
      healthy: false,
    });
    s.setHealth({ status: 'RUNNING', status_message: '', is_installing: false, setup_complete: false });
    expect((await cado.systemStatus()).healthy).toBe(false);
  });
});

describe('findOrCreateProject', () => {
  it('finds an existing project by its exact, case-sensitive name without creating one', async () => {
    const s = await start();
    s.addProject('threat-420');
    s.addProject('THREAT-42');
    const wanted = s.addProject('threat-42');
    s.addProject('old threat-42 notes');
    const found = await client(s).findOrCreateProject('threat-42');
    expect(found).toEqual({ id: wanted.id, name: 'threat-42', created: false });
    expect(calls(s, 'POST', '/api/v3/projects')).toHaveLength(0);
    expect(calls(s, 'GET', '/api/v3/projects')[0]?.query.name).toBe('threat-42');
  });

  it('pages through the name search until the project turns up', async () => {
    const s = await start();
    const wanted = s.addProject('case-x');
    for (let i = 0; i < 120; i++) s.addProject(`case-x-${i}`);
    const found = await client(s).findOrCreateProject('case-x');
    expect(found).toEqual({ id: wanted.id, name: 'case-x', created: false });
    expect(calls(s, 'GET', '/api/v3/projects').map((r) => r.query.page)).toEqual(['1', '2', '3']);
  });

  it('creates a missing project once and finds it the next time', async () => {
    const s = await start();
    const cado = client(s);
    const created = await cado.findOrCreateProject('threat-7', 'S1 threat 7');
    expect(created.created).toBe(true);
    expect(s.state.projects.get(created.id)).toMatchObject({ name: 'threat-7', description: 'S1 threat 7' });
    expect(calls(s, 'POST', '/api/v3/projects').map((r) => r.body)).toEqual([
      { case_name: 'threat-7', description: 'S1 threat 7' },
    ]);
    expect(await cado.findOrCreateProject('threat-7')).toEqual({
      id: created.id,
      name: 'threat-7',
      created: false,
    });
    expect(s.state.projects.size).toBe(1);
  });

  it('shortens a name over 80 characters the same way every time', async () => {
    const s = await start();
    const long = `manual-${'x'.repeat(100)}`;
    const first = await client(s).findOrCreateProject(long);
    expect(first.name).toHaveLength(80);
    expect(await client(s).findOrCreateProject(long)).toEqual({ ...first, created: false });
  });

  it('after a 409 from a concurrent creator, returns the project the other one made', async () => {
    const s = await start();
    let other: number | undefined;
    // Another invocation creates the project between our lookup and our create.
    s.faults.add({
      method: 'POST',
      path: '/api/v3/projects',
      times: 1,
      when: () => {
        other = s.addProject('threat-race').id;
        return false;
      },
    });
    const result = await client(s).findOrCreateProject('threat-race');
    expect(result).toEqual({ id: other, name: 'threat-race', created: false });
    expect(calls(s, 'POST', '/api/v3/projects').map((r) => r.status)).toEqual([409]);
    expect(calls(s, 'GET', '/api/v3/projects')).toHaveLength(2);
  });

  it('two concurrent callers end up with one project', async () => {
    const s = await start();
    const [a, b] = await Promise.all([
      client(s).findOrCreateProject('threat-both'),
      client(s).findOrCreateProject('threat-both'),
    ]);
    expect(a.id).toBe(b.id);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
    expect(s.state.projects.size).toBe(1);
  });

  it('after a 409, accepts a single project whose name differs only in case (case-insensitive uniqueness)', async () => {
    const s = await start();
    const upper = s.addProject('THREAT-CI');
    s.faults.respond(409, { method: 'POST', path: '/api/v3/projects', times: 1 });
    expect(await client(s).findOrCreateProject('threat-ci')).toEqual({
      id: upper.id,
      name: 'THREAT-CI',
      created: false,
    });
  });

  it('a 409 with no project to be found stays a CadoConflictError; an Analyst key is forbidden', async () => {
    const s = await start();
    s.faults.respond(409, {
      method: 'POST',
      path: '/api/v3/projects',
      body: { status: 'error', message: 'Project name already exists', code: 'conflict' },
    });
    await expect(client(s).findOrCreateProject('ghost')).rejects.toBeInstanceOf(CadoConflictError);
    await s.faults.clear();
    await expect(client(s, ANALYST).findOrCreateProject('threat-9')).rejects.toBeInstanceOf(
      CadoForbiddenError,
    );
  });
});

describe('importS3', () => {
  const key = 'investigations/threat-1/agent-1/task-1/collection.zip';

  it('sends file_name as an array with the full key on current platforms', async () => {
    const s = await start();
    const project = s.addProject('p');
    s.addCloudAccount('staging');
    const result = await client(s).importS3({
      projectId: project.id,
      bucket: 'evidence',
      key,
      cloudId: 'staging',
    });
    expect(result.fileNameForm).toBe('array');
    const posts = calls(s, 'POST', '/api/v3/import/aws/s3');
    expect(posts.map((r) => r.body)).toEqual([
      { project_id: project.id, bucket: 'evidence', file_name: [key], cloud_id: 'staging' },
    ]);
    expect(posts[0]?.headers['content-type']).toBe('application/json');
    expect(s.state.imports).toHaveLength(1);
    expect(s.state.imports[0]).toMatchObject({
      pipelineId: result.pipelineId,
      keys: [key],
      wholeBucket: false,
    });
  });

  it('falls back to a string file_name exactly once on platforms before 2.230.0', async () => {
    const s = await start({ platformVersion: '2.225.0' });
    const project = s.addProject('p');
    const result = await client(s).importS3({ projectId: project.id, bucket: 'evidence', key });
    expect(result.fileNameForm).toBe('string');
    const posts = calls(s, 'POST', '/api/v3/import/aws/s3');
    expect(posts.map((r) => [r.status, (r.body as { file_name: unknown }).file_name])).toEqual([
      [400, [key]],
      [200, key],
    ]);
    expect(s.state.imports.map((i) => i.pipelineId)).toEqual([result.pipelineId]);
    // Told the form up front, it sends one request.
    s.clearRequests();
    await client(s).importS3({ projectId: project.id, bucket: 'evidence', key, fileNameForm: 'string' });
    expect(calls(s, 'POST', '/api/v3/import/aws/s3')).toHaveLength(1);
  });

  it('does not fall back on other validation errors, nor more than once', async () => {
    const s = await start();
    const project = s.addProject('p');
    const cado = client(s);
    const rejectBucket = s.faults.respond(400, {
      method: 'POST',
      path: '/api/v3/import/aws/s3',
      body: { status: 'error', message: 'Bucket evidence is not accessible', code: 'validation_error' },
    });
    await expect(cado.importS3({ projectId: project.id, bucket: 'evidence', key })).rejects.toBeInstanceOf(
      CadoValidationError,
    );
    expect(rejectBucket.fired).toBe(1);
    rejectBucket.remove();

    const rejectBoth = s.faults.respond(422, {
      method: 'POST',
      path: '/api/v3/import/aws/s3',
      body: { status: 'error', message: "'file_name' is invalid", code: 'validation_error' },
    });
    await expect(cado.importS3({ projectId: project.id, bucket: 'evidence', key })).rejects.toBeInstanceOf(
      CadoValidationError,
    );
    expect(rejectBoth.fired).toBe(2);
    expect(s.state.imports).toHaveLength(0);
  });

  it('never re-sends after a 5xx (it may have started a pipeline) but does after a 429', async () => {
    const s = await start();
    const project = s.addProject('p');
    s.faults.respond(502, { method: 'POST', path: '/api/v3/import/aws/s3', times: 1 });
    await expect(
      client(s).importS3({ projectId: project.id, bucket: 'evidence', key }),
    ).rejects.toBeInstanceOf(CadoTransientError);
    expect(calls(s, 'POST', '/api/v3/import/aws/s3')).toHaveLength(1);

    s.clearRequests();
    s.faults.respond(429, { method: 'POST', path: '/api/v3/import/aws/s3', times: 1, retryAfter: 3 });
    const result = await client(s).importS3({ projectId: project.id, bucket: 'evidence', key });
    expect(calls(s, 'POST', '/api/v3/import/aws/s3').map((r) => r.status)).toEqual([429, 200]);
    expect(delays).toEqual([3_000]);
    expect(s.state.imports.map((i) => i.pipelineId)).toEqual([result.pipelineId]);
  });

  it('refuses to import a prefix, an empty key or a bad bucket without calling Cado', async () => {
    const s = await start();
    const cado = client(s);
    for (const input of [
      { projectId: 1, bucket: 'evidence', key: 'investigations/threat-1/' },
      { projectId: 1, bucket: 'evidence', key: '' },
      { projectId: 1, bucket: 'Evidence_Bucket', key },
      { projectId: 0, bucket: 'evidence', key },
    ]) {
      await expect(cado.importS3(input)).rejects.toBeInstanceOf(InputValidationError);
    }
    expect(s.requests).toHaveLength(0);
  });
});

describe('pipelines', () => {
  async function importOne(s: CadoSimulator): Promise<number> {
    const project = s.addProject(`p-${s.state.projects.size}`);
    const { pipelineId } = await client(s).importS3({
      projectId: project.id,
      bucket: 'evidence',
      key: 'k.zip',
    });
    return pipelineId;
  }

  it('follows an acquisition and its processing child to complete', async () => {
    const s = await start();
    const cado = client(s);
    const id = await importOne(s);

    const queued = await cado.pipelineOutcome(id);
    expect(queued).toMatchObject({ state: 'running', children: [] });
    expect(queued.reason).toContain('queued');

    t = T0 + ACQUIRED;
    const acquired = await cado.getPipeline(id);
    expect(acquired).toMatchObject({ id, type: 'acquisition', status: 'complete', terminated: true });
    expect(acquired.evidence?.name).toBe('k.zip');
    const children = await cado.listChildPipelines(id);
    expect(children).toHaveLength(1);
    expect(children[0]).toMatchObject({ type: 'processing', triggeringPipelineId: id });
    const processing = await cado.pipelineOutcome(id);
    expect(processing.state).toBe('running');
    expect(processing.children.map((c) => c.state)).toEqual(['running']);

    t = T0 + PROCESSED;
    const done = await cado.pipelineOutcome(id);
    expect(done.state).toBe('complete');
    expect(done.children).toEqual([
      expect.objectContaining({ id: children[0]?.id, state: 'complete', evidenceId: acquired.evidence?.id }),
    ]);
  });

  it('reports a failed processing child with its progress_text', async () => {
    const s = await start({
      behaviour: { processingOutcome: { kind: 'failed', progressText: 'archive was encrypted', subtask: 1 } },
    });
    const id = await importOne(s);
    t = T0 + PROCESSED;
    const outcome = await client(s).pipelineOutcome(id);
    expect(outcome.state).toBe('failed');
    expect(outcome.reason).toContain('Extract evidence: archive was encrypted');
    // List items carry no progress_text: the failed child was fetched whole.
    expect(calls(s, 'GET', `/api/v3/pipelines/${outcome.children[0]?.id}`)).toHaveLength(1);
  });

  it('reports a failed or cancelled acquisition without looking for children', async () => {
    const s = await start({ behaviour: { acquisitionOutcome: 'failed' } });
    const id = await importOne(s);
    t = T0 + ACQUIRED;
    const failed = await client(s).pipelineOutcome(id);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toContain('Download from S3: Failed to acquire evidence from S3');
    expect(calls(s, 'GET', '/api/v3/pipelines')).toHaveLength(0);

    s.behaviour.acquisitionOutcome = 'cancelled';
    const other = await importOne(s);
    t += ACQUIRED;
    expect((await client(s).pipelineOutcome(other)).state).toBe('cancelled');
  });

  it('classifies pipelines of platforms without status (before 2.269.0) by terminated and summary', async () => {
    const s = await start({ platformVersion: '2.260.0', behaviour: { childPipelines: false } });
    const cado = client(s);
    const ok = await importOne(s);
    s.behaviour.processingOutcome = { kind: 'failed', progressText: 'Unsupported archive' };
    const bad = await importOne(s);
    s.behaviour.processingOutcome = 'cancelled';
    const stopped = await importOne(s);

    expect((await cado.getPipeline(ok)).status).toBeUndefined();
    expect((await cado.pipelineOutcome(ok)).state).toBe('running');
    t = T0 + PROCESSED;
    const legacy = await cado.getPipeline(bad);
    expect(legacy).toMatchObject({ status: undefined, terminated: true });
    expect(legacy.summary.failure).toBe(1);
    expect(await cado.pipelineOutcome(ok)).toMatchObject({ state: 'complete', children: [] });
    const failed = await cado.pipelineOutcome(bad);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toContain('Unsupported archive');
    expect((await cado.pipelineOutcome(stopped)).state).toBe('cancelled');
  });

  it('waits, within the grace period, for a processing child that appears late', async () => {
    const s = await start({ behaviour: { timing: { ...TIMING, childSpawnDelayMs: 20_000 } } });
    const cado = client(s, LEAD, { childGraceMs: 60_000 });
    const id = await importOne(s);
    t = T0 + ACQUIRED + 10_000;
    const waiting = await cado.pipelineOutcome(id);
    expect(waiting.state).toBe('running');
    expect(waiting.reason).toContain('waiting for its processing pipeline');
    t = T0 + ACQUIRED + 20_000 + TIMING.queuedMs + TIMING.processingMs;
    expect((await cado.pipelineOutcome(id)).state).toBe('complete');
  });

  it('lists only the children of the pipeline asked about', async () => {
    const s = await start();
    const cado = client(s);
    const first = await importOne(s);
    const second = await importOne(s);
    t = T0 + ACQUIRED;
    const a = await cado.listChildPipelines(first);
    const b = await cado.listChildPipelines(second);
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(a[0]?.id).not.toBe(b[0]?.id);
    expect(calls(s, 'GET', '/api/v3/pipelines').map((r) => r.query.triggering_pipeline_id)).toEqual([
      String(first),
      String(second),
    ]);
  });
});

describe('pipeline identity', () => {
  it('refuses an answer about another pipeline than the one asked for (a proxy or cache mixing answers up)', async () => {
    const s = await start();
    const cado = client(s);
    const project = s.addProject('p');
    const first = await cado.importS3({ projectId: project.id, bucket: 'evidence', key: 'a.zip' });
    const second = await cado.importS3({ projectId: project.id, bucket: 'evidence', key: 'b.zip' });
    // The answer Cado gives for the second pipeline, served at the first one's URL.
    const res = await fetch(`${new URL(s.apiUrl).origin}/api/v3/pipelines/${second.pipelineId}`, {
      headers: { authorization: `Bearer ${LEAD}` },
    });
    const otherAnswer = await res.json();
    s.faults.add({
      method: 'GET',
      path: `/api/v3/pipelines/${first.pipelineId}`,
      times: 1,
      status: 200,
      body: otherAnswer,
    });
    await expect(cado.getPipeline(first.pipelineId)).rejects.toMatchObject({
      name: 'CadoResponseError',
      message: expect.stringMatching(/answered with pipeline \d+; refusing another pipeline's state/),
    });
    await expect(cado.getPipeline(first.pipelineId)).resolves.toMatchObject({ id: first.pipelineId });
  });
});

describe('retries', () => {
  it('retries 429 (honouring Retry-After), 5xx and a reset connection on reads', async () => {
    const s = await start();
    const cado = client(s);
    const project = s.addProject('p');
    const { pipelineId } = await cado.importS3({ projectId: project.id, bucket: 'evidence', key: 'k.zip' });
    const path = `/api/v3/pipelines/${pipelineId}`;
    s.faults.respond(429, { method: 'GET', path, times: 2, retryAfter: 2 });
    await expect(cado.getPipeline(pipelineId)).resolves.toMatchObject({ id: pipelineId });
    expect(delays).toEqual([2_000, 2_000]);

    delays = [];
    s.faults.respond(503, { method: 'GET', path, times: 1 });
    s.faults.add({ method: 'GET', path, times: 1, reset: true });
    await expect(cado.getPipeline(pipelineId)).resolves.toMatchObject({ id: pipelineId });
    // full jitter with random() = 0.5: half of 200 ms, then half of 400 ms
    expect(delays).toEqual([100, 200]);
    expect(calls(s, 'GET', path).map((r) => r.status)).toEqual([429, 429, 200, 503, 0, 200]);
  });

  it('gives up after the attempt budget with the typed error', async () => {
    const s = await start();
    s.faults.respond(429, { path: '/api/v3/system/status' });
    await expect(client(s).systemStatus()).rejects.toBeInstanceOf(CadoRateLimitedError);
    expect(calls(s, 'GET', '/api/v3/system/status')).toHaveLength(4);
    s.faults.respond(500, { path: '/api/v3/auth/whoami', body: '<html>Bad gateway</html>' });
    await expect(client(s).whoami()).rejects.toBeInstanceOf(CadoTransientError);
  });
});

describe('secrets', () => {
  it('never puts the key in a log line, an error message or a URL', async () => {
    const s = await start();
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    logger.setLogLevel('DEBUG');
    const errors: unknown[] = [];
    try {
      const cado = client(s);
      const project = await cado.findOrCreateProject('threat-secret');
      // A platform (or a proxy) that echoes the Authorization header back in its error text.
      s.faults.respond(400, {
        method: 'POST',
        path: '/api/v3/import/aws/s3',
        times: 2,
        body: { status: 'error', message: `file_name rejected for Authorization: Bearer ${LEAD}`, code: 'x' },
      });
      errors.push(
        await cado
          .importS3({ projectId: project.id, bucket: 'evidence', key: 'k.zip' })
          .catch((e: unknown) => e),
      );
      s.faults.respond(429, { path: '/api/v3/auth/whoami', times: 1 });
      s.faults.respond(503, { path: '/api/v3/auth/whoami', body: `upstream saw key ${LEAD}` });
      errors.push(await cado.whoami().catch((e: unknown) => e));
      await s.faults.clear();
      s.revokeKey(LEAD);
      errors.push(await cado.whoami().catch((e: unknown) => e));
      try {
        createCadoClient({
          baseUrl: `${s.url}/?apiKey=${LEAD}`,
          credentials: staticCredential(LEAD, 'Bearer'),
          allowLoopback: true,
        });
      } catch (error) {
        errors.push(error);
      }
    } finally {
      logger.setLogLevel('WARN');
    }
    expect(errors.map((e) => (e as Error).name)).toEqual([
      'CadoValidationError',
      'CadoTransientError',
      'CadoAuthError',
      'InputValidationError',
    ]);
    const text = [
      ...lines,
      ...errors.map((e) => `${(e as Error).message} ${(e as Error).stack} ${JSON.stringify(e)}`),
    ].join('\n');
    expect(lines.some((l) => l.includes('Request failed; retrying'))).toBe(true);
    expect(text).toContain('[REDACTED]');
    expect(text).not.toContain(LEAD);
    for (const request of s.requests) {
      expect(`${request.path}?${new URLSearchParams(request.query as Record<string, string>)}`).not.toContain(
        LEAD,
      );
    }
  });
});
