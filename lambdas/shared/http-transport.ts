/**
 * The transport under the S1/Cado client: one request over a keep-alive connection pool (the long bodies, the
 * result download and Verify's read-back, go through `http-receive.ts` instead, which reads them with fewer copies),
 * built on Node's own `http`/`https` (which the AWS SDK loads anyway), so a Lambda bundle carries no HTTP library
 * of its own (undici was about 540 KiB and 50 ms of init per bundle, its WebAssembly HTTP parser included).
 *
 * Every request is bounded: a connect timeout (TCP and TLS), and optionally a time to the response headers and an
 * idle time while the body flows; a caller's `AbortSignal` cuts it at any point. Redirects are never followed and
 * nothing here turns certificate verification off. Errors never carry the URL (presigned links hold signatures).
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';

/** A keep-alive connection pool (one per CA configuration); `close()` ends its connections. */
export interface Dispatcher {
  /** The Node agent for `https:` (`secure`) or `http:` URLs. */
  agent(secure: boolean): HttpAgent;
  /** How long a new connection may take to be established (TCP + TLS), in ms. */
  readonly connectTimeoutMs: number;
  /** Closes every connection of the pool. */
  close(): Promise<void>;
}

/** Options for {@link createDispatcher}. */
export interface DispatcherOptions {
  /** Time to establish TCP + TLS. @default 5000 */
  readonly connectTimeoutMs?: number;
  /** Extra CA certificate(s) to trust for this pool only, e.g. a self-signed Cado platform. */
  readonly ca?: string;
}

/** Idle connections are closed after this long (or sooner when the server's `Keep-Alive: timeout` says so). */
const IDLE_SOCKET_MS = 10_000;
/** Connections per host, as the undici pool had. */
const MAX_SOCKETS = 32;

class AgentPool implements Dispatcher {
  private readonly plain: HttpAgent;
  private readonly tls: HttpsAgent;

  constructor(
    readonly connectTimeoutMs: number,
    ca: string | undefined,
  ) {
    const common = {
      keepAlive: true,
      maxSockets: MAX_SOCKETS,
      timeout: IDLE_SOCKET_MS,
      scheduling: 'lifo' as const,
    };
    this.plain = new HttpAgent(common);
    // A custom CA replaces the default trust store for this pool only (as with any Node TLS `ca` option).
    this.tls = new HttpsAgent({ ...common, ...(ca ? { ca } : {}) });
  }

  agent(secure: boolean): HttpAgent {
    return secure ? this.tls : this.plain;
  }

  async close(): Promise<void> {
    this.plain.destroy();
    this.tls.destroy();
  }
}

/**
 * A keep-alive connection pool. A custom CA applies to this pool only; nothing here ever turns certificate
 * verification off.
 */
export function createDispatcher(options: DispatcherOptions = {}): Dispatcher {
  return new AgentPool(options.connectTimeoutMs ?? 5_000, options.ca);
}

let sharedDispatcher: Dispatcher | undefined;
/** The process-wide pool used when a caller brings none (kept across warm Lambda invocations). */
export function defaultDispatcher(): Dispatcher {
  sharedDispatcher ??= createDispatcher();
  return sharedDispatcher;
}

/** One request. */
export interface RequestInit {
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The whole body; its length is sent as `Content-Length`. */
  readonly body?: string | Uint8Array;
  /** @default {@link defaultDispatcher} */
  readonly dispatcher?: Dispatcher;
  readonly signal?: AbortSignal;
  /** Longest wait for the response headers once the request is under way, in ms. @default none */
  readonly headersTimeout?: number;
  /** Longest silence while the response body flows, in ms. @default none */
  readonly bodyTimeout?: number;
}

/** A response whose headers have arrived; consume or dump `body` so the connection returns to the pool. */
export interface ResponseData {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: ResponseBody;
}

/** A bound on a request that was exceeded; `code` tells which (all contain `TIMEOUT`). */
export class TransportTimeoutError extends Error {
  override readonly name = 'TransportTimeoutError';
  constructor(
    readonly code: 'ECONNECT_TIMEOUT' | 'EHEADERS_TIMEOUT' | 'EBODY_TIMEOUT',
    message: string,
  ) {
    super(message);
  }
}

/** How much of an unwanted body {@link ResponseBody.dump} reads before it closes the connection instead. */
const DUMP_LIMIT = 128 * 1024;

/**
 * A response body: iterate it for Buffers, or read it whole, or throw it away. With an idle limit, each wait for the
 * next chunk may last that long; time the consumer spends on a chunk (e.g. uploading it) does not count.
 */
export class ResponseBody implements AsyncIterable<Buffer> {
  constructor(
    private readonly message: IncomingMessage,
    private readonly idleMs?: number,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    const inner = this.message[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const idleMs = this.idleMs;
    if (idleMs === undefined) return inner;
    const message = this.message;
    // One timer for the whole body, not one per chunk (a setTimeout and clearTimeout for every 64 KiB chunk was a
    // measurable share of staging's CPU): each wait notes when it began; the timer, armed by the first wait after it
    // last fired, breaks the body off only if a wait in progress has lasted `idleMs`, and otherwise re-arms itself
    // for what is left of that wait (or not at all when the reader is busy with a chunk: the next wait arms it).
    let waitingSince: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      timer = undefined;
      if (waitingSince === undefined) return;
      const waited = performance.now() - waitingSince;
      if (waited >= idleMs) {
        message.destroy(new TransportTimeoutError('EBODY_TIMEOUT', `The body stalled for ${idleMs} ms`));
      } else {
        arm(idleMs - waited);
      }
    };
    const arm = (ms: number) => {
      timer = setTimeout(check, ms);
      // The socket keeps the process alive while a read is pending; the timer alone must not.
      timer.unref();
    };
    const disarm = () => {
      waitingSince = undefined;
      clearTimeout(timer);
      timer = undefined;
    };
    return {
      async next() {
        waitingSince = performance.now();
        if (timer === undefined) arm(idleMs);
        try {
          const result = await inner.next();
          if (result.done) disarm();
          return result;
        } catch (error) {
          disarm();
          throw error;
        } finally {
          waitingSince = undefined;
        }
      },
      async return(value?: unknown) {
        disarm();
        return (await inner.return?.(value)) ?? { done: true, value: undefined };
      },
    };
  }

  /** Stops reading and closes the connection (it does not go back to the pool). */
  destroy(error?: Error): void {
    this.message.destroy(error);
  }

  /** The whole body as UTF-8 text. */
  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Reads and discards a short body (keeping the connection), or closes the connection of a long one. */
  async dump(): Promise<void> {
    let read = 0;
    try {
      for await (const chunk of this) {
        read += chunk.length;
        if (read > DUMP_LIMIT) {
          this.message.destroy();
          return;
        }
      }
    } catch {
      // A body that breaks while being thrown away changes nothing.
    }
  }
}

/**
 * Sends one request and resolves once the response headers arrived. Rejects with the connection error (its `code`
 * is Node's, e.g. `ECONNREFUSED` or a certificate verdict), a {@link TransportTimeoutError}, or the signal's reason.
 */
export function request(url: string, init: RequestInit): Promise<ResponseData> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  if (!secure && target.protocol !== 'http:') {
    return Promise.reject(
      new TypeError(`Only http and https URLs can be requested (got ${target.protocol})`),
    );
  }
  const signal = init.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const pool = init.dispatcher ?? defaultDispatcher();
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));

  return new Promise<ResponseData>((resolve, reject) => {
    let settled = false;
    let response: IncomingMessage | undefined;
    let connectTimer: NodeJS.Timeout | undefined;
    let headersTimer: NodeJS.Timeout | undefined;
    const clearTimers = () => {
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
    };
    const fail = (error: unknown) => {
      clearTimers();
      const err = error instanceof Error ? error : new Error(String(error));
      if (response) response.destroy(err);
      else req.destroy(err);
      if (!settled) {
        settled = true;
        reject(error);
      }
    };
    const onAbort = () => fail(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const detach = () => signal?.removeEventListener('abort', onAbort);

    const req = (secure ? httpsRequest : httpRequest)(target, {
      method: init.method,
      headers,
      agent: pool.agent(secure),
    });
    req.once('socket', (socket: Socket) => {
      // A pooled connection is already up; a new one must be up (TLS included) within the connect timeout.
      if (!socket.connecting) return;
      connectTimer = connectDeadline(socket, secure, pool.connectTimeoutMs, fail);
    });
    headersTimer = headersDeadline(init.headersTimeout, fail);
    // `on`, not `once`: a destroyed request may report a second error (e.g. the hang-up after a timeout).
    req.on('error', (error) => {
      detach();
      fail(error);
    });
    req.once('response', (res) => {
      clearTimers();
      response = res;
      settled = true;
      res.once('close', detach);
      // The error stays on the stream (`errored`) for whoever reads the body; unread, it must not crash the process.
      res.on('error', () => undefined);
      resolve({
        statusCode: res.statusCode ?? 0,
        headers: res.headers,
        body: new ResponseBody(res, init.bodyTimeout),
      });
    });
    req.end(init.body);
  });
}

/**
 * Fails with `ECONNECT_TIMEOUT` unless `socket` is connected (the TLS handshake included) within `ms`; the timer
 * clears itself on connect. Shared by this transport and the low-copy receive (`http-receive.ts`).
 */
export function connectDeadline(
  socket: Socket,
  secure: boolean,
  ms: number,
  fail: (error: Error) => void,
): NodeJS.Timeout {
  const timer = setTimeout(
    () => fail(new TransportTimeoutError('ECONNECT_TIMEOUT', `Connecting took longer than ${ms} ms`)),
    ms,
  );
  socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
  return timer;
}

/** Fails with `EHEADERS_TIMEOUT` after `ms` unless cleared (the response head came); none when `ms` is undefined. */
export function headersDeadline(
  ms: number | undefined,
  fail: (error: Error) => void,
): NodeJS.Timeout | undefined {
  if (ms === undefined) return undefined;
  return setTimeout(
    () => fail(new TransportTimeoutError('EHEADERS_TIMEOUT', `No response headers within ${ms} ms`)),
    ms,
  );
}
