/**
 * The parts of the local AWS fake the CLI relies on, through the real SDK clients: CloudFormation DescribeStacks
 * (query protocol, XML), Lambda Invoke (REST-JSON, function errors in the payload), and the execution history and
 * listing `s1cado handoff` reads.
 */
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import { GetExecutionHistoryCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../bin/s1cado';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

let aws: AwsFake;
let cfn: CloudFormationClient;
let lambda: LambdaClient;

beforeAll(async () => {
  aws = await startAwsFake();
  cfn = new CloudFormationClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials });
  lambda = new LambdaClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
});

afterAll(async () => {
  cfn?.destroy();
  lambda?.destroy();
  await aws?.close();
});

const decode = (payload: Uint8Array | undefined) => JSON.parse(Buffer.from(payload ?? []).toString('utf8'));

describe('AWS fake: CloudFormation DescribeStacks', () => {
  it('returns the registered outputs, XML-special characters intact', async () => {
    const stackId = aws.cloudFormation.setStack('Outputs', {
      outputs: { StateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sm', Odd: 'a&b<c>"d"' },
    });
    const out = await cfn.send(new DescribeStacksCommand({ StackName: 'Outputs' }));
    expect(out.Stacks).toHaveLength(1);
    const stack = out.Stacks?.[0];
    expect(stack?.StackId).toBe(stackId);
    expect(stack?.StackStatus).toBe('CREATE_COMPLETE');
    expect(stack?.CreationTime).toBeInstanceOf(Date);
    expect(Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]))).toEqual({
      StateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sm',
      Odd: 'a&b<c>"d"',
    });
    // By stack id too, as the service allows.
    const byId = await cfn.send(new DescribeStacksCommand({ StackName: stackId }));
    expect(byId.Stacks?.[0]?.StackName).toBe('Outputs');
    expect(aws.requests.at(-1)).toMatchObject({
      service: 'cloudformation',
      operation: 'DescribeStacks',
      body: { StackName: stackId },
    });
  });

  it('answers an unknown stack with ValidationError, as the service does', async () => {
    const error = await cfn.send(new DescribeStacksCommand({ StackName: 'Missing' })).catch((e) => e);
    expect(error).toBeInstanceOf(CloudFormationServiceException);
    expect(error.name).toBe('ValidationError');
    expect(error.message).toBe('Stack with id Missing does not exist');
    expect(error.$metadata.httpStatusCode).toBe(400);
  });
});

describe('AWS fake: Lambda Invoke', () => {
  it('passes the event and returns the result, by name or by ARN', async () => {
    const seen: unknown[] = [];
    const arn = aws.lambda.register('Echo', (event, invocation) => {
      seen.push(event);
      return { echoed: event, functionName: invocation.functionName };
    });
    const byName = await lambda.send(
      new InvokeCommand({
        FunctionName: 'Echo',
        Payload: Buffer.from(JSON.stringify({ id: '1415844000017227074' })),
      }),
    );
    expect(byName.StatusCode).toBe(200);
    expect(byName.FunctionError).toBeUndefined();
    expect(decode(byName.Payload)).toEqual({ echoed: { id: '1415844000017227074' }, functionName: 'Echo' });
    const byArn = await lambda.send(
      new InvokeCommand({ FunctionName: `${arn}:$LATEST`, Payload: Buffer.from('7') }),
    );
    expect(decode(byArn.Payload)).toMatchObject({ echoed: 7 });
    expect(seen).toEqual([{ id: '1415844000017227074' }, 7]);
  });

  it('reports a thrown error as a function error with its type and message, not an HTTP error', async () => {
    aws.lambda.register('Throws', () => {
      const error = new Error('Cado is unavailable');
      error.name = 'CadoTransientError';
      throw error;
    });
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'Throws', Payload: Buffer.from('{}') }));
    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBe('Unhandled');
    expect(decode(out.Payload)).toMatchObject({
      errorType: 'CadoTransientError',
      errorMessage: 'Cado is unavailable',
    });
  });

  it('refuses an unknown function and a payload that is not JSON with the modelled exceptions', async () => {
    const missing = await lambda.send(new InvokeCommand({ FunctionName: 'Nope' })).catch((e) => e);
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    expect(missing.message).toContain('function:Nope');
    aws.lambda.register('Quiet', () => null);
    const bad = await lambda
      .send(new InvokeCommand({ FunctionName: 'Quiet', Payload: Buffer.from('{not json') }))
      .catch((e) => e);
    expect(bad.name).toBe('InvalidRequestContentException');
  });

  it('accepts Event and DryRun invocations without waiting for the function', async () => {
    let release: () => void = () => undefined;
    let ran = 0;
    aws.lambda.register('Slow', async () => {
      ran += 1;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    const dry = await lambda.send(new InvokeCommand({ FunctionName: 'Slow', InvocationType: 'DryRun' }));
    expect(dry.StatusCode).toBe(204);
    expect(ran).toBe(0);
    const queued = await lambda.send(new InvokeCommand({ FunctionName: 'Slow', InvocationType: 'Event' }));
    expect(queued.StatusCode).toBe(202);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toBe(1);
    release();
    await aws.lambda.settled();
  });
});

describe('AWS fake: Step Functions history and listing, as s1cado handoff reads them', () => {
  const rerunArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:HandOffRerun';
  const releases: (() => void)[] = [];

  it('pages the history the running machine records, newest first on request', async () => {
    const sfn = new SFNClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    try {
      aws.registerStateMachine(rerunArn, async (execution) => {
        for (let i = 0; i < 150; i++) {
          execution.record('TaskStateEntered', { stateEnteredEventDetails: { name: `State ${i}` } });
        }
        return { done: true };
      });
      const { executionArn } = await sfn.send(
        new StartExecutionCommand({ stateMachineArn: rerunArn, name: 'paged', input: '{}' }),
      );
      await aws.stepFunctions.waitFor(executionArn ?? '');
      const first = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 100 }));
      expect(first.events).toHaveLength(100);
      expect(first.events?.[0]?.type).toBe('ExecutionStarted');
      expect(first.events?.[1]?.stateEnteredEventDetails?.name).toBe('State 0');
      const second = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn, maxResults: 100, nextToken: first.nextToken }),
      );
      expect(second.nextToken).toBeUndefined();
      expect(second.events?.at(-1)?.type).toBe('ExecutionSucceeded');
      expect([...(first.events ?? []), ...(second.events ?? [])].map((e) => e.id)).toEqual(
        Array.from({ length: 152 }, (_, i) => i + 1),
      );
      const newest = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 2 }),
      );
      expect(newest.events?.map((e) => e.type)).toEqual(['ExecutionSucceeded', 'TaskStateEntered']);
    } finally {
      sfn.destroy();
    }
  });

  it('s1cado handoff refuses to start a second re-run of an investigation while one is running', async () => {
    const started: string[] = [];
    // A deployed re-run that is still following Cado: it runs until released.
    aws.registerStateMachine(rerunArn, (execution) => {
      started.push(execution.name);
      return new Promise((resolve) => releases.push(() => resolve({})));
    });
    aws.cloudFormation.setStack('S1CadoForensics', {
      outputs: { HandOffRerunStateMachineArn: rerunArn, EvidenceBucketName: 'evidence' },
    });
    const run = async (argv: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await main(argv, {
        stdout: { write: (t: string) => (stdout += t) },
        stderr: { write: (t: string) => (stderr += t) },
        env: {
          ...aws.env,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
        },
        hostname: () => 'workstation',
      });
      return { code, stdout, stderr };
    };
    const first = await run(['handoff', 'threat-42', '--no-wait']);
    expect(first.code).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toHaveLength(1);
    expect(started[0]).toMatch(/^threat-42-handoff-\d{8}T\d{6}Z-[0-9a-f]{6}$/);

    const second = await run(['handoff', 'threat-42', '--no-wait']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('A hand-off re-run of threat-42 is still running');
    expect(second.stderr).toContain(`${rerunArn.replace(':stateMachine:', ':execution:')}:${started[0]}`);
    // Another investigation is not held up.
    expect((await run(['handoff', 'threat-43', '--no-wait'])).code).toBe(0);
    expect(started).toHaveLength(2);
    for (const release of releases) release();
  });
});
