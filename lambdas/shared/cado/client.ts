/**
 * The Cado platform client (v3 API, reference/cado-api.md): key check, platform health, find-or-create of the
 * investigation project, S3 import of one staged object, and pipeline polling. Transport, retries, the one
 * credential refresh after a 401 and the typed errors come from the shared HTTP layer; this module adds the Cado
 * semantics on top (envelopes, paging, the `file_name` fallback for older platforms, the project-name limit).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { now as clockNow } from '../clock';
import { CadoConflictError, CadoResponseError, CadoValidationError, InputValidationError } from '../errors';
import { assertAllowedUrl } from '../hosts';
import {
  type CredentialSource,
  createDispatcher,
  type Dispatcher,
  HttpClient,
  type RetryPolicy,
} from '../http';
import { logger } from '../observability';
import { safeUrl } from '../redact';
import {
  type CadoPipeline,
  classifyPipeline,
  combineOutcome,
  type PipelineOutcome,
  toPipeline,
} from './pipeline';
import {
  accountSchema,
  createdProjectSchema,
  cursorInfoSchema,
  envelope,
  evidenceSchema,
  importResultSchema,
  pageEnvelope,
  pipelineSchema,
  projectSchema,
  systemStatusSchema,
  whoamiSchema,
  xdrDeviceSchema,
} from './schemas';
import type { CadoXdrAccount, CadoXdrDevice, ImportXdrInput } from './xdr';

/** What Cado says it holds for one evidence. */
export interface CadoEvidence {
  readonly id: number;
  /** `details.disk_hash`, as Cado reports it (algorithm unstated). */
  readonly diskHash?: string;
  /** `details.disk_size`, bytes. */
  readonly diskSize?: number;
}

/** The API root every path below is relative to. */
const API = '/api/v3';

/** Cado's limit on `case_name` [spec]. */
export const MAX_PROJECT_NAME_LENGTH = 80;

/** Page size for list calls (the spec's default is 10; 50 keeps requests few without testing server caps). */
const PAGE_SIZE = 50;
/** A list longer than this many pages is refused rather than walked (a filter the server ignored, a paging bug). */
const MAX_PAGES = 100;

/** Options for {@link createCadoClient}. */
export interface CadoClientOptions {
  /**
   * Platform URL, with or without the `/api/v3` suffix, e.g. `https://cado.example.com`. Must be https; plain
   * http only for loopback hosts when {@link allowLoopback} is set.
   */
  readonly baseUrl: string;
  /** Supplies `Bearer <key>`; use `secretCredential(reader, id, 'apiKey', 'Bearer')` or `staticCredential`. */
  readonly credentials: CredentialSource;
  /**
   * PEM certificate(s) of the CA (or the self-signed certificate) of a self-hosted platform. Trusted for this
   * client's connections only, *instead of* the public roots; verification is never turned off.
   */
  readonly caCertificate?: string;
  /** Accept 127.0.0.1/localhost over http or https (local runs and tests). @default false */
  readonly allowLoopback?: boolean;
  /** Connection pool to use (exclusive with {@link caCertificate}). @default the shared pool */
  readonly dispatcher?: Dispatcher;
  readonly retry?: Partial<RetryPolicy>;
  /** Total time for one attempt. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** Time source for the child-pipeline grace period. @default `now` of the shared clock */
  readonly clock?: () => number;
  /**
   * After an acquisition pipeline completes with no child yet, how long {@link CadoClient.pipelineOutcome} keeps
   * reporting `running` while the processing pipeline is expected to appear. @default 120000
   */
  readonly childGraceMs?: number;
  /** Sleep between retries (tests). @default the shared clock's sleep */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Random source for retry jitter (tests). @default Math.random */
  readonly random?: () => number;
}

/** What the key is and may do (`GET /api/v3/auth/whoami`). */
export interface CadoWhoami {
  readonly id: number;
  readonly username: string;
  /** `rbac_role`, e.g. `Lead Analyst`; undefined when the platform did not say. */
  readonly role: string | undefined;
  /** Whether the user behind the key accepted the EULA; undefined when not reported. */
  readonly eulaAgreed: boolean | undefined;
  /** Permission flags; a flag the platform sent as anything but `true` is false. Empty when none were sent. */
  readonly permissions: Readonly<Record<string, boolean>>;
}

/** Platform health (`GET /api/v3/system/status`). */
export interface CadoSystemStatus {
  /** As sent, e.g. `running`, `upgrading`. */
  readonly status: string;
  /** `status_message` (may be empty). */
  readonly message: string;
  /** Running (any casing), set up, and not installing. */
  readonly healthy: boolean;
}

/** A project found or created by {@link CadoClient.findOrCreateProject}. */
export interface CadoProject {
  readonly id: number;
  /** The name used in Cado (shortened by {@link cadoProjectName} when the input was too long). */
  readonly name: string;
  /** True when this call created it. */
  readonly created: boolean;
}

/** How `file_name` is typed in the S3 import body: array (≥ 2.230.0) or string (older platforms). */
export type FileNameForm = 'array' | 'string';

/**
 * How the staged object is named in the import body. The spec has both `prefix` and `file_name` and does not say
 * whether `file_name` holds full keys or names under `prefix` (its object browser lists names one folder level at a
 * time). `full-key`: `file_name: [<key>]` and no `prefix` (what Cado's v2 Quick Start sent, tried first);
 * `prefix-and-name`: `prefix: "<folder>/"` and `file_name: [<base name>]`.
 */
export type FileNameLayout = 'full-key' | 'prefix-and-name';

/** The layout to try when `layout` found nothing. */
export function otherFileNameLayout(layout: FileNameLayout): FileNameLayout {
  return layout === 'full-key' ? 'prefix-and-name' : 'full-key';
}

/** Words with which a pipeline says the object it was asked for was not there (the import found nothing). */
const NO_FILE_TEXT =
  /\b(not found|no (such )?(objects?|files?|keys?)( were)? found|nosuchkey|no such key|does not exist|nothing to import|0 (objects|files) (found|imported))\b/i;

/**
 * True when a finished import reports that it found no file: the pipeline failed saying the object was not found
 * (or imported nothing). Then, and only then, the other {@link FileNameLayout} is worth one more import.
 */
export function reportsNoFile(outcome: Pick<PipelineOutcome, 'state' | 'reason'>): boolean {
  return outcome.state === 'failed' && NO_FILE_TEXT.test(outcome.reason);
}

/** Input of {@link CadoClient.importS3}. */
export interface ImportS3Input {
  readonly projectId: number;
  readonly bucket: string;
  /** The full object key of one staged file (never a prefix: Cado would import everything under it). */
  readonly key: string;
  /** Cado account alias whose AWS role reads the bucket; left out, the platform's default is used. */
  readonly cloudId?: string;
  /** Form to try first, e.g. the one a previous import on this platform needed. @default 'array' */
  readonly fileNameForm?: FileNameForm;
  /** How the key is split between `prefix` and `file_name`. @default 'full-key' */
  readonly fileNameLayout?: FileNameLayout;
}

/** The pipeline an import started. */
export interface ImportS3Result {
  readonly pipelineId: number;
  /** The `file_name` form the platform accepted (remember it to skip the fallback next time). */
  readonly fileNameForm: FileNameForm;
  /** The layout this import used. */
  readonly fileNameLayout: FileNameLayout;
}

/** What a key must be allowed to do for a purpose. */
export type CadoPurpose = 'handoff' | 'import' | 'poll';

/** One need of a purpose: any of `anyOf` satisfies it; `roles` is the spec's role table, used when flags are absent. */
export interface PermissionRequirement {
  /** Permission flags, any of which is enough. */
  readonly anyOf: readonly string[];
  /** Roles that hold it per the spec's `x-Required Roles`. */
  readonly roles: readonly string[];
  /** What the workflow needs it for. */
  readonly why: string;
}

/** A requirement the key does not meet. */
export interface MissingPermission extends PermissionRequirement {
  /** `anyOf` joined with " or ", e.g. `import_data_full or import_data_triage`. */
  readonly permission: string;
}

const CREATE_PROJECTS: PermissionRequirement = {
  anyOf: ['projects_create'],
  roles: ['Administrator', 'Lead Analyst'],
  why: 'create the investigation project',
};
const IMPORT_DATA: PermissionRequirement = {
  anyOf: ['import_data_full', 'import_data_triage'],
  roles: ['Administrator', 'Lead Analyst', 'Analyst'],
  why: 'import the staged evidence from S3',
};
const READ_PIPELINES: PermissionRequirement = {
  anyOf: ['pipelines_read'],
  roles: ['Administrator', 'Lead Analyst', 'Analyst', 'Read Only Analyst'],
  why: 'follow the processing pipeline',
};

/**
 * What each purpose needs. `handoff` is the workflow's hand-off with one project per threat; `import` is the same
 * into a fixed, existing project; `poll` only follows pipelines.
 */
export const CADO_REQUIREMENTS: Readonly<Record<CadoPurpose, readonly PermissionRequirement[]>> = {
  handoff: [CREATE_PROJECTS, IMPORT_DATA, READ_PIPELINES],
  import: [IMPORT_DATA, READ_PIPELINES],
  poll: [READ_PIPELINES],
};

/**
 * The requirements of `purpose` that `whoami` does not meet. Judged by the permission flags; when the platform
 * reported none, by the role (the spec's role table), and when it reported neither, everything is missing.
 */
export function missingPermissionsFor(whoami: CadoWhoami, purpose: CadoPurpose): MissingPermission[] {
  const hasFlags = Object.keys(whoami.permissions).length > 0;
  const role = whoami.role?.trim().toLowerCase();
  return CADO_REQUIREMENTS[purpose]
    .filter((need) =>
      hasFlags
        ? !need.anyOf.some((flag) => whoami.permissions[flag] === true)
        : !need.roles.some((r) => r.toLowerCase() === role),
    )
    .map((need) => ({ ...need, permission: need.anyOf.join(' or ') }));
}

/**
 * The project name used in Cado for `name`: trimmed, and when longer than 80 characters (Cado's limit) cut to 71
 * and suffixed with `-` and 8 hex digits of the SHA-256 of the whole name. Deterministic, so every retry and every
 * agent of an investigation lands in the same project, and two long names that share a prefix stay distinct.
 */
export function cadoProjectName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '') throw new InputValidationError('Cado project name must not be empty');
  // Counted in code points, as the platform (Python) counts them.
  const chars = Array.from(trimmed);
  if (chars.length <= MAX_PROJECT_NAME_LENGTH) return trimmed;
  const digest = createHash('sha256').update(trimmed, 'utf8').digest('hex').slice(0, 8);
  const head = chars
    .slice(0, MAX_PROJECT_NAME_LENGTH - 9)
    .join('')
    .trimEnd();
  return `${head}-${digest}`;
}

/**
 * Parses and checks the platform URL and returns its root without `/api/v3` (and without trailing slashes).
 * Any host is accepted (each customer has its own platform), but only over https unless it is loopback and
 * `allowLoopback` is set; credentials, query strings and fragments in the URL are refused.
 */
export function normaliseCadoBaseUrl(baseUrl: string, allowLoopback = false): string {
  let hostname: string;
  try {
    hostname = new URL(baseUrl).hostname;
  } catch {
    throw new InputValidationError('Cado URL is not a valid URL');
  }
  const url = assertAllowedUrl(baseUrl, { allowedHosts: [hostname], allowLoopback }, 'Cado URL');
  if (url.search || url.hash) {
    throw new InputValidationError(`Cado URL must not carry a query or fragment (${safeUrl(url)})`);
  }
  let path = url.pathname.replace(/\/+$/, '');
  if (/\/api\/v3$/i.test(path)) path = path.slice(0, -'/api/v3'.length);
  else if (/\/api(\/v\d+)?$/i.test(path)) {
    throw new InputValidationError(
      `Cado URL ends in ${path.slice(path.lastIndexOf('/api'))}; this client speaks /api/v3: give the platform root or .../api/v3`,
    );
  }
  return `${url.protocol}//${url.host}${path}`;
}

/** Accepts PEM text, also with literal `\n` escapes as it may arrive from JSON config; refuses anything else. */
function caPem(text: string): string {
  const pem = !text.includes('\n') && text.includes('\\n') ? text.replace(/\\n/g, '\n') : text;
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem)) {
    throw new InputValidationError('Cado CA certificate must be PEM text (-----BEGIN CERTIFICATE----- …)');
  }
  return pem;
}

/** Positive safe integer ids; anything else is the caller's bug. */
function assertId(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InputValidationError(`${what} must be a positive integer, got ${String(value)}`);
  }
}

/** S3 bucket naming rules, loosely: 3–63 of lower-case letters, digits, dots and hyphens. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The HTTP layer's message for a validation error reads `Cado <op> answered 400: <what the platform said>`. */
function mentionsFileNameType(error: CadoValidationError): boolean {
  if (error.status !== 400 && error.status !== 422) return false;
  const text = error.message;
  if (/file_?name/i.test(text)) return true;
  // A bare type complaint that names none of the other fields we send is taken to be about file_name.
  const typeError =
    /not of type|type ?error|invalid type|wrong type|expected (an? )?(string|str|array|list)|must be (an? )?(string|array|list)|is not an? (string|array|list)/i;
  return typeError.test(text) && !/project_id|bucket|cloud_id/i.test(text);
}

/** A client for one Cado platform. Create it once per process (connections are pooled). */
export class CadoClient {
  private readonly http: HttpClient;
  private readonly ownedDispatcher: Dispatcher | undefined;
  private readonly clock: () => number;
  private readonly childGraceMs: number;
  /** The platform root in use (no `/api/v3`), safe to log. */
  readonly baseUrl: string;

  constructor(options: CadoClientOptions) {
    this.baseUrl = normaliseCadoBaseUrl(options.baseUrl, options.allowLoopback ?? false);
    if (options.caCertificate !== undefined && options.dispatcher !== undefined) {
      throw new InputValidationError('Give the Cado client either caCertificate or a dispatcher, not both');
    }
    this.ownedDispatcher =
      options.caCertificate === undefined
        ? undefined
        : createDispatcher({ ca: caPem(options.caCertificate) });
    this.clock = options.clock ?? clockNow;
    this.childGraceMs = options.childGraceMs ?? 120_000;
    this.http = new HttpClient({
      service: 'Cado',
      baseUrl: this.baseUrl,
      credentials: options.credentials,
      dispatcher: this.ownedDispatcher ?? options.dispatcher,
      retry: options.retry,
      requestTimeoutMs: options.requestTimeoutMs,
      sleep: options.sleep,
      random: options.random,
    });
  }

  /** Closes the connection pool this client created for `caCertificate` (a given dispatcher is left alone). */
  async close(): Promise<void> {
    await this.ownedDispatcher?.close();
  }

  /** Who the key is and what it may do. A rejected key throws `CadoAuthError` (after one credential re-read). */
  async whoami(): Promise<CadoWhoami> {
    const { body } = await this.http.request({
      method: 'GET',
      path: `${API}/auth/whoami`,
      schema: envelope(whoamiSchema),
    });
    const data = body.data;
    const permissions: Record<string, boolean> = {};
    for (const [name, value] of Object.entries(data.permissions ?? {})) permissions[name] = value === true;
    return {
      id: data.id,
      username: data.username,
      role: data.rbac_role,
      eulaAgreed: data.eula_agreed ?? undefined,
      permissions,
    };
  }

  /** Platform health; `healthy` when running (any casing), set up and not installing. */
  async systemStatus(): Promise<CadoSystemStatus> {
    const { body } = await this.http.request({
      method: 'GET',
      path: `${API}/system/status`,
      schema: envelope(systemStatusSchema),
    });
    const data = body.data;
    const running = data.status.trim().toLowerCase() === 'running';
    return {
      status: data.status,
      message: data.status_message ?? data.message ?? '',
      healthy: running && data.setup_complete !== false && data.is_installing !== true,
    };
  }

  /**
   * The project named `name` (after {@link cadoProjectName}), created when absent. Matching is exact and
   * case-sensitive on `details.name` (our names are generated, so their case never varies; the server's `name`
   * filter may be looser); among duplicates the lowest id wins. A 409 on create means another invocation created it
   * first: it is looked up again (then, if Cado's uniqueness turns out to ignore case, one case-insensitive match is
   * accepted). A create that fails with a 5xx is not re-sent here; a retry of the whole call looks first.
   */
  async findOrCreateProject(name: string, description?: string): Promise<CadoProject> {
    const wanted = cadoProjectName(name);
    const existing = await this.findProject(wanted);
    if (existing.exact !== undefined) return { id: existing.exact, name: wanted, created: false };
    try {
      const { body } = await this.http.request({
        method: 'POST',
        path: `${API}/projects`,
        json: { case_name: wanted, ...(description ? { description } : {}) },
        idempotent: false,
        schema: envelope(createdProjectSchema),
      });
      logger.info('Created Cado project', { projectId: body.data.id, projectName: wanted });
      return { id: body.data.id, name: wanted, created: true };
    } catch (error) {
      if (!(error instanceof CadoConflictError)) throw error;
      const again = await this.findProject(wanted);
      if (again.exact !== undefined) return { id: again.exact, name: wanted, created: false };
      if (again.caseInsensitive.length === 1 && again.caseInsensitive[0] !== undefined) {
        return { id: again.caseInsensitive[0].id, name: again.caseInsensitive[0].name, created: false };
      }
      throw new CadoConflictError(
        `Cado refused to create project "${wanted}" as a conflict, yet no project of that name can be found`,
        { status: error.status, code: error.code, operation: error.operation, cause: error },
      );
    }
  }

  /** Pages through `GET /projects?name=`; the exact match with the lowest id, and case-insensitive matches. */
  private async findProject(
    name: string,
  ): Promise<{ exact: number | undefined; caseInsensitive: { id: number; name: string }[] }> {
    const projects = await this.listAll(`${API}/projects`, { name }, projectSchema);
    const lower = name.toLowerCase();
    const exact = projects.filter((p) => p.details.name === name).map((p) => p.id);
    const caseInsensitive = projects
      .filter((p) => p.details.name.toLowerCase() === lower)
      .map((p) => ({ id: p.id, name: p.details.name }));
    return { exact: exact.length > 0 ? Math.min(...exact) : undefined, caseInsensitive };
  }

  /**
   * Imports one staged object: `POST /api/v3/import/aws/s3` with `file_name: [key]` (never without `file_name`,
   * which would import the whole bucket). A platform older than 2.230.0 rejects the array with a validation error
   * naming `file_name` (or a bare type error); then, and only then, the call is sent once more with the key as a
   * string. Not idempotent: a 5xx or timeout is not re-sent (it may have started a pipeline); it throws.
   */
  async importS3(input: ImportS3Input): Promise<ImportS3Result> {
    assertId(input.projectId, 'Cado project id');
    if (!BUCKET_NAME.test(input.bucket)) {
      throw new InputValidationError(`S3 bucket name "${input.bucket}" is not valid`);
    }
    if (input.key.trim() === '' || input.key.endsWith('/')) {
      throw new InputValidationError('S3 import needs the key of one object, not a prefix or an empty key');
    }
    if (Buffer.byteLength(input.key, 'utf8') > 1024) {
      throw new InputValidationError('S3 object key is longer than 1024 bytes');
    }
    if (input.cloudId !== undefined && input.cloudId.trim() === '') {
      throw new InputValidationError('Cado cloud id must not be empty when given');
    }
    const layout = input.fileNameLayout ?? 'full-key';
    if (layout !== 'full-key' && layout !== 'prefix-and-name') {
      throw new InputValidationError(`Unknown file_name layout "${String(layout)}"`);
    }
    if (layout === 'prefix-and-name' && !input.key.includes('/')) {
      throw new InputValidationError(
        'S3 object key has no folder; the prefix-and-name layout does not apply',
      );
    }
    const first: FileNameForm = input.fileNameForm ?? 'array';
    try {
      return await this.sendImport(input, first);
    } catch (error) {
      if (!(error instanceof CadoValidationError) || !mentionsFileNameType(error)) throw error;
      const second: FileNameForm = first === 'array' ? 'string' : 'array';
      logger.info('Cado rejected the file_name form; sending the import once more in the other form', {
        rejected: first,
        retrying: second,
        status: error.status,
      });
      return this.sendImport(input, second);
    }
  }

  private async sendImport(input: ImportS3Input, form: FileNameForm): Promise<ImportS3Result> {
    const layout = input.fileNameLayout ?? 'full-key';
    const cut = input.key.lastIndexOf('/') + 1;
    const name = layout === 'full-key' ? input.key : input.key.slice(cut);
    const { body } = await this.http.request({
      method: 'POST',
      path: `${API}/import/aws/s3`,
      json: {
        project_id: input.projectId,
        bucket: input.bucket,
        ...(layout === 'prefix-and-name' ? { prefix: input.key.slice(0, cut) } : {}),
        file_name: form === 'array' ? [name] : name,
        ...(input.cloudId === undefined ? {} : { cloud_id: input.cloudId }),
      },
      idempotent: false,
      schema: envelope(importResultSchema),
    });
    return { pipelineId: body.data.pipeline_id, fileNameForm: form, fileNameLayout: layout };
  }

  /**
   * Asks Cado to collect from a device through one of its XDR accounts: `POST /api/v3/import/xdr` (see xdr.ts for
   * the facts and what is uncertain). Not idempotent: a 5xx or timeout is not re-sent (Cado may have started the
   * collection on the endpoint); it throws, and the caller reconciles.
   */
  async importXdr(input: ImportXdrInput): Promise<{ pipelineId: number }> {
    assertId(input.projectId, 'Cado project id');
    if (input.accountName.trim() === '')
      throw new InputValidationError('Cado XDR account name must not be empty');
    if (!/^[A-Za-z0-9-]{1,64}$/.test(input.deviceId)) {
      throw new InputValidationError('XDR device id must be 1–64 letters, digits or hyphens');
    }
    const { body } = await this.http.request({
      method: 'POST',
      path: `${API}/import/xdr`,
      json: {
        account_name: input.accountName,
        investigation_id: input.projectId,
        device_id: input.deviceId,
        host_options: input.hostOptions,
      },
      idempotent: false,
      schema: envelope(importResultSchema),
    });
    return { pipelineId: body.data.pipeline_id };
  }

  /** The XDR accounts of `type` Cado holds (`GET /api/v3/accounts?type=`, every page). */
  async listXdrAccounts(type = 'sentinelone'): Promise<CadoXdrAccount[]> {
    const items = await this.listAll(`${API}/accounts`, { type }, accountSchema);
    return items
      .filter((a) => a.type.toLowerCase() === type)
      .map((a) => ({ name: a.account_name, type: a.type, publicIdentifier: a.public_identifier }));
  }

  /**
   * The SentinelOne devices Cado sees through `accountName` whose hostname is `hostname`
   * (`GET /api/v3/import/xdr/sentinelone`, cursor pages, at most {@link MAX_PAGES}).
   */
  async listXdrDevices(accountName: string, hostname: string): Promise<CadoXdrDevice[]> {
    const out: CadoXdrDevice[] = [];
    let cursor: string | undefined;
    for (let page = 1; page <= MAX_PAGES; page++) {
      const { body } = await this.http.request({
        method: 'GET',
        path: `${API}/import/xdr/sentinelone`,
        query: { account_name: accountName, hostname, per_page: PAGE_SIZE, ...(cursor ? { cursor } : {}) },
        schema: envelope(z.array(xdrDeviceSchema)).extend({ pagination: cursorInfoSchema }),
      });
      for (const d of body.data) {
        out.push({
          deviceId: d.device_id,
          hostname: d.hostname,
          operatingSystem: d.operating_system ?? '',
          isOnline: d.is_online,
        });
      }
      const next = body.pagination?.next_token;
      if (!next || next === cursor || body.data.length === 0) return out;
      cursor = next;
    }
    throw new CadoResponseError(`Cado GET ${API}/import/xdr/sentinelone: more than ${MAX_PAGES} pages`, {
      operation: `GET ${API}/import/xdr/sentinelone`,
    });
  }

  /**
   * The top-level pipelines of a project that name `deviceId` or `hostname` in their name or evidence name, oldest
   * first: the candidates for an XDR import of that device (how Cado names them is UNCERTAIN, see xdr.ts).
   */
  async listXdrImportPipelines(
    projectId: number,
    deviceId: string,
    hostname: string,
  ): Promise<CadoPipeline[]> {
    assertId(projectId, 'Cado project id');
    const items = await this.listAll(`${API}/pipelines`, { project_id: projectId }, pipelineSchema);
    const mentions = (text: string | undefined) =>
      text !== undefined &&
      (text.includes(deviceId) || (hostname !== '' && text.toLowerCase().includes(hostname.toLowerCase())));
    return items
      .map((item) => toPipeline(item))
      .filter(
        (p): p is CadoPipeline =>
          p !== undefined &&
          p.triggeringPipelineId === undefined &&
          (p.project === undefined || p.project.id === projectId) &&
          (mentions(p.name) || mentions(p.evidence?.name)),
      )
      .sort((a, b) => a.id - b.id);
  }

  /** One pipeline (`GET /api/v3/pipelines/{id}`), normalised across releases. */
  async getPipeline(id: number): Promise<CadoPipeline> {
    assertId(id, 'Cado pipeline id');
    const { body } = await this.http.request({
      method: 'GET',
      path: `${API}/pipelines/${id}`,
      schema: envelope(pipelineSchema),
    });
    // The id is always known here: the caller asked for it. An answer about another pipeline is not this one's.
    const pipeline = toPipeline(body.data, id) as CadoPipeline;
    if (pipeline.id !== id) {
      throw new CadoResponseError(
        `Cado GET /api/v3/pipelines/${id} answered with pipeline ${pipeline.id}; refusing another pipeline's state`,
        { operation: 'GET /api/v3/pipelines/{id}' },
      );
    }
    return pipeline;
  }

  /**
   * One evidence record (`GET /api/v3/evidences/{id}`): what Cado says it holds. `diskHash` is Cado's
   * `details.disk_hash`, whose algorithm the API does not name. An answer about another evidence is an error.
   */
  async getEvidence(id: number): Promise<CadoEvidence> {
    assertId(id, 'Cado evidence id');
    const { body } = await this.http.request({
      method: 'GET',
      path: `${API}/evidences/${id}`,
      schema: envelope(evidenceSchema),
    });
    if (body.data.id !== id) {
      throw new CadoResponseError(
        `Cado GET /api/v3/evidences/${id} answered with evidence ${body.data.id}; refusing another evidence's record`,
        { operation: 'GET /api/v3/evidences/{id}' },
      );
    }
    const details = body.data.details ?? undefined;
    return {
      id,
      ...(details?.disk_hash ? { diskHash: details.disk_hash } : {}),
      ...(typeof details?.disk_size === 'number' ? { diskSize: details.disk_size } : {}),
    };
  }

  /**
   * Asks Cado to cancel a pipeline (`PATCH /api/v3/pipelines/{id}` with `{"aborted": true}`). Sending it twice asks
   * for the same thing, so it is retried like a read; a pipeline that already ended answers 400, which throws
   * (the caller reads the pipeline to tell "ended" from "refused").
   */
  async abortPipeline(id: number): Promise<void> {
    assertId(id, 'Cado pipeline id');
    await this.http.request({
      method: 'PATCH',
      path: `${API}/pipelines/${id}`,
      json: { aborted: true },
      idempotent: true,
      schema: envelope(z.unknown()),
    });
  }

  /**
   * Pipelines triggered by `parentId` (`GET /api/v3/pipelines?triggering_pipeline_id=`, every page). Items that name
   * a different parent are dropped, in case a platform ignores the filter; items that name none are kept (trusting
   * the filter). List items carry subtasks without `progress_text`.
   */
  async listChildPipelines(parentId: number): Promise<CadoPipeline[]> {
    assertId(parentId, 'Cado pipeline id');
    const items = await this.listAll(
      `${API}/pipelines`,
      { triggering_pipeline_id: parentId },
      pipelineSchema,
    );
    const children: CadoPipeline[] = [];
    for (const item of items) {
      const pipeline = toPipeline(item);
      if (pipeline === undefined || pipeline.id === parentId) continue;
      if (pipeline.triggeringPipelineId !== undefined && pipeline.triggeringPipelineId !== parentId) continue;
      children.push(pipeline);
    }
    return children;
  }

  /**
   * The import pipelines of one object in a project (`GET /api/v3/pipelines?project_id=&evidence_name=`, every
   * page): pipelines that triggered none (child pipelines are left out) and whose evidence is named by `key` (the
   * full object key, as this client imports it; `bucket/key` is accepted too). Items naming another project or
   * evidence are dropped, in case a platform ignores a filter. Oldest first.
   */
  async listImportPipelines(projectId: number, bucket: string, key: string): Promise<CadoPipeline[]> {
    assertId(projectId, 'Cado project id');
    const items = await this.listAll(
      `${API}/pipelines`,
      { project_id: projectId, evidence_name: key },
      pipelineSchema,
    );
    const names = new Set([key, `${bucket}/${key}`]);
    return items
      .map((item) => toPipeline(item))
      .filter(
        (p): p is CadoPipeline =>
          p !== undefined &&
          p.triggeringPipelineId === undefined &&
          (p.project === undefined || p.project.id === projectId) &&
          p.evidence?.name !== undefined &&
          names.has(p.evidence.name),
      )
      .sort((a, b) => a.id - b.id);
  }

  /**
   * Where the import behind pipeline `id` stands: the pipeline's own classification until it completes, then that
   * of its child pipelines (running while any runs; failed if any failed). Failed children are fetched whole so
   * the reason carries their `progress_text`.
   */
  async pipelineOutcome(id: number): Promise<PipelineOutcome> {
    const parent = await this.getPipeline(id);
    if (classifyPipeline(parent).state !== 'complete') {
      return combineOutcome(parent, undefined, { now: this.clock(), childGraceMs: this.childGraceMs });
    }
    const listed = await this.listChildPipelines(id);
    const children = await Promise.all(
      listed.map((child) =>
        classifyPipeline(child).state === 'failed' ? this.getPipeline(child.id) : Promise.resolve(child),
      ),
    );
    return combineOutcome(parent, children, { now: this.clock(), childGraceMs: this.childGraceMs });
  }

  /**
   * Every item of a page-style list. Items that do not match `item` are skipped, each with a warning naming the
   * field, so one odd record cannot hide the others. Stops on an empty or short page, at `total_pages`, or when the server does
   * not honour `page`; refuses lists longer than {@link MAX_PAGES} pages.
   */
  private async listAll<T extends z.ZodType>(
    path: string,
    query: Record<string, string | number>,
    item: T,
  ): Promise<z.infer<T>[]> {
    const out: z.infer<T>[] = [];
    for (let page = 1; ; page++) {
      if (page > MAX_PAGES) {
        throw new CadoResponseError(
          `Cado GET ${path}: more than ${MAX_PAGES} pages of ${PAGE_SIZE}; refusing to walk further`,
          { operation: `GET ${path}` },
        );
      }
      const { body } = await this.http.request({
        method: 'GET',
        path,
        query: { ...query, page, per_page: PAGE_SIZE },
        schema: pageEnvelope(z.unknown()),
      });
      body.data.forEach((raw, index) => {
        const parsed = item.safeParse(raw);
        if (parsed.success) {
          out.push(parsed.data);
          return;
        }
        const issue = parsed.error.issues[0];
        logger.warn('Skipped a Cado list item that does not match its schema', {
          path,
          page,
          item: index,
          field: issue && issue.path.length > 0 ? issue.path.join('.') : '(item)',
          problem: (issue?.message ?? 'is invalid').slice(0, 200),
        });
      });
      const info = body.pagination;
      if (body.data.length === 0) break;
      if (info?.current_page !== undefined && info.current_page !== null && info.current_page !== page) break;
      if (info?.total_pages !== undefined && info.total_pages !== null) {
        if (page >= info.total_pages) break;
      } else if (body.data.length < (info?.per_page ?? PAGE_SIZE)) {
        break;
      }
    }
    return out;
  }
}

/** Creates a {@link CadoClient}; see {@link CadoClientOptions}. */
export function createCadoClient(options: CadoClientOptions): CadoClient {
  return new CadoClient(options);
}
