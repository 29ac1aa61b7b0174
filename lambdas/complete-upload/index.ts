/** Complete Upload (see core.ts). */
import { s3Client } from '../shared/aws';
import { now, timeScale } from '../shared/clock';
import { stepHandler } from '../shared/handler';
import { CompletedTask } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { evidenceBucketName, maxResultBytes, s1Settings, workflowSettings } from '../shared/settings';
import { TOOL_VERSION } from '../shared/version';
import { completeUpload } from './core';

/** Stop starting resumes this long before the Lambda would time out. */
const SAFETY_MARGIN_MS = 60_000;

export const handler = stepHandler('complete-upload', CompletedTask, (input, context) =>
  completeUpload(input, {
    s1: s1Client(),
    s3: s3Client(),
    bucket: evidenceBucketName(),
    downloadPolicy: s1Settings().downloadPolicy,
    maxResultBytes: maxResultBytes(),
    graceSeconds: workflowSettings().taskGraceSeconds,
    now,
    deadline: now() + Math.max(0, context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS) * timeScale(),
    version: TOOL_VERSION,
  }),
);
