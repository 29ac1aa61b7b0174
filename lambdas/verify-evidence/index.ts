/** Verify Evidence (see core.ts). */
import { s3Client } from '../shared/aws';
import { nowIso } from '../shared/clock';
import { stepHandler } from '../shared/handler';
import { StagedEvidence } from '../shared/schemas';
import { verifyEvidence } from './core';

export const handler = stepHandler('verify-evidence', StagedEvidence, (input) =>
  verifyEvidence(input, { s3: s3Client(), nowIso }),
);
