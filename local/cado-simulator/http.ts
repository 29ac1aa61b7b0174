/**
 * HTTP plumbing shared by the simulator's routes: the v3 envelopes, the error class routes throw, and
 * request-parameter helpers that answer the way a validating API would (400 with the v3 error envelope).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Largest request body the simulator reads; Cado's JSON bodies are tiny. */
const MAX_BODY_BYTES = 1024 * 1024;

/** A v3 error response a route wants to send: `{status:"error", message, code}` with an HTTP status. */
export class SimulatedApiError extends Error {
  override readonly name: string = 'SimulatedApiError';

  /**
   * @param status HTTP status to answer with.
   * @param code the envelope's `code` (a short machine-readable string).
   * @param message the envelope's `message`; must never contain a secret.
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Raised while reading a request body that is too large or not JSON. */
export class RequestBodyError extends SimulatedApiError {
  override readonly name: string = 'RequestBodyError';
}

/** A response produced by a route. */
export interface RouteResponse {
  /** HTTP status. */
  readonly status: number;
  /** JSON body (already enveloped). */
  readonly body: unknown;
}

/** Pagination block of the v3 page-style list endpoints. */
export interface PagePagination {
  readonly type: 'page';
  readonly total_records: number;
  readonly current_page: number;
  readonly total_pages: number;
  readonly per_page: number;
}

/** `{status:"success", data}` with the given HTTP status (200 unless told). */
export function success(data: unknown, status = 200): RouteResponse {
  return { status, body: { status: 'success', data } };
}

/** The v3 error envelope. */
export function errorBody(code: string, message: string): unknown {
  return { status: 'error', message, code };
}

/** Writes a JSON response (and nothing else). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Reads the whole request body; JSON bodies are parsed, an empty body is `undefined`. */
export async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new RequestBodyError(413, 'payload_too_large', 'Request body is too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RequestBodyError(400, 'validation_error', 'Request body is not valid JSON');
  }
}

/** Throws a 400 validation error. */
export function invalid(message: string): never {
  throw new SimulatedApiError(400, 'validation_error', message);
}

/** A plain JSON object, or a 400 naming what was expected. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    invalid('Request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Parses an optional positive integer query parameter (`page`, ids), 400 when malformed. */
export function queryInt(query: URLSearchParams, name: string, min = 1): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) invalid(`Query parameter ${name} must be an integer`);
  const value = Number(raw);
  if (value < min) invalid(`Query parameter ${name} must be at least ${min}`);
  return value;
}

/** Parses an integer path segment, 400 when it is not one. */
export function pathInt(raw: string, what: string): number {
  if (!/^\d+$/.test(raw)) invalid(`${what} must be an integer`);
  return Number(raw);
}

/** Slices `items` to the page the query asks for (1-based `page`, `per_page` default 10, at most 100). */
export function paginate<T>(
  items: readonly T[],
  query: URLSearchParams,
): { page: readonly T[]; pagination: PagePagination } {
  const currentPage = queryInt(query, 'page') ?? 1;
  const perPage = queryInt(query, 'per_page') ?? 10;
  if (perPage > 100) invalid('Query parameter per_page must be at most 100');
  const start = (currentPage - 1) * perPage;
  return {
    page: items.slice(start, start + perPage),
    pagination: {
      type: 'page',
      total_records: items.length,
      current_page: currentPage,
      total_pages: Math.ceil(items.length / perPage),
      per_page: perPage,
    },
  };
}

/** A page of `data` with its pagination block. */
export function pageResponse(data: readonly unknown[], pagination: PagePagination): RouteResponse {
  return { status: 200, body: { status: 'success', data, pagination } };
}
