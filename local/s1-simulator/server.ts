/**
 * The SentinelOne Management API simulator: two node:http servers on 127.0.0.1 (the console API under
 * `/web/api/v2.1`, and a separate "cloud storage" origin for result downloads) around one typed state.
 * Start it with {@link startS1Simulator}; see `index.ts` for the public API.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { now } from '../../lambdas/shared/clock';
import type { RouteContext, SimConfig, SimRuntime } from './context';
import { FaultController, type FaultTarget } from './faults';
import { ApiError, authenticationFailed, insufficientPermissions, Query } from './http-util';
import {
  type AccountInput,
  type AgentInput,
  type RoleInput,
  type ScriptInput,
  SimState,
  SimulatorInputError,
  type SiteInput,
  type ThreatInput,
  type UserInput,
  type UserWithToken,
} from './model';
import { MultipartError, type MultipartForm, multipartBoundary, parseMultipart } from './multipart';
import type { Permission } from './permissions';
import { LinkSigner } from './presign';
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimitRule, type RateLimitStat } from './rate-limit';
import {
  headerObject,
  queryObject,
  RequestLog,
  type RequestLogEntry,
  summariseMultipart,
} from './request-log';
import { type PreparedResult, prepareResult } from './result-file';
import { Router } from './router';
import { approvePending } from './routes/executions';
import { createStorageHandler, RESULTS_PREFIX } from './storage';
import { completionTime, DEFAULT_TASK_TIMING, type TaskTiming, type TaskView, taskView } from './tasks';
import type {
  Account,
  Agent,
  AgentBehavior,
  ApiTokenRecord,
  ChildTask,
  Guardrail,
  Role,
  Script,
  Site,
  Threat,
} from './types';

/** Path prefix of the Management API. */
export const API_PREFIX = '/web/api/v2.1';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Options of {@link startS1Simulator}. */
export interface S1SimulatorOptions {
  /** Time source (epoch ms). Default: the shared clock (`now()`), dilated by `S1CADO_TIME_SCALE`. */
  clock?: () => number;
  /** API port (default 0: any free port). */
  port?: number;
  /** Storage port (default 0). */
  storagePort?: number;
  /** Seed of ids, uuids, tokens and generated result bytes (default "s1-simulator"). */
  seed?: string | number;
  /** Rate-limit rules, or false to disable limiting (default {@link DEFAULT_RATE_LIMITS}). */
  rateLimits?: readonly RateLimitRule[] | false;
  /** Retry-After on 429: `seconds` (default) or `none`. */
  retryAfter?: 'seconds' | 'none';
  /** Task timing defaults (merged over {@link DEFAULT_TASK_TIMING}). */
  taskTiming?: Partial<TaskTiming>;
  /** Other runtime switches (see {@link SimConfig}); all can be changed later through `sim.config`. */
  config?: Partial<Omit<SimConfig, 'taskTiming'>>;
  /** Most request-log entries kept (default 50 000; oldest dropped first). */
  requestLogLimit?: number;
}

/** A row of {@link S1Simulator.rateLimitStats}: the limiter's counters plus the token owner's name. */
export interface RateLimitReport extends RateLimitStat {
  readonly userName: string | null;
}

function parseAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (match?.[1]?.toLowerCase() !== 'apitoken') return undefined;
  return match[2];
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, 4130010, 'Request Entity Too Large', null));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: Server, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${address.port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * A running simulator. Build scenarios with the `add*` helpers (or `seedDemoTenant`), switch behaviour with
 * `config` and `faults`, and inspect `requests`, `state` and `rateLimitStats()`.
 */
export class S1Simulator {
  /** Console root, e.g. `http://127.0.0.1:41234` (what an S1 client is configured with). */
  readonly url: string;
  /** `url` + `/web/api/v2.1`. */
  readonly apiUrl: string;
  /** Origin of the result downloads (a different port, like a cloud storage host). */
  readonly storageUrl: string;
  /** The typed, mutable model. */
  readonly state: SimState;
  /** Runtime switches; change them at any time. */
  readonly config: SimConfig;
  /** Fault injection. */
  readonly faults: FaultController;
  /** The rate limiter (replace `rateLimiter.rules` to change limits). */
  readonly rateLimiter: RateLimiter;
  /** The simulator's time source. */
  readonly clock: () => number;

  private readonly log: RequestLog;
  private readonly router = new Router();
  private readonly signer: LinkSigner;
  private readonly resultPromises = new Map<string, Promise<PreparedResult>>();
  private readonly resultsBySha = new Map<string, PreparedResult>();
  private readonly runtime: SimRuntime;
  private readonly seed: string;
  private closed = false;

  /** @internal Use {@link startS1Simulator}. */
  constructor(
    private readonly servers: { api: Server; storage: Server },
    urls: { api: string; storage: string },
    options: S1SimulatorOptions,
  ) {
    this.clock = options.clock ?? now;
    this.seed = String(options.seed ?? 's1-simulator');
    this.url = urls.api;
    this.apiUrl = `${urls.api}${API_PREFIX}`;
    this.storageUrl = urls.storage;
    this.state = new SimState(this.seed, this.clock);
    this.config = {
      cursorEnd: null,
      fetchFilesKey: 'download_links',
      retryAfter: options.retryAfter ?? 'seconds',
      rateLimitsEnabled: options.rateLimits !== false,
      linkExpirySeconds: 3600,
      rsoPageName: 'Remote Script Orchestration',
      allowQueryToken: false,
      numbersAsStrings: false,
      ...options.config,
      taskTiming: { ...DEFAULT_TASK_TIMING, ...options.taskTiming },
    };
    this.faults = new FaultController();
    this.rateLimiter = new RateLimiter(options.rateLimits || DEFAULT_RATE_LIMITS, this.clock);
    this.log = new RequestLog(options.requestLogLimit ?? 50_000);
    this.signer = new LinkSigner(randomBytes(32), this.clock);
    this.runtime = {
      state: this.state,
      config: this.config,
      clock: this.clock,
      taskView: (task) => taskView(task, this.clock(), this.config.taskTiming),
      resultOf: (task) => this.prepare(task),
      downloadUrl: (result) =>
        this.signer.sign(
          this.storageUrl,
          `${RESULTS_PREFIX}${result.sha256}`,
          this.config.linkExpirySeconds,
          {
            'response-content-disposition': `filename=${result.fileName}`,
          },
        ),
    };
    servers.api.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handleApi(req, res).catch((error: unknown) => this.fail(res, error));
    });
    servers.storage.on(
      'request',
      createStorageHandler({
        clock: this.clock,
        faults: this.faults,
        signer: this.signer,
        log: this.log,
        lookup: (sha) => this.resultsBySha.get(sha),
      }),
    );
  }

  /** Every request on both hosts, oldest first (cleared in place by {@link clearRequests}). */
  get requests(): readonly RequestLogEntry[] {
    return this.log.entries;
  }

  /** Empties the request log. */
  clearRequests(): void {
    this.log.clear();
  }

  /** Creates an account. */
  addAccount(input?: AccountInput): Account {
    return this.state.addAccount(input);
  }

  /** Creates a site in an account (RSO-licensed unless `rso: false`). */
  addSite(input: SiteInput): Site {
    return this.state.addSite(input);
  }

  /** Creates an agent in a site. */
  addAgent(input: AgentInput): Agent {
    return this.state.addAgent(input);
  }

  /** Creates a threat on an agent. */
  addThreat(input: ThreatInput): Threat {
    return this.state.addThreat(input);
  }

  /** Adds a library script (default: a built-in SentinelOne script). */
  addScript(input: ScriptInput): Script {
    return this.state.addScript(input);
  }

  /** Creates a role. */
  addRole(input: RoleInput): Role {
    return this.state.addRole(input);
  }

  /** Creates a user with a role and an API token. */
  addUser(input: UserInput): UserWithToken {
    return this.state.addUser(input);
  }

  /** Issues another token for a user. */
  addToken(userId: string, options?: { token?: string; expiresAt?: number }): ApiTokenRecord {
    return this.state.addToken(userId, options);
  }

  /** Merges behaviour into an agent (applies to tasks created afterwards). */
  setAgentBehavior(agentId: string, behavior: AgentBehavior): Agent {
    const agent = this.state.requireAgent(agentId);
    agent.behavior = { ...agent.behavior, ...behavior };
    return agent;
  }

  /** Changes a site's approval guardrail. */
  setGuardrail(siteId: string, guardrail: Partial<Guardrail>): Site {
    const site = this.state.requireSite(siteId);
    site.guardrail = { ...site.guardrail, ...guardrail };
    return site;
  }

  private tokenRecord(token: string): ApiTokenRecord {
    const record = this.state.tokens.get(token);
    if (!record) throw new SimulatorInputError('unknown token');
    return record;
  }

  /**
   * Replaces a token: the old one answers 401 from now on, the new one (same user, same lifetime) works.
   * Returns the new token value.
   */
  rotateToken(oldToken: string, newToken?: string): string {
    const old = this.tokenRecord(oldToken);
    old.revoked = true;
    const lifetime = old.expiresAt - old.createdAt;
    return this.state.addToken(old.userId, { token: newToken, expiresAt: this.clock() + lifetime }).token;
  }

  /** Makes a token invalid (401). */
  revokeToken(token: string): void {
    this.tokenRecord(token).revoked = true;
  }

  /** Sets a token's expiry (default: now, so it is expired from the next request on). */
  expireToken(token: string, at = this.clock()): void {
    this.tokenRecord(token).expiresAt = at;
  }

  /** Adds permissions to a user's role. */
  grant(userId: string, ...permissions: Permission[]): void {
    const role = this.roleOfUser(userId);
    for (const permission of permissions) role.permissions.add(permission);
  }

  /** Removes permissions from a user's role (e.g. `Roles.view` to make `/rbac/role/{id}` answer 403). */
  revoke(userId: string, ...permissions: Permission[]): void {
    const role = this.roleOfUser(userId);
    for (const permission of permissions) role.permissions.delete(permission);
  }

  private roleOfUser(userId: string): Role {
    const user = this.state.users.get(userId);
    if (!user) throw new SimulatorInputError(`unknown user ${userId}`);
    return this.state.roleOf(user);
  }

  /** A task's state now (throws for unknown ids). */
  taskView(taskId: string): TaskView {
    const task = this.state.tasks.get(taskId);
    if (!task) throw new SimulatorInputError(`unknown task ${taskId}`);
    return this.runtime.taskView(task);
  }

  /** The child tasks of a parent task. */
  tasksOf(parentTaskId: string): ChildTask[] {
    return [...this.state.tasks.values()].filter((task) => task.parentTaskId === parentTaskId);
  }

  /** The result archive of a task (SHA-256, size, bytes); built on first use, whatever the task's state. */
  resultOf(taskId: string): Promise<PreparedResult> {
    const task = this.state.tasks.get(taskId);
    if (!task) return Promise.reject(new SimulatorInputError(`unknown task ${taskId}`));
    return this.prepare(task);
  }

  /** Approves a pending execution as if a reviewer did; returns the new parent task id. */
  approvePendingExecution(pendingExecutionId: string, reviewerUserId?: string): string {
    const pending = this.state.pendingExecutions.get(pendingExecutionId);
    if (!pending) throw new SimulatorInputError(`unknown pending execution ${pendingExecutionId}`);
    const reviewer = this.state.users.get(reviewerUserId ?? pending.creatorId);
    if (!reviewer) throw new SimulatorInputError('unknown reviewer');
    return approvePending(this.runtime, pending, reviewer).id;
  }

  /**
   * Rate-limit counters per token and rule (rule `*` = all of a token's requests), with the peak accepted
   * rate over `windowMs` of simulated time.
   */
  rateLimitStats(windowMs = 1000): RateLimitReport[] {
    const tokensById = new Map([...this.state.tokens.values()].map((record) => [record.id, record]));
    return this.rateLimiter.stats(windowMs).map((stat) => {
      const record = tokensById.get(stat.tokenId);
      const user = record ? this.state.users.get(record.userId) : undefined;
      return { ...stat, userName: user?.fullName ?? null };
    });
  }

  /** Stops both servers (open connections are closed). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([closeServer(this.servers.api), closeServer(this.servers.storage)]);
  }

  private prepare(task: ChildTask): Promise<PreparedResult> {
    let promise = this.resultPromises.get(task.id);
    if (!promise) {
      const spec = task.result;
      const resolved =
        'run' in spec
          ? spec.run({ taskId: task.id, inputParams: task.inputParams }).then((entries) => ({ entries }))
          : Promise.resolve(spec);
      promise = resolved
        .then((ready) => prepareResult(ready, { seed: this.seed, key: task.id }, completionTime(task)))
        .then((result) => {
          this.resultsBySha.set(result.sha256, result);
          return result;
        });
      promise.catch(() => this.resultPromises.delete(task.id));
      this.resultPromises.set(task.id, promise);
    }
    return promise;
  }

  private send(
    res: ServerResponse,
    entry: RequestLogEntry,
    status: number,
    body: unknown,
    headers = {},
  ): void {
    const text = JSON.stringify(body);
    entry.status = status;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'X-RQID': randomUUID(),
      ...headers,
    });
    res.end(text);
  }

  private fail(res: ServerResponse, error: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = { errors: [{ code: 5000010, title: 'Server Error', detail: String(error) }] };
    res.writeHead(500, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handleApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://api.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const route = url.pathname.startsWith(API_PREFIX)
      ? url.pathname.slice(API_PREFIX.length) || '/'
      : url.pathname;
    const entry = this.log.add({
      at: this.clock(),
      host: 'api',
      method,
      path: url.pathname,
      route,
      query: queryObject(url.searchParams),
      headers: headerObject(req.headers),
      body: undefined,
      status: null,
    });
    try {
      const raw = await readBody(req);
      const { body, form } = this.parseBody(req, raw, entry);
      const headerToken = parseAuthorization(req.headers.authorization);
      const queryToken = this.config.allowQueryToken
        ? (url.searchParams.get('APIToken') ?? undefined)
        : undefined;
      const tokenValue = headerToken ?? queryToken;
      const target: FaultTarget = { host: 'api', method, path: url.pathname, route, token: tokenValue };
      const delay = this.faults.takeAll(target, 'delay').reduce((sum, action) => sum + action.ms, 0);
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      const statusFault = this.faults.takeFirst(target, ['status']);
      if (statusFault?.type === 'status') {
        const headers =
          statusFault.retryAfter !== undefined ? { 'Retry-After': String(statusFault.retryAfter) } : {};
        this.send(
          res,
          entry,
          statusFault.status,
          statusFault.body ?? injectedError(statusFault.status),
          headers,
        );
        return;
      }
      if (!url.pathname.startsWith(`${API_PREFIX}/`))
        throw new ApiError(404, 4100010, 'Resource not found', null);
      const match = this.router.match(method, route);
      if (match.kind === 'not-found') throw new ApiError(404, 4100010, 'Resource not found', null);
      if (match.kind === 'method-not-allowed') throw new ApiError(405, 4050010, 'Method Not Allowed', null);
      // Routes without auth ignore the header entirely, so a stale token cannot break a health probe.
      const token = match.route.auth === false ? undefined : this.authenticate(tokenValue);
      const user = token ? this.state.users.get(token.userId) : undefined;
      if (this.config.rateLimitsEnabled) {
        const key = token?.id ?? `ip:${req.socket.remoteAddress ?? 'unknown'}`;
        const decision = this.rateLimiter.take(key, route);
        if (!decision.allowed) {
          const headers: Record<string, string> =
            this.config.retryAfter === 'seconds' ? { 'Retry-After': String(decision.retryAfterSeconds) } : {};
          throw new ApiError(429, 4290010, 'Too Many Requests', 'API rate limit exceeded', headers);
        }
      }
      const role = user ? this.state.roleOf(user) : undefined;
      const hasPermission = (permission: Permission) => role?.permissions.has(permission) ?? false;
      const requirePermission = (...permissions: Permission[]) => {
        const missing = permissions.filter((permission) => !hasPermission(permission));
        if (missing.length) throw insufficientPermissions(`Missing permissions: ${missing.join(', ')}`);
      };
      requirePermission(...(match.route.permissions ?? []));
      const ctx: RouteContext = {
        sim: this.runtime,
        method,
        route,
        params: match.params,
        query: new Query(url.searchParams),
        body,
        form,
        user,
        token,
        requireUser: () => {
          if (!user) throw authenticationFailed();
          return user;
        },
        requirePermission,
        hasPermission,
      };
      const result = await match.route.handle(ctx);
      const lostAnswer = this.faults.takeFirst(target, ['statusAfter']);
      if (lostAnswer?.type === 'statusAfter') {
        this.send(res, entry, lostAnswer.status, injectedError(lostAnswer.status));
        return;
      }
      this.send(res, entry, 200, result);
    } catch (error) {
      if (error instanceof ApiError) {
        this.send(res, entry, error.status, error.body(), error.headers);
      } else if (error instanceof MultipartError) {
        this.send(res, entry, 400, {
          errors: [{ code: 4000010, title: 'Validation Error', detail: error.message }],
        });
      } else {
        this.send(res, entry, 500, {
          errors: [{ code: 5000010, title: 'Server Error', detail: String(error) }],
        });
      }
    }
  }

  private authenticate(token: string | undefined): ApiTokenRecord {
    const record = token ? this.state.tokens.get(token) : undefined;
    if (
      !record ||
      record.revoked ||
      record.expiresAt <= this.clock() ||
      !this.state.users.has(record.userId)
    ) {
      throw authenticationFailed();
    }
    return record;
  }

  private parseBody(
    req: IncomingMessage,
    raw: Buffer,
    entry: RequestLogEntry,
  ): { body: unknown; form: MultipartForm | undefined } {
    if (raw.length === 0) return { body: undefined, form: undefined };
    const contentType = req.headers['content-type'];
    const boundary = multipartBoundary(contentType);
    if (boundary) {
      const form = parseMultipart(raw, boundary);
      entry.body = summariseMultipart(form);
      return { body: undefined, form };
    }
    const text = raw.toString('utf8');
    try {
      const body: unknown = JSON.parse(text);
      entry.body = body;
      return { body, form: undefined };
    } catch {
      entry.body = text;
      throw new ApiError(400, 4000010, 'Validation Error', 'Request body is not valid JSON');
    }
  }
}

const INJECTED_TITLES: Record<number, string> = {
  429: 'Too Many Requests',
  500: 'Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function injectedError(status: number): unknown {
  return {
    errors: [
      { code: status * 10000 + 10, title: INJECTED_TITLES[status] ?? 'Error', detail: 'Injected fault' },
    ],
  };
}

/** Starts the API and storage servers on 127.0.0.1 and returns the simulator (empty until seeded). */
export async function startS1Simulator(options: S1SimulatorOptions = {}): Promise<S1Simulator> {
  const api = createServer();
  const storage = createServer();
  try {
    const [apiUrl, storageUrl] = await Promise.all([
      listen(api, options.port ?? 0),
      listen(storage, options.storagePort ?? 0),
    ]);
    return new S1Simulator({ api, storage }, { api: apiUrl, storage: storageUrl }, options);
  } catch (error) {
    await Promise.all([closeServer(api), closeServer(storage)]).catch(() => undefined);
    throw error;
  }
}
