/**
 * End-to-end: the shared token preflight. A burst of investigations shares one S1 token, and `GET /user` is limited
 * to 2 requests/s per token, so a passed preflight (token accepted, not expired) stands for the next investigations
 * for `preflightCacheSeconds`. A failed preflight is never remembered, an entry whose token expiry has passed is
 * ignored, and the entry is keyed by a fingerprint that is not the token.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CachedPreflight, tokenFingerprint } from '../../lambdas/shared/coordination/preflight-cache';
import { CoordinationStore } from '../../lambdas/shared/coordination/store';
import { type E2eStack, investigate, s1Requests, startE2eStack } from './helpers';

let stack: E2eStack;
let store: CoordinationStore;
const key = () => ({ pk: 'preflight#s1-token', sk: tokenFingerprint(stack.secrets.s1Token) });

beforeAll(async () => {
  // An hour: at the end-to-end time scale a minute of simulated time passes within one investigation.
  stack = await startE2eStack({ config: { preflightCacheSeconds: 3600 } });
  store = new CoordinationStore({ client: stack.dynamo.client, tableName: stack.coordinationTable });
});

afterAll(async () => {
  await stack?.close();
});

beforeEach(async () => {
  await stack.reset();
  const current = await store.get(key(), CachedPreflight);
  if (current) await store.remove(key(), current.writeId);
});

function collect(reason: string) {
  return investigate(stack, { agentIds: [stack.tenant.agents.linux.id], requestedBy: 'e2e', reason });
}

function tokenCalls(since: number): number {
  return (
    s1Requests(stack, '/user', since).length + s1Requests(stack, '/users/api-token-details', since).length
  );
}

describe('shared token preflight', () => {
  it('asks S1 about the token once for two investigations, and the second still completes', async () => {
    const before = stack.s1Sim.requests.length;
    const first = await collect('first');
    expect(first.caseRecord.status).toBe('complete');
    expect(s1Requests(stack, '/user', before)).toHaveLength(1);

    const between = stack.s1Sim.requests.length;
    const second = await collect('second');
    expect(second.caseRecord.status).toBe('complete');
    expect(tokenCalls(between)).toBe(0);

    const entry = await store.get(key(), CachedPreflight);
    expect(entry?.data.scope).toBeDefined();
    // The item names a fingerprint, never the token.
    expect(JSON.stringify(entry)).not.toContain(stack.secrets.s1Token);
    expect(key().sk).not.toContain(stack.secrets.s1Token);
  });

  it('never remembers a rejected token: the next investigation asks S1 again', async () => {
    const rejected = stack.s1Sim.faults.respond(401, { match: { path: '/user' } });
    const first = await collect('rejected token');
    expect(first.caseRecord.status).not.toBe('complete');
    expect(await store.get(key(), CachedPreflight)).toBeUndefined();
    rejected.remove();

    const between = stack.s1Sim.requests.length;
    const second = await collect('token accepted again');
    expect(second.caseRecord.status).toBe('complete');
    expect(s1Requests(stack, '/user', between)).toHaveLength(1);
  });

  it('ignores an entry whose token expiry has passed and checks the token anew', async () => {
    await store.putIfAbsent(
      key(),
      { scope: 'site', tokenExpiresAt: '2020-01-01T00:00:00.000Z', checkedAt: new Date().toISOString() },
      CachedPreflight,
      { ttlSeconds: 3600 },
    );
    const before = stack.s1Sim.requests.length;
    const run = await collect('stale entry');
    expect(run.caseRecord.status).toBe('complete');
    expect(s1Requests(stack, '/user', before)).toHaveLength(1);
    // The fresh check replaced the entry with S1's own expiry date.
    const entry = await store.get(key(), CachedPreflight);
    expect(entry?.data.tokenExpiresAt).not.toBe('2020-01-01T00:00:00.000Z');
  });
});
