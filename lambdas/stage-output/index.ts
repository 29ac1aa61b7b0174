/** Stage Output (see core.ts). */
import { s3Client } from '../shared/aws';
import { now, timeScale } from '../shared/clock';
import { COORDINATION_TABLE_ENV, coordinationStore } from '../shared/coordination';
import { ResultLinks } from '../shared/coordination/result-links';
import { stepHandler } from '../shared/handler';
import { CompletedTask } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { evidenceBucketName, evidenceLegalHold, maxResultBytes, s1Settings } from '../shared/settings';
import { TOOL_VERSION } from '../shared/version';
import { stageOutput } from './core';

/** Stop starting resumes this long before the Lambda would time out. */
const SAFETY_MARGIN_MS = 60_000;

export const handler = stepHandler('stage-output', CompletedTask, (input, context) =>
  stageOutput(input, {
    s1: s1Client(),
    s3: s3Client(),
    bucket: evidenceBucketName(),
    legalHold: evidenceLegalHold(),
    downloadPolicy: s1Settings().downloadPolicy,
    maxResultBytes: maxResultBytes(),
    now,
    // The Lambda's remaining time is real time; the clock may run faster in local runs.
    deadline: now() + Math.max(0, context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS) * timeScale(),
    version: TOOL_VERSION,
    // The link the Task Watcher fetched ahead, when it did (and the store is there: it is in the deployed stack).
    ...(process.env[COORDINATION_TABLE_ENV]
      ? { fetchedLinks: new ResultLinks(coordinationStore(), now) }
      : {}),
  }),
);
