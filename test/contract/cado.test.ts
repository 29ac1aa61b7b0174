/**
 * The real Cado client against responses derived from Cado's published OpenAPI file (cado-security/api-reference)
 * and recorded by the Cortex XSOAR CadoResponse integration (see fixtures/SOURCES.md), replayed from a loopback
 * server. The requests we send are checked against the spec's own request schemas (`spec-requests.json`).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  classifyPipeline,
  createCadoClient,
  missingPermissionsFor,
  otherFileNameLayout,
  reportsNoFile,
  toPipeline,
} from '../../lambdas/shared/cado';
import { pipelineSchema } from '../../lambdas/shared/cado/schemas';
import {
  CadoConflictError,
  CadoNotFoundError,
  CadoResponseError,
  InputValidationError,
} from '../../lambdas/shared/errors';
import { logger } from '../../lambdas/shared/observability';
import { staticCredential } from '../../lambdas/shared/secrets';
import { fixture, type ReplayServer, type Route, startReplay } from './replay';

const KEY = 'cado-contract-key-0123456789abcdef';

interface BodySchema {
  readonly required: string[];
  readonly properties: Record<string, { type: string; items?: { type: string }; maxLength?: number }>;
}
const spec = fixture<Record<string, BodySchema & { query: string[] }>>('cado/spec-requests.json');

let server: ReplayServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.restoreAllMocks();
});

async function client(routes: Route[]) {
  server = await startReplay(routes);
  return createCadoClient({
    baseUrl: server.url,
    credentials: staticCredential(KEY, 'Bearer'),
    allowLoopback: true,
    retry: { maxAttempts: 1 },
  });
}

const TYPES: Record<string, (v: unknown) => boolean> = {
  integer: (v) => Number.isInteger(v),
  string: (v) => typeof v === 'string',
  array: (v) => Array.isArray(v),
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
};

/** The body has the spec's required fields, only fields the spec declares, each of the declared type. */
function expectBodyFitsSpec(body: unknown, schema: BodySchema) {
  const fields = body as Record<string, unknown>;
  for (const name of schema.required) expect(fields, `required ${name}`).toHaveProperty(name);
  for (const [name, value] of Object.entries(fields)) {
    const declared = schema.properties[name];
    expect(declared, `field ${name} is declared by the spec`).toBeDefined();
    expect(TYPES[declared?.type ?? '']?.(value), `${name} is ${declared?.type}`).toBe(true);
    if (declared?.items) {
      for (const item of value as unknown[]) expect(TYPES[declared.items.type]?.(item)).toBe(true);
    }
    if (declared?.maxLength !== undefined)
      expect((value as string).length).toBeLessThanOrEqual(declared.maxLength);
  }
}

function expectQueryFitsSpec(query: Record<string, string>, names: readonly string[]) {
  for (const name of Object.keys(query)) expect(names, `query ${name}`).toContain(name);
}

describe('identity and health', () => {
  it('reads whoami as the spec shapes it: every permission flag false means nothing is allowed', async () => {
    const cado = await client([
      { method: 'GET', path: '/api/v3/auth/whoami', replies: [{ body: fixture('cado/spec-whoami.json') }] },
    ]);
    const who = await cado.whoami();
    expect(who).toMatchObject({ id: 1, username: 'string', role: 'string', eulaAgreed: true });
    expect(Object.keys(who.permissions)).toContain('import_data_full');
    expect(missingPermissionsFor(who, 'handoff').map((m) => m.permission)).toEqual([
      'projects_create',
      'import_data_full or import_data_triage',
      'pipelines_read',
    ]);
    expect(server?.requests[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(server?.requests[0]?.url).not.toContain(KEY);
  });

  it('reads system status; a status other than running is not healthy', async () => {
    const cado = await client([
      {
        method: 'GET',
        path: '/api/v3/system/status',
        replies: [{ body: fixture('cado/spec-system-status.json') }],
      },
    ]);
    await expect(cado.systemStatus()).resolves.toEqual({
      status: 'string',
      message: 'string',
      healthy: false,
    });
  });
});

describe('projects', () => {
  it('finds the project by details.name and asks with query parameters the spec declares', async () => {
    const cado = await client([
      {
        method: 'GET',
        path: '/api/v3/projects',
        replies: [{ body: fixture('cado/spec-projects-list.json') }],
      },
    ]);
    await expect(cado.findOrCreateProject('string')).resolves.toEqual({
      id: 1,
      name: 'string',
      created: false,
    });
    const [request] = server?.calls('/api/v3/projects') ?? [];
    expect(request?.query).toMatchObject({ name: 'string', page: '1' });
    expectQueryFitsSpec(request?.query ?? {}, spec['GET /api/v3/projects']?.query ?? []);
  });

  it('creates the project with a body that fits the spec and reads the 201 answer', async () => {
    const empty = { ...fixture<object>('cado/spec-projects-list.json'), data: [] };
    const cado = await client([
      { method: 'GET', path: '/api/v3/projects', replies: [{ body: empty }] },
      {
        method: 'POST',
        path: '/api/v3/projects',
        replies: [{ status: 201, body: fixture('cado/spec-project-created.json') }],
      },
    ]);
    const long = `S1 ${'x'.repeat(120)}`;
    const project = await cado.findOrCreateProject(long, 'SentinelOne threat 1');
    expect(project).toMatchObject({ id: 1, created: true });
    const post = server?.calls('/api/v3/projects').find((r) => r.method === 'POST');
    expectBodyFitsSpec(post?.body, spec['POST /api/v3/projects'] as BodySchema);
  });

  it('after a 409 with the v2 {msg} body (XSOAR) it looks again, and says so when nothing is found', async () => {
    const empty = { ...fixture<object>('cado/spec-projects-list.json'), data: [] };
    const cado = await client([
      { method: 'GET', path: '/api/v3/projects', replies: [{ body: empty }] },
      {
        method: 'POST',
        path: '/api/v3/projects',
        replies: [{ status: 409, body: fixture('cado/xsoar-v2-project-exists.json') }],
      },
    ]);
    const error = await cado.findOrCreateProject('S1 inv-1').catch((e) => e);
    expect(error).toBeInstanceOf(CadoConflictError);
    expect(server?.calls('/api/v3/projects').map((r) => r.method)).toEqual(['GET', 'POST', 'GET']);
  });

  it('skips a project that fails its schema with a warning naming the field', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const list = fixture<{ data: Record<string, unknown>[] }>('cado/spec-projects-list.json');
    const good = list.data[0] as Record<string, unknown>;
    list.data = [{ ...good, id: 2, details: {} }, good];
    const cado = await client([{ method: 'GET', path: '/api/v3/projects', replies: [{ body: list }] }]);
    await expect(cado.findOrCreateProject('string')).resolves.toMatchObject({ id: 1 });
    const skipped = warn.mock.calls.find(([message]) =>
      String(message).includes('does not match its schema'),
    );
    expect(skipped?.[1]).toMatchObject({ field: 'details.name', item: 0 });
  });
});

describe('S3 import', () => {
  const routes = (): Route[] => [
    {
      method: 'POST',
      path: '/api/v3/import/aws/s3',
      replies: [{ body: fixture('cado/spec-import-s3.json') }],
    },
  ];

  it('full-key layout: file_name holds the whole key, no prefix; the body fits the spec', async () => {
    const cado = await client(routes());
    const result = await cado.importS3({
      projectId: 7,
      bucket: 'jf-bucket-1234',
      key: 'investigations/inv-1/agent-1/collect.zip',
      cloudId: 'aws-main',
    });
    expect(result).toEqual({ pipelineId: 1, fileNameForm: 'array', fileNameLayout: 'full-key' });
    const body = server?.calls('/api/v3/import/aws/s3')[0]?.body;
    expect(body).toEqual({
      project_id: 7,
      bucket: 'jf-bucket-1234',
      file_name: ['investigations/inv-1/agent-1/collect.zip'],
      cloud_id: 'aws-main',
    });
    expectBodyFitsSpec(body, spec['POST /api/v3/import/aws/s3'] as BodySchema);
  });

  it('prefix-and-name layout: prefix ends in "/" and file_name is the name the object browser lists', async () => {
    const cado = await client(routes());
    const result = await cado.importS3({
      projectId: 7,
      bucket: 'jf-bucket-1234',
      key: 'investigations/inv-1/agent-1/collect.zip',
      fileNameLayout: 'prefix-and-name',
    });
    expect(result.fileNameLayout).toBe('prefix-and-name');
    const body = server?.calls('/api/v3/import/aws/s3')[0]?.body;
    expect(body).toEqual({
      project_id: 7,
      bucket: 'jf-bucket-1234',
      prefix: 'investigations/inv-1/agent-1/',
      file_name: ['collect.zip'],
    });
    expectBodyFitsSpec(body, spec['POST /api/v3/import/aws/s3'] as BodySchema);
    // The spec's object browser names files without their folder, like this file_name.
    const listed = fixture<{ data: { name: string; type: string }[] }>('cado/spec-s3-objects.json').data[0];
    expect(listed).toMatchObject({ type: 'FILE' });
    expect(listed?.name).not.toContain('/');
  });

  it('refuses the prefix-and-name layout for a key without a folder', async () => {
    const cado = await client(routes());
    await expect(
      cado.importS3({
        projectId: 7,
        bucket: 'jf-bucket-1234',
        key: 'collect.zip',
        fileNameLayout: 'prefix-and-name',
      }),
    ).rejects.toThrow(InputValidationError);
    expect(server?.requests).toHaveLength(0);
  });

  it('refuses the v2 import answer (pipelines[], XSOAR) instead of misreading it', async () => {
    const cado = await client([
      {
        method: 'POST',
        path: '/api/v3/import/aws/s3',
        replies: [{ body: fixture('cado/xsoar-v2-s3-import.json') }],
      },
    ]);
    await expect(cado.importS3({ projectId: 2, bucket: 'test-bucket', key: 'a/b.zip' })).rejects.toThrow(
      CadoResponseError,
    );
    expect(server?.requests).toHaveLength(1);
  });

  it('turns the spec error body into a typed error carrying its message and code', async () => {
    const cado = await client([
      {
        method: 'POST',
        path: '/api/v3/import/aws/s3',
        replies: [{ status: 404, body: fixture('cado/spec-error.json') }],
      },
    ]);
    const error = await cado
      .importS3({ projectId: 2, bucket: 'test-bucket', key: 'a/b.zip' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(CadoNotFoundError);
    expect(error.code).toBe('string');
  });

  it('knows a "not found" failure as an import that found no file, and which layout to try next', () => {
    expect(reportsNoFile({ state: 'failed', reason: 'Acquisition failed: object not found: s3://b/k' })).toBe(
      true,
    );
    expect(
      reportsNoFile({ state: 'failed', reason: 'Acquisition failed: no objects found: s3://b/p/' }),
    ).toBe(true);
    expect(reportsNoFile({ state: 'failed', reason: 'Processing failed: unsupported archive' })).toBe(false);
    expect(reportsNoFile({ state: 'complete', reason: 'Acquisition completed' })).toBe(false);
    expect(otherFileNameLayout('full-key')).toBe('prefix-and-name');
    expect(otherFileNameLayout('prefix-and-name')).toBe('full-key');
  });
});

describe('pipelines', () => {
  it('reads the spec pipeline: id and type under pipeline, status, subtasks, evidence', async () => {
    const cado = await client([
      { method: 'GET', path: '/api/v3/pipelines/1', replies: [{ body: fixture('cado/spec-pipeline.json') }] },
    ]);
    const pipeline = await cado.getPipeline(1);
    expect(pipeline).toMatchObject({
      id: 1,
      type: 'processing',
      status: 'complete',
      triggeringPipelineId: 1,
    });
    expect(pipeline.subtasks).toEqual([expect.objectContaining({ name: 'string', state: 'PENDING' })]);
  });

  it('asks for child pipelines with spec query names and drops an item that names another parent', async () => {
    const cado = await client([
      {
        method: 'GET',
        path: '/api/v3/pipelines',
        replies: [{ body: fixture('cado/spec-pipelines-list.json') }],
      },
    ]);
    await expect(cado.listChildPipelines(2)).resolves.toEqual([]);
    const [request] = server?.calls('/api/v3/pipelines') ?? [];
    expect(request?.query).toMatchObject({ triggering_pipeline_id: '2', page: '1' });
    expectQueryFitsSpec(request?.query ?? {}, spec['GET /api/v3/pipelines']?.query ?? []);
  });

  it('reads the v2-shaped pipeline XSOAR recorded (pipeline_id, pipeline_type, terminated) as complete', () => {
    const raw = pipelineSchema.parse(fixture('cado/xsoar-v2-pipeline.json'));
    const pipeline = toPipeline(raw);
    expect(pipeline).toMatchObject({ id: 9, type: 'processing' });
    expect(classifyPipeline(pipeline as NonNullable<typeof pipeline>).state).toBe('complete');
  });

  it('turns the v2 404 {msg} body (XSOAR) into CadoNotFoundError with its text', async () => {
    const cado = await client([
      {
        method: 'GET',
        path: '/api/v3/pipelines/345',
        replies: [{ status: 404, body: fixture('cado/xsoar-v2-not-found.json') }],
      },
    ]);
    const error = await cado.getPipeline(345).catch((e) => e);
    expect(error).toBeInstanceOf(CadoNotFoundError);
    expect(error.message).toContain('The requested URL was not found on the server');
  });
});
