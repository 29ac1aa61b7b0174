import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  freshLibraryName,
  identityOf,
  isLibraryNameOf,
  signatureSha256,
} from '../../lambdas/shared/script-library';

const content = Buffer.from('#!/bin/sh\necho collector\n');
const hex = createHash('sha256').update(content).digest('hex');
const base64 = createHash('sha256').update(content).digest('base64');
const base64url = createHash('sha256').update(content).digest('base64url');
const sha1 = createHash('sha1').update(content).digest('hex');

describe('signatureSha256: S1 script signatures as comparable SHA-256', () => {
  it.each([
    ['lower-case hex', hex, undefined, hex],
    ['upper-case hex', hex.toUpperCase(), undefined, hex],
    ['hex with spaces around', ` ${hex} `, 'SHA256', hex],
    ['base64 with signatureType SHA-256 (S1 built-ins)', base64, 'SHA-256', hex],
    ['base64 without padding', base64.replace(/=$/, ''), 'SHA256', hex],
    ['base64url', base64url, undefined, hex],
  ])('%s is comparable', (_, signature, type, expected) => {
    expect(signatureSha256(signature, type)).toBe(expected);
  });

  it.each([
    ['null', null, undefined],
    ['undefined', undefined, undefined],
    ['empty', '', 'SHA256'],
    ['blank', '   ', 'SHA256'],
    ['SHA-1-shaped (40 hex)', sha1, 'SHA256'],
    ['63 hex', hex.slice(1), undefined],
    ['65 hex', `${hex}0`, undefined],
    ['base64 of a SHA-1', createHash('sha1').update(content).digest('base64'), undefined],
    ['base64 of 48 bytes', Buffer.alloc(48, 7).toString('base64'), undefined],
    ['hex under another algorithm', hex, 'MD5'],
    ['not hex', 'g'.repeat(64), undefined],
  ])('%s is not comparable', (_, signature, type) => {
    expect(signatureSha256(signature, type)).toBeUndefined();
  });
});

describe('identityOf: ours only when the SHA-256 equals the collector', () => {
  it('decides on a comparable signature without the content', () => {
    expect(identityOf({ signature: base64, signatureType: 'SHA-256' }, hex)).toEqual({
      verdict: 'ours',
      sha256: hex,
      source: 'signature',
    });
    expect(identityOf({ signature: 'f'.repeat(64) }, hex)).toMatchObject({ verdict: 'foreign' });
    // A comparable signature wins over content: S1 says what it stores.
    expect(identityOf({ signature: 'f'.repeat(64) }, hex, { sha256: hex })).toMatchObject({
      verdict: 'foreign',
      source: 'signature',
    });
  });

  it('falls back to the content hash, and is unverifiable without one', () => {
    expect(identityOf({ signature: sha1 }, hex, { sha256: hex })).toEqual({
      verdict: 'ours',
      sha256: hex,
      source: 'content',
    });
    expect(identityOf({ signature: null }, hex, { sha256: 'e'.repeat(64) })).toMatchObject({
      verdict: 'foreign',
      source: 'content',
    });
    expect(identityOf({ signature: '' }, hex, { error: 'S1NotFoundError 404' })).toMatchObject({
      verdict: 'unverifiable',
      reason: expect.stringContaining('S1NotFoundError 404'),
    });
    expect(identityOf({ signature: null }, hex)).toMatchObject({ verdict: 'unverifiable' });
  });
});

describe('fresh versioned names', () => {
  const name = 's1cado-triage-linux 1.0.0 (sha256:abcdef12)';
  it('stamps the copy and recognises it as the collector name', () => {
    const fresh = freshLibraryName(name, Date.parse('2026-12-02T17:15:00.123Z'));
    expect(fresh).toBe(`${name} copy 20261202T171500Z`);
    expect(isLibraryNameOf(fresh, name)).toBe(true);
    expect(isLibraryNameOf(name, name)).toBe(true);
    expect(isLibraryNameOf(`${name} copy evil`, name)).toBe(false);
    expect(isLibraryNameOf(`${name}x`, name)).toBe(false);
    expect(isLibraryNameOf(null, name)).toBe(false);
  });
});
