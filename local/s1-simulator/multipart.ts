/**
 * A strict multipart/form-data parser (RFC 7578) for script uploads: text parts become fields, parts with a
 * `filename` become files. Malformed bodies raise {@link MultipartError} (the route answers 400).
 */

/** A file part. */
export interface MultipartFile {
  readonly field: string;
  readonly filename: string;
  readonly contentType: string | null;
  readonly content: Buffer;
}

/** Parsed form: text fields (last value wins when repeated) and file parts. */
export interface MultipartForm {
  readonly fields: Record<string, string>;
  readonly files: MultipartFile[];
}

/** Thrown on a body that is not valid multipart/form-data. */
export class MultipartError extends Error {
  override readonly name = 'MultipartError';
}

/** The boundary of a `multipart/form-data` content type, or undefined for other types. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new MultipartError('multipart/form-data without a boundary');
  return boundary;
}

function headerParam(header: string, name: string): string | undefined {
  const match = new RegExp(`;\\s*${name}="((?:[^"\\\\]|\\\\.)*)"|;\\s*${name}=([^;\\s]+)`, 'i').exec(header);
  if (!match) return undefined;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2];
}

/** Parses a complete multipart body. */
export function parseMultipart(body: Buffer, boundary: string): MultipartForm {
  const delimiter = Buffer.from(`--${boundary}`);
  const fields: Record<string, string> = {};
  const files: MultipartFile[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new MultipartError('boundary not found in body');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() !== '\r\n')
      throw new MultipartError('malformed delimiter line');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new MultipartError('part without header terminator');
    const headers = new Map<string, string>();
    for (const line of body.subarray(pos, headerEnd).toString('utf8').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new MultipartError(`malformed part header "${line}"`);
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const contentStart = headerEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), contentStart);
    if (next < 0) throw new MultipartError('part not terminated by a boundary');
    const content = body.subarray(contentStart, next);
    const disposition = headers.get('content-disposition');
    if (!disposition || !/^form-data\b/i.test(disposition))
      throw new MultipartError('part without form-data disposition');
    const field = headerParam(disposition, 'name');
    if (field === undefined) throw new MultipartError('part without a name');
    const filename = headerParam(disposition, 'filename');
    if (filename !== undefined) {
      files.push({
        field,
        filename,
        contentType: headers.get('content-type') ?? null,
        content: Buffer.from(content),
      });
    } else {
      fields[field] = content.toString('utf8');
    }
    pos = next + 2;
  }
  return { fields, files };
}
