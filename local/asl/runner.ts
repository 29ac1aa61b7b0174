/**
 * Runs a synthesized state machine definition in-process with aws-local-stepfunctions 3, every Task bound to the
 * real handler.
 *
 * What it adds to the library, and why:
 * - **Binding.** Every Task state is bound by name (the library's overrides are keyed by state name): a Lambda task
 *   (`arn:aws:states:::lambda:invoke` with a static `FunctionName`, or a bare function ARN, which is what
 *   `LambdaInvoke` with `payloadResponseOnly: true` renders) goes to `handlers[<S1CadoStep of the function>]`; any
 *   other Task needs a `stateHandlers[<state name>]`. A Task left unbound throws {@link UnboundTaskError} up front,
 *   because the library would otherwise call real AWS Lambda.
 * - **Lambda semantics.** The handler gets the payload deep-copied through JSON and a realistic `context`; its
 *   result is JSON round-tripped; payloads over 256 KiB fail with the terminal `States.DataLimitExceeded`; a thrown
 *   error surfaces with `name` = its `name` (Lambda's `errorType`) so `Retry`/`Catch` match as in AWS, and `Cause`
 *   is the runtime's `{"errorType","errorMessage","trace"}` JSON. The function's own `Timeout` is enforced
 *   (`Sandbox.Timedout`) unless `enforceLambdaTimeout: false`. State outputs over 256 KiB fail the execution too
 *   (checked from the event log, so the state after the oversized one may already have started).
 * - **Time.** The library's default Task timeout is 60 s (AWS has none): Tasks without `TimeoutSeconds` get
 *   `taskTimeoutMs` (default 15 min). Wait states are run through `clock.sleep` (so `S1CADO_TIME_SCALE` dilates
 *   them, including `SecondsPath`/`TimestampPath`), and Retry intervals are divided by the time scale: a dilated
 *   local run keeps the real definition's rhythm. To do that the runner executes a *runtime copy* of the definition
 *   in which each Wait is a Task with the same name, input/output processing and `Next`/`End` (event types are
 *   mapped back to `Wait`); the definition you passed is validated as is.
 * - **Context.** `$$.Execution.Id/Name` and `$$.StateMachine.Id/Name` are provided. The library always sets
 *   `$$.Execution.StartTime` to the real start time and, inside a Map iteration or Parallel branch, sets
 *   `$$.Execution.Input`/`StartTime` to the iteration's; do not derive deadlines from them (handlers use `now()`).
 * - **Events and counts.** `events` replays the library's event log (StateEntered/Exited/Failed/Retried/Caught,
 *   MapIteration*, ParallelBranch*, Execution*) to any number of readers; `stats` counts state transitions (entered
 *   states plus retries, which Standard workflows bill as transitions) and task/Lambda invocations.
 *
 * Environment: handlers run in this process, so there is one `process.env` for all of them. The runner computes one
 * environment for the whole local run: the union of the bound functions' extracted variables (a key whose plain
 * values differ between functions is left out, see `envConflicts`), overridden by `env`. It is written to
 * `process.env` when a run starts and restored by `dispose()`. Setting it per invocation would race between
 * concurrent Map iterations, and module-scope code (SDK clients, config) reads it once anyway: load handlers after
 * the first run starts (see {@link lazyHandler} / {@link handlersFromDirectory}) or set the same values before
 * importing them. Variables that are placeholders for other resources (bucket names, secret ARNs) must be given in
 * `env`, or the runner throws {@link UnresolvedEnvironmentError}.
 */

import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { Context } from 'aws-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { now as clockNow, sleep as clockSleep, timeScale } from '../../lambdas/shared/clock';
import {
  type AslDefinition,
  type AslState,
  assertRunnableLocally,
  assertUniqueStateNames,
  LOCAL_CALLBACK_RESOURCE,
  walkStates,
} from './definition';
import {
  LambdaFunctionError,
  LocalExecutionAbortedError,
  LocalExecutionFailedError,
  LocalExecutionTimedOutError,
  PAYLOAD_LIMIT_BYTES,
  StatesDataLimitExceededError,
  StatesRuntimeError,
  UnboundTaskError,
  UnresolvedEnvironmentError,
  UnsupportedAslFeatureError,
} from './errors';
import { type ExtractedFunction, findFunction } from './extract';
import { createLambdaContext } from './lambda-context';
import type { TaskTokens } from './task-tokens';

/**
 * Every local invocation runs in one process, concurrently (a Map's agents, several investigations), like Lambda's
 * multi-concurrency execution environments. Their runtime sets `AWS_LAMBDA_MAX_CONCURRENCY` and runs each invocation
 * inside the `InvokeStore`; Powertools then keeps the Lambda context and appended keys of its logger per invocation.
 * Without it, a handler's log lines carry the function name, step and investigation of whichever handler started
 * last. Any non-empty value turns it on; this one is what the runner can run at once in practice.
 */
const LOCAL_MAX_CONCURRENCY = '64';

let invokeStore: Promise<InvokeStoreBase> | undefined;

/** Runs `fn` as one invocation with its own request id, as the Lambda runtime does. */
async function asInvocation<T>(requestId: string, fn: () => Promise<T>): Promise<T> {
  invokeStore ??= InvokeStore.getInstanceAsync(true);
  const store = await invokeStore;
  return store.run({ [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: requestId }, fn);
}

// aws-local-stepfunctions calls Promise.withResolvers (ES2024) in every Task; Node 20 lacks it, and without it every
// Task fails with a TypeError that a States.ALL Catch would quietly turn into the failure path.
const promiseStatics = Promise as unknown as { withResolvers?: unknown };
if (typeof promiseStatics.withResolvers !== 'function') {
  promiseStatics.withResolvers = function withResolvers<T>() {
    let resolve: (value: T | PromiseLike<T>) => void = () => undefined;
    let reject: (reason?: unknown) => void = () => undefined;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

/** A Lambda handler as the code under `lambdas/<step>/index.ts` exports it. */
export type LocalHandler = (event: unknown, context: Context) => unknown;

/** Facts a {@link StateHandler} gets besides the state's effective input. */
export interface StateHandlerInfo {
  readonly stateName: string;
  readonly executionArn: string;
  /** Aborted when the execution is aborted. */
  readonly signal: AbortSignal;
}

/** Replaces a whole Task state: receives the effective input (after Parameters), returns the raw task result. */
export type StateHandler = (input: unknown, info: StateHandlerInfo) => unknown;

/** An event of the execution log (the library's event type, with Wait states reported as `Wait`). */
export type LocalEvent =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** Options of {@link createLocalStateMachine}. */
export interface LocalStateMachineOptions {
  /** Real handlers by step (`S1CadoStep` metadata of the function a Task invokes). */
  readonly handlers: Readonly<Record<string, LocalHandler>>;
  /** Functions of the template, from {@link extractStateMachine}. */
  readonly functions: ReadonlyMap<string, ExtractedFunction>;
  /** Handlers by state name, replacing that Task's binding (non-Lambda tasks, fault injection). */
  readonly stateHandlers?: Readonly<Record<string, StateHandler>>;
  /** Timeout of Tasks that declare no `TimeoutSeconds(Path)`. @default 900_000 (15 min; the library's is 60 s) */
  readonly taskTimeoutMs?: number;
  /** Real milliseconds a Wait state pauses, by state name, instead of its Seconds/Timestamp. */
  readonly waitTimeOverrides?: Readonly<Record<string, number>>;
  /** Real milliseconds before each retry, by state name (a number, or one per retrier with -1 = not overridden). */
  readonly retryIntervalOverrides?: Readonly<Record<string, number | number[]>>;
  /** Environment for the local run, overriding the extracted function environment (see the module comment). */
  readonly env?: Readonly<Record<string, string>>;
  /** Run even if some Lambda environment values are still placeholders. @default false */
  readonly allowUnresolvedEnv?: boolean;
  /** Fail an invocation that outlives its function's `Timeout` with `Sandbox.Timedout`. @default true */
  readonly enforceLambdaTimeout?: boolean;
  /** ARN for `$$.StateMachine.Id` and execution ARNs. @default arn:aws:states:us-east-1:000000000000:stateMachine:local */
  readonly stateMachineArn?: string;
  /** Validate the definition with aws-local-stepfunctions (asl-validator). @default true */
  readonly validate?: boolean;
  /** Time source for Wait `Timestamp(Path)`. @default `now` from lambdas/shared/clock */
  readonly clock?: () => number;
  /** Sleep used by Wait states (clock time). @default `sleep` from lambdas/shared/clock (honours the time scale) */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Task tokens for `lambda:invoke.waitForTaskToken` states (the AWS fake's SendTaskSuccess/Failure answers them).
   * Required when the definition has such a state.
   */
  readonly taskTokens?: TaskTokens;
}

/** Options of one run. */
export interface LocalRunOptions {
  /** The execution name (`$$.Execution.Name`), e.g. the investigation id. */
  readonly executionName: string;
  /** `$$.Execution.Id`. @default the execution ARN derived from the state machine ARN and the name */
  readonly executionId?: string;
  /** Aborts the run when aborted (e.g. StopExecution in the AWS fake). */
  readonly signal?: AbortSignal;
  /** Called for every event as it happens (e.g. progress output). */
  readonly onEvent?: (event: LocalEvent) => void;
  /**
   * Called after each Lambda handler invocation with its real duration (the handler alone: for a callback Task, not
   * the wait for its token). For benchmarks.
   */
  readonly onLambdaInvocation?: (info: { stateName: string; step: string; durationMs: number }) => void;
  /** Keep events for `events` readers. Turn off for long benchmarks. @default true */
  readonly bufferEvents?: boolean;
  /**
   * Fault injection (tests), by Lambda-bound Task state name: the first `times` invocations of that state run the
   * real handler to completion and then fail with `error`, as when Lambda loses the response of a function that did
   * its work. Exercises the idempotency of a retried step. Defaults: `times` 1, `error` `Lambda.ServiceException`.
   */
  readonly lostLambdaResponses?: Readonly<Record<string, LostLambdaResponse>>;
}

/** One entry of {@link LocalRunOptions.lostLambdaResponses}. */
export interface LostLambdaResponse {
  /** How many invocations lose their response. @default 1 */
  readonly times?: number;
  /** The error Step Functions sees. @default 'Lambda.ServiceException' */
  readonly error?: string;
}

/** Counters of one run; live while it runs, final once `result` settles. */
export interface LocalRunStats {
  /** StateEntered events, at every level (Map iterations and Parallel branches included). */
  statesEntered: number;
  /** StateRetried events. */
  retries: number;
  /** Billable state transitions of a Standard workflow: states entered plus retries. */
  stateTransitions: number;
  /** Task invocations, Lambda or not (each retry is an invocation). */
  taskInvocations: number;
  /** Lambda handler invocations. */
  lambdaInvocations: number;
  invocationsByStep: Record<string, number>;
  invocationsByState: Record<string, number>;
  mapIterations: number;
  caught: number;
}

/** One running execution. */
export interface LocalExecution {
  readonly executionArn: string;
  readonly executionName: string;
  /**
   * The execution output. Rejects with {@link LocalExecutionFailedError} (`error`/`cause` as AWS reports them),
   * {@link LocalExecutionAbortedError} or {@link LocalExecutionTimedOutError}. Settles after the event log is drained.
   */
  readonly result: Promise<unknown>;
  /** Stops the execution (a handler already running is not interrupted: await its side effects yourself). */
  abort(): void;
  /** The event log; every reader gets all events from the start (unless `bufferEvents: false`). */
  readonly events: AsyncIterable<LocalEvent>;
  readonly stats: LocalRunStats;
}

/** A definition bound to local handlers, built (and validated) once, run many times. */
export interface LocalStateMachine {
  /** The definition as given (validated). */
  readonly definition: AslDefinition;
  /** The environment every run applies to `process.env`. */
  readonly env: Readonly<Record<string, string>>;
  /** Variables left out of `env` because bound functions disagree on their value (and `env` did not set them). */
  readonly envConflicts: readonly string[];
  /** Lambda bindings: state name → step. */
  readonly bindings: ReadonlyMap<string, string>;
  /** Starts an execution. */
  run(input: unknown, opts: LocalRunOptions): LocalExecution;
  /** Restores the `process.env` values the runs replaced. */
  dispose(): void;
}

type LibraryInput = Parameters<StateMachine['run']>[0];
type LibraryOverrides = NonNullable<RunOptions['overrides']>;
type LibraryTaskHandler = NonNullable<LibraryOverrides['taskResourceLocalHandlers']>[string];

const DEFAULT_TASK_TIMEOUT_MS = 15 * 60_000;
// Node timers overflow past 2^31-1 ms (and then fire at once), so long timeouts stay below that.
const MAX_TIMER_SECONDS = 2_000_000;
const LOCAL_WAIT_RESOURCE = 'arn:aws:states:::local:wait';

interface LambdaBinding {
  readonly kind: 'lambda';
  readonly fn: ExtractedFunction;
  readonly step: string;
  readonly handler: LocalHandler;
  /** `invoke`: `arn:aws:states:::lambda:invoke` (input `{FunctionName, Payload}`); `arn`: a bare function ARN. */
  readonly integration: 'invoke' | 'arn';
  /** `.waitForTaskToken`: the state waits for SendTaskSuccess/Failure, at most `TimeoutSeconds` (clock time). */
  readonly callback?: { readonly timeoutSeconds: number | undefined };
}

interface StateBinding {
  readonly kind: 'state';
  readonly handler: StateHandler;
}

type Binding = LambdaBinding | StateBinding;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep-copies through JSON like Lambda and Step Functions do, enforcing the payload quota. */
function throughJson(value: unknown, what: string): unknown {
  const text = JSON.stringify(value === undefined ? null : value) ?? 'null';
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > PAYLOAD_LIMIT_BYTES) throw new StatesDataLimitExceededError(what, bytes);
  return JSON.parse(text);
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value === undefined ? null : value) ?? 'null', 'utf8');
}

function lambdaTarget(state: AslState): { integration: 'invoke' | 'arn'; functionName?: string } | undefined {
  const resource = typeof state.Resource === 'string' ? state.Resource : '';
  if (/^arn:[^:]+:states:::lambda:invoke(\.waitForTaskToken)?$/.test(resource)) {
    const params = isRecord(state.Parameters) ? state.Parameters : {};
    const name = params.FunctionName;
    return { integration: 'invoke', ...(typeof name === 'string' ? { functionName: name } : {}) };
  }
  if (/^arn:[^:]+:lambda:[^:]*:[^:]*:function:/.test(resource))
    return { integration: 'arn', functionName: resource };
  return undefined;
}

function bindTask(name: string, state: AslState, opts: LocalStateMachineOptions): Binding {
  const custom = opts.stateHandlers?.[name];
  if (custom) return { kind: 'state', handler: custom };
  const target = lambdaTarget(state);
  if (!target) {
    throw new UnboundTaskError(
      name,
      `resource ${String(state.Resource)} is not a Lambda function; pass stateHandlers["${name}"]`,
    );
  }
  if (!target.functionName) {
    throw new UnboundTaskError(
      name,
      'FunctionName is not static (FunctionName.$); pass a stateHandlers entry',
    );
  }
  const fn = findFunction(opts.functions, target.functionName);
  if (!fn) throw new UnboundTaskError(name, `function ${target.functionName} is not in the template`);
  if (!fn.step) throw new UnboundTaskError(name, `function ${fn.logicalId} has no S1CadoStep metadata`);
  const handler = opts.handlers[fn.step];
  if (!handler)
    throw new UnboundTaskError(name, `no handler for step "${fn.step}" (function ${fn.logicalId})`);
  if (typeof state.Resource === 'string' && LOCAL_CALLBACK_RESOURCE.test(state.Resource)) {
    if (!opts.taskTokens) {
      throw new UnsupportedAslFeatureError(
        `State "${name}" waits for a task token: pass taskTokens (the AWS fake's SendTaskSuccess answers it)`,
      );
    }
    if (state.TimeoutSecondsPath !== undefined || state.HeartbeatSeconds !== undefined) {
      throw new UnsupportedAslFeatureError(
        `State "${name}": TimeoutSecondsPath / HeartbeatSeconds on a callback task are not supported locally`,
      );
    }
    const timeoutSeconds = typeof state.TimeoutSeconds === 'number' ? state.TimeoutSeconds : undefined;
    return {
      kind: 'lambda',
      fn,
      step: fn.step,
      handler,
      integration: 'invoke',
      callback: { timeoutSeconds },
    };
  }
  return { kind: 'lambda', fn, step: fn.step, handler, integration: target.integration };
}

/** The type tests of a Choice rule (`IsNull`, `IsPresent`, …), each true or false in ASL. */
const TYPE_TESTS = ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp'] as const;

/**
 * aws-local-stepfunctions answers every type test written with `false` (`"IsNull": false`) as not matching, where
 * Step Functions matches when the test fails (`"IsNull": false` matches any non-null value). Rewritten in place as
 * `Not` of the `true` test, which the library evaluates as Step Functions does.
 */
function negateFalseTypeTests(state: Record<string, unknown>): void {
  const rewrite = (rule: unknown): unknown => {
    if (!isRecord(rule)) return rule;
    for (const key of ['And', 'Or'] as const) {
      if (Array.isArray(rule[key])) rule[key] = (rule[key] as unknown[]).map(rewrite);
    }
    if (isRecord(rule.Not)) rule.Not = rewrite(rule.Not);
    const test = TYPE_TESTS.find((t) => rule[t] === false);
    if (!test) return rule;
    const { Next, ...inner } = rule;
    const negated: Record<string, unknown> = { Not: { ...inner, [test]: true } };
    if (Next !== undefined) negated.Next = Next;
    return negated;
  };
  if (Array.isArray(state.Choices)) state.Choices = state.Choices.map(rewrite);
}

/** Stands in for `$$.Task.Token` in a callback task's runtime Parameters; the handler puts the issued token there. */
const TASK_TOKEN_PLACEHOLDER = '\u0000local-task-token\u0000';

/** Replaces, in place, every `"<key>.$": "$$.Task.Token"` of `value` with the placeholder under `<key>`. */
function markTaskToken(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) markTaskToken(item);
    return;
  }
  if (!isRecord(value)) return;
  for (const [key, inner] of Object.entries(value)) {
    if (key.endsWith('.$') && inner === '$$.Task.Token') {
      delete value[key];
      value[key.slice(0, -2)] = TASK_TOKEN_PLACEHOLDER;
    } else markTaskToken(inner);
  }
}

/** A deep copy of `value` with the placeholder replaced by `token`. */
function withTaskToken(value: unknown, token: string): unknown {
  if (value === TASK_TOKEN_PLACEHOLDER) return token;
  if (Array.isArray(value)) return value.map((item) => withTaskToken(item, token));
  if (!isRecord(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, withTaskToken(inner, token)]));
}

/** SendTaskFailure's error and cause, as the state's error (`Error`, `Cause` exactly as sent). */
class CallbackFailedError extends Error {
  override readonly name: string;
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

/** The error a callback task fails with when its `TimeoutSeconds` pass without an answer. */
class CallbackTimedOutError extends Error {
  override readonly name = 'States.Timeout';
}

function computeEnv(bindings: Iterable<Binding>, opts: LocalStateMachineOptions) {
  const env: Record<string, string> = {};
  const conflicts = new Set<string>();
  const unresolved = new Set<string>();
  const seen = new Set<ExtractedFunction>();
  for (const binding of bindings) {
    if (binding.kind !== 'lambda' || seen.has(binding.fn)) continue;
    seen.add(binding.fn);
    for (const [key, value] of Object.entries(binding.fn.environment)) {
      if (key in env && env[key] !== value) conflicts.add(key);
      else env[key] = value;
      if (binding.fn.unresolvedEnvironment.includes(key)) unresolved.add(key);
    }
  }
  for (const key of conflicts) delete env[key];
  env.AWS_LAMBDA_MAX_CONCURRENCY = LOCAL_MAX_CONCURRENCY;
  Object.assign(env, opts.env);
  const given = new Set(Object.keys(opts.env ?? {}));
  const missing = [...unresolved].filter((key) => !given.has(key)).sort();
  if (missing.length > 0 && !opts.allowUnresolvedEnv) throw new UnresolvedEnvironmentError(missing);
  return { env, conflicts: [...conflicts].filter((key) => !given.has(key)).sort() };
}

function scaleRetriers(
  state: AslState,
  original: AslState,
  scale: number,
  retriers: Map<unknown, unknown>,
): void {
  if (!Array.isArray(state.Retry) || !Array.isArray(original.Retry)) return;
  const originals: unknown[] = original.Retry;
  state.Retry.forEach((retrier: unknown, i: number) => {
    if (!isRecord(retrier)) return;
    retriers.set(retrier, originals[i]);
    if (scale === 1) return;
    retrier.IntervalSeconds =
      (typeof retrier.IntervalSeconds === 'number' ? retrier.IntervalSeconds : 1) / scale;
    if (typeof retrier.MaxDelaySeconds === 'number') retrier.MaxDelaySeconds /= scale;
  });
}

/** Turns a Wait state, in place, into a Task with the same name and data flow, run by the local wait handler. */
function convertWait(state: AslState): void {
  const timing: Record<string, unknown> = {};
  if (state.Seconds !== undefined) timing.seconds = state.Seconds;
  if (state.SecondsPath !== undefined) timing['seconds.$'] = state.SecondsPath;
  if (state.Timestamp !== undefined) timing.timestamp = state.Timestamp;
  if (state.TimestampPath !== undefined) timing['timestamp.$'] = state.TimestampPath;
  const kept: Record<string, unknown> = {};
  for (const field of ['Comment', 'InputPath', 'OutputPath', 'Next', 'End'] as const) {
    if (field in state) kept[field] = state[field];
  }
  for (const key of Object.keys(state)) delete state[key];
  // The effective input travels in Parameters and comes back as the result (ResultPath "$"), so the output is the
  // effective input after OutputPath, exactly as for a Wait.
  Object.assign(state, kept, {
    Type: 'Task',
    Resource: LOCAL_WAIT_RESOURCE,
    Parameters: { 'input.$': '$', ...timing },
    TimeoutSeconds: MAX_TIMER_SECONDS,
  });
}

interface RuntimeMachine {
  readonly machine: StateMachine;
  /** Runtime retrier object → the definition's retrier (for events). */
  readonly retriers: Map<unknown, unknown>;
}

function buildRuntimeMachine(
  definition: AslDefinition,
  scale: number,
  taskTimeoutSeconds: number,
): RuntimeMachine {
  const copy = structuredClone(definition);
  // Same structure, same walk order: the i-th state of the copy is the i-th state of the definition.
  const originals = [...walkStates(definition)];
  const copies = [...walkStates(copy)];
  const retriers = new Map<unknown, unknown>();
  for (const [i, { state }] of copies.entries()) {
    const original = originals[i];
    if (!original) continue;
    scaleRetriers(state, original.state, scale, retriers);
    if (state.Type === 'Wait') convertWait(state);
    else if (state.Type === 'Choice') negateFalseTypeTests(state);
    else if (
      state.Type === 'Task' &&
      typeof state.Resource === 'string' &&
      LOCAL_CALLBACK_RESOURCE.test(state.Resource)
    ) {
      // The callback handler enforces the definition's TimeoutSeconds itself, in clock time (dilated locally).
      state.Resource = state.Resource.replace(/\.waitForTaskToken$/, '');
      state.TimeoutSeconds = MAX_TIMER_SECONDS;
      markTaskToken(state.Parameters);
    } else if (
      state.Type === 'Task' &&
      state.TimeoutSeconds === undefined &&
      state.TimeoutSecondsPath === undefined
    ) {
      state.TimeoutSeconds = taskTimeoutSeconds;
    }
  }
  // The definition itself was validated; the copy only differs in ways the validator would reject by design.
  const machine = new StateMachine(copy as unknown as StateMachineDefinition, {
    validationOptions: { noValidate: true },
  });
  return { machine, retriers };
}

/** An append-only event list any number of readers can iterate from the start. */
class EventFeed<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private closed = false;
  private wakeUps: (() => void)[] = [];

  constructor(private readonly keep: boolean) {}

  push(item: T): void {
    if (this.keep) this.items.push(item);
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const wakeUps = this.wakeUps;
    this.wakeUps = [];
    for (const wakeUp of wakeUps) wakeUp();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    let next = 0;
    while (true) {
      const item = this.items[next];
      if (next < this.items.length && item !== undefined) {
        next += 1;
        yield item;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => this.wakeUps.push(resolve));
    }
  }
}

function newStats(): LocalRunStats {
  return {
    statesEntered: 0,
    retries: 0,
    stateTransitions: 0,
    taskInvocations: 0,
    lambdaInvocations: 0,
    invocationsByStep: {},
    invocationsByState: {},
    mapIterations: 0,
    caught: 0,
  };
}

function toLambdaError(error: unknown): LambdaFunctionError {
  if (error instanceof LambdaFunctionError) return error;
  if (error instanceof Error) {
    const trace = (error.stack ?? '').split('\n').filter((line) => line.length > 0);
    return new LambdaFunctionError(error.name || 'Error', error.message, trace);
  }
  return new LambdaFunctionError('Error', String(error));
}

async function withLambdaTimeout<T>(work: Promise<T>, seconds: number, enforce: boolean): Promise<T> {
  if (!enforce) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new LambdaFunctionError('Sandbox.Timedout', `Task timed out after ${seconds.toFixed(2)} seconds`),
        ),
      Math.min(seconds, MAX_TIMER_SECONDS) * 1000,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function assertKnownStates(what: string, keys: Iterable<string>, allowed: Set<string>): void {
  for (const key of keys) {
    if (!allowed.has(key))
      throw new UnboundTaskError(
        key,
        `${what} names a state that is not in the definition (or has the wrong type)`,
      );
  }
}

/**
 * Binds every Task of `definition` to a local handler, validates the definition once, and returns a runner.
 *
 * @throws UnboundTaskError, DuplicateStateNameError, JsonataNotSupportedError, UnsupportedAslFeatureError,
 *   UnresolvedEnvironmentError, or the library's validation error for an invalid definition
 */
export function createLocalStateMachine(
  definition: AslDefinition,
  opts: LocalStateMachineOptions,
): LocalStateMachine {
  assertRunnableLocally(definition);
  assertUniqueStateNames(definition);

  const bindings = new Map<string, Binding>();
  const waitStates = new Set<string>();
  const retryStates = new Set<string>();
  for (const { name, state } of walkStates(definition)) {
    if (state.Type === 'Task') bindings.set(name, bindTask(name, state, opts));
    if (state.Type === 'Wait') waitStates.add(name);
    if (Array.isArray(state.Retry)) retryStates.add(name);
  }
  assertKnownStates('stateHandlers', Object.keys(opts.stateHandlers ?? {}), new Set(bindings.keys()));
  assertKnownStates('waitTimeOverrides', Object.keys(opts.waitTimeOverrides ?? {}), waitStates);
  assertKnownStates('retryIntervalOverrides', Object.keys(opts.retryIntervalOverrides ?? {}), retryStates);

  const { env, conflicts } = computeEnv(bindings.values(), opts);
  // Validation is the slow part (0.1-2 s): done once here, after the cheap checks; runs reuse unvalidated copies.
  if (opts.validate ?? true) new StateMachine(definition as unknown as StateMachineDefinition);
  const taskTimeoutSeconds = Math.min(
    Math.ceil((opts.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS) / 1000),
    MAX_TIMER_SECONDS,
  );
  const enforceLambdaTimeout = opts.enforceLambdaTimeout ?? true;
  const clock = opts.clock ?? clockNow;
  const sleep = opts.sleep ?? clockSleep;
  const stateMachineArn = opts.stateMachineArn ?? 'arn:aws:states:us-east-1:000000000000:stateMachine:local';
  const stateMachineName = stateMachineArn.split(':').at(-1) ?? 'local';
  const runtimeMachines = new Map<number, RuntimeMachine>();
  let savedEnv: Map<string, string | undefined> | undefined;

  const applyEnv = () => {
    if (!savedEnv) savedEnv = new Map(Object.keys(env).map((key) => [key, process.env[key]]));
    for (const [key, value] of Object.entries(env)) process.env[key] = value;
  };

  const runtimeMachine = (scale: number): RuntimeMachine => {
    let built = runtimeMachines.get(scale);
    if (!built) {
      built = buildRuntimeMachine(definition, scale, taskTimeoutSeconds);
      runtimeMachines.set(scale, built);
    }
    return built;
  };

  const run = (input: unknown, runOpts: LocalRunOptions): LocalExecution => {
    const inputBytes = jsonBytes(input);
    if (inputBytes > PAYLOAD_LIMIT_BYTES)
      throw new StatesDataLimitExceededError('Execution input', inputBytes);
    const lambdaStates = new Set([...bindings].flatMap(([name, b]) => (b.kind === 'lambda' ? [name] : [])));
    assertKnownStates('lostLambdaResponses', Object.keys(runOpts.lostLambdaResponses ?? {}), lambdaStates);
    const lostResponsesLeft = new Map(
      Object.entries(runOpts.lostLambdaResponses ?? {}).map(([name, fault]) => [name, fault.times ?? 1]),
    );
    applyEnv();
    const { machine, retriers } = runtimeMachine(timeScale());
    const executionName = runOpts.executionName;
    const executionArn =
      runOpts.executionId ?? `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
    const stats = newStats();
    const controller = new AbortController();
    const signal = controller.signal;

    const count = (key: Record<string, number>, name: string) => {
      key[name] = (key[name] ?? 0) + 1;
    };

    const invokeLambda = async (
      stateName: string,
      binding: LambdaBinding,
      rawInput: unknown,
    ): Promise<unknown> => {
      stats.lambdaInvocations += 1;
      count(stats.invocationsByStep, binding.step);
      const payload =
        binding.integration === 'invoke'
          ? isRecord(rawInput) && 'Payload' in rawInput
            ? rawInput.Payload
            : {}
          : rawInput;
      const event = throughJson(payload, `Input of task "${stateName}"`);
      const requestId = randomUUID();
      const deadline = Date.now() + binding.fn.timeoutSeconds * 1000;
      const context = createLambdaContext(binding.fn, { requestId, deadline });
      let output: unknown;
      const invokedAt = performance.now();
      try {
        output = await withLambdaTimeout(
          asInvocation(requestId, () => Promise.resolve().then(() => binding.handler(event, context))),
          binding.fn.timeoutSeconds,
          enforceLambdaTimeout,
        );
      } catch (error) {
        throw toLambdaError(error);
      } finally {
        runOpts.onLambdaInvocation?.({
          stateName,
          step: binding.step,
          durationMs: performance.now() - invokedAt,
        });
      }
      let result: unknown;
      try {
        result = throughJson(output, `Result of task "${stateName}"`);
      } catch (error) {
        if (error instanceof StatesDataLimitExceededError) throw error;
        throw new LambdaFunctionError('Runtime.MarshalError', `Unable to marshal response: ${String(error)}`);
      }
      const lostLeft = lostResponsesLeft.get(stateName) ?? 0;
      if (lostLeft > 0) {
        // After the handler's side effects, like a response lost between the Lambda service and Step Functions.
        lostResponsesLeft.set(stateName, lostLeft - 1);
        throw new LambdaFunctionError(
          runOpts.lostLambdaResponses?.[stateName]?.error ?? 'Lambda.ServiceException',
          'Injected fault: the function ran, but its response was lost',
        );
      }
      if (binding.integration === 'arn' || binding.callback) return result;
      return {
        ExecutedVersion: '$LATEST',
        Payload: result,
        SdkResponseMetadata: { RequestId: requestId },
        StatusCode: 200,
      };
    };

    // `.waitForTaskToken`: a fresh token per attempt (a retry gets a new one, as in AWS); the Lambda's error fails
    // the task, its result is ignored, and the state's result is what SendTaskSuccess sent.
    const invokeWithCallback = async (
      stateName: string,
      binding: LambdaBinding,
      rawInput: unknown,
      timeoutSeconds: number | undefined,
    ): Promise<unknown> => {
      const tokens = opts.taskTokens as TaskTokens;
      const issued = tokens.issue(executionArn, stateName);
      const timer = new AbortController();
      const onAbort = () => timer.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await invokeLambda(stateName, binding, withTaskToken(rawInput, issued.token));
        const timedOut =
          timeoutSeconds === undefined
            ? new Promise<never>(() => undefined)
            : sleep(timeoutSeconds * 1000, timer.signal).then(
                () => {
                  throw new CallbackTimedOutError('States.Timeout');
                },
                () => new Promise<never>(() => undefined),
              );
        const outcome = await Promise.race([issued.outcome, timedOut]);
        if (outcome.kind === 'failure') throw new CallbackFailedError(outcome.error, outcome.cause);
        return throughJson(outcome.output, `Result of task "${stateName}"`);
      } finally {
        issued.close();
        timer.abort();
        signal.removeEventListener('abort', onAbort);
      }
    };

    const waitHandler = (stateName: string) => async (rawInput: unknown) => {
      const { input, seconds, timestamp } = isRecord(rawInput) ? rawInput : {};
      const override = opts.waitTimeOverrides?.[stateName];
      if (override !== undefined) {
        await delay(override, undefined, { signal });
      } else if (seconds !== undefined) {
        if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0) {
          throw new StatesRuntimeError(
            `Wait "${stateName}": seconds must be an integer >= 0, got ${JSON.stringify(seconds)}`,
          );
        }
        await sleep(seconds * 1000, signal);
      } else if (timestamp !== undefined) {
        const at = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
        if (Number.isNaN(at))
          throw new StatesRuntimeError(`Wait "${stateName}": invalid timestamp ${JSON.stringify(timestamp)}`);
        const ms = at - clock();
        if (ms > 0) await sleep(ms, signal);
      }
      return input ?? null;
    };

    const taskHandlers: Record<string, LibraryTaskHandler> = {};
    for (const [stateName, binding] of bindings) {
      taskHandlers[stateName] = (async (rawInput: unknown) => {
        stats.taskInvocations += 1;
        count(stats.invocationsByState, stateName);
        if (binding.kind === 'lambda' && binding.callback)
          return invokeWithCallback(stateName, binding, rawInput, binding.callback.timeoutSeconds);
        if (binding.kind === 'lambda') return invokeLambda(stateName, binding, rawInput);
        const result = await binding.handler(throughJson(rawInput, `Input of task "${stateName}"`), {
          stateName,
          executionArn,
          signal,
        });
        return throughJson(result, `Result of task "${stateName}"`);
      }) as LibraryTaskHandler;
    }
    for (const stateName of waitStates)
      taskHandlers[stateName] = waitHandler(stateName) as LibraryTaskHandler;

    const execution = machine.run(input as LibraryInput, {
      overrides: {
        taskResourceLocalHandlers: taskHandlers,
        ...(opts.retryIntervalOverrides
          ? { retryIntervalOverrides: { ...opts.retryIntervalOverrides } }
          : {}),
      },
      context: {
        Execution: { Id: executionArn, Name: executionName },
        StateMachine: { Id: stateMachineArn, Name: stateMachineName },
      },
    });
    const abort = () => {
      controller.abort();
      execution.abort();
    };
    runOpts.signal?.addEventListener('abort', abort, { once: true });
    if (runOpts.signal?.aborted) abort();

    const feed = new EventFeed<LocalEvent>(runOpts.bufferEvents ?? true);
    let oversized: StatesDataLimitExceededError | undefined;
    const remap = (event: LocalEvent): LocalEvent => {
      if (!('state' in event)) return event;
      let mapped = event;
      if (waitStates.has(event.state.name)) mapped = { ...mapped, state: { ...mapped.state, type: 'Wait' } };
      if (mapped.type === 'StateRetried') {
        const original = retriers.get(mapped.retry.retrier) as typeof mapped.retry.retrier | undefined;
        if (original) mapped = { ...mapped, retry: { ...mapped.retry, retrier: original } };
      }
      return mapped;
    };
    const drained = (async () => {
      for await (const raw of execution.eventLogs) {
        const event = remap(raw);
        if (event.type === 'StateEntered') stats.statesEntered += 1;
        if (event.type === 'StateRetried') stats.retries += 1;
        if (event.type === 'StateCaught') stats.caught += 1;
        if (event.type === 'MapIterationStarted') stats.mapIterations += 1;
        stats.stateTransitions = stats.statesEntered + stats.retries;
        if (event.type === 'StateExited' && !oversized) {
          const bytes = jsonBytes(event.state.output);
          if (bytes > PAYLOAD_LIMIT_BYTES) {
            oversized = new StatesDataLimitExceededError(`Output of state "${event.state.name}"`, bytes);
            abort();
          }
        }
        runOpts.onEvent?.(event);
        feed.push(event);
      }
    })().finally(() => feed.close());

    const result = (async () => {
      let failure: unknown;
      let output: unknown;
      try {
        output = await execution.result;
      } catch (error) {
        failure = error;
      }
      await drained;
      runOpts.signal?.removeEventListener('abort', abort);
      if (oversized) throw new LocalExecutionFailedError(oversized.name, oversized.message);
      if (failure === undefined) return output;
      if (failure instanceof ExecutionError) {
        const cause = failure.cause;
        if (cause instanceof Error) throw new LocalExecutionFailedError(cause.name, cause.message);
        throw new LocalExecutionFailedError('States.Runtime', String(cause));
      }
      if (failure instanceof ExecutionAbortedError) throw new LocalExecutionAbortedError();
      if (failure instanceof ExecutionTimeoutError) throw new LocalExecutionTimedOutError();
      throw failure;
    })();

    return { executionArn, executionName, result, abort, events: feed, stats };
  };

  return {
    definition,
    env,
    envConflicts: conflicts,
    bindings: new Map(
      [...bindings].flatMap(([name, binding]) =>
        binding.kind === 'lambda' ? [[name, binding.step] as const] : [],
      ),
    ),
    run,
    dispose() {
      if (!savedEnv) return;
      for (const [key, value] of savedEnv) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      savedEnv = undefined;
    },
  };
}

/**
 * A handler whose module is imported on first use, i.e. after the run applied its environment, so module-scope
 * code (clients, config) sees the local values.
 */
export function lazyHandler(load: () => Promise<Record<string, unknown>>): LocalHandler {
  let loaded: Promise<LocalHandler> | undefined;
  return async (event, context) => {
    loaded ??= load().then((module) => {
      const handler = module.handler;
      if (typeof handler !== 'function')
        throw new TypeError('The handler module does not export a handler function');
      return handler as LocalHandler;
    });
    const handler = await loaded;
    return handler(event, context);
  };
}

/**
 * Lazy handlers for `steps`, loaded from `<root>/<step>/index.ts` (the layout of `lambdas/`).
 *
 * @example handlersFromDirectory(join(repoRoot, 'lambdas'), stepsOf(extracted.functions))
 */
export function handlersFromDirectory(root: string, steps: Iterable<string>): Record<string, LocalHandler> {
  const handlers: Record<string, LocalHandler> = {};
  for (const step of steps) {
    handlers[step] = lazyHandler(() => import(join(root, step, 'index.ts')));
  }
  return handlers;
}

/** The distinct steps (`S1CadoStep`) of extracted functions. */
export function stepsOf(functions: ReadonlyMap<string, ExtractedFunction>): string[] {
  return [...new Set([...functions.values()].flatMap((fn) => (fn.step ? [fn.step] : [])))].sort();
}
