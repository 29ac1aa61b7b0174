import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { TASK_WATCHDOG_SLACK_SECONDS } from '../../lib/constructs/investigation-workflow';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { extractStateMachine } from '../../local/asl/extract';
import { appFactory, exampleConfig } from './helpers';

type State = Record<string, unknown> & {
  Type: string;
  Retry?: { ErrorEquals: string[]; [k: string]: unknown }[];
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
};

const apps = appFactory();
let template: Template;
let states: Record<string, State>;
let agentStates: Record<string, State>;
let mapState: State;
let definition: { StartAt: string };

beforeAll(() => {
  const app = apps.app({ s1cado: exampleConfig({ maxConcurrentAgents: 7 }) });
  const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
  template = Template.fromStack(stack);
  const logicalId = Stack.of(stack).getLogicalId(
    stack.workflow.stateMachine.node.defaultChild as CfnStateMachine,
  );
  // The rendered definition, resolved to plain ASL the way the local runner sees it (no escaped strings in assertions).
  const extracted = extractStateMachine(template.toJSON(), { logicalId });
  definition = extracted.definition as unknown as { StartAt: string };
  states = (extracted.definition as { States: Record<string, State> }).States;
  mapState = states['Collect From Each Agent'] as State;
  agentStates = (mapState.ItemProcessor as { States: Record<string, State> }).States;
});
afterAll(() => apps.cleanup());

/** Statements of every IAM policy attached to the role of the function for `step`. */
function statementsOf(step: string): { Action: string | string[]; Resource: unknown }[] {
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> }
  >;
  const fnEntry = Object.entries(resources).find(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.S1CadoStep === step,
  );
  if (!fnEntry) throw new Error(`no function for ${step}`);
  const roleId = (fnEntry[1].Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === roleId))
    .flatMap(
      (r) =>
        (r.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] })
          .Statement,
    );
}

function actionsOf(step: string): string[] {
  return statementsOf(step).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

describe('InvestigationWorkflow state machine', () => {
  it('logs every execution event to its own log group and traces with X-Ray', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
  });

  it('has an overall timeout', () => {
    const definition = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0];
    expect(definition).toBeDefined();
    expect(JSON.stringify(definition)).toContain('TimeoutSeconds');
  });

  it('retries S1 throttling patiently and S1 transient errors briefly, by name, with backoff and full jitter', () => {
    const names = ['Check Permissions', 'Ensure Scripts'];
    const agentNames = ['Cancel Task', 'Stage Output'];
    for (const retry of [
      ...names.map((n) => states[n]?.Retry),
      ...agentNames.map((n) => agentStates[n]?.Retry),
    ]) {
      // Throttling gets a retrier of its own that waits longest: a burst of investigations shares one S1 token.
      expect(retry?.find((r) => r.ErrorEquals.includes('S1RateLimitedError'))).toMatchObject({
        ErrorEquals: ['S1RateLimitedError'],
        IntervalSeconds: 15,
        BackoffRate: 2,
        MaxAttempts: 12,
        MaxDelaySeconds: 600,
        JitterStrategy: 'FULL',
      });
      expect(retry).toContainEqual(
        expect.objectContaining({
          ErrorEquals: expect.arrayContaining(['S1TransientError']),
          BackoffRate: 2,
          JitterStrategy: 'FULL',
          MaxAttempts: 6,
        }),
      );
    }
    // Run Script retries what provably did nothing (throttling, the coordination store), never an execute whose
    // outcome is unknown: Run Script settles that itself (S1ExecuteOutcomeUnknownError, never retried either).
    const runScriptRetry = agentStates['Run Script']?.Retry ?? [];
    expect(runScriptRetry.find((r) => r.ErrorEquals.includes('S1RateLimitedError'))).toMatchObject({
      ErrorEquals: ['S1RateLimitedError'],
      MaxAttempts: 12,
      JitterStrategy: 'FULL',
    });
    expect(runScriptRetry.flatMap((r) => r.ErrorEquals)).toContain('CoordinationStoreError');
    expect(runScriptRetry.flatMap((r) => r.ErrorEquals)).not.toContain('S1TransientError');
    expect(runScriptRetry.flatMap((r) => r.ErrorEquals)).not.toContain('S1ExecuteOutcomeUnknownError');
    // Business errors (a failed execute, a validation error) are never retried.
    const retried = Object.values(agentStates).flatMap((s) => (s.Retry ?? []).flatMap((r) => r.ErrorEquals));
    expect(retried).not.toContain('S1ExecutionNotStartedError');
    expect(retried).not.toContain('InputValidationError');
    expect(retried).not.toContain('States.ALL');
  });

  it('retries staging on download interruptions, expired links and a lagging result file', () => {
    expect(agentStates['Stage Output']?.Retry).toContainEqual(
      expect.objectContaining({
        ErrorEquals: expect.arrayContaining([
          'DownloadInterruptedError',
          'DownloadLinkExpiredError',
          'ResultNotAvailableError',
        ]),
      }),
    );
  });

  it('retries Cado calls on Cado throttling and transient errors', () => {
    for (const name of ['Hand To Cado', 'Check Cado']) {
      expect(
        agentStates[name]?.Retry?.find((r) => r.ErrorEquals.includes('CadoRateLimitedError')),
      ).toMatchObject({
        ErrorEquals: ['CadoRateLimitedError'],
        MaxAttempts: 12,
      });
      expect(agentStates[name]?.Retry).toContainEqual(
        expect.objectContaining({ ErrorEquals: ['CadoTransientError'] }),
      );
    }
  });

  it('catches per agent: collection failures keep the state, hand-off failures keep the evidence', () => {
    for (const name of ['Stage Output', 'Verify Evidence']) {
      expect(agentStates[name]?.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], Next: 'Collection Failed', ResultPath: '$.error' },
      ]);
    }
    // Run Script's watchdog (no Task Watcher answered) is a passed deadline; any other failure a failed collection.
    expect(agentStates['Run Script']?.Catch).toEqual([
      { ErrorEquals: ['States.Timeout'], Next: 'Watchdog Fired', ResultPath: '$.watchdog' },
      { ErrorEquals: ['States.ALL'], Next: 'Collection Failed', ResultPath: '$.error' },
    ]);
    for (const name of ['Hand To Cado', 'Check Cado']) {
      expect(agentStates[name]?.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], Next: 'Hand-Off Failed', ResultPath: '$.handoffError' },
      ]);
    }
    expect(agentStates['Cancel Task']?.Catch?.[0]).toMatchObject({ Next: 'Collection Timed Out' });
  });

  it('waits for the Cado pipeline with a task token and a watchdog that ends the hand-off failed', () => {
    expect(agentStates['Hand To Cado']?.Next).toBe('Wait For Cado');
    expect(agentStates['Wait For Cado']).toMatchObject({
      Type: 'Task',
      Resource: expect.stringMatching(/:states:::lambda:invoke\.waitForTaskToken"?/),
      Parameters: {
        Payload: {
          'followed.$': '$',
          'executionName.$': '$$.Execution.Name',
          'taskToken.$': '$$.Task.Token',
        },
      },
      // The hand-off deadline (cadoHandoffTimeoutSeconds, 6 h by default) plus the watchdog slack.
      TimeoutSeconds: 21_600 + 600,
      Next: 'Cado Finished?',
    });
    expect(JSON.stringify(agentStates['Wait For Cado']?.Parameters)).toContain('WorkflowCheckCado');
    expect(agentStates['Wait For Cado']?.Catch).toEqual([
      { ErrorEquals: ['States.Timeout'], Next: 'Cado Watchdog Fired', ResultPath: '$.watchdog' },
      { ErrorEquals: ['States.ALL'], Next: 'Hand-Off Failed', ResultPath: '$.handoffError' },
    ]);
    expect(agentStates['Cado Watchdog Fired']).toMatchObject({
      Type: 'Pass',
      Parameters: { Error: 'CadoWatchdogFired' },
      ResultPath: '$.handoffError',
      Next: 'Hand-Off Failed',
    });
    // Resumed still running only to import once more in the other file_name layout (Check Cado), then waits again.
    expect(agentStates['Cado Finished?']).toMatchObject({
      Choices: [{ Variable: '$.cado.phase', StringEquals: 'running', Next: 'Check Cado' }],
      Default: 'Agent Finished',
    });
    expect(agentStates['Check Cado']?.Next).toBe('Cado Re-Imported?');
    expect(agentStates['Cado Re-Imported?']).toMatchObject({
      Choices: [{ Variable: '$.cado.phase', StringEquals: 'running', Next: 'Wait For Cado' }],
      Default: 'Agent Finished',
    });
    // No Wait state is left in the hand-off: nothing polls per execution.
    expect(Object.values(agentStates).filter((state) => state.Type === 'Wait')).toEqual([]);
  });

  it("sizes Run Script's watchdog for the longest profile runtime, not only triage's", () => {
    const watchdogOf = (s1cado: Record<string, unknown>) => {
      const app = apps.app({ s1cado });
      const config = loadConfig(app.node);
      const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config });
      const logicalId = Stack.of(stack).getLogicalId(
        stack.workflow.stateMachine.node.defaultChild as CfnStateMachine,
      );
      const asl = extractStateMachine(Template.fromStack(stack).toJSON(), { logicalId }).definition as {
        States: Record<string, State>;
      };
      const map = asl.States['Collect From Each Agent'] as State;
      const perAgent = (map.ItemProcessor as { States: Record<string, State> }).States;
      return { timeout: perAgent['Run Script']?.TimeoutSeconds, grace: config.taskGraceSeconds };
    };
    // Defaults: full and memory run up to an hour, longer than triage's runtime.
    const defaults = watchdogOf(exampleConfig({}));
    expect(defaults.timeout).toBe(3600 + defaults.grace + TASK_WATCHDOG_SLACK_SECONDS);
    const configured = watchdogOf(
      exampleConfig({ collectionProfiles: { budgets: { memory: { runtimeTimeoutSeconds: 7200 } } } }),
    );
    expect(configured.timeout).toBe(7200 + configured.grace + TASK_WATCHDOG_SLACK_SECONDS);
  });

  it('waits for the task with a task token and a watchdog; a passed deadline or the watchdog goes to Cancel Task', () => {
    // The Task Watcher resumes Run Script with the checked task: no Wait/Check loop per investigation.
    expect(agentStates['Wait For Task']).toBeUndefined();
    expect(agentStates['Check Task']).toBeUndefined();
    expect(agentStates['Run Script']).toMatchObject({
      Resource: expect.stringMatching(/:states:::lambda:invoke\.waitForTaskToken"?/),
      Parameters: {
        Payload: {
          'investigation.$': '$.investigation',
          'target.$': '$.target',
          'taskToken.$': '$$.Task.Token',
        },
      },
      // Task deadline (runtime + grace, from the local config of this test) plus the watchdog slack.
      TimeoutSeconds: expect.any(Number),
    });
    expect(agentStates['Run Script']?.Next).toBe('Task Finished?');
    expect(agentStates['Watchdog Fired']).toMatchObject({
      Type: 'Pass',
      Parameters: { phase: 'deadline' },
      ResultPath: '$.task',
      Next: 'Cancel Task',
    });
    const choices = (agentStates['Task Finished?']?.Choices ?? []) as {
      Variable: string;
      StringEquals: string;
      Next: string;
    }[];
    expect(choices).toContainEqual({
      Variable: '$.task.phase',
      StringEquals: 'deadline',
      Next: 'Cancel Task',
    });
    expect(choices).toContainEqual({
      Variable: '$.task.phase',
      StringEquals: 'completed',
      Next: 'Uploaded Directly?',
    });
    expect(agentStates['Task Finished?']?.Default).toBe('Collection Failed');
    // A direct upload is completed from what S3 holds; otherwise the S1 result is staged.
    expect(agentStates['Uploaded Directly?']).toMatchObject({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.upload', IsPresent: true },
            { Variable: '$.upload', IsNull: false },
          ],
          Next: 'Complete Upload',
        },
      ],
      Default: 'Stage Output',
    });
    expect(agentStates['Complete Upload']?.Next).toBe('Verify Evidence');
    expect(agentStates['Prepare Upload']?.Next).toBe('Run Script');
  });

  it('runs agents in a Map bounded by maxConcurrentAgents', () => {
    expect(mapState).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.targets',
      MaxConcurrency: 7,
      ResultPath: '$.results',
    });
  });

  it('wraps the execution input as sent, then runs the permission preflight, resolves targets and ensures scripts', () => {
    expect(definition.StartAt).toBe('Receive Input');
    // From the context object, so that null, a scalar or an array reaches Check Permissions and a Catch can add to it.
    expect(states['Receive Input']).toMatchObject({
      Type: 'Pass',
      Parameters: { 'input.$': '$$.Execution.Input' },
      Next: 'Check Permissions',
    });
    expect(states['Check Permissions']).toMatchObject({
      Parameters: { 'input.$': '$.input' },
    });
    expect(states['Check Permissions']?.Next).toBe('Resolve Targets');
    expect(states['Resolve Targets']?.Next).toBe('Collection Mode?');
    // The default mode ensures the collector scripts; cado-xdr runs nothing of ours on the endpoint.
    const mode = states['Collection Mode?'] as unknown as {
      Choices: { And: { Variable: string; IsPresent?: boolean; StringEquals?: string }[]; Next: string }[];
      Default: string;
    };
    expect(mode.Default).toBe('Ensure Scripts');
    expect(mode.Choices).toEqual([
      {
        And: [
          { Variable: '$.investigation.collectionMode', IsPresent: true },
          { Variable: '$.investigation.collectionMode', StringEquals: 'cado-xdr' },
        ],
        Next: 'Collect From Each Agent',
      },
    ]);
    expect(states['Ensure Scripts']?.Next).toBe('Collect From Each Agent');
  });

  it('in collection mode cado-xdr, each agent goes from the XDR import straight to the Cado wait', () => {
    const map = states['Collect From Each Agent'] as unknown as {
      ItemProcessor: { StartAt: string; States: Record<string, Record<string, unknown>> };
    };
    const agent = map.ItemProcessor.States;
    expect(map.ItemProcessor.StartAt).toBe('Agent Collection Mode?');
    expect(agent['Agent Collection Mode?']).toMatchObject({ Default: 'Prepare Upload' });
    expect(JSON.stringify(agent['Agent Collection Mode?'])).toContain('"Next":"Import From XDR"');
    expect(agent['Import From XDR']).toMatchObject({ Next: 'Wait For Cado' });
    const xdrCatch = agent['Import From XDR']?.Catch as { Next: string; ResultPath: string }[];
    expect(xdrCatch).toEqual([
      expect.objectContaining({ Next: 'Hand-Off Failed', ResultPath: '$.handoffError' }),
    ]);
    // The same Lambda as Hand To Cado: one function holds both hand-offs and their import intents.
    expect(
      JSON.stringify(agent['Import From XDR']?.Resource ?? agent['Import From XDR']?.Parameters),
    ).toEqual(JSON.stringify(agent['Hand To Cado']?.Resource ?? agent['Hand To Cado']?.Parameters));
  });

  it("records the outcome whatever happened before, then fails with the outcome's error name", () => {
    for (const name of [
      'Resolve Targets',
      'Check Permissions',
      'Ensure Scripts',
      'Collect From Each Agent',
    ]) {
      expect(states[name]?.Catch).toContainEqual({
        ErrorEquals: ['States.ALL'],
        Next: 'Record Outcome',
        ResultPath: '$.error',
      });
    }
    expect(states['Investigation Failed']).toMatchObject({
      Type: 'Fail',
      ErrorPath: '$.outcome.errorName',
      CausePath: '$.outcome.summary',
    });
  });

  it('uses JSONPath only', () => {
    expect(JSON.stringify(states)).not.toMatch(/JSONata/i);
  });
});

describe('InvestigationWorkflow Lambdas: least privilege', () => {
  it('only S1-facing functions read the S1 token, only Cado-facing ones the Cado key', () => {
    // Record Outcome reads the S1 token to add the evidence record to the threat as a note, nothing else of S1.
    for (const step of ['ensure-scripts', 'run-script', 'cancel-task', 'stage-output', 'record-outcome']) {
      const text = JSON.stringify(statementsOf(step));
      expect(text, step).toContain('ApiSecretsS1ApiToken');
      expect(text, step).not.toContain('ApiSecretsCadoApiKey');
    }
    for (const step of ['hand-to-cado', 'check-cado']) {
      const text = JSON.stringify(statementsOf(step));
      expect(text, step).toContain('ApiSecretsCadoApiKey');
      expect(text, step).not.toContain('ApiSecretsS1ApiToken');
    }
    // Resolve Targets decides on the agent records Check Permissions read: it calls nothing, and retries no S1 error.
    expect(JSON.stringify(statementsOf('resolve-targets'))).not.toMatch(/ApiSecrets/);
    expect(JSON.stringify(states['Resolve Targets']?.Retry ?? [])).not.toMatch(/S1/);
  });

  it('only the steps that write evidence or records touch S3, and only under investigations/', () => {
    for (const step of ['resolve-targets', 'ensure-scripts', 'cancel-task', 'check-cado']) {
      expect(
        actionsOf(step).some((a) => a.startsWith('s3:')),
        step,
      ).toBe(false);
    }
    for (const step of ['stage-output', 'run-script', 'record-outcome']) {
      expect(actionsOf(step), step).toContain('s3:PutObject');
      const objectResources = JSON.stringify(
        statementsOf(step).filter((s) => JSON.stringify(s.Action).includes('s3:PutObject')),
      );
      expect(objectResources).toContain('/investigations/');
      expect(objectResources).not.toContain('/audits/*');
    }
  });

  it('each step may put only the keys it owns: task record, evidence + first manifest, final manifest + case file', () => {
    /** The key patterns (after the bucket ARN) on which `step` has s3:PutObject. */
    const putKeys = (step: string) =>
      statementsOf(step)
        .filter((s) => JSON.stringify(s.Action).includes('s3:PutObject'))
        .flatMap((s) => JSON.stringify(s.Resource).match(/\/investigations\/[^"]*/g) ?? [])
        .sort();
    expect(putKeys('run-script')).toEqual(['/investigations/*/task.json']);
    expect(putKeys('stage-output')).toEqual(['/investigations/*/*/*/*']);
    expect(putKeys('verify-evidence')).toEqual(['/investigations/*/*/*/verification.json']);
    expect(putKeys('record-outcome')).toEqual([
      '/investigations/*/*/*/manifest.json',
      '/investigations/*/*/*/manifest.signature.json',
      '/investigations/*/case.json',
      '/investigations/*/case.md',
    ]);
    // Hand To Cado reads the key's current version before the import, and writes nothing.
    expect(actionsOf('hand-to-cado')).toContain('s3:GetObject');
    expect(actionsOf('hand-to-cado').filter((a) => /^s3:(Put|Delete|Abort)/.test(a))).toEqual([]);
  });

  it('never grants deletes on evidence', () => {
    for (const step of ['stage-output', 'run-script', 'record-outcome']) {
      expect(
        actionsOf(step).filter((a) =>
          /^s3:(DeleteObject|PutBucket|PutObjectRetention|BypassGovernance)/.test(a),
        ),
        step,
      ).toEqual([]);
    }
  });

  it('gives staging the longest timeout and more memory, the others short timeouts', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      MemorySize: 1024,
      Environment: {
        Variables: Match.objectLike({
          DOWNLOAD_ALLOWED_HOSTS: '{region}-prod-remote-scripts-uploads.s3.{region}.amazonaws.com',
          // The size cap of the config (default: twice the collectors' budget), under the contract's name.
          MAX_RESULT_BYTES: String(1024 * 1024 * 1024),
          // A small young generation keeps staging's memory flat (measured by the bench).
          NODE_OPTIONS: '--max-semi-space-size=2',
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 60,
      Environment: { Variables: Match.objectLike({ CADO_PROJECT_MODE: 'per-threat' }) },
    });
  });
});

describe('Task Watcher', () => {
  it('runs every minute, one at a time, on the smallest memory, with a timeout past its minute of passes', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (r) => r.Metadata?.S1CadoStep === 'watch-tasks',
    );
    expect(fn?.Properties).toMatchObject({ ReservedConcurrentExecutions: 1, MemorySize: 128, Timeout: 90 });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }) })],
    });
  });

  it('may answer task tokens of the investigation, list the open waits and read the S1 token and Cado key', () => {
    const actions = actionsOf('watch-tasks');
    expect(actions).toEqual(expect.arrayContaining(['states:SendTaskSuccess', 'states:SendTaskFailure']));
    expect(actions).toContain('dynamodb:Query');
    // It sends the queued executes and records each agent's attempts: S3 writes only to the task records.
    const s3Writes = statementsOf('watch-tasks').filter((s) =>
      (Array.isArray(s.Action) ? s.Action : [s.Action]).some((a) => /^s3:(Put|Delete)/.test(a)),
    );
    expect(s3Writes.length).toBeGreaterThan(0);
    for (const statement of s3Writes) {
      expect(statement.Action).toEqual('s3:PutObject');
      expect(JSON.stringify(statement.Resource)).toMatch(/\/investigations\/\*\/task\.json"\]/);
    }
    const text = JSON.stringify(statementsOf('watch-tasks'));
    expect(text).toContain('ApiSecretsS1ApiToken');
    // Its Cado pass asks Cado about the open pipelines (reads only: it never imports, see check-cado's lookAtPipeline).
    expect(text).toContain('ApiSecretsCadoApiKey');
    // Only Run Script's own function is invoked with a token; the watcher never starts executions.
    expect(actions).not.toContain('states:StartExecution');
  });

  it('is woken by Run Script only (an asynchronous invoke of its own ARN), and drops a wake-up it cannot take', () => {
    const invokes = statementsOf('run-script').filter((s) =>
      (Array.isArray(s.Action) ? s.Action : [s.Action]).includes('lambda:InvokeFunction'),
    );
    expect(invokes).toHaveLength(1);
    expect(JSON.stringify(invokes[0]?.Resource)).toContain('TaskWatcherFunction');
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });
});
