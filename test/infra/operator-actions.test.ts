/**
 * OperatorActions in the stack: `s1cado cancel`'s function may describe and stop executions of the investigation
 * state machine only, reads the S1 and Cado secrets, and is named by a stack output (as is the backfill function).
 */
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/contract';
import { loadConfig } from '../../lib/config';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { appFactory, exampleConfig } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

function build() {
  const app = apps.app({ s1cado: exampleConfig() });
  const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  return { stack, template: Template.fromStack(stack) };
}

type Statement = { Action: string | string[]; Resource: unknown };

describe('OperatorActions', () => {
  const { stack, template } = build();
  const id = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
  const cancel = stack.operatorActions.cancelFunction;
  const statements = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === id(cancel.role as never)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  const actions = statements.flatMap((s) => [s.Action].flat());

  it('stops and describes executions of the investigation state machine only, and starts none', () => {
    const states = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('states:')));
    expect(states).toHaveLength(1);
    expect([states[0]?.Action].flat().sort()).toEqual(['states:DescribeExecution', 'states:StopExecution']);
    const resource = JSON.stringify(states[0]?.Resource);
    expect(resource).toContain(':execution:');
    expect(resource).toContain(id(stack.workflow.stateMachine));
    expect(actions).not.toContain('states:StartExecution');
    expect(actions).not.toContain('events:PutEvents');
  });

  it('reads the S1 and Cado secrets, and knows the state machine and the bucket', () => {
    const secrets = statements.filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(
      secrets
        .flatMap((s) => [s.Resource].flat())
        .map((r) => JSON.stringify(r))
        .sort(),
    ).toEqual(
      [stack.secrets.s1Secret, stack.secrets.cadoSecret].map((s) => JSON.stringify({ Ref: id(s) })).sort(),
    );
    const fn = template.findResources('AWS::Lambda::Function')[id(cancel)];
    expect(fn?.Properties.Environment.Variables).toMatchObject({
      [ENV.stateMachineArn]: { Ref: id(stack.workflow.stateMachine) },
      [ENV.evidenceBucket]: { Ref: id(stack.evidence.bucket) },
    });
    expect(fn?.Properties.Timeout).toBe(300);
  });

  it('outputs the names the CLI invokes', () => {
    template.hasOutput('CancelFunctionName', { Value: { Ref: id(cancel) } });
    template.hasOutput('BackfillFunctionName', { Value: { Ref: id(stack.intake.backfillFunction) } });
  });
});
