import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type CredentialSource,
  createDispatcher,
  HttpClient,
  parseRetryAfter,
} from '../../lambdas/shared/http';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { staticCredential } from '../../lambdas/shared/secrets';

type Route = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** A scripted HTTP server: each test sets `route`; every request is recorded. */
let server: Server;
let baseUrl: string;
let route: Route;
let seen: { method: string; url: string; authorization?: string; body: string }[] = [];
let connections = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body,
      });
      route(req, res, seen.length);
    });
  });
  server.on('connection', () => {
    connections++;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/web/api/v2.1`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

afterEach(() => {
  seen = [];
  connections = 0;
  clearRegisteredSecrets();
});

const TOKEN = 'tok3n-SECRET-0123456789abcdef';

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function client(overrides: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}) {
  const delays: number[] = [];
  const http = new HttpClient({
    service: 'S1',
    baseUrl,
    credentials: staticCredential(TOKEN, 'ApiToken'),
    random: () => 1,
    sleep: async (ms) => {
      delays.push(ms);
    },
    retry: { maxAttempts: 4, maxElapsedMs: 60_000, baseDelayMs: 100, maxDelayMs: 1_000 },
    ...overrides,
  });
  return { http, delays };
}

describe('HttpClient', () => {
  it('sends the token as an ApiToken header, arrays comma-separated, and validates the body', async () => {
    route = (_req, res) =>
      json(res, 200, { data: [{ id: '1234567890123456789', extra: true }], pagination: {} });
    const { http } = client();
    const schema = z.looseObject({ data: z.array(z.looseObject({ id: z.string() })) });
    const out = await http.request({
      method: 'GET',
      path: '/agents',
      query: { ids: ['1', '2'], skip: undefined },
      schema,
    });
    expect(out.body.data[0]?.id).toBe('1234567890123456789');
    expect(seen[0]?.url).toBe('/web/api/v2.1/agents?ids=1%2C2');
    expect(seen[0]?.authorization).toBe(`ApiToken ${TOKEN}`);
  });

  it('reuses connections for sequential requests', async () => {
    route = (_req, res) => json(res, 200, { data: null });
    const { http } = client({ dispatcher: createDispatcher() });
    for (let i = 0; i < 10; i++) await http.request({ method: 'GET', path: '/system/status' });
    expect(seen).toHaveLength(10);
    // The pool may open a second socket while the first finishes a response, but never one per request.
    expect(connections).toBeLessThanOrEqual(2);
  });

  it('honours Retry-After on 429', async () => {
    route = (_req, res, n) =>
      n === 1
        ? json(res, 429, { errors: [{ code: 4290010, title: 'Too many' }] }, { 'retry-after': '3' })
        : json(res, 200, {});
    const { http, delays } = client();
    const out = await http.request({ method: 'GET', path: '/threats' });
    expect(out.attempts).toBe(2);
    expect(delays).toEqual([3000]);
  });

  it('backs off exponentially with full jitter when 429 has no Retry-After, even for POST', async () => {
    route = (_req, res, n) => (n < 4 ? json(res, 429, {}) : json(res, 200, { data: { ok: 1 } }));
    const randoms = [0.5, 0.25, 1];
    const { http, delays } = client({ random: () => randoms.shift() ?? 0 });
    await http.request({ method: 'POST', path: '/remote-scripts/execute', json: {} });
    // attempt n waits random · min(1000, 100·2^(n-1))
    expect(delays).toEqual([50, 50, 400]);
  });

  it('retries 5xx for idempotent requests, then succeeds', async () => {
    route = (_req, res, n) => (n === 1 ? json(res, 502, {}) : json(res, 200, { data: 'ok' }));
    const { http } = client();
    expect((await http.request({ method: 'GET', path: '/x' })).body).toEqual({ data: 'ok' });
    expect(seen).toHaveLength(2);
  });

  it('gives up after the attempt cap with a typed, matchable error', async () => {
    route = (_req, res) =>
      json(res, 503, { errors: [{ code: 5030000, title: 'Service Unavailable', detail: null }] });
    const { http } = client();
    const error = await http.request({ method: 'GET', path: '/x' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'S1TransientError', status: 503, retryable: true });
    expect((error as Error).message).toContain('Service Unavailable');
    expect(seen).toHaveLength(4);
  });

  it('stops early when the next wait would pass the elapsed-time cap, keeping Retry-After for Step Functions', async () => {
    route = (_req, res) => json(res, 429, {}, { 'retry-after': '120' });
    const { http, delays } = client({ retry: { maxElapsedMs: 20_000 } });
    const error = await http.request({ method: 'GET', path: '/x' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'S1RateLimitedError', retryAfterMs: 120_000 });
    expect(delays).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('does not resend a non-idempotent POST after a 5xx (outcome unknown)', async () => {
    route = (_req, res) => json(res, 500, {});
    const { http } = client();
    await expect(
      http.request({ method: 'POST', path: '/remote-scripts/execute', json: {} }),
    ).rejects.toMatchObject({
      name: 'S1TransientError',
    });
    expect(seen).toHaveLength(1);
  });

  it('retries a refused connection even for POST (the server never saw it), then throws a Cado error', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const { http, delays } = client({ service: 'Cado', baseUrl: `http://127.0.0.1:${port}/api/v3` });
    const error = await http
      .request({ method: 'POST', path: '/import/aws/s3', json: {} })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'CadoTransientError' });
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(delays).toHaveLength(3);
  });

  it('times out a request that never answers', async () => {
    route = () => {
      /* never answer */
    };
    const { http } = client({ requestTimeoutMs: 200, retry: { maxAttempts: 1 } });
    await expect(http.request({ method: 'GET', path: '/slow' })).rejects.toMatchObject({
      name: 'S1TransientError',
      message: expect.stringContaining('timed out'),
    });
  });

  it('re-reads the credential once after a 401 and retries with the new value', async () => {
    let current = 'old-token-0123456789';
    let refreshes = 0;
    const credentials: CredentialSource = {
      authorization: async () => `ApiToken ${current}`,
      refresh: async () => {
        refreshes++;
        current = 'new-token-0123456789';
        return true;
      },
    };
    route = (req, res) =>
      req.headers.authorization === 'ApiToken new-token-0123456789'
        ? json(res, 200, { data: 1 })
        : json(res, 401, { errors: [{ code: 4010010, title: 'Authentication Failed', detail: null }] });
    const { http } = client({ credentials });
    await http.request({ method: 'GET', path: '/user' });
    expect(refreshes).toBe(1);
    expect(seen.map((s) => s.authorization)).toEqual([
      'ApiToken old-token-0123456789',
      'ApiToken new-token-0123456789',
    ]);
  });

  it('throws S1AuthError when the refreshed credential is rejected too, refreshing only once', async () => {
    let refreshes = 0;
    const credentials: CredentialSource = {
      authorization: async () => `ApiToken ${TOKEN}`,
      refresh: async () => {
        refreshes++;
        return true;
      },
    };
    route = (_req, res) => json(res, 401, { errors: [{ code: 4010010, title: 'Authentication Failed' }] });
    const { http } = client({ credentials });
    await expect(http.request({ method: 'GET', path: '/user' })).rejects.toMatchObject({
      name: 'S1AuthError',
      status: 401,
      code: '4010010',
    });
    expect(refreshes).toBe(1);
    expect(seen).toHaveLength(2);
  });

  it('maps 403, 404 and 400 to typed errors without retrying', async () => {
    const cases: [number, string][] = [
      [403, 'S1ForbiddenError'],
      [404, 'S1NotFoundError'],
      [400, 'S1ValidationError'],
    ];
    for (const [status, name] of cases) {
      seen = [];
      route = (_req, res) => json(res, status, { errors: [{ code: status * 10000, title: 'nope' }] });
      await expect(client().http.request({ method: 'GET', path: '/x' })).rejects.toMatchObject({
        name,
        status,
      });
      expect(seen).toHaveLength(1);
    }
  });

  it('reports a body that does not match the schema as a response error naming the field', async () => {
    route = (_req, res) => json(res, 200, { data: { parentTaskId: 42 } });
    const schema = z.object({ data: z.object({ parentTaskId: z.string() }) });
    await expect(client().http.request({ method: 'POST', path: '/x', schema })).rejects.toMatchObject({
      name: 'S1ResponseError',
      message: expect.stringContaining('data.parentTaskId'),
    });
  });

  it('refuses oversized responses', async () => {
    route = (_req, res) => json(res, 200, { data: 'x'.repeat(5000) });
    await expect(
      client({ maxResponseBytes: 1000 }).http.request({ method: 'GET', path: '/x' }),
    ).rejects.toMatchObject({
      name: 'S1ResponseError',
    });
  });

  it('never puts the token or the query string into error messages, even when the server echoes the token', async () => {
    route = (req, res) =>
      json(res, 400, {
        errors: [
          { code: 4000010, title: 'Validation Error', detail: `bad header ${req.headers.authorization}` },
        ],
      });
    const error = (await client()
      .http.request({ method: 'GET', path: '/threats', query: { cursor: 'c2VjcmV0LWN1cnNvcg' } })
      .catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('S1ValidationError');
    expect(error.message).toContain('Validation Error');
    expect(error.message).not.toContain(TOKEN);
    expect(error.message).not.toContain('c2VjcmV0LWN1cnNvcg');
    expect(JSON.stringify(error)).not.toContain(TOKEN);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta seconds and HTTP dates, and ignores garbage', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter('0.5')).toBe(500);
    const nowMs = Date.parse('2026-11-24T00:00:00Z');
    expect(parseRetryAfter('Tue, 24 Nov 2026 00:00:30 GMT', nowMs)).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
