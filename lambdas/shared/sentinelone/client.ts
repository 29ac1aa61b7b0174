/**
 * The SentinelOne Management API v2.1 client: agents, threats, the RemoteOps script library, script execution,
 * task status, result links, best-effort cancel, and the calls the permission audit needs.
 *
 * Safety rules it enforces so that callers cannot get them wrong:
 * - every call that takes ids refuses an empty list: an empty S1 filter selects every object in scope, and for
 *   `execute` that would run a script on every agent;
 * - ids are decimal strings, checked before they are sent (a comma inside an "id" would widen a filter);
 * - the token travels only in the Authorization header (the HTTP layer), never in a URL;
 * - result download links are returned, never fetched or logged: they are presigned secrets.
 */
import type { z } from 'zod';
import {
  ConfigError,
  InputValidationError,
  S1ApprovalRequiredError,
  S1ExecutionNotStartedError,
  S1RemoteOpsRefusedError,
  S1ResponseError,
  ServiceError,
} from '../errors';
import { assertAllowedUrl, DEFAULT_S1_HOSTS, type HostPolicy } from '../hosts';
import { type CredentialSource, type Dispatcher, FormData, HttpClient, type RetryPolicy } from '../http';
import { logger } from '../observability';
import { redact, registerSecret } from '../redact';
import {
  affectedSchema,
  agentSchema,
  apiTokenDetailsSchema,
  currentUserSchema,
  executeResultSchema,
  fetchFilesDataSchema,
  objectEnvelope,
  parseRows,
  type RowProblem,
  rawListEnvelope,
  roleSchema,
  type S1Agent,
  type S1ApiTokenDetails,
  type S1CurrentUser,
  type S1Role,
  type S1Script,
  type S1Site,
  type S1SystemStatus,
  type S1TaskRow,
  type S1Threat,
  scriptContentSchema,
  scriptSchema,
  siteSchema,
  sitesEnvelope,
  systemStatusSchema,
  taskRowSchema,
  threatSchema,
} from './schemas';

/** The API prefix below the console root. */
/** S1's threat incident statuses the workflow may set. */
export type ThreatIncidentStatus = 'in_progress' | 'resolved';
/** S1's analyst verdicts the workflow may set. */
export type ThreatAnalystVerdict = 'true_positive' | 'suspicious' | 'false_positive';

export const S1_API_PATH = '/web/api/v2.1';
/** S1 refuses `limit` above 1000. */
export const S1_MAX_PAGE_SIZE = 1000;
/** Ids per request when a long id list is split (keeps URLs short). */
export const S1_ID_CHUNK_SIZE = 100;
/** Longest per-run script timeout S1 accepts (48 h). */
export const S1_MAX_RUNTIME_SECONDS = 172_800;

/** Operating systems RemoteOps scripts can declare. */
export type S1OsType = 'windows' | 'linux' | 'macos';
/** RemoteOps script types (each needs its own run permission). */
export type S1ScriptType = 'action' | 'artifactCollection' | 'dataCollection';
/** Where S1 puts a script's output. `SentinelCloud` is the one whose results fetch-files can link to. */
export type S1OutputDestination = 'SentinelCloud' | 'None' | 'SingularityXDR' | 'DataSetCloud';

const OS_TYPES: readonly S1OsType[] = ['windows', 'linux', 'macos'];
const SCRIPT_TYPES: readonly S1ScriptType[] = ['action', 'artifactCollection', 'dataCollection'];
const OUTPUT_DESTINATIONS: readonly S1OutputDestination[] = [
  'SentinelCloud',
  'None',
  'SingularityXDR',
  'DataSetCloud',
];

/** Options of {@link createS1Client}. */
export interface S1ClientOptions {
  /**
   * The console, e.g. `https://usea1-acme.sentinelone.net`; a trailing `/` or `/web/api/v2.1` is accepted.
   */
  readonly consoleUrl: string;
  /** Supplies `ApiToken <token>`; see `secretCredential` and `staticCredential`. */
  readonly credentials: CredentialSource;
  /** Hosts the console may be on. @default `{ allowedHosts: DEFAULT_S1_HOSTS, allowLoopback: false }` */
  readonly hostPolicy?: { readonly allowedHosts?: readonly string[]; readonly allowLoopback?: boolean };
  /** Connection pool. @default the process-wide keep-alive pool */
  readonly dispatcher?: Dispatcher;
  readonly retry?: Partial<RetryPolicy>;
  /** Per-attempt timeout. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** Sleep between retries (tests). @default the shared clock's sleep */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Random source for retry jitter (tests). @default Math.random */
  readonly random?: () => number;
  /**
   * The deployment's shared request budget (`S1RequestBudget` in `../coordination/budget`): every attempt takes a
   * slot before it is sent, and a 429 is reported to it. @default - no budget, every call is sent at once
   */
  readonly budget?: S1Budget;
}

/** What the client needs of the shared S1 request budget. */
export interface S1Budget {
  /** Waits for a slot for `path`; throws S1RateLimitedError when none is free in time (nothing is sent). */
  acquire(path: string, operation: string, signal?: AbortSignal): Promise<void>;
  /** Records a 429 answered to `path`. */
  throttled(path: string, retryAfterMs?: number): Promise<void>;
}

/** Filter of {@link S1Client.listThreats}. Times are ISO-8601; at most one of `createdAfter`/`updatedAfter`. */
export interface ThreatQuery {
  /** Threats created strictly after this time (`createdAt__gt`), oldest first. */
  readonly createdAfter?: string;
  /** Threats updated strictly after this time (`updatedAt__gt`), least recently updated first. */
  readonly updatedAfter?: string;
  /** Upper bound (inclusive) on the same field as the lower bound (`createdAt` when neither is given). */
  readonly until?: string;
  /** e.g. `malicious`, `suspicious`. */
  readonly confidenceLevels?: readonly string[];
  /** e.g. `Malware`, `Ransomware`. */
  readonly classifications?: readonly string[];
  /** `windows`, `linux`, `macos`. */
  readonly osTypes?: readonly string[];
  readonly siteIds?: readonly string[];
  /** Page size (S1's `limit`), 1–1000. @default 100 */
  readonly limit?: number;
}

/** Filter of {@link S1Client.listScripts}; omitted fields do not filter. */
export interface ScriptQuery {
  /** Free-text search. */
  readonly query?: string;
  readonly osTypes?: readonly S1OsType[];
  readonly scriptType?: S1ScriptType | readonly S1ScriptType[];
  /** Non-empty when given. */
  readonly ids?: readonly string[];
}

/** Input of {@link S1Client.uploadScript}. */
export interface ScriptUpload {
  readonly content: Buffer;
  /** Base name of the script file, e.g. `collect.ps1`. */
  readonly fileName: string;
  readonly scriptName: string;
  readonly scriptType: S1ScriptType;
  readonly osTypes: readonly S1OsType[];
  readonly scopeLevel: 'site' | 'account' | 'global';
  /** Site or account id; required for `site`/`account`, refused for `global`. */
  readonly scopeId?: string;
  /** Default runtime timeout of the script (S1 default 3600). */
  readonly runtimeTimeoutSeconds?: number;
  readonly description?: string;
  /** @default false */
  readonly inputRequired?: boolean;
  readonly inputInstructions?: string;
  readonly inputExample?: string;
}

/** Input of {@link S1Client.execute}. */
export interface ExecuteInput {
  /** Agent ids (`agent.id`, not uuid). Required and non-empty: S1 would otherwise target every agent. */
  readonly agentIds: readonly string[];
  readonly scriptId: string;
  /** Shown in the console; carries the investigation id so the task can be traced back. */
  readonly taskDescription: string;
  /** Command-line arguments, one string. */
  readonly inputParams?: string;
  /** Per-run timeout override, 1–172800 s. */
  readonly runtimeTimeoutSeconds?: number;
  /** @default 'SentinelCloud' */
  readonly outputDestination?: S1OutputDestination;
  /** Ask S1 to route the run through approval. @default false */
  readonly requiresApproval?: boolean;
}

/** A started execution. */
export interface ExecuteResult {
  /** Parent task id: poll {@link S1Client.getTaskStatus} with it. */
  readonly parentTaskId: string;
  /** Agents S1 created a task for (may be fewer than targeted). */
  readonly affected: number;
  /** S1's request id (`X-RQID`), for support cases. */
  readonly requestId?: string;
}

/** Options of {@link S1Client.getTaskStatus}. */
export interface TaskStatusQuery {
  /** Only these child tasks. */
  readonly childTaskIds?: readonly string[];
  /** Only tasks whose description contains this text (`description__contains`). */
  readonly descriptionContains?: string;
}

/** A result download link. `downloadUrl` is a presigned secret: never log it (use `safeUrl`). */
export interface ResultLink {
  /** Child task id. */
  readonly taskId: string;
  readonly fileName: string;
  readonly downloadUrl: string;
}

/** Why a task has no link. */
export interface ResultLinkError {
  readonly taskId: string;
  readonly errorString: string;
}

/** Outcome of {@link S1Client.fetchFiles}: one entry per requested task, in `links` or in `errors`. */
export interface FetchFilesResult {
  readonly links: ResultLink[];
  readonly errors: ResultLinkError[];
}

/** Outcome of {@link S1Client.cancelTasks}. */
export interface CancelResult {
  readonly attempted: true;
  /** Tasks S1 says it canceled (only tasks not yet delivered to an agent can be). */
  readonly affected: number;
  /** The private endpoint is missing or forbidden on this console; nothing was canceled. */
  readonly unsupported?: true;
}

/** Filter of {@link S1Client.getSites}; omitted = every site in the token's scope. */
export interface SiteQuery {
  readonly siteIds?: readonly string[];
  readonly accountIds?: readonly string[];
}

/** The licence module name of Remote Script Orchestration on `/sites`. */
export const RSO_LICENSE_MODULE = 'rso';

/** True when the site's licences include `moduleName` (default `rso`). */
export function siteHasModule(site: S1Site, moduleName: string = RSO_LICENSE_MODULE): boolean {
  const wanted = moduleName.toLowerCase();
  return (site.licenses?.modules ?? []).some((module) => module.name?.toLowerCase() === wanted);
}

/** What a site's `/sites` record says about a licence module: `unknown` when it carries no module list at all. */
export type SiteLicence = 'licensed' | 'unlicensed' | 'unknown';

/**
 * Whether the site's record shows `moduleName` (default `rso`). A record without `licenses.modules` (some consoles
 * and some recorded responses omit the block) is `unknown`, not unlicensed: the workflow then tries, and S1's own
 * refusal, if any, becomes the reason.
 */
export function siteLicence(site: S1Site, moduleName: string = RSO_LICENSE_MODULE): SiteLicence {
  if (!Array.isArray(site.licenses?.modules)) return 'unknown';
  return siteHasModule(site, moduleName) ? 'licensed' : 'unlicensed';
}

/**
 * Checks the console URL against the host policy and returns the API base (`<origin>/web/api/v2.1`).
 * Throws `HostNotAllowedError` for a wrong scheme or host and `ConfigError` for a URL that is not a console root.
 */
export function s1ApiBaseUrl(consoleUrl: string, policy: HostPolicy): string {
  const parsed = assertAllowedUrl(consoleUrl.trim(), policy, 'S1 console URL');
  if (parsed.search || parsed.hash) {
    throw new ConfigError('S1 console URL must not have a query or fragment; give the console root');
  }
  const path = parsed.pathname.replace(/\/+$/, '');
  if (path !== '' && path.toLowerCase() !== S1_API_PATH) {
    throw new ConfigError(
      `S1 console URL must be the console root, e.g. https://<tenant>.sentinelone.net (got path "${redact(path)}")`,
    );
  }
  return `${parsed.origin}${S1_API_PATH}`;
}

/** Creates an {@link S1Client}; validates the console URL first. */
export function createS1Client(options: S1ClientOptions): S1Client {
  return new S1Client(options);
}

type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

type Pagination = { nextCursor?: string | null | undefined } | null | undefined;

/** The items of a list envelope (`data` is the array, or null when empty). */
function listItems<T>(body: { data?: T[] | null }): T[] {
  return body.data ?? [];
}

/** A SentinelOne Management API v2.1 client. Create it with {@link createS1Client}. */
export class S1Client {
  /** `<console origin>/web/api/v2.1`. */
  readonly apiBaseUrl: string;
  private readonly http: HttpClient;

  constructor(options: S1ClientOptions) {
    const allowLoopback = options.hostPolicy?.allowLoopback ?? false;
    this.apiBaseUrl = s1ApiBaseUrl(options.consoleUrl, {
      allowedHosts: options.hostPolicy?.allowedHosts ?? DEFAULT_S1_HOSTS,
      allowLoopback,
    });
    this.http = new HttpClient({
      service: 'S1',
      baseUrl: this.apiBaseUrl,
      credentials: options.credentials,
      dispatcher: options.dispatcher,
      retry: options.retry,
      requestTimeoutMs: options.requestTimeoutMs,
      sleep: options.sleep,
      random: options.random,
      ...(options.budget
        ? {
            beforeAttempt: (path, operation, signal) =>
              options.budget?.acquire(path, operation, signal) ?? Promise.resolve(),
            onRateLimited: (path, retryAfterMs) =>
              options.budget?.throttled(path, retryAfterMs) ?? Promise.resolve(),
          }
        : {}),
    });
  }

  // --- Agents ----------------------------------------------------------------------------------------------

  /**
   * The agents with these ids (`GET /agents`), every page. Ids S1 does not know are simply absent.
   * @throws InputValidationError for an empty list (S1 would list every agent in scope).
   */
  async getAgents(ids: readonly string[]): Promise<S1Agent[]> {
    const wanted = requireIds(ids, 'getAgents: agentIds');
    const agents = await this.collectByIds(wanted, (chunk) =>
      this.pages('/agents', { ids: chunk, limit: S1_MAX_PAGE_SIZE }, rawListEnvelope, listItems, agentSchema),
    );
    return keepRequested(agents, wanted, (agent) => agent.id);
  }

  // --- Threats ---------------------------------------------------------------------------------------------

  /**
   * Pages of threats matching `query` (`GET /threats`), oldest first, cursor-paged to the end. Stop early by
   * leaving the loop. The query is checked before the first request.
   */
  listThreatPages(query: ThreatQuery = {}): AsyncGenerator<S1Threat[]> {
    return this.pages('/threats', threatQuery(query), rawListEnvelope, listItems, threatSchema);
  }

  /** Threats matching `query`, one at a time (see {@link listThreatPages}). */
  async *listThreats(query: ThreatQuery = {}): AsyncGenerator<S1Threat> {
    for await (const page of this.listThreatPages(query)) yield* page;
  }

  /**
   * The threats with these ids.
   * @throws InputValidationError for an empty list.
   */
  async getThreats(ids: readonly string[]): Promise<S1Threat[]> {
    const wanted = requireIds(ids, 'getThreats: threatIds');
    const threats = await this.collectByIds(wanted, (chunk) =>
      this.pages(
        '/threats',
        { ids: chunk, limit: S1_MAX_PAGE_SIZE },
        rawListEnvelope,
        listItems,
        threatSchema,
      ),
    );
    return keepRequested(threats, wanted, (threat) => threat.id);
  }

  /**
   * Adds one note to each threat (`POST /threats/notes`). Not retried after an ambiguous failure, since a
   * retry could add the note twice.
   * @throws InputValidationError for no ids or an empty text.
   */
  async addThreatNote(threatIds: readonly string[], text: string): Promise<{ affected: number }> {
    const ids = requireIds(threatIds, 'addThreatNote: threatIds');
    const note = requireText(text, 'addThreatNote: text');
    const response = await this.http.request({
      method: 'POST',
      path: '/threats/notes',
      json: { filter: { ids }, data: { text: note } },
      schema: objectEnvelope(affectedSchema),
    });
    return { affected: response.body.data.affected };
  }

  /**
   * Sets the incident status (`POST /threats/incident`) and/or the analyst verdict (`POST /threats/analyst-verdict`)
   * of threats; each is one call, sent only when given.
   */
  async updateThreats(
    threatIds: readonly string[],
    update: {
      readonly incidentStatus?: ThreatIncidentStatus;
      readonly analystVerdict?: ThreatAnalystVerdict;
    },
  ): Promise<{ affected: number }> {
    const ids = requireIds(threatIds, 'updateThreats: threatIds');
    let affected = 0;
    const calls = [
      ['/threats/incident', 'incidentStatus', update.incidentStatus],
      ['/threats/analyst-verdict', 'analystVerdict', update.analystVerdict],
    ] as const;
    for (const [path, field, value] of calls) {
      if (value === undefined) continue;
      const response = await this.http.request({
        method: 'POST',
        path,
        json: { filter: { ids }, data: { [field]: value } },
        // Setting the same status twice sets it once: safe to send again.
        idempotent: true,
        schema: objectEnvelope(affectedSchema),
      });
      affected = Math.max(affected, response.body.data.affected);
    }
    return { affected };
  }

  // --- Script library --------------------------------------------------------------------------------------

  /** Scripts in the library matching `query` (`GET /remote-scripts`), every page. */
  async listScripts(query: ScriptQuery = {}): Promise<S1Script[]> {
    const ids = optionalIds(query.ids, 'listScripts: ids');
    const osTypes = query.osTypes?.map((os) => oneOf(os, OS_TYPES, 'listScripts: osTypes'));
    const scriptTypes = (
      query.scriptType === undefined
        ? []
        : typeof query.scriptType === 'string'
          ? [query.scriptType]
          : query.scriptType
    ).map((type) => oneOf(type, SCRIPT_TYPES, 'listScripts: scriptType'));
    const scripts: S1Script[] = [];
    for await (const page of this.pages(
      '/remote-scripts',
      {
        ids,
        query: query.query?.trim() || undefined,
        osTypes,
        scriptType: scriptTypes,
        limit: S1_MAX_PAGE_SIZE,
      },
      rawListEnvelope,
      listItems,
      scriptSchema,
    )) {
      scripts.push(...page);
    }
    return ids ? keepRequested(scripts, ids, (script) => script.id) : scripts;
  }

  /**
   * Uploads a script to the library (`POST /remote-scripts`, multipart/form-data: one part per field, the
   * content in the `file` part). Not retried after an ambiguous failure (it would create a duplicate); list the
   * library before uploading again.
   */
  async uploadScript(input: ScriptUpload): Promise<S1Script> {
    const form = scriptUploadForm(input);
    const response = await this.http.request({
      method: 'POST',
      path: '/remote-scripts',
      form,
      schema: objectEnvelope(scriptSchema),
    });
    const script = response.body.data;
    logger.info('Uploaded S1 script', {
      scriptId: script.id,
      scriptName: input.scriptName,
      scriptType: input.scriptType,
      scopeLevel: input.scopeLevel,
    });
    return script;
  }

  /** The source text of a script (`GET /remote-scripts/script-content`). */
  async getScriptContent(scriptId: string): Promise<string> {
    const id = requireId(scriptId, 'getScriptContent: scriptId');
    const response = await this.http.request({
      method: 'GET',
      path: '/remote-scripts/script-content',
      query: { scriptId: id },
      schema: objectEnvelope(scriptContentSchema),
    });
    return response.body.data.scriptContent;
  }

  // --- Execution and tasks ---------------------------------------------------------------------------------

  /**
   * Runs a script on the given agents (`POST /remote-scripts/execute` with `filter: { ids }`). Never retried
   * after an ambiguous failure: a second request would run the script twice.
   * @throws InputValidationError for no agents (nothing is sent).
   * @throws S1ApprovalRequiredError when S1 holds the run for approval (`details.pendingExecutionId`).
   * @throws S1ExecutionNotStartedError when S1 answers 200 but starts nothing (OS mismatch, agent out of scope).
   */
  async execute(input: ExecuteInput): Promise<ExecuteResult> {
    const agentIds = requireIds(input?.agentIds, 'execute: agentIds');
    const scriptId = requireId(input.scriptId, 'execute: scriptId');
    const taskDescription = requireText(input.taskDescription, 'execute: taskDescription');
    const outputDestination = oneOf(
      input.outputDestination ?? 'SentinelCloud',
      OUTPUT_DESTINATIONS,
      'execute: outputDestination',
    );
    const runtime = optionalSeconds(input.runtimeTimeoutSeconds, 'execute: runtimeTimeoutSeconds');
    if (input.inputParams !== undefined && typeof input.inputParams !== 'string') {
      throw new InputValidationError('execute: inputParams must be one string of arguments');
    }
    const operation = 'POST /remote-scripts/execute';
    const response = await this.http
      .request({
        method: 'POST',
        path: '/remote-scripts/execute',
        json: {
          filter: { ids: agentIds },
          data: {
            scriptId,
            taskDescription,
            outputDestination,
            ...(input.inputParams === undefined ? {} : { inputParams: input.inputParams }),
            ...(runtime === undefined ? {} : { scriptRuntimeTimeoutSeconds: runtime }),
            requiresApproval: input.requiresApproval ?? false,
          },
        },
        schema: objectEnvelope(executeResultSchema),
      })
      .catch((error: unknown) => {
        throw remoteOpsRefusal(error, scriptId, agentIds.length) ?? error;
      });
    const data = response.body.data;
    const context = {
      status: response.status,
      operation,
      requestId: response.requestId,
    };
    if (data.pending === true) {
      throw new S1ApprovalRequiredError(
        `S1 holds the execution of script ${scriptId} on ${agentIds.length} agent(s) for approval ` +
          `(pending execution ${data.pendingExecutionId ?? 'unknown'}); a console user must approve it`,
        {
          ...context,
          details: {
            pendingExecutionId: data.pendingExecutionId ?? null,
            scriptId,
            targeted: agentIds.length,
          },
        },
      );
    }
    if (!data.parentTaskId && data.affected > 0) {
      throw new S1ExecutionNotStartedError(
        `S1 says the execution of script ${scriptId} affected ${data.affected} agent(s) but returned no ` +
          'parentTaskId, so the tasks cannot be followed; look them up in the console by the task description',
        { ...context, details: { scriptId, targeted: agentIds.length, affected: data.affected } },
      );
    }
    if (!data.parentTaskId) {
      throw new S1ExecutionNotStartedError(
        `S1 accepted the execution of script ${scriptId} on ${agentIds.length} agent(s) but started no task ` +
          `(affected: ${data.affected}). Likely causes: the script's osTypes do not include the agents' OS, ` +
          "the agents are decommissioned, uninstalled or outside the API user's scope, or RemoteOps is not " +
          'licensed or enabled on their site',
        { ...context, details: { scriptId, targeted: agentIds.length, affected: data.affected } },
      );
    }
    const level = data.affected < agentIds.length ? 'warn' : 'info';
    logger[level]('S1 execution started', {
      scriptId,
      parentTaskId: data.parentTaskId,
      affected: data.affected,
      targeted: agentIds.length,
      requestId: response.requestId,
    });
    return {
      parentTaskId: data.parentTaskId,
      affected: data.affected,
      ...(response.requestId ? { requestId: response.requestId } : {}),
    };
  }

  /**
   * Every child task of an execution (`GET /remote-scripts/status?parentTaskId=`), every page. Rows may lag
   * the execute call: an empty list right after it is normal.
   */
  async getTaskStatus(parentTaskId: string, query: TaskStatusQuery = {}): Promise<S1TaskRow[]> {
    const parent = requireId(parentTaskId, 'getTaskStatus: parentTaskId');
    const childIds = optionalIds(query.childTaskIds, 'getTaskStatus: childTaskIds');
    const rows: S1TaskRow[] = [];
    for await (const page of this.pages(
      '/remote-scripts/status',
      {
        parentTaskId: parent,
        ids: childIds,
        description__contains: query.descriptionContains?.trim() || undefined,
        limit: S1_MAX_PAGE_SIZE,
      },
      rawListEnvelope,
      listItems,
      taskRowSchema,
      (problem, raw) => unreadableTaskRow(parent, problem, raw),
    )) {
      // Should a console ignore the filter, rows of other executions must not leak into this one.
      rows.push(...page.filter((row) => !row.parentTaskId || row.parentTaskId === parent));
    }
    return childIds ? keepRequested(rows, childIds, (row) => row.id) : rows;
  }

  /**
   * The child tasks of many executions at once (`GET /remote-scripts/status?parentTaskId__in=`), every page, in
   * chunks of {@link S1_ID_CHUNK_SIZE} parents: one call per chunk and page however many tasks are open (the Task
   * Watcher's O(1) S1 traffic). A row that cannot be read is not guessed at: its parent is reported in
   * `unreadableParents` (and none of that parent's rows count), so the caller decides nothing about it this time.
   * @throws InputValidationError for an empty list (S1 requires a parent filter).
   */
  async getTaskStatusOfParents(
    parentTaskIds: readonly string[],
  ): Promise<{ rows: S1TaskRow[]; unreadableParents: string[] }> {
    const parents = requireIds([...new Set(parentTaskIds)], 'getTaskStatusOfParents: parentTaskIds');
    const wanted = new Set(parents);
    const unreadable = new Set<string>();
    const rows = await this.collectByIds(parents, (chunk) =>
      this.pages(
        '/remote-scripts/status',
        { parentTaskId__in: chunk, limit: S1_MAX_PAGE_SIZE },
        rawListEnvelope,
        listItems,
        taskRowSchema,
        (_problem, raw) => {
          const row = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
          const parent = typeof row.parentTaskId === 'string' ? row.parentTaskId : undefined;
          // A row naming none of ours is another execution's; one naming none at all could be any of the chunk's.
          if (parent === undefined) for (const id of chunk) unreadable.add(id);
          else if (wanted.has(parent)) unreadable.add(parent);
        },
      ),
    );
    return {
      // Should a console ignore the filter, rows of other executions must not count.
      rows: rows.filter(
        (row) => row.parentTaskId && wanted.has(row.parentTaskId) && !unreadable.has(row.parentTaskId),
      ),
      unreadableParents: [...unreadable],
    };
  }

  /**
   * Result download links of child tasks (`POST /remote-scripts/fetch-files`). Each requested task ends up in
   * `links` or in `errors` (a task S1 says nothing about is reported as "no link returned"). The links are not
   * checked here; pass each through `assertDownloadUrl` (download-url.ts) before downloading.
   * @throws InputValidationError for an empty list.
   */
  async fetchFiles(childTaskIds: readonly string[]): Promise<FetchFilesResult> {
    const wanted = requireIds(childTaskIds, 'fetchFiles: childTaskIds');
    const response = await this.http.request({
      method: 'POST',
      path: '/remote-scripts/fetch-files',
      json: { data: { taskIds: wanted } },
      // Minting links changes nothing on the console, so an ambiguous failure may be retried.
      idempotent: true,
      schema: objectEnvelope(fetchFilesDataSchema),
    });
    const result = readFetchFiles(response.body.data, wanted);
    logger.info('Fetched S1 result links', {
      requested: wanted.length,
      links: result.links.length,
      errors: result.errors.length,
      requestId: response.requestId,
    });
    return result;
  }

  /**
   * Best-effort cancel through the private `POST /private/tasks/cancel-task` (only tasks not yet delivered to an
   * agent can be canceled). A console without the endpoint (404/405) or without the permission (403) yields
   * `unsupported: true` instead of an error.
   * @throws InputValidationError when neither a parent nor child task ids are given.
   */
  async cancelTasks(target: {
    parentTaskId?: string;
    childTaskIds?: readonly string[];
  }): Promise<CancelResult> {
    const filter: Record<string, string[]> = {};
    if (target.parentTaskId !== undefined) {
      filter.parentTaskId__in = [requireId(target.parentTaskId, 'cancelTasks: parentTaskId')];
    }
    if (target.childTaskIds !== undefined && target.childTaskIds.length > 0) {
      filter.ids = requireIds(target.childTaskIds, 'cancelTasks: childTaskIds');
    }
    if (Object.keys(filter).length === 0) {
      throw new InputValidationError(
        'cancelTasks: give a parentTaskId or childTaskIds; an empty filter would target every task in scope',
      );
    }
    try {
      const response = await this.http.request({
        method: 'POST',
        path: '/private/tasks/cancel-task',
        json: { filter },
        idempotent: true,
        schema: objectEnvelope(affectedSchema),
      });
      logger.info('Asked S1 to cancel tasks', { affected: response.body.data.affected });
      return { attempted: true, affected: response.body.data.affected };
    } catch (error) {
      if (error instanceof ServiceError && [403, 404, 405].includes(error.status ?? 0)) {
        logger.warn('S1 task cancel is not available on this console; nothing canceled', {
          status: error.status,
          error: error.name,
        });
        return { attempted: true, affected: 0, unsupported: true };
      }
      throw error;
    }
  }

  // --- Audit -----------------------------------------------------------------------------------------------

  /** The user that owns the token (`GET /user`): scope, roles, token expiry. */
  async getCurrentUser(): Promise<S1CurrentUser> {
    const response = await this.http.request({
      method: 'GET',
      path: '/user',
      schema: objectEnvelope(currentUserSchema),
    });
    return response.body.data;
  }

  /**
   * When `token` was created and expires (`POST /users/api-token-details`). The token goes in the JSON body
   * only, and is registered for redaction first.
   */
  async getApiTokenDetails(token: string): Promise<S1ApiTokenDetails> {
    const value = requireText(token, 'getApiTokenDetails: token');
    registerSecret(value);
    const response = await this.http.request({
      method: 'POST',
      path: '/users/api-token-details',
      json: { data: { apiToken: value } },
      idempotent: true,
      schema: objectEnvelope(apiTokenDetailsSchema),
    });
    return response.body.data;
  }

  /** A role with its pages of permissions (`GET /rbac/role/{id}`). */
  async getRole(roleId: string): Promise<S1Role> {
    const id = requireId(roleId, 'getRole: roleId');
    const response = await this.http.request({
      method: 'GET',
      path: `/rbac/role/${id}`,
      schema: objectEnvelope(roleSchema),
    });
    return response.body.data;
  }

  /** Sites with their licences (`GET /sites`, `data.sites[]`), every page. See {@link siteHasModule}. */
  async getSites(query: SiteQuery = {}): Promise<S1Site[]> {
    const siteIds = optionalIds(query.siteIds, 'getSites: siteIds');
    const accountIds = optionalIds(query.accountIds, 'getSites: accountIds');
    const sites: S1Site[] = [];
    for await (const page of this.pages(
      '/sites',
      { siteIds, accountIds, limit: S1_MAX_PAGE_SIZE },
      sitesEnvelope,
      (body) => body.data?.sites ?? [],
      siteSchema,
    )) {
      sites.push(...page);
    }
    return siteIds ? keepRequested(sites, siteIds, (site) => site.id) : sites;
  }

  /** The console's health (`GET /system/status`). */
  async systemStatus(): Promise<S1SystemStatus> {
    const response = await this.http.request({
      method: 'GET',
      path: '/system/status',
      schema: objectEnvelope(systemStatusSchema.nullish()),
    });
    return response.body.data ?? {};
  }

  // --- Internals -------------------------------------------------------------------------------------------

  /**
   * Cursor paging to the end: `pagination.nextCursor` of `null`, `""` or missing ends it. A cursor seen before
   * ends it with an error instead of looping for ever. Each row is checked on its own: a row that fails `row` is
   * skipped with a warning naming the field (never the whole page), unless `onBadRow` throws for it.
   */
  private pages<B extends { pagination?: Pagination }, T extends z.ZodType>(
    path: string,
    query: Query,
    envelope: z.ZodType<B>,
    rowsOf: (body: B) => readonly unknown[],
    row: T,
    onBadRow?: (problem: RowProblem, raw: unknown) => void,
  ): AsyncGenerator<z.infer<T>[]> {
    const http = this.http;
    return (async function* paginate() {
      const seen = new Set<string>();
      let cursor: string | undefined;
      for (;;) {
        const response = await http.request({
          method: 'GET',
          path,
          query: { ...query, skipCount: true, cursor },
          schema: envelope,
        });
        const raw = rowsOf(response.body);
        const { rows, problems } = parseRows(raw, row);
        for (const problem of problems) {
          onBadRow?.(problem, raw[problem.index]);
          logger.warn('Skipped an S1 row that does not match its schema', {
            path,
            field: problem.field,
            problem: problem.problem,
            row: problem.index,
            ...(problem.id === undefined ? {} : { id: problem.id }),
            requestId: response.requestId,
          });
        }
        yield rows;
        const next = response.body.pagination?.nextCursor;
        if (next === null || next === undefined || next === '') return;
        if (seen.has(next)) {
          throw new S1ResponseError(`S1 GET ${path}: the paging cursor repeated; stopped to avoid a loop`, {
            status: response.status,
            operation: `GET ${path}`,
            requestId: response.requestId,
          });
        }
        seen.add(next);
        cursor = next;
      }
    })();
  }

  private async collectByIds<T>(ids: readonly string[], fetch: (chunk: string[]) => AsyncGenerator<T[]>) {
    const out: T[] = [];
    for (let start = 0; start < ids.length; start += S1_ID_CHUNK_SIZE) {
      for await (const page of fetch(ids.slice(start, start + S1_ID_CHUNK_SIZE))) out.push(...page);
    }
    return out;
  }
}

// --- Validation and mapping helpers ------------------------------------------------------------------------

const ID_PATTERN = /^\d{1,32}$/;

function showValue(value: unknown): string {
  return redact(String(value)).slice(0, 40);
}

/** One S1 id: a decimal string. */
function requireId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id.trim())) {
    throw new InputValidationError(
      `${what}: "${showValue(id)}" is not an S1 id (a decimal string such as "1913920934584665209")`,
    );
  }
  return id.trim();
}

/** A non-empty list of S1 ids, de-duplicated in order. */
function requireIds(ids: readonly unknown[] | undefined | null, what: string): string[] {
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new InputValidationError(
      `${what}: at least one id is required; an empty S1 filter would select everything in scope`,
    );
  }
  return [...new Set(ids.map((id) => requireId(id, what)))];
}

/** Undefined when not given; otherwise a non-empty list of ids. */
function optionalIds(ids: readonly string[] | undefined, what: string): string[] | undefined {
  return ids === undefined ? undefined : requireIds(ids, what);
}

function requireText(text: unknown, what: string): string {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new InputValidationError(`${what} must be a non-empty string`);
  }
  return text;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InputValidationError(`${what}: "${showValue(value)}" is not one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function optionalSeconds(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1 || value > S1_MAX_RUNTIME_SECONDS) {
    throw new InputValidationError(
      `${what} must be a whole number of seconds from 1 to ${S1_MAX_RUNTIME_SECONDS}`,
    );
  }
  return value;
}

function isoTime(value: string | undefined, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
    throw new InputValidationError(`${what} must be an ISO-8601 time, got "${showValue(value)}"`);
  }
  // Sent as given: S1 times carry microseconds, and rounding to milliseconds would re-read the last item.
  return value.trim();
}

/** Keeps items whose id was asked for, once each: a console that ignored the filter must not widen the result. */
function keepRequested<T>(items: readonly T[], ids: readonly string[], idOf: (item: T) => string): T[] {
  const wanted = new Set(ids);
  const seen = new Set<string>();
  return items.filter((item) => {
    const id = idOf(item);
    if (!wanted.has(id) || seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Words with which S1 names RemoteOps in a refusal. */
const REMOTE_OPS_TEXT = /remote\s*ops|remote[\s-]*script[\s-]*orchestration|\brso\b/i;

/**
 * A refusal of execute (4xx: nothing started) whose text names RemoteOps becomes {@link S1RemoteOpsRefusedError},
 * so the agent's reason says what is missing; anything else is left as it is.
 */
function remoteOpsRefusal(
  error: unknown,
  scriptId: string,
  targeted: number,
): S1RemoteOpsRefusedError | undefined {
  if (
    !(error instanceof ServiceError) ||
    error.status === undefined ||
    error.status < 400 ||
    error.status >= 500
  ) {
    return undefined;
  }
  if (error.status === 401 || error.status === 429 || !REMOTE_OPS_TEXT.test(error.message)) return undefined;
  return new S1RemoteOpsRefusedError(
    `S1 refused to run script ${scriptId} on ${targeted} agent(s) because of RemoteOps on their site (not ` +
      `licensed or not enabled); S1 said: ${error.message}. Check the site's licences in the S1 console`,
    {
      status: error.status,
      code: error.code,
      operation: error.operation,
      requestId: error.requestId,
      cause: error,
      details: { scriptId, targeted },
    },
  );
}

/**
 * A task row of this execution that cannot be read must not be skipped: the agent's task would look missing and
 * its evidence could be lost. Only a row that names another execution is skipped (with the usual warning).
 */
function unreadableTaskRow(parent: string, problem: RowProblem, raw: unknown): void {
  const row = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const rowParent = typeof row.parentTaskId === 'string' ? row.parentTaskId : undefined;
  if (rowParent !== undefined && rowParent !== parent) return;
  const agentId = typeof row.agentId === 'string' && ID_PATTERN.test(row.agentId) ? row.agentId : undefined;
  throw new S1ResponseError(
    `S1 GET /remote-scripts/status: a task row of execution ${parent}${agentId ? ` (agent ${agentId})` : ''} ` +
      `cannot be read: field "${problem.field}" ${problem.problem}; it is not skipped, since that could lose the task`,
    {
      operation: 'GET /remote-scripts/status',
      details: { parentTaskId: parent, field: problem.field, agentId: agentId ?? null },
    },
  );
}

function threatQuery(query: ThreatQuery): Query {
  if (query.createdAfter !== undefined && query.updatedAfter !== undefined) {
    throw new InputValidationError('listThreats: give createdAfter or updatedAfter, not both');
  }
  const field = query.updatedAfter !== undefined ? 'updatedAt' : 'createdAt';
  const after = isoTime(query.createdAfter ?? query.updatedAfter, `listThreats: ${field} lower bound`);
  const until = isoTime(query.until, 'listThreats: until');
  const limit = query.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > S1_MAX_PAGE_SIZE) {
    throw new InputValidationError(`listThreats: limit must be a whole number from 1 to ${S1_MAX_PAGE_SIZE}`);
  }
  return {
    [`${field}__gt`]: after,
    [`${field}__lte`]: until,
    confidenceLevels: textList(query.confidenceLevels, 'listThreats: confidenceLevels'),
    classifications: textList(query.classifications, 'listThreats: classifications'),
    osTypes: textList(query.osTypes, 'listThreats: osTypes'),
    siteIds: optionalIds(query.siteIds, 'listThreats: siteIds'),
    sortBy: field,
    sortOrder: 'asc',
    limit,
  };
}

/** A list of filter values; commas inside a value would split it into two filters, so they are refused. */
function textList(values: readonly string[] | undefined, what: string): string[] | undefined {
  if (values === undefined || values.length === 0) return undefined;
  return values.map((value) => {
    if (typeof value !== 'string' || value.trim() === '' || value.includes(',')) {
      throw new InputValidationError(`${what}: "${showValue(value)}" is not a valid filter value`);
    }
    return value.trim();
  });
}

function scriptUploadForm(input: ScriptUpload): FormData {
  if (!Buffer.isBuffer(input.content) || input.content.length === 0) {
    throw new InputValidationError('uploadScript: content must be a non-empty Buffer');
  }
  const fileName = requireText(input.fileName, 'uploadScript: fileName').trim();
  if (/[/\\]/.test(fileName)) {
    throw new InputValidationError('uploadScript: fileName must be a base name without directories');
  }
  const scriptName = requireText(input.scriptName, 'uploadScript: scriptName').trim();
  const scriptType = oneOf(input.scriptType, SCRIPT_TYPES, 'uploadScript: scriptType');
  if (!Array.isArray(input.osTypes) || input.osTypes.length === 0) {
    throw new InputValidationError('uploadScript: osTypes must name at least one OS');
  }
  const osTypes = [...new Set(input.osTypes.map((os) => oneOf(os, OS_TYPES, 'uploadScript: osTypes')))];
  const scopeLevel = oneOf(
    input.scopeLevel,
    ['site', 'account', 'global'] as const,
    'uploadScript: scopeLevel',
  );
  let scopeId: string | undefined;
  if (scopeLevel === 'global') {
    if (input.scopeId !== undefined) {
      throw new InputValidationError('uploadScript: scopeId must not be given for a global script');
    }
  } else {
    if (input.scopeId === undefined) {
      throw new InputValidationError(
        `uploadScript: scopeId (the ${scopeLevel} id) is required for ${scopeLevel} scope`,
      );
    }
    scopeId = requireId(input.scopeId, 'uploadScript: scopeId');
  }
  const runtime = optionalSeconds(input.runtimeTimeoutSeconds, 'uploadScript: runtimeTimeoutSeconds');

  const form = new FormData();
  form.append('scriptName', scriptName);
  form.append('scriptType', scriptType);
  form.append('osTypes', osTypes.join(','));
  form.append('inputRequired', input.inputRequired === true ? 'true' : 'false');
  form.append('scopeLevel', scopeLevel);
  if (scopeId !== undefined) form.append('scopeId', scopeId);
  if (runtime !== undefined) form.append('scriptRuntimeTimeoutSeconds', String(runtime));
  if (input.description !== undefined) form.append('scriptDescription', input.description);
  if (input.inputInstructions !== undefined) form.append('inputInstructions', input.inputInstructions);
  if (input.inputExample !== undefined) form.append('inputExample', input.inputExample);
  form.append('file', new Blob([input.content], { type: 'application/octet-stream' }), fileName);
  return form;
}

type FetchFilesData = z.infer<typeof fetchFilesDataSchema>;

function readFetchFiles(data: FetchFilesData, wanted: readonly string[]): FetchFilesResult {
  const nested = data.data ?? undefined;
  // Every known spelling is read; the first entry for a task wins.
  const rawLinks = [
    ...(data.download_links ?? []),
    ...(data.downloadLinks ?? []),
    ...(nested?.download_links ?? []),
    ...(nested?.downloadLinks ?? []),
  ];
  const rawErrors = [...(data.errors ?? []), ...(nested?.errors ?? [])];
  const requested = new Set(wanted);
  // A link without a task id can only be attributed when a single task was asked for.
  const soleTask = wanted.length === 1 ? wanted[0] : undefined;

  const links: ResultLink[] = [];
  const errors: ResultLinkError[] = [];
  const settled = new Set<string>();
  for (const link of rawLinks) {
    const taskId = link.taskId ?? soleTask;
    if (!taskId || !requested.has(taskId) || settled.has(taskId)) continue;
    settled.add(taskId);
    if (!link.downloadUrl) {
      errors.push({ taskId, errorString: 'S1 returned a link entry without a download URL' });
      continue;
    }
    links.push({ taskId, fileName: link.fileName || `${taskId}.zip`, downloadUrl: link.downloadUrl });
  }
  for (const error of rawErrors) {
    const taskId = error.taskId ?? soleTask;
    if (!taskId || !requested.has(taskId) || settled.has(taskId)) continue;
    settled.add(taskId);
    const text = error.errorString ?? error.error ?? error.message ?? 'S1 gave no reason';
    errors.push({ taskId, errorString: redact(text) });
  }
  for (const taskId of wanted) {
    if (!settled.has(taskId)) {
      errors.push({
        taskId,
        errorString: 'S1 returned no download link for this task (no result file, or it expired)',
      });
    }
  }
  return { links, errors };
}
