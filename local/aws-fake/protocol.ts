/**
 * The bits of the AWS JSON protocol (awsJson1_0 / awsJson1_1) the fake speaks: the operation comes from the
 * `X-Amz-Target` header (`<prefix>.<Operation>`), the body is JSON, timestamps are epoch seconds, and an error is
 * HTTP 400 with header `x-amzn-errortype: <Code>` and body `{"__type": "<Code>", "message": "..."}` (the SDK maps
 * the code to its modelled exception class).
 */

/** A modelled service error: the SDK turns `code` into e.g. `ResourceNotFoundException`. */
export class AwsServiceError extends Error {
  override readonly name = 'AwsServiceError';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** A JSON request body (the fake validates the fields each operation reads). */
export type RequestBody = Record<string, unknown>;

/** One operation of a fake service (may answer later, e.g. SQS long polling). */
export type Operation = (body: RequestBody) => unknown;

/** Epoch seconds, the JSON protocols' timestamp format. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

/** Reads a required string field, or fails like the service's input validation. */
export function requiredString(body: RequestBody, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new AwsServiceError('ValidationException', `${field} is required`);
  }
  return value;
}

/** Reads an optional string field. */
export function optionalString(body: RequestBody, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new AwsServiceError('ValidationException', `${field} must be a string`);
  return value;
}

/** Where a fake service pretends to live, and its clock (every fake service takes these). */
export interface FakeServiceOptions {
  readonly region: string;
  readonly accountId: string;
  /** Epoch ms. */
  readonly clock: () => number;
}
