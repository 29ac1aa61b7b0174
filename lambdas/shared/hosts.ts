/**
 * Which hosts we talk to. The S1 console must be https on an allowlisted host (`*.sentinelone.net` by default);
 * result downloads come only from allowlisted storage hosts. Loopback (plain http allowed) is accepted only when a
 * local run turns it on explicitly.
 */
import { DEFAULT_DOWNLOAD_HOSTS as CONTRACT_DOWNLOAD_HOSTS } from './contract';
import { HostNotAllowedError } from './errors';
import { safeUrl } from './redact';

/** Where a URL may point. */
export interface HostPolicy {
  /**
   * Exact host names, `*.example.com` for any subdomain of example.com (not the apex itself), or a name with
   * `{region}` standing for one AWS region name, the same wherever it occurs (see {@link hostMatches}).
   */
  readonly allowedHosts: readonly string[];
  /** Accept 127.0.0.1, ::1 and localhost over http or https (local runs only). @default false */
  readonly allowLoopback?: boolean;
}

/** Default allowlist for S1 management consoles. */
export const DEFAULT_S1_HOSTS: readonly string[] = ['*.sentinelone.net'];
/**
 * Default allowlist for S1 result downloads: S1's own per-region results bucket on the regional S3 endpoint
 * (`{region}-prod-remote-scripts-uploads.s3.{region}.amazonaws.com`; the source is in `contract.ts`).
 */
export const DEFAULT_DOWNLOAD_HOSTS: readonly string[] = CONTRACT_DOWNLOAD_HOSTS;

/** An AWS region name: `eu-central-1`, `us-gov-west-1`, `ap-southeast-3`. */
export const AWS_REGION_PATTERN = '[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\\d{1,2}';

const LOOPBACK = new Set(['::1', '[::1]', 'localhost']);

/**
 * True when `host` (no port) matches `pattern`: exact, `*.suffix` (any subdomain, not the apex), or with `{region}`
 * placeholders, each matching one AWS region name and all of them the same one. Case-insensitive.
 */
export function hostMatches(host: string, pattern: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const p = pattern.toLowerCase().trim();
  if (p.includes('{region}')) {
    const [first, ...rest] = p.split('{region}').map(escapeRegExp);
    const source = `^${first}(${AWS_REGION_PATTERN})${rest.join('\\1')}$`;
    return new RegExp(source).test(h);
  }
  if (p.startsWith('*.')) {
    const suffix = p.slice(1); // ".example.com"
    return h.endsWith(suffix) && h.length > suffix.length;
  }
  return h === p;
}

/** True for loopback hosts: localhost, ::1 and 127.0.0.0/8 (the same rule as the CDK config's). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK.has(h) || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Parses `url` and checks it against `policy`; throws {@link HostNotAllowedError} naming what was wrong.
 * `what` describes the URL in the message, e.g. "S1 console URL".
 */
export function assertAllowedUrl(url: string, policy: HostPolicy, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HostNotAllowedError(`${what} is not a valid URL`);
  }
  const shown = safeUrl(parsed);
  if (parsed.username || parsed.password) {
    throw new HostNotAllowedError(`${what} must not carry credentials in the URL (${shown})`);
  }
  const loopback = isLoopbackHost(parsed.hostname);
  if (loopback) {
    if (policy.allowLoopback && (parsed.protocol === 'http:' || parsed.protocol === 'https:')) return parsed;
    throw new HostNotAllowedError(
      `${what} points at a loopback host (${shown}); loopback is allowed only for local runs (allowLoopback)`,
    );
  }
  if (parsed.protocol !== 'https:') {
    throw new HostNotAllowedError(`${what} must use https (${shown})`);
  }
  if (!policy.allowedHosts.some((pattern) => hostMatches(parsed.hostname, pattern))) {
    throw new HostNotAllowedError(
      `${what} host "${parsed.hostname}" is not on the allowlist [${policy.allowedHosts.join(', ')}]`,
    );
  }
  return parsed;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
