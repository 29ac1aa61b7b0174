/**
 * Start Investigation as the intake queue's consumer: each record is started once in order, a record whose start
 * failed or that is not a threat event is handed back (`batchItemFailures`) for redelivery and, in the end, the
 * dead-letter queue; the others are reported handled.
 */
import { describe, expect, it } from 'vitest';
import type { StartResult, ThreatEvent } from '../../lambdas/start-investigation/core';
import { SqsBatch, startFromQueue } from '../../lambdas/start-investigation/queue';

function threatEvent(threatId: string) {
  return {
    version: '0',
    id: `event-${threatId}`,
    'detail-type': 'SentinelOne Threat',
    source: 's1cado.intake',
    detail: {
      threatId,
      agentId: '2000000000000000001',
      agentOsType: 'linux',
      computerName: 'host',
      siteId: null,
      threatName: 'x',
      classification: 'Malware',
      confidenceLevel: 'malicious',
      createdAt: '2026-12-03T12:00:00.000Z',
      updatedAt: '2026-12-03T12:00:00.000Z',
      via: 'poller',
    },
  };
}

const record = (messageId: string, body: unknown) => ({
  messageId,
  receiptHandle: `handle-${messageId}`,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  eventSource: 'aws:sqs',
  attributes: { ApproximateReceiveCount: '1' },
});

describe('startFromQueue', () => {
  it('starts each record in order and hands back the ones that failed or are not threat events', async () => {
    const batch = SqsBatch.parse({
      Records: [
        record('m1', threatEvent('1000000000000000001')),
        record('m2', '{"not": "a threat event"}'),
        record('m3', threatEvent('1000000000000000003')),
        record('m4', threatEvent('1000000000000000004')),
      ],
    });
    const started: string[] = [];
    const result = await startFromQueue(batch, async (event: ThreatEvent): Promise<StartResult> => {
      started.push(event.detail.threatId);
      if (event.detail.threatId.endsWith('3')) throw new Error('S1 down');
      return { outcome: 'started', executionName: `threat-${event.detail.threatId}`, executionArn: 'arn' };
    });
    expect(started).toEqual(['1000000000000000001', '1000000000000000003', '1000000000000000004']);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm2' }, { itemIdentifier: 'm3' }]);
  });
});
