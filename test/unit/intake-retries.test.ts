/** Not lost: which failures end not_attempted, and the backoff, cap and names of intake's retries. */
import { describe, expect, it } from 'vitest';
import { notAttempted, summarizeCase } from '../../lambdas/record-outcome/core';
import {
  attemptName,
  attemptOf,
  dueRetries,
  INTAKE_RETRY_BASE_SECONDS,
  MAX_INTAKE_ATTEMPTS,
  nextRetry,
  retryBackoffSeconds,
} from '../../lambdas/shared/intake/retries';
import type { OutcomeInput } from '../../lambdas/shared/schemas';

const raw = { agentIds: ['1001'], threatId: '42', requestedBy: 'threat-intake' };
const caught = (name: string) => ({ Error: name, Cause: '{"errorMessage":"boom"}' });

describe('notAttempted', () => {
  it.each([
    'S1RateLimitedError',
    'S1TransientError',
    'S1AuthError',
    'PreflightFailedError',
    'Lambda.ServiceException',
  ])('%s in an early state, before any script was ensured: not attempted', (name) => {
    expect(notAttempted({ ...raw, error: caught(name) } as OutcomeInput)).toBe(true);
  });

  it('business errors, a failed Map (scripts ensured) or agent results are real outcomes', () => {
    expect(notAttempted({ ...raw, error: caught('InputValidationError') } as OutcomeInput)).toBe(false);
    expect(notAttempted({ ...raw, error: caught('S1RateLimitedError'), scripts: [] } as OutcomeInput)).toBe(
      false,
    );
    expect(notAttempted({ ...raw, error: caught('S1TransientError'), results: [] } as OutcomeInput)).toBe(
      false,
    );
    expect(notAttempted({ ...raw } as OutcomeInput)).toBe(false);
  });

  it('the case says not_attempted, names the threat from the raw input, and that intake retries it', () => {
    const record = summarizeCase(
      {
        ...raw,
        error: caught('S1RateLimitedError'),
        execution: { name: 'threat-42', id: 'x', startTime: 't' },
      } as OutcomeInput,
      '2026-12-02T10:00:00.000Z',
      'test',
    );
    expect(record).toMatchObject({ status: 'not_attempted', threatId: '42', investigationId: 'threat-42' });
    expect(record.summary).toMatch(/before any endpoint action.*intake retries it/);
  });
});

describe('intake retries', () => {
  const t0 = Date.parse('2026-12-02T10:00:00.000Z');

  it('names attempts after the threat, the first one as before', () => {
    expect(attemptName('42', 0)).toBe('threat-42');
    expect(attemptName('42', 3)).toBe('threat-42-r3');
    expect(attemptOf('threat-42')).toBe(0);
    expect(attemptOf('threat-42-r3')).toBe(3);
    expect(attemptOf('manual-20261202T100000Z-abc')).toBe(0);
  });

  it('backs off doubling from the base, and gives up at the cap', () => {
    expect(retryBackoffSeconds(1)).toBe(INTAKE_RETRY_BASE_SECONDS);
    expect(retryBackoffSeconds(3)).toBe(INTAKE_RETRY_BASE_SECONDS * 4);
    expect(nextRetry('42', 'threat-42', t0)).toEqual({
      threatId: '42',
      attempt: 1,
      nextAt: new Date(t0 + INTAKE_RETRY_BASE_SECONDS * 1000).toISOString(),
      after: 'threat-42',
    });
    expect(nextRetry('42', attemptName('42', MAX_INTAKE_ATTEMPTS - 2), t0)?.attempt).toBe(
      MAX_INTAKE_ATTEMPTS - 1,
    );
    expect(nextRetry('42', attemptName('42', MAX_INTAKE_ATTEMPTS - 1), t0)).toBeUndefined();
  });

  it('only entries whose time has come are due, oldest first', () => {
    const a = nextRetry('1', 'threat-1', t0);
    const b = nextRetry('2', 'threat-2-r2', t0);
    const entries = { '1': a, '2': b } as never;
    expect(dueRetries({ entries }, t0)).toEqual([]);
    expect(dueRetries({ entries }, t0 + 3600_000).map((e) => e.threatId)).toEqual(['1', '2']);
  });
});
