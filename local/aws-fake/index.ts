/**
 * A small local server speaking the AWS protocols of the services the project calls — the JSON protocol for Secrets
 * Manager, Step Functions, EventBridge, SSM Parameter Store and KMS (signing keys), the query protocol for CloudFormation (DescribeStacks) and REST-JSON for Lambda
 * (Invoke) — so the real SDK clients (and the real handlers) run unchanged against it:
 *
 * ```ts
 * const aws = await startAwsFake();
 * process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = aws.endpoint; // or Object.assign(process.env, aws.env)
 * aws.secrets.set('s1', { apiToken: 'local-token' });
 * aws.registerStateMachine(arn, (exec) =>
 *   local.run(exec.input, { executionName: exec.name, executionId: exec.executionArn, signal: exec.signal }).result);
 * aws.cloudFormation.setStack('S1CadoForensics', { outputs: { StateMachineArn: arn } });
 * aws.lambda.register('HandToCado', (event) => handler(event, context));
 * aws.eventBridge.createBus('s1cado-threats'); aws.ssm.set('/s1cado/poll-mark', '{}');
 * ```
 *
 * Every request is recorded (`requests`) for tests. Nothing is logged: request bodies may hold secret values.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { now } from '../../lambdas/shared/clock';
import { CloudFormationFake, queryErrorXml } from './cloudformation';
import { EventBridgeFake } from './event-bridge';
import { KmsFake } from './kms';
import { LambdaFake } from './lambda';
import { AwsServiceError, type Operation, type RequestBody } from './protocol';
import { SecretsManagerFake } from './secrets-manager';
import { SnsFake } from './sns';
import { SqsFake } from './sqs';
import { SsmFake } from './ssm';
import { type FakeStateMachine, StepFunctionsFake } from './step-functions';

export type { FakeStackInit } from './cloudformation';
export type { EntryFault, FakeEvent } from './event-bridge';
export type { FakeInvocation, FakeLambdaFunction } from './lambda';
export { AwsServiceError } from './protocol';
export type { FakeSnsMessage } from './sns';
export type { FakeQueueSettings, FakeSqsMessage } from './sqs';
export type { FakeParameter } from './ssm';
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
  /** `secretsmanager`, `sfn`, `events`, `ssm`, `kms`, `cloudformation` or `lambda`. */
  readonly service: string;
  /** The operation, e.g. `GetSecretValue`. */
  readonly operation: string;
  /** The JSON body; the form parameters (CloudFormation); `{FunctionName, InvocationType, Payload}` (Lambda). */
  readonly body: RequestBody;
}

/** A running fake. */
export interface AwsFake {
  /** `http://127.0.0.1:<port>`, for `endpoint` client options or the variables in `env`. */
  readonly endpoint: string;
  /** `AWS_ENDPOINT_URL_<SERVICE>` for Secrets Manager, Step Functions, CloudFormation, Lambda, EventBridge, SSM and KMS. */
  readonly env: Readonly<Record<string, string>>;
  /** Secrets Manager test API (`set`, `get`, `arnOf`). */
  readonly secrets: SecretsManagerFake;
  /** Step Functions test API (`register`, `waitFor`, `list`). */
  readonly stepFunctions: StepFunctionsFake;
  /** CloudFormation test API (`setStack`, `deleteStack`). */
  readonly cloudFormation: CloudFormationFake;
  /** Lambda test API (`register`, `arnOf`, `settled`). */
  readonly lambda: LambdaFake;
  /** EventBridge test API (`createBus`, `events`, `onEvent`, `failEntries`). */
  readonly eventBridge: EventBridgeFake;
  /** SSM Parameter Store test API (`get`, `set`, `describe`). */
  readonly ssm: SsmFake;
  /** KMS test API (`createSigningKey`, `setEnabled`). */
  readonly kms: KmsFake;
  /** SNS topics and what EventBridge rules delivered to them (`createTopic`, `deliver`, `messages`). */
  readonly sns: SnsFake;
  /** SQS queues (`createQueue`, `send`, `receive`, `deleteMessage`, `bodies`), also over the JSON protocol. */
  readonly sqs: SqsFake;
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
  AWSEvents: { service: 'events', contentType: 'application/x-amz-json-1.1' },
  AmazonSSM: { service: 'ssm', contentType: 'application/x-amz-json-1.1' },
  TrentService: { service: 'kms', contentType: 'application/x-amz-json-1.1' },
  AmazonSQS: { service: 'sqs', contentType: 'application/x-amz-json-1.0' },
};

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonBody(text: string): RequestBody {
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

function sendRaw(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, {
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(body);
}

function errorOf(error: unknown): AwsServiceError {
  if (error instanceof AwsServiceError) return error;
  return new AwsServiceError('InternalFailure', error instanceof Error ? error.message : String(error), 500);
}

const LAMBDA_INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

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
  const region = opts.region ?? 'us-east-1';
  const accountId = opts.accountId ?? '000000000000';
  const secrets = new SecretsManagerFake({ region, accountId, clock });
  const stepFunctions = new StepFunctionsFake({ clock });
  for (const [arn, machine] of Object.entries(opts.stateMachines ?? {})) stepFunctions.register(arn, machine);
  const cloudFormation = new CloudFormationFake({ region, accountId, clock });
  const lambda = new LambdaFake({ region, accountId });
  const eventBridge = new EventBridgeFake({ region, accountId, clock });
  const ssm = new SsmFake({ region, accountId, clock });
  const kms = new KmsFake({ region, accountId, clock });
  const sns = new SnsFake({ region, accountId, clock });
  const sqs = new SqsFake({ region, accountId, clock });
  const operations: Record<string, Record<string, Operation>> = {
    secretsmanager: secrets.operations,
    AWSStepFunctions: stepFunctions.operations,
    AWSEvents: eventBridge.operations,
    AmazonSSM: ssm.operations,
    TrentService: kms.operations,
    AmazonSQS: sqs.operations,
  };
  const requests: RecordedRequest[] = [];

  /** JSON protocol (`X-Amz-Target`): Secrets Manager, Step Functions, EventBridge, SSM, KMS and SQS. */
  const handleJson = async (req: IncomingMessage, res: ServerResponse, text: string): Promise<void> => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const [prefix = '', operation = ''] = target.split('.');
    const service = SERVICES[prefix];
    const contentType = service?.contentType ?? 'application/x-amz-json-1.1';
    try {
      const body = parseJsonBody(text);
      const handler = operations[prefix]?.[operation];
      if (!service || !handler || req.method !== 'POST') {
        throw new AwsServiceError(
          'UnknownOperationException',
          `Unknown operation ${target || '(no X-Amz-Target)'}`,
        );
      }
      requests.push({ service: service.service, operation, body });
      send(res, 200, contentType, (await handler(body)) ?? {});
    } catch (caught) {
      const error = errorOf(caught);
      send(res, error.status, contentType, { __type: error.code, message: error.message }, error.code);
    }
  };

  /** Query protocol (form body with `Action`): CloudFormation. */
  const handleQuery = (res: ServerResponse, text: string): void => {
    const params = new URLSearchParams(text);
    const action = params.get('Action') ?? '';
    try {
      const handler = cloudFormation.actions[action];
      if (!handler) throw new AwsServiceError('InvalidAction', `Unknown action ${action || '(no Action)'}`);
      requests.push({ service: 'cloudformation', operation: action, body: Object.fromEntries(params) });
      sendRaw(res, 200, { 'content-type': 'text/xml' }, handler(params));
    } catch (caught) {
      const error = errorOf(caught);
      sendRaw(res, error.status, { 'content-type': 'text/xml' }, queryErrorXml(error));
    }
  };

  /** REST-JSON: Lambda Invoke. */
  const handleInvoke = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    functionName: string,
    text: string,
  ): Promise<void> => {
    const headers = {
      'x-amz-invocation-type': req.headers['x-amz-invocation-type'] as string | undefined,
    };
    requests.push({
      service: 'lambda',
      operation: 'Invoke',
      body: { FunctionName: functionName, InvocationType: headers['x-amz-invocation-type'], Payload: text },
    });
    try {
      const answer = await lambda.invoke(functionName, url.searchParams, headers, text);
      sendRaw(res, answer.status, { 'content-type': 'application/json', ...answer.headers }, answer.body);
    } catch (caught) {
      const error = errorOf(caught);
      sendRaw(
        res,
        error.status,
        { 'content-type': 'application/json', 'x-amzn-errortype': error.code },
        JSON.stringify({ Type: error.status >= 500 ? 'Service' : 'User', message: error.message }),
      );
    }
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const invoke = LAMBDA_INVOKE_PATH.exec(url.pathname);
    const contentType = String(req.headers['content-type'] ?? '');
    readText(req)
      .then(async (text) => {
        if (invoke && req.method === 'POST') {
          await handleInvoke(req, res, url, decodeURIComponent(invoke[1] ?? ''), text);
        } else if (
          !req.headers['x-amz-target'] &&
          contentType.startsWith('application/x-www-form-urlencoded')
        ) {
          handleQuery(res, text);
        } else {
          await handleJson(req, res, text);
        }
      })
      .catch((error: unknown) => {
        // Only reached when the request itself broke (e.g. the client went away mid-body).
        if (!res.headersSent)
          send(res, 500, 'application/json', { __type: 'InternalFailure', message: String(error) });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  sqs.setEndpoint(endpoint);

  return {
    endpoint,
    env: {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
      AWS_ENDPOINT_URL_SFN: endpoint,
      AWS_ENDPOINT_URL_CLOUDFORMATION: endpoint,
      AWS_ENDPOINT_URL_LAMBDA: endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: endpoint,
      AWS_ENDPOINT_URL_SSM: endpoint,
      AWS_ENDPOINT_URL_KMS: endpoint,
      AWS_ENDPOINT_URL_SQS: endpoint,
    },
    secrets,
    stepFunctions,
    cloudFormation,
    lambda,
    eventBridge,
    ssm,
    kms,
    sns,
    sqs,
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
