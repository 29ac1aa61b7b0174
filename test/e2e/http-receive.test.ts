import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BodyCutShortError,
  type BodySink,
  HttpProtocolError,
  receive,
  SCRATCH_BYTES,
} from '../../lambdas/shared/http-receive';
import { createDispatcher, TransportTimeoutError } from '../../lambdas/shared/http-transport';

/**
 * The low-copy GET of the result download against a raw TCP server, so that every byte on the wire is the test's
 * own: reads of any size, the head split anywhere, chunked framing split anywhere, resets and stalls mid-body.
 */
type Serve = (socket: Socket, request: string) => void;

let server: Server;
let base: string;
let serve: Serve;
const requests: string[] = [];
const sockets = new Set<Socket>();
const pool = createDispatcher({ connectTimeoutMs: 500 });

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (data: Buffer) => {
      head += data.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      requests.push(head.slice(0, end));
      serve(socket, head.slice(0, end));
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await pool.close();
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

/** Writes `pieces` one by one, each in a write (and a TCP segment) of its own. */
async function trickle(socket: Socket, pieces: readonly Buffer[], then?: 'end' | 'reset'): Promise<void> {
  socket.setNoDelay(true);
  for (const piece of pieces) {
    socket.write(piece);
    await delay(1);
  }
  if (then === 'end') socket.end();
  if (then === 'reset') socket.resetAndDestroy();
}

/** `bytes` cut into pieces of 1 to `max` bytes (the same cut every run). */
function cut(bytes: Buffer, max: number): Buffer[] {
  const pieces: Buffer[] = [];
  let at = 0;
  let n = 1;
  while (at < bytes.length) {
    pieces.push(bytes.subarray(at, at + n));
    at += n;
    n = (n * 7 + 3) % max || 1;
  }
  return pieces;
}

function head(status: string, fields: Record<string, string>): Buffer {
  const lines = [`HTTP/1.1 ${status}`, ...Object.entries(fields).map(([k, v]) => `${k}: ${v}`), '', ''];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

function chunked(body: Buffer, sizes: readonly number[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  let i = 0;
  while (at < body.length) {
    const n = Math.min(sizes[i++ % sizes.length] as number, body.length - at);
    parts.push(
      Buffer.from(`${n.toString(16)}${i % 2 ? ';ext=1' : ''}\r\n`),
      body.subarray(at, at + n),
      Buffer.from('\r\n'),
    );
    at += n;
  }
  parts.push(Buffer.from('0\r\nx-trailer: yes\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A sink that copies what it gets, and notes whether each view lay in the memory it offered. */
function collector(offer?: Buffer) {
  const chunks: Buffer[] = [];
  let inPlace = 0;
  let copied = 0;
  let filled = 0;
  const sink: BodySink = {
    region: offer ? () => offer.subarray(filled) : undefined,
    write: (chunk) => {
      if (offer && chunk.buffer === offer.buffer && chunk.byteOffset === offer.byteOffset + filled) inPlace++;
      else copied++;
      if (offer) {
        chunk.copy(offer, filled);
        filled += chunk.length;
      }
      chunks.push(Buffer.from(chunk));
      return undefined;
    },
  };
  return {
    sink,
    bytes: () => Buffer.concat(chunks),
    get inPlace() {
      return inPlace;
    },
    get copied() {
      return copied;
    },
  };
}

describe('receive: framing', () => {
  it('reads a Content-Length body that arrives in reads of a few bytes, the head split anywhere', async () => {
    const body = randomBytes(5000);
    serve = (socket) =>
      void trickle(socket, cut(Buffer.concat([head('200 OK', { 'Content-Length': '5000' }), body]), 13));
    const response = await receive(`${base}/file?sig=1`, { dispatcher: pool });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-length']).toBe('5000');
    const got = collector();
    await response.body.pipeTo(got.sink);
    expect(got.bytes().equals(body)).toBe(true);
    expect(requests.at(-1)).toMatch(/^GET \/file\?sig=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    expect(requests.at(-1)).toContain('Connection: close');
  });

  it('lands the reads after the head in the memory the sink offers, and hands over the bytes the head brought', async () => {
    const body = randomBytes(3 * SCRATCH_BYTES);
    // The head and the first 100 bytes in one segment; the rest in segments of its own.
    serve = (socket) =>
      void trickle(socket, [
        Buffer.concat([head('200 OK', { 'Content-Length': String(body.length) }), body.subarray(0, 100)]),
        ...cut(body.subarray(100), 70_000).filter((p) => p.length > 0),
      ]);
    const response = await receive(`${base}/in-place`, { dispatcher: pool });
    const offer = Buffer.alloc(body.length);
    const got = collector(offer);
    await response.body.pipeTo(got.sink);
    expect(got.bytes().equals(body)).toBe(true);
    expect(offer.equals(body)).toBe(true);
    // The head's read (with the first 100 bytes) and the one after it go elsewhere; the rest lands in place.
    expect(got.copied).toBeLessThanOrEqual(2);
    expect(got.inPlace).toBeGreaterThan(10);
  });

  it('decodes a chunked body whose sizes, extensions, data and trailer are split across reads', async () => {
    const body = randomBytes(20_000);
    const wire = Buffer.concat([
      head('200 OK', { 'Transfer-Encoding': 'chunked' }),
      chunked(body, [1, 4096, 17, 9000, 3]),
    ]);
    serve = (socket) => void trickle(socket, cut(wire, 29));
    const response = await receive(`${base}/chunked`, { dispatcher: pool });
    const offer = Buffer.alloc(body.length);
    const got = collector(offer);
    await response.body.pipeTo(got.sink);
    expect(got.bytes().equals(body)).toBe(true);
    // Framing would land in the sink's memory: a chunked body is read into the scratch buffer.
    expect(got.inPlace).toBe(0);
  });

  it('reads a body without length or chunking up to the end of the connection', async () => {
    const body = randomBytes(10_000);
    serve = (socket) => void trickle(socket, [head('200 OK', {}), ...cut(body, 3000)], 'end');
    const response = await receive(`${base}/until-close`, { dispatcher: pool });
    const got = collector();
    await response.body.pipeTo(got.sink);
    expect(got.bytes().equals(body)).toBe(true);
  });

  it('skips interim 1xx answers and reads the final one', async () => {
    serve = (socket) =>
      void trickle(socket, [
        head('100 Continue', {}),
        Buffer.concat([head('200 OK', { 'Content-Length': '5' }), Buffer.from('hello')]),
      ]);
    const response = await receive(`${base}/interim`, { dispatcher: pool });
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toBe('hello');
  });

  it('stops at the announced length (bytes after it are not the body)', async () => {
    serve = (socket) =>
      void trickle(socket, [
        Buffer.concat([head('200 OK', { 'Content-Length': '5' }), Buffer.from('helloEXTRA')]),
      ]);
    const response = await receive(`${base}/extra`, { dispatcher: pool });
    expect(await response.body.text()).toBe('hello');
  });

  it('refuses a malformed head, conflicting lengths and unknown transfer codings', async () => {
    for (const wire of [
      'HTTP/1.1 2OO OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n',
      'HTTP/1.1 200 OK\r\nBad Header\r\n\r\n',
    ]) {
      serve = (socket) => void trickle(socket, [Buffer.from(wire, 'latin1')]);
      expect(await failure(receive(`${base}/bad`, { dispatcher: pool }))).toBeInstanceOf(HttpProtocolError);
    }
  });
});

describe('receive: broken and stalled bodies', () => {
  it('fails a Content-Length body whose connection closes short of it', async () => {
    serve = (socket) =>
      void trickle(socket, [head('200 OK', { 'Content-Length': '100' }), Buffer.from('x'.repeat(60))], 'end');
    const response = await receive(`${base}/short`, { dispatcher: pool });
    const got = collector();
    const error = await failure(response.body.pipeTo(got.sink));
    expect(error).toBeInstanceOf(BodyCutShortError);
    expect(error).toMatchObject({ code: 'ECONNRESET', message: expect.stringContaining('40 bytes short') });
    expect(got.bytes().length).toBe(60);
  });

  it('fails a body whose connection is reset mid-way, with the socket error', async () => {
    serve = (socket) =>
      void trickle(socket, [head('200 OK', { 'Content-Length': '100000' }), randomBytes(30_000)], 'reset');
    const response = await receive(`${base}/reset`, { dispatcher: pool });
    const error = await failure(response.body.pipeTo(collector(Buffer.alloc(100_000)).sink));
    expect(error).toMatchObject({ code: 'ECONNRESET' });
  });

  it('fails a chunked body that ends before its last chunk', async () => {
    const wire = chunked(Buffer.from('abcdefghij'), [4]);
    serve = (socket) =>
      void trickle(
        socket,
        [head('200 OK', { 'Transfer-Encoding': 'chunked' }), wire.subarray(0, wire.length - 10)],
        'end',
      );
    const response = await receive(`${base}/chunked-short`, { dispatcher: pool });
    expect(await failure(response.body.text())).toBeInstanceOf(BodyCutShortError);
  });

  it('never settles the body before the write in progress has: an abort while the sink is busy waits for it', async () => {
    const events: string[] = [];
    serve = (socket) =>
      void trickle(socket, [head('200 OK', { 'Content-Length': '100' }), Buffer.from('x'.repeat(10))]);
    const controller = new AbortController();
    const response = await receive(`${base}/busy`, { dispatcher: pool, signal: controller.signal });
    const error = await failure(
      response.body.pipeTo({
        write: async () => {
          events.push('write started');
          controller.abort(new Error('caller gave up'));
          await delay(100);
          events.push('write done');
        },
      }),
    );
    events.push('body failed');
    expect(error).toMatchObject({ message: 'caller gave up' });
    expect(events).toEqual(['write started', 'write done', 'body failed']);
  });

  it('breaks off a body that stalls longer than bodyTimeout', async () => {
    serve = (socket) =>
      void trickle(socket, [head('200 OK', { 'Content-Length': '100' }), Buffer.from('abc')]);
    const response = await receive(`${base}/stall`, { dispatcher: pool, bodyTimeout: 150 });
    const error = await failure(response.body.text());
    expect(error).toBeInstanceOf(TransportTimeoutError);
    expect(error).toMatchObject({ code: 'EBODY_TIMEOUT' });
  });

  it('does not count the time the sink spends on a chunk as the body stalling', async () => {
    serve = (socket) =>
      void trickle(socket, [head('200 OK', { 'Content-Length': '3' }), Buffer.from('ab')]).then(async () => {
        await delay(50);
        socket.end('c');
      });
    const response = await receive(`${base}/slow-sink`, { dispatcher: pool, bodyTimeout: 100 });
    const chunks: string[] = [];
    await response.body.pipeTo({
      write: (chunk) => {
        chunks.push(chunk.toString());
        // Longer than bodyTimeout, but the server is not the one waiting.
        return delay(250).then(() => undefined);
      },
    });
    expect(chunks.join('')).toBe('abc');
  });

  it('gives up on response headers that do not come within headersTimeout', async () => {
    serve = () => undefined;
    const error = await failure(receive(`${base}/silent`, { dispatcher: pool, headersTimeout: 150 }));
    expect(error).toMatchObject({ name: 'TransportTimeoutError', code: 'EHEADERS_TIMEOUT' });
  });

  it("stops at once when the caller's signal aborts, with the signal's reason", async () => {
    serve = (socket) =>
      void trickle(socket, [head('200 OK', { 'Content-Length': '100' }), Buffer.from('part')]);
    const controller = new AbortController();
    const response = await receive(`${base}/abort`, { dispatcher: pool, signal: controller.signal });
    const reading = failure(response.body.text());
    controller.abort(new Error('caller gave up'));
    expect(await reading).toMatchObject({ message: 'caller gave up' });
  });

  it('refuses URLs that are not http or https, without echoing them, and header values with line breaks', async () => {
    const error = await failure(receive('ftp://user:secret@example.com/x'));
    expect(error).toBeInstanceOf(TypeError);
    expect(String((error as Error).message)).not.toContain('secret');
    expect(
      await failure(receive(`${base}/x`, { headers: { range: 'bytes=0-\r\nx-evil: 1' } })),
    ).toBeInstanceOf(TypeError);
  });
});

describe('receive over TLS', () => {
  const fixtures = join(__dirname, '..', 'fixtures', 'tls');
  const CA = readFileSync(join(fixtures, 'ca.pem'), 'utf8');
  let tls: HttpsServer;
  let url: string;
  const body = randomBytes(200_000);

  beforeAll(async () => {
    tls = createHttpsServer(
      {
        cert: readFileSync(join(fixtures, 'server.pem'), 'utf8'),
        key: readFileSync(join(fixtures, 'server-key.pem'), 'utf8'),
      },
      (_req, res) => {
        res.writeHead(200, { 'content-length': String(body.length) });
        res.end(body);
      },
    );
    tls.listen(0, '127.0.0.1');
    await once(tls, 'listening');
    url = `https://localhost:${(tls.address() as AddressInfo).port}/tls`;
  });

  afterAll(async () => {
    tls.closeAllConnections();
    await new Promise((resolve) => tls.close(resolve));
  });

  it("reads the body straight into the sink's memory with the dispatcher's CA", async () => {
    const withCa = createDispatcher({ ca: CA });
    try {
      const response = await receive(url, { dispatcher: withCa });
      const offer = Buffer.alloc(body.length);
      const got = collector(offer);
      await response.body.pipeTo(got.sink);
      expect(offer.equals(body)).toBe(true);
      expect(got.inPlace).toBeGreaterThan(0);
    } finally {
      await withCa.close();
    }
  });

  it('refuses the certificate without that CA (verification is never off)', async () => {
    const error = await failure(receive(url, { dispatcher: pool }));
    expect(error).toMatchObject({ code: expect.stringMatching(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/) });
  });
});
