/** Backfill Threats (see core.ts): invoked by `s1cado backfill` through lambda:Invoke. */
import * as z from 'zod';
import { eventBridgeClient, s3Client, sfnClient } from '../shared/aws';
import { ENV } from '../shared/contract';
import { stepHandler } from '../shared/handler';
import { threatFilterFromEnv } from '../shared/intake/settings';
import { BackfillInput } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { envInt, parseEnv } from '../shared/settings';
import { backfillThreats } from './core';

const backfillEnv = z.object({
  [ENV.eventBusName]: z.string().min(1),
  [ENV.stateMachineArn]: z.string().regex(/^arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:[^:]+$/),
  [ENV.evidenceBucket]: z.string().min(3),
  [ENV.backfillMaxThreats]: envInt(500, 1, 5000),
});

export const handler = stepHandler('backfill-threats', BackfillInput, (input) => {
  const env = parseEnv(backfillEnv, 'backfill-threats');
  return backfillThreats(input, {
    s1: s1Client(),
    events: eventBridgeClient(),
    eventBusName: env[ENV.eventBusName],
    sfn: sfnClient(),
    s3: s3Client(),
    bucket: env[ENV.evidenceBucket],
    stateMachineArn: env[ENV.stateMachineArn],
    filter: threatFilterFromEnv(),
    maxThreats: env[ENV.backfillMaxThreats],
  });
});
