/**
 * The "cloud storage" origin serving result files behind presigned links, behaving like S3 where clients can
 * trip over it: it refuses any request that also carries an Authorization header (a second auth mechanism),
 * checks the link's signature and expiry, answers GET/HEAD with Content-Length and single byte ranges (206),
 * and streams with backpressure so memory stays flat whatever the file size.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultAction, FaultController, FaultTarget } from './faults';
import type { LinkSigner } from './presign';
import { headerObject, queryObject, type RequestLog, type RequestLogEntry } from './request-log';
import type { PreparedResult } from './result-file';

/** Path prefix of result objects (as in real consoles' S3 links). */
export const RESULTS_PREFIX = '/rso-results/';

/** What the storage handler needs from the simulator. */
export interface StorageDeps {
  readonly clock: () => number;
  readonly faults: FaultController;
  readonly signer: LinkSigner;
  readonly log: RequestLog;
  /** The prepared result stored under a SHA-256 key. */
  lookup(sha256: string): PreparedResult | undefined;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An S3-style XML error. Never echoes header values (S3 echoes the Authorization value; we do not). */
function s3Error(
  res: ServerResponse,
  entry: RequestLogEntry,
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  const fields = Object.entries(extra)
    .map(([key, value]) => `<${key}>${escapeXml(value)}</${key}>`)
    .join('');
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>${fields}<RequestId>${randomUUID().slice(0, 16).toUpperCase()}</RequestId></Error>`;
  entry.status = status;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(entry.method === 'HEAD' ? undefined : body);
}

/** Parses `bytes=a-`, `bytes=a-b`, `bytes=-n`. Returns null for an unsatisfiable range, undefined to ignore. */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined; // multi-range or malformed: serve it all
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return null;
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return null;
  return { start, end };
}

function waitForDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function writeAndFlush(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    res.write(chunk, () => resolve());
  });
}

async function streamBody(
  res: ServerResponse,
  entry: RequestLogEntry,
  result: PreparedResult,
  start: number,
  end: number,
  fault: Extract<FaultAction, { type: 'reset' | 'truncate' }> | undefined,
  flipAt?: number,
): Promise<void> {
  let sent = 0;
  entry.bytesSent = 0;
  const limit = fault ? Math.max(0, fault.afterBytes) : Number.POSITIVE_INFINITY;
  let offset = start;
  for (const original of result.archive.read(start, end + 1)) {
    let chunk = original;
    if (flipAt !== undefined && flipAt >= offset && flipAt < offset + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[flipAt - offset] = (chunk[flipAt - offset] ?? 0) ^ 0x01;
    }
    offset += original.length;
    if (res.destroyed) {
      entry.aborted = true;
      return;
    }
    const piece = sent + chunk.length > limit ? chunk.subarray(0, limit - sent) : chunk;
    if (piece.length > 0) {
      sent += piece.length;
      entry.bytesSent = sent;
      if (sent >= limit) {
        // Make sure the promised bytes leave before the connection is broken.
        await writeAndFlush(res, piece);
      } else if (!res.write(piece)) {
        await waitForDrain(res);
      }
    }
    if (sent >= limit) break;
  }
  if (!fault || sent < limit) {
    res.end();
    return;
  }
  entry.aborted = true;
  if (fault.type === 'reset') {
    if (sent === 0) await writeAndFlush(res, Buffer.alloc(0));
    res.socket?.resetAndDestroy();
  } else {
    // `Connection: close` was set, so ending here closes the socket short of Content-Length.
    res.end();
  }
}

/** Creates the request handler of the storage server. */
export function createStorageHandler(deps: StorageDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://storage.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const entry = deps.log.add({
      at: deps.clock(),
      host: 'storage',
      method,
      path: url.pathname,
      route: url.pathname,
      query: queryObject(url.searchParams),
      headers: headerObject(req.headers),
      body: undefined,
      status: null,
    });
    req.resume();
    const target: FaultTarget = {
      host: 'storage',
      method,
      path: url.pathname,
      route: url.pathname,
      token: undefined,
    };
    const delay = deps.faults.takeAll(target, 'delay').reduce((sum, action) => sum + action.ms, 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const statusFault = deps.faults.takeFirst(target, ['status']);
    if (statusFault?.type === 'status') {
      if (statusFault.retryAfter !== undefined) res.setHeader('Retry-After', String(statusFault.retryAfter));
      const code =
        statusFault.status === 503 ? 'SlowDown' : statusFault.status >= 500 ? 'InternalError' : 'Error';
      s3Error(res, entry, statusFault.status, code, 'Injected fault');
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      s3Error(
        res,
        entry,
        405,
        'MethodNotAllowed',
        'The specified method is not allowed against this resource.',
      );
      return;
    }
    if (req.headers.authorization !== undefined) {
      s3Error(
        res,
        entry,
        400,
        'InvalidArgument',
        'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
        { ArgumentName: 'Authorization' },
      );
      return;
    }
    const check = deps.signer.verify(url.pathname, url.searchParams, req.headers.host ?? '');
    if (!check.ok && check.reason === 'missing') {
      s3Error(res, entry, 403, 'AccessDenied', 'Access Denied');
      return;
    }
    if (!check.ok && check.reason === 'signature') {
      s3Error(
        res,
        entry,
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      );
      return;
    }
    if (!check.ok || deps.faults.expireLinks) {
      s3Error(res, entry, 403, 'AccessDenied', 'Request has expired', {
        'X-Amz-Expires': url.searchParams.get('X-Amz-Expires') ?? '',
        ServerTime: new Date(deps.clock()).toISOString(),
      });
      return;
    }
    const key = url.pathname.startsWith(RESULTS_PREFIX) ? url.pathname.slice(RESULTS_PREFIX.length) : '';
    const result = deps.lookup(key);
    if (!result) {
      s3Error(res, entry, 404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
      return;
    }
    const range = parseRange(req.headers.range, result.size);
    if (range === null) {
      res.setHeader('Content-Range', `bytes */${result.size}`);
      s3Error(res, entry, 416, 'InvalidRange', 'The requested range is not satisfiable', {
        RangeRequested: req.headers.range ?? '',
        ActualObjectSize: String(result.size),
      });
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? result.size - 1;
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/zip',
      'Content-Length': end - start + 1,
      'Accept-Ranges': 'bytes',
      ETag: `"${result.sha256.slice(0, 32)}"`,
      'Last-Modified': new Date(deps.clock()).toUTCString(),
    };
    const disposition = url.searchParams.get('response-content-disposition');
    if (disposition) headers['Content-Disposition'] = disposition;
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${result.size}`;
    const bodyFault =
      method === 'GET' ? deps.faults.takeFirst(target, ['reset', 'truncate', 'flip']) : undefined;
    if (bodyFault?.type === 'truncate') headers.Connection = 'close';
    entry.status = range ? 206 : 200;
    res.writeHead(entry.status, headers);
    if (method === 'HEAD' || result.size === 0) {
      res.end();
      return;
    }
    await streamBody(
      res,
      entry,
      result,
      start,
      end,
      bodyFault?.type === 'reset' || bodyFault?.type === 'truncate' ? bodyFault : undefined,
      bodyFault?.type === 'flip' ? bodyFault.at : undefined,
    );
  };
  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(String(error));
      } else {
        res.destroy();
      }
    });
  };
}
