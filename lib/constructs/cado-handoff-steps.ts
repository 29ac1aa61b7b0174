import { Duration } from 'aws-cdk-lib';
import {
  Choice,
  Condition,
  type IChainable,
  IntegrationPattern,
  JitterType,
  JsonPath,
  Pass,
  TaskInput,
  Timeout,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { RETRY_ON } from '../../lambdas/shared/contract';
import type { TaskFunction } from './task-function';

/** Error names the Cado client throws for conditions that pass with time (from the contract). */
export const CADO_TRANSIENT_ERRORS: readonly string[] = [
  ...RETRY_ON.cadoThrottling,
  ...RETRY_ON.cadoTransient,
];
/** Throttling errors: retried more patiently than the other transient ones. */
const THROTTLING_ERRORS: readonly string[] = [...RETRY_ON.s1Throttling, ...RETRY_ON.cadoThrottling];

/** The execution's facts every Lambda that records or names the investigation receives (`ExecutionContext`). */
export const EXECUTION_CONTEXT = {
  name: JsonPath.stringAt('$$.Execution.Name'),
  id: JsonPath.stringAt('$$.Execution.Id'),
  startTime: JsonPath.stringAt('$$.Execution.StartTime'),
};

/**
 * Record Outcome as both machines run it: the whole state and the execution's facts in, `$.outcome` out, and any
 * error retried a few times (it writes each manifest version and case.json entry once, so a retry is safe).
 */
export function recordOutcomeStep(scope: Construct, lambda: TaskFunction, mode?: 'rerun'): LambdaInvoke {
  const step = lambdaStep(scope, 'Record Outcome', lambda, {
    payload: TaskInput.fromObject({
      state: JsonPath.entirePayload,
      execution: EXECUTION_CONTEXT,
      ...(mode ? { mode } : {}),
    }),
    resultPath: '$.outcome',
  });
  step.addRetry({
    errors: ['States.ALL'],
    interval: Duration.seconds(5),
    backoffRate: 2,
    maxAttempts: 3,
    jitterStrategy: JitterType.FULL,
  });
  return step;
}

/** Options of {@link lambdaStep}. */
export interface LambdaStepOptions {
  /** Error names retried: the contract's throttling errors patiently, the others like a 5xx. @default - none */
  readonly retryOn?: readonly string[];
  /** @default - the state's input */
  readonly payload?: TaskInput;
  /** @default - the result replaces the state */
  readonly resultPath?: string;
  /** Task timeout in minutes. @default 2 */
  readonly minutes?: number;
  /**
   * Wait with `lambda:invoke.waitForTaskToken` (the payload must carry `JsonPath.taskToken`): the state's result is
   * what SendTaskSuccess sends, and `timeoutSeconds` is its watchdog (`States.Timeout`). @default - request/response
   */
  readonly waitForTaskToken?: { readonly timeoutSeconds: number };
}

/**
 * A Task state invoking one workflow Lambda: the handler's return value is the state, and every S1/Cado call site
 * retries its transient errors by name with backoff and full jitter. Both state machines build their tasks here.
 */
export function lambdaStep(
  scope: Construct,
  name: string,
  lambda: TaskFunction,
  opts: LambdaStepOptions = {},
): LambdaInvoke {
  const callback = opts.waitForTaskToken;
  const task = new LambdaInvoke(scope, name, {
    lambdaFunction: lambda,
    ...(callback
      ? {
          integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
          taskTimeout: Timeout.duration(Duration.seconds(callback.timeoutSeconds)),
        }
      : {
          payloadResponseOnly: true,
          taskTimeout: Timeout.duration(Duration.minutes(opts.minutes ?? 2)),
        }),
    payload: opts.payload,
    resultPath: opts.resultPath,
  });
  const throttled = (opts.retryOn ?? []).filter((name) => THROTTLING_ERRORS.includes(name));
  const transient = (opts.retryOn ?? []).filter((name) => !THROTTLING_ERRORS.includes(name));
  if (throttled.length) {
    // Throttling passes once the token's bucket refills, but a burst of investigations shares one token:
    // wait longer and more often than for a 5xx before giving up (measured by `npm run bench`: the burst).
    task.addRetry({
      errors: throttled,
      interval: Duration.seconds(15),
      backoffRate: 2,
      maxAttempts: 12,
      maxDelay: Duration.minutes(10),
      jitterStrategy: JitterType.FULL,
    });
  }
  if (transient.length) {
    task.addRetry({
      errors: transient,
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 6,
      maxDelay: Duration.minutes(2),
      jitterStrategy: JitterType.FULL,
    });
  }
  return task;
}

/**
 * How long after the hand-off deadline the watchdog of Wait For Cado fires: the Task Watcher reports a passed
 * deadline at its next pass (within a minute or two); the watchdog fires only when no watcher and no webhook answered.
 */
export const CADO_WATCHDOG_SLACK_SECONDS = 600;

/** Properties of {@link cadoHandoffSteps}. */
export interface CadoHandoffStepsProps {
  /** The `hand-to-cado` Lambda. */
  readonly handToCado: TaskFunction;
  /** The `check-cado` Lambda (Check Cado, and Wait For Cado's registration). */
  readonly checkCado: TaskFunction;
  /** The hand-off deadline (`cadoHandoffTimeoutSeconds`): Wait For Cado's watchdog fires this much plus slack later. */
  readonly handoffTimeoutSeconds: number;
  /** Where a Cado error goes, with the caught error at `$.handoffError`. */
  readonly failed: IChainable;
  /** Where the branch goes once the pipeline is no longer running (complete, failed, cancelled, deadline). */
  readonly finished: IChainable;
}

/** The hand-off states; enter at `handToCado` to import, at `waitForCado` to follow a pipeline already started. */
export interface CadoHandoffSteps {
  readonly handToCado: LambdaInvoke;
  readonly waitForCado: LambdaInvoke;
  readonly checkCado: LambdaInvoke;
}

/**
 * Hand To Cado → Wait For Cado → Cado Finished?, as the investigation workflow and the hand-off re-run both run it:
 * the same Lambdas, Retry and Catch. Wait For Cado registers the pipeline with its task token and waits
 * (`lambda:invoke.waitForTaskToken`) until the Task Watcher's Cado pass, or a Cado webhook, resumes it with Check
 * Cado's decision; its timeout is the watchdog (the hand-off deadline plus {@link CADO_WATCHDOG_SLACK_SECONDS}),
 * which ends the hand-off failed with `CadoWatchdogFired`. Check Cado runs only when the resume asks it to import once
 * more (Cado found no file: phase still `running`), then the pipeline it imported is waited for again. State names
 * are the construct ids, so `scope` must hold no others by them.
 */
export function cadoHandoffSteps(scope: Construct, props: CadoHandoffStepsProps): CadoHandoffSteps {
  const handToCado = lambdaStep(scope, 'Hand To Cado', props.handToCado, { retryOn: CADO_TRANSIENT_ERRORS });
  const waitForCado = lambdaStep(scope, 'Wait For Cado', props.checkCado, {
    retryOn: RETRY_ON.coordination,
    payload: TaskInput.fromObject({
      followed: JsonPath.entirePayload,
      executionName: JsonPath.stringAt('$$.Execution.Name'),
      taskToken: JsonPath.taskToken,
    }),
    waitForTaskToken: { timeoutSeconds: props.handoffTimeoutSeconds + CADO_WATCHDOG_SLACK_SECONDS },
  });
  const checkCado = lambdaStep(scope, 'Check Cado', props.checkCado, { retryOn: CADO_TRANSIENT_ERRORS });
  const watchdogFired = new Pass(scope, 'Cado Watchdog Fired', {
    comment:
      'No Task Watcher or Cado webhook resumed the execution before the watchdog timeout of Wait For Cado',
    parameters: {
      Error: 'CadoWatchdogFired',
      Cause:
        'No Task Watcher pass or Cado webhook resumed the execution before the watchdog (the hand-off deadline plus ' +
        `${CADO_WATCHDOG_SLACK_SECONDS} s); the pipeline may still be running in Cado`,
    },
    resultPath: '$.handoffError',
  });
  watchdogFired.next(props.failed);
  handToCado.addCatch(props.failed, { errors: ['States.ALL'], resultPath: '$.handoffError' });
  waitForCado.addCatch(watchdogFired, { errors: ['States.Timeout'], resultPath: '$.watchdog' });
  waitForCado.addCatch(props.failed, { errors: ['States.ALL'], resultPath: '$.handoffError' });
  checkCado.addCatch(props.failed, { errors: ['States.ALL'], resultPath: '$.handoffError' });
  const cadoFinished = new Choice(scope, 'Cado Finished?')
    .when(Condition.stringEquals('$.cado.phase', 'running'), checkCado)
    .otherwise(props.finished);
  const reimported = new Choice(scope, 'Cado Re-Imported?')
    .when(Condition.stringEquals('$.cado.phase', 'running'), waitForCado)
    .otherwise(props.finished);
  handToCado.next(waitForCado).next(cadoFinished);
  checkCado.next(reimported);
  return { handToCado, waitForCado, checkCado };
}

/**
 * Collection mode cado-xdr: the `hand-to-cado` Lambda asks Cado to collect from the agent through its SentinelOne
 * integration (state "Import From XDR"), then the branch joins the hand-off at `waitForCado`. Retried like Hand
 * To Cado (its settle wait is a CadoTransientError), and the coordination store's errors; any other error goes to
 * `failed` at `$.handoffError`.
 */
export function cadoXdrImportStep(
  scope: Construct,
  handToCado: TaskFunction,
  steps: Pick<CadoHandoffSteps, 'waitForCado'>,
  failed: IChainable,
): LambdaInvoke {
  const importFromXdr = lambdaStep(scope, 'Import From XDR', handToCado, {
    retryOn: [...CADO_TRANSIENT_ERRORS, ...RETRY_ON.coordination],
  });
  importFromXdr.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.handoffError' });
  importFromXdr.next(steps.waitForCado);
  return importFromXdr;
}
