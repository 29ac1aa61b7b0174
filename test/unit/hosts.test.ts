import { describe, expect, it } from 'vitest';
import { HostNotAllowedError } from '../../lambdas/shared/errors';
import {
  assertAllowedUrl,
  DEFAULT_DOWNLOAD_HOSTS,
  DEFAULT_S1_HOSTS,
  hostMatches,
} from '../../lambdas/shared/hosts';
import { hostAllowed } from '../../lib/config';

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

describe('default result-download allowlist: S1’s regional results bucket only', () => {
  const S1_BUCKET = 'eu-central-1-prod-remote-scripts-uploads.s3.eu-central-1.amazonaws.com';
  // host → admitted by the default allowlist
  const table: [string, boolean][] = [
    [S1_BUCKET, true],
    ['us-east-1-prod-remote-scripts-uploads.s3.us-east-1.amazonaws.com', true],
    ['ap-southeast-2-prod-remote-scripts-uploads.s3.ap-southeast-2.amazonaws.com', true],
    ['us-gov-west-1-prod-remote-scripts-uploads.s3.us-gov-west-1.amazonaws.com', true],
    ['EU-CENTRAL-1-PROD-REMOTE-SCRIPTS-UPLOADS.S3.EU-CENTRAL-1.AMAZONAWS.COM', true],
    // the region of the bucket name and of the endpoint must be the same
    ['eu-central-1-prod-remote-scripts-uploads.s3.us-east-1.amazonaws.com', false],
    // any other bucket, on any S3 endpoint form
    ['attacker-bucket.s3.eu-central-1.amazonaws.com', false],
    ['evil-prod-remote-scripts-uploads.s3.eu-central-1.amazonaws.com', false],
    ['x.eu-central-1-prod-remote-scripts-uploads.s3.eu-central-1.amazonaws.com', false],
    ['eu-central-1-prod-remote-scripts-uploads.s3.amazonaws.com', false],
    ['s3.eu-central-1.amazonaws.com', false],
    ['s3.amazonaws.com', false],
    // API hosts and look-alikes
    ['sts.amazonaws.com', false],
    ['lambda.eu-central-1.amazonaws.com', false],
    ['eu-central-1-prod-remote-scripts-uploads.s3.eu-central-1.amazonaws.com.evil.com', false],
    ['eu-central-1-prod-remote-scripts-uploads.s3.eu-central-1.amazonaws.co', false],
    ['eu-central-1-prod-remote-scripts-uploads-s3-eu-central-1-amazonaws.com', false],
  ];

  it.each(table)('%s → %s (runtime and CDK config agree)', (host, admitted) => {
    expect(DEFAULT_DOWNLOAD_HOSTS.some((p) => hostMatches(host, p))).toBe(admitted);
    expect(hostAllowed(host, DEFAULT_DOWNLOAD_HOSTS)).toBe(admitted);
  });

  it('refuses any other host before connecting, and takes a configured host', () => {
    const link = (host: string) => `https://${host}/rso-results/abc?X-Amz-Signature=secret123`;
    expect(
      assertAllowedUrl(link(S1_BUCKET), { allowedHosts: DEFAULT_DOWNLOAD_HOSTS }, 'Result').hostname,
    ).toBe(S1_BUCKET);
    expect(() =>
      assertAllowedUrl(
        link('attacker.s3.eu-central-1.amazonaws.com'),
        { allowedHosts: DEFAULT_DOWNLOAD_HOSTS },
        'Result',
      ),
    ).toThrow(HostNotAllowedError);
    const widened = [...DEFAULT_DOWNLOAD_HOSTS, 'downloads.example.com'];
    expect(
      assertAllowedUrl(link('downloads.example.com'), { allowedHosts: widened }, 'Result').hostname,
    ).toBe('downloads.example.com');
  });

  it('a {region} pattern matches one region name only', () => {
    const p = '{region}.example.com';
    expect(hostMatches('eu-west-3.example.com', p)).toBe(true);
    expect(hostMatches('eu.west.3.example.com', p)).toBe(false);
    expect(hostMatches('example.com', p)).toBe(false);
    expect(hostMatches('a.eu-west-3.example.com', p)).toBe(false);
  });
});
