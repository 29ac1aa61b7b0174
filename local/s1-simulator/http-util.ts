/**
 * HTTP plumbing shared by the routes: S1 error bodies, query-string parsing the way S1 reads it (comma lists
 * and repeated keys, `__gt`-style range suffixes, big-number id validation), cursor paging and sorting.
 */

/** An error answered as `{errors:[{code, title, detail}]}` with the given HTTP status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly code: number,
    readonly title: string,
    readonly detail: string | null,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${status} ${title}${detail ? `: ${detail}` : ''}`);
  }

  /** The S1 error envelope. */
  body(): { errors: { code: number; title: string; detail: string | null }[] } {
    return { errors: [{ code: this.code, title: this.title, detail: this.detail }] };
  }
}

/** 400 `Validation Error` (code 4000010). */
export function validationError(detail: string): ApiError {
  return new ApiError(400, 4000010, 'Validation Error', detail);
}

/** 401 `Authentication Failed` (code 4010010, detail null). */
export function authenticationFailed(): ApiError {
  return new ApiError(401, 4010010, 'Authentication Failed', null);
}

/** 403 `Insufficient permissions` (code 4030010). */
export function insufficientPermissions(detail: string): ApiError {
  return new ApiError(403, 4030010, 'Insufficient permissions', detail);
}

/** 404 `Resource not found` (code 4100010). */
export function notFound(detail: string | null = null): ApiError {
  return new ApiError(404, 4100010, 'Resource not found', detail);
}

/** Smallest id S1 accepts in id filters (ids are 18–19 digits). */
const MIN_ID = 100_000_000_000_000_000n;

/** Read access to a request's query string with S1's conventions. */
export class Query {
  constructor(readonly params: URLSearchParams) {}

  /** A single string value (the last one when repeated). */
  str(name: string): string | undefined {
    const all = this.params.getAll(name);
    return all.length ? all[all.length - 1] : undefined;
  }

  /** A list: comma-separated and/or repeated keys (`ids=1,2` and `ids=1&ids=2` both work). */
  list(name: string): string[] | undefined {
    const all = this.params.getAll(name);
    if (all.length === 0) return undefined;
    return all
      .flatMap((value) => value.split(','))
      .map((value) => value.trim())
      .filter((value) => value.length > 0);
  }

  /** A list of ids, validated like S1 validates them. */
  ids(name: string): string[] | undefined {
    const values = this.list(name);
    return values?.map((value, index) => checkId(name, index, value));
  }

  /** A list restricted to the allowed values. */
  enumList<T extends string>(name: string, allowed: readonly T[]): T[] | undefined {
    const values = this.list(name);
    values?.forEach((value, index) => {
      if (!(allowed as readonly string[]).includes(value)) {
        throw validationError(`${name}: ${index}: Must be one of: ${allowed.join(', ')}.`);
      }
    });
    return values as T[] | undefined;
  }

  /** A boolean given as `true`/`false`. */
  bool(name: string): boolean | undefined {
    const value = this.str(name);
    if (value === undefined) return undefined;
    if (value === 'true' || value === 'True') return true;
    if (value === 'false' || value === 'False') return false;
    throw validationError(`${name}: Not a valid boolean.`);
  }

  /** An integer within [min, max]. */
  int(name: string, min: number, max: number): number | undefined {
    const value = this.str(name);
    if (value === undefined) return undefined;
    const parsed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed)) throw validationError(`${name}: Not a valid integer.`);
    if (parsed < min || parsed > max) throw validationError(`${name}: Must be between ${min} and ${max}.`);
    return parsed;
  }

  /** A time given as ISO-8601 or epoch milliseconds, as epoch milliseconds. */
  time(name: string): number | undefined {
    const value = this.str(name);
    if (value === undefined) return undefined;
    const parsed = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (!Number.isFinite(parsed)) throw validationError(`${name}: Not a valid datetime.`);
    return parsed;
  }

  /**
   * The `<field>__gt/__gte/__lt/__lte/__between` range filters of one field as a predicate on epoch ms
   * (`__between` is `<fromMs>-<toMs>`, inclusive).
   */
  timeRange(field: string): ((at: number) => boolean) | undefined {
    const gt = this.time(`${field}__gt`);
    const gte = this.time(`${field}__gte`);
    const lt = this.time(`${field}__lt`);
    const lte = this.time(`${field}__lte`);
    const between = this.str(`${field}__between`);
    let from: number | undefined;
    let to: number | undefined;
    if (between !== undefined) {
      const match = /^(\d+)-(\d+)$/.exec(between);
      if (!match) throw validationError(`${field}__between: Must be <fromMs>-<toMs>.`);
      from = Number(match[1]);
      to = Number(match[2]);
    }
    if ([gt, gte, lt, lte, from].every((value) => value === undefined)) return undefined;
    return (at) =>
      (gt === undefined || at > gt) &&
      (gte === undefined || at >= gte) &&
      (lt === undefined || at < lt) &&
      (lte === undefined || at <= lte) &&
      (from === undefined || to === undefined || (at >= from && at <= to));
  }
}

/** Validates one id value (`<name>: <index>: ...` like S1's messages). */
export function checkId(name: string, index: number, value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number')
    throw validationError(`${name}: ${index}: Not a valid string.`);
  const text = String(value);
  if (!/^\d{1,20}$/.test(text)) throw validationError(`${name}: ${index}: Not a valid integer.`);
  if (BigInt(text) < MIN_ID) {
    throw validationError(`${name}: ${index}: Must be greater than or equal to ${MIN_ID}.`);
  }
  return text;
}

/** Pagination block of list responses. */
export interface Pagination {
  nextCursor: string | null;
  totalItems: number | null;
}

/** Options of {@link paginate}. */
export interface PageOptions {
  /** Identifies the list so a cursor of another endpoint is refused. */
  listKey: string;
  /** What `nextCursor` holds on the last page: `null` or `""` (both seen on real consoles). */
  cursorEnd: null | '';
}

interface CursorPayload {
  k: string;
  o: number;
}

/** Opaque cursor: standard base64 (may contain `+`, `/` and `=`, so clients must URL-encode it once). */
function encodeCursor(payload: CursorPayload): string {
  return Buffer.from(JSON.stringify(payload)).toString('base64');
}

function decodeCursor(cursor: string, listKey: string): number {
  try {
    const payload = JSON.parse(Buffer.from(cursor, 'base64').toString('utf8')) as Partial<CursorPayload>;
    if (
      payload.k === listKey &&
      typeof payload.o === 'number' &&
      Number.isSafeInteger(payload.o) &&
      payload.o >= 0
    ) {
      return payload.o;
    }
  } catch {
    // fall through to the S1 error below
  }
  throw validationError('Invalid cursor value received');
}

/** Applies `limit` (1–1000, default 10), `skip` (0–1000), `cursor`, `skipCount` and `countOnly`. */
export function paginate<T>(
  items: readonly T[],
  query: Query,
  options: PageOptions,
): { data: T[]; pagination: Pagination } {
  const limit = query.int('limit', 1, 1000) ?? 10;
  const cursor = query.str('cursor');
  const offset = cursor ? decodeCursor(cursor, options.listKey) : (query.int('skip', 0, 1000) ?? 0);
  const totalItems = query.bool('skipCount') ? null : items.length;
  if (query.bool('countOnly'))
    return { data: [], pagination: { nextCursor: options.cursorEnd, totalItems: items.length } };
  const data = items.slice(offset, offset + limit);
  const next = offset + data.length;
  const nextCursor = next < items.length ? encodeCursor({ k: options.listKey, o: next }) : options.cursorEnd;
  return { data, pagination: { nextCursor, totalItems } };
}

/**
 * Sorts by `sortBy` (one of the given keys) and `sortOrder` (`asc`|`desc`, default asc). Values compare as
 * big integers when both are digit strings (ids), numerically for numbers, else as strings.
 */
export function sortItems<T>(
  items: T[],
  query: Query,
  keys: Record<string, (item: T) => string | number | null>,
  defaultKey: string,
): T[] {
  const sortBy = query.str('sortBy') ?? defaultKey;
  const key = keys[sortBy];
  if (!key) throw validationError(`sortBy: Must be one of: ${Object.keys(keys).join(', ')}.`);
  const order = query.str('sortOrder') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw validationError('sortOrder: Must be one of: asc, desc.');
  const sign = order === 'asc' ? 1 : -1;
  return items.sort((a, b) => sign * compareValues(key(a), key(b)));
}

function compareValues(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === 'string' && typeof b === 'string' && /^\d+$/.test(a) && /^\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

/** ISO-8601 UTC with microseconds, like S1 timestamps (`2024-07-30T06:43:22.938000Z`). */
export function isoMicros(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

/** A plain JSON object (not an array, not null). */
export type JsonObject = Record<string, unknown>;

/** Type guard for plain JSON objects. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON body as an object, or 400. */
export function requireObject(body: unknown, what = 'body'): JsonObject {
  if (!isObject(body)) throw validationError(`${what}: Must be a JSON object.`);
  return body;
}

/** An id list from a JSON body field that may be an array or a comma string (both are accepted by S1). */
export function bodyIds(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const values = typeof value === 'string' ? value.split(',').map((v) => v.trim()) : value;
  if (!Array.isArray(values)) throw validationError(`${name}: Not a valid list.`);
  return values.filter((v) => v !== '').map((v, index) => checkId(name, index, v));
}
