/**
 * Task tokens of the callback pattern (`.waitForTaskToken`), as Step Functions hands them out and takes them back.
 *
 * The runner issues a token when a callback Task starts and waits on it; SendTaskSuccess / SendTaskFailure /
 * SendTaskHeartbeat (the AWS fake's operations) settle it. The answers follow the service: a token this registry
 * never issued (or malformed) is `InvalidToken`; a token whose task is closed (already answered, timed out, or its
 * execution ended) is `TaskTimedOut`; an output that is not JSON is `InvalidOutput`. A token stays known after its
 * task closes, so a repeated or late answer gets `TaskTimedOut`, as from the real service.
 */
import { randomBytes } from 'node:crypto';

/** How a waiting task ended, as the runner sees it. */
export type TaskTokenOutcome =
  | { readonly kind: 'success'; readonly output: unknown }
  | { readonly kind: 'failure'; readonly error: string; readonly cause: string };

/** A Step Functions service error of the task-token operations (`code` is the API's error code). */
export class TaskTokenError extends Error {
  override readonly name = 'TaskTokenError';
  constructor(
    readonly code: 'InvalidToken' | 'TaskTimedOut' | 'InvalidOutput',
    message: string,
  ) {
    super(message);
  }
}

interface Waiting {
  readonly executionArn: string;
  readonly stateName: string;
  open: boolean;
  readonly settle: (outcome: TaskTokenOutcome) => void;
  /** Heartbeats so far (tests read them). */
  heartbeats: number;
}

/** One issued token and how to wait for its answer. */
export interface IssuedToken {
  readonly token: string;
  /** Resolves with the answer; never rejects. */
  readonly outcome: Promise<TaskTokenOutcome>;
  /** Closes the task without an answer (timed out, aborted): later answers get `TaskTimedOut`. */
  close(): void;
}

/** Output size Step Functions accepts in SendTaskSuccess (256 KiB). */
const MAX_OUTPUT_BYTES = 256 * 1024;
const TOKEN_PREFIX = 'AQCEAAAAKgAAAA';

/** The tokens of one local deployment (shared by its state machines and the AWS fake). */
export class TaskTokens {
  private readonly tokens = new Map<string, Waiting>();

  /** Issues a token for a callback Task of `executionArn`. */
  issue(executionArn: string, stateName: string): IssuedToken {
    // Opaque and long like the service's (which are hundreds of characters); never derived from the execution.
    const token = `${TOKEN_PREFIX}${randomBytes(96).toString('base64url')}`;
    let settle: (outcome: TaskTokenOutcome) => void = () => undefined;
    const outcome = new Promise<TaskTokenOutcome>((resolve) => {
      settle = resolve;
    });
    const waiting: Waiting = { executionArn, stateName, open: true, settle, heartbeats: 0 };
    this.tokens.set(token, waiting);
    return {
      token,
      outcome,
      close: () => {
        waiting.open = false;
      },
    };
  }

  /** SendTaskSuccess: `output` is the JSON text the caller sent. */
  succeed(token: string, output: string): void {
    const waiting = this.open(token);
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch {
      throw new TaskTokenError('InvalidOutput', 'Invalid output: not valid JSON');
    }
    if (Buffer.byteLength(output, 'utf8') > MAX_OUTPUT_BYTES) {
      throw new TaskTokenError('InvalidOutput', `The output exceeds the ${MAX_OUTPUT_BYTES}-byte limit.`);
    }
    waiting.open = false;
    waiting.settle({ kind: 'success', output: parsed });
  }

  /** SendTaskFailure. */
  fail(token: string, error: string | undefined, cause: string | undefined): void {
    const waiting = this.open(token);
    waiting.open = false;
    waiting.settle({ kind: 'failure', error: error ?? '', cause: cause ?? '' });
  }

  /** SendTaskHeartbeat. */
  heartbeat(token: string): void {
    this.open(token).heartbeats += 1;
  }

  /** Test helper: the tasks still waiting for an answer. */
  waiting(): { executionArn: string; stateName: string }[] {
    return [...this.tokens.values()]
      .filter((w) => w.open)
      .map(({ executionArn, stateName }) => ({ executionArn, stateName }));
  }

  private open(token: string): Waiting {
    const waiting = typeof token === 'string' ? this.tokens.get(token) : undefined;
    if (!waiting) throw new TaskTokenError('InvalidToken', 'Invalid Token');
    if (!waiting.open) throw new TaskTokenError('TaskTimedOut', 'Task Timed Out');
    return waiting;
  }
}
