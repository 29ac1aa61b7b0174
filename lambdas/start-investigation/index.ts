/**
 * Start Investigation (see core.ts): the consumer of the intake queue (queue.ts: SQS batches from the event source
 * mapping), and still callable with one EventBridge threat event (a direct invoke).
 */

import * as z from 'zod';
import { profileSettingsFromEnv } from '../collectors/profiles';
import { s3Client, sfnClient } from '../shared/aws';
import { now } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { startSettings, threatFilterFromEnv } from '../shared/intake/settings';
import { logger } from '../shared/observability';
import { s1Client } from '../shared/services';
import { startInvestigation, ThreatEvent } from './core';
import { SqsBatch, startFromQueue } from './queue';

function startOne(event: ThreatEvent) {
  const settings = startSettings();
  return startInvestigation(event, {
    sfn: sfnClient(),
    s3: s3Client(),
    evidenceBucket: settings.evidenceBucket,
    stateMachineArn: settings.stateMachineArn,
    s1: s1Client(),
    addThreatNote: settings.addThreatNote,
    filter: threatFilterFromEnv(),
    profiles: profileSettingsFromEnv(),
    retries: coordinationStore,
    now,
  });
}

const isBatch = (event: SqsBatch | ThreatEvent): event is SqsBatch => Array.isArray(event.Records);

export const handler = stepHandler('start-investigation', z.union([SqsBatch, ThreatEvent]), async (event) => {
  if (isBatch(event)) return startFromQueue(event, startOne);
  try {
    return await startOne(event);
  } finally {
    logger.removeKeys(['threatId']);
  }
});
