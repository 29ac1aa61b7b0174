/**
 * Find Staged Evidence (see core.ts). The re-run state machine passes its execution input (`input`) and the
 * execution's facts.
 */
import * as z from 'zod';
import { s3Client } from '../shared/aws';
import { now } from '../shared/clock';
import { parseInput, stepHandler } from '../shared/handler';
import { HandoffRerunInput } from '../shared/schemas';
import { evidenceBucketName } from '../shared/settings';
import { findStagedEvidence } from './core';

const Event = z.object({
  input: z.unknown(),
  execution: z.object({ name: z.string(), id: z.string().optional(), startTime: z.string().optional() }),
});

export const handler = stepHandler('find-staged-evidence', Event, (event) =>
  findStagedEvidence(parseInput(HandoffRerunInput, event.input, 'HandOffRerun input'), event.execution, {
    s3: s3Client(),
    bucket: evidenceBucketName(),
    now,
  }),
);
