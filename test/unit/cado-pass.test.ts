/**
 * The Task Watcher's Cado pass (lambdas/watch-tasks/cado.ts) with plain fakes of Cado, the open waits and Step
 * Functions: which waits are due, what resumes an execution, what keeps a wait, and the Cado webhook's
 * authentication (lambdas/receive-cado-webhook/core.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  type CadoWebhookDeps,
  presentedSecret,
  receiveCadoWebhook,
  sameSecret,
} from '../../lambdas/receive-cado-webhook/core';
import type { PipelineOutcome } from '../../lambdas/shared/cado';
import type { ListedOpenPipeline } from '../../lambdas/shared/coordination/open-pipelines';
import type { XdrHandedOff } from '../../lambdas/shared/schemas';
import { type CadoPassDeps, cadoPass, lookGapMs } from '../../lambdas/watch-tasks/cado';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function xdrState(pipelineId: number, deadline: string): XdrHandedOff {
  return {
    investigation: {
      investigationId: 'threat-1',
      requestedBy: 'unit',
      startedAt: new Date(T0).toISOString(),
      threatId: '1',
      collectionMode: 'cado-xdr',
    },
    target: { agentId: '11', computerName: 'host', osType: 'linux', siteId: '5', siteName: 'Site' },
    xdr: {
      collectedBy: 'cado-xdr',
      accountName: 'S1',
      deviceId: 'dev',
      profile: 'triage',
      collectionType: 'balanced',
      lightMode: true,
      reused: false,
    },
    cado: {
      projectId: 3,
      projectName: 'threat-1',
      pipelineId,
      startedAt: new Date(T0).toISOString(),
      deadline,
      phase: 'running',
    },
    poll: { attempt: 0, waitSeconds: 30, deadline },
  } as XdrHandedOff;
}

function fakes(options: {
  state: PipelineOutcome['state'];
  lost?: number;
  checkedAtMs?: number;
  at: number;
}) {
  const wait: ListedOpenPipeline = {
    sk: 'pipeline#exec#11',
    writeId: 'w1',
    wait: {
      followed: xdrState(1001, new Date(T0 + 3600_000).toISOString()),
      executionName: 'exec',
      taskToken: 'token-1',
      registeredAt: new Date(T0).toISOString(),
    },
    ...(options.checkedAtMs !== undefined ? { checkedAtMs: options.checkedAtMs } : {}),
  };
  const calls = { outcome: 0, resumed: [] as unknown[], removed: 0, marked: [] as number[] };
  let lost = options.lost ?? 0;
  const deps: CadoPassDeps = {
    cado: {
      pipelineOutcome: async () => {
        calls.outcome += 1;
        return {
          state: options.state,
          reason: options.state === 'failed' ? 'Extract evidence: broken' : 'in progress',
          pipeline: {},
        } as unknown as PipelineOutcome;
      },
      getEvidence: async () => {
        throw new Error('no evidence here');
      },
      importS3: async () => {
        throw new Error('the pass never imports');
      },
    },
    openPipelines: {
      list: async () => ({ open: calls.removed > 0 ? [] : [wait], unreadable: [] }),
      markChecked: async (_sk, _w, at) => {
        calls.marked.push(at);
        return true;
      },
      remove: async () => {
        calls.removed += 1;
        return 'removed';
      },
    },
    resume: {
      success: async (_token, output) => {
        if (lost > 0) {
          lost -= 1;
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        }
        if (calls.resumed.length > 0) throw Object.assign(new Error('closed'), { name: 'TaskTimedOut' });
        calls.resumed.push(output);
      },
      failure: async () => undefined,
    },
    intervalSeconds: 30,
    now: () => options.at,
  };
  return { deps, calls };
}

describe('the Cado pass', () => {
  it('leaves at least intervalSeconds between looks, growing with the age to 5 minutes', () => {
    expect(lookGapMs(0, 30)).toBe(30_000);
    expect(lookGapMs(10 * 60_000, 30)).toBe(150_000);
    expect(lookGapMs(6 * 3600_000, 30)).toBe(300_000);
    // A floor longer than the cap wins (an operator who wants fewer looks gets them).
    expect(lookGapMs(6 * 3600_000, 3600)).toBe(3600_000);
  });

  it('asks Cado nothing about a wait that is not due, unless forced (a webhook)', async () => {
    const { deps, calls } = fakes({ state: 'complete', at: T0 + 10_000 });
    expect(await cadoPass(deps)).toMatchObject({ open: 1, checked: 0, resumed: 0 });
    expect(calls.outcome).toBe(0);
    expect(await cadoPass(deps, { force: true, projectId: 99 })).toMatchObject({ checked: 0 });
    expect(await cadoPass(deps, { force: true })).toMatchObject({ checked: 1, resumed: 1 });
    expect(calls.removed).toBe(1);
  });

  it("resumes an ended pipeline with Check Cado's decision and removes the wait", async () => {
    const { deps, calls } = fakes({ state: 'failed', at: T0 + 60_000 });
    expect(await cadoPass(deps)).toMatchObject({ checked: 1, resumed: 1, closed: 0 });
    expect(calls.resumed[0]).toMatchObject({
      cado: { phase: 'failed', reason: 'Extract evidence: broken', pipelineId: 1001 },
    });
    expect(calls.removed).toBe(1);
  });

  it('a running pipeline is marked checked and kept; past its deadline it resumes as deadline', async () => {
    const running = fakes({ state: 'running', at: T0 + 60_000 });
    expect(await cadoPass(running.deps)).toMatchObject({ checked: 1, resumed: 0 });
    expect(running.calls.marked).toEqual([T0 + 60_000]);
    expect(running.calls.removed).toBe(0);
    const late = fakes({ state: 'running', at: T0 + 3600_000, checkedAtMs: T0 + 3599_000 });
    expect(await cadoPass(late.deps)).toMatchObject({ checked: 1, resumed: 1 });
    expect(late.calls.resumed[0]).toMatchObject({ cado: { phase: 'deadline' } });
  });

  it('a lost answer keeps the wait unmarked; the next pass answers again and drops the closed token', async () => {
    const { deps, calls } = fakes({ state: 'complete', at: T0 + 60_000, lost: 1 });
    expect(await cadoPass(deps)).toMatchObject({ checked: 1, resumed: 0, failed: 1 });
    expect(calls.marked).toEqual([]);
    expect(calls.removed).toBe(0);
    expect(await cadoPass(deps)).toMatchObject({ checked: 1, resumed: 1 });
    expect(calls.removed).toBe(1);
  });
});

describe('the Cado webhook', () => {
  const secret = 'a'.repeat(64);
  const deps = (woken: { n: number }): CadoWebhookDeps => ({
    secrets: async () => [secret],
    wake: async () => {
      woken.n += 1;
      return { open: 2, checked: 2, resumed: 1, closed: 0, failed: 0 };
    },
  });
  const request = (body: string, method = 'POST') => ({ method, body: Buffer.from(body) });

  it('reads the secret from the JSON payload, or from its leading field when $Event broke the JSON', () => {
    expect(presentedSecret(JSON.stringify({ secret: 'x1', title: 't' }))).toBe('x1');
    expect(presentedSecret('{"secret":"x2","event":"say "hi""}')).toBe('x2');
    expect(presentedSecret('{"title":"t","secret":"x3" broken')).toBeUndefined();
    expect(presentedSecret(JSON.stringify({ secret: 5 }))).toBeUndefined();
    expect(presentedSecret('[]')).toBeUndefined();
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abcd')).toBe(false);
  });

  it('refuses without the secret (401) and wakes nothing; with it, wakes one forced pass', async () => {
    const woken = { n: 0 };
    for (const body of ['{}', JSON.stringify({ secret: 'b'.repeat(64) }), 'x']) {
      expect((await receiveCadoWebhook(request(body), deps(woken))).statusCode).toBe(401);
    }
    expect(woken.n).toBe(0);
    expect((await receiveCadoWebhook(request('{}', 'GET'), deps(woken))).statusCode).toBe(405);
    const ok = await receiveCadoWebhook(
      request(JSON.stringify({ secret, title: 'PROCESSING FINISHED' })),
      deps(woken),
    );
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ checked: 2, resumed: 1, stillOpen: 1 });
    expect(ok.body).not.toContain(secret);
    expect(woken.n).toBe(1);
  });

  it('re-reads the secret once after a mismatch (a rotation) before refusing', async () => {
    let current = 'old-'.padEnd(64, 'o');
    const rotated = 'new-'.padEnd(64, 'n');
    const woken = { n: 0 };
    const answer = await receiveCadoWebhook(request(JSON.stringify({ secret: rotated })), {
      ...deps(woken),
      secrets: async () => [current],
      refreshSecrets: async () => {
        current = rotated;
        return true;
      },
    });
    expect(answer.statusCode).toBe(200);
  });
});
