/**
 * Start Investigation as the consumer of the intake queue (DESIGN §9: intake through a queue with bounded
 * concurrency). The intake rule sends each threat event to an SQS queue; Lambda's event source mapping hands this
 * function batches of records with at most `intakeMaxConcurrency` invocations at once, so a burst of threats starts
 * investigations at a bounded pace instead of all at once.
 *
 * Records are handled one after the other (the mapping's concurrency is the bound, not the batch size). A record
 * whose start failed is reported in `batchItemFailures` (`ReportBatchItemFailures`): SQS makes it visible again
 * after the visibility timeout and, after `maxReceiveCount` receives, moves it to the dead-letter queue (alarmed).
 * A redelivered record starts nothing twice: the execution name is derived from the threat (see core.ts).
 */
import * as z from 'zod';
import { logger } from '../shared/observability';
import { type StartResult, ThreatEvent } from './core';

/** One SQS record as the event source mapping delivers it (fields this consumer reads). */
export const SqsRecord = z.looseObject({
  messageId: z.string().min(1),
  body: z.string(),
  eventSource: z.literal('aws:sqs'),
  attributes: z.looseObject({ ApproximateReceiveCount: z.string().optional() }).optional(),
});

/** A batch from the intake queue. */
export const SqsBatch = z.looseObject({ Records: z.array(SqsRecord).min(1) });
export type SqsBatch = z.infer<typeof SqsBatch>;

/** The partial-batch answer: the records to deliver again. */
export interface BatchResult {
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

/** Starts the investigation of each record's threat event; failed records are handed back for redelivery. */
export async function startFromQueue(
  batch: SqsBatch,
  start: (event: ThreatEvent) => Promise<StartResult>,
): Promise<BatchResult> {
  const batchItemFailures: { itemIdentifier: string }[] = [];
  for (const record of batch.Records) {
    const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? '1');
    let event: ThreatEvent;
    try {
      event = ThreatEvent.parse(JSON.parse(record.body));
    } catch {
      // Not a threat event: it can never start anything. Handed back so that it ends in the dead-letter queue
      // (visible and alarmed) rather than vanishing; its body is not logged (it is whatever reached the queue).
      logger.error(
        'An intake queue record is not a SentinelOne threat event; left for the dead-letter queue',
        {
          messageId: record.messageId,
          receiveCount,
        },
      );
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    try {
      const result = await start(event);
      logger.info('Intake record handled', {
        messageId: record.messageId,
        outcome: result.outcome,
        executionName: result.executionName,
      });
    } catch (error) {
      logger.warn('Could not start the investigation of an intake record; it will be delivered again', {
        messageId: record.messageId,
        threatId: event.detail.threatId,
        receiveCount,
        error: error instanceof Error ? error.name : 'Error',
      });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    } finally {
      logger.removeKeys(['investigationId', 'threatId']);
    }
  }
  return { batchItemFailures };
}
