/** Prepare Upload (see core.ts). */
import { s3Client } from '../shared/aws';
import { nowIso } from '../shared/clock';
import { stepHandler } from '../shared/handler';
import { AgentStart } from '../shared/schemas';
import { directUploadSettings, evidenceBucketName, evidenceLegalHold } from '../shared/settings';
import { prepareUpload } from './core';

export const handler = stepHandler('prepare-upload', AgentStart, (input) =>
  prepareUpload(input, {
    s3: s3Client(),
    bucket: evidenceBucketName(),
    overBytes: directUploadSettings().overBytes,
    legalHold: evidenceLegalHold(),
    nowIso,
  }),
);
