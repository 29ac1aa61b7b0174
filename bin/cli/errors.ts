/**
 * Errors of the `s1cado` CLI. Each one becomes a one-line message on stderr and an exit code; none carries a secret
 * (the CLI never handles tokens, and messages from AWS or the Lambdas are redacted before printing anyway).
 */

/** Exit codes: 0 done, 1 failed (or not found, or timed out), 2 the command line is wrong. */
export const EXIT_OK = 0;
/** Something failed: an AWS call, the investigation, a hand-off, a wait that ran out of time. */
export const EXIT_FAILURE = 1;
/** The command line is wrong: unknown flag, missing or invalid value. */
export const EXIT_USAGE = 2;

/** Errors whose message says everything the operator needs (printed without the class name). */
export abstract class CliError extends Error {
  abstract override readonly name: string;
}

/** The command line is wrong. `command` names the command whose `--help` to suggest. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** The deployment (stack, output, flag or variable) does not say where something is. */
export class DeploymentLookupError extends CliError {
  override readonly name = 'DeploymentLookupError';
}

/** Neither an execution nor a case file exists for the investigation id. */
export class InvestigationNotFoundError extends CliError {
  override readonly name = 'InvestigationNotFoundError';
}

/** A Lambda function ran and threw: `errorType` and `errorMessage` are the function's own. */
export class FunctionInvocationError extends CliError {
  override readonly name = 'FunctionInvocationError';
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    readonly errorMessage: string,
  ) {
    super(`${functionName} failed with ${errorType}: ${errorMessage}`);
  }
}

/** A Lambda function answered, but not with what the CLI expected (a different version deployed?). */
export class UnexpectedFunctionResultError extends CliError {
  override readonly name = 'UnexpectedFunctionResultError';
}

/** The investigation is not in a state the command can act on (e.g. a hand-off re-run of it is still running). */
export class InvestigationStateError extends CliError {
  override readonly name = 'InvestigationStateError';
}
