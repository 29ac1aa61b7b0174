/**
 * `npm run demo`, run in-process through its `main(argv, io)`: the whole local stack, a simulated threat,
 * StartExecution through the real SFN client, and the summary's claims checked against the bytes it kept on disk.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../bin/demo';
import { parseDemoArgs } from '../../bin/demo/args';
import { Display } from '../../bin/demo/display';
import { captureProcessOutput } from '../../bin/demo/output-capture';
import { SCENARIO_NAMES } from '../../bin/demo/scenarios';
import type { DemoSummary } from '../../bin/demo/summary';

const workDir = mkdtempSync(path.join(tmpdir(), 's1cado-demo-test-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function sink(isTTY = false) {
  const chunks: string[] = [];
  return {
    output: {
      write: (text: string) => {
        chunks.push(text);
        return true;
      },
      isTTY,
    },
    text: () => chunks.join(''),
  };
}

async function runDemo(argv: string[], env: Record<string, string | undefined> = {}) {
  const stdout = sink();
  const stderr = sink();
  const code = await main(argv, { stdout: stdout.output, stderr: stderr.output, env, workDir });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('npm run demo (in-process)', () => {
  it('runs the happy path: two agents staged, re-read hashes verified, Cado complete, exit 0', async () => {
    const run = await runDemo(['--size', '1', '--time-scale', '120', '--keep', '--json']);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as DemoSummary;
    expect(summary.executionStatus).toBe('SUCCEEDED');
    expect(summary.caseStatus).toBe('complete');
    expect(summary.investigationId).toMatch(/^threat-\d+$/);
    expect(summary.caseReportKey).toBe(`investigations/${summary.investigationId}/case.md`);
    expect(summary.agents.map((a) => a.osType).sort()).toEqual(['linux', 'windows']);
    for (const agent of summary.agents) {
      expect(agent.outcome).toBe('complete');
      expect(agent.cado?.status).toBe('complete');
      const evidence = agent.evidence;
      expect(evidence?.verified).toBe(true);
      expect(evidence?.key).toBe(
        `investigations/${summary.investigationId}/${agent.agentId}/${agent.s1Task?.childTaskId}/${evidence?.sha256}.zip`,
      );
      // Independent of the demo's own check: the kept bytes on disk hash to what it reported.
      expect(evidence?.localPath).toBeDefined();
      expect(sha256File(evidence?.localPath as string)).toBe(evidence?.sha256);
      expect(evidence?.manifestSha256).toBe(evidence?.sha256);
      expect(evidence?.s1ResultSha256).toBe(evidence?.sha256);
      expect(evidence?.bytes).toBeGreaterThan(1024 * 1024);
    }

    // Progress went to stderr (--json): states per agent by host name, S1 task ids, Cado pipeline ids, bars.
    const progress = run.stderr;
    for (const agent of summary.agents) {
      expect(progress).toContain(`${agent.computerName}`);
      expect(progress).toContain(`S1 task ${agent.s1Task?.parentTaskId} started`);
      expect(progress).toContain(`import pipeline ${agent.cado?.pipelineId}`);
    }
    expect(progress).toMatch(/\[█+\] 100%/);
    // Resolve Targets reads the agent ids from its own input (`input.agentIds`), not the execution's top level.
    expect(progress).toContain('Resolve Targets: deciding on 2 agent(s)');
    expect(readdirSync(workDir).some((name) => name.startsWith('demo-s3-'))).toBe(true);
  });

  it('detects truncated downloads: nothing staged, handler warnings in the log file only, exit 1', async () => {
    const run = await runDemo([
      '--scenario',
      'truncated-download',
      '--size',
      '0.25',
      '--time-scale',
      '120',
      '--json',
    ]);
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout) as DemoSummary;
    expect(summary.caseStatus).toBe('failed');
    expect(summary.executionError).toBe('InvestigationFailed');
    for (const agent of summary.agents) {
      expect(agent.outcome).toBe('failed');
      expect(agent.reason).toContain('DownloadInterruptedError');
      expect(agent.evidence).toBeNull();
    }
    expect(run.stderr).toContain('! download broke off');
    expect(run.stderr).toMatch(/↻ Stage Output: retry \d/);
    // The handlers' JSON log lines (warnings about each resume) went to the log file, not the display.
    expect(run.stderr).not.toContain('"level"');
    expect(readFileSync(summary.logFile, 'utf8')).toContain(
      '"message":"Result download interrupted; resuming"',
    );
  });

  it('reports a failed hand-off with the evidence still verified, and exits non-zero', async () => {
    const run = await runDemo([
      '--scenario',
      'cado-pipeline-failed',
      '--size',
      '0.25',
      '--time-scale',
      '120',
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('scenario cado-pipeline-failed');
    expect(run.stdout).toMatch(/✗ Cado pipeline \d+ failed/);
    expect(run.stdout).toContain('FAILED');
    expect(run.stdout).toContain('staged_handoff_failed');
    // Cado failed on the archive itself: a re-run would hand it the same bytes, so no re-run command is offered.
    expect(run.stdout).toMatch(/Unable to extract the archive/);
    expect(run.stdout).not.toContain('npx s1cado handoff');
    // Both files were staged before Cado failed them, and both still verify.
    expect(run.stdout.match(/verified \(re-read from S3 = manifest and S1 result\)/g)).toHaveLength(2);
    expect(run.stdout).toMatch(/exit code\s+1/);
  });
});

describe('demo: hand-off re-run', () => {
  it('cado-down-rerun: the investigation ends staged_handoff_failed, s1cado handoff re-runs it through HandOffRerun to complete', async () => {
    const run = await runDemo([
      '--scenario',
      'cado-down-rerun',
      '--size',
      '0.25',
      '--time-scale',
      '120',
      '--json',
    ]);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as DemoSummary;
    // The investigation itself failed the hand-off; the re-run (the second state machine) completed it.
    expect(summary.executionStatus).toBe('FAILED');
    expect(summary.executionError).toBe('HandOffFailed');
    expect(summary.handoffRerunExitCode).toBe(0);
    expect(summary.caseStatus).toBe('complete');
    expect(summary.asExpected).toBe(true);
    const progress = run.stderr;
    expect(progress).toContain(`npx s1cado handoff ${summary.investigationId}`);
    expect(progress).toContain(`:execution:HandOffRerun`);
    expect(progress).toContain('Find Staged Evidence');
    expect(progress).toContain('Record Outcome');
    for (const agent of summary.agents) {
      expect(agent.outcome).toBe('complete');
      expect(agent.cado?.status).toBe('complete');
      expect(agent.evidence?.verified).toBe(true);
      expect(progress).toMatch(
        new RegExp(`${agent.agentId}: complete \\(imported, pipeline ${agent.cado?.pipelineId}\\)`),
      );
    }
  });
});

describe('demo command line', () => {
  it('refuses tokens on argv without echoing them', async () => {
    for (const argv of [
      ['--s1-token', 'tok-argv-0123456789'],
      ['--cado-api-key=tok-argv-0123456789'],
      ['--token', 'tok-argv-0123456789'],
    ]) {
      const run = await runDemo(argv);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('S1_API_TOKEN');
      expect(run.stderr).not.toContain('tok-argv-0123456789');
    }
  });

  it('refuses the value of a token variable anywhere on argv', async () => {
    const env = { S1_API_TOKEN: 'tok-env-abcdef123456' };
    const run = await runDemo(['--s1-url', 'http://127.0.0.1:9', '--agent', 'tok-env-abcdef123456'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain('tok-env-abcdef123456');
  });

  it('refuses an endpoint URL carrying credentials, without echoing it', async () => {
    const run = await runDemo(
      ['--s1-url', 'https://user:hunter2secret@example.sentinelone.net', '--agent', '1'],
      {
        S1_API_TOKEN: 'tok-env-abcdef123456',
      },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain('hunter2secret');
  });

  it('needs the token in the environment for an external endpoint', async () => {
    const run = await runDemo(['--s1-url', 'https://acme.sentinelone.net', '--agent', '1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('S1_API_TOKEN');
  });

  it('names the scenarios when the scenario is unknown, and lists them on request', async () => {
    const unknown = await runDemo(['--scenario', 'meteor-strike']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown scenario "meteor-strike"');
    const list = await runDemo(['--scenario', 'list']);
    expect(list.code).toBe(0);
    for (const name of SCENARIO_NAMES) expect(list.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(SCENARIO_NAMES).toEqual(
      expect.arrayContaining([
        'happy',
        'offline-agent',
        'task-failed',
        'completed-with-failure',
        'deadline',
        'download-reset',
        'truncated-download',
        'expired-link',
        'cado-down',
        'cado-down-rerun',
        'cado-pipeline-failed',
        'rate-limit-storm',
      ]),
    );
  });

  it('refuses a scenario that needs a simulator the run replaces', async () => {
    const run = await runDemo(['--scenario', 'cado-down', '--cado-url', 'https://cado.example.com'], {
      CADO_API_KEY: 'key-abcdef123456',
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('needs the Cado simulator');
  });

  it('rejects malformed numbers and stray arguments', async () => {
    expect((await runDemo(['--agents', '0'])).code).toBe(2);
    expect((await runDemo(['--agents', '51'])).code).toBe(2);
    expect((await runDemo(['--size', '-1'])).code).toBe(2);
    expect((await runDemo(['--time-scale', 'fast'])).code).toBe(2);
    expect((await runDemo(['extra'])).code).toBe(2);
    expect((await runDemo(['--agent', '123'])).code).toBe(2);
  });

  it('runs external endpoints in real time unless told otherwise', () => {
    const env = { S1_API_TOKEN: 'tok-env-abcdef123456' };
    const external = parseDemoArgs(['--s1-url', 'https://acme.sentinelone.net', '--agent', '42'], env);
    const local = parseDemoArgs([], {});
    expect(external.kind === 'run' && external.options.timeScale).toBe(1);
    expect(external.kind === 'run' && external.options.externalS1?.token).toBe('tok-env-abcdef123456');
    expect(local.kind === 'run' && local.options.timeScale).toBe(60);
    expect(local.kind === 'run' && local.options.resultBytes).toBe(8 * 1024 * 1024);
  });
});

describe('demo output plumbing', () => {
  it('keeps a live footer below permanent lines on a terminal', () => {
    const out = sink(true);
    const display = new Display(out.output, true);
    display.setFooter(['bar 10%']);
    display.line('event one');
    display.setFooter(['bar 50%']);
    display.clearFooter();
    // Each redraw erases the footer (cursor up one line, clear), prints, then redraws it.
    expect(out.text()).toBe('bar 10%\n\x1b[1F\x1b[Jevent one\nbar 10%\n\x1b[1F\x1b[Jbar 50%\n\x1b[1F\x1b[J');
  });

  it('prints no footer off a terminal', () => {
    const out = sink(false);
    const display = new Display(out.output, false);
    display.setFooter(['bar 10%']);
    display.line('event one');
    expect(out.text()).toBe('event one\n');
  });

  it('captures process output into the log file and restores the streams', () => {
    const file = path.join(workDir, 'capture.log');
    const original = process.stdout.write;
    const capture = captureProcessOutput(file);
    process.stdout.write('{"level":"INFO","message":"from a handler"}\n');
    process.stderr.write('a warning\n');
    capture.restore();
    expect(process.stdout.write).toBe(original);
    expect(readFileSync(file, 'utf8')).toBe('{"level":"INFO","message":"from a handler"}\na warning\n');
  });
});
