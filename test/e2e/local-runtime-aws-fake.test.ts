import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  GetExecutionHistoryCommand,
  InvalidName,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExtractedFunction } from '../../local/asl/extract';
import { createLocalStateMachine } from '../../local/asl/runner';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';

const MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:fake-test';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

let aws: AwsFake;
let secrets: SecretsManagerClient;
let sfn: SFNClient;

/** A promise whose settlement the test controls. */
function deferred<T>() {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

beforeAll(async () => {
  aws = await startAwsFake();
  secrets = new SecretsManagerClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials });
  sfn = new SFNClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials });
});

afterAll(async () => {
  secrets?.destroy();
  sfn?.destroy();
  await aws?.close();
});

describe('AWS fake: Secrets Manager', () => {
  it('creates, reads by name and ARN, and rotates a secret like the service', async () => {
    const created = await secrets.send(
      new CreateSecretCommand({ Name: 'rotating', SecretString: JSON.stringify({ apiToken: 'first' }) }),
    );
    expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:rotating-.{6}$/);
    const byArn = await secrets.send(new GetSecretValueCommand({ SecretId: created.ARN }));
    expect(JSON.parse(byArn.SecretString ?? '')).toEqual({ apiToken: 'first' });
    expect(byArn.VersionStages).toEqual(['AWSCURRENT']);

    const put = await secrets.send(
      new PutSecretValueCommand({
        SecretId: 'rotating',
        SecretString: JSON.stringify({ apiToken: 'second' }),
      }),
    );
    const current = await secrets.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    expect(JSON.parse(current.SecretString ?? '')).toEqual({ apiToken: 'second' });
    expect(current.VersionId).toBe(put.VersionId);
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: 'rotating', VersionStage: 'AWSPREVIOUS' }),
    );
    expect(previous.VersionId).toBe(created.VersionId);
    expect(previous.CreatedDate).toBeInstanceOf(Date);

    const described = await secrets.send(new DescribeSecretCommand({ SecretId: created.ARN }));
    expect(described.VersionIdsToStages).toEqual({
      [String(created.VersionId)]: ['AWSPREVIOUS'],
      [String(put.VersionId)]: ['AWSCURRENT'],
    });
  });

  it('answers an unknown secret with the modelled ResourceNotFoundException', async () => {
    const error = await secrets
      .send(new GetSecretValueCommand({ SecretId: 'missing' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect((error as ResourceNotFoundException).$metadata.httpStatusCode).toBe(400);
  });

  it('lets tests set and read values that SDK clients then see', async () => {
    const arn = aws.secrets.set('helper', { apiKey: 'k1' });
    aws.secrets.set('helper', { apiKey: 'k2' });
    const value = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
    expect(value.SecretString).toBe('{"apiKey":"k2"}');
    expect(aws.secrets.get('helper')).toBe('{"apiKey":"k2"}');
    expect(aws.requests.filter((r) => r.operation === 'GetSecretValue').at(-1)?.body).toEqual({
      SecretId: arn,
    });
  });

  it('is reachable through the AWS_ENDPOINT_URL_* variables', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, aws.env);
    const viaEnv = new SecretsManagerClient({ region: 'us-east-1', credentials });
    const sfnViaEnv = new SFNClient({ region: 'us-east-1', credentials });
    try {
      aws.secrets.set('via-env', 'plain');
      const value = await viaEnv.send(new GetSecretValueCommand({ SecretId: 'via-env' }));
      expect(value.SecretString).toBe('plain');
      const listed = await sfnViaEnv
        .send(new ListExecutionsCommand({ stateMachineArn: MACHINE }))
        .catch((e: unknown) => e);
      expect(listed).toBeInstanceOf(StateMachineDoesNotExist);
    } finally {
      viaEnv.destroy();
      sfnViaEnv.destroy();
      for (const key of Object.keys(aws.env)) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });

  it('rejects an unknown operation the way the JSON protocol does', async () => {
    const res = await fetch(aws.endpoint, {
      method: 'POST',
      headers: {
        'x-amz-target': 'secretsmanager.RotateEverything',
        'content-type': 'application/x-amz-json-1.1',
      },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(await res.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });
});

describe('AWS fake: Step Functions', () => {
  it('starts executions idempotently by name and input, and refuses conflicting reuse', async () => {
    const gate = deferred<unknown>();
    const arn = `${MACHINE}-idem`;
    aws.registerStateMachine(arn, async (exec) => {
      await gate.promise;
      return { echoed: exec.input };
    });
    const input = JSON.stringify({ threatId: '123' });
    const first = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: 'threat-123', input }),
    );
    const again = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: 'threat-123', input }),
    );
    expect(again.executionArn).toBe(first.executionArn);
    expect(again.startDate).toEqual(first.startDate);
    const running = await sfn.send(new DescribeExecutionCommand({ executionArn: first.executionArn }));
    expect(running.status).toBe('RUNNING');

    const otherInput = sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: 'threat-123', input: '{"x":1}' }),
    );
    await expect(otherInput).rejects.toBeInstanceOf(ExecutionAlreadyExists);

    gate.resolve(undefined);
    await aws.stepFunctions.waitFor(String(first.executionArn));
    const done = await sfn.send(new DescribeExecutionCommand({ executionArn: first.executionArn }));
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '')).toEqual({ echoed: { threatId: '123' } });
    expect(done.stopDate).toBeInstanceOf(Date);
    // Once closed, the same name cannot be started again, even with the same input.
    const reuse = sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'threat-123', input }));
    await expect(reuse).rejects.toBeInstanceOf(ExecutionAlreadyExists);
  });

  it('validates names and state machines', async () => {
    aws.registerStateMachine(`${MACHINE}-names`, async () => null);
    const bad = sfn.send(
      new StartExecutionCommand({ stateMachineArn: `${MACHINE}-names`, name: 'has space' }),
    );
    await expect(bad).rejects.toBeInstanceOf(InvalidName);
    const slash = sfn.send(new StartExecutionCommand({ stateMachineArn: `${MACHINE}-names`, name: 'a/b' }));
    await expect(slash).rejects.toBeInstanceOf(InvalidName);
    const unknown = sfn.send(new StartExecutionCommand({ stateMachineArn: `${MACHINE}-nope`, name: 'x' }));
    await expect(unknown).rejects.toBeInstanceOf(StateMachineDoesNotExist);
  });

  it('stops a running execution and tells the machine through its signal', async () => {
    const arn = `${MACHINE}-stop`;
    const seen = deferred<AbortSignal>();
    aws.registerStateMachine(arn, (exec) => {
      seen.resolve(exec.signal);
      return new Promise((_, reject) =>
        exec.signal.addEventListener('abort', () => reject(new Error('stopped'))),
      );
    });
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: 'to-stop' }),
    );
    const signal = await seen.promise;
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Operator', cause: 'not needed' }));
    expect(signal.aborted).toBe(true);
    const stopped = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(stopped).toMatchObject({ status: 'ABORTED', error: 'Operator', cause: 'not needed' });
    const aborted = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: arn, statusFilter: 'ABORTED' }),
    );
    expect(aborted.executions?.map((e) => e.name)).toEqual(['to-stop']);
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(history.events?.map((e) => e.type)).toEqual(['ExecutionStarted', 'ExecutionAborted']);
  });

  it('runs the local runner behind StartExecution and reports failures by error name', async () => {
    const fn: ExtractedFunction = {
      logicalId: 'GreetFn',
      arn: 'arn:aws:lambda:us-east-1:000000000000:function:GreetFn',
      functionName: 'GreetFn',
      step: 'greet',
      environment: {},
      unresolvedEnvironment: [],
      timeoutSeconds: 3,
      memorySize: 128,
    };
    class NoNameError extends Error {
      override readonly name = 'NoNameError';
    }
    const local = createLocalStateMachine(
      { StartAt: 'Greet', States: { Greet: { Type: 'Task', Resource: fn.arn, End: true } } },
      {
        functions: new Map([[fn.arn, fn]]),
        handlers: {
          greet: async (event) => {
            const { who } = event as { who?: string };
            if (!who) throw new NoNameError('who is missing');
            return { greeting: `hello ${who}` };
          },
        },
        stateMachineArn: `${MACHINE}-local`,
        // Validation is covered in local-runtime.test.ts; it costs a second or two.
        validate: false,
      },
    );
    aws.registerStateMachine(
      `${MACHINE}-local`,
      (exec) =>
        local.run(exec.input, {
          executionName: exec.name,
          executionId: exec.executionArn,
          signal: exec.signal,
        }).result,
    );
    const ok = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: `${MACHINE}-local`, name: 'ok', input: '{"who":"Ada"}' }),
    );
    const bad = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: `${MACHINE}-local`, name: 'bad', input: '{}' }),
    );
    const [succeeded, failed] = await Promise.all([
      aws.stepFunctions.waitFor(String(ok.executionArn)),
      aws.stepFunctions.waitFor(String(bad.executionArn)),
    ]);
    expect(succeeded).toMatchObject({ status: 'SUCCEEDED', output: '{"greeting":"hello Ada"}' });
    expect(failed).toMatchObject({ status: 'FAILED', error: 'NoNameError' });
    expect(JSON.parse(String(failed.cause))).toMatchObject({ errorMessage: 'who is missing' });
    local.dispose();
  });
});
