/**
 * Downloads an S1 result file from its presigned link, resuming with `Range` when the connection breaks or the body
 * ends short, and asking for a fresh link when the old one has expired. It never sends credentials: presigned links
 * carry their own, and S3-style storage rejects a second auth mechanism (the S1 token must never leave for another
 * host anyway). Bytes flow through in order exactly once, so a hash computed by the consumer covers the whole file.
 */
import { now } from '../clock';
import {
  DownloadError,
  DownloadInterruptedError,
  DownloadLinkExpiredError,
  ResultTooLargeError,
} from '../errors';
import { assertAllowedUrl, type HostPolicy } from '../hosts';
import { type Dispatcher, defaultDispatcher } from '../http';
import { type BodySink, type ReceivedResponse, receive } from '../http-receive';
import { logger } from '../observability';
import { safeUrl } from '../redact';

/** Options for {@link receiveResumable}. */
export interface ResumableDownloadOptions {
  /** Returns a download URL; called first and again whenever the current link has expired. */
  readonly getUrl: () => Promise<string>;
  /** Hosts the link may point at. */
  readonly policy: HostPolicy;
  /**
   * The largest result accepted: a larger announced Content-Length fails with {@link ResultTooLargeError} as soon as
   * the response headers arrive, before any body byte is passed on.
   */
  readonly maxBytes: number;
  readonly dispatcher?: Dispatcher;
  /** Resumes allowed after breaks or short bodies. @default 5 */
  readonly maxResumes?: number;
  /** Fresh links allowed after expiry. @default 2 */
  readonly maxLinkRefreshes?: number;
  /** Time to wait for response headers, per request. @default 30000 */
  readonly headersTimeoutMs?: number;
  /** Longest silence allowed while the body flows. @default 60000 */
  readonly idleTimeoutMs?: number;
  /** No resume starts after this clock time (epoch ms); keeps the Lambda inside its own timeout. */
  readonly deadline?: number;
  /** Called as bytes arrive (not on every chunk: at most every 4 MiB and at the end). */
  readonly onProgress?: (bytes: number, totalBytes: number) => void;
  readonly signal?: AbortSignal;
}

/** What happened during a download. */
export interface DownloadStats {
  readonly bytes: number;
  readonly totalBytes: number;
  readonly resumes: number;
  readonly linkRefreshes: number;
  /** The file name the storage host suggested, if any (Content-Disposition). */
  readonly suggestedFileName: string | undefined;
}

/**
 * Where a download's bytes go, in order, exactly once. `start` is called once, with the announced length, before
 * any byte; `write` gets views that are valid only until it returns (or, when it returns a promise, until that
 * settles; reading pauses meanwhile). An error thrown by the sink ends the download with that error (it is never
 * taken for a broken connection).
 */
export interface DownloadSink {
  start(totalBytes: number): void;
  /** Memory the next socket read may land in (see {@link BodySink.region}); undefined for the reader's own. */
  region?(): Uint8Array | undefined;
  write(chunk: Buffer): Promise<void> | undefined;
}

const PROGRESS_STEP = 4 * 1024 * 1024;

/**
 * Downloads the result into `sink` (the staging hot path: the body is read with `http-receive.ts`, straight into
 * the sink's memory where it offers some), resuming as described above; resolves with what happened once every
 * byte was written, rejects otherwise.
 */
export async function receiveResumable(
  options: ResumableDownloadOptions,
  sink: DownloadSink,
): Promise<DownloadStats> {
  const maxResumes = options.maxResumes ?? 5;
  const maxLinkRefreshes = options.maxLinkRefreshes ?? 2;
  const dispatcher = options.dispatcher ?? defaultDispatcher();
  let url = await freshUrl(options);
  let offset = 0;
  let total: number | undefined;
  let resumes = 0;
  let linkRefreshes = 0;
  let suggestedFileName: string | undefined;
  let nextProgress = PROGRESS_STEP;

  const interrupted = (why: string, cause?: unknown): void => {
    resumes++;
    if (resumes > maxResumes) {
      throw new DownloadInterruptedError(
        `Result download from ${safeUrl(url)} broke off ${resumes} times (last: ${why}) at byte ${offset} of ${total ?? '?'}`,
        { cause, details: { bytes: offset, totalBytes: total ?? null } },
      );
    }
    if (options.deadline !== undefined && now() >= options.deadline) {
      throw new DownloadInterruptedError(
        `Result download broke off (${why}) at byte ${offset} of ${total ?? '?'} and no time is left to resume`,
        { cause, details: { bytes: offset, totalBytes: total ?? null } },
      );
    }
    logger.warn('Result download interrupted; resuming', { why, offset, totalBytes: total, resumes });
  };

  for (;;) {
    let response: ReceivedResponse;
    try {
      response = await receive(url, {
        // Deliberately no Authorization header: the link is presigned.
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        dispatcher,
        headersTimeout: options.headersTimeoutMs ?? 30_000,
        bodyTimeout: options.idleTimeoutMs ?? 60_000,
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      interrupted(`request failed: ${describe(error)}`, error);
      continue;
    }

    if (response.statusCode === 403 || response.statusCode === 401) {
      const reason = await storageErrorText(response);
      linkRefreshes++;
      if (linkRefreshes > maxLinkRefreshes) {
        throw new DownloadLinkExpiredError(
          `Storage refused the result link ${linkRefreshes} times (${response.statusCode}${reason ? `: ${reason}` : ''})`,
        );
      }
      logger.warn('Result link refused; fetching a fresh one', {
        status: response.statusCode,
        reason,
        offset,
      });
      url = await freshUrl(options);
      continue;
    }
    if (response.statusCode >= 500 || response.statusCode === 429) {
      response.body.destroy();
      interrupted(`storage answered ${response.statusCode}`);
      continue;
    }

    let skip = 0;
    if (offset === 0) {
      if (response.statusCode !== 200) {
        response.body.destroy();
        throw new DownloadError(`Storage answered ${response.statusCode} to the result download`);
      }
      total = contentLength(response.headers);
      if (total === undefined) {
        response.body.destroy();
        // Without a length we could not tell a complete file from a cut-off one.
        throw new DownloadError(
          'Storage sent the result without a Content-Length; its completeness cannot be verified',
        );
      }
      if (total > options.maxBytes) {
        // Close the connection rather than drain a body that may be endless.
        response.body.destroy();
        throw new ResultTooLargeError(
          `Storage announced a result of ${total} bytes, more than the ${options.maxBytes} bytes accepted ` +
            '(maxResultBytes); nothing was uploaded. Raise s1cado.maxResultBytes if the collection is really that large',
          { details: { totalBytes: total, maxResultBytes: options.maxBytes } },
        );
      }
      suggestedFileName = fileNameFrom(response.headers['content-disposition']);
      try {
        sink.start(total);
      } catch (error) {
        response.body.destroy();
        throw error;
      }
    } else if (response.statusCode === 206) {
      const range = parseContentRange(response.headers['content-range']);
      if (!range || range.start !== offset || range.total !== total) {
        response.body.destroy();
        throw new DownloadError(
          `Storage answered a resume from byte ${offset} with an unexpected range (${String(response.headers['content-range'])})`,
        );
      }
    } else if (response.statusCode === 200) {
      // The server ignored Range: the body starts from byte 0 again. Skip what we already have.
      if (contentLength(response.headers) !== total) {
        response.body.destroy();
        throw new DownloadError(
          'The result changed size between attempts; refusing to stitch two different files',
        );
      }
      skip = offset;
    } else {
      response.body.destroy();
      throw new DownloadError(`Storage answered ${response.statusCode} to a resumed download`);
    }

    const expectedTotal = total as number;
    // Errors of our own (too many bytes) and of the sink end the download; only the connection's are resumed.
    let fatal: { error: unknown } | undefined;
    const sinkFailed = (error: unknown) => {
      fatal ??= { error };
      throw error;
    };
    const attempt: BodySink = {
      region: () => (skip > 0 || !sink.region ? undefined : sink.region()),
      write: (raw) => {
        let chunk = raw;
        if (skip > 0) {
          if (chunk.length <= skip) {
            skip -= chunk.length;
            return undefined;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        if (offset + chunk.length > expectedTotal) {
          sinkFailed(new DownloadError(`Storage sent more than the ${expectedTotal} bytes it announced`));
        }
        offset += chunk.length;
        let pending: Promise<void> | undefined;
        try {
          pending = sink.write(chunk);
        } catch (error) {
          sinkFailed(error);
        }
        if (offset >= nextProgress) {
          options.onProgress?.(offset, expectedTotal);
          nextProgress = offset + PROGRESS_STEP;
        }
        return pending?.catch(sinkFailed);
      },
    };
    try {
      await response.body.pipeTo(attempt);
    } catch (error) {
      if (fatal) throw fatal.error;
      if (options.signal?.aborted) throw options.signal.reason;
      interrupted(`connection broke: ${describe(error)}`, error);
      continue;
    }
    if (offset < expectedTotal) {
      interrupted(`body ended at byte ${offset} of ${expectedTotal}`);
      continue;
    }
    options.onProgress?.(offset, expectedTotal);
    return { bytes: offset, totalBytes: expectedTotal, resumes, linkRefreshes, suggestedFileName };
  }
}

async function freshUrl(options: ResumableDownloadOptions): Promise<string> {
  const url = await options.getUrl();
  assertAllowedUrl(url, options.policy, 'Result download URL');
  return url;
}

function describe(error: unknown): string {
  const e = error as { code?: string; name?: string };
  return e?.code ?? e?.name ?? 'unknown error';
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(headers: Record<string, string | string[] | undefined>): number | undefined {
  const raw = header(headers['content-length']);
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/** Parses `bytes start-end/total`. */
export function parseContentRange(
  value: string | string[] | undefined,
): { start: number; end: number; total: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header(value)?.trim() ?? '');
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) };
}

function fileNameFrom(value: string | string[] | undefined): string | undefined {
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(header(value) ?? '');
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

/** The storage error code/message (S3-style XML), short and without anything from the URL. */
async function storageErrorText(response: ReceivedResponse): Promise<string | undefined> {
  const text = ((await response.body.text().catch(() => '')) ?? '').slice(0, 2000);
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]{1,200})<\/Message>/.exec(text)?.[1];
  return [code, message].filter(Boolean).join(': ') || undefined;
}
