/** Check Permissions (see core.ts). */
import * as z from 'zod';
import { ENV, SECRET_FIELDS } from '../shared/contract';
import { stepHandler } from '../shared/handler';
import { InvestigationRequest } from '../shared/schemas';
import { s1Client, secretReader } from '../shared/services';
import { s1Settings } from '../shared/settings';
import { checkPermissions } from './core';

const warningDays = z.coerce.number().int().min(1).max(365).catch(14);

export const handler = stepHandler('check-permissions', InvestigationRequest, (event) =>
  checkPermissions(event, {
    s1: s1Client(),
    token: () => secretReader().get(s1Settings().secretArn, SECRET_FIELDS.s1Token),
    warningDays: warningDays.parse(process.env[ENV.tokenExpiryWarningDays] ?? 14),
  }),
);
