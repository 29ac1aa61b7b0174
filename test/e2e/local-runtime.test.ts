import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTimeScale } from '../../lambdas/shared/clock';
import { type AslDefinition, assertRunnableLocally } from '../../local/asl/definition';
import {
  DuplicateStateNameError,
  JsonataNotSupportedError,
  LocalExecutionAbortedError,
  LocalExecutionFailedError,
  StatesDataLimitExceededError,
  TemplateResolutionError,
  UnboundTaskError,
  UnresolvedEnvironmentError,
  UnsupportedAslFeatureError,
  UnsupportedIntrinsicError,
} from '../../local/asl/errors';
import { type ExtractedStateMachine, extractStateMachine } from '../../local/asl/extract';
import { formatEvent } from '../../local/asl/progress';
import {
  createLocalStateMachine,
  handlersFromDirectory,
  type LocalEvent,
  type LocalStateMachine,
  stepsOf,
} from '../../local/asl/runner';
import {
  FIXTURE_HANDLERS,
  type FixtureTemplates,
  synthFixtureTemplates,
} from '../fixtures/local-runtime/stack';

let templates: FixtureTemplates;
let main: ExtractedStateMachine;
let probe: ExtractedStateMachine;

function logicalIdOf(template: Record<string, unknown>, prefix: string): string {
  const resources = template.Resources as Record<string, { Type: string }>;
  const id = Object.keys(resources).find(
    (key) => key.startsWith(prefix) && resources[key]?.Type.includes('StateMachine'),
  );
  if (!id) throw new Error(`no state machine ${prefix}`);
  return id;
}

function handlersFor(extracted: ExtractedStateMachine) {
  return handlersFromDirectory(FIXTURE_HANDLERS, stepsOf(extracted.functions));
}

const mainInput = (runId: string, items: unknown[]) => ({
  runId,
  name: 'Ada',
  tags: ['a', 'b', 'a'],
  base: 41,
  items,
});

async function collect(events: AsyncIterable<LocalEvent>): Promise<LocalEvent[]> {
  const all: LocalEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

beforeAll(() => {
  templates = synthFixtureTemplates();
  main = extractStateMachine(templates.workflow, { logicalId: logicalIdOf(templates.workflow, 'Main') });
  probe = extractStateMachine(templates.workflow, {
    logicalId: logicalIdOf(templates.workflow, 'ProbeMachine'),
  });
});

describe('extractStateMachine', () => {
  it('turns the synthesized DefinitionString into plain ASL bound to recognisable function ARNs', () => {
    const text = JSON.stringify(main.definition);
    expect(text).not.toMatch(/Fn::|"Ref"/);
    const states = main.definition.States;
    expect(states['Start Job']?.Resource).toMatch(
      /^arn:aws:lambda:us-east-1:000000000000:function:StartJobFn/,
    );
    // The full lambda:invoke integration keeps its shape, with the function named in Parameters.
    expect(states.Summarize?.Resource).toBe('arn:aws:states:::lambda:invoke');
    const summarizeParams = states.Summarize?.Parameters as { FunctionName: string };
    expect(main.functions.get(summarizeParams.FunctionName)?.step).toBe('summarize');
    const processor = states['Process Items']?.ItemProcessor as AslDefinition;
    const itemFn = main.functions.get(processor.States['Process Item']?.Resource as string);
    expect(itemFn).toMatchObject({ step: 'process-item', timeoutSeconds: 30, memorySize: 256 });
  });

  it('keeps plain environment values and flags the ones that point at other resources', () => {
    const fn = [...probe.functions.values()].find((candidate) => candidate.step === 'probe');
    expect(fn?.environment.PLAIN).toBe('plain-value');
    expect(fn?.unresolvedEnvironment).toEqual(['JOB_BUCKET']);
    expect(fn?.timeoutSeconds).toBe(1);
  });

  it('asks which state machine when the template holds several', () => {
    expect(() => extractStateMachine(templates.workflow)).toThrow(TemplateResolutionError);
    expect(() => extractStateMachine(templates.workflow)).toThrow(/Main.*ProbeMachine|ProbeMachine.*Main/);
  });

  it('fails loudly on an intrinsic it does not know', () => {
    const template = structuredClone(templates.workflow);
    const id = logicalIdOf(template, 'Main');
    const props = (
      template.Resources as Record<
        string,
        { Properties: { DefinitionString: { 'Fn::Join': [string, unknown[]] } } }
      >
    )[id]?.Properties;
    props?.DefinitionString['Fn::Join'][1].push({ 'Fn::ImportValue': 'SomethingElse' });
    expect(() => extractStateMachine(template, { logicalId: id })).toThrow(UnsupportedIntrinsicError);
    expect(() => extractStateMachine(template, { logicalId: id })).toThrow(/Fn::ImportValue/);
  });

  it('refuses a definition that declares JSONata', () => {
    expect(() => extractStateMachine(templates.jsonata)).toThrow(JsonataNotSupportedError);
  });

  it('applies DefinitionSubstitutions and Fn::Sub', () => {
    const template = {
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', Properties: { Timeout: 10 }, Metadata: { S1CadoStep: 'x' } },
        Topic: { Type: 'AWS::SNS::Topic' },
        Machine: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: {
            DefinitionString:
              // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation substitution syntax
              '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${fn}","Next":"B"},"B":{"Type":"Pass","Result":"${topic}","End":true}}}',
            DefinitionSubstitutions: {
              fn: { 'Fn::GetAtt': ['Fn', 'Arn'] },
              // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation substitution syntax
              topic: { 'Fn::Sub': 'topic=${Topic} in ${AWS::Region}' },
            },
          },
        },
      },
    };
    const extracted = extractStateMachine(template, { region: 'eu-west-1', accountId: '111111111111' });
    expect(extracted.definition.States.A?.Resource).toBe('arn:aws:lambda:eu-west-1:111111111111:function:Fn');
    expect(extracted.definition.States.B?.Result).toBe(
      'topic=arn:aws:sns:eu-west-1:111111111111:Topic in eu-west-1',
    );
    expect(extracted.functions.get('arn:aws:lambda:eu-west-1:111111111111:function:Fn')?.step).toBe('x');
  });
});

describe('definition checks', () => {
  const task = { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:F', End: true };

  it('refuses JSONata declared on a state nested in a Map', () => {
    const definition: AslDefinition = {
      StartAt: 'M',
      States: {
        M: {
          Type: 'Map',
          End: true,
          ItemProcessor: {
            StartAt: 'P',
            States: { P: { Type: 'Pass', QueryLanguage: 'JSONata', End: true } },
          },
        },
      },
    };
    expect(() => assertRunnableLocally(definition)).toThrow(JsonataNotSupportedError);
  });

  it.each([
    ['workflow variables', { StartAt: 'P', States: { P: { Type: 'Pass', Assign: { x: 1 }, End: true } } }],
    [
      'a .sync integration',
      { StartAt: 'T', States: { T: { ...task, Resource: 'arn:aws:states:::states:startExecution.sync:2' } } },
    ],
    [
      'a Distributed Map',
      {
        StartAt: 'M',
        States: {
          M: {
            Type: 'Map',
            End: true,
            ItemProcessor: {
              ProcessorConfig: { Mode: 'DISTRIBUTED' },
              StartAt: 'P',
              States: { P: { Type: 'Pass', End: true } },
            },
          },
        },
      },
    ],
  ])('refuses %s', (_label, definition) => {
    expect(() => assertRunnableLocally(definition as AslDefinition)).toThrow(UnsupportedAslFeatureError);
  });

  it('refuses state names repeated across Parallel branches', () => {
    const definition: AslDefinition = {
      StartAt: 'Par',
      States: {
        Par: {
          Type: 'Parallel',
          End: true,
          Branches: [
            { StartAt: 'Same', States: { Same: task } },
            { StartAt: 'Same', States: { Same: task } },
          ],
        },
      },
    };
    expect(() =>
      createLocalStateMachine(definition, { handlers: {}, functions: new Map(), validate: false }),
    ).toThrow(DuplicateStateNameError);
  });
});

describe('createLocalStateMachine', () => {
  let mainMachine: LocalStateMachine;
  let probeMachine: LocalStateMachine;

  beforeAll(() => {
    mainMachine = createLocalStateMachine(main.definition, {
      handlers: handlersFor(main),
      functions: main.functions,
      env: { JOB_BUCKET: 'local-jobs' },
      stateMachineArn: main.arn,
    });
    probeMachine = createLocalStateMachine(probe.definition, {
      handlers: handlersFor(probe),
      functions: probe.functions,
      env: { JOB_BUCKET: 'local-jobs' },
    });
  });

  afterAll(() => {
    mainMachine?.dispose();
    probeMachine?.dispose();
  });

  it('runs the synthesized workflow: Choice loop, Map with ItemSelector, Retry and Catch by error name, intrinsics', async () => {
    const restore = useTimeScale(1000);
    try {
      const started = Date.now();
      const execution = mainMachine.run(
        mainInput('happy', [{ id: 'A', transientFailures: 1 }, { id: 'B', fatal: true }, { id: 'C' }]),
        { executionName: 'exec-happy' },
      );
      const output = (await execution.result) as Record<string, unknown>;
      // Two Waits of 2 s and 3 s plus a 1 s retry interval, dilated 1000x.
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(output).toMatchObject({
        greeting: 'hello Ada from exec-happy',
        itemCount: 3,
        uniqueTags: ['a', 'b'],
        next: 42,
        executionId: `${main.arn.replace(':stateMachine:', ':execution:')}:exec-happy`,
        polls: 2,
      });
      expect(output.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const results = output.results as Record<string, unknown>[];
      expect(results[0]).toMatchObject({ id: 'A', index: 0, runId: 'happy', attempt: 2 });
      expect(results[1]).toEqual({ id: 'B', failed: true, error: 'FatalItemError' });
      expect(results[2]).toMatchObject({ id: 'C', index: 2, attempt: 1 });
      expect(Math.max(...results.map((r) => Number(r.concurrent ?? 0)))).toBe(2);
    } finally {
      restore();
    }
  });

  it('counts transitions and invocations, and replays the event log to every reader', async () => {
    const restore = useTimeScale(1000);
    try {
      const execution = mainMachine.run(
        mainInput('counts', [{ id: 'A', transientFailures: 1 }, { id: 'B', fatal: true }, { id: 'C' }]),
        { executionName: 'exec-counts' },
      );
      await execution.result;
      expect(execution.stats).toMatchObject({
        statesEntered: 14,
        retries: 1,
        stateTransitions: 15,
        lambdaInvocations: 8,
        taskInvocations: 8,
        invocationsByStep: { 'start-job': 1, 'check-job': 2, 'process-item': 4, summarize: 1 },
        mapIterations: 3,
        caught: 1,
      });
      const [first, second] = await Promise.all([collect(execution.events), collect(execution.events)]);
      expect(second).toEqual(first);
      const waits = first.filter((e) => e.type === 'StateEntered' && e.state.name === 'Wait For Job');
      expect(waits.map((e) => ('state' in e ? e.state.type : ''))).toEqual(['Wait', 'Wait']);
      const retried = first.find((e) => e.type === 'StateRetried');
      // The retrier as written in the definition, not the time-scaled runtime copy.
      expect(retried?.type === 'StateRetried' && retried.retry.retrier).toMatchObject({
        ErrorEquals: ['TransientError'],
        IntervalSeconds: 1,
      });
      expect(first.at(-1)?.type).toBe('ExecutionSucceeded');
      const lines = first.map(formatEvent).filter((line) => line !== undefined);
      expect(lines).toEqual(
        expect.arrayContaining([
          '→ Wait For Job',
          '↻ Process Item [item 0] retry 1',
          '⤷ Process Item [item 1] caught → Item Failed',
          'execution succeeded',
        ]),
      );
    } finally {
      restore();
    }
  });

  it('fails the execution with the handler error name once retries are exhausted', async () => {
    const restore = useTimeScale(1000);
    try {
      const execution = mainMachine.run(mainInput('exhausted', [{ id: 'X', transientFailures: 5 }]), {
        executionName: 'exec-exhausted',
      });
      const error = await execution.result.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LocalExecutionFailedError);
      const failed = error as LocalExecutionFailedError;
      expect(failed.error).toBe('TransientError');
      expect(JSON.parse(failed.cause)).toMatchObject({
        errorType: 'TransientError',
        errorMessage: 'attempt 3 of X',
      });
      expect(execution.stats.invocationsByState['Process Item']).toBe(3);
    } finally {
      restore();
    }
  });

  it('waits as long as SecondsPath says, in clock time', async () => {
    const slept: number[] = [];
    const machine = createLocalStateMachine(main.definition, {
      handlers: handlersFor(main),
      functions: main.functions,
      env: { JOB_BUCKET: 'local-jobs' },
      validate: false,
      retryIntervalOverrides: { 'Process Item': 0 },
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    try {
      await machine.run(mainInput('waits', [{ id: 'A' }]), { executionName: 'exec-waits' }).result;
      expect(slept).toEqual([2_000, 3_000]);
    } finally {
      machine.dispose();
    }
  });

  it('aborts a run through its signal', async () => {
    const controller = new AbortController();
    const execution = mainMachine.run(mainInput('abort', [{ id: 'A' }]), {
      executionName: 'exec-abort',
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'StateEntered' && event.state.name === 'Wait For Job') controller.abort();
      },
    });
    await expect(execution.result).rejects.toBeInstanceOf(LocalExecutionAbortedError);
    expect(execution.stats.invocationsByStep['check-job']).toBeUndefined();
  });

  it('gives handlers one environment for the run and a realistic Lambda context', async () => {
    const output = (await probeMachine.run({ action: 'env' }, { executionName: 'exec-env' }).result) as {
      env: Record<string, string | null>;
      context: Record<string, unknown>;
    };
    expect(output.env).toEqual({ JOB_BUCKET: 'local-jobs', PLAIN: 'plain-value', CONFLICT: 'probe' });
    expect(output.context.functionName).toMatch(/^ProbeFn/);
    expect(output.context.memoryLimitInMB).toBe('256');
    expect(output.context.remainingMs).toBeGreaterThan(0);
    expect(output.context.remainingMs).toBeLessThanOrEqual(1_000);
    expect(output.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    // Functions of Main disagree on CONFLICT, so one process-wide environment leaves it out.
    expect(mainMachine.envConflicts).toEqual(['CONFLICT']);
    expect(mainMachine.env).not.toHaveProperty('CONFLICT');
  });

  it('reports a handler error under its own name, with the Lambda-style cause, to Catch', async () => {
    const output = (await probeMachine.run({ action: 'fail' }, { executionName: 'exec-fail' }).result) as {
      caught: { Error: string; Cause: string };
    };
    expect(output.caught.Error).toBe('CustomFailure');
    expect(JSON.parse(output.caught.Cause)).toMatchObject({
      errorType: 'CustomFailure',
      errorMessage: 'the probe was asked to fail',
    });
  });

  it('round-trips results through JSON as Lambda does', async () => {
    const output = await probeMachine.run({ action: 'date' }, { executionName: 'exec-date' }).result;
    expect(output).toEqual({ at: '1970-01-01T00:00:00.000Z' });
  });

  it('fails with the terminal States.DataLimitExceeded on a result over 256 KiB, past a States.ALL catch', async () => {
    const execution = probeMachine.run({ action: 'big' }, { executionName: 'exec-big' });
    const error = await execution.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalExecutionFailedError);
    expect((error as LocalExecutionFailedError).error).toBe('States.DataLimitExceeded');
    expect(execution.stats.caught).toBe(0);
    expect(() =>
      probeMachine.run({ blob: 'y'.repeat(300 * 1024) }, { executionName: 'exec-big-input' }),
    ).toThrow(StatesDataLimitExceededError);
  });

  it("enforces the function's timeout as Sandbox.Timedout", async () => {
    const output = (await probeMachine.run({ action: 'slow' }, { executionName: 'exec-slow' }).result) as {
      caught: { Error: string };
    };
    expect(output.caught.Error).toBe('Sandbox.Timedout');
  });

  it('binds the Tasks inside Parallel branches', async () => {
    const output = await probeMachine.run({ action: 'parallel' }, { executionName: 'exec-parallel' }).result;
    expect(output).toEqual([{ branch: 'A' }, { branch: 'B' }]);
    expect(probeMachine.bindings.get('Probe B')).toBe('probe');
  });

  it('refuses to run with a Task left unbound', () => {
    const { summarize: _dropped, ...handlers } = handlersFor(main);
    expect(() =>
      createLocalStateMachine(main.definition, {
        handlers,
        functions: main.functions,
        env: { JOB_BUCKET: 'b' },
      }),
    ).toThrow(UnboundTaskError);
    expect(() =>
      createLocalStateMachine(main.definition, {
        handlers,
        functions: main.functions,
        env: { JOB_BUCKET: 'b' },
      }),
    ).toThrow(/"Summarize".*summarize/);
  });

  it('refuses overrides that name no such state', () => {
    const base = {
      handlers: handlersFor(main),
      functions: main.functions,
      env: { JOB_BUCKET: 'b' },
      validate: false,
    };
    expect(() =>
      createLocalStateMachine(main.definition, { ...base, waitTimeOverrides: { 'Wait For Jobs': 0 } }),
    ).toThrow(UnboundTaskError);
    expect(() =>
      createLocalStateMachine(main.definition, { ...base, stateHandlers: { Prepare: async () => ({}) } }),
    ).toThrow(UnboundTaskError);
  });

  it('refuses to run while Lambda environment values are placeholders', () => {
    const run = () =>
      createLocalStateMachine(main.definition, { handlers: handlersFor(main), functions: main.functions });
    expect(run).toThrow(UnresolvedEnvironmentError);
    expect(run).toThrow(/JOB_BUCKET/);
  });

  it('fails with States.DataLimitExceeded when a state output grows past 256 KiB', async () => {
    const definition: AslDefinition = {
      StartAt: 'Double',
      States: { Double: { Type: 'Pass', Parameters: { 'a.$': '$.blob', 'b.$': '$.blob' }, End: true } },
    };
    const machine = createLocalStateMachine(definition, {
      handlers: {},
      functions: new Map(),
      validate: false,
    });
    const error = await machine
      .run({ blob: 'z'.repeat(150 * 1024) }, { executionName: 'exec-double' })
      .result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalExecutionFailedError);
    expect((error as LocalExecutionFailedError).error).toBe('States.DataLimitExceeded');
    expect((error as LocalExecutionFailedError).cause).toMatch(/Output of state "Double"/);
  });

  it('waits until TimestampPath on the injected clock, unless the state is overridden', async () => {
    const definition: AslDefinition = {
      StartAt: 'Until',
      States: {
        Until: { Type: 'Wait', TimestampPath: '$.at', Next: 'Fixed' },
        Fixed: { Type: 'Wait', Seconds: 3600, OutputPath: '$.keep', End: true },
      },
    };
    const slept: number[] = [];
    const machine = createLocalStateMachine(definition, {
      handlers: {},
      functions: new Map(),
      clock: () => Date.parse('2030-01-01T00:00:00Z'),
      sleep: async (ms) => {
        slept.push(ms);
      },
      waitTimeOverrides: { Fixed: 0 },
    });
    const output = await machine.run(
      { at: '2030-01-01T00:00:05Z', keep: { ok: 1 } },
      { executionName: 'exec-ts' },
    ).result;
    expect(slept).toEqual([5_000]);
    expect(output).toEqual({ ok: 1 });
  });

  it('binds non-Lambda Tasks through stateHandlers', async () => {
    const definition: AslDefinition = {
      StartAt: 'Notify',
      States: {
        Notify: {
          Type: 'Task',
          Resource: 'arn:aws:states:::sns:publish',
          Parameters: { TopicArn: 'arn:aws:sns:us-east-1:000000000000:t', 'Message.$': '$.text' },
          End: true,
        },
      },
    };
    expect(() =>
      createLocalStateMachine(definition, { handlers: {}, functions: new Map(), validate: false }),
    ).toThrow(/sns:publish/);
    const machine = createLocalStateMachine(definition, {
      handlers: {},
      functions: new Map(),
      stateHandlers: { Notify: async (input) => ({ MessageId: 'm-1', sent: input }) },
    });
    const output = await machine.run({ text: 'hi' }, { executionName: 'exec-sns' }).result;
    expect(output).toEqual({
      MessageId: 'm-1',
      sent: { TopicArn: 'arn:aws:sns:us-east-1:000000000000:t', Message: 'hi' },
    });
  });
});
