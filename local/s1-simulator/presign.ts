/**
 * Presigned-style download links, shaped like the S3 SigV4 query-string URLs real consoles hand out
 * (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders=host`,
 * `X-Amz-Signature`). The signature is an HMAC over the method, path, sorted query and host with a per-simulator
 * secret — not real SigV4, but tamper-evident in the same places; expiry is checked in simulated time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Outcome of {@link LinkSigner.verify}. */
export type LinkCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'missing' | 'signature' | 'expired'; readonly expiredAt?: number };

const SIGNED_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
];

function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

function parseAmzDate(value: string): number {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return Number.NaN;
  const [, y, mo, d, h, mi, s] = match.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

function canonicalQuery(params: URLSearchParams): string {
  return [...params.entries()]
    .filter(([key]) => key !== 'X-Amz-Signature')
    .map(([key, value]) => [encodeURIComponent(key), encodeURIComponent(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

/** Signs and verifies download links of one storage origin. */
export class LinkSigner {
  constructor(
    private readonly secret: Buffer,
    private readonly clock: () => number,
    private readonly accessKeyId = 'ASIAS1SIMULATOR00001',
    private readonly region = 'eu-central-1',
  ) {}

  private signature(path: string, params: URLSearchParams, host: string): string {
    const canonical = ['GET', path, canonicalQuery(params), `host:${host}`].join('\n');
    return createHmac('sha256', this.secret).update(canonical).digest('hex');
  }

  /** A link to `path` on `origin` valid for `expiresSeconds` from now (simulated time). */
  sign(origin: string, path: string, expiresSeconds: number, extra: Record<string, string> = {}): string {
    const url = new URL(path, origin);
    const at = this.clock();
    const day = amzDate(at).slice(0, 8);
    url.searchParams.set('X-Amz-Algorithm', 'AWS4-HMAC-SHA256');
    url.searchParams.set('X-Amz-Credential', `${this.accessKeyId}/${day}/${this.region}/s3/aws4_request`);
    url.searchParams.set('X-Amz-Date', amzDate(at));
    url.searchParams.set('X-Amz-Expires', String(expiresSeconds));
    url.searchParams.set('X-Amz-SignedHeaders', 'host');
    for (const [key, value] of Object.entries(extra)) url.searchParams.set(key, value);
    url.searchParams.set('X-Amz-Signature', this.signature(url.pathname, url.searchParams, url.host));
    return url.toString();
  }

  /** Checks a request's signature (against its Host header) and expiry. */
  verify(path: string, params: URLSearchParams, host: string): LinkCheck {
    const given = params.get('X-Amz-Signature');
    if (!given || SIGNED_PARAMS.some((name) => !params.has(name))) return { ok: false, reason: 'missing' };
    const expected = Buffer.from(this.signature(path, params, host));
    const actual = Buffer.from(given);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      return { ok: false, reason: 'signature' };
    }
    const signedAt = parseAmzDate(params.get('X-Amz-Date') ?? '');
    const expires = Number(params.get('X-Amz-Expires'));
    const expiredAt = signedAt + expires * 1000;
    if (!Number.isFinite(expiredAt) || this.clock() > expiredAt)
      return { ok: false, reason: 'expired', expiredAt };
    return { ok: true };
  }
}
