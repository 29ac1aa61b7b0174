/**
 * Step Functions (Standard), the execution API: StartExecution, DescribeExecution, ListExecutions, StopExecution
 * and GetExecutionHistory (the execution's start and end, and the state events the running machine reports through
 * `FakeExecutionRequest.record`, paged like the service).
 *
 * The fake does not interpret definitions: a caller registers, per state machine ARN, a function that runs an
 * execution (typically the local runner, `createLocalStateMachine(...).run(...)`), and the fake tracks its status
 * RUNNING → SUCCEEDED / FAILED / ABORTED with output or error and cause. Execution names follow AWS: unique per
 * state machine; starting the same name with the same input while it runs returns the original response
 * (idempotent), anything else is `ExecutionAlreadyExists`; an invalid name is `InvalidName`.
 *
 * The callback pattern: SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat answer the tokens of a
 * {@link TaskTokens} registry (the one the local runner issues them from, see {@link StepFunctionsFake.useTaskTokens}),
 * with the service's errors: `InvalidToken`, `TaskTimedOut` (task already closed), `InvalidOutput`.
 */
import { randomUUID } from 'node:crypto';
import { TaskTokenError, type TaskTokens } from '../asl/task-tokens';
import {
  AwsServiceError,
  epochSeconds,
  type Operation,
  optionalString,
  type RequestBody,
  requiredString,
} from './protocol';

/** What a registered state machine gets for each execution. */
export interface FakeExecutionRequest {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  /** The parsed execution input. */
  readonly input: unknown;
  /** Aborted by StopExecution (or when the fake closes). */
  readonly signal: AbortSignal;
  /** Adds an event to the execution's history (e.g. `TaskStateEntered` with `stateEnteredEventDetails`). */
  record(type: string, details?: Record<string, unknown>): void;
}

/**
 * Runs one execution and resolves with its output. A rejection fails the execution: `error`/`cause` string
 * properties of the rejection are used when present (as `LocalExecutionFailedError` has), else `name`/`message`.
 */
export type FakeStateMachine = (execution: FakeExecutionRequest) => Promise<unknown>;

/** Execution status, as the API reports it. */
export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

/** The DescribeExecution view of an execution (dates in epoch ms). */
export interface FakeExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  status: ExecutionStatus;
  readonly startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
}

interface TrackedExecution extends FakeExecution {
  readonly controller: AbortController;
  /** Resolves when the execution leaves RUNNING. */
  readonly settled: Promise<void>;
  readonly markSettled: () => void;
  /** Events between ExecutionStarted and the end, as `record` added them. */
  readonly history: { type: string; timestamp: number; details: Record<string, unknown> }[];
}

/** Where the fake pretends to live, and its clock. */
export interface StepFunctionsFakeOptions {
  readonly clock: () => number;
}

const MAX_INPUT_BYTES = 256 * 1024;
// AWS: 1-80 characters, no whitespace, brackets, wildcards, these specials or control characters.
const INVALID_NAME_CHARACTER = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;

function isValidName(name: string): boolean {
  if (name.length === 0 || name.length > 80 || INVALID_NAME_CHARACTER.test(name)) return false;
  return ![...name].some((ch) => {
    const code = ch.codePointAt(0) ?? 0;
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
  });
}

function errorFields(error: unknown): { error: string; cause: string } {
  if (typeof error === 'object' && error !== null) {
    const record = error as Record<string, unknown>;
    const name =
      typeof record.error === 'string'
        ? record.error
        : typeof record.name === 'string'
          ? record.name
          : 'Error';
    const cause =
      typeof record.cause === 'string'
        ? record.cause
        : typeof record.message === 'string'
          ? record.message
          : '';
    return { error: name, cause };
  }
  return { error: 'Error', cause: String(error) };
}

/** In-memory Step Functions execution API. */
export class StepFunctionsFake {
  private readonly machines = new Map<string, FakeStateMachine>();
  private readonly executions = new Map<string, TrackedExecution>();
  private taskTokens: TaskTokens | undefined;
  /** Test fault: the next SendTaskSuccess calls do their work and then answer 500 (a lost response). */
  private lostTaskSuccessResponses = 0;
  /** Test helper: SendTaskSuccess calls whose response was lost so far. */
  lostSendTaskSuccessCalls = 0;

  constructor(private readonly opts: StepFunctionsFakeOptions) {}

  /** The operations, by name, for the server's dispatcher. */
  readonly operations: Record<string, Operation> = {
    StartExecution: (body) => this.startExecution(body),
    DescribeExecution: (body) => this.describeExecution(body),
    ListExecutions: (body) => this.listExecutions(body),
    StopExecution: (body) => this.stopExecution(body),
    GetExecutionHistory: (body) => this.getExecutionHistory(body),
    SendTaskSuccess: (body) => {
      // The call does its work (or fails) either way; a lost response hides which.
      const answer = () =>
        this.answerTask(body, (tokens, token) => tokens.succeed(token, requiredString(body, 'output')));
      if (this.lostTaskSuccessResponses === 0) return answer();
      this.lostTaskSuccessResponses -= 1;
      this.lostSendTaskSuccessCalls += 1;
      try {
        answer();
      } catch {
        // Hidden by the lost response, like the work done.
      }
      throw new AwsServiceError('InternalFailure', 'Injected fault: the response was lost', 500);
    },
    SendTaskFailure: (body) =>
      this.answerTask(body, (tokens, token) =>
        tokens.fail(token, optionalString(body, 'error'), optionalString(body, 'cause')),
      ),
    SendTaskHeartbeat: (body) => this.answerTask(body, (tokens, token) => tokens.heartbeat(token)),
  };

  /** Answers task tokens from `tokens` (the registry the local runner issues them from). */
  useTaskTokens(tokens: TaskTokens): void {
    this.taskTokens = tokens;
  }

  /**
   * Test fault: the next `times` SendTaskSuccess calls do their work (resume the task, or find its token closed) and
   * answer 500, as if the answer was lost on the way back.
   */
  loseTaskSuccessResponses(times = 1): void {
    this.lostTaskSuccessResponses += times;
  }

  private answerTask(body: RequestBody, answer: (tokens: TaskTokens, token: string) => void): object {
    const token = requiredString(body, 'taskToken');
    if (!this.taskTokens) throw new AwsServiceError('InvalidToken', 'Invalid Token');
    try {
      answer(this.taskTokens, token);
    } catch (error) {
      if (error instanceof TaskTokenError) throw new AwsServiceError(error.code, error.message);
      throw error;
    }
    return {};
  }

  /** Registers (or replaces) the function that runs executions of `stateMachineArn`. */
  register(stateMachineArn: string, machine: FakeStateMachine): void {
    if (!/^arn:[^:]+:states:[^:]+:\d{12}:stateMachine:[^:]+$/.test(stateMachineArn)) {
      throw new TypeError(`Not a state machine ARN: ${stateMachineArn}`);
    }
    this.machines.set(stateMachineArn, machine);
  }

  /** Test helper: every execution so far (a snapshot). */
  list(): FakeExecution[] {
    return [...this.executions.values()].map((execution) => this.view(execution));
  }

  /** Test helper: resolves with the execution once it is no longer RUNNING. */
  async waitFor(executionArn: string): Promise<FakeExecution> {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new Error(`No execution ${executionArn}`);
    await execution.settled;
    return this.view(execution);
  }

  /** Aborts every running execution (the fake is closing). */
  abortAll(): void {
    for (const execution of this.executions.values()) {
      if (execution.status === 'RUNNING') this.finish(execution, { status: 'ABORTED' });
    }
  }

  private view(execution: TrackedExecution): FakeExecution {
    const {
      controller: _controller,
      settled: _settled,
      markSettled: _markSettled,
      history: _history,
      ...view
    } = execution;
    return { ...view };
  }

  private find(executionArn: string): TrackedExecution {
    const execution = this.executions.get(executionArn);
    if (!execution)
      throw new AwsServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }

  private finish(
    execution: TrackedExecution,
    outcome: Partial<FakeExecution> & { status: ExecutionStatus },
  ): void {
    if (execution.status !== 'RUNNING') return;
    Object.assign(execution, outcome, { stopDate: this.opts.clock() });
    if (outcome.status === 'ABORTED') execution.controller.abort();
    execution.markSettled();
  }

  private startExecution(body: RequestBody): Record<string, unknown> {
    const stateMachineArn = requiredString(body, 'stateMachineArn');
    const machine = this.machines.get(stateMachineArn);
    if (!machine) {
      throw new AwsServiceError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${stateMachineArn}'`,
      );
    }
    const name = optionalString(body, 'name') ?? randomUUID();
    if (!isValidName(name)) throw new AwsServiceError('InvalidName', `Invalid Name: '${name}'`);
    const input = optionalString(body, 'input') ?? '{}';
    if (Buffer.byteLength(input, 'utf8') > MAX_INPUT_BYTES) {
      throw new AwsServiceError('InvalidExecutionInput', 'The input exceeds the 262144-byte limit.');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch {
      throw new AwsServiceError(
        'InvalidExecutionInput',
        'Invalid State Machine Execution Input: not valid JSON',
      );
    }
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      // Standard workflows: a repeated start of a running execution with the same input is idempotent.
      if (existing.status === 'RUNNING' && existing.input === input) {
        return { executionArn, startDate: epochSeconds(existing.startDate) };
      }
      throw new AwsServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const controller = new AbortController();
    let markSettled: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => {
      markSettled = resolve;
    });
    const execution: TrackedExecution = {
      executionArn,
      stateMachineArn,
      name,
      input,
      status: 'RUNNING',
      startDate: this.opts.clock(),
      controller,
      settled,
      markSettled,
      history: [],
    };
    const record = (type: string, details: Record<string, unknown> = {}) => {
      if (execution.status === 'RUNNING')
        execution.history.push({ type, timestamp: this.opts.clock(), details });
    };
    this.executions.set(executionArn, execution);
    // Run after answering, like the service: StartExecution returns as soon as the execution exists.
    setImmediate(() => {
      Promise.resolve()
        .then(() =>
          machine({ executionArn, stateMachineArn, name, input: parsed, signal: controller.signal, record }),
        )
        .then(
          (output) => this.finish(execution, { status: 'SUCCEEDED', output: JSON.stringify(output ?? null) }),
          (error: unknown) => this.finish(execution, { status: 'FAILED', ...errorFields(error) }),
        );
    });
    return { executionArn, startDate: epochSeconds(execution.startDate) };
  }

  private describe(execution: FakeExecution): Record<string, unknown> {
    return {
      executionArn: execution.executionArn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: epochSeconds(execution.startDate),
      ...(execution.stopDate !== undefined ? { stopDate: epochSeconds(execution.stopDate) } : {}),
      input: execution.input,
      inputDetails: { included: true },
      ...(execution.output !== undefined
        ? { output: execution.output, outputDetails: { included: true } }
        : {}),
      ...(execution.error !== undefined ? { error: execution.error } : {}),
      ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
    };
  }

  private describeExecution(body: RequestBody): Record<string, unknown> {
    return this.describe(this.find(requiredString(body, 'executionArn')));
  }

  private listExecutions(body: RequestBody): Record<string, unknown> {
    const stateMachineArn = requiredString(body, 'stateMachineArn');
    if (!this.machines.has(stateMachineArn)) {
      throw new AwsServiceError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${stateMachineArn}'`,
      );
    }
    const status = optionalString(body, 'statusFilter');
    const matching = [...this.executions.values()]
      .filter((e) => e.stateMachineArn === stateMachineArn && (status === undefined || e.status === status))
      .sort((a, b) => b.startDate - a.startDate);
    const start = Number(optionalString(body, 'nextToken') ?? 0);
    const pageSize = typeof body.maxResults === 'number' && body.maxResults > 0 ? body.maxResults : 100;
    const page = matching.slice(start, start + pageSize);
    return {
      executions: page.map((e) => ({
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: epochSeconds(e.startDate),
        ...(e.stopDate !== undefined ? { stopDate: epochSeconds(e.stopDate) } : {}),
      })),
      ...(start + pageSize < matching.length ? { nextToken: String(start + pageSize) } : {}),
    };
  }

  private stopExecution(body: RequestBody): Record<string, unknown> {
    const execution = this.find(requiredString(body, 'executionArn'));
    const error = optionalString(body, 'error');
    const cause = optionalString(body, 'cause');
    this.finish(execution, {
      status: 'ABORTED',
      ...(error !== undefined ? { error } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
    return { stopDate: epochSeconds(execution.stopDate ?? this.opts.clock()) };
  }

  private getExecutionHistory(body: RequestBody): Record<string, unknown> {
    const execution = this.find(requiredString(body, 'executionArn'));
    const events: Record<string, unknown>[] = [
      {
        id: 1,
        previousEventId: 0,
        timestamp: epochSeconds(execution.startDate),
        type: 'ExecutionStarted',
        executionStartedEventDetails: { input: execution.input, inputDetails: { truncated: false } },
      },
    ];
    for (const event of execution.history) {
      const id = events.length + 1;
      events.push({
        id,
        previousEventId: id - 1,
        timestamp: epochSeconds(event.timestamp),
        type: event.type,
        ...event.details,
      });
    }
    const endId = events.length + 1;
    const end = { id: endId, previousEventId: endId - 1, timestamp: epochSeconds(execution.stopDate ?? 0) };
    if (execution.status === 'SUCCEEDED') {
      events.push({
        ...end,
        type: 'ExecutionSucceeded',
        executionSucceededEventDetails: { output: execution.output },
      });
    } else if (execution.status === 'FAILED') {
      events.push({
        ...end,
        type: 'ExecutionFailed',
        executionFailedEventDetails: { error: execution.error, cause: execution.cause },
      });
    } else if (execution.status === 'ABORTED') {
      events.push({
        ...end,
        type: 'ExecutionAborted',
        executionAbortedEventDetails: { error: execution.error, cause: execution.cause },
      });
    }
    if (body.reverseOrder === true) events.reverse();
    const start = Number(optionalString(body, 'nextToken') ?? 0);
    const pageSize =
      typeof body.maxResults === 'number' && body.maxResults > 0 ? Math.min(body.maxResults, 1000) : 100;
    return {
      events: events.slice(start, start + pageSize),
      ...(start + pageSize < events.length ? { nextToken: String(start + pageSize) } : {}),
    };
  }
}
