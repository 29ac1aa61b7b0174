import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV, RETRY_ON } from '../../lambdas/shared/contract';
import { loadConfig } from '../../lib/config';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { extractStateMachine } from '../../local/asl/extract';
import { type ErrorClass, errorClasses } from '../error-classes';
import { appFactory, exampleConfig } from './helpers';

/** A state of any (nested) definition: only what matching on error names needs. */
interface State {
  Type: string;
  Retry?: { ErrorEquals: string[] }[];
  Catch?: { ErrorEquals: string[] }[];
  ItemProcessor?: { States: Record<string, State> };
  Iterator?: { States: Record<string, State> };
  Branches?: { States: Record<string, State> }[];
}

/** Every state of a definition, Map and Parallel bodies included, with its path. */
function* walk(states: Record<string, State>, prefix = ''): Generator<[string, State]> {
  for (const [name, state] of Object.entries(states)) {
    yield [`${prefix}${name}`, state];
    for (const body of [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])]) {
      if (body) yield* walk(body.States, `${prefix}${name} > `);
    }
  }
}

/** Error names Step Functions and the Lambda service define (`States.ALL`, `Lambda.ServiceException`...). */
const PLATFORM_ERROR = /^(States|Lambda)\.[A-Za-z]+$/;

const apps = appFactory();
afterAll(() => apps.cleanup());

let template: ReturnType<Template['toJSON']>;
let machines: { logicalId: string; states: Record<string, State> }[];
let classes: Map<string, ErrorClass>;

beforeAll(() => {
  const app = apps.app({ s1cado: exampleConfig({ webhookEnabled: true }) });
  const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  template = Template.fromStack(stack).toJSON();
  const resources = template.Resources as Record<string, { Type: string }>;
  machines = Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
    .map(([logicalId]) => {
      const { definition } = extractStateMachine(template, { logicalId });
      return { logicalId, states: (definition as unknown as { States: Record<string, State> }).States };
    });
  classes = new Map(errorClasses().map((c) => [c.name, c]));
});

/** `[state machine > state, error name]` of every name in every Retry (or Catch) of every state machine. */
function matched(kind: 'Retry' | 'Catch'): [string, string][] {
  return machines.flatMap(({ logicalId, states }) =>
    [...walk(states)].flatMap(([path, state]) =>
      (state[kind] ?? []).flatMap((rule) =>
        rule.ErrorEquals.map((name): [string, string] => [`${logicalId} > ${path}`, name]),
      ),
    ),
  );
}

describe('the synthesized definitions honour the error contract', () => {
  it('retries only errors whose class says they may be retried', () => {
    const retried = matched('Retry');
    const ours = retried.filter(([, name]) => !PLATFORM_ERROR.test(name));
    // The walk found the Retry lists: every group of the contract is retried somewhere.
    expect(new Set(ours.map(([, name]) => name))).toEqual(new Set(Object.values(RETRY_ON).flat()));
    for (const [where, name] of ours) {
      const errorClass = classes.get(name);
      expect(errorClass, `${where} retries ${name}, which no class in errors.ts is named`).toBeDefined();
      expect(errorClass?.retryable, `${where} retries ${name}, whose class is not retryable`).toBe(true);
    }
  });

  it('catches only platform errors or names of error classes', () => {
    const caught = matched('Catch');
    expect(caught.length).toBeGreaterThan(0);
    for (const [where, name] of caught) {
      expect(PLATFORM_ERROR.test(name) || classes.has(name), `${where} catches unknown ${name}`).toBe(true);
    }
  });

  it('sets only environment variables the contract names (or Node and Powertools ones)', () => {
    const known = new Set<string>([...Object.values(ENV), 'NODE_OPTIONS']);
    const resources = template.Resources as Record<
      string,
      { Type: string; Properties: { Environment?: { Variables?: Record<string, unknown> } } }
    >;
    const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(10);
    for (const fn of functions) {
      for (const key of Object.keys(fn.Properties.Environment?.Variables ?? {})) {
        expect(known.has(key), `${key} is not in ENV of lambdas/shared/contract.ts`).toBe(true);
      }
    }
  });
});
