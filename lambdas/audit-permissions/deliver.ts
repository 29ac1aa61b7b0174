/**
 * What the audit Lambda does with a report: keeps it in S3 (`audits/<yyyy-mm-dd>/<timestamp>.json`), emits
 * CloudWatch metrics, and notifies the SNS topic when a check fails or a warning is new compared with the previous
 * report.
 *
 * Metrics (namespace `S1CadoForensics`, plus Powertools' `service` dimension):
 * - `AuditChecks`, dimension `Status` = pass | warn | fail | unknown: how many checks ended so (all four emitted on
 *   every run, zeros included, so an alarm on `Status=fail` sees data);
 * - `AuditCheckFailed`, dimension `CheckId` (e.g. `s1-token-expiry`): 1 when that check failed, else 0.
 */
import { type _Object, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { type AuditCheck, AuditReport, CHECK_STATUSES } from '../shared/audit/report';
import { BUCKET_PREFIXES, METRICS } from '../shared/contract';
import { AuditDeliveryError } from '../shared/errors';
import { auditKey } from '../shared/evidence/keys';
import { getJson, putJson } from '../shared/evidence/manifest';
import { logger } from '../shared/observability';
import { formatReport, summaryLine } from './format';

/** Key prefix of the reports. */
export const AUDITS_PREFIX = BUCKET_PREFIXES.audits;

/** Metric names the audit emits (the PermissionAudit construct alarms on them). */
export const AUDIT_METRICS = {
  /** Checks per status; dimension `Status`. */
  checks: METRICS.auditChecks,
  /** 0/1 per check; dimension `CheckId`. */
  checkFailed: 'AuditCheckFailed',
} as const;

/** How far back the previous report is looked for (a warning with no report in this window counts as new). */
export const PREVIOUS_REPORT_LOOKBACK_DAYS = 90;

/** One metric value with its dimensions. */
export interface MetricDatum {
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The metrics of one report (see the module comment). */
export function auditMetrics(report: AuditReport): MetricDatum[] {
  return [
    ...CHECK_STATUSES.map((status) => ({
      name: AUDIT_METRICS.checks,
      dimensions: { Status: status },
      value: report.counts[status],
    })),
    ...report.checks.map((check) => ({
      name: AUDIT_METRICS.checkFailed,
      dimensions: { CheckId: check.id },
      value: check.status === 'fail' ? 1 : 0,
    })),
  ];
}

/** What the topic is told, or why not. */
export interface NotificationDecision {
  readonly notify: boolean;
  readonly failed: readonly AuditCheck[];
  /** Warn/unknown checks whose status differs from the previous report (or that it did not have). */
  readonly newWarnings: readonly AuditCheck[];
}

/**
 * Notify when anything fails (every time: a failure is worth repeating daily until it is fixed), or when a check
 * is `warn` or `unknown` and was not so in the previous report. Without a previous report every warning is new.
 */
export function decideNotification(
  report: AuditReport,
  previous: AuditReport | undefined,
): NotificationDecision {
  const before = new Map(previous?.checks.map((check) => [check.id, check.status]));
  const failed = report.checks.filter((check) => check.status === 'fail');
  const newWarnings = report.checks.filter(
    (check) =>
      (check.status === 'warn' || check.status === 'unknown') && before.get(check.id) !== check.status,
  );
  return { notify: failed.length > 0 || newWarnings.length > 0, failed, newWarnings };
}

/** The SNS subject (≤ 100 ASCII characters) and message. */
export function notificationMessage(
  report: AuditReport,
  decision: NotificationDecision,
  location: string,
): { subject: string; message: string } {
  const parts: string[] = [];
  if (decision.failed.length > 0) parts.push(`${decision.failed.length} failed`);
  if (decision.newWarnings.length > 0) {
    parts.push(`${decision.newWarnings.length} new warning${decision.newWarnings.length === 1 ? '' : 's'}`);
  }
  const subject = `S1-Cado permission audit: ${parts.join(', ') || report.status}`.slice(0, 100);
  const newLines = decision.newWarnings.map(
    (check) => `  - ${check.title} (${check.status}): ${check.reason}`,
  );
  const message = [
    `The scheduled permission audit found problems the forensic workflow will run into (${summaryLine(report)}).`,
    ...(decision.failed.length > 0
      ? ['Failed:', ...decision.failed.map((c) => `  - ${c.title}: ${c.reason}`)]
      : []),
    ...(newLines.length > 0 ? ['New since the previous audit:', ...newLines] : []),
    '',
    formatReport(report),
    '',
    `Full report: ${location}`,
    'Run it again after fixing: npx s1cado audit',
  ].join('\n');
  return { subject, message };
}

/**
 * The latest report stored before `currentKey` (keys sort by time), within the lookback window; undefined when
 * there is none or it cannot be read (then every warning counts as new, which errs on the side of telling).
 */
export async function findPreviousReport(
  s3: S3Client,
  bucket: string,
  currentKey: string,
  now: number,
): Promise<{ key: string; report: AuditReport } | undefined> {
  const since = new Date(now - PREVIOUS_REPORT_LOOKBACK_DAYS * 86_400_000).toISOString().slice(0, 10);
  try {
    let latest: string | undefined;
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: AUDITS_PREFIX,
          StartAfter: `${AUDITS_PREFIX}${since}`,
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? ([] as _Object[])) {
        const key = object.Key;
        if (key?.endsWith('.json') && key < currentKey && (latest === undefined || key > latest))
          latest = key;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (latest === undefined) return undefined;
    const report = await getJson(s3, bucket, latest, AuditReport);
    return report ? { key: latest, report } : undefined;
  } catch (error) {
    logger.warn('Could not read the previous audit report; every warning counts as new', {
      error: (error as Error).name,
    });
    return undefined;
  }
}

/** What became of a report. */
export interface AuditDelivery {
  /** Where the report is (undefined when writing it failed). */
  readonly storedAt: { readonly bucket: string; readonly key: string } | undefined;
  /** The report it was compared with. */
  readonly previousKey: string | undefined;
  readonly notification: 'sent' | 'not-needed' | 'failed';
}

/** Dependencies of {@link deliverReport}. */
export interface DeliverDeps {
  readonly s3: S3Client;
  readonly sns: SNSClient;
  readonly bucket: string;
  readonly topicArn: string;
  /** Emits one metric value. */
  readonly emit: (datum: MetricDatum) => void;
}

/**
 * Reads the previous report, stores this one, emits the metrics and notifies when needed. Every step is tried;
 * if storing or publishing failed, {@link AuditDeliveryError} is thrown at the end (so the invocation counts as an
 * error and alarms) after the others have been done.
 */
export async function deliverReport(report: AuditReport, deps: DeliverDeps): Promise<AuditDelivery> {
  const key = auditKey(new Date(report.startedAt));
  const previous = await findPreviousReport(deps.s3, deps.bucket, key, Date.parse(report.startedAt));
  const problems: string[] = [];

  let storedAt: AuditDelivery['storedAt'];
  try {
    await putJson(deps.s3, deps.bucket, key, report);
    storedAt = { bucket: deps.bucket, key };
  } catch (error) {
    problems.push(`writing s3://${deps.bucket}/${key} failed (${(error as Error).name})`);
  }

  for (const datum of auditMetrics(report)) deps.emit(datum);

  const decision = decideNotification(report, previous?.report);
  let notification: AuditDelivery['notification'] = 'not-needed';
  if (decision.notify) {
    const location = storedAt
      ? `s3://${storedAt.bucket}/${storedAt.key}`
      : '(the report could not be stored)';
    const { subject, message } = notificationMessage(report, decision, location);
    try {
      await deps.sns.send(
        new PublishCommand({ TopicArn: deps.topicArn, Subject: subject, Message: message }),
      );
      notification = 'sent';
    } catch (error) {
      notification = 'failed';
      problems.push(`publishing to the notification topic failed (${(error as Error).name})`);
    }
  }

  logger.info('Permission audit finished', {
    status: report.status,
    counts: report.counts,
    reportKey: storedAt?.key,
    previousReportKey: previous?.key,
    notification,
  });
  if (problems.length > 0) {
    throw new AuditDeliveryError(`The audit ran (${summaryLine(report)}) but ${problems.join('; ')}`);
  }
  return { storedAt, previousKey: previous?.key, notification };
}
