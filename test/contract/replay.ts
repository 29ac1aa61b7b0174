/**
 * A loopback HTTP server that answers with responses recorded by independent public integrations (the JSON files
 * under `fixtures/`, traced in `fixtures/SOURCES.md`) and records every request our clients send, so a test can
 * check both directions: what we read out of a real-shaped response, and what we put on the wire.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

const FIXTURES = join(__dirname, 'fixtures');

/** A fixture file's JSON, parsed afresh on every call (tests may change their copy). */
export function fixture<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
}

/** One request as it reached the server. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Query parameters; a repeated key keeps its last value. */
  readonly query: Record<string, string>;
  readonly headers: IncomingMessage['headers'];
  /** The body parsed as JSON, or undefined when there was none. */
  readonly body: unknown;
  /** The raw request target (path and query), to check that no secret travels in a URL. */
  readonly url: string;
}

/** What the server answers to one request. */
export interface Reply {
  readonly status?: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

/** Matches requests by method and exact path; `replies` are used in order, the last one repeating. */
export interface Route {
  readonly method: string;
  readonly path: string;
  readonly replies: readonly Reply[];
}

/** A running replay server. */
export interface ReplayServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests to `path` (exact). */
  calls(path: string): RecordedRequest[];
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1, port 0. A request no route matches gets a 599 so the test fails loudly. */
export async function startReplay(routes: readonly Route[]): Promise<ReplayServer> {
  const requests: RecordedRequest[] = [];
  const used = new Map<Route, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        body = text;
      }
      requests.push({
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
        url: req.url ?? '',
      });
      const route = routes.find((r) => r.method === req.method && r.path === url.pathname);
      if (!route || route.replies.length === 0) {
        res.writeHead(599, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ unexpected: `${req.method} ${url.pathname}` }));
        return;
      }
      const n = used.get(route) ?? 0;
      used.set(route, n + 1);
      const reply = route.replies[Math.min(n, route.replies.length - 1)] as Reply;
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    calls: (path) => requests.filter((r) => r.path === path),
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
