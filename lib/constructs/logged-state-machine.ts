import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { CfnFunction, IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  DefinitionBody,
  type IChainable,
  LogLevel,
  StateMachine,
  StateMachineType,
} from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';

/** What {@link loggedStateMachine} needs. */
export interface LoggedStateMachineProps {
  readonly definition: IChainable;
  /** Upper bound of one execution. */
  readonly timeoutSeconds: number;
  readonly comment: string;
  readonly logRetentionDays: number;
  /** The Lambdas the definition invokes: their `<arn>:*` grant is acknowledged by its exact cdk-nag id. */
  readonly functions: readonly IFunction[];
}

/**
 * A Standard state machine as both of the project's machines are built: tracing on, every execution logged with its
 * data to a retained log group (`ExecutionLogs`, next to `StateMachine` in `scope`), and the cdk-nag findings its role
 * must carry acknowledged one by one: CDK's LambdaInvoke grants invoke on each function and its versions
 * (`<arn>:*`), and X-Ray and the log delivery APIs take no resource ARNs.
 */
export function loggedStateMachine(
  scope: Construct,
  props: LoggedStateMachineProps,
): { stateMachine: StateMachine; logGroup: LogGroup } {
  const logGroup = new LogGroup(scope, 'ExecutionLogs', {
    retention: props.logRetentionDays as RetentionDays,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const stateMachine = new StateMachine(scope, 'StateMachine', {
    definitionBody: DefinitionBody.fromChainable(props.definition),
    stateMachineType: StateMachineType.STANDARD,
    timeout: Duration.seconds(props.timeoutSeconds),
    tracingEnabled: true,
    logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: true },
    comment: props.comment,
  });
  const roleScope = stateMachine.role;
  Validations.of(roleScope).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'X-Ray tracing and CloudWatch Logs delivery (logs:*LogDelivery) do not support resource-level permissions.',
  });
  for (const f of props.functions) {
    const logicalId = Stack.of(scope).getLogicalId(f.node.defaultChild as CfnFunction);
    Validations.of(roleScope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
      reason:
        'Invoking a workflow Lambda by qualified ARN (versions/aliases) is how LambdaInvoke grants access.',
    });
  }
  return { stateMachine, logGroup };
}
