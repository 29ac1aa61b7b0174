import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { S1CadoConfig } from './config';
import { ApiSecrets } from './constructs/api-secrets';
import { CadoWebhook } from './constructs/cado-webhook';
import { CoordinationStore } from './constructs/coordination-store';
import { CustodySigning } from './constructs/custody-signing';
import { EvidenceBucket } from './constructs/evidence-bucket';
import { HandOffRerun } from './constructs/handoff-rerun';
import { InvestigationWorkflow } from './constructs/investigation-workflow';
import { Monitoring } from './constructs/monitoring';
import { OperatorActions } from './constructs/operator-actions';
import { OutcomeNotifications } from './constructs/outcome-notifications';
import { PermissionAudit } from './constructs/permission-audit';
import type { TaskFunction } from './constructs/task-function';
import { ThreatIntake } from './constructs/threat-intake';

/** Properties of {@link S1CadoForensicsStack}. */
export interface S1CadoForensicsStackProps extends StackProps {
  /** The validated configuration (from `loadConfig`). */
  readonly config: S1CadoConfig;
}

/**
 * The whole deployment, as a composition of one construct per concern: evidence storage, API
 * credentials and notifications; the investigation workflow, threat intake and permission audit
 * build on these members.
 */
export class S1CadoForensicsStack extends Stack {
  /** The configuration the stack was built from. */
  readonly config: S1CadoConfig;
  /** Evidence bucket, its key and access-log bucket, with prefix-scoped grants. */
  readonly evidence: EvidenceBucket;
  /** The S1 token and Cado key secrets. */
  readonly secrets: ApiSecrets;
  /** The DynamoDB table executions share (webhook nonces; leases and import intents as they land). */
  readonly coordination: CoordinationStore;
  /** Notification topic (alarms, audit findings). */
  readonly monitoring: Monitoring;
  /** The investigation state machine and its Lambdas. */
  readonly workflow: InvestigationWorkflow;
  /** The hand-off re-run state machine (`s1cado handoff`). */
  readonly handoffRerun: HandOffRerun;
  /** Outcome events on the bus and the rule that notifies the topic. */
  readonly outcomes: OutcomeNotifications;
  /** The KMS key that signs the final manifests (Record Outcome alone may sign). */
  readonly signing: CustodySigning;
  /** The scheduled permission audit. */
  readonly audit: PermissionAudit;
  /** Threat poller, optional webhook, backfill, event bus and the rule that starts investigations. */
  readonly intake: ThreatIntake;
  /** What an operator does to one investigation (`s1cado cancel`). */
  readonly operatorActions: OperatorActions;
  /** The Cado webhook receiver, when `cadoWebhookEnabled`. */
  readonly cadoWebhook?: CadoWebhook;

  constructor(scope: Construct, id: string, props: S1CadoForensicsStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.config = config;

    this.evidence = new EvidenceBucket(this, 'Evidence', {
      objectLockDays: config.objectLockDays,
      objectLockMode: config.objectLockMode,
      legalHold: config.legalHold,
      breakGlassRoleArn: config.breakGlassRoleArn,
      retentionDays: config.evidenceRetentionDays,
      accessLogRetentionDays: config.logRetentionDays,
      cadoRoleArn: config.cadoRoleArn,
    });
    this.secrets = new ApiSecrets(this, 'ApiSecrets', {
      s1SecretArn: config.s1SecretArn,
      cadoSecretArn: config.cadoSecretArn,
      endpoints: config,
    });
    this.coordination = new CoordinationStore(this, 'Coordination');
    const budget = config.s1RequestBudget;
    if (budget.enabled) {
      const settings = {
        maxWaitSeconds: budget.maxWaitSeconds,
        coolOffSeconds: budget.coolOffSeconds,
        families: budget.limits,
      };
      this.secrets.useS1Budget((fn) => this.coordination.bindS1Budget(fn, settings));
    }
    this.monitoring = new Monitoring(this, 'Monitoring', { notificationEmails: config.notificationEmails });
    this.workflow = new InvestigationWorkflow(this, 'Workflow', {
      config,
      evidence: this.evidence,
      secrets: this.secrets,
      coordination: this.coordination,
    });
    const step = (name: string) => {
      const f = this.workflow.functions[name];
      if (!f) throw new Error(`The workflow has no ${name} Lambda`);
      return f;
    };
    // Record Outcome writes the final manifests, of investigations and of hand-off re-runs: it alone signs them.
    this.signing = new CustodySigning(this, 'CustodySigning');
    this.signing.bindSigner(step('record-outcome'));
    this.handoffRerun = new HandOffRerun(this, 'HandOffRerun', {
      config,
      evidence: this.evidence,
      functions: {
        handToCado: step('hand-to-cado'),
        checkCado: step('check-cado'),
        recordOutcome: step('record-outcome'),
      },
    });
    // The re-run's Wait For Cado is resumed by the same watcher.
    this.workflow.taskWatcher.resumes(this.handoffRerun.stateMachine);
    if (config.cadoWebhookEnabled) {
      this.cadoWebhook = new CadoWebhook(this, 'CadoWebhook', {
        stateMachines: [this.workflow.stateMachine, this.handoffRerun.stateMachine],
        secrets: this.secrets,
        coordination: this.coordination,
        cadoWatchIntervalSeconds: config.cadoWatchIntervalSeconds,
        logRetentionDays: config.logRetentionDays,
      });
    }
    this.intake = new ThreatIntake(this, 'ThreatIntake', {
      config,
      stateMachine: this.workflow.stateMachine,
      secrets: this.secrets,
      evidence: this.evidence,
      monitoring: this.monitoring,
      coordination: this.coordination,
    });
    this.outcomes = new OutcomeNotifications(this, 'OutcomeNotifications', {
      bus: this.intake.bus,
      topic: this.monitoring.topic,
      publisher: step('record-outcome'),
      notifyOutcomes: config.notifyOutcomes,
    });
    this.operatorActions = new OperatorActions(this, 'OperatorActions', {
      config,
      stateMachine: this.workflow.stateMachine,
      evidence: this.evidence,
      secrets: this.secrets,
      coordination: this.coordination,
    });
    this.audit = new PermissionAudit(this, 'PermissionAudit', {
      config,
      evidence: this.evidence,
      secrets: this.secrets,
      monitoring: this.monitoring,
    });

    const dashboard = this.monitoring.watch({
      stateMachines: {
        Investigation: this.workflow.stateMachine,
        HandOffRerun: this.handoffRerun.stateMachine,
      },
      stagingFunction: this.workflow.functions['stage-output'] as TaskFunction,
      functions: [
        ...Object.values(this.workflow.functions),
        ...Object.values(this.intake.functions),
        ...Object.values(this.operatorActions.functions),
        this.audit.function,
        this.workflow.taskWatcher.function,
        ...(this.cadoWebhook ? [this.cadoWebhook.function] : []),
      ],
    });

    new CfnOutput(this, 'EvidenceBucketName', { value: this.evidence.bucket.bucketName });
    new CfnOutput(this, 'S1SecretArn', { value: this.secrets.s1Secret.secretArn });
    new CfnOutput(this, 'CadoSecretArn', { value: this.secrets.cadoSecret.secretArn });
    new CfnOutput(this, 'ManifestSigningKeyArn', { value: this.signing.key.keyArn });
    new CfnOutput(this, 'CoordinationTableName', { value: this.coordination.table.tableName });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.monitoring.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: dashboard.dashboardName });
    new CfnOutput(this, 'StateMachineArn', { value: this.workflow.stateMachine.stateMachineArn });
    // `s1cado handoff` starts this one.
    new CfnOutput(this, 'HandOffRerunStateMachineArn', {
      value: this.handoffRerun.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'ThreatBusName', { value: this.intake.bus.eventBusName });
    if (this.intake.webhookUrl) new CfnOutput(this, 'WebhookUrl', { value: this.intake.webhookUrl.url });
    if (this.intake.webhookSecret) {
      new CfnOutput(this, 'WebhookSecretArn', { value: this.intake.webhookSecret.secretArn });
    }
    if (this.cadoWebhook) {
      // Register the URL in Cado (Settings → Integrations → Webhooks, or POST /api/v3/webhooks) with the secret's
      // value as the payload template's "secret".
      new CfnOutput(this, 'CadoWebhookUrl', { value: this.cadoWebhook.url.url });
      new CfnOutput(this, 'CadoWebhookSecretArn', { value: this.cadoWebhook.secret.secretArn });
    }
    new CfnOutput(this, 'AuditFunctionName', { value: this.audit.function.functionName });
    // `s1cado cancel` and `s1cado backfill` invoke these.
    new CfnOutput(this, 'CancelFunctionName', { value: this.operatorActions.cancelFunction.functionName });
    new CfnOutput(this, 'BackfillFunctionName', { value: this.intake.backfillFunction.functionName });
  }
}
