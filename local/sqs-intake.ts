/**
 * The SQS side of the local deployment: the template's queues created in the AWS fake (with their visibility
 * timeout, retention and redrive policy), and a poller per Lambda event source mapping standing in for Lambda's:
 * it receives batches of up to `BatchSize` records, runs at most `ScalingConfig.MaximumConcurrency` invocations at
 * once, deletes the records an invocation handled (all of them, or all but its `batchItemFailures` with
 * `ReportBatchItemFailures`), and leaves the others to reappear after the visibility timeout, until the queue's
 * redrive policy moves them to the dead-letter queue.
 */
import { sleep } from '../lambdas/shared/clock';
import type { ExtractedFunction } from './asl/extract';
import type { AwsFake, FakeSqsMessage } from './aws-fake';

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

type GetAtt = { 'Fn::GetAtt'?: [string, string] };

/** Invokes a function of the template with an event (the local stack's invoke). */
export type InvokeFunction = (
  fn: ExtractedFunction,
  event: unknown,
  invocation: { requestId: string },
) => unknown;

/** The template's queues in the fake, and the event source mappings' pollers. */
export interface LocalQueues {
  /** Queue URL in the fake, by the queue's logical id. */
  readonly urls: ReadonlyMap<string, string>;
  /** Records an invocation failed on (thrown, or named in `batchItemFailures`), with the record's message id. */
  readonly failures: { readonly messageId: string; readonly error: unknown }[];
  /** Makes the pollers look at their queues now (after a send). */
  wake(): void;
  /** Resolves once every record sent so far was handed to an invocation once and those invocations ended. */
  settled(): Promise<void>;
  /** Stops the pollers (invocations still running finish on their own). */
  stop(): void;
}

function getAttId(value: unknown): string | undefined {
  const att = (value as GetAtt | undefined)?.['Fn::GetAtt'];
  return att?.[1] === 'Arn' ? att[0] : undefined;
}

/** The record Lambda's SQS event source builds from a message. */
function recordOf(message: FakeSqsMessage, queueArn: string) {
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentAt),
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt),
    },
    messageAttributes: {},
    md5OfBody: message.md5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
}

/** Creates the template's queues and starts a poller per event source mapping onto one of them. */
export function wireQueues(
  template: Record<string, unknown>,
  functions: ReadonlyMap<string, ExtractedFunction>,
  aws: AwsFake,
  invoke: InvokeFunction,
): LocalQueues {
  const resources = (template.Resources ?? {}) as Record<string, TemplateResource>;
  const queues = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue');
  const urls = new Map<string, string>();
  // Dead-letter targets first: a redrive policy must name an existing queue.
  const ordered = [...queues].sort(
    ([, a], [, b]) =>
      Number(a.Properties?.RedrivePolicy !== undefined) - Number(b.Properties?.RedrivePolicy !== undefined),
  );
  for (const [logicalId, resource] of ordered) {
    const props = resource.Properties ?? {};
    const redrive = props.RedrivePolicy as
      | { deadLetterTargetArn?: unknown; maxReceiveCount?: number }
      | undefined;
    const deadLetterId = getAttId(redrive?.deadLetterTargetArn);
    urls.set(
      logicalId,
      aws.sqs.createQueue(logicalId, {
        ...(typeof props.VisibilityTimeout === 'number'
          ? { visibilityTimeoutSeconds: props.VisibilityTimeout }
          : {}),
        ...(typeof props.MessageRetentionPeriod === 'number'
          ? { messageRetentionSeconds: props.MessageRetentionPeriod }
          : {}),
        ...(deadLetterId && redrive?.maxReceiveCount
          ? {
              redrivePolicy: {
                deadLetterTargetArn: aws.sqs.arnOf(deadLetterId),
                maxReceiveCount: redrive.maxReceiveCount,
              },
            }
          : {}),
      }),
    );
  }

  const failures: { messageId: string; error: unknown }[] = [];
  const pending = new Set<Promise<void>>();
  const wakers = new Set<() => void>();
  const watched: string[] = [];
  let stopped = false;
  const wake = () => {
    for (const waker of [...wakers]) waker();
  };

  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::Lambda::EventSourceMapping') continue;
    const props = resource.Properties ?? {};
    const queueId = getAttId(props.EventSourceArn);
    const url = queueId ? urls.get(queueId) : undefined;
    const fnId = (props.FunctionName as { Ref?: string } | undefined)?.Ref;
    const fn = [...functions.values()].find((f) => f.logicalId === fnId);
    if (!queueId || !url || !fn) continue;
    watched.push(url);
    const batchSize = typeof props.BatchSize === 'number' ? props.BatchSize : 10;
    const maxConcurrency =
      (props.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency ?? 1000;
    const partial = ((props.FunctionResponseTypes as string[] | undefined) ?? []).includes(
      'ReportBatchItemFailures',
    );
    const queueArn = aws.sqs.arnOf(queueId);
    let inFlight = 0;

    const deliver = (messages: FakeSqsMessage[]) => {
      inFlight++;
      const run = (async () => {
        let handled = new Set(messages.map((m) => m.messageId));
        try {
          const result = await invoke(
            fn,
            { Records: messages.map((m) => recordOf(m, queueArn)) },
            { requestId: `sqs-${messages[0]?.messageId}` },
          );
          const failed = partial
            ? ((result as { batchItemFailures?: { itemIdentifier?: string }[] } | undefined)
                ?.batchItemFailures ?? [])
            : [];
          for (const item of failed) {
            if (!item.itemIdentifier) continue;
            handled.delete(item.itemIdentifier);
            failures.push({ messageId: item.itemIdentifier, error: 'reported in batchItemFailures' });
          }
        } catch (error) {
          // The whole batch failed: every record comes back after the visibility timeout.
          handled = new Set();
          for (const m of messages) failures.push({ messageId: m.messageId, error });
        }
        for (const m of messages) {
          if (handled.has(m.messageId)) aws.sqs.deleteMessage(url, m.receiptHandle);
        }
      })().finally(() => {
        inFlight--;
        pending.delete(run);
        wake();
      });
      pending.add(run);
    };

    void (async () => {
      while (!stopped) {
        while (!stopped && inFlight < maxConcurrency) {
          const messages = aws.sqs.receive(url, batchSize);
          if (messages.length === 0) break;
          deliver(messages);
        }
        // Lambda's pollers long-poll; here a second of simulated time, or sooner when something was sent.
        await new Promise<void>((resolve) => {
          const done = () => {
            wakers.delete(done);
            resolve();
          };
          wakers.add(done);
          void sleep(1000).then(done);
        });
      }
    })();
  }

  return {
    urls,
    failures,
    wake,
    async settled() {
      for (;;) {
        if (pending.size > 0) {
          await Promise.all([...pending]);
          continue;
        }
        if (!watched.some((url) => aws.sqs.unreceived(url) > 0)) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    stop() {
      stopped = true;
      wake();
    },
  };
}
