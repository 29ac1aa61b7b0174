/**
 * The AWS fake's EventBridge (PutEvents) and SSM Parameter Store (GetParameter/PutParameter), through the real SDK
 * clients: the behaviour threat intake relies on (per-entry failures with HTTP 200, the 10-entry limit, overwrite
 * rules, ParameterNotFound) must match the services, or the intake tests would prove nothing.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetParameterCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
let aws: AwsFake;
let events: EventBridgeClient;
let ssm: SSMClient;

beforeAll(async () => {
  aws = await startAwsFake();
  events = new EventBridgeClient({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
  });
  ssm = new SSMClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  aws.eventBridge.createBus('intake');
});

afterAll(async () => {
  events?.destroy();
  ssm?.destroy();
  await aws?.close();
});

beforeEach(() => {
  aws.eventBridge.clearEvents();
  aws.eventBridge.clearFaults();
});

const entry = (n: number, bus = 'intake') => ({
  EventBusName: bus,
  Source: 'test.source',
  DetailType: 'Test',
  Detail: JSON.stringify({ n }),
});

describe('AWS fake: EventBridge PutEvents', () => {
  it('accepts events on a custom bus (by name or ARN) and tells listeners', async () => {
    const seen: number[] = [];
    const stop = aws.eventBridge.onEvent((event) => seen.push(Number(event.detail.n)));
    const out = await events.send(
      new PutEventsCommand({ Entries: [entry(1), entry(2, aws.eventBridge.arnOf('intake'))] }),
    );
    stop();
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries?.every((e) => typeof e.EventId === 'string')).toBe(true);
    expect(aws.eventBridge.events('intake').map((e) => e.detail)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(seen).toEqual([1, 2]);
  });

  it('reports failures per entry with HTTP 200, in request order', async () => {
    aws.eventBridge.failEntries((e) =>
      JSON.parse(String(e.Detail)).n === 2 ? 'ThrottlingException' : undefined,
    );
    const out = await events.send(
      new PutEventsCommand({ Entries: [entry(1), entry(2), entry(3, 'missing-bus'), entry(4)] }),
    );
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries?.map((e) => e.ErrorCode ?? 'ok')).toEqual([
      'ok',
      'ThrottlingException',
      'ResourceNotFoundException',
      'ok',
    ]);
    expect(aws.eventBridge.events().map((e) => e.detail.n)).toEqual([1, 4]);
  });

  it('fails a counted number of entries, then accepts again', async () => {
    aws.eventBridge.failEntries(2);
    const first = await events.send(new PutEventsCommand({ Entries: [entry(1), entry(2), entry(3)] }));
    expect(first.Entries?.map((e) => e.ErrorCode ?? 'ok')).toEqual([
      'InternalFailure',
      'InternalFailure',
      'ok',
    ]);
    const second = await events.send(new PutEventsCommand({ Entries: [entry(1), entry(2)] }));
    expect(second.FailedEntryCount).toBe(0);
  });

  it('refuses more than 10 entries and malformed details like the service', async () => {
    const eleven = Array.from({ length: 11 }, (_, i) => entry(i));
    await expect(events.send(new PutEventsCommand({ Entries: eleven }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    const out = await events.send(
      new PutEventsCommand({
        Entries: [
          { ...entry(1), Detail: 'not json' },
          { ...entry(2), Source: 'aws.s3' },
        ],
      }),
    );
    expect(out.Entries?.map((e) => e.ErrorCode)).toEqual([
      'MalformedDetail',
      'NotAuthorizedForSourceException',
    ]);
  });
});

describe('AWS fake: SSM Parameter Store', () => {
  it('creates, reads and overwrites a parameter, counting versions', async () => {
    await expect(ssm.send(new GetParameterCommand({ Name: '/t/mark' }))).rejects.toBeInstanceOf(
      ParameterNotFound,
    );
    const created = await ssm.send(new PutParameterCommand({ Name: '/t/mark', Value: 'a', Type: 'String' }));
    expect(created.Version).toBe(1);
    await expect(ssm.send(new PutParameterCommand({ Name: '/t/mark', Value: 'b' }))).rejects.toBeInstanceOf(
      ParameterAlreadyExists,
    );
    const overwritten = await ssm.send(
      new PutParameterCommand({ Name: '/t/mark', Value: 'b', Overwrite: true }),
    );
    expect(overwritten.Version).toBe(2);
    const read = await ssm.send(new GetParameterCommand({ Name: '/t/mark' }));
    expect(read.Parameter).toMatchObject({ Name: '/t/mark', Value: 'b', Version: 2, Type: 'String' });
    expect(read.Parameter?.ARN).toBe('arn:aws:ssm:us-east-1:000000000000:parameter/t/mark');
    expect(aws.ssm.get('/t/mark')).toBe('b');
  });

  it('refuses a standard-tier value over 4 KB', async () => {
    await expect(
      ssm.send(new PutParameterCommand({ Name: '/t/big', Value: 'x'.repeat(4097), Overwrite: true })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    expect(aws.ssm.get('/t/big')).toBeUndefined();
  });
});
