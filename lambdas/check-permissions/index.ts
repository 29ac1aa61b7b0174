/** Check Permissions (see core.ts). */
import * as z from 'zod';
import { ENV, SECRET_FIELDS } from '../shared/contract';
import { coordinationStore } from '../shared/coordination';
import { PreflightCache } from '../shared/coordination/preflight-cache';
import { stepHandler } from '../shared/handler';
import { InvestigationRequest } from '../shared/schemas';
import { s1Client, secretReader } from '../shared/services';
import { preflightCacheSeconds, s1Settings } from '../shared/settings';
import { checkPermissions } from './core';

const warningDays = z.coerce.number().int().min(1).max(365).catch(14);

/** The shared preflight cache, when the stack gives this function the coordination table and a lifetime. */
function preflightCache(): PreflightCache | undefined {
  if (!process.env[ENV.coordinationTableName]) return undefined;
  const seconds = preflightCacheSeconds();
  return seconds > 0 ? new PreflightCache(coordinationStore(), seconds) : undefined;
}

export const handler = stepHandler('check-permissions', InvestigationRequest, (event) => {
  const cache = preflightCache();
  return checkPermissions(event, {
    s1: s1Client(),
    token: () => secretReader().get(s1Settings().secretArn, SECRET_FIELDS.s1Token),
    warningDays: warningDays.parse(process.env[ENV.tokenExpiryWarningDays] ?? 14),
    ...(cache ? { cache } : {}),
  });
});
