import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  type AlarmBase,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Grant, type IGrantable, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { FilterPattern, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS, RETRY_LOG_MESSAGE } from '../../lambdas/shared/contract';
import { AUDIT_CHECKS_METRIC, AUDIT_SERVICE_NAME } from './permission-audit';
import { METRICS_NAMESPACE, type TaskFunction } from './task-function';

/** The `service` dimension Powertools adds to the workflow Lambdas' metrics (TaskFunction's default). */
const WORKFLOW_SERVICE = METRICS.serviceName;

/**
 * Metrics the Lambdas emit (Powertools Metrics, namespace `S1CadoForensics`, dimension `service`) or that the
 * dashboard derives from their logs (`throttled`: a metric filter on the HTTP client's retry lines, so the CLI,
 * which uses the same client, never emits metrics).
 */
export const WORKFLOW_METRICS = {
  investigations: METRICS.investigations,
  stagedBytes: METRICS.stagedBytes,
  tasksStarted: METRICS.tasksStarted,
  tasksClosed: METRICS.tasksClosed,
  throttled: METRICS.throttled,
} as const;

/** The outcomes Record Outcome writes into `case.json` (lambdas/shared/evidence/case-record.ts). */
const OUTCOMES = ['complete', 'partial', 'staged_handoff_failed', 'failed'] as const;

/** What {@link Monitoring.watch} draws and alarms on. */
export interface WatchedWorkload {
  /** The state machines, by a short stable name (part of the alarm ids: never rename one). */
  readonly stateMachines: Readonly<Record<string, IStateMachine>>;
  /** The Stage Output function (its errors alarm). */
  readonly stagingFunction: TaskFunction;
  /** Every Lambda whose log lines may report a 429 from S1 or Cado. */
  readonly functions: readonly TaskFunction[];
}

/** Properties of {@link Monitoring}. */
export interface MonitoringProps {
  /**
   * Addresses subscribed to the notification topic (`config.notificationEmails`); each receives a
   * confirmation email after deployment.
   * @default - no subscriptions
   */
  readonly notificationEmails?: readonly string[];
}

/**
 * Where operators hear about the system: an SNS topic encrypted with a customer-managed key
 * (TLS-only publishing), with email subscriptions. CloudWatch alarms and EventBridge rules can
 * publish to it (the key policy lets those services use the key).
 */
export class Monitoring extends Construct {
  /** The notification topic. */
  readonly topic: Topic;
  /** The key encrypting the topic. */
  readonly key: Key;
  /** Every alarm sent to the topic (see {@link notifyOn}), shown on the dashboard. */
  readonly alarms: AlarmBase[] = [];
  /** The operations dashboard, once {@link watch} has run. */
  dashboard?: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: 'Encrypts s1-cado-forensics notifications',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Alarms and rules publish through the service principals, which need the key: with the AWS-managed
    // SNS key they could not publish to an encrypted topic at all. Each grant holds only for this account's
    // alarms and rules (aws:SourceAccount / aws:SourceArn), so another account's alarm or rule naming the
    // topic cannot use the key (the confused-deputy case).
    const stack = Stack.of(this);
    const publishers = [
      ['AllowAlarmPublishing', 'cloudwatch.amazonaws.com', 'cloudwatch', 'alarm:*'],
      ['AllowRulePublishing', 'events.amazonaws.com', 'events', 'rule/*'],
    ] as const;
    for (const [sid, service, arnService, resource] of publishers) {
      this.key.addToResourcePolicy(
        new PolicyStatement({
          sid,
          principals: [new ServicePrincipal(service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnLike: {
              'aws:SourceArn': `arn:${stack.partition}:${arnService}:${stack.region}:${stack.account}:${resource}`,
            },
          },
        }),
      );
    }
    this.topic = new Topic(this, 'Topic', {
      displayName: 'S1 Cado forensics',
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of props.notificationEmails ?? []) {
      this.topic.addSubscription(new EmailSubscription(email));
    }
  }

  /** Sends the alarm's ALARM and OK transitions to the topic. */
  notifyOn(alarm: AlarmBase): void {
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
  }

  /**
   * The operations dashboard (investigations by outcome, execution durations, bytes staged, S1/Cado 429s, open S1
   * tasks, audit status, every alarm) and alarms on failed, timed-out and aborted executions of each state machine
   * and on staging errors, all sent to the topic. Call it last, once the other constructs have added their alarms.
   */
  watch(workload: WatchedWorkload): Dashboard {
    const machines = Object.entries(workload.stateMachines);
    const fiveMinutes = Duration.minutes(5);
    for (const [name, machine] of machines) {
      const kinds = [
        ['Failed', machine.metricFailed({ period: fiveMinutes, statistic: 'Sum' }), 'failed'],
        ['TimedOut', machine.metricTimedOut({ period: fiveMinutes, statistic: 'Sum' }), 'timed out'],
        [
          'Aborted',
          machine.metricAborted({ period: fiveMinutes, statistic: 'Sum' }),
          'was stopped (aborted)',
        ],
      ] as const;
      for (const [kind, metric, words] of kinds) {
        this.notifyOn(
          new Alarm(this, `${name}Executions${kind}Alarm`, {
            alarmDescription:
              `An execution of the ${name} state machine ${words}. Its cause names the error; ` +
              'see `npx s1cado status <investigationId>`, the case.json under investigations/ and the state machine log group.',
            metric,
            threshold: 1,
            comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluationPeriods: 1,
            treatMissingData: TreatMissingData.NOT_BREACHING,
          }),
        );
      }
    }
    this.notifyOn(
      new Alarm(this, 'StagingErrorsAlarm', {
        alarmDescription:
          'Stage Output failed while copying evidence from S1 to the evidence bucket (the workflow retries ' +
          'interrupted downloads and expired links; a lasting failure marks the agent failed). See its log group.',
        metric: workload.stagingFunction.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    this.countThrottling(workload.functions);

    const hour = Duration.hours(1);
    const ours = (metricName: string, dimensionsMap: Record<string, string> = {}, statistic = 'Sum') =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: WORKFLOW_SERVICE, ...dimensionsMap },
        statistic,
        period: hour,
      });
    const executions = machines.flatMap(([name, machine]): IMetric[] => [
      machine.metricStarted({ period: hour, statistic: 'Sum', label: `${name} started` }),
      machine.metricSucceeded({ period: hour, statistic: 'Sum', label: `${name} succeeded` }),
      machine.metricFailed({ period: hour, statistic: 'Sum', label: `${name} failed` }),
      machine.metricTimedOut({ period: hour, statistic: 'Sum', label: `${name} timed out` }),
      machine.metricAborted({ period: hour, statistic: 'Sum', label: `${name} aborted` }),
    ]);
    const durations = machines.flatMap(([name, machine]) =>
      ['p50', 'p90', 'p99'].map((p) =>
        machine.metricTime({ period: hour, statistic: p, label: `${name} ${p}` }),
      ),
    );
    const throttled = (service: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: WORKFLOW_METRICS.throttled,
        dimensionsMap: { RemoteService: service },
        statistic: 'Sum',
        period: Duration.minutes(5),
        label: `${service} 429s`,
      });
    const started = ours(WORKFLOW_METRICS.tasksStarted);
    const closed = ours(WORKFLOW_METRICS.tasksClosed);

    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
      widgets: [
        [
          new TextWidget({
            markdown:
              '# s1-cado-forensics\nInvestigations, evidence staging, S1 and Cado refusals and the permission audit. ' +
              'Alarms go to the notification topic; the README has the runbook.',
            width: 24,
            height: 2,
          }),
        ],
        [
          new GraphWidget({
            title: 'Investigations by outcome (case.json status)',
            left: OUTCOMES.map((outcome) => ours(WORKFLOW_METRICS.investigations, { Outcome: outcome })),
            stacked: true,
            width: 12,
          }),
          new GraphWidget({ title: 'Executions', left: executions, width: 12 }),
        ],
        [
          new GraphWidget({ title: 'Execution duration (p50, p90, p99)', left: durations, width: 12 }),
          new GraphWidget({
            title: 'Evidence bytes staged',
            left: [ours(WORKFLOW_METRICS.stagedBytes)],
            width: 12,
          }),
        ],
        [
          new GraphWidget({
            title: 'Refusals: 429 answers met by the Lambdas',
            left: [throttled('S1'), throttled('Cado')],
            width: 12,
          }),
          new GraphWidget({
            title: 'S1 collection tasks',
            left: [started, closed],
            right: [
              new MathExpression({
                expression: 'RUNNING_SUM(started - closed)',
                usingMetrics: { started, closed },
                label: 'open (started minus closed since the start of the range)',
                period: hour,
              }),
            ],
            width: 12,
          }),
        ],
        [
          new GraphWidget({
            title: 'Permission audit: checks by status',
            left: ['pass', 'warn', 'fail', 'unknown'].map(
              (status) =>
                new Metric({
                  namespace: METRICS_NAMESPACE,
                  metricName: AUDIT_CHECKS_METRIC,
                  dimensionsMap: { service: AUDIT_SERVICE_NAME, Status: status },
                  statistic: 'Maximum',
                  period: Duration.days(1),
                  label: status,
                }),
            ),
            width: 12,
          }),
          new SingleValueWidget({
            title: 'Failed audit checks (last run)',
            metrics: [
              new Metric({
                namespace: METRICS_NAMESPACE,
                metricName: AUDIT_CHECKS_METRIC,
                dimensionsMap: { service: AUDIT_SERVICE_NAME, Status: 'fail' },
                statistic: 'Maximum',
                period: Duration.days(1),
              }),
            ],
            width: 12,
          }),
        ],
        [new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 })],
      ],
    });
    return this.dashboard;
  }

  /** Counts the 429s in each log group into {@link WORKFLOW_METRICS.throttled}, by remote service. */
  private countThrottling(functions: readonly TaskFunction[]): void {
    for (const fn of new Set(functions)) {
      const id = fn.step.replace(/(^|-)(\w)/g, (_m, _dash, c: string) => c.toUpperCase());
      new MetricFilter(this, `Throttled${id}`, {
        logGroup: fn.taskLogGroup,
        filterPattern: FilterPattern.all(
          FilterPattern.stringValue('$.message', '=', RETRY_LOG_MESSAGE),
          FilterPattern.numberValue('$.status', '=', 429),
        ),
        metricNamespace: METRICS_NAMESPACE,
        metricName: WORKFLOW_METRICS.throttled,
        metricValue: '1',
        dimensions: { RemoteService: '$.remoteService' },
      });
    }
  }

  /** Lets `grantee` publish to the topic, with exactly the KMS actions that needs. */
  grantPublish(grantee: IGrantable): Grant {
    const publish = Grant.addToPrincipal({
      grantee,
      actions: ['sns:Publish'],
      resourceArns: [this.topic.topicArn],
    });
    Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resourceArns: [this.key.keyArn],
    });
    return publish;
  }
}
