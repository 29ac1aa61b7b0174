/** Hand To Cado's exactly-once rules: which failures prove Cado did nothing, when an empty listing proves it too. */
import { describe, expect, it } from 'vitest';
import {
  IMPORT_SETTLE_SECONDS,
  importIntentKey,
  importRefused,
  importSettled,
} from '../../lambdas/hand-to-cado/core';
import {
  CadoAuthError,
  CadoRateLimitedError,
  CadoResponseError,
  CadoTransientError,
  CadoValidationError,
  InputValidationError,
} from '../../lambdas/shared/errors';

describe('importRefused', () => {
  it('only refusals before Cado acted count: 429, 4xx, our own input check', () => {
    for (const error of [
      new CadoRateLimitedError('429'),
      new CadoAuthError('401'),
      new CadoValidationError('422'),
      new InputValidationError('prefix'),
    ]) {
      expect(importRefused(error), error.name).toBe(true);
    }
    for (const error of [
      new CadoTransientError('502'),
      new CadoResponseError('bad 200'),
      new Error('reset'),
    ]) {
      expect(importRefused(error), error.name).toBe(false);
    }
  });
});

describe('importSettled', () => {
  const at = '2026-12-02T10:00:00.000Z';
  it(`an empty listing proves nothing until the attempt is ${IMPORT_SETTLE_SECONDS} s old`, () => {
    const t = Date.parse(at);
    expect(importSettled(at, t)).toBe(false);
    expect(importSettled(at, t + IMPORT_SETTLE_SECONDS * 1000 - 1)).toBe(false);
    expect(importSettled(at, t + IMPORT_SETTLE_SECONDS * 1000)).toBe(true);
  });
});

describe('importIntentKey', () => {
  it('is per object version, so a new version of the same key is a new import', () => {
    expect(importIntentKey('b', 'investigations/x/1/2/f.zip', 'v1')).toEqual({
      pk: 'import#b/investigations/x/1/2/f.zip',
      sk: 'version#v1',
    });
    expect(importIntentKey('b', 'k', null).sk).toBe('version#none');
    expect(importIntentKey('b', 'k', 'v2')).not.toEqual(importIntentKey('b', 'k', 'v1'));
  });
});
