import { describe, expect, it } from 'vitest';
import { ERRORS, type ErrorName, RETRY_ON } from '../../lambdas/shared/contract';
import * as errors from '../../lambdas/shared/errors';
import { errorClasses } from '../error-classes';

describe('the error contract', () => {
  it('names every error class errors.ts exports, and nothing else', () => {
    const classes = errorClasses();
    expect(classes.length).toBeGreaterThan(20);
    expect(classes.map((c) => c.name).sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it("sets each class's name to its class name and its retryable flag from the table", () => {
    for (const { className, name, retryable } of errorClasses()) {
      expect(name).toBe(className);
      expect(retryable, name).toBe(ERRORS[name as ErrorName].retryable);
    }
  });

  it('retries only retryable errors, and says which are throttling', () => {
    for (const names of Object.values(RETRY_ON)) {
      for (const name of names) expect(ERRORS[name].retryable, name).toBe(true);
    }
    expect([...RETRY_ON.s1Throttling, ...RETRY_ON.cadoThrottling]).toEqual([
      'S1RateLimitedError',
      'CadoRateLimitedError',
    ]);
  });

  it('keeps the Cado names the CLI retries on in step with the state machine', () => {
    expect(errors.CADO_RETRYABLE_ERROR_NAMES).toEqual(['CadoRateLimitedError', 'CadoTransientError']);
    expect(new errors.CadoTransientError('x').retryable).toBe(true);
    expect(new errors.CadoAuthError('x').retryable).toBe(false);
    expect(new errors.CadoTransientError('x').toJSON()).toMatchObject({ retryable: true });
  });
});
