import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { type FunctionUrl, FunctionUrlAuthType, InvokeMode } from 'aws-cdk-lib/aws-lambda';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV, SECRET_FIELDS } from '../../lambdas/shared/contract';
import type { ApiSecrets } from './api-secrets';
import type { CoordinationStore } from './coordination-store';
import { TaskFunction } from './task-function';

/** JSON field of the Cado webhook secret (the contract's, which the receiver reads). */
export const CADO_WEBHOOK_SECRET_FIELD = SECRET_FIELDS.cadoWebhookSecret;

/** Properties of {@link CadoWebhook}. */
export interface CadoWebhookProps {
  /** The state machines whose Wait For Cado the webhook may resume. */
  readonly stateMachines: readonly IStateMachine[];
  /** The Cado key (the receiver asks Cado about the open pipelines) and the project's credentials key. */
  readonly secrets: ApiSecrets;
  /** Holds the open Cado pipeline waits. */
  readonly coordination: CoordinationStore;
  /** Seconds between two looks at a running pipeline (passed on to the shared Cado pass). */
  readonly cadoWatchIntervalSeconds: number;
  readonly logRetentionDays: number;
}

/**
 * The Cado webhook receiver (DESIGN §9, "Cado pipelines resume ... from Cado's webhooks"; `lambdas/receive-cado-webhook`):
 * a Lambda Function URL that Cado's `processing_finished` / `processing_failed` webhooks call. Cado signs nothing, so
 * the payload template carries the secret held here (`{"cadoWebhookSecret": "..."}`, generated), compared in
 * constant time; an authenticated call wakes an immediate Cado pass over the open pipelines and resumes the
 * executions whose pipeline ended. It may read its secret and the Cado key, list, mark and remove the open Cado waits
 * (and no other item of the store), and answer the waiting states of the two state machines; a reserved
 * concurrency of 2 bounds what a flood of calls can cost (each authenticated one asks Cado about every open pipeline).
 */
export class CadoWebhook extends Construct {
  readonly function: TaskFunction;
  readonly url: FunctionUrl;
  /** The secret whose value goes into Cado's payload template as `"secret"`. */
  readonly secret: Secret;

  constructor(scope: Construct, id: string, props: CadoWebhookProps) {
    super(scope, id);
    const encryptionKey =
      props.secrets.key ??
      new Key(this, 'SecretKey', {
        description: 'Encrypts the s1-cado-forensics Cado webhook secret',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    this.secret = new Secret(this, 'Secret', {
      encryptionKey,
      description: `Shared value of the Cado webhook's payload template, as {"${CADO_WEBHOOK_SECRET_FIELD}": "..."}`,
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: CADO_WEBHOOK_SECRET_FIELD,
        excludePunctuation: true,
        passwordLength: 64,
      },
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        "The value is also in Cado's webhook settings, so rotation is an operator step: put a new value, then update the Cado webhook's payload; the previous value is accepted for 24 h more.",
    });
    this.function = new TaskFunction(this, 'Function', {
      step: 'receive-cado-webhook',
      description: "s1-cado-forensics: Cado's processing webhooks wake the check of the open pipelines",
      logRetentionDays: props.logRetentionDays,
      timeout: Duration.seconds(60),
      reservedConcurrentExecutions: 2,
      environment: {
        [ENV.cadoWebhookSecretArn]: this.secret.secretArn,
        [ENV.cadoWatchIntervalSeconds]: String(props.cadoWatchIntervalSeconds),
      },
    });
    this.secret.grantRead(this.function);
    props.secrets.bindCado(this.function);
    props.coordination.bindOpenCadoWaits(this.function, 'answer');
    for (const machine of props.stateMachines) machine.grantTaskResponse(this.function);
    // Authentication is the secret in the payload, checked in the function (see lambdas/receive-cado-webhook).
    this.url = this.function.addFunctionUrl({
      authType: FunctionUrlAuthType.NONE,
      invokeMode: InvokeMode.BUFFERED,
    });
  }
}
