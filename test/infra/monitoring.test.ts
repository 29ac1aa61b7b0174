import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { WORKFLOW_METRICS } from '../../lib/constructs/monitoring';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { appFactory } from './helpers';

const apps = appFactory();
let stack: S1CadoForensicsStack;
let template: Template;
let topicRef: { Ref: string };

beforeAll(() => {
  const app = apps.app();
  stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  template = Template.fromStack(stack);
  topicRef = { Ref: Stack.of(stack).getLogicalId(stack.monitoring.topic.node.defaultChild as never) };
});
afterAll(() => apps.cleanup());

function ref(construct: { node: { defaultChild?: unknown } }): { Ref: string } {
  return { Ref: Stack.of(stack).getLogicalId(construct.node.defaultChild as never) };
}

/** The dashboard body with its intrinsics flattened to text (placeholders for tokens). */
function dashboardBody(): string {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0]?.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  return body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
}

describe('Monitoring: alarms to the notification topic', () => {
  it.each(
    ['Investigation', 'HandOffRerun'].flatMap((machine) =>
      [
        ['ExecutionsFailed', 'failed'],
        ['ExecutionsTimedOut', 'timed out'],
        ['ExecutionsAborted', 'was stopped'],
      ].map(([metricName, words]) => [metricName, machine, words] as const),
    ),
  )('alarms on %s of the %s state machine, ALARM and OK to the topic', (metricName, machine, words) => {
    const stateMachine =
      machine === 'Investigation' ? stack.workflow.stateMachine : stack.handoffRerun.stateMachine;
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: metricName,
      Dimensions: [{ Name: 'StateMachineArn', Value: ref(stateMachine) }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef],
      OKActions: [topicRef],
      AlarmDescription: Match.stringLikeRegexp(`${machine} state machine ${words}`),
    });
  });

  it('alarms on Stage Output errors', () => {
    const staging = stack.workflow.functions['stage-output'];
    expect(staging).toBeDefined();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: ref(staging as never) }],
      Threshold: 1,
      AlarmActions: [topicRef],
      OKActions: [topicRef],
    });
  });

  it('every alarm of the stack notifies the topic', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // audit (2) + intake poller and dead letters (2) + failed/timed out/aborted of two machines (6) + staging (1)
    expect(alarms.length).toBe(11);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([topicRef]);
    expect(stack.monitoring.alarms).toHaveLength(11);
  });
});

describe('Monitoring: S1 and Cado refusals from the logs', () => {
  it('counts 429 retries in the log group of every Lambda that calls S1 or Cado, by remote service', () => {
    const filters = template.findResources('AWS::Logs::MetricFilter');
    const logGroups = Object.values(filters).map((f) => f.Properties.LogGroupName);
    for (const step of ['run-script', 'stage-output', 'hand-to-cado', 'check-cado', 'poll-threats']) {
      const fn = stack.workflow.functions[step] ?? stack.intake.functions[step];
      expect(fn, step).toBeDefined();
      expect(logGroups, step).toContainEqual(ref(fn?.taskLogGroup as never));
    }
    expect(logGroups).toContainEqual(ref(stack.audit.function.taskLogGroup as never));
    expect(logGroups).toContainEqual(ref(stack.workflow.taskWatcher.function.taskLogGroup as never));
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ ($.message = "Request failed; retrying") && ($.status = 429) }',
      MetricTransformations: [
        {
          MetricNamespace: 'S1CadoForensics',
          MetricName: WORKFLOW_METRICS.throttled,
          MetricValue: '1',
          Dimensions: [{ Key: 'RemoteService', Value: '$.remoteService' }],
        },
      ],
    });
  });
});

describe('Monitoring: the dashboard', () => {
  it('shows investigations by outcome, durations, bytes staged, refusals, open tasks, audit status and alarms', () => {
    const body = dashboardBody();
    for (const outcome of ['complete', 'partial', 'staged_handoff_failed', 'failed']) {
      expect(body).toContain(`"${WORKFLOW_METRICS.investigations}","Outcome","${outcome}"`);
    }
    for (const p of ['p50', 'p90', 'p99']) expect(body).toMatch(new RegExp(`"ExecutionTime".*"stat":"${p}"`));
    expect(body).toContain(`"${WORKFLOW_METRICS.stagedBytes}","service","s1-cado-forensics"`);
    expect(body).toContain(`"${WORKFLOW_METRICS.throttled}","RemoteService","S1"`);
    expect(body).toContain('RUNNING_SUM(started - closed)');
    expect(body).toContain(`"${WORKFLOW_METRICS.tasksStarted}"`);
    expect(body).toContain(`"${WORKFLOW_METRICS.tasksClosed}"`);
    expect(body).toContain('"AuditChecks","Status","fail","service","s1-cado-forensics"');
    expect(body).toContain('"type":"alarm"');
    // The alarm widget lists every alarm of the stack, those of the other constructs included.
    const alarmWidget = body.slice(body.indexOf('"type":"alarm"'));
    expect(alarmWidget.match(/"Fn::GetAtt":\["[A-Za-z0-9]+","Arn"\]/g)).toHaveLength(11);
    expect(alarmWidget).toContain('PermissionAuditFailedChecksAlarm');
  });

  it('is named in the stack outputs', () => {
    template.hasOutput('DashboardName', { Value: Match.anyValue() });
  });
});

describe('Monitoring: the topic key', () => {
  it("lets CloudWatch and EventBridge use the key only for this account's alarms and rules", () => {
    const keyId = Stack.of(stack).getLogicalId(stack.monitoring.key.node.defaultChild as never);
    const key = template.findResources('AWS::KMS::Key')[keyId];
    const statements = key?.Properties.KeyPolicy.Statement as Array<Record<string, unknown>>;
    const services = statements.filter(
      (st) => typeof (st.Principal as { Service?: unknown }).Service === 'string',
    );
    expect(services.map((st) => (st.Principal as { Service: string }).Service).sort()).toEqual([
      'cloudwatch.amazonaws.com',
      'events.amazonaws.com',
    ]);
    for (const st of services) {
      const service = (st.Principal as { Service: string }).Service.split('.')[0];
      const conditions = st.Condition as Record<string, Record<string, unknown>>;
      expect(conditions.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
      const sourceArn = JSON.stringify(conditions.ArnLike?.['aws:SourceArn']);
      expect(sourceArn).toContain(`:${service}:`);
      expect(sourceArn).toContain(service === 'cloudwatch' ? ':alarm:*' : ':rule/*');
      expect(sourceArn).toContain('AWS::AccountId');
      expect(st.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    }
  });
});
