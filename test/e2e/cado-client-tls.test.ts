import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCadoClient } from '../../lambdas/shared/cado';
import { CadoTlsError, InputValidationError } from '../../lambdas/shared/errors';
import { createDispatcher } from '../../lambdas/shared/http';
import { staticCredential } from '../../lambdas/shared/secrets';

// Committed once (see test/fixtures/tls/README.md): CI has no openssl, so nothing is generated here.
const fixtures = join(__dirname, '..', 'fixtures', 'tls');
const CA = readFileSync(join(fixtures, 'ca.pem'), 'utf8');
const CERT = readFileSync(join(fixtures, 'server.pem'), 'utf8');
const KEY = readFileSync(join(fixtures, 'server-key.pem'), 'utf8');

const API_KEY = 'cado-tls-test-key-0123456789abcdef';

let server: Server;
let port: number;
const authorizations: (string | undefined)[] = [];

beforeAll(async () => {
  server = createServer({ cert: CERT, key: KEY }, (req, res) => {
    authorizations.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        status: 'success',
        data: { id: 7, username: 'tls-user', rbac_role: 'Lead Analyst', eula_agreed: true, permissions: {} },
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('Cado client with a self-signed platform certificate', () => {
  it('connects when given the platform CA, and sends the key only over the verified connection', async () => {
    const client = createCadoClient({
      baseUrl: `https://127.0.0.1:${port}/api/v3`,
      credentials: staticCredential(API_KEY, 'Bearer'),
      caCertificate: CA,
      allowLoopback: true,
    });
    try {
      const me = await client.whoami();
      expect(me).toMatchObject({ id: 7, username: 'tls-user', role: 'Lead Analyst' });
      expect(authorizations.at(-1)).toBe(`Bearer ${API_KEY}`);
    } finally {
      await client.close();
    }
  });

  it('accepts the CA with literal \\n escapes, as it may arrive from JSON config', async () => {
    const client = createCadoClient({
      baseUrl: `https://localhost:${port}`,
      credentials: staticCredential(API_KEY, 'Bearer'),
      caCertificate: CA.trim().replace(/\n/g, '\\n'),
      allowLoopback: true,
    });
    try {
      await expect(client.whoami()).resolves.toMatchObject({ username: 'tls-user' });
    } finally {
      await client.close();
    }
  });

  it('refuses the platform without the CA at once (a bad certificate is not retried), and the key never reaches it', async () => {
    const before = authorizations.length;
    let sleeps = 0;
    const client = createCadoClient({
      baseUrl: `https://127.0.0.1:${port}`,
      credentials: staticCredential(API_KEY, 'Bearer'),
      allowLoopback: true,
      sleep: async () => {
        sleeps++;
      },
      retry: { maxAttempts: 3 },
    });
    const error = await client.whoami().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CadoTlsError);
    expect((error as CadoTlsError).retryable).toBe(false);
    expect(sleeps).toBe(0);
    // The cause chain carries Node's certificate verdict.
    let cause: unknown = error;
    const codes: string[] = [];
    while (cause && typeof cause === 'object') {
      const code = (cause as { code?: unknown }).code;
      if (typeof code === 'string') codes.push(code);
      cause = (cause as { cause?: unknown }).cause;
    }
    expect(codes.join(' ')).toMatch(/CERT|SIGN|ISSUER/);
    expect(authorizations.length).toBe(before);
    expect(String((error as Error).message)).not.toContain(API_KEY);
  });

  it('rejects a CA option that is not PEM, and a CA together with a dispatcher', () => {
    const base = { baseUrl: 'https://cado.example.com', credentials: staticCredential(API_KEY, 'Bearer') };
    expect(() => createCadoClient({ ...base, caCertificate: 'not a certificate' })).toThrow(
      InputValidationError,
    );
    const dispatcher = createDispatcher();
    expect(() => createCadoClient({ ...base, caCertificate: CA, dispatcher })).toThrow(
      /either caCertificate/,
    );
    return dispatcher.close();
  });
});
