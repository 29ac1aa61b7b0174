/**
 * SQS standard queues, the part threat intake uses (the JSON protocol, `AmazonSQS.<Operation>`): SendMessage,
 * ReceiveMessage (visibility timeout, receive count, long polling up to 20 s), DeleteMessage,
 * ChangeMessageVisibility, GetQueueUrl and GetQueueAttributes, plus redrive to a dead-letter queue: a message
 * received `maxReceiveCount` times and still not deleted moves to the dead-letter queue on the next receive, as SQS
 * does. Like SQS, a receive hands out a new receipt handle each time; a delete with an older handle of the same
 * message succeeds without deleting (SQS: "the request succeeds, but the message might not be deleted"), and an
 * unknown handle is `ReceiptHandleIsInvalid`. Bodies carry `MD5OfBody`, which the SDK checks.
 *
 * Event source mappings are not an SQS API (Lambda polls the queue); the local stack's poller uses
 * {@link SqsFake.receive} and {@link SqsFake.deleteMessage} directly.
 */
import { createHash, randomUUID } from 'node:crypto';
import { sleep } from '../../lambdas/shared/clock';
import {
  AwsServiceError,
  type FakeServiceOptions,
  type Operation,
  type RequestBody,
  requiredString,
} from './protocol';

/** A queue's settings (CreateQueue attributes, in the units SQS uses). */
export interface FakeQueueSettings {
  /** @default 30 */
  readonly visibilityTimeoutSeconds?: number;
  /** @default 345600 (4 days) */
  readonly messageRetentionSeconds?: number;
  /** Moves messages received more than `maxReceiveCount` times to the queue named by `deadLetterTargetArn`. */
  readonly redrivePolicy?: { readonly deadLetterTargetArn: string; readonly maxReceiveCount: number };
}

/** A message as a receive hands it out (also the shape the event source mapping builds records from). */
export interface FakeSqsMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly md5OfBody: string;
  /** Times it was received, this receive included. */
  readonly receiveCount: number;
  /** Epoch ms. */
  readonly sentAt: number;
  readonly firstReceivedAt: number;
}

interface StoredMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly sentAt: number;
  /** Epoch ms before which no receive sees it (delay or visibility timeout). */
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt: number | undefined;
  /** The handle of the latest receive; older handles no longer delete. */
  receiptHandle: string | undefined;
}

interface Queue {
  readonly name: string;
  readonly arn: string;
  readonly url: string;
  readonly settings: Required<Omit<FakeQueueSettings, 'redrivePolicy'>> &
    Pick<FakeQueueSettings, 'redrivePolicy'>;
  readonly messages: StoredMessage[];
  /** Every handle ever handed out, to tell a stale handle (accepted) from a made-up one (refused). */
  readonly handles: Map<string, StoredMessage>;
}

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');
/** SQS's message size limit (256 KiB). */
const MAX_MESSAGE_BYTES = 262_144;

/** In-memory SQS. */
export class SqsFake {
  private readonly queues = new Map<string, Queue>();
  private endpoint = 'http://127.0.0.1';

  constructor(private readonly opts: FakeServiceOptions) {}

  /** The operations, by name, for the server's dispatcher. */
  readonly operations: Record<string, Operation> = {
    SendMessage: (body) => this.sendMessageOperation(body),
    ReceiveMessage: (body) => this.receiveMessageOperation(body),
    DeleteMessage: (body) => {
      this.deleteMessage(this.queueOf(body).url, requiredString(body, 'ReceiptHandle'));
      return {};
    },
    ChangeMessageVisibility: (body) => {
      const timeout = this.visibility(body.VisibilityTimeout, 'VisibilityTimeout');
      if (timeout === undefined)
        throw new AwsServiceError('MissingParameter', 'VisibilityTimeout is required');
      this.changeVisibility(this.queueOf(body).url, requiredString(body, 'ReceiptHandle'), timeout);
      return {};
    },
    GetQueueUrl: (body) => {
      const name = requiredString(body, 'QueueName');
      const queue = [...this.queues.values()].find((q) => q.name === name);
      if (!queue) throw new AwsServiceError('QueueDoesNotExist', 'The specified queue does not exist.');
      return { QueueUrl: queue.url };
    },
    GetQueueAttributes: (body) => {
      const queue = this.queueOf(body);
      const now = this.opts.clock();
      this.expire(queue, now);
      const visible = queue.messages.filter((m) => m.visibleAt <= now).length;
      return {
        Attributes: {
          QueueArn: queue.arn,
          ApproximateNumberOfMessages: String(visible),
          ApproximateNumberOfMessagesNotVisible: String(queue.messages.length - visible),
          VisibilityTimeout: String(queue.settings.visibilityTimeoutSeconds),
          MessageRetentionPeriod: String(queue.settings.messageRetentionSeconds),
          ...(queue.settings.redrivePolicy
            ? { RedrivePolicy: JSON.stringify(queue.settings.redrivePolicy) }
            : {}),
        },
      };
    },
  };

  /** Called by the server once it listens: queue URLs point at it, as the SDK sends to the QueueUrl's host. */
  setEndpoint(endpoint: string): void {
    this.endpoint = endpoint;
  }

  /** Test/stack helper: creates a queue (idempotent by name) and returns its URL. */
  createQueue(name: string, settings: FakeQueueSettings = {}): string {
    const existing = [...this.queues.values()].find((q) => q.name === name);
    if (existing) return existing.url;
    if (settings.redrivePolicy) {
      const { deadLetterTargetArn, maxReceiveCount } = settings.redrivePolicy;
      if (![...this.queues.values()].some((q) => q.arn === deadLetterTargetArn)) {
        throw new AwsServiceError(
          'InvalidParameterValue',
          `Dead-letter target ${deadLetterTargetArn} does not exist`,
        );
      }
      if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
        throw new AwsServiceError('InvalidParameterValue', 'maxReceiveCount must be 1 to 1000');
      }
    }
    const url = `${this.endpoint}/${this.opts.accountId}/${name}`;
    this.queues.set(url, {
      name,
      arn: this.arnOf(name),
      url,
      settings: {
        visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds ?? 30,
        messageRetentionSeconds: settings.messageRetentionSeconds ?? 345_600,
        ...(settings.redrivePolicy ? { redrivePolicy: settings.redrivePolicy } : {}),
      },
      messages: [],
      handles: new Map(),
    });
    return url;
  }

  /** The ARN of a queue. */
  arnOf(name: string): string {
    return `arn:aws:sqs:${this.opts.region}:${this.opts.accountId}:${name}`;
  }

  /** The URL of the queue with this ARN (event source mappings and rule targets name queues by ARN). */
  urlOfArn(arn: string): string {
    const queue = [...this.queues.values()].find((q) => q.arn === arn);
    if (!queue) throw new AwsServiceError('QueueDoesNotExist', 'The specified queue does not exist.');
    return queue.url;
  }

  /** Sends a message (what SendMessage and an EventBridge SQS target do); returns its id. */
  send(queueUrl: string, body: string, delaySeconds = 0): string {
    const queue = this.queue(queueUrl);
    if (body.length === 0) throw new AwsServiceError('MissingParameter', 'MessageBody is required');
    if (Buffer.byteLength(body) > MAX_MESSAGE_BYTES) {
      throw new AwsServiceError(
        'InvalidParameterValue',
        'One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.',
      );
    }
    const now = this.opts.clock();
    const message: StoredMessage = {
      messageId: randomUUID(),
      body,
      md5OfBody: md5(body),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
      firstReceivedAt: undefined,
      receiptHandle: undefined,
    };
    queue.messages.push(message);
    return message.messageId;
  }

  /**
   * Receives up to `max` visible messages (oldest first) and hides them for the visibility timeout. Messages
   * already received `maxReceiveCount` times move to the dead-letter queue instead.
   */
  receive(queueUrl: string, max = 1, visibilityTimeoutSeconds?: number): FakeSqsMessage[] {
    const queue = this.queue(queueUrl);
    const now = this.opts.clock();
    this.expire(queue, now);
    const hideFor = (visibilityTimeoutSeconds ?? queue.settings.visibilityTimeoutSeconds) * 1000;
    const out: FakeSqsMessage[] = [];
    for (const message of [...queue.messages]) {
      if (out.length >= max) break;
      if (message.visibleAt > now) continue;
      const redrive = queue.settings.redrivePolicy;
      if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
        this.moveToDeadLetter(queue, message, redrive.deadLetterTargetArn);
        continue;
      }
      message.receiveCount++;
      message.firstReceivedAt ??= now;
      message.visibleAt = now + hideFor;
      message.receiptHandle = `${randomUUID()}#${message.messageId}`;
      queue.handles.set(message.receiptHandle, message);
      out.push({
        messageId: message.messageId,
        receiptHandle: message.receiptHandle,
        body: message.body,
        md5OfBody: message.md5OfBody,
        receiveCount: message.receiveCount,
        sentAt: message.sentAt,
        firstReceivedAt: message.firstReceivedAt,
      });
    }
    return out;
  }

  /** Deletes the message of `receiptHandle` if it is the latest handle of a message still in the queue. */
  deleteMessage(queueUrl: string, receiptHandle: string): void {
    const queue = this.queue(queueUrl);
    const message = queue.handles.get(receiptHandle);
    if (!message)
      throw new AwsServiceError(
        'ReceiptHandleIsInvalid',
        `The receipt handle "${receiptHandle.slice(0, 20)}…" is not valid.`,
      );
    if (message.receiptHandle !== receiptHandle) return;
    const index = queue.messages.indexOf(message);
    if (index >= 0) queue.messages.splice(index, 1);
  }

  /** Sets a received message's remaining visibility timeout (0 makes it visible at once). */
  changeVisibility(queueUrl: string, receiptHandle: string, visibilityTimeoutSeconds: number): void {
    const queue = this.queue(queueUrl);
    const message = queue.handles.get(receiptHandle);
    if (!message)
      throw new AwsServiceError(
        'ReceiptHandleIsInvalid',
        `The receipt handle "${receiptHandle.slice(0, 20)}…" is not valid.`,
      );
    const now = this.opts.clock();
    if (
      !queue.messages.includes(message) ||
      message.visibleAt <= now ||
      message.receiptHandle !== receiptHandle
    ) {
      throw new AwsServiceError('MessageNotInflight', 'The message referred to is not in flight.');
    }
    message.visibleAt = now + visibilityTimeoutSeconds * 1000;
  }

  /** Test helper: the bodies of the messages in a queue (visible or not), oldest first. */
  bodies(queueUrl: string): string[] {
    return this.queue(queueUrl).messages.map((m) => m.body);
  }

  /** Messages in the queue never received yet (the local event source mapping waits for these to be handed out). */
  unreceived(queueUrl: string): number {
    return this.queue(queueUrl).messages.filter((m) => m.receiveCount === 0).length;
  }

  /** Test helper: messages in the queue, and how many are in flight. */
  depth(queueUrl: string): { readonly total: number; readonly inFlight: number } {
    const queue = this.queue(queueUrl);
    const now = this.opts.clock();
    return { total: queue.messages.length, inFlight: queue.messages.filter((m) => m.visibleAt > now).length };
  }

  // ---- protocol operations ------------------------------------------------------------------------------------

  private sendMessageOperation(body: RequestBody): unknown {
    const queue = this.queueOf(body);
    const text = requiredString(body, 'MessageBody');
    const delay = body.DelaySeconds === undefined ? 0 : Number(body.DelaySeconds);
    if (!Number.isInteger(delay) || delay < 0 || delay > 900) {
      throw new AwsServiceError('InvalidParameterValue', 'DelaySeconds must be 0 to 900');
    }
    const messageId = this.send(queue.url, text, delay);
    return { MessageId: messageId, MD5OfMessageBody: md5(text) };
  }

  private async receiveMessageOperation(body: RequestBody): Promise<unknown> {
    const queue = this.queueOf(body);
    const max = body.MaxNumberOfMessages === undefined ? 1 : Number(body.MaxNumberOfMessages);
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      throw new AwsServiceError('InvalidParameterValue', 'MaxNumberOfMessages must be 1 to 10');
    }
    const wait = body.WaitTimeSeconds === undefined ? 0 : Number(body.WaitTimeSeconds);
    if (!Number.isInteger(wait) || wait < 0 || wait > 20) {
      throw new AwsServiceError('InvalidParameterValue', 'WaitTimeSeconds must be 0 to 20');
    }
    const visibility = this.visibility(body.VisibilityTimeout, 'VisibilityTimeout');
    const until = this.opts.clock() + wait * 1000;
    let messages = this.receive(queue.url, max, visibility);
    // Long polling: answer as soon as a message is there, or when the wait is over.
    while (messages.length === 0 && this.opts.clock() < until) {
      await sleep(Math.min(1000, until - this.opts.clock()));
      messages = this.receive(queue.url, max, visibility);
    }
    return {
      Messages: messages.map((m) => ({
        MessageId: m.messageId,
        ReceiptHandle: m.receiptHandle,
        MD5OfBody: m.md5OfBody,
        Body: m.body,
        Attributes: {
          ApproximateReceiveCount: String(m.receiveCount),
          SentTimestamp: String(m.sentAt),
          ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
        },
      })),
    };
  }

  private visibility(value: unknown, field: string): number | undefined {
    if (value === undefined) return undefined;
    const seconds = Number(value);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
      throw new AwsServiceError('InvalidParameterValue', `${field} must be 0 to 43200 seconds`);
    }
    return seconds;
  }

  private queueOf(body: RequestBody): Queue {
    return this.queue(requiredString(body, 'QueueUrl'));
  }

  private queue(url: string): Queue {
    const queue = this.queues.get(url);
    if (!queue) throw new AwsServiceError('QueueDoesNotExist', 'The specified queue does not exist.');
    return queue;
  }

  private expire(queue: Queue, now: number): void {
    const oldest = now - queue.settings.messageRetentionSeconds * 1000;
    for (let i = queue.messages.length - 1; i >= 0; i--) {
      if ((queue.messages[i]?.sentAt ?? now) < oldest) queue.messages.splice(i, 1);
    }
  }

  private moveToDeadLetter(queue: Queue, message: StoredMessage, deadLetterArn: string): void {
    // The target was checked when the queue was created; should it be gone, the message stays where it is.
    const target = [...this.queues.values()].find((q) => q.arn === deadLetterArn);
    if (!target) return;
    const index = queue.messages.indexOf(message);
    if (index >= 0) queue.messages.splice(index, 1);
    // The message keeps its id, body, sent time and receive count, like a redrive.
    target.messages.push({ ...message, visibleAt: this.opts.clock(), receiptHandle: undefined });
  }
}
