/**
 * What S3 does for presigned multipart uploads and s3rver does not (the direct-to-S3 path relies on every one):
 *
 * - {@link presignedRequests}: s3rver accepts any SigV4 query signature ("V4 signatures have incomplete support").
 *   S3 recomputes it over the method, the path (the key), the query (upload id, part number) and the signed
 *   headers: a URL used for another key, method or part answers 403 `SignatureDoesNotMatch`; one past
 *   `X-Amz-Date + X-Amz-Expires` answers 403 `AccessDenied` "Request has expired"; `X-Amz-Expires` over a week is
 *   400 `AuthorizationQueryParametersError`; an `x-amz-*` header the signature does not cover is 403 `AccessDenied`
 *   "There were headers present in the request which were not signed" (so the holder of a URL cannot add a
 *   checksum header the signer did not know: the part's `Content-MD5`, a standard header, is how such a client
 *   asks S3 to verify the bytes). Only query-signed requests are checked (the SDK clients of the
 *   handlers sign with an Authorization header, which stays as s3rver treats it).
 * - {@link multipartChecksums}: s3rver ignores `x-amz-checksum-*` and does not tie an upload id to its key. S3
 *   computes the SHA-256 of every UploadPart body sent with `x-amz-checksum-sha256`, and the MD5 of one sent with
 *   `Content-MD5`, and refuses a mismatch with 400 `BadDigest` (the part is not stored); an upload created with `x-amz-checksum-algorithm: SHA256` refuses a
 *   part without that checksum (400 `InvalidRequest`); a part or completion for an upload id under another key is
 *   404 `NoSuchUpload`; a part sent without Content-Length (chunked) is 411 `MissingContentLength`; ListParts (GET `?uploadId`, which s3rver lacks) lists the parts with their size, ETag and
 *   `ChecksumSHA256`; CompleteMultipartUpload refuses a part whose `ChecksumSHA256` differs from the stored one
 *   (400 `InvalidPart`); AbortMultipartUpload (which s3rver lacks) ends the upload, and any later request on a
 *   completed or aborted upload id is 404 `NoSuchUpload`. Completion answers the object's composite checksum (`<base64 of SHA-256 of the part digests>-N`).
 *   Other checksum algorithms are not verified here (the staging path's CRC32 parts are as s3rver stores them).
 *
 * Path-style requests only (`/<bucket>/<key>`), like the other middlewares of `local/s3.ts`.
 */
import { createHash, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { Readable, Transform, type TransformCallback } from 'node:stream';

const S3Error = createRequire(__filename)('s3rver/lib/models/error') as new (
  code: string,
  message: string,
  detail?: Record<string, string>,
) => Error;

/** The part of a Koa context these middlewares read and set. */
export interface DirectContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string | string[] | undefined>;
  readonly headers: Record<string, string | string[] | undefined>;
  req: NodeJS.ReadableStream & { url?: string };
  body: unknown;
  status: number;
  readonly response: { get(field: string): string };
  set(field: string, value: string): void;
}
type Middleware = (ctx: DirectContext, next: () => Promise<unknown>) => Promise<unknown>;

/** S3's longest presigned lifetime: seven days. */
const MAX_EXPIRES_SECONDS = 604_800;

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves `!'()*`). */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function header(ctx: DirectContext, name: string): string | undefined {
  const value = ctx.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/** Options of {@link presignedRequests}. */
export interface PresignedRequestsOptions {
  /** Secret access key by access key id. */
  readonly secrets: Readonly<Record<string, string>>;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Verifies SigV4 query signatures (presigned URLs) as S3 does: see the module comment. */
export function presignedRequests(options: PresignedRequestsOptions): Middleware {
  const now = options.now ?? Date.now;
  return async (ctx, next) => {
    const rawUrl = ctx.req.url ?? '';
    const [rawPath = '/', rawQuery = ''] = rawUrl.split('?', 2) as [string, string?];
    const pairs = rawQuery
      .split('&')
      .filter((p) => p !== '')
      .map((p) => {
        const at = p.indexOf('=');
        const k = at < 0 ? p : p.slice(0, at);
        const v = at < 0 ? '' : p.slice(at + 1);
        const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, '%20'));
        return [dec(k), dec(v)] as [string, string];
      });
    const q = new Map(pairs);
    if (q.get('X-Amz-Algorithm') === undefined) return next();
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
      throw new S3Error(
        'AuthorizationQueryParametersError',
        'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
      );
    }
    const credential = q.get('X-Amz-Credential') ?? '';
    const amzDate = q.get('X-Amz-Date') ?? '';
    const expires = Number(q.get('X-Amz-Expires'));
    const signedHeaders = q.get('X-Amz-SignedHeaders') ?? '';
    const provided = q.get('X-Amz-Signature') ?? '';
    const [accessKeyId = '', ...scopeParts] = credential.split('/');
    const signedAt = parseAmzDate(amzDate);
    if (scopeParts.length !== 4 || Number.isNaN(signedAt) || !Number.isInteger(expires) || !provided) {
      throw new S3Error(
        'AuthorizationQueryParametersError',
        'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
      );
    }
    if (expires < 1 || expires > MAX_EXPIRES_SECONDS) {
      throw new S3Error(
        'AuthorizationQueryParametersError',
        'X-Amz-Expires must be less than a week (in seconds) that is 604800',
      );
    }
    const secret = options.secrets[accessKeyId];
    if (secret === undefined) {
      throw new S3Error(
        'InvalidAccessKeyId',
        'The AWS Access Key Id you provided does not exist in our records.',
        {
          AWSAccessKeyId: accessKeyId,
        },
      );
    }
    const at = now();
    if (at > signedAt + expires * 1000) {
      throw new S3Error('AccessDenied', 'Request has expired', {
        'X-Amz-Expires': String(expires),
        Expires: new Date(signedAt + expires * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        ServerTime: new Date(at).toISOString().replace(/\.\d+Z$/, 'Z'),
      });
    }
    const canonicalQuery = pairs
      .filter(([k]) => k !== 'X-Amz-Signature')
      .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
      .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const names = signedHeaders.split(';').filter((n) => n !== '');
    const canonicalHeaders = names
      .map((n) => `${n}:${(header(ctx, n) ?? '').trim().replace(/\s+/g, ' ')}\n`)
      .join('');
    const payload = q.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
    const canonicalRequest = [
      ctx.method,
      rawPath,
      canonicalQuery,
      canonicalHeaders,
      signedHeaders,
      payload,
    ].join('\n');
    const scope = scopeParts.join('/');
    const stringToSign = [
      'AWS4-HMAC-SHA256',
      amzDate,
      scope,
      createHash('sha256').update(canonicalRequest).digest('hex'),
    ].join('\n');
    let key: Buffer = Buffer.from(`AWS4${secret}`);
    for (const part of scopeParts) key = createHmac('sha256', key).update(part).digest();
    const expected = createHmac('sha256', key).update(stringToSign).digest('hex');
    if (expected !== provided.toLowerCase()) {
      throw new S3Error(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
        { AWSAccessKeyId: accessKeyId, StringToSign: stringToSign, CanonicalRequest: canonicalRequest },
      );
    }
    // Every x-amz-* header must be signed: a checksum the signer did not know cannot be added by the holder.
    const unsigned = Object.keys(ctx.headers).filter((n) => n.startsWith('x-amz-') && !names.includes(n));
    if (unsigned.length > 0) {
      throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', {
        HeadersNotSigned: unsigned.join(', '),
      });
    }
    return next();
  };
}

/** One part as S3 keeps it. */
interface StoredPart {
  readonly size: number;
  readonly etag: string;
  /** Base64 SHA-256 of the part, when it was sent with one. */
  readonly sha256: string | null;
  /** Raw digest, for the composite checksum. */
  readonly digest: Buffer;
  readonly lastModified: string;
}

interface UploadRecord {
  readonly bucket: string;
  readonly key: string;
  readonly algorithm: string | null;
  readonly parts: Map<number, StoredPart>;
}

class Sha256Counter extends Transform {
  readonly hash = createHash('sha256');
  readonly md5 = createHash('md5');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.md5.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

function bucketAndKey(ctx: DirectContext): { bucket: string; key: string } | undefined {
  const [bucket, ...rest] = ctx.path.replace(/^\//, '').split('/');
  if (!bucket || rest.length === 0 || rest.join('/') === '') return undefined;
  return { bucket: decodeURIComponent(bucket), key: rest.map(decodeURIComponent).join('/') };
}

function noSuchUpload(uploadId: string): Error {
  return new S3Error(
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    { UploadId: uploadId },
  );
}

async function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Multipart checksums, upload-to-key binding and ListParts as S3 has them: see the module comment. */
export function multipartChecksums(): Middleware {
  const uploads = new Map<string, UploadRecord>();
  // Completed or aborted: S3 answers NoSuchUpload for them from then on.
  const ended = new Set<string>();
  return async (ctx, next) => {
    const target = bucketAndKey(ctx);
    const uploadId = typeof ctx.query.uploadId === 'string' ? ctx.query.uploadId : undefined;
    if (!target) return next();

    // CreateMultipartUpload: remember the key and the checksum algorithm.
    if (ctx.method === 'POST' && ctx.query.uploads !== undefined) {
      await next();
      const result = (ctx.body as { InitiateMultipartUploadResult?: { UploadId?: string } } | undefined)
        ?.InitiateMultipartUploadResult;
      const algorithm = header(ctx, 'x-amz-checksum-algorithm')?.toUpperCase() ?? null;
      if (result?.UploadId) {
        uploads.set(result.UploadId, { ...target, algorithm, parts: new Map() });
        if (algorithm) ctx.set('x-amz-checksum-algorithm', algorithm);
      }
      return undefined;
    }
    if (uploadId === undefined) return next();
    if (ended.has(uploadId)) throw noSuchUpload(uploadId);
    const upload = uploads.get(uploadId);
    // An upload this middleware did not see created (none in practice) is left to s3rver.
    if (!upload) return next();
    if (upload.bucket !== target.bucket || upload.key !== target.key) throw noSuchUpload(uploadId);

    // UploadPart: hash the body on its way to the store, refuse a mismatch.
    if (ctx.method === 'PUT' && ctx.query.partNumber !== undefined) {
      const partNumber = Number(ctx.query.partNumber);
      const claimed = header(ctx, 'x-amz-checksum-sha256');
      if (upload.algorithm === 'SHA256' && claimed === undefined) {
        throw new S3Error(
          'InvalidRequest',
          'Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: null',
        );
      }
      // S3 takes no chunked body on a plain (not aws-chunked) PUT: the length must be announced.
      if (header(ctx, 'content-length') === undefined) {
        throw new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.');
      }
      const md5 = header(ctx, 'content-md5');
      if (md5 !== undefined && Buffer.from(md5, 'base64').length !== 16) {
        throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was not valid.');
      }
      const counter = new Sha256Counter();
      const body = ctx.req;
      body.pipe(counter);
      ctx.req = counter as unknown as DirectContext['req'];
      await next();
      const digest = counter.hash.digest();
      const actual = digest.toString('base64');
      if (md5 !== undefined && md5 !== counter.md5.digest('base64')) {
        upload.parts.delete(partNumber);
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
      }
      if (claimed !== undefined && claimed !== actual) {
        upload.parts.delete(partNumber);
        throw new S3Error('BadDigest', 'The SHA256 you specified did not match the calculated checksum.');
      }
      upload.parts.set(partNumber, {
        size: counter.bytes,
        etag: ctx.response.get('ETag'),
        sha256: claimed === undefined ? null : actual,
        digest,
        lastModified: new Date().toISOString(),
      });
      if (claimed !== undefined) ctx.set('x-amz-checksum-sha256', actual);
      return undefined;
    }

    // ListParts.
    if (ctx.method === 'GET') {
      const maxParts = Math.min(1000, Number(ctx.query['max-parts'] ?? 1000) || 1000);
      const marker = Number(ctx.query['part-number-marker'] ?? 0) || 0;
      const numbers = [...upload.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
      const page = numbers.slice(0, maxParts);
      const truncated = numbers.length > page.length;
      ctx.body = {
        ListPartsResult: {
          Bucket: upload.bucket,
          Key: upload.key,
          UploadId: uploadId,
          PartNumberMarker: marker,
          NextPartNumberMarker: page.at(-1) ?? marker,
          MaxParts: maxParts,
          IsTruncated: truncated,
          ...(upload.algorithm ? { ChecksumAlgorithm: upload.algorithm } : {}),
          Part: page.map((n) => {
            const p = upload.parts.get(n) as StoredPart;
            return {
              PartNumber: n,
              LastModified: p.lastModified,
              ETag: p.etag,
              Size: p.size,
              ...(p.sha256 ? { ChecksumSHA256: p.sha256 } : {}),
            };
          }),
        },
      };
      return undefined;
    }

    // AbortMultipartUpload (s3rver has none): the parts are gone, the id unknown from now on.
    if (ctx.method === 'DELETE') {
      uploads.delete(uploadId);
      ended.add(uploadId);
      ctx.body = null;
      ctx.status = 204;
      return undefined;
    }

    // CompleteMultipartUpload: each listed part must exist with the same checksum.
    if (ctx.method === 'POST') {
      const xml = (await readAll(ctx.req, 1024 * 1024)).toString('utf8');
      const listed = [...xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => {
        const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(m[1] ?? '')?.[1];
        return { number: Number(field('PartNumber')), sha256: field('ChecksumSHA256') };
      });
      const digests: Buffer[] = [];
      for (const part of listed) {
        const stored = upload.parts.get(part.number);
        const missingChecksum = upload.algorithm === 'SHA256' && part.sha256 === undefined;
        if (!stored || (part.sha256 !== undefined && part.sha256 !== stored.sha256) || missingChecksum) {
          throw new S3Error(
            'InvalidPart',
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.",
            { UploadId: uploadId, PartNumber: String(part.number) },
          );
        }
        digests.push(stored.digest);
      }
      ctx.req = Readable.from([Buffer.from(xml)]) as unknown as DirectContext['req'];
      await next();
      uploads.delete(uploadId);
      ended.add(uploadId);
      const result = (ctx.body as { CompleteMultipartUploadResult?: Record<string, unknown> } | undefined)
        ?.CompleteMultipartUploadResult;
      if (result && upload.algorithm === 'SHA256') {
        const composite = `${createHash('sha256').update(Buffer.concat(digests)).digest('base64')}-${digests.length}`;
        ctx.body = { CompleteMultipartUploadResult: { ...result, ChecksumSHA256: composite } };
      }
      return undefined;
    }
    return next();
  };
}
