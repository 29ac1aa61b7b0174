/**
 * What the bench needs from the synthesized stack beyond what a running local stack exposes: the Lambda functions
 * (memory sizes for the bill, bindings for a what-if copy of the state machine, Node flags for the init times), and
 * that copy: the same state machine with another Retry, run with the real handlers.
 */
import path from 'node:path';
import { STEP_METADATA_KEY } from '../../lib/constructs/task-function';
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

/**
 * The Node flags (`NODE_OPTIONS`) each step's function is deployed with, read from the synthesized stack: the
 * TaskFunction default, or what a construct sets for its function (staging's GC setting). Steps with no function in
 * the stack are absent.
 */
export function deployedNodeFlags(): ReadonlyMap<string, readonly string[]> {
  const { template } = synthesizeLocal({
    s1ConsoleUrl: 'https://bench.sentinelone.net',
    cadoUrl: 'https://cado.bench.example',
  } as Parameters<typeof synthesizeLocal>[0]);
  const flags = new Map<string, readonly string[]>();
  const resources = (template.Resources ?? {}) as Record<string, CfnResource>;
  for (const resource of Object.values(resources)) {
    const step = resource.Metadata?.[STEP_METADATA_KEY];
    if (resource.Type !== 'AWS::Lambda::Function' || typeof step !== 'string' || flags.has(step)) continue;
    const options = resource.Properties?.Environment?.Variables?.NODE_OPTIONS;
    flags.set(step, typeof options === 'string' ? options.split(/\s+/).filter(Boolean) : []);
  }
  return flags;
}

interface CfnResource {
  readonly Type?: string;
  readonly Metadata?: Record<string, unknown>;
  readonly Properties?: { readonly Environment?: { readonly Variables?: Record<string, unknown> } };
}
