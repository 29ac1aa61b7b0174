/**
 * The `s1cado` CLI without a deployment: usage errors (exit 2, nothing sent to AWS), the deployment lookup against
 * the AWS fake's CloudFormation, and the execution input and name.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildInput, manualInvestigationId } from '../../bin/cli/collect';
import { main } from '../../bin/s1cado';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';

const REPO = path.resolve(__dirname, '..', '..');
let aws: AwsFake;

beforeAll(async () => {
  aws = await startAwsFake();
});

afterAll(async () => {
  await aws?.close();
});

/** Runs the CLI in-process against the AWS fake; returns the exit code and what it printed. */
async function cli(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {
      ...aws.env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      USER: 'analyst',
      ...env,
    },
    hostname: () => 'workstation',
    // A usage error must never get as far as waiting.
    sleep: () => Promise.reject(new Error('unexpected sleep')),
  });
  return { code, stdout, stderr };
}

const BIG_ID = '1415844000017227074'; // > 2^53: as a JSON number it would become 1415844000017227000

describe('s1cado: usage errors (exit 2, no AWS call)', () => {
  it.each([
    [['collect'], /name at least one agent: --agent <id>/],
    [['collect', '--agent', '1.5e18'], /--agent "1\.5e18": must be a string of digits/],
    [['collect', '--agent', '-12'], /--agent '-12'|ambiguous/],
    [['collect', '--agent', '0x1F'], /--agent "0x1F": must be a string of digits/],
    [
      ['collect', '--agent', '123456789012345678901'],
      /--agent "123456789012345678901": must be a string of digits/,
    ],
    [['collect', '--agent', ' 42'], /--agent " 42": must be a string of digits/],
    [['collect', '--agent', BIG_ID, '--agent', BIG_ID], /agent ids must not repeat/],
    [['collect', '--agent', BIG_ID, '--threat', '7e5'], /--threat "7e5": must be a string of digits/],
    [['collect', '--agents', BIG_ID], /Unknown option '--agents'/],
    [['collect', '--agent'], /--agent <value>' argument missing/],
    [['collect', '--agent', BIG_ID, '--timeout', '5m'], /--timeout only applies with --wait/],
    [['collect', '--agent', BIG_ID, '--wait', '--timeout', 'soon'], /--timeout must be a duration/],
    [['collect', '--agent', BIG_ID, '--requested-by', '  '], /--requested-by: say who requested/],
    [['status'], /missing the investigation id/],
    [['status', 'not an id!'], /investigation id "not an id!" must be 1–80 letters/],
    [['status', 'manual-1', 'manual-2'], /unexpected argument "manual-2"/],
    [['handoff', 'manual-1', '--bogus'], /Unknown option '--bogus'/],
  ])('%j', async (argv, message) => {
    const before = aws.requests.length;
    const { code, stdout, stderr } = await cli(argv);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain(`Run "s1cado ${argv[0]} --help" for usage.`);
    expect(stdout).toBe('');
    expect(aws.requests.length).toBe(before);
  });

  it('does not echo a long value given in the wrong place (it may be a pasted token)', async () => {
    const pasted =
      'a9ZkQ3uYt7LmR2xW8pVn4cJs6bHe1gDf0oKiUyTrEwQaSdFgHjKlZxCvBnM1234567aBcDeFgHiJkLmNoPqRsTuVwXyZ';
    for (const argv of [
      ['collect', pasted],
      ['collect', '--agent', BIG_ID, pasted],
      ['collect', '--agent', pasted],
      ['status', pasted],
      ['handoff', 'manual-1', pasted],
    ]) {
      const { code, stdout, stderr } = await cli(argv);
      expect(code).toBe(2);
      expect(`${stdout}${stderr}`).not.toContain(pasted);
      expect(stderr).toMatch(/a value of \d+ characters, not shown/);
    }
  });

  it('dispatches audit to its module with the same streams and environment', async () => {
    const { code, stderr } = await cli(['audit', '--no-such-flag']);
    expect(code).toBe(2);
    expect(stderr).toContain("'--no-such-flag'");
  });

  it('refuses an unknown command and no command, and answers --help and --version', async () => {
    expect(await cli(['collcet'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown command'),
    });
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: s1cado <command>');
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/collect --agent <id>[\s\S]*status <investigationId>[\s\S]*handoff/);
    for (const command of ['collect', 'status', 'handoff', 'audit']) {
      const own = await cli([command, '--help']);
      expect(own.code).toBe(0);
      expect(own.stdout).toContain(`Usage: s1cado ${command}`);
    }
    expect((await cli(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('s1cado: where the deployment is', () => {
  it('names the stack when it does not exist, and points at --stack and the direct flags', async () => {
    const { code, stderr } = await cli(['collect', '--agent', BIG_ID, '--stack', 'NoSuchStack']);
    expect(code).toBe(1);
    expect(stderr).toContain('Stack NoSuchStack was not found');
    expect(stderr).toContain('--stack');
    expect(aws.stepFunctions.list()).toHaveLength(0);
  });

  it('names a missing output and the flag and variable that replace it', async () => {
    aws.cloudFormation.setStack('OldStack', { outputs: { EvidenceBucketName: 'evidence' } });
    const { code, stderr } = await cli(['collect', '--agent', BIG_ID], { S1CADO_STACK: 'OldStack' });
    expect(code).toBe(1);
    expect(stderr).toContain('Stack OldStack has no output StateMachineArn');
    expect(stderr).toContain('--state-machine-arn / set S1CADO_STATE_MACHINE_ARN');
  });

  it('finds the audit Lambda through the stack output AuditFunctionName', async () => {
    aws.cloudFormation.setStack('AuditStack', { outputs: { AuditFunctionName: 'AuditFromOutput' } });
    aws.lambda.register('AuditFromOutput', () => {
      throw new Error('not a real audit');
    });
    const before = aws.requests.length;
    const { code } = await cli(['audit'], { S1CADO_STACK: 'AuditStack' });
    expect(code).toBe(1);
    expect(
      aws.requests.slice(before).map((r) => [r.operation, r.body.StackName ?? r.body.FunctionName]),
    ).toEqual([
      ['DescribeStacks', 'AuditStack'],
      ['Invoke', 'AuditFromOutput'],
    ]);
  });

  it('uses the flag over the stack output, without reading the stack', async () => {
    const arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:flagged';
    const received: unknown[] = [];
    aws.registerStateMachine(arn, async (execution) => {
      received.push(execution.input);
      return {};
    });
    const before = aws.requests.length;
    const { code, stdout } = await cli([
      'collect',
      '--agent',
      BIG_ID,
      '--agent',
      '42',
      '--threat',
      '1415844000142298964',
      '--state-machine-arn',
      arn,
    ]);
    expect(code).toBe(0);
    expect(aws.requests.slice(before).map((r) => r.operation)).toEqual(['StartExecution']);
    const started = aws.stepFunctions.list().find((e) => e.stateMachineArn === arn);
    expect(started?.name).toMatch(/^manual-\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    // The ids travel as the exact strings typed, never through a JS number.
    expect(JSON.parse(started?.input ?? '{}')).toEqual({
      agentIds: [BIG_ID, '42'],
      threatId: '1415844000142298964',
      requestedBy: 'analyst@workstation',
    });
    expect(stdout).toContain(`Started investigation ${started?.name}`);
    expect(stdout).toContain(started?.executionArn);
    expect(stdout).toContain(
      `https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/${started?.executionArn}`,
    );
    await aws.stepFunctions.waitFor(started?.executionArn ?? '');
  });
});

describe('s1cado: errors that say what to do', () => {
  it('says how to set the region when none is set', async () => {
    // No region anywhere the SDK looks: not in the CLI's environment, nor a config file.
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_DEFAULT_REGION', undefined);
    vi.stubEnv('AWS_PROFILE', undefined);
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/s1cado-test-config');
    try {
      const { code, stderr } = await cli(['audit', '--function', 'any'], { AWS_REGION: '' });
      expect(code).toBe(1);
      expect(stderr).toContain('Region is missing');
      expect(stderr).toContain('pass --region <region>, set AWS_REGION, or use a profile that has one');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('with --json, prints an error as one JSON document on stderr with name, message and exit code', async () => {
    const usage = await cli(['status', 'not an id!', '--json']);
    expect(usage.code).toBe(2);
    expect(usage.stdout).toBe('');
    expect(JSON.parse(usage.stderr)).toEqual({
      command: 'status',
      error: {
        name: 'UsageError',
        message: expect.stringContaining('investigation id "not an id!"'),
        exitCode: 2,
        hint: 'Run "s1cado status --help" for usage.',
      },
    });
    const missing = await cli(['status', 'manual-1', '--json', '--stack', 'NoSuchStack']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    const doc = JSON.parse(missing.stderr) as { error: { name: string; message: string; exitCode: number } };
    expect(doc.error).toMatchObject({ name: 'DeploymentLookupError', exitCode: 1 });
    expect(doc.error.message).toContain('Stack NoSuchStack was not found');
    // Without --json the same failure is a readable line.
    const plain = await cli(['status', 'manual-1', '--stack', 'NoSuchStack']);
    expect(plain.stderr).toMatch(/^s1cado status: Stack NoSuchStack was not found/);
  });
});

describe('s1cado as a process', () => {
  it('prints the AWS SDK Node-version warning as one line on Node < 22, not eight', async () => {
    const child = spawn(
      process.execPath,
      [
        '--trace-deprecation',
        path.join(REPO, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
        'bin/s1cado.ts',
        'status',
        'manual-1',
        '--stack',
        'NoSuchStack',
      ],
      {
        cwd: REPO,
        env: {
          PATH: process.env.PATH,
          ...aws.env,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
        },
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('Stack NoSuchStack was not found');
    expect(stderr).not.toContain('NodeVersionSupportWarning');
    const major = Number(process.versions.node.split('.')[0]);
    const notes = stderr.split('\n').filter((line) => line.includes('need Node 22+'));
    expect(notes).toHaveLength(major < 22 ? 1 : 0);
  });
});

describe('s1cado collect --wait', () => {
  it('polls with backoff and gives up at --timeout (clock time), leaving the execution running', async () => {
    const arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:never-ends';
    aws.registerStateMachine(
      arn,
      (execution) =>
        new Promise((_, reject) =>
          execution.signal.addEventListener('abort', () => reject(new Error('aborted'))),
        ),
    );
    let clock = Date.UTC(2025, 0, 1);
    const sleeps: number[] = [];
    let stderr = '';
    const code = await main(
      [
        'collect',
        '--agent',
        BIG_ID,
        '--wait',
        '--timeout',
        '60s',
        '--state-machine-arn',
        arn,
        '--bucket',
        'b',
      ],
      {
        stdout: { write: () => true },
        stderr: { write: (text: string) => (stderr += text) },
        // S3 answers errors here (the fake does not speak it): progress is skipped, the wait goes on.
        env: { ...aws.env, AWS_ENDPOINT_URL_S3: aws.endpoint, AWS_REGION: 'us-east-1', USER: 'analyst' },
        hostname: () => 'workstation',
        now: () => clock,
        sleep: async (ms) => {
          sleeps.push(ms);
          clock += ms;
        },
      },
    );
    expect(code).toBe(1);
    expect(sleeps).toEqual([5000, 7500, 11250, 16875, 19375]);
    expect(stderr).toContain('Stopped waiting after 1m 00s; the investigation goes on');
    const execution = aws.stepFunctions.list().find((e) => e.stateMachineArn === arn);
    expect(execution?.status).toBe('RUNNING');
    expect(stderr).toContain(`npx s1cado status ${execution?.name}`);
  });
});

describe('s1cado collect: input and name', () => {
  it('validates with the workflow schema and keeps the reason and requester', () => {
    expect(
      buildInput({ agentIds: [BIG_ID], requestedBy: ' alice@ws ', reason: ' suspicious login ' }),
    ).toEqual({ agentIds: [BIG_ID], requestedBy: 'alice@ws', reason: 'suspicious login' });
    expect(() =>
      buildInput({ agentIds: Array.from({ length: 51 }, (_, i) => String(i)), requestedBy: 'a' }),
    ).toThrow(/--agent: at most 50 agents/);
  });

  it('names manual investigations manual-<UTC time>-<6 hex>', () => {
    expect(manualInvestigationId(Date.UTC(2025, 0, 2, 3, 4, 5, 678), () => 'abcdef')).toBe(
      'manual-20250102T030405Z-abcdef',
    );
    const ids = new Set(Array.from({ length: 50 }, () => manualInvestigationId(Date.UTC(2025, 0, 1))));
    expect(ids.size).toBe(50);
  });
});
