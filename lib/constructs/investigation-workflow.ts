import { Duration } from 'aws-cdk-lib';
import type { Role } from 'aws-cdk-lib/aws-iam';
import type { LogGroup } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  Fail,
  type IChainable,
  JitterType,
  JsonPath,
  Map as MapState,
  Pass,
  type StateMachine,
  Succeed,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import type { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import {
  COLLECTION_PROFILES,
  ENV,
  LIMITS,
  PROFILE_DEFAULT_RUNTIME_SECONDS,
  RETRY_ON,
} from '../../lambdas/shared/contract';
import type { S1CadoConfig } from '../config';
import type { ApiSecrets } from './api-secrets';
import {
  cadoHandoffSteps,
  cadoXdrImportStep,
  EXECUTION_CONTEXT,
  type LambdaStepOptions,
  lambdaStep,
  recordOutcomeStep,
} from './cado-handoff-steps';
import type { CoordinationStore } from './coordination-store';
import type { EvidenceBucket } from './evidence-bucket';
import { loggedStateMachine } from './logged-state-machine';
import { TASK_FUNCTION_NODE_FLAGS, TaskFunction } from './task-function';
import { TaskWatcher } from './task-watcher';

/**
 * How long after the task deadline (runtime + grace) the watchdog of Run Script's wait fires: long enough for the
 * Task Watcher (which reports the deadline within ~10 s) and Run Script's own minutes; it fires only without one.
 */
export const TASK_WATCHDOG_SLACK_SECONDS = 600;

/** Error names the S1 client throws for conditions that pass with time (from the contract). */
export const S1_TRANSIENT_ERRORS: readonly string[] = [...RETRY_ON.s1Throttling, ...RETRY_ON.s1Transient];
export { CADO_TRANSIENT_ERRORS } from './cado-handoff-steps';
/**
 * Node options of the staging Lambda: a small young generation makes V8 collect the short-lived download chunks (and
 * the external memory they hold) sooner, which keeps peak memory low while gigabytes stream through (the part
 * buffers are a fixed pool). 16 MiB instead of 2 raised the peak by 35-45 MiB at 128 MiB staged without a CPU gain
 * that showed above the noise (`npm run bench -- --only staging` measures it).
 * On top of every TaskFunction's flags, which leave out `--enable-source-maps` (it parses the source map at every
 * cold start; a failure's stack is mapped on demand).
 */
export const STAGING_NODE_OPTIONS = [...TASK_FUNCTION_NODE_FLAGS, '--max-semi-space-size=2'].join(' ');

/** Download failures worth another full attempt of Stage Output (from the contract). */
export const STAGING_RETRY_ERRORS: readonly string[] = RETRY_ON.staging;

/** The state's collection mode at `path` is cado-xdr (absent: the default mode, s1-remoteops). */
function isCadoXdr(path: string): Condition {
  return Condition.and(Condition.isPresent(path), Condition.stringEquals(path, 'cado-xdr'));
}

/** Properties of {@link InvestigationWorkflow}. */
export interface InvestigationWorkflowProps {
  /** The validated configuration. */
  readonly config: S1CadoConfig;
  /** Where evidence, manifests, task records and case files go. */
  readonly evidence: EvidenceBucket;
  /** The S1 token and Cado key. */
  readonly secrets: ApiSecrets;
  /** Execute intents (Run Script) and import intents (Hand To Cado). */
  readonly coordination: CoordinationStore;
}

/**
 * The investigation state machine (DESIGN §2) and its Lambdas, one per state:
 *
 * Receive Input → Check Permissions → Resolve Targets → Ensure Scripts → Collect From Each Agent (Map) →
 * Record Outcome → Succeed | Fail, where each agent runs Run Script (which waits with a task token until the Task
 * Watcher resumes it) → Stage Output → Hand To Cado → Wait For Cado (which waits with a task token until the Task
 * Watcher's Cado pass or a Cado webhook resumes it), and a passed task deadline, or
 * the wait's watchdog timeout when no watcher answered, goes to Cancel Task. In collection mode
 * cado-xdr (config or execution input, set by Resolve Targets) Ensure Scripts is skipped and each agent goes Import
 * From XDR → Wait For Cado: Cado collects through its own SentinelOne integration. Every S1/Cado call retries its transient errors by name with
 * backoff and full jitter; anything else is caught per agent, so one agent's failure never loses another's evidence.
 * JSONPath only (the local runner cannot execute JSONata).
 */
export class InvestigationWorkflow extends Construct {
  /** The state machine. */
  readonly stateMachine: StateMachine;
  /** Its execution log group (level ALL). */
  readonly logGroup: LogGroup;
  /** The Lambdas, by step name. */
  readonly functions: Readonly<Record<string, TaskFunction>>;
  /** The role whose sessions (one key each) sign direct-upload part URLs. */
  readonly directUploadSigner: Role;
  /** Resumes the executions waiting in Run Script (one S1 status call for every open task). */
  readonly taskWatcher: TaskWatcher;

  constructor(scope: Construct, id: string, props: InvestigationWorkflowProps) {
    super(scope, id);
    const { config, evidence, secrets, coordination } = props;

    // S1, Cado and bucket settings come with their grants (secrets.bindS1/bindCado, evidence.bindStaging).
    // The longest script runtime any profile may get: Run Script's watchdog and the execution's timeout allow for it.
    const longestRuntimeSeconds = Math.max(
      config.scriptRuntimeTimeoutSeconds,
      ...COLLECTION_PROFILES.map(
        (p) =>
          config.collectionProfiles.budgets[p]?.runtimeTimeoutSeconds ??
          (p === 'triage' ? config.scriptRuntimeTimeoutSeconds : PROFILE_DEFAULT_RUNTIME_SECONDS[p]),
      ),
    );
    const workflowEnv = {
      [ENV.tokenExpiryWarningDays]: String(config.tokenExpiryWarningDays),
      [ENV.scriptRuntimeTimeoutSeconds]: String(config.scriptRuntimeTimeoutSeconds),
      [ENV.collectionProfiles]: JSON.stringify(config.collectionProfiles),
      [ENV.taskGraceSeconds]: String(config.taskGraceSeconds),
      [ENV.agentCooldownMinutes]: String(config.agentCooldownMinutes),
    };

    const fn = (
      fnId: string,
      step: string,
      uses: {
        s1?: boolean;
        cado?: boolean;
        bucket?: 'task-records' | 'staging' | 'verification' | 'outcome' | 'read';
      },
      extra: Partial<{
        timeout: Duration;
        memorySize: number;
        bundleCollectors: boolean;
        nodeOptions: string;
        reservedConcurrentExecutions: number;
      }> = {},
    ): TaskFunction => {
      const { nodeOptions, ...rest } = extra;
      const f = new TaskFunction(this, fnId, {
        step,
        logRetentionDays: config.logRetentionDays,
        environment: { ...workflowEnv, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) },
        ...rest,
      });
      if (uses.s1) secrets.bindS1(f);
      if (uses.cado) secrets.bindCado(f);
      // Each step writes only the keys it owns (EvidenceBucket.OWNED_KEYS); the others read.
      if (uses.bucket === 'task-records') evidence.bindTaskRecords(f);
      if (uses.bucket === 'staging') evidence.bindStaging(f);
      if (uses.bucket === 'verification') evidence.bindVerification(f);
      if (uses.bucket === 'outcome') evidence.bindOutcomeRecords(f);
      if (uses.bucket === 'read') evidence.bindReadEvidence(f);
      return f;
    };

    const functions = {
      resolveTargets: fn('ResolveTargets', 'resolve-targets', {}),
      checkPermissions: fn('CheckPermissions', 'check-permissions', { s1: true }),
      ensureScripts: fn('EnsureScripts', 'ensure-scripts', { s1: true }, { bundleCollectors: true }),
      // Decides direct-to-S3 per agent and opens the multipart upload on the agent's direct key.
      prepareUpload: fn('PrepareUpload', 'prepare-upload', {}),
      runScript: fn('RunScript', 'run-script', { s1: true, bucket: 'task-records' }),
      cancelTask: fn('CancelTask', 'cancel-task', { s1: true }),
      // Streams up to gigabytes: the longest timeout Lambda allows, and more memory for CPU (hashing, TLS).
      stageOutput: fn(
        'StageOutput',
        'stage-output',
        { s1: true, bucket: 'staging' },
        {
          timeout: Duration.seconds(LIMITS.stagingTimeoutSeconds),
          memorySize: 1024,
          nodeOptions: STAGING_NODE_OPTIONS,
          reservedConcurrentExecutions: config.stagingReservedConcurrency,
        },
      ),
      // Stages the collector's small S1 result and completes its direct upload (or stages a fallen-back result).
      completeUpload: fn(
        'CompleteUpload',
        'complete-upload',
        { s1: true, bucket: 'staging' },
        {
          timeout: Duration.seconds(LIMITS.stagingTimeoutSeconds),
          memorySize: 1024,
          nodeOptions: STAGING_NODE_OPTIONS,
        },
      ),
      // Reads the stored version back in one sequential pass (the zip's tail first): as long as staging may take.
      verifyEvidence: fn(
        'VerifyEvidence',
        'verify-evidence',
        { bucket: 'verification' },
        { timeout: Duration.seconds(LIMITS.stagingTimeoutSeconds), memorySize: 1024 },
      ),
      handToCado: fn('HandToCado', 'hand-to-cado', { cado: true, bucket: 'read' }),
      checkCado: fn('CheckCado', 'check-cado', { cado: true }),
      // Reads the S1 token only to add the evidence record to the investigation's threat, as a note.
      recordOutcome: fn('RecordOutcome', 'record-outcome', { s1: true, bucket: 'outcome' }),
    };
    functions.recordOutcome.addEnvironment(ENV.threatNote, 'true');
    if (config.threatUpdate) {
      functions.recordOutcome.addEnvironment(ENV.threatUpdate, JSON.stringify(config.threatUpdate));
    }
    functions.stageOutput.addEnvironment(ENV.maxResultBytes, String(config.maxResultBytes));
    functions.completeUpload.addEnvironment(ENV.maxResultBytes, String(config.maxResultBytes));
    // Direct-to-S3: the upload-signing role, the keys each side may write, and the bucket policy around them.
    this.directUploadSigner = evidence.enableDirectUploads({
      opener: functions.prepareUpload,
      signer: functions.runScript,
      completer: functions.completeUpload,
    });
    if (config.directUploadOverBytes !== undefined) {
      functions.prepareUpload.addEnvironment(ENV.directUploadOverBytes, String(config.directUploadOverBytes));
    }
    // Collection mode: the default (an execution may name another), and how Cado is asked in mode cado-xdr.
    functions.resolveTargets.addEnvironment(ENV.collectionMode, config.collectionMode);
    if (config.cadoXdrAccountName)
      functions.handToCado.addEnvironment(ENV.cadoXdrAccountName, config.cadoXdrAccountName);
    if (config.cadoXdrCustomFiles?.length)
      functions.handToCado.addEnvironment(ENV.cadoXdrCustomFiles, JSON.stringify(config.cadoXdrCustomFiles));
    coordination.bind(functions.runScript);
    // The shared script library cache and upload claim (a burst looks the library up once per collector).
    coordination.bind(functions.ensureScripts);
    functions.ensureScripts.addEnvironment(
      ENV.scriptLibraryCacheSeconds,
      String(config.scriptLibraryCacheSeconds),
    );
    // The shared token preflight (a burst asks S1 about the token once a minute).
    coordination.bind(functions.checkPermissions);
    functions.checkPermissions.addEnvironment(
      ENV.preflightCacheSeconds,
      String(config.preflightCacheSeconds),
    );
    // Stage Output takes the result link the Task Watcher fetched ahead (its own fetch-files call otherwise).
    coordination.bindFetchedResultLinks(functions.stageOutput);
    // After a watchdog timeout, Cancel Task finds the task through the execute intent.
    coordination.bind(functions.cancelTask);
    coordination.bind(functions.handToCado);
    // Wait For Cado registers the pipeline it follows (open Cado waits), for the Task Watcher and the Cado webhook.
    coordination.bindOpenCadoWaits(functions.checkCado, 'register');
    coordination.bind(functions.recordOutcome);
    this.functions = Object.fromEntries(Object.values(functions).map((f) => [f.step, f]));

    const invoke = (name: string, lambda: TaskFunction, opts: LambdaStepOptions = {}): LambdaInvoke =>
      lambdaStep(this, name, lambda, opts);
    const caught = (task: LambdaInvoke, next: IChainable, resultPath: string) =>
      task.addCatch(next, { errors: ['States.ALL'], resultPath });

    // ---- per agent ---------------------------------------------------------------------------------
    const collectionFailed = new Pass(this, 'Collection Failed');
    const collectionTimedOut = new Pass(this, 'Collection Timed Out');
    const handOffFailed = new Pass(this, 'Hand-Off Failed');
    const agentFinished = new Pass(this, 'Agent Finished');

    // Never S1TransientError: an execute whose outcome is unknown is settled by Run Script, not sent again. It waits
    // with a task token (registered with the task) until the Task Watcher resumes it with the checked task; the
    // timeout is the watchdog for a watcher that never answers.
    const runScript = invoke('Run Script', functions.runScript, {
      retryOn: [...RETRY_ON.s1Throttling, ...RETRY_ON.coordination],
      payload: TaskInput.fromObject({
        investigation: JsonPath.objectAt('$.investigation'),
        target: JsonPath.objectAt('$.target'),
        // Always present after Prepare Upload (null when the collection goes through S1's cloud).
        upload: JsonPath.objectAt('$.upload'),
        taskToken: JsonPath.taskToken,
      }),
      waitForTaskToken: {
        timeoutSeconds: longestRuntimeSeconds + config.taskGraceSeconds + TASK_WATCHDOG_SLACK_SECONDS,
      },
    });
    const watchdogFired = new Pass(this, 'Watchdog Fired', {
      comment: 'No Task Watcher answered before the watchdog: treated as a passed deadline (Cancel Task)',
      parameters: {
        phase: 'deadline',
        reason: 'No Task Watcher resumed the execution before the watchdog timeout of the wait',
      },
      resultPath: '$.task',
    });
    const cancelTask = invoke('Cancel Task', functions.cancelTask, {
      retryOn: S1_TRANSIENT_ERRORS,
      resultPath: '$.cancel',
    });
    const stageOutput = invoke('Stage Output', functions.stageOutput, {
      retryOn: [...S1_TRANSIENT_ERRORS, ...STAGING_RETRY_ERRORS],
      minutes: LIMITS.stagingTimeoutSeconds / 60 + 1,
    });
    // Its reserved concurrency can be exhausted by a burst of investigations; a throttled invoke never ran.
    stageOutput.addRetry({
      errors: ['Lambda.TooManyRequestsException'],
      interval: Duration.seconds(10),
      backoffRate: 2,
      maxAttempts: 10,
      maxDelay: Duration.minutes(5),
      jitterStrategy: JitterType.FULL,
    });
    const prepareUpload = invoke('Prepare Upload', functions.prepareUpload);
    const completeUpload = invoke('Complete Upload', functions.completeUpload, {
      retryOn: [...S1_TRANSIENT_ERRORS, ...STAGING_RETRY_ERRORS],
      minutes: LIMITS.stagingTimeoutSeconds / 60 + 1,
    });
    const verifyEvidence = invoke('Verify Evidence', functions.verifyEvidence, {
      minutes: LIMITS.stagingTimeoutSeconds / 60 + 1,
    });
    const cado = cadoHandoffSteps(this, {
      handToCado: functions.handToCado,
      checkCado: functions.checkCado,
      handoffTimeoutSeconds: config.cadoHandoffTimeoutSeconds,
      failed: handOffFailed,
      finished: agentFinished,
    });

    caught(prepareUpload, collectionFailed, '$.error');
    caught(completeUpload, collectionFailed, '$.error');
    runScript.addCatch(watchdogFired, { errors: ['States.Timeout'], resultPath: '$.watchdog' });
    caught(runScript, collectionFailed, '$.error');
    caught(stageOutput, collectionFailed, '$.error');
    caught(verifyEvidence, collectionFailed, '$.error');
    caught(cancelTask, collectionTimedOut, '$.cancelError');
    const taskFinished = new Choice(this, 'Task Finished?')
      .when(
        Condition.stringEquals('$.task.phase', 'completed'),
        new Choice(this, 'Uploaded Directly?')
          .when(
            Condition.and(Condition.isPresent('$.upload'), Condition.isNotNull('$.upload')),
            completeUpload.next(verifyEvidence),
          )
          .otherwise(stageOutput.next(verifyEvidence).next(cado.handToCado)),
      )
      .when(Condition.stringEquals('$.task.phase', 'deadline'), cancelTask.next(collectionTimedOut))
      .otherwise(collectionFailed);
    prepareUpload.next(runScript).next(taskFinished);
    watchdogFired.next(cancelTask);
    // Collection mode cado-xdr: Cado collects through its SentinelOne integration; no Run Script, Stage or Verify.
    const importFromXdr = cadoXdrImportStep(this, functions.handToCado, cado, handOffFailed);
    const perAgent = new Choice(this, 'Agent Collection Mode?')
      .when(isCadoXdr('$.investigation.collectionMode'), importFromXdr)
      .otherwise(prepareUpload);

    const collect = new MapState(this, 'Collect From Each Agent', {
      itemsPath: '$.targets',
      itemSelector: { 'investigation.$': '$.investigation', 'target.$': '$$.Map.Item.Value' },
      maxConcurrency: config.maxConcurrentAgents,
      resultPath: '$.results',
    });
    collect.itemProcessor(perAgent);

    // ---- whole investigation ----------------------------------------------------------------------------
    const execution = EXECUTION_CONTEXT;
    // Whatever the caller sent (null, a string, an array, an object), the state from here on is an object holding
    // it under `input`: a Catch can then add `$.error` and Record Outcome writes a case file for any input. The
    // execution input is read from the context object, because a path on a scalar input is not an object to extend.
    const receiveInput = new Pass(this, 'Receive Input', {
      comment: 'Wraps the execution input, as sent, so that every input reaches a recorded outcome',
      parameters: { 'input.$': '$$.Execution.Input' },
    });
    // The first step: the cheap part of the permission audit, failing fast in the audit's words (token
    // accepted and not expired; RemoteOps licensed on the agents' sites, whose agents Resolve Targets rejects).
    const checkPermissions = invoke('Check Permissions', functions.checkPermissions, {
      retryOn: S1_TRANSIENT_ERRORS,
      payload: TaskInput.fromObject({ input: JsonPath.objectAt('$.input'), execution }),
    });
    const resolveTargets = invoke('Resolve Targets', functions.resolveTargets);
    const ensureScripts = invoke('Ensure Scripts', functions.ensureScripts, { retryOn: S1_TRANSIENT_ERRORS });
    const recordOutcome = recordOutcomeStep(this, functions.recordOutcome);
    for (const early of [resolveTargets, checkPermissions, ensureScripts])
      caught(early, recordOutcome, '$.error');
    collect.addCatch(recordOutcome, { errors: ['States.ALL'], resultPath: '$.error' });

    const verdict = new Choice(this, 'Investigation Succeeded?')
      .when(Condition.isNull('$.outcome.errorName'), new Succeed(this, 'Investigation Complete'))
      .otherwise(
        new Fail(this, 'Investigation Failed', {
          errorPath: '$.outcome.errorName',
          causePath: '$.outcome.summary',
        }),
      );
    collect.next(recordOutcome).next(verdict);
    // Mode cado-xdr runs nothing of ours on the endpoints: no collector to ensure in the S1 library.
    const collectionMode = new Choice(this, 'Collection Mode?')
      .when(isCadoXdr('$.investigation.collectionMode'), collect)
      .otherwise(ensureScripts.next(collect));
    const definition = receiveInput.next(checkPermissions).next(resolveTargets).next(collectionMode);

    // Upper bound of one investigation: agents run in batches of maxConcurrentAgents, each at most its task
    // deadline (runtime + grace), staging, and the Cado deadline, plus slack for retries.
    const perAgentSeconds =
      longestRuntimeSeconds +
      config.taskGraceSeconds +
      LIMITS.stagingTimeoutSeconds +
      60 +
      config.cadoHandoffTimeoutSeconds +
      1800;
    const batches = Math.ceil(LIMITS.maxAgents / config.maxConcurrentAgents);
    ({ stateMachine: this.stateMachine, logGroup: this.logGroup } = loggedStateMachine(this, {
      definition,
      timeoutSeconds: perAgentSeconds * batches + 900,
      comment: 'Collects forensic evidence from SentinelOne agents, stages it in S3 and hands it to Cado',
      logRetentionDays: config.logRetentionDays,
    }));
    this.taskWatcher = new TaskWatcher(this, 'TaskWatcher', {
      stateMachines: [this.stateMachine],
      secrets,
      coordination,
      cadoWatchIntervalSeconds: config.cadoWatchIntervalSeconds,
      logRetentionDays: config.logRetentionDays,
    });
    // The watcher sends the executes Run Script queues (batched) and records each agent's attempts.
    const watcherFunction = this.taskWatcher.function;
    evidence.bindTaskRecords(watcherFunction);
    for (const [name, value] of Object.entries(workflowEnv)) watcherFunction.addEnvironment(name, value);
    // Run Script wakes it after queuing an execute (an asynchronous invoke, only when none is running).
    watcherFunction.grantInvoke(functions.runScript);
    functions.runScript.addEnvironment(ENV.taskWatcherFunction, watcherFunction.functionName);
  }
}
