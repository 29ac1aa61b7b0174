/**
 * Errors of the local Step Functions runtime.
 *
 * Two families live here:
 * - setup errors (extracting or binding a definition), named after their class like every project error;
 * - execution errors that must carry an Amazon States Language error *name* (`States.DataLimitExceeded`, or the
 *   `errorType` a Lambda function reported), because aws-local-stepfunctions matches `Retry`/`Catch` on `error.name`.
 *   Those classes set `name` to that ASL name on purpose; the class name documents what they are.
 */

/** Size quota of a state's input or output, and of a task result, in UTF-8 bytes of its JSON (256 KiB). */
export const PAYLOAD_LIMIT_BYTES = 256 * 1024;

/** The template holds an intrinsic function the extractor does not know, so it cannot be resolved faithfully. */
export class UnsupportedIntrinsicError extends Error {
  override readonly name = 'UnsupportedIntrinsicError';
  constructor(
    readonly intrinsic: string,
    readonly where: string,
  ) {
    super(
      `Unsupported CloudFormation intrinsic ${intrinsic} at ${where}; teach local/asl/extract.ts about it`,
    );
  }
}

/** The template does not hold what the extractor needs (no state machine, several, a dangling reference...). */
export class TemplateResolutionError extends Error {
  override readonly name = 'TemplateResolutionError';
}

/** The definition (or one of its states) declares JSONata, which aws-local-stepfunctions cannot evaluate. */
export class JsonataNotSupportedError extends Error {
  override readonly name = 'JsonataNotSupportedError';
  constructor(readonly where: string) {
    super(
      `${where} declares QueryLanguage "JSONata"; the local runner only evaluates JSONPath ` +
        '(aws-local-stepfunctions would silently ignore Arguments/Output/Condition and take wrong paths)',
    );
  }
}

/** The definition uses an ASL feature the local runner would silently get wrong. */
export class UnsupportedAslFeatureError extends Error {
  override readonly name = 'UnsupportedAslFeatureError';
}

/** A Task state has no local handler; running it would make aws-local-stepfunctions call real AWS Lambda. */
export class UnboundTaskError extends Error {
  override readonly name = 'UnboundTaskError';
  constructor(
    readonly stateName: string,
    reason: string,
  ) {
    super(`Task state "${stateName}" cannot be bound to a local handler: ${reason}`);
  }
}

/** Two states share a name; overrides are keyed by state name, so binding would be ambiguous. */
export class DuplicateStateNameError extends Error {
  override readonly name = 'DuplicateStateNameError';
  constructor(readonly stateName: string) {
    super(
      `State name "${stateName}" is used more than once (across Map/Parallel branches); local bindings need unique names`,
    );
  }
}

/** Lambda environment values still hold template placeholders the caller did not override. */
export class UnresolvedEnvironmentError extends Error {
  override readonly name = 'UnresolvedEnvironmentError';
  constructor(readonly keys: readonly string[]) {
    super(
      `Lambda environment variables ${keys.join(', ')} refer to other resources (placeholders locally); ` +
        'pass local values in the runner option `env`, or set `allowUnresolvedEnv: true`',
    );
  }
}

/**
 * `States.DataLimitExceeded`: a payload went over {@link PAYLOAD_LIMIT_BYTES}. In AWS this is terminal: `States.ALL`
 * does not catch it, so it is neither retryable nor catchable here (aws-local-stepfunctions reads these getters).
 */
export class StatesDataLimitExceededError extends Error {
  // The ASL error name, not the class name: Retry/Catch and the execution's `error` match on it.
  override readonly name = 'States.DataLimitExceeded';
  constructor(
    readonly what: string,
    readonly bytes: number,
  ) {
    super(`${what} is ${bytes} bytes, over the ${PAYLOAD_LIMIT_BYTES}-byte Step Functions payload quota`);
  }
  get isRetryable(): boolean {
    return false;
  }
  get isCatchable(): boolean {
    return false;
  }
}

/** `States.Runtime`: the definition asked for something impossible at run time (e.g. a negative SecondsPath). */
export class StatesRuntimeError extends Error {
  // The ASL error name (see the module comment); like in AWS it cannot be retried or caught.
  override readonly name = 'States.Runtime';
  get isRetryable(): boolean {
    return false;
  }
  get isCatchable(): boolean {
    return false;
  }
}

/**
 * A Lambda function invocation failed. `name` is the `errorType` Lambda reports (the thrown error's `name`), so
 * `Retry`/`Catch` match exactly as in AWS; `message` is the `Cause` Step Functions records: the JSON document
 * `{"errorType","errorMessage","trace"}` the Node.js runtime produces.
 */
export class LambdaFunctionError extends Error {
  // The errorType, not the class name (see the module comment).
  override readonly name: string;
  constructor(
    readonly errorType: string,
    readonly errorMessage: string,
    readonly trace: readonly string[] = [],
  ) {
    super(JSON.stringify({ errorType, errorMessage, trace }));
    this.name = errorType;
  }
}

/** The local execution failed; `error` and `cause` are what DescribeExecution would report. */
export class LocalExecutionFailedError extends Error {
  override readonly name = 'LocalExecutionFailedError';
  constructor(
    readonly error: string,
    override readonly cause: string,
  ) {
    super(`Execution failed with ${error}: ${cause}`);
  }
}

/** The local execution was aborted (StopExecution, or `abort()`). */
export class LocalExecutionAbortedError extends Error {
  override readonly name = 'LocalExecutionAbortedError';
  constructor() {
    super('Execution aborted');
  }
}

/** The local execution ran past the definition's top-level `TimeoutSeconds`. */
export class LocalExecutionTimedOutError extends Error {
  override readonly name = 'LocalExecutionTimedOutError';
  constructor() {
    super('Execution timed out (definition TimeoutSeconds)');
  }
}
