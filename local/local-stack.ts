/**
 * The whole product on this machine: the CDK stack synthesized with a local configuration, its two state machine
 * definitions (the investigation and the hand-off re-run) extracted and run in-process with every Task bound to the real handler, against the S1 and Cado
 * simulators (or external S1-/Cado-compatible endpoints), s3rver, dynalite and the local AWS fake. Used by the end-to-end
 * tests, `npm run demo` and `npm run bench`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb';
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { resetAwsClients } from '../lambdas/shared/aws';
import { sleep as clockSleep, useTimeScale } from '../lambdas/shared/clock';
import { ENV, SECRET_FIELDS } from '../lambdas/shared/contract';
import { COORDINATION_TABLE_ENV } from '../lambdas/shared/coordination/table';
import { resetServices } from '../lambdas/shared/services';
import { loadConfig, type S1CadoConfigInput } from '../lib/config';
import { S1CadoForensicsStack } from '../lib/s1-cado-forensics-stack';
import { type ExtractedFunction, extractStateMachine, findFunction } from './asl/extract';
import { createLambdaContext } from './asl/lambda-context';
import {
  createLocalStateMachine,
  handlersFromDirectory,
  type LocalEvent,
  type LocalStateMachine,
  stepsOf,
} from './asl/runner';
import { TaskTokens } from './asl/task-tokens';
import { type AwsFake, startAwsFake } from './aws-fake';
import type { FakeEvent } from './aws-fake/event-bridge';
import type { FakeExecutionRequest } from './aws-fake/step-functions';
import { type CadoSimulator, startCadoSimulator } from './cado-simulator';
import { type InChildProcess, startChildDynamo, startChildS3 } from './child-stores';
import { type LocalDynamo, startLocalDynamo, tablesFromTemplate } from './dynamo';
import { type LocalFunctionUrl, startFunctionUrl } from './function-url';
import {
  type DemoTenant,
  type S1Simulator,
  type S1SimulatorOptions,
  seedDemoTenant,
  startS1Simulator,
} from './s1-simulator';
import { type LocalS3, startLocalS3 } from './s3';
import { type LocalQueues, wireQueues } from './sqs-intake';

/** The repository root. */
export const REPO_ROOT = path.resolve(__dirname, '..');

/** Name of the local evidence bucket. */
export const LOCAL_BUCKET = 'evidence';

/**
 * The stack name the AWS fake's DescribeStacks answers for (the deployed stack's name, so the CLI finds the local
 * deployment with its defaults).
 */
export const LOCAL_STACK_NAME = 'S1CadoForensics';
/** The SentinelOne XDR account the local Cado simulator holds (on the local S1 console). */
export const LOCAL_XDR_ACCOUNT = 'SentinelOne (local)';

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /** Simulated seconds per real second for every participant (handlers, simulators, Waits). @default 60 */
  readonly timeScale?: number;
  /** Configuration overrides on top of the local defaults (e.g. script runtime, grace, concurrency). */
  readonly config?: Partial<S1CadoConfigInput>;
  /** Use this S1-compatible endpoint instead of the simulator. */
  readonly externalS1?: { url: string; token: string };
  /** Use this Cado-compatible endpoint instead of the simulator. */
  readonly externalCado?: { url: string; key: string };
  /** S1 simulator options (rate limits, task timing, ...). */
  readonly s1Simulator?: S1SimulatorOptions;
  /** Cado simulator platform version. @default 2.324.0 */
  readonly cadoPlatformVersion?: string;
  /** Overrides of the runner's Wait durations, by state name (real ms). */
  readonly waitTimeOverrides?: Record<string, number>;
  /** Overrides of Retry intervals, by state name (real ms). */
  readonly retryIntervalOverrides?: Record<string, number>;
  /** Run the Task Watcher's schedule (every clock minute), as EventBridge does in the deployed stack. @default true */
  readonly taskWatcher?: boolean;
  /**
   * Run s3rver and dynalite in child processes of their own (local/child-stores.ts) instead of in this one, as S3
   * and DynamoDB are services of their own: for loads where the stack's one event loop would delay the stores'
   * answers past the handlers' SDK timeouts (the 1,000-threat burst). @default false
   */
  readonly storesInChildProcesses?: boolean;
}

/** The Task Watcher's schedule, run locally (every clock minute; a run still going means the next one is skipped). */
export interface LocalTaskWatcher {
  /** Starts the schedule (again); the first run is at once. */
  start(): void;
  /** Stops the schedule and waits for a run in progress to end ("the watcher is down"). */
  stop(): Promise<void>;
  /** Runs the watcher once now (outside the schedule) and returns its summary. */
  runOnce(): Promise<unknown>;
  /**
   * An asynchronous invoke (Run Script's wake-up): runs the watcher now if the schedule runs and no run is going;
   * otherwise it is dropped, as Lambda drops a throttled event with no retries left.
   */
  wake(): void;
  /** Whether the schedule runs. */
  readonly running: boolean;
  /** Invocations so far, and the errors they ended with. */
  readonly invocations: number;
  readonly failures: unknown[];
}

/** A running local deployment. */
export interface LocalStack {
  readonly s1Url: string;
  readonly cadoUrl: string;
  /** Present unless an external S1 is used. */
  readonly s1Sim: S1Simulator | undefined;
  readonly tenant: DemoTenant | undefined;
  /** Present unless an external Cado is used. */
  readonly cadoSim: CadoSimulator | undefined;
  readonly s3: LocalS3;
  /** dynalite with the template's tables (the coordination store). */
  readonly dynamo: LocalDynamo;
  /** The coordination store's local table name. */
  readonly coordinationTable: string;
  /** Process ids of the children running s3rver and dynalite (`storesInChildProcesses`); empty otherwise. */
  readonly storePids: readonly number[];
  readonly aws: AwsFake;
  readonly bucket: string;
  readonly stateMachineArn: string;
  /** The hand-off re-run state machine (`s1cado handoff` starts it). */
  readonly handoffRerunArn: string;
  /** The stack outputs DescribeStacks returns for {@link LOCAL_STACK_NAME} (as the deployed stack has them). */
  readonly outputs: Readonly<Record<string, string>>;
  /**
   * Variables that point AWS SDK clients (e.g. the CLI's) at this deployment: s3rver, dynalite, the AWS fake, the
   * region.
   * The CLI finds everything else through the stack outputs.
   */
  readonly awsEnv: Readonly<Record<string, string>>;
  readonly machine: LocalStateMachine;
  /** The hand-off re-run, run the same way. */
  readonly rerunMachine: LocalStateMachine;
  /** The tokens in use (tests assert they never leak). */
  readonly secrets: { s1Token: string; cadoKey: string };
  /** The intake bus and its rule (threat events reach start-investigation, as in the deployed stack). */
  readonly intake: LocalIntake;
  /** The task tokens of waiting states (SendTaskSuccess/Failure in the AWS fake answers them). */
  readonly taskTokens: TaskTokens;
  /** The Task Watcher's local schedule. */
  readonly taskWatcher: LocalTaskWatcher;
  /**
   * The Cado webhook receiver's local Function URL and its secret, when the config enables it
   * (`cadoWebhookEnabled`); with the Cado simulator, its webhooks are registered there as an operator would.
   */
  readonly cadoWebhook: { readonly url: string; readonly secret: string } | undefined;
  /** Stops everything and restores the environment. */
  close(): Promise<void>;
}

/** Local defaults: loopback endpoints allowed, and short S1 timeouts so a run fits in seconds. */
function localConfig(
  s1Url: string,
  cadoUrl: string,
  overrides: Partial<S1CadoConfigInput>,
): S1CadoConfigInput {
  return {
    s1ConsoleUrl: s1Url,
    cadoUrl,
    allowLoopback: true,
    cadoProjectMode: 'per-threat',
    scriptRuntimeTimeoutSeconds: 900,
    taskGraceSeconds: 900,
    maxConcurrentAgents: 5,
    cadoHandoffTimeoutSeconds: 6 * 3600,
    ...overrides,
  } as S1CadoConfigInput;
}

function cdkJsonContext(): Record<string, unknown> {
  return (
    JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
  ).context;
}

/**
 * Synthesizes the real stack (without bundling) and returns its template and the logical ids of its state machines:
 * the investigation (`logicalId`) and the hand-off re-run (`rerunLogicalId`).
 */
export function synthesizeLocal(input: S1CadoConfigInput): {
  template: Record<string, unknown>;
  logicalId: string;
  rerunLogicalId: string;
  /** Logical id of the coordination store's table. */
  coordinationTableId: string;
  /** The configuration as the stack read it (defaults applied). */
  config: ReturnType<typeof loadConfig>;
} {
  const outdir = mkdtempSync(path.join(tmpdir(), 's1cado-synth-'));
  try {
    const app = new App({
      outdir,
      // The feature flags of cdk.json, as `cdk synth` would apply them; the local config replaces the example.
      context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], s1cado: input },
      // The built-in CloudFormation validation costs seconds per synth and adds nothing for a local run.
      builtinCloudFormationValidation: false,
    } as ConstructorParameters<typeof App>[0]);
    const config = loadConfig(app.node);
    const stack = new S1CadoForensicsStack(app, 'S1CadoForensicsLocal', { config });
    const logicalId = Stack.of(stack).getLogicalId(
      stack.workflow.stateMachine.node.defaultChild as CfnStateMachine,
    );
    const rerunLogicalId = Stack.of(stack).getLogicalId(
      stack.handoffRerun.stateMachine.node.defaultChild as CfnStateMachine,
    );
    const coordinationTableId = Stack.of(stack).getLogicalId(
      stack.coordination.table.node.defaultChild as CfnTable,
    );
    return {
      template: Template.fromStack(stack).toJSON(),
      logicalId,
      rerunLogicalId,
      coordinationTableId,
      config,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Starts the local deployment. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const restoreClock = useTimeScale(options.timeScale ?? 60);
  const closers: (() => Promise<void> | void)[] = [restoreClock];
  const close = async () => {
    for (const fn of closers.reverse()) await fn();
  };
  try {
    const inChildren = options.storesInChildProcesses ?? false;
    const storePids: number[] = [];
    const s3: LocalS3 & Partial<InChildProcess> = inChildren
      ? await startChildS3({ buckets: [LOCAL_BUCKET] })
      : await startLocalS3({ buckets: [LOCAL_BUCKET] });
    closers.push(() => s3.close());
    if (s3.pid !== undefined) storePids.push(s3.pid);

    let s1Sim: S1Simulator | undefined;
    let tenant: DemoTenant | undefined;
    let s1Url: string;
    let s1Token: string;
    if (options.externalS1) {
      s1Url = options.externalS1.url;
      s1Token = options.externalS1.token;
    } else {
      s1Sim = await startS1Simulator(options.s1Simulator);
      closers.push(() => s1Sim?.close());
      tenant = seedDemoTenant(s1Sim);
      s1Url = s1Sim.url;
      s1Token = tenant.serviceUser.token;
    }

    let cadoSim: CadoSimulator | undefined;
    let cadoUrl: string;
    let cadoKey: string;
    if (options.externalCado) {
      cadoUrl = options.externalCado.url;
      cadoKey = options.externalCado.key;
    } else {
      cadoKey = 'cado-local-key-0123456789abcdef';
      cadoSim = await startCadoSimulator({
        platformVersion: options.cadoPlatformVersion,
        keys: [{ key: cadoKey, role: 'Lead Analyst' }],
        // Cado really reads the staged object back from S3, as the platform would.
        s3: s3.clientConfig,
      });
      closers.push(() => cadoSim?.close());
      cadoUrl = cadoSim.url;
    }

    // Cado's SentinelOne integration (collection mode cado-xdr): an XDR account on our console, with our token.
    // `public_identifier` holding the console URL is a guess (UNCERTAIN, see lambdas/shared/cado/xdr.ts).
    cadoSim?.addXdrAccount({
      name: LOCAL_XDR_ACCOUNT,
      endpoint: s1Url,
      token: s1Token,
      publicIdentifier: s1Url,
    });

    const aws = await startAwsFake();
    closers.push(() => aws.close());
    const s1SecretArn = aws.secrets.set('s1cado/s1-api', { apiToken: s1Token });
    const cadoSecretArn = aws.secrets.set('s1cado/cado-api', { apiKey: cadoKey });
    // The Cado webhook's shared secret (the stack generates one); used only when the receiver is deployed.
    const cadoWebhookSecret = randomBytes(32).toString('hex');
    const cadoWebhookSecretArn = aws.secrets.set('s1cado/cado-webhook', {
      [SECRET_FIELDS.cadoWebhookSecret]: cadoWebhookSecret,
    });
    // The stack's custody signing key (ECC_NIST_P256, SIGN_VERIFY): the fake signs with a real P-256 key pair.
    const signingKeyArn = aws.kms.createSigningKey('s1-cado-forensics local custody signing');

    const { template, logicalId, rerunLogicalId, coordinationTableId, config } = synthesizeLocal(
      localConfig(s1Url, cadoUrl, options.config ?? {}),
    );
    // The evidence bucket's Object Lock default retention, known now that the stack's configuration is read.
    await s3.setDefaultRetention(LOCAL_BUCKET, { mode: config.objectLockMode, days: config.objectLockDays });
    const tables = tablesFromTemplate(template);
    const dynamo: LocalDynamo & Partial<InChildProcess> = inChildren
      ? await startChildDynamo({ tables })
      : await startLocalDynamo({ tables });
    closers.push(() => dynamo.close());
    if (dynamo.pid !== undefined) storePids.push(dynamo.pid);
    const coordinationTable = dynamo.tableNames[coordinationTableId] ?? coordinationTableId;
    const extracted = extractStateMachine(template, { logicalId });
    const extractedRerun = extractStateMachine(template, { logicalId: rerunLogicalId });
    const handlers = handlersFromDirectory(path.join(REPO_ROOT, 'lambdas'), stepsOf(extracted.functions));
    const env = {
      ...s3.env,
      ...aws.env,
      ...dynamo.env,
      AWS_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      [COORDINATION_TABLE_ENV]: coordinationTable,
      EVIDENCE_BUCKET: LOCAL_BUCKET,
      S1_SECRET_ARN: s1SecretArn,
      CADO_SECRET_ARN: cadoSecretArn,
      [ENV.cadoWebhookSecretArn]: cadoWebhookSecretArn,
      MANIFEST_SIGNING_KEY_ARN: signingKeyArn,
      // No STS here: direct-upload part URLs are signed with the local S3 credentials (s3rver checks them).
      DIRECT_UPLOAD_ROLE_ARN: '',
      // Record Outcome puts outcome events on the intake bus (the project's one bus).
      OUTCOME_BUS_NAME: intakeBusName(extracted.functions),
      // Run Script wakes the Task Watcher after queuing an execute.
      [ENV.taskWatcherFunction]: watcherFunctionName(extracted.functions),
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
    };
    // Overrides name states of the investigation; the re-run gets those of its states it shares (the hand-off).
    const only = (overrides: Record<string, number> | undefined, definition: { States: object }) => {
      if (!overrides) return undefined;
      const names = new Set(allStateNames(definition));
      return Object.fromEntries(Object.entries(overrides).filter(([name]) => names.has(name)));
    };
    // Task tokens of the callback pattern: the runner issues them, the fake's SendTaskSuccess/Failure answer them.
    const taskTokens = new TaskTokens();
    aws.stepFunctions.useTaskTokens(taskTokens);
    const machine = createLocalStateMachine(extracted.definition, {
      functions: extracted.functions,
      handlers,
      taskTokens,
      stateMachineArn: extracted.arn,
      waitTimeOverrides: options.waitTimeOverrides,
      retryIntervalOverrides: options.retryIntervalOverrides,
      env,
    });
    const rerunMachine = createLocalStateMachine(extractedRerun.definition, {
      functions: extractedRerun.functions,
      handlers,
      taskTokens,
      stateMachineArn: extractedRerun.arn,
      waitTimeOverrides: only(options.waitTimeOverrides, extractedRerun.definition),
      retryIntervalOverrides: only(options.retryIntervalOverrides, extractedRerun.definition),
      env,
    });
    // Lambda Invoke through the fake runs the same handlers, with the same environment a run applies. The values
    // they replace are saved now, before any run, and restored after the machine's own restore (closers run last
    // to first), so the order of first run and first invoke does not matter.
    const savedEnv = new Map(
      [...new Set([...Object.keys(machine.env), ...Object.keys(rerunMachine.env)])].map((key) => [
        key,
        process.env[key],
      ]),
    );
    closers.push(() => {
      for (const [key, value] of savedEnv) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    });
    closers.push(() => {
      rerunMachine.dispose();
      machine.dispose();
      // Handlers keep clients at module scope; the next local stack must not inherit them.
      resetServices();
      resetAwsClients();
    });
    aws.registerStateMachine(
      extracted.arn,
      (execution) =>
        machine.run(execution.input, {
          executionName: execution.name,
          executionId: execution.executionArn,
          signal: execution.signal,
          onEvent: (event) => recordHistory(execution, event),
        }).result,
    );
    aws.registerStateMachine(
      extractedRerun.arn,
      (execution) =>
        rerunMachine.run(execution.input, {
          executionName: execution.name,
          executionId: execution.executionArn,
          signal: execution.signal,
          onEvent: (event) => recordHistory(execution, event),
        }).result,
    );

    // Functions outside the state machines (intake, audit, operator actions) also need the variables only they
    // have (e.g. the bus name): added on invoke, and only keys the runs' environment lacks, so no step of a run
    // sees a value other than its own.
    const ownEnvironment = (fn: ExtractedFunction) =>
      Object.fromEntries(Object.entries(fn.environment).filter(([key]) => !(key in machine.env)));
    const invoke = (
      fn: ExtractedFunction,
      event: unknown,
      invocation: { requestId: string; functionArn?: string },
    ) => {
      const handler = fn.step ? handlers[fn.step] : undefined;
      if (!handler) throw new Error(`No handler for ${fn.functionName}`);
      Object.assign(process.env, machine.env, ownEnvironment(fn));
      const context = createLambdaContext(fn, {
        requestId: invocation.requestId,
        deadline: Date.now() + fn.timeoutSeconds * 1000,
        invokedArn: invocation.functionArn ?? fn.arn,
      });
      return handler(event, context);
    };
    for (const fn of extracted.functions.values()) {
      // The Task Watcher is invoked through its schedule's model below (reserved concurrency 1).
      if (!fn.step || !handlers[fn.step] || fn.step === 'watch-tasks') continue;
      aws.lambda.register(fn.functionName, (event, invocation) => invoke(fn, event, invocation));
    }
    const queues = wireQueues(template, extracted.functions, aws, invoke);
    const intake = wireIntake(template, extracted.functions, aws, invoke, queues);
    // Closers run last to first: the queue's records are handled before its pollers stop.
    closers.push(() => queues.stop());
    closers.push(() => intake.settled());
    const taskWatcher = localTaskWatcher(extracted.functions, invoke);
    // Run Script's wake-ups (asynchronous invokes): with reserved concurrency 1, one arriving while a run is going is
    // throttled and, with no retries configured, dropped; with the watcher down, every one is.
    aws.lambda.register(watcherFunctionName(extracted.functions), () => {
      taskWatcher.wake();
      return null;
    });
    if (options.taskWatcher ?? true) taskWatcher.start();
    closers.push(() => taskWatcher.stop());
    const cadoWebhook = await localCadoWebhook(extracted.functions, invoke, cadoWebhookSecret, cadoSim);
    if (cadoWebhook) closers.push(() => cadoWebhook.close());
    const outputs: Record<string, string> = {
      EvidenceBucketName: LOCAL_BUCKET,
      S1SecretArn: s1SecretArn,
      CadoSecretArn: cadoSecretArn,
      StateMachineArn: extracted.arn,
      HandOffRerunStateMachineArn: extractedRerun.arn,
      CoordinationTableName: coordinationTable,
      ManifestSigningKeyArn: signingKeyArn,
      ThreatBusName: intake.busName,
      ...(intake.topicArns[0] ? { NotificationTopicArn: intake.topicArns[0] } : {}),
      ...functionOutputs(template, extracted.functions),
    };
    aws.cloudFormation.setStack(LOCAL_STACK_NAME, { outputs });

    return {
      s1Url,
      cadoUrl,
      s1Sim,
      tenant,
      cadoSim,
      s3,
      dynamo,
      coordinationTable,
      storePids,
      aws,
      bucket: LOCAL_BUCKET,
      stateMachineArn: extracted.arn,
      handoffRerunArn: extractedRerun.arn,
      outputs,
      awsEnv: { ...s3.env, ...aws.env, ...dynamo.env, AWS_REGION: 'us-east-1' },
      machine,
      rerunMachine,
      secrets: { s1Token, cadoKey },
      intake,
      taskTokens,
      taskWatcher,
      cadoWebhook: cadoWebhook ? { url: cadoWebhook.url, secret: cadoWebhookSecret } : undefined,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The execution history Step Functions keeps, from the runner's events: `<Type>StateEntered` and Map iterations (what `s1cado handoff` shows as progress).
 */
function recordHistory(execution: FakeExecutionRequest, event: LocalEvent): void {
  if (event.type === 'StateEntered') {
    execution.record(`${event.state.type}StateEntered`, {
      stateEnteredEventDetails: { name: event.state.name },
    });
  } else if (event.type === 'MapIterationStarted' || event.type === 'MapIterationFailed') {
    const key =
      event.type === 'MapIterationStarted'
        ? 'mapIterationStartedEventDetails'
        : 'mapIterationFailedEventDetails';
    execution.record(event.type, { [key]: { name: event.parentState.name, index: event.index } });
  }
}

/** Every state name of a definition, Map item processors and Parallel branches included. */
function allStateNames(definition: { States: object }): string[] {
  const names: string[] = [];
  for (const [name, state] of Object.entries(definition.States as Record<string, Record<string, unknown>>)) {
    names.push(name);
    const nested = [state.ItemProcessor, state.Iterator, ...((state.Branches as unknown[]) ?? [])];
    for (const inner of nested) {
      if (inner && typeof inner === 'object' && 'States' in inner)
        names.push(...allStateNames(inner as { States: object }));
    }
  }
  return names;
}

/**
 * The Cado webhook receiver behind a local Function URL, when the template has it; with the Cado simulator, its
 * `processing_finished` and `processing_failed` webhooks are registered through the API (an Administrator's key), with
 * the payload template the receiver expects (the secret first, then `$Title` and `$Event`).
 */
async function localCadoWebhook(
  functions: ReadonlyMap<string, ExtractedFunction>,
  invoke: Invoke,
  secret: string,
  cadoSim: CadoSimulator | undefined,
): Promise<LocalFunctionUrl | undefined> {
  const fn = [...functions.values()].find((f) => f.step === 'receive-cado-webhook');
  if (!fn) return undefined;
  const endpoint = await startFunctionUrl(async (event, requestId) => invoke(fn, event, { requestId }));
  if (cadoSim) {
    const adminKey = `cado-local-admin-${randomBytes(12).toString('hex')}`;
    cadoSim.addKey({ key: adminKey, role: 'Administrator' });
    for (const eventType of ['processing_finished', 'processing_failed']) {
      const response = await fetch(`${cadoSim.apiUrl}/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: `s1-cado-forensics ${eventType}`,
          url: endpoint.url,
          event_type: eventType,
          payload_type: 'custom',
          payload: JSON.stringify({ secret, title: '$Title', event: '$Event' }),
        }),
      });
      if (response.status !== 201) throw new Error(`Cado refused the webhook (${response.status})`);
    }
  }
  return endpoint;
}

/** Minutes between two scheduled watcher runs (the deployed rule's rate). */
const WATCHER_SCHEDULE_MS = 60_000;

/** The Task Watcher's EventBridge schedule, locally: the `watch-tasks` function invoked every clock minute. */
function localTaskWatcher(
  functions: ReadonlyMap<string, ExtractedFunction>,
  invoke: Invoke,
): LocalTaskWatcher {
  const fn = [...functions.values()].find((f) => f.step === 'watch-tasks');
  if (!fn) throw new Error('The template has no watch-tasks function (the Task Watcher)');
  let controller: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let current: Promise<unknown> | undefined;
  let invocations = 0;
  const failures: unknown[] = [];
  const runOnce = async () => {
    invocations += 1;
    return invoke(fn, { source: 'schedule' }, { requestId: `watcher-${invocations}` });
  };
  const tick = () => {
    // Reserved concurrency 1: a run still going means this minute's invocation is throttled (not retried).
    if (current) return;
    current = Promise.resolve()
      .then(runOnce)
      .catch((error: unknown) => {
        failures.push(error);
      })
      .finally(() => {
        current = undefined;
      });
  };
  return {
    start() {
      if (controller) return;
      const ours = new AbortController();
      controller = ours;
      loop = (async () => {
        while (!ours.signal.aborted) {
          tick();
          await clockSleep(WATCHER_SCHEDULE_MS, ours.signal).catch(() => undefined);
        }
      })();
    },
    async stop() {
      controller?.abort();
      controller = undefined;
      await loop;
      await current;
    },
    runOnce,
    wake() {
      if (controller) tick();
    },
    get running() {
      return controller !== undefined;
    },
    get invocations() {
      return invocations;
    },
    failures,
  };
}

/** The intake bus of the local deployment. */
export interface LocalIntake {
  /** The bus name the intake functions put events on (created in the AWS fake). */
  readonly busName: string;
  /** The SNS topics rules on the bus notify (the notification topic), in the AWS fake. */
  readonly topicArns: readonly string[];
  /**
   * Resolves once every delivery to the rule's targets so far has finished: for the intake queue, once every
   * record was handed to start-investigation once and those invocations ended (redeliveries are not awaited).
   */
  settled(): Promise<void>;
  /** The template's queues in the AWS fake (the intake queue, its dead-letter queue), by logical id. */
  readonly queueUrls: ReadonlyMap<string, string>;
  /**
   * Deliveries the target failed (a Lambda target: the deployed stack would retry them, then send them to the
   * dead-letter queue), and intake queue records start-investigation failed on (`eventId` is then the record's
   * message id; SQS delivers them again, then moves them to the dead-letter queue).
   */
  readonly failures: { readonly eventId: string; readonly error: unknown }[];
}

type Invoke = (fn: ExtractedFunction, event: unknown, invocation: { requestId: string }) => unknown;

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

/** Whether `value` passes one EventBridge pattern field (the forms the stack uses: values and equals-ignore-case). */
function fieldMatches(allowed: unknown, value: unknown): boolean {
  if (Array.isArray(allowed)) {
    return allowed.some((option) => {
      if (option !== null && typeof option === 'object' && 'equals-ignore-case' in option) {
        const wanted = (option as Record<string, unknown>)['equals-ignore-case'];
        return (
          typeof value === 'string' &&
          typeof wanted === 'string' &&
          value.toLowerCase() === wanted.toLowerCase()
        );
      }
      return option === value;
    });
  }
  if (allowed !== null && typeof allowed === 'object') {
    const inner = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    return Object.entries(allowed).every(([key, sub]) => fieldMatches(sub, inner[key]));
  }
  return false;
}

/** The intake bus's name, as the poller's `EVENT_BUS_NAME` has it. */
function watcherFunctionName(functions: ReadonlyMap<string, ExtractedFunction>): string {
  const fn = [...functions.values()].find((f) => f.step === 'watch-tasks');
  if (!fn) throw new Error('The template has no watch-tasks function (the Task Watcher)');
  return fn.functionName;
}

function intakeBusName(functions: ReadonlyMap<string, ExtractedFunction>): string {
  const busName = [...functions.values()].find((fn) => fn.step === 'poll-threats')?.environment
    .EVENT_BUS_NAME;
  if (!busName) throw new Error('The template has no poll-threats function naming the intake bus');
  return busName;
}

/** A JSON path of the `$.a.b` form the stack's input transformers use, read from `value`. */
function readPath(value: unknown, path: string): unknown {
  return path
    .replace(/^\$\.?/, '')
    .split('.')
    .filter(Boolean)
    .reduce<unknown>(
      (at, key) => (at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined),
      value,
    );
}

/**
 * An input transformer applied to an event as EventBridge does for the templates CDK writes: each `<name>` is
 * replaced by the value at its path (inside a quoted string, as text with JSON escaping; a missing value as
 * nothing). A template of quoted lines (`RuleTargetInput.fromMultilineText`) is delivered as those lines' text.
 */
export function renderInputTransformer(
  transformer: { InputPathsMap?: Record<string, string>; InputTemplate: string },
  event: unknown,
): string {
  const values = Object.fromEntries(
    Object.entries(transformer.InputPathsMap ?? {}).map(([name, path]) => [name, readPath(event, path)]),
  );
  const filled = transformer.InputTemplate.replace(/<([A-Za-z0-9_.-]+)>/g, (whole, name: string) => {
    if (!(name in values)) return whole;
    const value = values[name];
    if (value === undefined || value === null) return '';
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return JSON.stringify(text).slice(1, -1);
  });
  const lines = filled.split('\n');
  if (lines.every((line) => /^".*"$/.test(line)))
    return lines.map((line) => JSON.parse(line) as string).join('\n');
  return filled;
}

/**
 * The intake bus (named as the intake functions' `EVENT_BUS_NAME`) and the rules on it, as EventBridge would run
 * them: each accepted event that matches a rule's pattern is delivered to its Lambda target asynchronously, with the
 * EventBridge envelope. The bus's resource policy is not evaluated locally.
 */
function wireIntake(
  template: Record<string, unknown>,
  functions: ReadonlyMap<string, ExtractedFunction>,
  aws: AwsFake,
  invoke: Invoke,
  queues: LocalQueues,
): LocalIntake {
  const busName = intakeBusName(functions);
  aws.eventBridge.createBus(busName);
  const resources = Object.values((template.Resources ?? {}) as Record<string, TemplateResource>);
  const rules = resources
    .filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties?.EventBusName !== undefined)
    .flatMap((r) => {
      const targets = (r.Properties?.Targets ?? []) as {
        Arn?: { 'Fn::GetAtt'?: string[] };
      }[];
      return targets.flatMap((target) => {
        const logicalId = target.Arn?.['Fn::GetAtt']?.[0];
        const fn = [...functions.values()].find((f) => f.logicalId === logicalId);
        return fn ? [{ pattern: r.Properties?.EventPattern as Record<string, unknown>, fn }] : [];
      });
    });
  // Rules that send to a queue of the template (the intake queue): the event becomes one message.
  const queueRules = resources
    .filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties?.EventBusName !== undefined)
    .flatMap((r) => {
      const targets = (r.Properties?.Targets ?? []) as { Arn?: { 'Fn::GetAtt'?: string[] } }[];
      return targets.flatMap((target) => {
        const url = queues.urls.get(target.Arn?.['Fn::GetAtt']?.[0] ?? '');
        return url ? [{ pattern: r.Properties?.EventPattern as Record<string, unknown>, url }] : [];
      });
    });
  // Rules that notify an SNS topic of the template (the outcome notifications), with their input transformer.
  const topics = new Map<string, string>();
  const snsRules = Object.entries((template.Resources ?? {}) as Record<string, TemplateResource>)
    .filter(([, r]) => r.Type === 'AWS::Events::Rule' && r.Properties?.EventBusName !== undefined)
    .flatMap(([, r]) => {
      const targets = (r.Properties?.Targets ?? []) as {
        Arn?: { Ref?: string };
        InputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate: string };
      }[];
      return targets.flatMap((target) => {
        const topicId = target.Arn?.Ref;
        const resource = topicId
          ? (template.Resources as Record<string, TemplateResource>)[topicId]
          : undefined;
        if (!topicId || resource?.Type !== 'AWS::SNS::Topic') return [];
        const topicArn = topics.get(topicId) ?? aws.sns.createTopic(topicId);
        topics.set(topicId, topicArn);
        return [
          {
            pattern: r.Properties?.EventPattern as Record<string, unknown>,
            topicArn,
            transformer: target.InputTransformer,
          },
        ];
      });
    });
  const pending = new Set<Promise<void>>();
  const failures: { eventId: string; error: unknown }[] = [];
  aws.eventBridge.onEvent((event: FakeEvent) => {
    if (event.eventBusName !== busName) return;
    const envelope = {
      version: '0',
      id: event.id,
      'detail-type': event.detailType,
      source: event.source,
      account: '000000000000',
      time: new Date(event.time).toISOString(),
      region: 'us-east-1',
      resources: event.resources,
      detail: event.detail,
    };
    for (const rule of snsRules) {
      if (!fieldMatches(rule.pattern, envelope)) continue;
      const message = rule.transformer
        ? renderInputTransformer(rule.transformer, envelope)
        : JSON.stringify(envelope);
      aws.sns.deliver(rule.topicArn, message);
    }
    for (const rule of queueRules) {
      if (!fieldMatches(rule.pattern, envelope)) continue;
      aws.sqs.send(rule.url, JSON.stringify(envelope));
      queues.wake();
    }
    for (const rule of rules) {
      if (!fieldMatches(rule.pattern, envelope)) continue;
      const delivery = (async () => {
        try {
          await invoke(rule.fn, envelope, { requestId: `event-${event.id}` });
        } catch (error) {
          failures.push({ eventId: event.id, error });
        }
      })();
      pending.add(delivery);
      void delivery.finally(() => pending.delete(delivery));
    }
  });
  return {
    busName,
    topicArns: [...topics.values()],
    queueUrls: queues.urls,
    get failures() {
      return [...failures, ...queues.failures.map((f) => ({ eventId: f.messageId, error: f.error }))];
    },
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
      await queues.settled();
    },
  };
}

/** The stack outputs that name functions the CLI invokes, with the local function names. */
function functionOutputs(
  template: Record<string, unknown>,
  functions: ReadonlyMap<string, ExtractedFunction>,
): Record<string, string> {
  const outputs = (template.Outputs ?? {}) as Record<string, { Value?: { Ref?: string } }>;
  const found: Record<string, string> = {};
  for (const [name, output] of Object.entries(outputs)) {
    const ref = output.Value?.Ref;
    const fn = ref ? [...functions.values()].find((f) => f.logicalId === ref) : undefined;
    if (fn && findFunction(functions, fn.functionName)) found[name] = fn.functionName;
  }
  return found;
}
