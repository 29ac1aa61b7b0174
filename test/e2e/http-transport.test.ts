import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, request, TransportTimeoutError } from '../../lambdas/shared/http-transport';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base: string;
let route: Route;
const pool = createDispatcher({ connectTimeoutMs: 300 });

beforeAll(async () => {
  server = createServer((req, res) => route(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await pool.close();
  server.closeAllConnections();
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

describe('http-transport request', () => {
  it('sends the method, headers and body with its length, and reads status, headers and body', async () => {
    route = (req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        res.writeHead(201, {
          'x-echo': `${req.method} ${req.headers['content-length']} ${req.headers['x-in']}`,
        });
        res.end(body.toUpperCase());
      });
    };
    const response = await request(`${base}/echo`, {
      method: 'POST',
      headers: { 'x-in': 'yes' },
      body: 'héllo',
      dispatcher: pool,
    });
    expect(response.statusCode).toBe(201);
    expect(response.headers['x-echo']).toBe('POST 6 yes');
    expect(await response.body.text()).toBe('HÉLLO');
  });

  it('never follows a redirect', async () => {
    route = (_req, res) => {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
    };
    const response = await request(`${base}/moved`, { method: 'GET', dispatcher: pool });
    expect(response.statusCode).toBe(302);
    await response.body.dump();
  });

  it('gives up on response headers that do not come within headersTimeout', async () => {
    route = () => {
      /* never answer */
    };
    const error = await failure(
      request(`${base}/silent`, { method: 'GET', dispatcher: pool, headersTimeout: 150 }),
    );
    expect(error).toBeInstanceOf(TransportTimeoutError);
    expect(error).toMatchObject({ code: 'EHEADERS_TIMEOUT' });
  });

  it('breaks off a body that stalls longer than bodyTimeout', async () => {
    route = (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('x'.repeat(10)); // then nothing more
    };
    const response = await request(`${base}/stall`, { method: 'GET', dispatcher: pool, bodyTimeout: 150 });
    const error = await failure(response.body.text());
    expect(error).toMatchObject({ name: 'TransportTimeoutError', code: 'EBODY_TIMEOUT' });
  });

  it('does not count the time the reader spends on a chunk as the body stalling', async () => {
    route = (_req, res) => {
      res.writeHead(200, { 'content-length': '3' });
      res.write('ab');
      setTimeout(() => res.end('c'), 50);
    };
    const response = await request(`${base}/slow-reader`, {
      method: 'GET',
      dispatcher: pool,
      bodyTimeout: 100,
    });
    let text = '';
    for await (const chunk of response.body) {
      await delay(250); // longer than bodyTimeout, but the server is not the one waiting
      text += chunk.toString('utf8');
    }
    expect(text).toBe('abc');
  });

  it('counts each wait for a chunk from its own start, however long the reader kept the previous one', async () => {
    route = (_req, res) => {
      res.writeHead(200, { 'content-length': '2' });
      res.write('a');
      setTimeout(() => res.end('b'), 500);
    };
    const response = await request(`${base}/late-wait`, {
      method: 'GET',
      dispatcher: pool,
      bodyTimeout: 400,
    });
    let text = '';
    for await (const chunk of response.body) {
      text += chunk.toString('utf8');
      // Busy 300 ms, then about 200 ms of waiting for 'b': 500 ms after the first wait began, but no wait of 400.
      if (text === 'a') await delay(300);
    }
    expect(text).toBe('ab');
  });

  it("stops at once when the caller's signal aborts, with the signal's reason", async () => {
    route = (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    };
    const controller = new AbortController();
    const response = await request(`${base}/abort`, {
      method: 'GET',
      dispatcher: pool,
      signal: controller.signal,
    });
    const reading = failure(response.body.text());
    controller.abort(new Error('caller gave up'));
    expect(await reading).toMatchObject({ message: 'caller gave up' });
  });

  it('refuses URLs that are not http or https, without echoing them', async () => {
    const error = await failure(request('ftp://user:secret@example.com/x', { method: 'GET' }));
    expect(error).toBeInstanceOf(TypeError);
    expect(String((error as Error).message)).not.toContain('secret');
  });
});

describe('http-transport connect timeout', () => {
  let silent: TcpServer;
  let port: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    // Accepts TCP but never speaks TLS: the handshake never completes.
    silent = createTcpServer((socket) => sockets.push(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    port = (silent.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('counts the TLS handshake as part of connecting, and says so with a code of its own', async () => {
    const error = await failure(request(`https://127.0.0.1:${port}/`, { method: 'GET', dispatcher: pool }));
    expect(error).toBeInstanceOf(TransportTimeoutError);
    expect(error).toMatchObject({ code: 'ECONNECT_TIMEOUT' });
  });
});
