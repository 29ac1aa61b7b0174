import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { ENV, METRICS } from '../../lambdas/shared/contract';
import type { S1CadoConfig } from '../config';
import type { ApiSecrets } from './api-secrets';
import type { EvidenceBucket } from './evidence-bucket';
import type { Monitoring } from './monitoring';
import { METRICS_NAMESPACE, TaskFunction } from './task-function';

/** The Powertools service name of the audit function (a dimension of its metrics). */
export const AUDIT_SERVICE_NAME = METRICS.serviceName;

/** The metric the audit emits per status (dimension `Status`), from the contract. */
export const AUDIT_CHECKS_METRIC = METRICS.auditChecks;

/** Properties of {@link PermissionAudit}. */
export interface PermissionAuditProps {
  /** The validated configuration (`auditSchedule`, `tokenExpiryWarningDays`, URLs, threat filter sites). */
  readonly config: S1CadoConfig;
  /** Where the reports go (`audits/`). */
  readonly evidence: EvidenceBucket;
  /** The S1 token and Cado key the audit checks. */
  readonly secrets: ApiSecrets;
  /** The topic that hears about failures and new warnings, and receives the alarms. */
  readonly monitoring: Monitoring;
}

/**
 * The scheduled permission audit (DESIGN §1): the `audit-permissions` Lambda, run by an EventBridge rule on
 * `config.auditSchedule` (and on demand by `npx s1cado audit`). It checks the S1 service user and the Cado key,
 * writes its report under `audits/` in the evidence bucket, emits the metrics `AuditChecks` (by `Status`) and
 * `AuditCheckFailed` (by `CheckId`), and publishes to the notification topic when a check fails or a warning is
 * new.
 *
 * Two alarms go to the same topic, as a second path that does not depend on the function publishing: one when a
 * day's audits had a failed check, one when the function itself errored (it could not run or store its report).
 * Both use one-day periods, matching the default daily schedule: a failing day is in ALARM until the next day's
 * audit passes.
 *
 * Least privilege: read the two secrets, write and read reports under `audits/` only (reading the previous report
 * decides whether a warning is new), and publish to the topic.
 */
export class PermissionAudit extends Construct {
  /** The audit function. */
  readonly function: TaskFunction;
  /** The schedule. */
  readonly rule: Rule;
  /** In ALARM when an audit reported a failed check. */
  readonly failedChecksAlarm: Alarm;
  /** In ALARM when the audit function errored. */
  readonly errorsAlarm: Alarm;

  constructor(scope: Construct, id: string, props: PermissionAuditProps) {
    super(scope, id);
    const { config, evidence, secrets, monitoring } = props;

    this.function = new TaskFunction(this, 'AuditPermissions', {
      step: 'audit-permissions',
      description: 's1-cado-forensics: audit of the S1 service user and the Cado key',
      logRetentionDays: config.logRetentionDays,
      serviceName: AUDIT_SERVICE_NAME,
      // Two services, each call retried within the HTTP layer's 25 s budget; a few calls run one after another.
      timeout: Duration.minutes(3),
      bundleCollectors: true,
      environment: {
        [ENV.tokenExpiryWarningDays]: String(config.tokenExpiryWarningDays),
        [ENV.notificationTopicArn]: monitoring.topic.topicArn,
        ...(config.threatFilter.siteIds ? { [ENV.auditSiteIds]: config.threatFilter.siteIds.join(',') } : {}),
        // Collection mode cado-xdr: the audit checks Cado's SentinelOne account (only set when it applies).
        ...(config.collectionMode === 'cado-xdr' ? { [ENV.collectionMode]: config.collectionMode } : {}),
        ...(config.cadoXdrAccountName ? { [ENV.cadoXdrAccountName]: config.cadoXdrAccountName } : {}),
      },
    });
    secrets.bindS1(this.function);
    secrets.bindCado(this.function);
    evidence.bindAuditReports(this.function);
    monitoring.grantPublish(this.function);

    this.rule = new Rule(this, 'Schedule', {
      description: 'Runs the s1-cado-forensics permission audit',
      schedule: Schedule.expression(config.auditSchedule),
    });
    this.rule.addTarget(
      new LambdaFunction(this.function, {
        event: RuleTargetInput.fromObject({ source: 'schedule' }),
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
      }),
    );

    this.failedChecksAlarm = new Alarm(this, 'FailedChecksAlarm', {
      alarmDescription:
        'The permission audit found a failed check: the next investigation may not be able to collect or hand off ' +
        'evidence. Read the latest report under audits/ or run `npx s1cado audit`.',
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: AUDIT_CHECKS_METRIC,
        dimensionsMap: { service: AUDIT_SERVICE_NAME, Status: 'fail' },
        statistic: 'Sum',
        period: Duration.days(1),
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.errorsAlarm = new Alarm(this, 'ErrorsAlarm', {
      alarmDescription:
        'The permission audit function failed: the audit did not run, or its report could not be stored or sent. ' +
        'See its log group.',
      metric: this.function.metricErrors({ period: Duration.days(1), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    monitoring.notifyOn(this.failedChecksAlarm);
    monitoring.notifyOn(this.errorsAlarm);
  }
}
