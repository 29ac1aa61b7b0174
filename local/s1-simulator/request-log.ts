/**
 * The request log: one entry per request on either host. It keeps raw header values, including
 * `authorization` (test-only, so tests can prove a token never reached the storage host).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { SimHost } from './faults';
import type { MultipartForm } from './multipart';

/** How a multipart body appears in the log (file contents are summarised, not kept). */
export interface LoggedMultipart {
  fields: Record<string, string>;
  files: { field: string; filename: string; contentType: string | null; size: number }[];
}

/** One logged request. */
export interface RequestLogEntry {
  /** Simulated time of arrival (epoch ms). */
  at: number;
  host: SimHost;
  method: string;
  /** Full path, e.g. `/web/api/v2.1/remote-scripts/status` or `/rso-results/<sha>`. */
  path: string;
  /** Path under `/web/api/v2.1` for the API host; the full path for the storage host. */
  route: string;
  /** Query parameters; repeated keys become arrays. */
  query: Record<string, string | string[]>;
  /** Lower-cased header names with raw values (repeated headers joined with ", "). */
  headers: Record<string, string>;
  /** Parsed JSON, a multipart summary, the raw text of other bodies, or undefined. */
  body: unknown;
  /** Status sent (null until the response head is written). */
  status: number | null;
  /** Storage host: body bytes written. */
  bytesSent?: number;
  /** True when the response was cut short (fault, or the client went away). */
  aborted?: boolean;
}

/** Query parameters as a plain object. */
export function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    out[key] = values.length === 1 ? (values[0] ?? '') : values;
  }
  return out;
}

/** Headers as a plain object of strings. */
export function headerObject(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The log form of a multipart body. */
export function summariseMultipart(form: MultipartForm): LoggedMultipart {
  return {
    fields: { ...form.fields },
    files: form.files.map((file) => ({
      field: file.field,
      filename: file.filename,
      contentType: file.contentType,
      size: file.content.length,
    })),
  };
}

/** A bounded list of entries (oldest dropped first beyond `limit`). */
export class RequestLog {
  /** The entries, oldest first. The array is kept (cleared in place), so references stay valid. */
  readonly entries: RequestLogEntry[] = [];

  constructor(private readonly limit: number) {}

  /** Appends an entry. */
  add(entry: RequestLogEntry): RequestLogEntry {
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    return entry;
  }

  /** Empties the log. */
  clear(): void {
    this.entries.length = 0;
  }
}
