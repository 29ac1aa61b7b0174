/** Cancel Investigation (see core.ts): invoked by `s1cado cancel` through lambda:Invoke. */
import * as z from 'zod';
import { s3Client, sfnClient } from '../shared/aws';
import { nowIso } from '../shared/clock';
import { ENV } from '../shared/contract';
import { coordinationStore } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { CancelInvestigationInput } from '../shared/schemas';
import { cadoClient, s1Client } from '../shared/services';
import { parseEnv } from '../shared/settings';
import { TOOL_VERSION } from '../shared/version';
import { cancelInvestigation } from './core';

const cancelEnv = z.object({
  [ENV.stateMachineArn]: z.string().regex(/^arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:[^:]+$/),
  [ENV.evidenceBucket]: z.string().min(3),
});

export const handler = stepHandler('cancel-investigation', CancelInvestigationInput, (input) => {
  const env = parseEnv(cancelEnv, 'cancel-investigation');
  return cancelInvestigation(input, {
    sfn: sfnClient(),
    s3: s3Client(),
    bucket: env[ENV.evidenceBucket],
    stateMachineArn: env[ENV.stateMachineArn],
    s1: s1Client(),
    cado: cadoClient(),
    store: coordinationStore(),
    nowIso,
    version: TOOL_VERSION,
  });
});
