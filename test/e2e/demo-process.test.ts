/**
 * `npm run demo` as a user runs it, in a child process of its own process group (as a terminal's foreground job):
 * Ctrl-C (SIGINT to the whole group, so npm and tsx get it too) and a reader that closes the pipe early. Each run gets
 * its own TMPDIR, so the test sees whether the s3rver folder was left behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack';

const roots: string[] = [];
afterAll(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly child: ChildProcess;
  readonly tmp: string;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npm run demo -- <args>` with stdout piped to this test, in a new process group. */
function startDemo(args: string[]): Run {
  const tmp = mkdtempSync(path.join(tmpdir(), 's1cado-demo-proc-'));
  roots.push(tmp);
  const child = spawn('npm', ['run', '--silent', 'demo', '--', ...args], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: tmp, NO_COLOR: '1' },
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, tmp, output: () => text, exited };
}

async function waitFor(run: Run, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(run.output())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function s3rverFolders(tmp: string): string[] {
  return readdirSync(tmp).filter((name) => name.startsWith('s1cado-s3rver-'));
}

describe('npm run demo in a child process', () => {
  it('Ctrl-C stops the investigation, prints the summary so far, removes the s3rver folder and exits 130', async () => {
    const run = startDemo(['--size', '64', '--time-scale', '30']);
    await waitFor(run, /S1 task \d+ started/);
    expect(s3rverFolders(run.tmp)).toHaveLength(1);
    process.kill(-(run.child.pid as number), 'SIGINT');
    const { code, signal } = await run.exited;
    const output = run.output();
    // npm got the Ctrl-C too and, once the demo has exited, re-raises it on itself: a shell reports 130 either way.
    expect(code === 130 || signal === 'SIGINT', `${code} ${signal}\n${output}`).toBe(true);
    expect(output).toMatch(/exit code\s+130/);
    expect(output).toContain('interrupted: StopExecution');
    expect(output).toMatch(/investigation\s+threat-\d+\s+ABORTED/);
    expect(output).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
    expect(s3rverFolders(run.tmp)).toEqual([]);
  }, 120_000);

  it('a process leaving at once (process.exit, as on a second Ctrl-C) still removes the s3rver folder', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 's1cado-demo-proc-'));
    roots.push(tmp);
    const script =
      "const { startLocalS3 } = require('./local/s3'); " +
      "startLocalS3({ buckets: ['evidence'] }).then((s3) => { console.log(s3.directory); process.exit(130); });";
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, TMPDIR: tmp },
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    expect(out).toContain(path.join(tmp, 's1cado-s3rver-'));
    expect(s3rverFolders(tmp)).toEqual([]);
  });

  it('a reader that closes early (| head) gets no EPIPE stack trace, and the folder is removed', async () => {
    const run = startDemo(['--size', '1', '--time-scale', '120']);
    await waitFor(run, /StartExecution/);
    // What `head -n 5` does once it has its lines: close its end of the pipe.
    run.child.stdout?.destroy();
    const { code } = await run.exited;
    const output = run.output();
    expect(output).not.toMatch(/EPIPE|Unhandled 'error' event/);
    expect(code, output).toBe(141);
    expect(s3rverFolders(run.tmp)).toEqual([]);
  }, 120_000);
});
