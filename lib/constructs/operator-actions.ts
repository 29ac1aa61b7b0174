import { Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type { CfnStateMachine, IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contract';
import type { S1CadoConfig } from '../config';
import type { ApiSecrets } from './api-secrets';
import type { CoordinationStore } from './coordination-store';
import type { EvidenceBucket } from './evidence-bucket';
import { TaskFunction } from './task-function';

/**
 * Grants `actions` on the executions of `stateMachine` (`...:execution:<name>:*`: executions are named at run time),
 * with the cdk-nag acknowledgement of exactly that wildcard.
 */
export function grantOnExecutions(fn: TaskFunction, stateMachine: IStateMachine, ...actions: string[]): void {
  stateMachine.grantExecution(fn, ...actions);
  // The resource as cdk-nag names it: the state machine's name picked from its ARN (a token), or the literal ARN.
  const cfn = stateMachine.node.defaultChild as CfnStateMachine | undefined;
  const stack = Stack.of(fn);
  // cdk-nag shows a pseudo parameter as <AWS::Name>, and a stack with an environment has literal values instead.
  const pseudo = (value: string, name: string) => (Token.isUnresolved(value) ? `<AWS::${name}>` : value);
  const executions = Token.isUnresolved(stateMachine.stateMachineArn)
    ? cfn &&
      `arn:${pseudo(stack.partition, 'Partition')}:states:${pseudo(stack.region, 'Region')}:${pseudo(stack.account, 'AccountId')}:execution:${JSON.stringify(
        {
          'Fn::Select': [6, { 'Fn::Split': [':', { Ref: Stack.of(cfn).getLogicalId(cfn) }] }],
        },
      )}:*`
    : `${stateMachine.stateMachineArn.replace(':stateMachine:', ':execution:')}:*`;
  if (!executions) return;
  Validations.of(fn.role ?? fn).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${executions}]`,
    reason:
      'Executions are named by investigation at run time; the grant covers the executions of one state machine.',
  });
}

/** Properties of {@link OperatorActions}. */
export interface OperatorActionsProps {
  /** The validated configuration (`logRetentionDays`, S1 and Cado endpoints). */
  readonly config: S1CadoConfig;
  /** The investigation workflow whose executions may be stopped. */
  readonly stateMachine: IStateMachine;
  /** Where task records and manifests are read and `cancellation.json` is written. */
  readonly evidence: EvidenceBucket;
  /** The S1 token (task cancel, threat note) and the Cado key (pipeline cancel). */
  readonly secrets: ApiSecrets;
  /** The import intents that name each staged object's Cado pipeline. */
  readonly coordination: CoordinationStore;
}

/**
 * What an operator does to one investigation on purpose, as Lambdas the CLI invokes (the CLI has AWS credentials,
 * never an S1 token or a Cado key): `cancel-investigation` (`s1cado cancel`).
 *
 * Least privilege: describe and stop executions of the one state machine; read evidence under `investigations/`
 * and write only `investigations/<id>/cancellation.json`; read the coordination store and delete from it (the
 * leases it gives back), never write to it; read the S1 and Cado secrets.
 */
export class OperatorActions extends Construct {
  /** `s1cado cancel`'s function. */
  readonly cancelFunction: TaskFunction;
  /** The Lambdas, by step name. */
  readonly functions: Readonly<Record<string, TaskFunction>>;

  constructor(scope: Construct, id: string, props: OperatorActionsProps) {
    super(scope, id);
    const { config, stateMachine, evidence, secrets, coordination } = props;

    this.cancelFunction = new TaskFunction(this, 'CancelInvestigation', {
      step: 'cancel-investigation',
      description: 's1-cado-forensics: cancels an investigation (s1cado cancel)',
      logRetentionDays: config.logRetentionDays,
      // One S1 call per agent, two or three Cado calls per staged object, each within the HTTP layer's budget.
      timeout: Duration.minutes(5),
      environment: { [ENV.stateMachineArn]: stateMachine.stateMachineArn },
    });
    grantOnExecutions(this.cancelFunction, stateMachine, 'states:DescribeExecution', 'states:StopExecution');
    evidence.bindCancellationRecords(this.cancelFunction);
    coordination.bindReadAndRelease(this.cancelFunction);
    secrets.bindS1(this.cancelFunction);
    secrets.bindCado(this.cancelFunction);
    this.functions = { 'cancel-investigation': this.cancelFunction };
  }
}
