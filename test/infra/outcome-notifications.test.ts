import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import type { TaskFunction } from '../../lib/constructs/task-function';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { appFactory, exampleConfig } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

function build(s1cado = exampleConfig()) {
  const app = apps.app({ s1cado });
  const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  const id = (c: { node: { defaultChild?: unknown } }) =>
    Stack.of(stack).getLogicalId(c.node.defaultChild as never);
  return { stack, template: Template.fromStack(stack), id };
}

describe('OutcomeNotifications', () => {
  it('lets Record Outcome put events on the bus, and notifies the topic of the chosen outcomes with a summary', () => {
    const { stack, template, id } = build(
      exampleConfig({ notifyOutcomes: ['failed', 'staged_handoff_failed'] }),
    );
    const recordOutcome = stack.workflow.functions['record-outcome'] as TaskFunction;
    const fn = template.findResources('AWS::Lambda::Function')[id(recordOutcome)];
    expect(fn?.Properties.Environment.Variables.OUTCOME_BUS_NAME).toEqual({ Ref: id(stack.intake.bus) });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: id(recordOutcome.executionRole) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'events:PutEvents',
            Resource: { 'Fn::GetAtt': [id(stack.intake.bus), 'Arn'] },
          }),
        ]),
      },
    });
    const rule = stack.outcomes.rule;
    if (!rule) throw new Error('no rule');
    const props = template.findResources('AWS::Events::Rule')[id(rule)]?.Properties;
    expect(props.EventPattern).toEqual({
      source: ['s1cado.investigation'],
      'detail-type': ['Investigation Failed', 'Investigation HandOffFailed'],
    });
    expect(props.EventBusName).toEqual({ Ref: id(stack.intake.bus) });
    const [target] = props.Targets;
    expect(target.Arn).toEqual({ Ref: id(stack.monitoring.topic) });
    expect(target.RoleArn).toBeDefined();
    expect(target.InputTransformer.InputPathsMap).toMatchObject({
      'detail-investigationId': '$.detail.investigationId',
      'detail-status': '$.detail.status',
      'detail-reportUri': '$.detail.reportUri',
    });
    expect(target.InputTransformer.InputTemplate).toContain('Case report: <detail-reportUri>');
    expect(target.InputTransformer.InputTemplate).toContain('Next: <detail-nextStep>');
  });

  it('without outcomes to notify, events are still put, and no rule exists', () => {
    const { stack } = build(exampleConfig({ notifyOutcomes: [] }));
    expect(stack.outcomes.rule).toBeUndefined();
  });

  it('passes threatUpdate to Record Outcome only when configured, and refuses a status S1 has not', () => {
    const envOf = (built: ReturnType<typeof build>) => {
      const fn = built.stack.workflow.functions['record-outcome'] as TaskFunction;
      return built.template.findResources('AWS::Lambda::Function')[built.id(fn)]?.Properties.Environment
        .Variables;
    };
    expect(envOf(build())).not.toHaveProperty('THREAT_UPDATE');
    const update = { incidentStatus: 'resolved', analystVerdict: 'true_positive' } as const;
    expect(JSON.parse(envOf(build(exampleConfig({ threatUpdate: update }))).THREAT_UPDATE)).toEqual(update);
    expect(() => build(exampleConfig({ threatUpdate: { incidentStatus: 'closed' } as never }))).toThrow(
      /threatUpdate/,
    );
  });

  it('refuses an unknown outcome in the config, naming the choices', () => {
    expect(() => build(exampleConfig({ notifyOutcomes: ['done'] as never }))).toThrow(
      /notifyOutcomes.*complete, partial/s,
    );
  });
});
