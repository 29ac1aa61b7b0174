/**
 * The Cado webhook receiver in the synthesized stack: present only when `cadoWebhookEnabled`, behind a Function URL
 * whose authentication is the payload's secret (checked in the function), and granted no more than it uses: its
 * secret, the Cado key, the open Cado waits of the coordination store, and the task tokens of the two machines.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV, OPEN_CADO_PIPELINES_PK } from '../../lambdas/shared/contract';
import { loadConfig } from '../../lib/config';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { appFactory, exampleConfig } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

function build(overrides: Record<string, unknown> = {}) {
  const app = apps.app({ s1cado: exampleConfig(overrides) });
  const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  return { app, stack, template: Template.fromStack(stack) };
}

const isReceiver = (r: { Metadata?: { S1CadoStep?: string } }) =>
  r.Metadata?.S1CadoStep === 'receive-cado-webhook';

describe('the Cado webhook receiver', () => {
  it('is absent by default; the check-cado Lambda may only register open Cado waits', () => {
    const { template } = build();
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions.filter(isReceiver)).toEqual([]);
    expect(template.toJSON().Outputs?.CadoWebhookUrl).toBeUndefined();
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'dynamodb:PutItem',
            Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [OPEN_CADO_PIPELINES_PK] } },
          }),
        ]),
      },
      Roles: [Match.objectLike({ Ref: Match.stringLikeRegexp('^WorkflowCheckCado') })],
    });
  });

  it('when enabled: a Function URL, its generated secret, least-privilege grants, outputs for the operator', () => {
    const { template } = build({ cadoWebhookEnabled: true, cadoWatchIntervalSeconds: 120 });
    const [receiver] = Object.entries(template.findResources('AWS::Lambda::Function')).filter(([, r]) =>
      isReceiver(r),
    );
    expect(receiver).toBeDefined();
    const [logicalId, fn] = receiver as [
      string,
      {
        Properties: {
          ReservedConcurrentExecutions: number;
          Environment: { Variables: Record<string, unknown> };
          Role: { 'Fn::GetAtt': [string, string] };
        };
      },
    ];
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(2);
    const env = fn.Properties.Environment.Variables;
    expect(env[ENV.cadoWatchIntervalSeconds]).toBe('120');
    expect(env[ENV.cadoWebhookSecretArn]).toEqual({ Ref: expect.stringMatching(/^CadoWebhookSecret/) });
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [logicalId, 'Arn'] },
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'cadoWebhookSecret', PasswordLength: 64 }),
    });

    const roleRef = fn.Properties.Role['Fn::GetAtt'][0] as string;
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleRef))
      .flatMap(
        (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
      );
    const actions = statements.flatMap((s) => [s.Action].flat() as string[]);
    // The store: only the open Cado waits, listed, marked and removed; nothing else of the table.
    const store = statements.find((s) => [s.Action].flat().includes('dynamodb:Query'));
    expect(store).toMatchObject({
      Action: ['dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [OPEN_CADO_PIPELINES_PK] } },
    });
    expect(actions).not.toContain('dynamodb:PutItem');
    expect(actions).not.toContain('dynamodb:GetItem');
    expect(actions).toEqual(expect.arrayContaining(['states:SendTaskSuccess', 'states:SendTaskFailure']));
    const answered = statements.find((s) => [s.Action].flat().includes('states:SendTaskSuccess'));
    expect(JSON.stringify(answered?.Resource)).toContain('WorkflowStateMachine');
    expect(JSON.stringify(answered?.Resource)).toContain('HandOffRerunStateMachine');
    expect(
      actions.some((a) => a.startsWith('s3:') || a.startsWith('events:') || a === 'states:StartExecution'),
    ).toBe(false);
    const text = JSON.stringify(statements);
    expect(text).toContain('ApiSecretsCadoApiKey');
    expect(text).not.toContain('ApiSecretsS1ApiToken');
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    expect(outputs.CadoWebhookUrl).toBeDefined();
    expect(outputs.CadoWebhookSecretArn).toBeDefined();
  });

  it('reports no cdk-nag AwsSolutions violations when enabled', () => {
    const { app } = build({ cadoWebhookEnabled: true });
    app.synth();
    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
  });
});
