/**
 * A small local server speaking the AWS JSON protocol for Secrets Manager and Step Functions, so the real SDK
 * clients (and the real handlers) run unchanged against it:
 *
 * ```ts
 * const aws = await startAwsFake();
 * process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = aws.endpoint; // or Object.assign(process.env, aws.env)
 * aws.secrets.set('s1', { apiToken: 'local-token' });
 * aws.registerStateMachine(arn, (exec) =>
 *   local.run(exec.input, { executionName: exec.name, executionId: exec.executionArn, signal: exec.signal }).result);
 * ```
 *
 * Every request is recorded (`requests`) for tests. Nothing is logged: request bodies may hold secret values.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { now } from '../../../lambdas/shared/clock';
import { AwsServiceError, type Operation, type RequestBody } from './protocol';
import { SecretsManagerFake } from './secrets-manager';
import { type FakeStateMachine, StepFunctionsFake } from './step-functions';

export { AwsServiceError } from './protocol';
export type { FakeExecution, FakeExecutionRequest, FakeStateMachine } from './step-functions';

/** Options of {@link startAwsFake}. */
export interface AwsFakeOptions {
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** Time source for dates the services report. @default `now` from lambdas/shared/clock */
  readonly clock?: () => number;
  /** State machines to register right away, by ARN. */
  readonly stateMachines?: Readonly<Record<string, FakeStateMachine>>;
}

/** A request the fake received. */
export interface RecordedRequest {
  /** `secretsmanager` or `sfn`. */
  readonly service: string;
  /** The operation, e.g. `GetSecretValue`. */
  readonly operation: string;
  readonly body: RequestBody;
}

/** A running fake. */
export interface AwsFake {
  /** `http://127.0.0.1:<port>`, for `endpoint` client options or the variables in `env`. */
  readonly endpoint: string;
  /** `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `AWS_ENDPOINT_URL_SFN` pointing at the fake. */
  readonly env: Readonly<Record<string, string>>;
  /** Secrets Manager test API (`set`, `get`, `arnOf`). */
  readonly secrets: SecretsManagerFake;
  /** Step Functions test API (`register`, `waitFor`, `list`). */
  readonly stepFunctions: StepFunctionsFake;
  /** Registers the function that runs executions of a state machine. */
  registerStateMachine(stateMachineArn: string, machine: FakeStateMachine): void;
  /** Requests received so far, in order. */
  readonly requests: readonly RecordedRequest[];
  /** Aborts running executions (their signal) and closes the server; does not wait for handlers still running. */
  close(): Promise<void>;
}

const SERVICES: Record<string, { service: string; contentType: string }> = {
  secretsmanager: { service: 'secretsmanager', contentType: 'application/x-amz-json-1.1' },
  AWSStepFunctions: { service: 'sfn', contentType: 'application/x-amz-json-1.0' },
};

async function readBody(req: IncomingMessage): Promise<RequestBody> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AwsServiceError('SerializationException', 'The request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AwsServiceError('SerializationException', 'The request body must be a JSON object');
  }
  return parsed as RequestBody;
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: unknown,
  errorType?: string,
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(payload);
}

/** Starts the fake on 127.0.0.1 (a free port). */
export async function startAwsFake(opts: AwsFakeOptions = {}): Promise<AwsFake> {
  const clock = opts.clock ?? now;
  const secrets = new SecretsManagerFake({
    region: opts.region ?? 'us-east-1',
    accountId: opts.accountId ?? '000000000000',
    clock,
  });
  const stepFunctions = new StepFunctionsFake({ clock });
  for (const [arn, machine] of Object.entries(opts.stateMachines ?? {})) stepFunctions.register(arn, machine);
  const operations: Record<string, Record<string, Operation>> = {
    secretsmanager: secrets.operations,
    AWSStepFunctions: stepFunctions.operations,
  };
  const requests: RecordedRequest[] = [];

  const server = createServer((req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const [prefix = '', operation = ''] = target.split('.');
    const service = SERVICES[prefix];
    const contentType = service?.contentType ?? 'application/x-amz-json-1.1';
    readBody(req)
      .then((body) => {
        const handler = operations[prefix]?.[operation];
        if (!service || !handler || req.method !== 'POST') {
          throw new AwsServiceError(
            'UnknownOperationException',
            `Unknown operation ${target || '(no X-Amz-Target)'}`,
          );
        }
        requests.push({ service: service.service, operation, body });
        send(res, 200, contentType, handler(body) ?? {});
      })
      .catch((error: unknown) => {
        if (error instanceof AwsServiceError) {
          send(res, error.status, contentType, { __type: error.code, message: error.message }, error.code);
        } else {
          const message = error instanceof Error ? error.message : String(error);
          send(res, 500, contentType, { __type: 'InternalFailure', message }, 'InternalFailure');
        }
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;

  return {
    endpoint,
    env: { AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint, AWS_ENDPOINT_URL_SFN: endpoint },
    secrets,
    stepFunctions,
    registerStateMachine: (arn, machine) => stepFunctions.register(arn, machine),
    requests,
    close: async () => {
      stepFunctions.abortAll();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
