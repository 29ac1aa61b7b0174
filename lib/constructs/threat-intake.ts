import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { EventBus, type EventPattern, Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction, SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { type FunctionUrl, FunctionUrlAuthType, InvokeMode } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV, SECRET_FIELDS, THREAT_EVENT } from '../../lambdas/shared/contract';
import type { S1CadoConfig } from '../config';
import type { ApiSecrets } from './api-secrets';
import type { CoordinationStore } from './coordination-store';
import type { EvidenceBucket } from './evidence-bucket';
import type { Monitoring } from './monitoring';
import { grantOnExecutions } from './operator-actions';
import { TaskFunction } from './task-function';

/** `Source` of intake events (the contract's, which the publishers use too). */
export const THREAT_EVENT_SOURCE = THREAT_EVENT.source;
/** `DetailType` of intake events (the contract's). */
export const THREAT_EVENT_DETAIL_TYPE = THREAT_EVENT.detailType;
/** JSON field of the webhook secret holding the signing key (the contract's, which the webhook reads). */
export const WEBHOOK_SIGNING_KEY_FIELD = SECRET_FIELDS.webhookSigningKey;
/**
 * Value the high-water-mark parameter is created with; the poller reads it as "no mark yet" and starts from its
 * lookback window. Changing it resets the mark on the next deployment.
 */
export const HIGH_WATER_MARK_PLACEHOLDER = '{"version":1,"state":"not-started"}';

/** The threat filter part of `config`. */
type ThreatFilterConfig = S1CadoConfig['threatFilter'];

/**
 * The pattern of the rule that starts investigations: intake events whose detail passes the threat filter
 * (confidence level, OS type, site, and classification without regard to case, as the poller compares it).
 */
export function threatEventPattern(filter: ThreatFilterConfig): EventPattern {
  const detail: Record<string, unknown[]> = {
    confidenceLevel: [...filter.confidenceLevels],
    agentOsType: [...filter.osTypes],
  };
  if (filter.siteIds) detail.siteId = [...filter.siteIds];
  if (filter.classifications) {
    detail.classification = filter.classifications.map((value) => ({ 'equals-ignore-case': value }));
  }
  return { source: [THREAT_EVENT_SOURCE], detailType: [THREAT_EVENT_DETAIL_TYPE], detail };
}

/** Properties of {@link ThreatIntake}. */
export interface ThreatIntakeProps {
  /** The validated configuration (`threatFilter`, `pollSchedule`, `webhookEnabled`, S1 settings). */
  readonly config: S1CadoConfig;
  /** The investigation workflow, started once per threat. */
  readonly stateMachine: IStateMachine;
  /** The S1 token (read by the poller, the webhook and, for threat notes, start-investigation). */
  readonly secrets: ApiSecrets;
  /** The evidence bucket: start-investigation lists `investigations/threat-*` to know what ran before. */
  readonly evidence: EvidenceBucket;
  /** The coordination store: the webhook keeps the signatures it accepted there for their window (replays get 409). */
  readonly coordination: CoordinationStore;
  /**
   * Where alarms go: poller failing, events in the dead-letter queue.
   * @default - no alarms
   */
  readonly monitoring?: Monitoring;
  /**
   * Pattern of the rule on the intake bus that starts investigations. Replace it to widen or narrow what starts
   * an investigation without touching the poller (e.g. add `detail.agentId` for a pilot group).
   * @default - {@link threatEventPattern} of `config.threatFilter`
   */
  readonly eventPattern?: EventPattern;
  /**
   * Add an S1 threat note naming the investigation when it starts (start-investigation then reads the S1 token).
   * @default true
   */
  readonly addThreatNote?: boolean;
  /**
   * How far back the very first poll looks.
   * @default Duration.hours(1)
   */
  readonly firstPollLookback?: Duration;
}

/** Receives of an intake record before SQS moves it to the dead-letter queue. */
export const INTAKE_MAX_RECEIVE_COUNT = 5;

/**
 * Threat intake (DESIGN §1): S1 threats become `SentinelOne Threat` events on a custom EventBridge bus, and a rule
 * with a configurable pattern sends matching events to `start-investigation`, which starts the workflow once per
 * threat (execution `threat-<threatId>`).
 *
 * - `poll-threats` runs on `config.pollSchedule`, keeps its high-water mark in an SSM parameter, and is never
 *   retried by Lambda: the next scheduled run resumes from the mark.
 * - `receive-webhook` (when `config.webhookEnabled`) is a Lambda Function URL. Callers authenticate with an
 *   HMAC-SHA256 signature made with the signing key this construct generates in Secrets Manager. A Function URL
 *   rather than API Gateway: authentication needs the raw body and the key, so it lives in the function either
 *   way, and API Gateway would add a stage, access logs and a second throttling layer to operate without adding
 *   any check. Unsigned requests are refused before the function calls anything.
 * - The rule sends matching events to an SQS queue (SSE, TLS only); start-investigation consumes it through an
 *   event source mapping with `config.intakeMaxConcurrency` concurrent invocations, so a burst of threats starts
 *   investigations at a bounded pace. Its visibility timeout is six times the consumer's timeout (AWS's advice for
 *   Lambda consumers); a record it fails on is delivered again, five receives in all.
 * - Events the rule cannot deliver, and records start-investigation fails on five times, land in one
 *   dead-letter queue (SSE, TLS only, 14 days).
 *
 * Least privilege: the poller may read the S1 token, put events on this bus and read/write its one parameter; the
 * webhook may read its signing key and the S1 token, put events and use the coordination store's items (replay
 * nonces), with a reserved concurrency (`config.webhookReservedConcurrency`) so a flood is throttled rather than
 * starving the forensic Lambdas; start-investigation may start executions of the one state machine and list
 * `investigations/threat-*` (no object reads, no key), plus the S1 token for notes.
 */
export class ThreatIntake extends Construct {
  /** The intake bus. */
  readonly bus: EventBus;
  /** The poller's high-water mark. */
  readonly highWaterMark: StringParameter;
  /** The poller. */
  readonly pollFunction: TaskFunction;
  /** Runs the poller on `config.pollSchedule`. */
  readonly pollSchedule: Rule;
  /** The rule on the bus that starts investigations. */
  readonly investigationRule: Rule;
  /** The rule's target: threat events wait here for start-investigation (bounded concurrency). */
  readonly intakeQueue: Queue;
  /** The intake queue's consumer. */
  readonly startFunction: TaskFunction;
  /** Undeliverable and failed intake events. */
  readonly deadLetterQueue: Queue;
  /** `s1cado backfill`'s function: replays a window of S1 threats onto the bus. */
  readonly backfillFunction: TaskFunction;
  /** The webhook function, when enabled. */
  readonly webhookFunction?: TaskFunction;
  /** The webhook's HTTPS endpoint, when enabled. */
  readonly webhookUrl?: FunctionUrl;
  /** The secret holding `{"signingKey": "..."}`, when the webhook is enabled. */
  readonly webhookSecret?: Secret;
  /** The Lambdas, by step name. */
  readonly functions: Readonly<Record<string, TaskFunction>>;

  constructor(scope: Construct, id: string, props: ThreatIntakeProps) {
    super(scope, id);
    const { config, stateMachine, secrets, evidence, monitoring, coordination } = props;
    const addThreatNote = props.addThreatNote ?? true;

    const filter = config.threatFilter;
    const filterEnv: Record<string, string> = {
      [ENV.threatConfidenceLevels]: filter.confidenceLevels.join(','),
      [ENV.threatOsTypes]: filter.osTypes.join(','),
      ...(filter.classifications ? { [ENV.threatClassifications]: filter.classifications.join(',') } : {}),
      ...(filter.siteIds ? { [ENV.threatSiteIds]: filter.siteIds.join(',') } : {}),
    };

    this.bus = new EventBus(this, 'Bus', { description: 'SentinelOne threats for s1-cado-forensics' });
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the intake rule target and of start-investigation.',
    });

    // ---- poller ------------------------------------------------------------------------------------------
    this.highWaterMark = new StringParameter(this, 'HighWaterMark', {
      description: 's1-cado-forensics threat poller: updatedAt and ids of the last threats handled',
      stringValue: HIGH_WATER_MARK_PLACEHOLDER,
    });
    this.pollFunction = new TaskFunction(this, 'PollThreats', {
      step: 'poll-threats',
      description: 's1-cado-forensics: puts new SentinelOne threats on the intake bus',
      logRetentionDays: config.logRetentionDays,
      // The run stops asking S1 for pages after its time budget; the rest covers the last page's retries and saving.
      timeout: Duration.minutes(3),
      environment: {
        ...filterEnv,
        [ENV.eventBusName]: this.bus.eventBusName,
        [ENV.pollMarkParameter]: this.highWaterMark.parameterName,
        [ENV.pollLookbackSeconds]: String((props.firstPollLookback ?? Duration.hours(1)).toSeconds()),
        [ENV.pollTimeBudgetSeconds]: '45',
        [ENV.pollPageSize]: '100',
        [ENV.pollMaxPages]: '20',
      },
    });
    // Pending retries of threats whose investigation was not attempted (read here, re-published when due).
    coordination.bind(this.pollFunction);
    // A failed poll is not retried by Lambda: the next scheduled run resumes from the mark, without piling on
    // while S1 throttles.
    this.pollFunction.configureAsyncInvoke({ retryAttempts: 0 });
    secrets.bindS1(this.pollFunction);
    this.bus.grantPutEventsTo(this.pollFunction);
    this.highWaterMark.grantRead(this.pollFunction);
    this.highWaterMark.grantWrite(this.pollFunction);
    this.pollSchedule = new Rule(this, 'PollSchedule', {
      description: 'Runs the s1-cado-forensics threat poller',
      schedule: Schedule.expression(config.pollSchedule),
    });
    this.pollSchedule.addTarget(
      new LambdaFunction(this.pollFunction, {
        event: RuleTargetInput.fromObject({ source: 'schedule' }),
        retryAttempts: 2,
        maxEventAge: Duration.minutes(5),
      }),
    );

    // ---- start-investigation -----------------------------------------------------------------------------
    const startTimeout = Duration.seconds(60);
    this.startFunction = new TaskFunction(this, 'StartInvestigation', {
      step: 'start-investigation',
      description: 's1-cado-forensics: starts one investigation per SentinelOne threat',
      logRetentionDays: config.logRetentionDays,
      timeout: startTimeout,
      environment: {
        ...filterEnv,
        [ENV.stateMachineArn]: stateMachine.stateMachineArn,
        [ENV.threatNote]: String(addThreatNote),
        // The intake rules choose the collection profile per threat.
        [ENV.collectionProfiles]: JSON.stringify(config.collectionProfiles),
      },
    });
    // Reads the pending retries: a threat investigated before is started again only when its retry is due.
    coordination.bind(this.startFunction);
    // Direct (async) invokes keep their own retries and the same dead-letter queue.
    this.startFunction.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    stateMachine.grantStartExecution(this.startFunction);
    // It reads each threat back from S1 before starting anything (and adds the note, when configured).
    secrets.bindS1(this.startFunction);
    // Listing the threat investigations' prefix is all it needs from the bucket: no object reads, no KMS key.
    evidence.bindInvestigationListing(this.startFunction, 'threat-');
    this.intakeQueue = new Queue(this, 'IntakeQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Shorter than the dead-letter queue's, so a record moved there keeps days to be looked at.
      retentionPeriod: Duration.days(4),
      visibilityTimeout: Duration.seconds(startTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: INTAKE_MAX_RECEIVE_COUNT },
    });
    this.startFunction.addEventSource(
      new SqsEventSource(this.intakeQueue, {
        batchSize: 10,
        maxConcurrency: config.intakeMaxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.investigationRule = new Rule(this, 'InvestigationRule', {
      description: 'Starts an s1-cado-forensics investigation for each matching SentinelOne threat',
      eventBus: this.bus,
      eventPattern: props.eventPattern ?? threatEventPattern(filter),
    });
    this.investigationRule.addTarget(
      new SqsQueue(this.intakeQueue, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
      }),
    );

    // ---- backfill (s1cado backfill) -----------------------------------------------------------------------
    this.backfillFunction = new TaskFunction(this, 'BackfillThreats', {
      step: 'backfill-threats',
      description:
        's1-cado-forensics: replays a window of SentinelOne threats onto the intake bus (s1cado backfill)',
      logRetentionDays: config.logRetentionDays,
      // Up to BACKFILL_MAX_THREATS threats: a few S1 pages, one listing and one DescribeExecution per threat.
      timeout: Duration.minutes(5),
      environment: {
        ...filterEnv,
        [ENV.eventBusName]: this.bus.eventBusName,
        [ENV.stateMachineArn]: stateMachine.stateMachineArn,
        [ENV.backfillMaxThreats]: '500',
      },
    });
    secrets.bindS1(this.backfillFunction);
    this.bus.grantPutEventsTo(this.backfillFunction);
    // What ran before: the threat investigations' prefix (no object reads, no key) and the execution of that name.
    evidence.bindInvestigationListing(this.backfillFunction, 'threat-');
    grantOnExecutions(this.backfillFunction, stateMachine, 'states:DescribeExecution');

    // ---- webhook -----------------------------------------------------------------------------------------
    const functions: Record<string, TaskFunction> = {
      'poll-threats': this.pollFunction,
      'start-investigation': this.startFunction,
      'backfill-threats': this.backfillFunction,
    };
    if (config.webhookEnabled) {
      // On the project's credentials key, like the API secrets; when both of those are imported there is no such
      // key, and the signing key gets one of its own.
      const encryptionKey =
        secrets.key ??
        new Key(this, 'WebhookSigningKeyKey', {
          description: 'Encrypts the s1-cado-forensics webhook signing key',
          enableKeyRotation: true,
          removalPolicy: RemovalPolicy.RETAIN,
        });
      const secret = new Secret(this, 'WebhookSigningKey', {
        encryptionKey,
        description: `Signing key of the s1-cado-forensics threat webhook, as {"${WEBHOOK_SIGNING_KEY_FIELD}": "..."}`,
        generateSecretString: {
          secretStringTemplate: '{}',
          generateStringKey: WEBHOOK_SIGNING_KEY_FIELD,
          excludePunctuation: true,
          passwordLength: 64,
        },
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The signing key is shared with the webhook sender, so rotation is an operator step: put a new value (it becomes AWSCURRENT); the webhook accepts the previous key for 24 h more, while the sender switches.',
      });
      const webhook = new TaskFunction(this, 'ReceiveWebhook', {
        step: 'receive-webhook',
        description: 's1-cado-forensics: authenticated threat webhook',
        logRetentionDays: config.logRetentionDays,
        timeout: Duration.seconds(60),
        reservedConcurrentExecutions: config.webhookReservedConcurrency,
        environment: {
          ...filterEnv,
          [ENV.eventBusName]: this.bus.eventBusName,
          [ENV.webhookSecretArn]: secret.secretArn,
          [ENV.webhookVerifyWithS1]: 'true',
        },
      });
      secret.grantRead(webhook);
      secrets.bindS1(webhook);
      this.bus.grantPutEventsTo(webhook);
      coordination.bind(webhook);
      this.webhookSecret = secret;
      this.webhookFunction = webhook;
      // Authentication is the HMAC signature, checked in the function (see lambdas/receive-webhook).
      this.webhookUrl = webhook.addFunctionUrl({
        authType: FunctionUrlAuthType.NONE,
        invokeMode: InvokeMode.BUFFERED,
      });
      functions['receive-webhook'] = webhook;
    }
    this.functions = functions;

    // Threat events start investigations, so only the intake functions may put them on the bus: anyone else in the
    // account with events:PutEvents (on this bus or on *) is refused by the bus itself.
    const publishers = Object.values(functions)
      .filter((fn) => fn !== this.startFunction)
      .map((fn) => fn.executionRole.roleArn);
    this.bus.addToResourcePolicy(
      new PolicyStatement({
        sid: 'OnlyIntakePutsThreatEvents',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
        conditions: {
          StringEquals: { 'events:source': THREAT_EVENT.source },
          ArnNotEquals: { 'aws:PrincipalArn': publishers },
        },
      }),
    );

    if (monitoring) {
      const pollFailing = new Alarm(this, 'PollFailingAlarm', {
        alarmDescription:
          'The threat poller failed in three consecutive 5-minute periods: new SentinelOne threats are not being picked up. See its log group.',
        metric: this.pollFunction.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      const deadLetters = new Alarm(this, 'DeadLettersAlarm', {
        alarmDescription:
          'Threat events could not start an investigation and are in the intake dead-letter queue. Inspect them and the start-investigation log group.',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      monitoring.notifyOn(pollFailing);
      monitoring.notifyOn(deadLetters);
    }
  }
}
