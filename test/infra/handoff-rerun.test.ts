/**
 * The hand-off re-run in the synthesized stack: a second state machine built from the workflow's own hand-off
 * steps, and no write access to the evidence bucket for anyone but the workflow steps that own those writes.
 */
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { extractStateMachine } from '../../local/asl/extract';
import { appFactory, exampleConfig } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

function build() {
  const app = apps.app({ s1cado: exampleConfig() });
  const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  const template = Template.fromStack(stack);
  const logicalId = (sm: { node: { defaultChild: unknown } }) =>
    stack.getLogicalId(sm.node.defaultChild as CfnStateMachine);
  const json = template.toJSON();
  const main = extractStateMachine(json, { logicalId: logicalId(stack.workflow.stateMachine) });
  const rerun = extractStateMachine(json, { logicalId: logicalId(stack.handoffRerun.stateMachine) });
  return { app, stack, template, json, main, rerun };
}

type States = Record<string, Record<string, unknown>>;

/** The states of a definition, Map item processors included, by name. */
function statesOf(definition: { States: unknown }): States {
  const all: States = {};
  for (const [name, state] of Object.entries(definition.States as States)) {
    all[name] = state;
    const inner = state.ItemProcessor as { States: unknown } | undefined;
    if (inner) Object.assign(all, statesOf(inner));
  }
  return all;
}

/** Every IAM policy statement of the template with the roles its policy is attached to. */
function statements(json: Record<string, unknown>) {
  const resources = (json.Resources ?? {}) as Record<
    string,
    { Type: string; Properties: Record<string, unknown> }
  >;
  const found: { roles: string[]; actions: string[]; resources: unknown }[] = [];
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::IAM::Policy' && resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const roles = ((resource.Properties.Roles ?? []) as { Ref: string }[]).map((r) => r.Ref);
    const doc = resource.Properties.PolicyDocument as { Statement: Record<string, unknown>[] };
    for (const statement of doc.Statement) {
      const actions = [statement.Action].flat() as string[];
      found.push({ roles, actions, resources: statement.Resource });
    }
  }
  return { found, resources };
}

describe('HandOffRerun', () => {
  const built = build();

  it('is a second state machine: Find Staged Evidence → Map over the staged items → Record Outcome in re-run mode', () => {
    built.template.resourceCountIs('AWS::StepFunctions::StateMachine', 2);
    const states = statesOf(built.rerun.definition);
    expect(built.rerun.definition.StartAt).toBe('Find Staged Evidence');
    expect(states['Find Staged Evidence']?.Next).toBe('Anything To Hand Off?');
    expect(states['Hand Off Each Collection']).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.staged',
      ResultPath: '$.results',
    });
    expect(states['Record Outcome']).toMatchObject({
      ResultPath: '$.outcome',
      Parameters: { 'state.$': '$', mode: 'rerun' },
    });
    // The same Lambda as the investigation's Record Outcome: one writer of case.json and the manifests.
    expect(states['Record Outcome']?.Resource).toBe(
      statesOf(built.main.definition)['Record Outcome']?.Resource,
    );
    expect(states['Re-Run Failed']).toMatchObject({ Type: 'Fail', ErrorPath: '$.outcome.errorName' });
    // Following a pipeline started earlier enters the loop at Wait For Cado, never at Hand To Cado.
    expect(states['Pipeline Started Before?']).toMatchObject({
      Choices: [{ Variable: '$.cado', IsPresent: true, Next: 'Wait For Cado' }],
      Default: 'Hand To Cado',
    });
  });

  it('runs the hand-off steps of the investigation workflow unchanged: same Lambdas, Retry and Catch', () => {
    const main = statesOf(built.main.definition);
    const rerun = statesOf(built.rerun.definition);
    for (const name of [
      'Hand To Cado',
      'Wait For Cado',
      'Check Cado',
      'Cado Finished?',
      'Cado Re-Imported?',
      'Cado Watchdog Fired',
    ]) {
      expect(rerun[name], name).toBeDefined();
      expect(rerun[name], name).toEqual(main[name]);
    }
    expect(
      ((main['Hand To Cado']?.Retry ?? []) as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals),
    ).toEqual(expect.arrayContaining(['CadoRateLimitedError', 'CadoTransientError']));
  });

  it('has a stack output the CLI finds it by, and the old function outputs are gone', () => {
    const outputs = built.template.toJSON().Outputs as Record<string, unknown>;
    expect(outputs.HandOffRerunStateMachineArn).toEqual({
      Value: {
        Ref: built.stack.getLogicalId(
          built.stack.handoffRerun.stateMachine.node.defaultChild as CfnStateMachine,
        ),
      },
    });
    expect(outputs.HandToCadoFunctionName).toBeUndefined();
    expect(outputs.CheckCadoFunctionName).toBeUndefined();
  });

  it('grants S3 write only to the Lambda roles of the steps that write evidence records; no operator grant', () => {
    const { found, resources } = statements(built.json);
    const writes = found.filter((s) =>
      s.actions.some(
        (a) => a === 's3:*' || a === '*' || /^s3:(Put|Delete|Restore|Replicate|BypassGovernance)/.test(a),
      ),
    );
    expect(writes.length).toBeGreaterThan(0);
    const roleOf = (fn: { role?: { node: { defaultChild?: unknown } } }) =>
      built.stack.getLogicalId((fn.role as { node: { defaultChild: never } }).node.defaultChild);
    const fns = built.stack.workflow.functions;
    const writers = new Set(
      [
        fns['run-script'],
        // The Task Watcher sends the queued executes and writes each agent's task record.
        built.stack.workflow.taskWatcher.function,
        fns['prepare-upload'],
        fns['stage-output'],
        fns['complete-upload'],
        fns['verify-evidence'],
        fns['record-outcome'],
        built.stack.audit.function,
        built.stack.operatorActions.cancelFunction,
      ].map((f) => roleOf(f as never)),
    );
    // The direct-upload signing role: its sessions sign the collector's part URLs (one key each).
    const signerRole = roleOf({ role: built.stack.workflow.directUploadSigner } as never);
    writers.add(signerRole);
    const runScriptRole = roleOf(fns['run-script'] as never);
    // `s1cado cancel`'s function writes its own record, never evidence.
    const cancelRole = roleOf(built.stack.operatorActions.cancelFunction as never);
    for (const statement of writes.filter((s) => s.roles.includes(cancelRole))) {
      expect(statement.actions).toEqual(['s3:PutObject']);
      expect(JSON.stringify(statement.resources)).toMatch(/"\/investigations\/\*\/cancellation\.json"\]/);
    }
    for (const statement of writes) {
      for (const role of statement.roles) {
        expect(writers.has(role), `${role} may write to S3`).toBe(true);
        // Every such role is assumable by Lambda only: no IAM user, account or federated principal.
        const trust = resources[role]?.Properties.AssumeRolePolicyDocument as {
          Statement: { Principal: Record<string, unknown> }[];
        };
        // Except the direct-upload signer, which only Run Script's role may assume.
        const principal =
          role === signerRole
            ? { AWS: { 'Fn::GetAtt': [runScriptRole, 'Arn'] } }
            : { Service: 'lambda.amazonaws.com' };
        for (const s of trust.Statement) expect(s.Principal).toEqual(principal);
      }
    }
    // Find Staged Evidence and the re-run state machine itself only read.
    const findRole = roleOf(built.stack.handoffRerun.findStagedEvidence as never);
    const rerunRole = built.stack.getLogicalId(
      built.stack.handoffRerun.stateMachine.role.node.defaultChild as never,
    );
    for (const statement of writes) {
      expect(statement.roles).not.toContain(findRole);
      expect(statement.roles).not.toContain(rerunRole);
    }
    // No role in the stack trusts anything but AWS services (and the signer, Run Script's role, checked above).
    for (const [id, resource] of Object.entries(resources)) {
      if (resource.Type !== 'AWS::IAM::Role' || id === signerRole) continue;
      const trust = resource.Properties.AssumeRolePolicyDocument as {
        Statement: { Principal: Record<string, unknown> }[];
      };
      for (const s of trust.Statement) expect(Object.keys(s.Principal)).toEqual(['Service']);
    }
  });

  it('passes cdk-nag', () => {
    built.app.synth();
    expect(new AwsSolutionsChecks().validateScope(built.app).violations).toEqual([]);
  });
});
