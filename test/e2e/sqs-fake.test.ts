/**
 * The AWS fake's SQS through the real SDK client (JSON protocol, MD5 checks on): what the intake queue relies on —
 * visibility timeout, receive count, a new receipt handle per receive, ChangeMessageVisibility, delete, and redrive
 * to the dead-letter queue after maxReceiveCount receives — must behave like SQS, or the intake tests prove nothing.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  MessageNotInflight,
  QueueDoesNotExist,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';

let time = Date.UTC(2026, 11, 3, 12, 0, 0);
let aws: AwsFake;
let sqs: SQSClient;
let counter = 0;

beforeAll(async () => {
  aws = await startAwsFake({ clock: () => time });
  sqs = new SQSClient({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  sqs?.destroy();
  await aws?.close();
});

function queuePair(maxReceiveCount = 2) {
  const n = ++counter;
  const dlq = aws.sqs.createQueue(`dlq-${n}`);
  const url = aws.sqs.createQueue(`queue-${n}`, {
    visibilityTimeoutSeconds: 30,
    redrivePolicy: { deadLetterTargetArn: aws.sqs.arnOf(`dlq-${n}`), maxReceiveCount },
  });
  return { url, dlq };
}

const receive = (url: string) =>
  sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: ['All'],
    }),
  );

describe('SQS fake', () => {
  it('hides a received message for the visibility timeout and counts its receives', async () => {
    const { url } = queuePair(5);
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"threat":"1"}' }));
    expect(sent.MessageId).toBeTruthy();
    const first = await receive(url);
    expect(first.Messages).toHaveLength(1);
    expect(first.Messages?.[0]).toMatchObject({
      Body: '{"threat":"1"}',
      Attributes: { ApproximateReceiveCount: '1' },
    });
    expect((await receive(url)).Messages ?? []).toEqual([]);
    time += 31_000;
    const second = await receive(url);
    expect(second.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(second.Messages?.[0]?.ReceiptHandle).not.toBe(first.Messages?.[0]?.ReceiptHandle);
  });

  it('deletes only with the latest receipt handle; a made-up one is refused', async () => {
    const { url } = queuePair(5);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'a' }));
    const old = (await receive(url)).Messages?.[0]?.ReceiptHandle as string;
    time += 31_000;
    const latest = (await receive(url)).Messages?.[0]?.ReceiptHandle as string;
    // SQS: a stale handle "succeeds, but the message might not be deleted".
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: old }));
    expect(aws.sqs.depth(url).total).toBe(1);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: latest }));
    expect(aws.sqs.depth(url).total).toBe(0);
    await expect(
      sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'made-up' })),
    ).rejects.toBeInstanceOf(ReceiptHandleIsInvalid);
  });

  it('changes the visibility of a message in flight, and refuses one that is not', async () => {
    const { url } = queuePair(5);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'b' }));
    const handle = (await receive(url)).Messages?.[0]?.ReceiptHandle as string;
    await sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: handle, VisibilityTimeout: 0 }),
    );
    const again = await receive(url);
    expect(again.Messages?.[0]?.Body).toBe('b');
    time += 31_000;
    await expect(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: again.Messages?.[0]?.ReceiptHandle as string,
          VisibilityTimeout: 10,
        }),
      ),
    ).rejects.toBeInstanceOf(MessageNotInflight);
  });

  it('moves a message received maxReceiveCount times to the dead-letter queue on the next receive', async () => {
    const { url, dlq } = queuePair(2);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));
    for (let i = 0; i < 2; i++) {
      expect((await receive(url)).Messages).toHaveLength(1);
      time += 31_000;
    }
    expect((await receive(url)).Messages ?? []).toEqual([]);
    expect(aws.sqs.bodies(url)).toEqual([]);
    expect(aws.sqs.bodies(dlq)).toEqual(['poison']);
  });

  it('answers QueueDoesNotExist for an unknown queue', async () => {
    await expect(
      sqs.send(new SendMessageCommand({ QueueUrl: `${aws.endpoint}/000000000000/nope`, MessageBody: 'x' })),
    ).rejects.toBeInstanceOf(QueueDoesNotExist);
  });
});
