/**
 * The v3 endpoints the project uses, as a route table. Each route names the permission it needs; the server
 * authenticates and authorises before calling the handler.
 */
import type { CadoBehaviour } from './behaviour';
import {
  invalid,
  pageResponse,
  paginate,
  pathInt,
  queryInt,
  type RouteResponse,
  requireObject,
  SimulatedApiError,
  success,
} from './http';
import {
  type ApiKeyRecord,
  type CadoState,
  DOWNLOAD_SUBTASK,
  type PipelineRecord,
  ProjectNameTakenError,
  pipelineSnapshot,
  resolveOutcome,
} from './model';
import type { CadoPermission } from './roles';
import type { S3Checker } from './s3-check';
import { evidenceView, pipelineView, projectView, whoamiView } from './views';
import type { CadoWebhooks } from './webhooks';
import { browseSentinelOne, importFromXdr } from './xdr';

/** Everything a handler may use. */
export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: unknown;
  readonly key: ApiKeyRecord;
  /** Simulated now (epoch ms). */
  readonly now: number;
  readonly state: CadoState;
  readonly behaviour: CadoBehaviour;
  readonly platformVersion: string;
  readonly s3?: S3Checker;
  readonly webhooks: CadoWebhooks;
}

/** One endpoint. */
export interface Route {
  readonly method: string;
  /** Anchored pattern over the path, with named groups for path parameters. */
  readonly pattern: RegExp;
  /** Permission the key's role must carry; none: any valid key. */
  readonly permission?: CadoPermission;
  /** Whether a key whose user has not accepted the EULA may call it when the EULA is enforced. */
  readonly allowWithoutEula?: boolean;
  handle(context: RouteContext): RouteResponse | Promise<RouteResponse>;
}

/** Case names are limited to 80 characters by the spec. */
const MAX_CASE_NAME = 80;

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') invalid(`${field} must be a string`);
  return value;
}

/** Sorts by `created` (then id) as `order_by` asks; newest first by default. */
function ordered<T extends { id: number; created: number }>(items: T[], query: URLSearchParams): T[] {
  const orderBy = query.get('order_by') ?? '-created';
  const field = orderBy.replace(/^-/, '');
  if (field !== 'created' && field !== 'id') invalid('order_by must be one of created, -created, id, -id');
  const sign = orderBy.startsWith('-') ? -1 : 1;
  return items.sort(
    (a, b) => sign * (field === 'created' ? a.created - b.created || a.id - b.id : a.id - b.id),
  );
}

function findPipeline(context: RouteContext): PipelineRecord {
  const id = pathInt(context.params.id ?? '', 'pipeline_id');
  const pipeline = context.state.pipelines.get(id);
  if (!pipeline) throw new SimulatedApiError(404, 'not_found', `Pipeline ${id} not found`);
  return pipeline;
}

/** `file_name` as this platform release types it, resolved to object keys (empty: whole bucket/prefix). */
function fileNameKeys(
  raw: unknown,
  mode: CadoBehaviour['fileNameMode'],
  prefix: string | undefined,
  resolution: CadoBehaviour['fileNameResolution'],
): string[] {
  let names: string[];
  if (raw === undefined || raw === null) {
    names = [];
  } else if (mode === 'array') {
    if (!Array.isArray(raw) || !raw.every((n) => typeof n === 'string' && n !== '')) {
      invalid("'file_name' must be an array of non-empty strings");
    }
    names = raw as string[];
  } else {
    if (typeof raw !== 'string') invalid("'file_name' must be a string");
    names = raw === '' ? [] : [raw];
  }
  // Uncertain on the real platform whether names are full keys or relative to prefix (see FileNameResolution).
  if (resolution === 'full-key') return names;
  if (resolution === 'name-under-prefix') return names.map((n) => `${prefix ?? ''}${n}`);
  return names.map((n) => (prefix && !n.startsWith(prefix) ? `${prefix}${n}` : n));
}

/** `file_name` entries as a list, whatever their type. */
function asNames(raw: unknown): string[] {
  if (Array.isArray(raw)) return raw.filter((n): n is string => typeof n === 'string');
  return typeof raw === 'string' && raw !== '' ? [raw] : [];
}

async function importFromS3(context: RouteContext): Promise<RouteResponse> {
  const { state, behaviour, now } = context;
  const body = requireObject(context.body);
  const projectId = body.project_id;
  if (typeof projectId !== 'number' || !Number.isInteger(projectId) || projectId < 1) {
    invalid("'project_id' must be a positive integer");
  }
  const bucket = body.bucket;
  if (typeof bucket !== 'string' || bucket === '') invalid("'bucket' is required");
  const prefix = optionalString(body, 'prefix');
  const cloudId = optionalString(body, 'cloud_id');
  optionalString(body, 'token');
  const keys = fileNameKeys(body.file_name, behaviour.fileNameMode, prefix, behaviour.fileNameResolution);
  if (!state.projects.has(projectId))
    throw new SimulatedApiError(404, 'not_found', `Project ${projectId} not found`);
  if (cloudId !== undefined && !state.accounts.has(cloudId)) {
    throw new SimulatedApiError(404, 'account_not_found', `Account ${cloudId} not found`);
  }

  // Read as names under the prefix, an entry with a folder in it is no name the platform lists there.
  const unlisted =
    behaviour.fileNameResolution === 'name-under-prefix'
      ? asNames(body.file_name).find((n) => n.includes('/'))
      : undefined;
  const lookup = unlisted
    ? {
        sizes: new Map<string, number>(),
        problem: `object not found: s3://${bucket}/${prefix ?? ''} has no file named "${unlisted}"`,
      }
    : context.s3
      ? await context.s3.lookup(bucket, keys, prefix, { digests: behaviour.evidenceHash !== 'none' })
      : undefined;
  const chosen = behaviour.outcomeFor?.({ projectId, bucket, keys }) ?? {};
  const acquisition = lookup?.problem
    ? resolveOutcome(
        { kind: 'failed', progressText: lookup.problem, subtask: DOWNLOAD_SUBTASK },
        'acquisition',
      )
    : resolveOutcome(chosen.acquisition ?? behaviour.acquisitionOutcome, 'acquisition');
  const record = state.createImport({
    projectId,
    bucket,
    fileName: body.file_name,
    keys,
    ...(prefix === undefined ? {} : { prefix }),
    ...(cloudId === undefined ? {} : { cloudId }),
    user: context.key,
    now,
    ...(lookup ? { found: lookup.sizes } : {}),
    ...(lookup?.digests ? { digests: lookup.digests } : {}),
    queuedMs: behaviour.timing.queuedMs,
    acquisitionMs: behaviour.timing.acquisitionMs,
    processingMs: behaviour.timing.processingMs,
    childPipelines: behaviour.childPipelines,
    childSpawnDelayMs: behaviour.timing.childSpawnDelayMs,
    acquisition,
    processing: resolveOutcome(chosen.processing ?? behaviour.processingOutcome, 'processing'),
  });
  return success({ pipeline_id: record.pipelineId });
}

/** The simulator's route table. */
export const routes: readonly Route[] = [
  {
    method: 'GET',
    pattern: /^\/api\/v3\/auth\/whoami$/,
    allowWithoutEula: true,
    handle: ({ key }) => success(whoamiView(key)),
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/system\/status$/,
    permission: 'platform_status_read',
    handle: ({ behaviour }) => success({ ...behaviour.health }),
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/platform$/,
    permission: 'platform_status_read',
    handle: ({ platformVersion }) =>
      success({
        version: platformVersion,
        deployment_details: {
          cloud: 'aws',
          account_id: '000000000000',
          saas: false,
          supports_aws: true,
          nfs_enabled: false,
        },
        warnings: [],
      }),
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/projects$/,
    permission: 'projects_read',
    handle: ({ state, query }) => {
      const name = query.get('name')?.toLowerCase();
      // Cado's name filter is a search, not an exact match: clients must compare names themselves.
      const matching = [...state.projects.values()].filter(
        (p) => !name || p.name.toLowerCase().includes(name),
      );
      const { page, pagination } = paginate(ordered(matching, query), query);
      return pageResponse(
        page.map((p) => projectView(state, p)),
        pagination,
      );
    },
  },
  {
    method: 'POST',
    pattern: /^\/api\/v3\/projects$/,
    permission: 'projects_create',
    handle: ({ state, body: raw, key, now }) => {
      const body = requireObject(raw);
      const name = body.case_name;
      if (typeof name !== 'string' || name.trim() === '') invalid("'case_name' is required");
      if (name.length > MAX_CASE_NAME) invalid(`'case_name' must be at most ${MAX_CASE_NAME} characters`);
      const description = optionalString(body, 'description') ?? '';
      try {
        const project = state.createProject(name, description, key.userId, now);
        return success({ message: 'Project created successfully', id: project.id }, 201);
      } catch (error) {
        if (error instanceof ProjectNameTakenError)
          throw new SimulatedApiError(409, 'conflict', 'Project name already exists');
        throw error;
      }
    },
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/projects\/(?<id>[^/]+)$/,
    permission: 'projects_read',
    handle: ({ state, params }) => {
      const id = pathInt(params.id ?? '', 'project_id');
      const project = state.projects.get(id);
      if (!project) throw new SimulatedApiError(404, 'not_found', `Project ${id} not found`);
      return success(projectView(state, project));
    },
  },
  {
    method: 'POST',
    pattern: /^\/api\/v3\/import\/aws\/s3$/,
    permission: 'import_data',
    handle: importFromS3,
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/pipelines$/,
    permission: 'pipelines_read',
    handle: ({ state, query, now, behaviour }) => {
      const triggering = queryInt(query, 'triggering_pipeline_id');
      const projectId = queryInt(query, 'project_id');
      const evidenceId = queryInt(query, 'evidence_id');
      const evidenceName = query.get('evidence_name');
      const type = query.get('type');
      const status = query.get('pipeline_status');
      const matching = [...state.pipelines.values()].filter(
        (p) =>
          (triggering === undefined || p.triggeringPipelineId === triggering) &&
          (projectId === undefined || p.projectId === projectId) &&
          (evidenceId === undefined || p.evidenceId === evidenceId) &&
          (!evidenceName || state.evidences.get(p.evidenceId)?.name === evidenceName) &&
          (!type || p.type === type) &&
          (!status || pipelineSnapshot(p, now).status === status),
      );
      const { page, pagination } = paginate(ordered(matching, query), query);
      return pageResponse(
        page.map((p) =>
          pipelineView(state, p, { now, legacyStatus: behaviour.legacyStatus, listItem: true }),
        ),
        pagination,
      );
    },
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/pipelines\/(?<id>[^/]+)$/,
    permission: 'pipelines_read',
    handle: (context) =>
      success(
        pipelineView(context.state, findPipeline(context), {
          now: context.now,
          legacyStatus: context.behaviour.legacyStatus,
        }),
      ),
  },
  {
    method: 'PATCH',
    pattern: /^\/api\/v3\/pipelines\/(?<id>[^/]+)$/,
    permission: 'pipelines_abort',
    handle: (context) => {
      const pipeline = findPipeline(context);
      const body = requireObject(context.body);
      if (body.aborted !== true) invalid("Only {'aborted': true} is supported");
      if (pipelineSnapshot(pipeline, context.now).terminal) {
        throw new SimulatedApiError(
          400,
          'pipeline_not_running',
          `Pipeline ${pipeline.id} cannot be terminated`,
        );
      }
      pipeline.abortedAt = context.now;
      return success({ pipeline_id: pipeline.id });
    },
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/evidences\/(?<id>[^/]+)$/,
    permission: 'projects_read',
    handle: ({ state, params, behaviour }) => {
      const id = pathInt(params.id ?? '', 'evidence_id');
      const evidence = state.evidences.get(id);
      if (!evidence) throw new SimulatedApiError(404, 'not_found', `Evidence ${id} not found`);
      return success(evidenceView(evidence, behaviour.evidenceHash));
    },
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/accounts$/,
    permission: 'cloud_accounts_read',
    handle: ({ state, query }) => {
      // `type` filters (repeatable) [spec]; credentials are never listed.
      const types = query.getAll('type');
      const accounts = [...state.accounts.values()].filter(
        (a) => types.length === 0 || types.includes(a.type),
      );
      const { page, pagination } = paginate(accounts, query);
      return pageResponse(
        page.map((a) => ({
          id: [...state.accounts.keys()].indexOf(a.name) + 1,
          account_name: a.name,
          type: a.type,
          ...(a.publicIdentifier === undefined ? {} : { public_identifier: a.publicIdentifier }),
          account_check_id: null,
        })),
        pagination,
      );
    },
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/import\/xdr\/sentinelone$/,
    permission: 'import_data',
    handle: browseSentinelOne,
  },
  {
    method: 'POST',
    pattern: /^\/api\/v3\/import\/xdr$/,
    permission: 'import_data',
    handle: importFromXdr,
  },
  {
    method: 'POST',
    pattern: /^\/api\/v3\/webhooks$/,
    permission: 'webhook_write',
    handle: ({ webhooks, body, now }) => webhooks.create(body, now),
  },
  {
    method: 'GET',
    pattern: /^\/api\/v3\/webhooks$/,
    permission: 'webhook_read',
    handle: ({ webhooks }) => webhooks.list(),
  },
];
