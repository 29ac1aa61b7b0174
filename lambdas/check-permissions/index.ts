/** Check Permissions (see core.ts). */
import { z } from 'zod';
import { ENV, SECRET_FIELDS } from '../shared/contract';
import { stepHandler } from '../shared/handler';
import { s1Client, secretReader } from '../shared/services';
import { s1Settings } from '../shared/settings';
import { checkPermissions } from './core';

const warningDays = z.coerce.number().int().min(1).max(365).catch(14);

const Event = z.object({
  input: z.unknown(),
  execution: z.object({ name: z.string(), id: z.string().optional(), startTime: z.string().optional() }),
});

export const handler = stepHandler('check-permissions', Event, (event) =>
  checkPermissions(event, {
    s1: s1Client(),
    token: () => secretReader().get(s1Settings().secretArn, SECRET_FIELDS.s1Token),
    warningDays: warningDays.parse(process.env[ENV.tokenExpiryWarningDays] ?? 14),
  }),
);
