import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
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
}

/**
 * A Standard state machine as both of the project's machines are built: tracing on, every execution logged with its
 * data to a retained log group (`ExecutionLogs`, next to `StateMachine` in `scope`), and the cdk-nag findings its role
 * must carry acknowledged: X-Ray and the log delivery APIs take no resource ARNs. Invoke grants name each function's
 * unqualified ARN only (`TaskFunction` drops CDK's `<arn>:*`).
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
  return { stateMachine, logGroup };
}
