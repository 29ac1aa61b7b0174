/**
 * The AWS fake's task-token operations, through the real SDK client, answer like Step Functions: a token is taken
 * once; a repeated or late answer is TaskTimedOut, an unknown token InvalidToken, output that is not JSON
 * InvalidOutput; and the waiting side sees exactly what was sent.
 */
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskTokens } from '../../local/asl/task-tokens';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';

let aws: AwsFake;
let sfn: SFNClient;
const tokens = new TaskTokens();
const arn = 'arn:aws:states:us-east-1:000000000000:execution:m:e';

beforeAll(async () => {
  aws = await startAwsFake();
  aws.stepFunctions.useTaskTokens(tokens);
  sfn = new SFNClient({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  sfn?.destroy();
  await aws?.close();
});

const errorName = (promise: Promise<unknown>) =>
  promise.then(
    () => 'no error',
    (error: Error) => error.name,
  );

describe('task tokens in the AWS fake', () => {
  it('SendTaskSuccess resumes the waiting task once; a second answer is TaskTimedOut', async () => {
    const issued = tokens.issue(arn, 'Run Script');
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: issued.token }));
    await sfn.send(
      new SendTaskSuccessCommand({ taskToken: issued.token, output: '{"task":{"phase":"completed"}}' }),
    );
    expect(await issued.outcome).toEqual({ kind: 'success', output: { task: { phase: 'completed' } } });
    expect(
      await errorName(sfn.send(new SendTaskSuccessCommand({ taskToken: issued.token, output: '{}' }))),
    ).toBe('TaskTimedOut');
    expect(
      await errorName(sfn.send(new SendTaskFailureCommand({ taskToken: issued.token, error: 'E' }))),
    ).toBe('TaskTimedOut');
  });

  it('SendTaskFailure hands over error and cause as sent', async () => {
    const issued = tokens.issue(arn, 'Run Script');
    await sfn.send(
      new SendTaskFailureCommand({ taskToken: issued.token, error: 'WatcherError', cause: 'why' }),
    );
    expect(await issued.outcome).toEqual({ kind: 'failure', error: 'WatcherError', cause: 'why' });
  });

  it('a task closed without an answer (timed out, aborted) refuses later answers with TaskTimedOut', async () => {
    const issued = tokens.issue(arn, 'Run Script');
    issued.close();
    expect(
      await errorName(sfn.send(new SendTaskSuccessCommand({ taskToken: issued.token, output: '{}' }))),
    ).toBe('TaskTimedOut');
    expect(await errorName(sfn.send(new SendTaskHeartbeatCommand({ taskToken: issued.token })))).toBe(
      'TaskTimedOut',
    );
  });

  it('an unknown token is InvalidToken; output that is not JSON is InvalidOutput and leaves the task waiting', async () => {
    expect(
      await errorName(sfn.send(new SendTaskSuccessCommand({ taskToken: 'AQCE-nope', output: '{}' }))),
    ).toBe('InvalidToken');
    const issued = tokens.issue(arn, 'Run Script');
    expect(
      await errorName(sfn.send(new SendTaskSuccessCommand({ taskToken: issued.token, output: 'not json' }))),
    ).toBe('InvalidOutput');
    expect(tokens.waiting()).toContainEqual({ executionArn: arn, stateName: 'Run Script' });
    await sfn.send(new SendTaskSuccessCommand({ taskToken: issued.token, output: '1' }));
    expect(await issued.outcome).toEqual({ kind: 'success', output: 1 });
  });
});
