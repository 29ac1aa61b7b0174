/**
 * What the bench needs from the synthesized stack beyond what a running local stack exposes: the Lambda functions
 * (memory sizes for the bill, bindings for a what-if copy of the state machine), and that copy: the same state
 * machine with another Retry, run with the real handlers.
 */
import path from 'node:path';
import { type ExtractedFunction, extractStateMachine } from '../../local/asl/extract';
import {
  createLocalStateMachine,
  handlersFromDirectory,
  type LocalStateMachine,
  stepsOf,
} from '../../local/asl/runner';
import { type LocalStack, REPO_ROOT, synthesizeLocal } from '../../local/local-stack';
import { type Retrier, withRetrier } from './retry-what-if';

/**
 * The Lambda functions of the stack, keyed by the placeholder ARNs the local definition uses. Synthesized again with
 * the running stack's endpoints: function logical ids, and so the placeholders, do not depend on the configuration.
 */
export function stackFunctions(stack: LocalStack): ReadonlyMap<string, ExtractedFunction> {
  const { template, logicalId } = synthesizeLocal({
    s1ConsoleUrl: stack.s1Url,
    cadoUrl: stack.cadoUrl,
    allowLoopback: true,
  } as Parameters<typeof synthesizeLocal>[0]);
  return extractStateMachine(template, { logicalId }).functions;
}

/** The running stack's state machine with `retrier` applied, bound to the same handlers and environment. */
export function whatIfMachine(stack: LocalStack, retrier: Retrier): LocalStateMachine {
  const functions = stackFunctions(stack);
  return createLocalStateMachine(withRetrier(stack.machine.definition, retrier), {
    functions,
    handlers: handlersFromDirectory(path.join(REPO_ROOT, 'lambdas'), stepsOf(functions)),
    stateMachineArn: stack.stateMachineArn,
    env: stack.machine.env,
  });
}
