import { afterEach, describe, expect, it, vi } from 'vitest';
import { S1AuthError } from '../../lambdas/shared/errors';
import { logger, redactingReplacer } from '../../lambdas/shared/observability';
import {
  clearRegisteredSecrets,
  redact,
  redactDeep,
  registerSecret,
  safeUrl,
} from '../../lambdas/shared/redact';

afterEach(() => {
  clearRegisteredSecrets();
  vi.restoreAllMocks();
});

describe('redact', () => {
  it('masks registered secrets wherever they appear', () => {
    registerSecret('abc-very-secret-123');
    expect(redact('x=abc-very-secret-123;abc-very-secret-123')).toBe('x=[REDACTED];[REDACTED]');
  });

  it('masks credential-shaped text that was never registered', () => {
    expect(redact('Authorization: ApiToken eyJraWQiOiJ0b2tlbi0xMjM0NTY3ODkw')).toBe(
      'Authorization: ApiToken [REDACTED]',
    );
    expect(redact('Bearer 0123456789abcdefABCDEF')).toBe('Bearer [REDACTED]');
    expect(redact('https://h/p?APIToken=zzz123&x=1')).toBe('https://h/p?APIToken=[REDACTED]&x=1');
    expect(redact('…&X-Amz-Signature=deadbeef00&X-Amz-Credential=AKIA/x')).toBe(
      '…&X-Amz-Signature=[REDACTED]&X-Amz-Credential=[REDACTED]',
    );
  });

  it('leaves ordinary prose about tokens readable', () => {
    expect(redact('the token provided has expired')).toBe('the token provided has expired');
  });

  it('masks sensitive keys and strings deep inside objects and errors', () => {
    registerSecret('deep-secret-value-9');
    const out = redactDeep({
      headers: { Authorization: 'ApiToken whatever', accept: 'json' },
      nested: [{ note: 'has deep-secret-value-9 inside' }],
      error: new Error('failed with deep-secret-value-9'),
    });
    expect(JSON.stringify(out)).not.toContain('deep-secret-value-9');
    expect(out).toMatchObject({ headers: { Authorization: '[REDACTED]', accept: 'json' } });
  });

  it('safeUrl drops query, fragment and userinfo', () => {
    expect(safeUrl('https://user:pw@bucket.s3.amazonaws.com/rso/abc.zip?X-Amz-Signature=1#f')).toBe(
      'https://bucket.s3.amazonaws.com/rso/abc.zip',
    );
  });
});

describe('logger', () => {
  it('never writes a registered token, an Authorization header or a presigned signature', () => {
    const token = 'log-token-0123456789abcdef';
    registerSecret(token);
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    logger.setLogLevel('DEBUG');
    logger.info(`calling with ${token}`, {
      headers: { authorization: `ApiToken ${token}` },
      apiToken: token,
    });
    logger.error('failed', new S1AuthError(`rejected ${token}`));
    logger.warn('link', { url: 'https://b.s3.amazonaws.com/k?X-Amz-Signature=abcdef123' });
    logger.setLogLevel('WARN');
    const text = lines.join('');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(text).toContain('calling with [REDACTED]');
    expect(text).toContain('S1AuthError');
    expect(text).not.toContain(token);
    expect(text).not.toContain('abcdef123');
  });

  it('the replacer keeps non-sensitive values as they are', () => {
    expect(redactingReplacer('agentId', '1234567890123456789')).toBe('1234567890123456789');
    expect(redactingReplacer('count', 3)).toBe(3);
    expect(redactingReplacer('apiKey', 'x')).toBe('[REDACTED]');
  });
});
