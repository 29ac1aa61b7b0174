/**
 * A GET whose body is read straight into memory the caller owns: the staging hot path (the S1 result download)
 * without Node's HTTP client. Node's client hands every socket read over as a freshly allocated Buffer, pushed
 * through an `IncomingMessage` stream and an async iterator; for a download of hundreds of MiB those allocations,
 * their garbage collection and the stream machinery cost several times the bytes' own copy (issue 14: about 440 to
 * 500 ms of CPU per 256 MiB received, against 70 to 100 ms read this way). Here the socket is opened with Node's
 * `onread` option: each read lands in a buffer the caller hands out (e.g. the free tail of a part buffer of the
 * upload, so the bytes are never copied in userland) or in one reused scratch buffer, and the caller sees each read
 * as a view, synchronously.
 *
 * What it does not do, on purpose: one request per connection (`Connection: close`, no pool; a download is one long
 * GET), GET only, no redirects, no proxies, no compression. It keeps the bounds of `http-transport.ts`: a connect
 * timeout (TCP and TLS), a time to the response headers, an idle time while the body flows (time the consumer
 * spends on a chunk does not count), and the caller's `AbortSignal`. Certificate verification stays on (Node's
 * defaults, with the dispatcher's CA where it has one). Errors never carry the URL.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  connectDeadline,
  type Dispatcher,
  defaultDispatcher,
  headersDeadline,
  TransportTimeoutError,
} from './http-transport';

/** Options for {@link receive}. */
export interface ReceiveInit {
  readonly headers?: Readonly<Record<string, string>>;
  /** Its connect timeout and CA are used (its pool is not: each request has a connection of its own). */
  readonly dispatcher?: Dispatcher;
  readonly signal?: AbortSignal;
  /** Longest wait for the response headers once the request is under way, in ms. @default none */
  readonly headersTimeout?: number;
  /** Longest silence while the body flows, in ms (time spent by the sink does not count). @default none */
  readonly bodyTimeout?: number;
}

/**
 * Where the body goes. `write` gets every byte of the body in order, as views that are valid only until it returns,
 * or, when it returns a promise, until that settles (reading pauses meanwhile).
 */
export interface BodySink {
  /**
   * Memory the next read may land in (at least one byte), e.g. the free tail of the buffer `write` copies into;
   * undefined for the reader's own scratch buffer. When a read lands there, `write` gets a view of that very
   * memory, so a sink that notices can take the bytes without copying them. It is asked after every read, also
   * when that read's `write` returned a promise that has not settled yet.
   */
  region?(): Uint8Array | undefined;
  write(chunk: Buffer): Promise<void> | undefined;
}

/** The body ended before it was complete (the connection closed, or the chunked framing was cut off). */
export class BodyCutShortError extends Error {
  override readonly name = 'BodyCutShortError';
  readonly code = 'ECONNRESET';
}

/** The server's answer is not HTTP/1.1 this reader accepts (malformed status line, headers or framing). */
export class HttpProtocolError extends Error {
  override readonly name = 'HttpProtocolError';
  readonly code = 'EPROTO';
}

/** Largest response head (status line and headers) accepted. */
const MAX_HEAD_BYTES = 64 * 1024;
/** The scratch buffer reads land in when the sink offers no memory of its own (e.g. while the headers arrive). */
export const SCRATCH_BYTES = 256 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A response whose head has arrived; read the body with `pipeTo`, `text`, or throw it away with `destroy`. */
export interface ReceivedResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: ReceivedBody;
}

/** How the body ends. */
type Framing =
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' }
  | { readonly kind: 'none' };

/** Decodes `Transfer-Encoding: chunked` across reads, handing out the data as views of the input. */
class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  private left = 0;
  /** A size or trailer line split across reads. */
  private line = '';

  get done(): boolean {
    return this.state === 'done';
  }

  /** Feeds one read; `emit` gets the data in it. Returns the offset where the body ended (or `input.length`). */
  feed(input: Buffer, emit: (data: Buffer) => void): number {
    let at = 0;
    while (at < input.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, input.length - at);
        emit(input.subarray(at, at + n));
        at += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-end';
        continue;
      }
      const eol = input.indexOf(0x0a, at);
      const end = eol < 0 ? input.length : eol + 1;
      this.line += input.toString('latin1', at, end);
      at = end;
      if (this.line.length > 4096) throw new HttpProtocolError('A chunk size or trailer line is too long');
      if (eol < 0) break;
      const line = this.line.replace(/\r?\n$/, '');
      this.line = '';
      if (this.state === 'data-end') {
        if (line !== '') throw new HttpProtocolError('A chunk is longer than its size says');
        this.state = 'size';
      } else if (this.state === 'size') {
        const match = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
        if (!match?.[1]) throw new HttpProtocolError('Malformed chunk size');
        this.left = Number.parseInt(match[1], 16);
        this.state = this.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.state = 'done';
      }
    }
    return at;
  }
}

/**
 * The body of a {@link ReceivedResponse}. One of `pipeTo`, `text` or `destroy` is called once; the connection is
 * closed when the body ends (or breaks).
 */
export class ReceivedBody {
  private sink: BodySink | undefined;
  private finish: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  private received = 0;
  private readonly chunked: ChunkedDecoder | undefined;
  /** The body is complete, or failed: nothing more goes to the sink. */
  private ended = false;
  /** The sink's last write, while it has not settled (the body never settles before it). */
  private busy: Promise<void> | undefined;
  /** The sink's `write` is running (synchronously). */
  private delivering = false;
  /** How the body failed while `write` was running; it settles once that write is done. */
  private deferred: { error: unknown } | undefined;
  /** How the connection ended before the body was read (EOF or an error), if it did. */
  private closedEarly: { error: unknown } | undefined;

  /** @internal Built by {@link receive}. */
  constructor(
    private readonly connection: Connection,
    private readonly framing: Framing,
    /** Body bytes that came with the head (owned, not in a reused buffer). */
    private readonly early: Buffer,
  ) {
    this.chunked = framing.kind === 'chunked' ? new ChunkedDecoder() : undefined;
  }

  /** Reads the whole body into `sink`; resolves once it is complete, rejects if it breaks or stalls. */
  pipeTo(sink: BodySink): Promise<void> {
    if (this.sink) return Promise.reject(new Error('The body is already being read'));
    this.sink = sink;
    return new Promise<void>((resolve, reject) => {
      this.finish = { resolve, reject };
      if (!this.onRead(this.early) || this.ended) return;
      if (this.closedEarly) this.onClose(this.closedEarly.error);
      else this.connection.resume();
    });
  }

  /** The whole body as UTF-8 text, or undefined when it is longer than `limit` bytes (it is then not read). */
  async text(limit = 64 * 1024): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLong = new RangeError('too long');
    try {
      await this.pipeTo({
        write: (chunk) => {
          size += chunk.length;
          if (size > limit) throw tooLong;
          chunks.push(Buffer.from(chunk));
          return undefined;
        },
      });
    } catch (error) {
      if (error === tooLong) return undefined;
      throw error;
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Stops reading and closes the connection. */
  destroy(error?: Error): void {
    this.connection.destroy(error);
  }

  /**
   * @internal Where the next read lands: the sink's memory while the body flows, else the scratch buffer. Asked
   * also while the sink's write is pending (the read comes once it is done): a sink whose memory is in use then
   * answers undefined.
   */
  region(): Uint8Array | undefined {
    return this.ended || this.chunked !== undefined ? undefined : this.sink?.region?.();
  }

  /**
   * @internal One read of body bytes (a view valid during this call). Returns false when reading must pause: the
   * sink is busy with it (reading resumes once it is done), or the body ended.
   */
  onRead(view: Buffer): boolean {
    if (this.ended) return false;
    let pending: Promise<void> | undefined;
    this.delivering = true;
    try {
      pending = this.deliver(view);
    } catch (error) {
      this.delivering = false;
      this.deferred = undefined;
      this.ended = false;
      this.settle(error);
      return false;
    }
    this.delivering = false;
    const deferred = this.deferred;
    if (deferred) {
      // The body failed (e.g. an abort) while the sink was taking this read: it settles once the sink is done.
      this.deferred = undefined;
      if (pending)
        pending.then(
          () => this.resolveOrReject(deferred.error),
          () => this.resolveOrReject(deferred.error),
        );
      else this.resolveOrReject(deferred.error);
      return false;
    }
    if (this.ended) return false;
    if (!pending) return true;
    this.busy = pending;
    this.connection.pause();
    pending.then(
      () => {
        this.busy = undefined;
        if (!this.ended) this.connection.resume();
      },
      (error: unknown) => {
        this.busy = undefined;
        this.settle(error);
      },
    );
    return false;
  }

  /** @internal The connection ended: `undefined` for a clean EOF, else its error. */
  onClose(error: unknown): void {
    if (this.ended) return;
    if (!this.finish) {
      this.closedEarly ??= { error };
      return;
    }
    if (error === undefined && this.framing.kind === 'close') {
      this.settle(undefined);
      return;
    }
    this.settle(
      error ??
        new BodyCutShortError(
          this.framing.kind === 'length'
            ? `The connection closed ${this.framing.length - this.received} bytes short of the body`
            : 'The connection closed before the last chunk of the body',
        ),
    );
  }

  /** Hands the body bytes in `input` to the sink; may end the body. */
  private deliver(input: Buffer): Promise<void> | undefined {
    const sink = this.sink as BodySink;
    const framing = this.framing;
    if (framing.kind === 'none' || (framing.kind === 'length' && framing.length === 0)) {
      this.end(undefined);
      return undefined;
    }
    if (input.length === 0) return undefined;
    if (this.chunked) {
      const decoder = this.chunked;
      const pieces: Buffer[] = [];
      decoder.feed(input, (data) => pieces.push(data));
      let pending: Promise<void> | undefined;
      for (const piece of pieces) {
        this.received += piece.length;
        pending = pending ? pending.then(() => sink.write(piece)) : sink.write(piece);
      }
      if (decoder.done) this.end(pending);
      return pending;
    }
    let view = input;
    if (framing.kind === 'length') {
      // Bytes after the body are not ours (the connection closes: `Connection: close`).
      const left = framing.length - this.received;
      if (view.length > left) view = view.subarray(0, left);
    }
    this.received += view.length;
    const pending = sink.write(view);
    if (framing.kind === 'length' && this.received === framing.length) this.end(pending);
    return pending;
  }

  /** The body is complete once `pending` (the sink's last write) settles. */
  private end(pending: Promise<void> | undefined): void {
    this.ended = true;
    this.connection.destroy();
    if (!pending) this.resolveOrReject(undefined);
    else
      pending.then(
        () => this.resolveOrReject(undefined),
        (error: unknown) => this.resolveOrReject(error),
      );
  }

  /** Fails or ends the body; never before the sink's write in progress has settled. */
  private settle(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.connection.destroy();
    if (this.delivering) {
      this.deferred = { error };
      return;
    }
    const busy = this.busy;
    if (busy)
      busy.then(
        () => this.resolveOrReject(error),
        () => this.resolveOrReject(error),
      );
    else this.resolveOrReject(error);
  }

  private resolveOrReject(error: unknown): void {
    const finish = this.finish;
    this.finish = undefined;
    if (!finish) return;
    if (error === undefined) finish.resolve();
    else finish.reject(error);
  }
}

/** The socket, its scratch buffer and its idle clock; reads go to the head parser, then to the body. */
class Connection {
  private socket: Socket | undefined;
  private body: ReceivedBody | undefined;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private waitingSince: number | undefined;
  /** Reads of the response head; false pauses the socket. */
  onHead: ((view: Buffer) => boolean) | undefined;
  /** The connection closed before a body took over (EOF or error). */
  onFailure: ((error: unknown) => void) | undefined;
  /** The connection closed, whatever the reason. */
  onClosed: (() => void) | undefined;

  constructor(private readonly idleMs: number | undefined) {}

  attach(socket: Socket): void {
    this.socket = socket;
  }

  /** The next read's memory. */
  nextBuffer(): Uint8Array {
    const region = this.body?.region();
    return region && region.length > 0 ? region : this.scratch;
  }

  /** One read of `n` bytes into `buffer`; false pauses the socket. */
  onRead(n: number, buffer: Uint8Array): boolean {
    if (this.closed) return false;
    const view = Buffer.from(buffer.buffer, buffer.byteOffset, n);
    if (!this.body) return this.onHead?.(view) ?? false;
    this.waitingSince = undefined;
    const more = this.body.onRead(view);
    if (more) this.startWaiting();
    return more;
  }

  startBody(body: ReceivedBody): void {
    this.body = body;
  }

  /** Stops reading (the idle clock stops with it). */
  pause(): void {
    this.waitingSince = undefined;
    this.socket?.pause();
  }

  resume(): void {
    if (this.closed) return;
    this.startWaiting();
    this.socket?.resume();
  }

  /**
   * One timer for the whole body (as in `http-transport.ts`): each wait notes when it began; the timer breaks the
   * body off only if a wait in progress has lasted `idleMs`, and otherwise re-arms itself for what is left.
   */
  private startWaiting(): void {
    const idleMs = this.idleMs;
    if (idleMs === undefined || this.closed) return;
    this.waitingSince = performance.now();
    if (this.idleTimer !== undefined) return;
    const arm = (ms: number) => {
      this.idleTimer = setTimeout(check, ms);
      this.idleTimer.unref();
    };
    const check = () => {
      this.idleTimer = undefined;
      if (this.waitingSince === undefined || this.closed) return;
      const waited = performance.now() - this.waitingSince;
      if (waited >= idleMs)
        this.close(new TransportTimeoutError('EBODY_TIMEOUT', `The body stalled for ${idleMs} ms`));
      else arm(idleMs - waited);
    };
    arm(idleMs);
  }

  /** The connection is over: `undefined` for a clean EOF, else why. Tells whoever reads it. */
  close(error: unknown): void {
    if (this.closed) return;
    this.shut();
    if (this.body) this.body.onClose(error);
    else this.onFailure?.(error ?? new BodyCutShortError('The connection closed before the response head'));
  }

  /** Closes the socket; with an error, the reader learns of it as of a broken connection. */
  destroy(error?: Error): void {
    if (error) this.close(error);
    else if (!this.closed) this.shut();
  }

  private shut(): void {
    this.closed = true;
    this.waitingSince = undefined;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.socket?.destroy();
    this.onClosed?.();
  }
}

interface Head {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
}

/** Parses the status line and header fields (`text` without the blank line). */
function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!status?.[1]) throw new HttpProtocolError('Malformed status line');
  const headers: IncomingHttpHeaders = {};
  const all = headers as Record<string, string | string[]>;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (colon <= 0 || !TOKEN.test(name) || !FIELD_VALUE.test(value))
      throw new HttpProtocolError('Malformed header field');
    const previous = all[name];
    if (name === 'set-cookie') all[name] = [...((previous as string[] | undefined) ?? []), value];
    else all[name] = previous === undefined ? value : `${previous as string}, ${value}`;
  }
  return { statusCode: Number(status[1]), headers };
}

function framingOf(head: Head): Framing {
  const { statusCode, headers } = head;
  if (statusCode === 204 || statusCode === 304) return { kind: 'none' };
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    if (te.trim().toLowerCase() !== 'chunked')
      throw new HttpProtocolError(`Transfer-Encoding ${te} is not supported`);
    return { kind: 'chunked' };
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const values = new Set(cl.split(',').map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only))
      throw new HttpProtocolError('Malformed Content-Length');
    return { kind: 'length', length: Number(only) };
  }
  return { kind: 'close' };
}

/**
 * Sends one GET on a connection of its own and resolves once the response head arrived; the body waits (the socket
 * is paused) until it is read. Rejects with the connection error (Node's `code`, e.g. `ECONNREFUSED` or a
 * certificate verdict), a {@link TransportTimeoutError}, an {@link HttpProtocolError}, or the signal's reason.
 */
export function receive(url: string, init: ReceiveInit = {}): Promise<ReceivedResponse> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  if (!secure && target.protocol !== 'http:')
    return Promise.reject(
      new TypeError(`Only http and https URLs can be requested (got ${target.protocol})`),
    );
  const signal = init.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const pool = init.dispatcher ?? defaultDispatcher();
  const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`];
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    if (!TOKEN.test(name) || /[\r\n\0]/.test(value))
      return Promise.reject(new TypeError(`Invalid header ${name}`));
    if (/^(host|connection|content-length|transfer-encoding)$/i.test(name)) continue;
    lines.push(`${name}: ${value}`);
  }
  lines.push('Connection: close', '', '');
  const requestHead = lines.join('\r\n');
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.port) || (secure ? 443 : 80);

  return new Promise<ReceivedResponse>((resolve, reject) => {
    const connection = new Connection(init.bodyTimeout);
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let headersTimer: NodeJS.Timeout | undefined;
    const clearTimers = () => {
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
    };
    const onAbort = () => connection.close(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    connection.onClosed = () => {
      clearTimers();
      signal?.removeEventListener('abort', onAbort);
    };
    connection.onFailure = (error) => {
      if (!settled) {
        settled = true;
        reject(error);
      }
    };

    let head = Buffer.alloc(0);
    connection.onHead = (view) => {
      try {
        head = Buffer.concat([head, view]);
        for (;;) {
          const end = head.indexOf(HEAD_END);
          if (end < 0) {
            if (head.length > MAX_HEAD_BYTES) throw new HttpProtocolError('The response head is too large');
            return true;
          }
          const parsed = parseHead(head.toString('latin1', 0, end));
          const rest = head.subarray(end + HEAD_END.length);
          // Interim answers (100 Continue, 103 Early Hints) come before the real one.
          if (parsed.statusCode >= 100 && parsed.statusCode < 200 && parsed.statusCode !== 101) {
            head = rest;
            continue;
          }
          const body = new ReceivedBody(connection, framingOf(parsed), rest);
          clearTimers();
          connection.startBody(body);
          connection.pause();
          settled = true;
          resolve({ statusCode: parsed.statusCode, headers: parsed.headers, body });
          return false;
        }
      } catch (error) {
        connection.close(error);
        return false;
      }
    };

    const options = {
      host,
      port,
      onread: {
        buffer: () => connection.nextBuffer(),
        callback: (n: number, buffer: Uint8Array) => connection.onRead(n, buffer),
      },
    };
    const socket: Socket = secure
      ? tlsConnect({
          ...options,
          ...(isIP(host) ? {} : { servername: host }),
          // The pool's own CA (e.g. a self-signed Cado platform), as `http-transport.ts` would use it.
          ...tlsOptionsOf(pool),
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect(options);
    connection.attach(socket);
    socket.on('error', (error) => connection.close(error));
    socket.on('end', () => connection.close(undefined));
    socket.on('close', () => connection.close(undefined));
    const fail = (error: Error) => connection.close(error);
    connectTimer = connectDeadline(socket, secure, pool.connectTimeoutMs, fail);
    headersTimer = headersDeadline(init.headersTimeout, fail);
    socket.write(requestHead);
  });
}

/** The CA the dispatcher's TLS agent trusts, if it was given one. */
function tlsOptionsOf(pool: Dispatcher): { ca?: string | Buffer | (string | Buffer)[] } {
  const ca = (pool.agent(true) as HttpsAgent).options?.ca;
  return ca ? { ca } : {};
}
