/** `npm run demo -- --mode cado-xdr`: Cado collects through its SentinelOne integration, end to end, in-process. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../bin/demo';
import { parseDemoArgs } from '../../bin/demo/args';
import type { DemoSummary } from '../../bin/demo/summary';

const workDir = mkdtempSync(path.join(tmpdir(), 's1cado-demo-xdr-test-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function sink() {
  const chunks: string[] = [];
  return {
    output: { write: (text: string) => chunks.push(text) > 0, isTTY: false },
    text: () => chunks.join(''),
  };
}

describe('npm run demo -- --mode cado-xdr', () => {
  it('completes with Cado collecting every agent, no evidence of ours, and says which custody links are missing', async () => {
    const stdout = sink();
    const stderr = sink();
    const code = await main(['--mode', 'cado-xdr', '--time-scale', '120', '--json'], {
      stdout: stdout.output,
      stderr: stderr.output,
      env: {},
      workDir,
    });
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.text()) as DemoSummary;
    expect(summary.caseStatus).toBe('complete');
    expect(summary.agents).toHaveLength(2);
    for (const agent of summary.agents) {
      expect(agent.outcome).toBe('complete');
      expect(agent.evidence).toBeNull();
      expect(agent.s1Task).toBeNull();
      expect(agent.xdr?.deviceId).toBe(agent.agentId);
      expect(agent.xdr?.custody.every((link) => link.status === 'not_available')).toBe(true);
      expect(agent.cado?.status).toBe('complete');
    }
    expect(stderr.text()).toContain('Import From XDR');
    expect(stderr.text()).not.toContain('Run Script');
  });

  it('refuses an unknown mode, and cado-xdr against an external Cado with the local S1', () => {
    expect(() => parseDemoArgs(['--mode', 'xdr'], {})).toThrow(
      /--mode must be one of s1-remoteops, cado-xdr/,
    );
    expect(() =>
      parseDemoArgs(['--mode', 'cado-xdr', '--cado-url', 'https://cado.example.com'], { CADO_API_KEY: 'k' }),
    ).toThrow(/needs --s1-url/);
    const parsed = parseDemoArgs([], {});
    expect(parsed.kind === 'run' && parsed.options.mode).toBe('s1-remoteops');
  });
});
