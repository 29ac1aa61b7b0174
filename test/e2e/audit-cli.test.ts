/**
 * `s1cado audit`: local mode end to end against the S1 and Cado simulators (exit codes, table and JSON, tokens
 * only from the environment and never printed), and deployed mode through the local AWS fake's Lambda Invoke.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../../bin/cli/errors';
import { main } from '../../bin/s1cado';
import { loadCollectors } from '../../lambdas/collectors';
import { AuditReport } from '../../lambdas/shared/audit/report';
import { logger } from '../../lambdas/shared/observability';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';
import { type CadoSimulator, startCadoSimulator } from '../../local/cado-simulator';
import {
  type DemoTenant,
  type S1Simulator,
  seedDemoTenant,
  startS1Simulator,
} from '../../local/s1-simulator';

const S1_TOKEN = 'S1tok-cli-0123456789abcdefABCDEF-never-print';
const CADO_KEY = 'cado-cli-key-0123456789abcdef-never-print';
const REPO = path.resolve(__dirname, '..', '..');

let s1Sim: S1Simulator;
let cadoSim: CadoSimulator;
let tenant: DemoTenant;

/** Runs `s1cado audit` in-process, capturing what it prints. */
async function run(args: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(['audit', ...args], {
    env: { S1_API_TOKEN: S1_TOKEN, CADO_API_KEY: CADO_KEY, ...env },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

function localArgs(...extra: string[]): string[] {
  return [
    '--s1-url',
    s1Sim.url,
    '--cado-url',
    cadoSim.url,
    '--allow-loopback',
    '--site',
    tenant.sites.rso.id,
    ...extra,
  ];
}

beforeEach(async () => {
  s1Sim = await startS1Simulator({ rateLimits: false });
  tenant = seedDemoTenant(s1Sim, { token: S1_TOKEN });
  for (const collector of loadCollectors()) {
    s1Sim.addScript({
      scriptName: collector.libraryName,
      scriptType: 'artifactCollection',
      osTypes: [collector.osType],
      content: collector.content,
    });
  }
  cadoSim = await startCadoSimulator({ keys: [{ key: CADO_KEY, role: 'Lead Analyst' }] });
});

afterEach(async () => {
  await Promise.all([s1Sim.close(), cadoSim.close()]);
  clearRegisteredSecrets();
});

describe('s1cado audit --s1-url --cado-url (local)', () => {
  it('exits 0 and prints the table when every check passes', async () => {
    const { code, stdout, stderr } = await run(localArgs());
    expect(stderr).toBe('');
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(/^Permission audit \S+ {2}PASS: 9 pass, 0 warn, 0 fail, 0 unknown$/m);
    expect(stdout).toContain(`S1: ${s1Sim.url}/web/api/v2.1`);
    expect(stdout).toMatch(/^PASS {4}S1 role permissions/m);
    expect(stdout).toContain('Local audit: the report was not stored and nobody was notified.');
  });

  it('exits 1 when a check fails, and prints the fix', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Remote Script Orchestration.runArtifactCollectionScript');
    const { code, stdout } = await run(localArgs());
    expect(code).toBe(EXIT_FAILURE);
    expect(stdout).toMatch(/^FAIL {4}S1 role permissions/m);
    expect(stdout).toContain('Run Artifact Collection Script');
    expect(stdout).toContain('Fix: In the S1 console');
  });

  it('exits 0 on warnings only (a token expiring in 3 days)', async () => {
    s1Sim.expireToken(S1_TOKEN, Date.now() + 3 * 86_400_000);
    const { code, stdout } = await run(localArgs());
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(/^WARN {4}S1 API token expiry/m);
  });

  it('prints the report as JSON with --json', async () => {
    cadoSim.revokeKey(CADO_KEY);
    const { code, stdout } = await run(localArgs('--json'));
    expect(code).toBe(EXIT_FAILURE);
    const report = AuditReport.parse(JSON.parse(stdout));
    expect(report.checks.find((c) => c.id === 'cado-key-valid')?.status).toBe('fail');
  });

  it('checks one service when only its URL is given', async () => {
    const { code, stdout } = await run(['--cado-url', cadoSim.url, '--allow-loopback', '--json'], {
      S1_API_TOKEN: undefined,
    });
    expect(code).toBe(EXIT_OK);
    expect(AuditReport.parse(JSON.parse(stdout)).checks.map((c) => c.id)).toEqual([
      'cado-key-valid',
      'cado-permissions',
      'cado-platform-health',
    ]);
  });

  it('judges an Analyst key by the project mode', async () => {
    cadoSim.addKey({ key: 'cado-analyst-0123456789abcdef', role: 'Analyst' });
    const env = { CADO_API_KEY: 'cado-analyst-0123456789abcdef' };
    expect((await run(['--cado-url', cadoSim.url, '--allow-loopback'], env)).code).toBe(EXIT_FAILURE);
    const fixed = await run(
      ['--cado-url', cadoSim.url, '--allow-loopback', '--cado-project-mode', 'fixed'],
      env,
    );
    expect(fixed.code).toBe(EXIT_OK);
  });

  it.each([
    [['--s1-url', 'http://127.0.0.1:9', '--allow-loopback'], { S1_API_TOKEN: '' }, 'S1_API_TOKEN'],
    [
      ['--s1-url', 'http://127.0.0.1:9'],
      {},
      '--s1-url points at a loopback host (127.0.0.1); pass --allow-loopback',
    ],
    [
      ['--cado-url', 'http://localhost:9'],
      {},
      '--cado-url points at a loopback host (localhost); pass --allow-loopback',
    ],
    [['--cado-url', 'http://127.0.0.1:9', '--allow-loopback', '--warning-days', '0'], {}, '--warning-days'],
    [['--s1-url', 'http://127.0.0.1:9', '--site', 'Production'], {}, '--site'],
    [['--token', 'x'], {}, "Unknown option '--token'"],
  ])('exits 2 on a usage error: %j', async (args, env, mentions) => {
    const { code, stderr, stdout } = await run(args, env);
    expect(code).toBe(EXIT_USAGE);
    expect(stdout).toBe('');
    expect(stderr).toContain(mentions);
  });

  it('shows a retry as one readable line on stderr, never as a JSON log line', async () => {
    s1Sim.faults.respond(429, { match: { path: '/sites' }, times: 1, retryAfter: 1 });
    const written: string[] = [];
    const spies = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }),
    );
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(localArgs('--json'));
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(AuditReport.parse(JSON.parse(result.stdout)).checks.length).toBeGreaterThan(0);
    expect(result.stderr).toBe('retrying S1 GET /sites (429 S1RateLimitedError) in 1.0s, attempt 2\n');
    expect(written.join('')).not.toContain('Request failed; retrying');
    expect(result.stderr + result.stdout).not.toContain(S1_TOKEN);
    // The process's log level is back as it was once the audit is over.
    expect(logger.getLevelName()).not.toBe('SILENT');
  });

  it('never prints a token, not even one pasted as an argument', async () => {
    const pasted = await run([...localArgs(), S1_TOKEN]);
    expect(pasted.code).toBe(EXIT_USAGE);
    expect(pasted.stderr).toContain('audit takes only flags');
    s1Sim.expireToken(S1_TOKEN, Date.now() - 1);
    cadoSim.revokeKey(CADO_KEY);
    const rejected = await run(localArgs());
    const json = await run(localArgs('--json'));
    for (const output of [pasted, rejected, json]) {
      expect(output.stdout + output.stderr).not.toContain(S1_TOKEN);
      expect(output.stdout + output.stderr).not.toContain(CADO_KEY);
    }
  });

  it('runs as a process: exit code, output, no token', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Remote Script Orchestration.upload');
    const child = spawn(
      process.execPath,
      [path.join(REPO, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'bin/s1cado.ts', 'audit', ...localArgs()],
      {
        cwd: REPO,
        env: {
          PATH: process.env.PATH,
          S1_API_TOKEN: S1_TOKEN,
          CADO_API_KEY: CADO_KEY,
          POWERTOOLS_LOG_LEVEL: 'WARN',
          POWERTOOLS_METRICS_DISABLED: 'true',
        },
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(output).toContain('FAIL    S1 role permissions');
    expect(code).toBe(EXIT_FAILURE);
    expect(output).not.toContain(S1_TOKEN);
    expect(output).not.toContain(CADO_KEY);
  });
});

describe('s1cado audit (deployed)', () => {
  let aws: AwsFake;
  let awsEnv: Record<string, string>;

  beforeAll(async () => {
    aws = await startAwsFake();
    awsEnv = {
      ...aws.env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    };
  });
  afterAll(async () => {
    await aws?.close();
  });

  /** A report as the deployed function would produce it: the local audit against the simulators. */
  async function deployedReport() {
    const local = await run(localArgs('--json'));
    return AuditReport.parse(JSON.parse(local.stdout));
  }

  it('invokes the function named by --function and prints its report and where it went', async () => {
    const report = await deployedReport();
    const events: unknown[] = [];
    aws.lambda.register('s1cado-audit', (event) => {
      events.push(event);
      return {
        ...report,
        delivery: {
          storedAt: { bucket: 'evidence', key: 'audits/2025-01-15/x.json' },
          notification: 'not-needed',
        },
      };
    });
    const { code, stdout } = await run(['--function', 's1cado-audit'], awsEnv);
    expect(code).toBe(EXIT_OK);
    expect(events).toEqual([{ source: 's1cado-cli' }]);
    expect(stdout).toMatch(/PASS: 9 pass/);
    expect(stdout).toContain('Report stored at s3://evidence/audits/2025-01-15/x.json');
    expect(stdout).toContain('Notification: not-needed');
  });

  it('takes the function from S1CADO_AUDIT_FUNCTION and exits 1 when a check failed', async () => {
    s1Sim.revoke(tenant.serviceUser.user.id, 'Task Management.view');
    const report = await deployedReport();
    aws.lambda.register('audit-from-env', () => report);
    const { code, stdout } = await run(['--json'], { ...awsEnv, S1CADO_AUDIT_FUNCTION: 'audit-from-env' });
    expect(code).toBe(EXIT_FAILURE);
    expect(AuditReport.parse(JSON.parse(stdout)).counts.fail).toBe(1);
  });

  it('finds the function in the stack outputs when neither flag nor variable names it', async () => {
    const missing = await run(['--stack', 'NoAuditStack'], { ...awsEnv, S1CADO_AUDIT_FUNCTION: undefined });
    expect(missing.code).toBe(EXIT_FAILURE);
    expect(missing.stderr).toContain('Stack NoAuditStack was not found');
    const report = await deployedReport();
    aws.cloudFormation.setStack('AuditStack', {
      outputs: { AuditFunctionName: 'AuditStack-AuditPermissions' },
    });
    aws.lambda.register('AuditStack-AuditPermissions', () => report);
    const { code, stdout } = await run(['--stack', 'AuditStack'], {
      ...awsEnv,
      S1CADO_AUDIT_FUNCTION: undefined,
    });
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(/PASS: 9 pass/);
  });

  it('exits 1 and says why when the function fails or returns something else', async () => {
    aws.lambda.register('broken-audit', () => {
      throw Object.assign(new Error('The audit ran but writing s3://evidence/audits/x failed'), {
        name: 'AuditDeliveryError',
      });
    });
    const failed = await run(['--function', 'broken-audit'], awsEnv);
    expect(failed.code).toBe(EXIT_FAILURE);
    expect(failed.stderr).toContain('broken-audit failed with AuditDeliveryError: The audit ran but writing');

    aws.lambda.register('not-an-audit', () => ({ hello: 'world' }));
    const odd = await run(['--function', 'not-an-audit'], awsEnv);
    expect(odd.code).toBe(EXIT_FAILURE);
    expect(odd.stderr).toContain('not-an-audit returned an unexpected result');
  });
});
