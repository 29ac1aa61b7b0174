/**
 * SNS topics as the local deployment needs them: the notification topic, and what reaches it. EventBridge rules
 * deliver to a topic inside AWS (no SNS API call by the project), so the fake keeps topics and the messages
 * delivered to them, for tests to read.
 */
import type { FakeServiceOptions } from './protocol';

/** A message delivered to a topic. */
export interface FakeSnsMessage {
  readonly messageId: string;
  readonly message: string;
  /** Epoch ms. */
  readonly at: number;
}

/** In-memory SNS topics. */
export class SnsFake {
  private readonly topics = new Map<string, FakeSnsMessage[]>();
  private next = 1;

  constructor(private readonly opts: FakeServiceOptions) {}

  /** Creates a topic (idempotent, like CreateTopic) and returns its ARN. */
  createTopic(name: string): string {
    const arn = `arn:aws:sns:${this.opts.region}:${this.opts.accountId}:${name}`;
    if (!this.topics.has(arn)) this.topics.set(arn, []);
    return arn;
  }

  /** Delivers a message to a topic; an unknown topic is an error, as SNS answers NotFound. */
  deliver(topicArn: string, message: string): string {
    const messages = this.topics.get(topicArn);
    if (!messages) throw new Error(`SNS topic ${topicArn} does not exist`);
    const messageId = `local-${this.next++}`;
    messages.push({ messageId, message, at: this.opts.clock() });
    return messageId;
  }

  /** Test helper: the messages delivered to a topic, oldest first. */
  messages(topicArn: string): readonly FakeSnsMessage[] {
    return this.topics.get(topicArn) ?? [];
  }
}
