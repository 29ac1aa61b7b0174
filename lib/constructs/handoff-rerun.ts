import type { LogGroup } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  Fail,
  JsonPath,
  Map as MapState,
  Pass,
  type StateMachine,
  Succeed,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { LIMITS } from '../../lambdas/shared/contract';
import type { S1CadoConfig } from '../config';
import { cadoHandoffSteps, EXECUTION_CONTEXT, lambdaStep, recordOutcomeStep } from './cado-handoff-steps';
import type { EvidenceBucket } from './evidence-bucket';
import { loggedStateMachine } from './logged-state-machine';
import { TaskFunction } from './task-function';

/** Properties of {@link HandOffRerun}. */
export interface HandOffRerunProps {
  /** The validated configuration. */
  readonly config: S1CadoConfig;
  /** Where the staged evidence, its manifests and case files are. */
  readonly evidence: EvidenceBucket;
  /** The investigation workflow's `hand-to-cado`, `check-cado` and `record-outcome` Lambdas, reused as they are. */
  readonly functions: {
    readonly handToCado: TaskFunction;
    readonly checkCado: TaskFunction;
    readonly recordOutcome: TaskFunction;
  };
}

/**
 * The hand-off re-run (DESIGN §4): a second, small state machine that `s1cado handoff <investigationId>` starts
 * when evidence is staged but Cado did not process it.
 *
 * Find Staged Evidence → Hand Off Each Collection (Map: Hand To Cado → Wait For Cado, or straight to Wait For
 * Cado to follow a pipeline started earlier; the Task Watcher or a Cado webhook resumes it) → Record Outcome (re-run mode) → Succeed | Fail. The
 * hand-off states are the investigation workflow's (same Lambdas, Retry and Catch, built by the same helper);
 * Record Outcome stays the only writer of manifests and case.json, so operators need no S3 write access.
 */
export class HandOffRerun extends Construct {
  /** The state machine. */
  readonly stateMachine: StateMachine;
  /** Its execution log group (level ALL). */
  readonly logGroup: LogGroup;
  /** The Lambda only this state machine uses. */
  readonly findStagedEvidence: TaskFunction;

  constructor(scope: Construct, id: string, props: HandOffRerunProps) {
    super(scope, id);
    const { config, evidence, functions } = props;

    this.findStagedEvidence = new TaskFunction(this, 'FindStagedEvidence', {
      step: 'find-staged-evidence',
      logRetentionDays: config.logRetentionDays,
    });
    // Reads case.json, lists and reads the manifests, and heads the staged objects; writes nothing.
    evidence.bindReadEvidence(this.findStagedEvidence);

    const execution = EXECUTION_CONTEXT;
    const find = lambdaStep(this, 'Find Staged Evidence', this.findStagedEvidence, {
      payload: TaskInput.fromObject({ input: JsonPath.entirePayload, execution }),
    });

    const cado = cadoHandoffSteps(this, {
      handToCado: functions.handToCado,
      checkCado: functions.checkCado,
      handoffTimeoutSeconds: config.cadoHandoffTimeoutSeconds,
      failed: new Pass(this, 'Hand-Off Failed'),
      finished: new Pass(this, 'Agent Finished'),
    });
    const started = new Choice(this, 'Pipeline Started Before?')
      .when(Condition.isPresent('$.cado'), cado.waitForCado)
      .otherwise(cado.handToCado);
    const each = new MapState(this, 'Hand Off Each Collection', {
      itemsPath: '$.staged',
      maxConcurrency: config.maxConcurrentAgents,
      resultPath: '$.results',
    });
    each.itemProcessor(started);

    const recordOutcome = recordOutcomeStep(this, functions.recordOutcome, 'rerun');
    const verdict = new Choice(this, 'Re-Run Succeeded?')
      .when(Condition.isNull('$.outcome.errorName'), new Succeed(this, 'Re-Run Complete'))
      .otherwise(
        new Fail(this, 'Re-Run Failed', { errorPath: '$.outcome.errorName', causePath: '$.outcome.summary' }),
      );
    const anything = new Choice(this, 'Anything To Hand Off?')
      .when(
        Condition.or(Condition.isPresent('$.staged[0]'), Condition.isPresent('$.refused[0]')),
        each.next(recordOutcome).next(verdict),
      )
      .otherwise(new Succeed(this, 'Nothing To Hand Off'));
    const definition = find.next(anything);

    // Collections are handed off in batches of maxConcurrentAgents, each at most the Cado deadline, plus slack.
    const batches = Math.ceil(LIMITS.maxAgents / config.maxConcurrentAgents);
    ({ stateMachine: this.stateMachine, logGroup: this.logGroup } = loggedStateMachine(this, {
      definition,
      timeoutSeconds: (config.cadoHandoffTimeoutSeconds + 1800) * batches + 900,
      comment: "Re-runs the Cado hand-off of an investigation's staged evidence",
      logRetentionDays: config.logRetentionDays,
    }));
  }
}
