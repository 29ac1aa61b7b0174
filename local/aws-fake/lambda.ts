/**
 * Lambda, the synchronous Invoke the CLI uses: functions are registered by the caller (typically bound to the real
 * handlers under `lambdas/`), and `POST /2015-03-31/functions/<name>/invocations` runs them in-process.
 *
 * Lambda speaks REST-JSON: the request body is the event, the response body is the function's result. A function
 * that throws still answers HTTP 200, with header `X-Amz-Function-Error: Unhandled` and the runtime's error document
 * `{"errorType", "errorMessage", "trace"}` as the payload; only service errors (unknown function, bad payload) are
 * HTTP errors, with `x-amzn-errortype` naming the exception.
 */
import { randomUUID } from 'node:crypto';
import { AwsServiceError } from './protocol';

/** Facts of one invocation, for the registered function. */
export interface FakeInvocation {
  readonly functionName: string;
  readonly functionArn: string;
  readonly requestId: string;
  /** Version or alias from the ARN or the `Qualifier` parameter, if any. */
  readonly qualifier?: string;
}

/** A registered function: receives the parsed event, returns the result (or throws). */
export type FakeLambdaFunction = (event: unknown, invocation: FakeInvocation) => unknown;

/** An HTTP answer of the Lambda API. */
export interface LambdaAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Where the fake pretends to live. */
export interface LambdaFakeOptions {
  readonly region: string;
  readonly accountId: string;
}

/** Synchronous invocation payloads are limited to 6 MB each way. */
const PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;

function runtimeError(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  if (error instanceof Error) {
    return {
      errorType: error.name || 'Error',
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n').filter((line) => line.length > 0),
    };
  }
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}

/** In-memory Lambda (Invoke only). */
export class LambdaFake {
  private readonly functions = new Map<string, FakeLambdaFunction>();
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly opts: LambdaFakeOptions) {}

  /** Test helper: registers (or replaces) a function by name; returns its ARN. */
  register(functionName: string, fn: FakeLambdaFunction): string {
    if (!/^[A-Za-z0-9_-]{1,140}$/.test(functionName))
      throw new TypeError(`Not a function name: ${functionName}`);
    this.functions.set(functionName, fn);
    return this.arnOf(functionName);
  }

  /** The ARN of a function name. */
  arnOf(functionName: string): string {
    return `arn:aws:lambda:${this.opts.region}:${this.opts.accountId}:function:${functionName}`;
  }

  /** Resolves a name, a full ARN or a partial ARN (`<account>:function:<name>`), with an optional qualifier. */
  private resolve(nameOrArn: string): { name: string; qualifier?: string } {
    const arn = /^(?:arn:[^:]+:lambda:[^:]+:)?\d{12}:function:([A-Za-z0-9_-]+)(?::([^:]+))?$/.exec(nameOrArn);
    const named = /^([A-Za-z0-9_-]+)(?::([^:]+))?$/.exec(nameOrArn);
    const match = arn ?? named;
    const name = match?.[1];
    if (!name || !this.functions.has(name)) {
      throw new AwsServiceError(
        'ResourceNotFoundException',
        `Function not found: ${this.arnOf(name ?? nameOrArn)}`,
        404,
      );
    }
    return match[2] ? { name, qualifier: match[2] } : { name };
  }

  /** Handles `POST /2015-03-31/functions/<name>/invocations`. Throws {@link AwsServiceError} for service errors. */
  async invoke(
    nameOrArn: string,
    query: URLSearchParams,
    headers: Readonly<Record<string, string | undefined>>,
    payload: string,
  ): Promise<LambdaAnswer> {
    const target = this.resolve(nameOrArn);
    const qualifier = query.get('Qualifier') ?? target.qualifier;
    const fn = this.functions.get(target.name) as FakeLambdaFunction;
    if (Buffer.byteLength(payload, 'utf8') > PAYLOAD_LIMIT_BYTES) {
      throw new AwsServiceError(
        'RequestTooLargeException',
        'Request must be smaller than 6291456 bytes',
        413,
      );
    }
    let event: unknown = null;
    if (payload.trim() !== '') {
      try {
        event = JSON.parse(payload);
      } catch {
        throw new AwsServiceError('InvalidRequestContentException', 'Could not parse request body into json');
      }
    }
    const invocationType = headers['x-amz-invocation-type'] ?? 'RequestResponse';
    const invocation: FakeInvocation = {
      functionName: target.name,
      functionArn: this.arnOf(target.name),
      requestId: randomUUID(),
      ...(qualifier ? { qualifier } : {}),
    };
    const common = { 'x-amzn-requestid': invocation.requestId, 'x-amz-executed-version': '$LATEST' };
    if (invocationType === 'DryRun') return { status: 204, headers: common, body: '' };
    const run = Promise.resolve().then(() => fn(event, invocation));
    if (invocationType === 'Event') {
      // Asynchronous invocation: accepted at once; the outcome is nobody's business but the function's.
      const settled = run.catch(() => undefined).finally(() => this.background.delete(settled));
      this.background.add(settled);
      return { status: 202, headers: common, body: '' };
    }
    if (invocationType !== 'RequestResponse') {
      throw new AwsServiceError('InvalidParameterValueException', `Unknown InvocationType ${invocationType}`);
    }
    try {
      const result = await run;
      return { status: 200, headers: common, body: JSON.stringify(result === undefined ? null : result) };
    } catch (error) {
      return {
        status: 200,
        headers: { ...common, 'x-amz-function-error': 'Unhandled' },
        body: JSON.stringify(runtimeError(error)),
      };
    }
  }

  /** Resolves when every asynchronous (`Event`) invocation has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.background]);
  }
}
