import { Duration } from 'aws-cdk-lib';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { type IRole, Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contract';
import type { ApiSecrets } from './api-secrets';
import type { CoordinationStore } from './coordination-store';
import { TaskFunction } from './task-function';

/** Seconds of one watcher invocation (about a minute of passes) and its Lambda timeout. */
export const WATCHER_RUN_SECONDS = 55;

/** Properties of {@link TaskWatcher}. */
export interface TaskWatcherProps {
  /** The state machines whose waiting executions the watcher resumes. */
  readonly stateMachines: readonly IStateMachine[];
  /** The S1 token and the Cado key (all watcher calls go through the shared clients). */
  readonly secrets: ApiSecrets;
  /** Least seconds between two looks at one running Cado pipeline. @default 30 */
  readonly cadoWatchIntervalSeconds?: number;
  /** Holds the open waits and the watcher's lease. */
  readonly coordination: CoordinationStore;
  readonly logRetentionDays: number;
}

/**
 * The Task Watcher (DESIGN §9, "O(1) S1 traffic"; `lambdas/watch-tasks`): a Lambda that an EventBridge schedule
 * starts every minute, and that passes every 10 s for about a minute while any S1 task wait is open (and ends at once
 * otherwise). Its Cado pass (`lambdas/watch-tasks/cado.ts`) does the same for the executions waiting in Wait For
 * Cado, looking at each running pipeline every `cadoWatchIntervalSeconds`. A scheduled Lambda rather than an Express state machine: it needs one loop with a clock, one lease and
 * no per-pass billing of states, and the schedule restarts it by itself after a failure. Reserved concurrency 1 and
 * the lease in the coordination store keep one watcher at a time.
 */
export class TaskWatcher extends Construct {
  readonly function: TaskFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: TaskWatcherProps) {
    super(scope, id);
    this.function = new TaskFunction(this, 'Function', {
      step: 'watch-tasks',
      description: 'Resumes executions waiting for their S1 task (one status call for all open tasks)',
      timeout: Duration.seconds(WATCHER_RUN_SECONDS + 35),
      reservedConcurrentExecutions: 1,
      // It mostly sleeps between passes, billed by the second: the smallest memory that runs it comfortably.
      memorySize: 128,
      logRetentionDays: props.logRetentionDays,
    });
    props.secrets.bindS1(this.function);
    props.secrets.bindCado(this.function);
    this.function.addEnvironment(ENV.cadoWatchIntervalSeconds, String(props.cadoWatchIntervalSeconds ?? 30));
    props.coordination.bind(this.function);
    // Listing the open waits is a Query on one partition.
    props.coordination.table.grant(this.function, 'dynamodb:Query');
    for (const machine of props.stateMachines) this.resumes(machine);
    // Woken by Run Script after it queues an execute: a wake-up that finds the one allowed instance busy is dropped
    // (the running watcher takes the queue at its next pass), never retried for hours.
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.schedule = new Rule(this, 'Schedule', {
      description: 'Runs the s1-cado-forensics Task Watcher',
      schedule: Schedule.rate(Duration.minutes(1)),
    });
    this.schedule.addTarget(
      new LambdaFunction(this.function, {
        event: RuleTargetInput.fromObject({ source: 'schedule' }),
        // The next minute's run is the retry.
        retryAttempts: 0,
        maxEventAge: Duration.minutes(1),
      }),
    );
  }

  private resumed = 0;

  /**
   * Lets the watcher answer the waiting states of `machine` (SendTaskSuccess / SendTaskFailure / heartbeat). In a
   * policy of its own rather than the role's default policy, which the function depends on: Run Script invokes the
   * watcher and the state machine invokes Run Script, so the function must not wait for the state machine.
   */
  resumes(machine: IStateMachine): void {
    this.resumed += 1;
    const policy = new Policy(this, `Resumes${this.resumed}`, {
      statements: [
        new PolicyStatement({
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
          resources: [machine.stateMachineArn],
        }),
      ],
    });
    policy.attachToRole(this.function.role as IRole);
  }
}
