/**
 * Audit Permissions: the scheduled (and on-demand) permission audit. Runs every check (core.ts), stores the report
 * under `audits/`, emits the metrics and notifies the topic when needed (deliver.ts), and returns the report with
 * where it went. The event is ignored: a schedule and `npx s1cado audit` invoke it the same way.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { loadCollectors } from '../collectors';
import { attempt } from '../shared/audit/checks';
import type { AuditReport } from '../shared/audit/report';
import { s3Client, snsClient } from '../shared/aws';
import { ENV, SECRET_FIELDS } from '../shared/contract';
import { stepHandler } from '../shared/handler';
import { metrics } from '../shared/observability';
import { cadoClient, s1Client, secretReader } from '../shared/services';
import { cadoSettings, envInt, envOptionalList, parseEnv, s1Settings, xdrSettings } from '../shared/settings';
import { type AuditDeps, type CadoAuditApi, runAudit, type S1AuditApi } from './core';
import { type AuditDelivery, deliverReport, type MetricDatum } from './deliver';

const siteIds = envOptionalList().pipe(
  z.array(z.string().regex(/^\d{1,20}$/, 'must be S1 site ids (digits)')).optional(),
);

const auditEnv = z.object({
  [ENV.evidenceBucket]: z.string().min(3),
  [ENV.notificationTopicArn]: z.string().min(1),
  [ENV.tokenExpiryWarningDays]: envInt(14, 1, 365),
  /** Sites the RemoteOps check is limited to (the threat filter's sites); unset: every site in scope. */
  [ENV.auditSiteIds]: siteIds,
});

function auditSettings() {
  return parseEnv(auditEnv, 'audit');
}

/** What the function returns: the report and what became of it. */
export type AuditRun = AuditReport & { readonly delivery: AuditDelivery };

/** A client that could not be built (bad URL, settings) answers every call with that error: its checks fail. */
function unavailable<T extends object>(error: unknown, methods: readonly (keyof T)[]): T {
  const stub: Record<string, unknown> = { apiBaseUrl: '(not configured)', baseUrl: '(not configured)' };
  for (const method of methods) stub[method as string] = () => Promise.reject(error);
  return stub as T;
}

// Read once per container; a broken bundle fails the collector check instead of the whole function.
let collectors: ReturnType<typeof loadCollectors> | undefined;

function emit(datum: MetricDatum): void {
  const single = metrics.singleMetric();
  for (const [name, value] of Object.entries(datum.dimensions)) single.addDimension(name, value);
  single.addMetric(datum.name, MetricUnit.Count, datum.value);
}

export const handler = stepHandler('audit-permissions', z.unknown(), async (): Promise<AuditRun> => {
  const settings = auditSettings();
  const s1 = await attempt(() => s1Client());
  const cado = await attempt(() => cadoClient());
  const purpose = await attempt(() => (cadoSettings().projectMode === 'fixed' ? 'import' : 'handoff'));
  // Collection mode cado-xdr (configured, or an XDR account named): Cado's SentinelOne account is checked too.
  const xdr = await attempt(() => {
    const modes = xdrSettings();
    if (modes.defaultMode !== 'cado-xdr' && !modes.accountName) return undefined;
    return {
      s1ConsoleUrl: s1Settings().consoleUrl,
      required: modes.defaultMode === 'cado-xdr',
      ...(modes.accountName ? { accountName: modes.accountName } : {}),
    };
  });
  const deps: AuditDeps = {
    s1: {
      client: s1.ok
        ? s1.value
        : unavailable<S1AuditApi>(s1.error, [
            'getCurrentUser',
            'getApiTokenDetails',
            'getRole',
            'getSites',
            'listScripts',
          ]),
      token: () => secretReader().get(s1Settings().secretArn, SECRET_FIELDS.s1Token),
      siteIds: settings[ENV.auditSiteIds],
    },
    cado: {
      client: cado.ok
        ? cado.value
        : unavailable<CadoAuditApi>(cado.error, ['whoami', 'systemStatus', 'listXdrAccounts']),
      purpose: purpose.ok ? purpose.value : 'handoff',
      ...(xdr.ok && xdr.value ? { xdr: xdr.value } : {}),
    },
    collectors: () => {
      collectors ??= loadCollectors();
      return collectors;
    },
    warningDays: settings[ENV.tokenExpiryWarningDays],
  };
  const report = await runAudit(deps);
  const delivery = await deliverReport(report, {
    s3: s3Client(),
    sns: snsClient(),
    bucket: settings[ENV.evidenceBucket],
    topicArn: settings[ENV.notificationTopicArn],
    emit,
  });
  return { ...report, delivery };
});
