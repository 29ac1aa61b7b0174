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
let stack: S1CadoForensicsStack;

beforeAll(() => {
  const app = apps.app({ s1cado: exampleConfig({ webhookEnabled: true }) });
  stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
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

type Resource = {
  Type: string;
  Properties: Record<string, unknown> & { Environment?: { Variables?: Record<string, unknown> } };
  Metadata?: Record<string, unknown>;
};

describe('functions are configured and granted together', () => {
  /** Each function's step, environment and the text of every policy attached to its role. */
  function functions() {
    const resources = template.Resources as Record<string, Resource>;
    const policies = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy');
    return Object.values(resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.S1CadoStep)
      .map((fn) => {
        const roleId = (fn.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
        const granted = JSON.stringify(
          policies
            .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === roleId))
            .map((p) => p.Properties.PolicyDocument),
        );
        return {
          step: fn.Metadata?.S1CadoStep as string,
          env: fn.Properties.Environment?.Variables ?? {},
          granted,
        };
      });
  }
  const id = (c: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);

  it('a function told where a secret or the bucket is may use it, and one that may use it is told', () => {
    const all = functions();
    expect(all.length).toBeGreaterThan(10);
    const pairs = [
      [ENV.s1SecretArn, id(stack.secrets.s1Secret)],
      [ENV.cadoSecretArn, id(stack.secrets.cadoSecret)],
      [ENV.evidenceBucket, id(stack.evidence.bucket)],
      [ENV.coordinationTableName, id(stack.coordination.table)],
    ] as const;
    for (const { step, env, granted } of all) {
      for (const [variable, resource] of pairs) {
        expect(variable in env, `${step}: ${variable} set <=> ${resource} granted`).toBe(
          granted.includes(resource),
        );
      }
    }
    // Both sides of each pair occur: the check above is not vacuous.
    for (const [variable] of pairs)
      expect(
        all.some(({ env }) => variable in env),
        variable,
      ).toBe(true);
  });

  it('gives every S1 and Cado client the same settings', () => {
    const s1 = functions().filter(({ env }) => ENV.s1SecretArn in env);
    const cado = functions().filter(({ env }) => ENV.cadoSecretArn in env);
    const pick = (env: Record<string, unknown>, keys: string[]) => keys.map((key) => [key, env[key]]);
    const s1Keys = [ENV.s1ConsoleUrl, ENV.s1AllowedHosts, ENV.downloadAllowedHosts, ENV.allowLoopback];
    const cadoKeys = [ENV.cadoUrl, ENV.cadoProjectMode, ENV.cadoHandoffTimeoutSeconds, ENV.allowLoopback];
    expect(new Set(s1.map(({ env }) => JSON.stringify(pick(env, s1Keys)))).size).toBe(1);
    expect(new Set(cado.map(({ env }) => JSON.stringify(pick(env, cadoKeys)))).size).toBe(1);
    expect(s1.map(({ step }) => step)).toEqual(
      expect.arrayContaining(['poll-threats', 'audit-permissions', 'stage-output']),
    );
    expect(cado.map(({ step }) => step).sort()).toEqual([
      'audit-permissions',
      'cancel-investigation',
      'check-cado',
      'hand-to-cado',
      // Its Cado pass resumes the executions waiting in Wait For Cado.
      'watch-tasks',
    ]);
  });
});
