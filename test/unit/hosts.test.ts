import { describe, expect, it } from 'vitest';
import { assertAllowedUrl, DEFAULT_S1_HOSTS, hostMatches } from '../../lambdas/shared/hosts';

describe('host allowlist', () => {
  it('matches exact hosts and subdomain wildcards, not the apex or look-alikes', () => {
    expect(hostMatches('usea1-acme.sentinelone.net', '*.sentinelone.net')).toBe(true);
    expect(hostMatches('a.b.sentinelone.net', '*.sentinelone.net')).toBe(true);
    expect(hostMatches('sentinelone.net', '*.sentinelone.net')).toBe(false);
    expect(hostMatches('evil-sentinelone.net', '*.sentinelone.net')).toBe(false);
    expect(hostMatches('usea1.sentinelone.net.evil.com', '*.sentinelone.net')).toBe(false);
    expect(hostMatches('CADO.example.com', 'cado.example.com')).toBe(true);
  });

  it('accepts an https console on the allowlist', () => {
    expect(
      assertAllowedUrl(
        'https://usea1-acme.sentinelone.net',
        { allowedHosts: DEFAULT_S1_HOSTS },
        'S1 console URL',
      ).host,
    ).toBe('usea1-acme.sentinelone.net');
  });

  it.each([
    ['http://usea1-acme.sentinelone.net', 'must use https'],
    ['https://example.com', 'not on the allowlist'],
    ['https://u:p@usea1-acme.sentinelone.net', 'must not carry credentials'],
    ['http://127.0.0.1:8080', 'loopback is allowed only for local runs'],
    ['not a url', 'not a valid URL'],
  ])('refuses %s', (url, reason) => {
    expect(() => assertAllowedUrl(url, { allowedHosts: DEFAULT_S1_HOSTS }, 'S1 console URL')).toThrow(reason);
  });

  it('treats all of 127.0.0.0/8 as loopback, as the CDK config does', () => {
    expect(() => assertAllowedUrl('http://127.0.0.2:9', { allowedHosts: DEFAULT_S1_HOSTS }, 'x')).toThrow(
      'loopback',
    );
    expect(assertAllowedUrl('http://127.0.0.2:9', { allowedHosts: [], allowLoopback: true }, 'x').port).toBe(
      '9',
    );
  });

  it('accepts loopback over http only when explicitly enabled', () => {
    expect(
      assertAllowedUrl('http://127.0.0.1:8080', { allowedHosts: DEFAULT_S1_HOSTS, allowLoopback: true }, 'x')
        .port,
    ).toBe('8080');
  });
});
