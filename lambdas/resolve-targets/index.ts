/** Resolve Targets (see core.ts). */
import { z } from 'zod';
import { PreflightFindings } from '../check-permissions/core';
import { stepHandler } from '../shared/handler';
import { s1Client } from '../shared/services';
import { resolveTargets } from './core';

const Event = z.object({
  input: z.unknown(),
  execution: z.object({ name: z.string(), id: z.string().optional(), startTime: z.string().optional() }),
  preflight: PreflightFindings.optional(),
});

export const handler = stepHandler('resolve-targets', Event, (event) =>
  resolveTargets(event, { s1: s1Client() }),
);
