/**
 * The Cado platform simulator: a real HTTP server on 127.0.0.1 that speaks the v3 API subset this project
 * uses (see `reference/cado-api.md`), with pipelines that move over simulated time, release-dependent
 * request shapes, an optional real S3 existence check, fault injection and a request log.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { now as sharedNow } from '../../lambdas/shared/clock';
import {
  behaviourFor,
  type CadoBehaviour,
  type CadoBehaviourOptions,
  DEFAULT_PLATFORM_VERSION,
  type SystemHealth,
} from './behaviour';
import { FaultController, type FaultRequest, type FaultRule } from './faults';
import { errorBody, readBody, SimulatedApiError, sendJson } from './http';
import { type ApiKeyRecord, CadoState, type ProjectRecord } from './model';
import { type CadoRole, roleHas } from './roles';
import { type Route, routes } from './routes';
import { S3Checker } from './s3-check';
import { CadoWebhooks } from './webhooks';

/** An API key to register. */
export interface CadoKeyInit {
  /** The secret key clients send as `Authorization: Bearer <key>`. */
  readonly key: string;
  readonly role: CadoRole;
  /** Default true. */
  readonly eulaAgreed?: boolean;
}

/** Options of {@link startCadoSimulator}. */
export interface CadoSimulatorOptions {
  /** Simulated time source (epoch ms); default the shared clock's `now`, dilatable with `S1CADO_TIME_SCALE`. */
  readonly clock?: () => number;
  /** Port on 127.0.0.1; default 0 (any free port). */
  readonly port?: number;
  /** Platform release to claim; version-dependent behaviour follows it. Default `2.324.0`. */
  readonly platformVersion?: string;
  /** Behaviour overrides (file_name typing, legacy status, child pipelines, timing, outcomes, health). */
  readonly behaviour?: CadoBehaviourOptions;
  /**
   * When given, imports look the object up in S3 (HeadObject) with these client settings: a missing
   * object fails the pipeline and found sizes are recorded on the evidence.
   */
  readonly s3?: S3ClientConfig;
  /** Keys to register at start. */
  readonly keys?: readonly CadoKeyInit[];
}

/** One request as the simulator received it (test-only: the raw Authorization header is kept). */
export interface CadoRequestLogEntry {
  /** Simulated time the request arrived (epoch ms). */
  readonly at: number;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Query parameters; repeated names become arrays. */
  readonly query: Readonly<Record<string, string | string[]>>;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON body, or undefined. */
  readonly body: unknown;
  /** Status answered; 0 while in flight or when the connection was reset. */
  status: number;
  /** Message of an unexpected error inside the simulator (answered 500). */
  error?: string;
}

/** A running simulator. */
export interface CadoSimulator {
  /** Origin, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** API root: `${url}/api/v3`. */
  readonly apiUrl: string;
  readonly port: number;
  readonly platformVersion: string;
  /** Live switches; changes apply to requests from now on (and to pipelines created from now on). */
  readonly behaviour: CadoBehaviour;
  /** The model, brought up to the current simulated time on every access. */
  readonly state: CadoState;
  readonly faults: FaultController;
  /** Registered webhooks (`POST /api/v3/webhooks`) and what was sent to them. */
  readonly webhooks: CadoWebhooks;
  /** Every request received, oldest first. */
  readonly requests: readonly CadoRequestLogEntry[];
  clearRequests(): void;
  /** Registers an API key and returns its record. */
  addKey(init: CadoKeyInit): ApiKeyRecord;
  /** Makes a key answer 401 from now on. */
  revokeKey(key: string): void;
  /** Replaces a key with a new one for the same user (the old one answers 401); returns the new key. */
  rotateKey(oldKey: string, newKey?: string): string;
  /** Creates a project directly (as an Administrator would in the UI). */
  addProject(name: string, description?: string): ProjectRecord;
  /** Registers a cloud account name that imports may pass as `cloud_id`. */
  addCloudAccount(name: string): void;
  /**
   * Registers a SentinelOne XDR account (as `POST /api/v3/accounts` with `credential_data: {endpoint, token}`):
   * the XDR browse and import calls reach that console with that token. `publicIdentifier` is what the accounts
   * list reports (the spec does not say what it holds for S1); unset, the list reports none.
   */
  addXdrAccount(account: { name: string; endpoint: string; token: string; publicIdentifier?: string }): void;
  /** Changes what `GET /api/v3/system/status` reports (e.g. `{status: 'upgrading', is_installing: true}`). */
  setHealth(health: Partial<SystemHealth>): void;
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function queryObject(query: URLSearchParams): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const name of new Set(query.keys())) {
    const values = query.getAll(name);
    result[name] = values.length === 1 ? (values[0] as string) : values;
  }
  return result;
}

class Simulator implements CadoSimulator {
  readonly behaviour: CadoBehaviour;
  readonly faults: FaultController;
  readonly platformVersion: string;
  readonly webhooks: CadoWebhooks;
  private readonly model = new CadoState();
  private readonly log: CadoRequestLogEntry[] = [];
  private readonly server: Server;
  private readonly clock: () => number;
  private readonly s3: S3Checker | undefined;
  private boundPort = 0;
  private listening = false;

  constructor(private readonly options: CadoSimulatorOptions) {
    this.clock = options.clock ?? sharedNow;
    this.platformVersion = options.platformVersion ?? DEFAULT_PLATFORM_VERSION;
    this.behaviour = behaviourFor(this.platformVersion, options.behaviour);
    this.s3 = options.s3 ? new S3Checker(options.s3) : undefined;
    this.webhooks = new CadoWebhooks(() => this.state, this.clock);
    this.server = createServer((req, res) => {
      // handle() answers every error it can itself; this only covers a failure while writing the answer.
      this.handle(req, res).catch(() => {
        if (!res.headersSent) sendJson(res, 500, errorBody('internal_error', 'Internal server error'));
      });
    });
    this.faults = new FaultController({ stop: () => this.stopListening(), start: () => this.listen() });
    for (const key of options.keys ?? []) this.addKey(key);
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  get apiUrl(): string {
    return `${this.url}/api/v3`;
  }

  get state(): CadoState {
    this.model.sync(this.clock());
    return this.model;
  }

  get requests(): readonly CadoRequestLogEntry[] {
    return this.log;
  }

  clearRequests(): void {
    this.log.length = 0;
  }

  addKey(init: CadoKeyInit): ApiKeyRecord {
    if (this.model.keys.has(init.key)) throw new RangeError('That API key is already registered');
    return this.model.addKey(init.key, init.role, init.eulaAgreed ?? true);
  }

  revokeKey(key: string): void {
    const record = this.model.keys.get(key);
    if (record) record.revoked = true;
  }

  rotateKey(oldKey: string, newKey = `cado-sim-${randomBytes(16).toString('hex')}`): string {
    const record = this.model.keys.get(oldKey);
    if (!record) throw new RangeError('Unknown API key');
    this.model.keys.delete(oldKey);
    record.key = newKey;
    this.model.keys.set(newKey, record);
    return newKey;
  }

  addProject(name: string, description = ''): ProjectRecord {
    return this.model.createProject(name, description, 0, this.clock());
  }

  addCloudAccount(name: string): void {
    this.model.accounts.set(name, { name, type: 'aws' });
  }

  addXdrAccount(account: { name: string; endpoint: string; token: string; publicIdentifier?: string }): void {
    this.model.accounts.set(account.name, { ...account, type: 'sentinelone' });
  }

  setHealth(health: Partial<SystemHealth>): void {
    Object.assign(this.behaviour.health, health);
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.boundPort || this.options.port || 0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    this.listening = true;
  }

  private async stopListening(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  async close(): Promise<void> {
    await this.webhooks.close();
    await this.stopListening();
    this.s3?.destroy();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const headers = flatHeaders(req);
    let body: unknown;
    let bodyError: unknown;
    try {
      body = await readBody(req);
    } catch (error) {
      bodyError = error;
    }
    const entry: CadoRequestLogEntry = {
      at: this.clock(),
      method,
      path: url.pathname,
      query: queryObject(url.searchParams),
      headers,
      body,
      status: 0,
    };
    this.log.push(entry);
    const answer = (status: number, payload: unknown, extra?: Record<string, string>) => {
      entry.status = status;
      if (typeof payload === 'string') {
        res.writeHead(status, {
          'content-type': 'text/html',
          'content-length': Buffer.byteLength(payload),
          ...extra,
        });
        res.end(payload);
      } else {
        sendJson(res, status, payload, extra);
      }
    };

    if (this.faults.isDown) {
      answer(503, errorBody('service_unavailable', 'The platform is unavailable'));
      return;
    }
    const request: FaultRequest = { method, path: url.pathname, query: url.searchParams, headers, body };
    const fault = this.faults.take(request);
    if (fault && !fault.afterHandling && (await this.applyFault(fault, req, answer))) return;

    try {
      if (bodyError) throw bodyError;
      const response = await this.dispatch(method, url, headers, body);
      if (fault?.afterHandling && (await this.applyFault(fault, req, answer))) return;
      answer(response.status, response.body);
    } catch (error) {
      if (error instanceof SimulatedApiError) {
        answer(error.status, errorBody(error.code, error.message));
      } else {
        entry.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        answer(500, errorBody('internal_error', 'Internal server error'));
      }
    }
  }

  /** Acts on a fault; true when the request has been dealt with. */
  private async applyFault(
    fault: FaultRule,
    req: IncomingMessage,
    answer: (status: number, payload: unknown, extra?: Record<string, string>) => void,
  ): Promise<boolean> {
    if (fault.delayMs) await delay(fault.delayMs);
    if (fault.reset) {
      req.socket.destroy();
      return true;
    }
    if (fault.status === undefined) return false;
    const extra: Record<string, string> =
      fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) };
    answer(
      fault.status,
      fault.body ?? errorBody(`http_${fault.status}`, `Simulated fault (${fault.status})`),
      extra,
    );
    return true;
  }

  private async dispatch(
    method: string,
    url: URL,
    headers: Readonly<Record<string, string>>,
    body: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const candidates = routes
      .map((route) => ({ route, match: route.pattern.exec(url.pathname) }))
      .filter((c): c is { route: Route; match: RegExpExecArray } => c.match !== null);
    if (candidates.length === 0)
      throw new SimulatedApiError(404, 'not_found', 'The requested URL was not found');
    const found = candidates.find((c) => c.route.method === method);
    if (!found) throw new SimulatedApiError(405, 'method_not_allowed', 'Method not allowed');

    const key = this.authenticate(headers.authorization);
    const { route, match } = found;
    if (this.behaviour.enforceEula && !key.eulaAgreed && !route.allowWithoutEula) {
      throw new SimulatedApiError(
        403,
        'eula_not_agreed',
        'The user must accept the EULA before using the API',
      );
    }
    if (route.permission && !roleHas(key.role, route.permission)) {
      throw new SimulatedApiError(403, 'forbidden', `The ${key.role} role is not allowed to do this`);
    }
    const now = this.clock();
    this.model.sync(now);
    return route.handle({
      params: { ...match.groups },
      query: url.searchParams,
      body,
      key,
      now,
      state: this.model,
      behaviour: this.behaviour,
      platformVersion: this.platformVersion,
      ...(this.s3 ? { s3: this.s3 } : {}),
      webhooks: this.webhooks,
    });
  }

  private authenticate(header: string | undefined): ApiKeyRecord {
    const token = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (!token) throw new SimulatedApiError(401, 'unauthorized', 'Missing or malformed Authorization header');
    const key = this.model.keys.get(token);
    if (!key || key.revoked) throw new SimulatedApiError(401, 'unauthorized', 'Invalid API key');
    return key;
  }
}

/** Starts a Cado simulator on 127.0.0.1 and resolves once it listens. */
export async function startCadoSimulator(options: CadoSimulatorOptions = {}): Promise<CadoSimulator> {
  const simulator = new Simulator(options);
  await simulator.listen();
  return simulator;
}
