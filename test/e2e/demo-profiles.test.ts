/**
 * `npm run demo -- --profile <name>`: the help lists the four profiles, and each profile's run collects with that
 * profile's collector and says in the summary what it collected.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../bin/demo';
import { parseDemoArgs, usage } from '../../bin/demo/args';
import type { DemoSummary } from '../../bin/demo/summary';
import { collectorFor, PROFILE_CONTENTS, PROFILE_NAMES } from '../../lambdas/collectors';

const workDir = mkdtempSync(path.join(tmpdir(), 's1cado-demo-profiles-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

async function runDemo(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: {
      write: (t: string) => {
        stdout += t;
        return true;
      },
      isTTY: false,
    },
    stderr: {
      write: (t: string) => {
        stderr += t;
        return true;
      },
      isTTY: false,
    },
    env: {},
    workDir,
  });
  return { code, stdout, stderr };
}

describe('npm run demo --profile', () => {
  it('--help lists the four profiles', () => {
    for (const name of PROFILE_NAMES)
      expect(usage()).toContain(`${name.padEnd(7)} ${PROFILE_CONTENTS[name].summary}`);
  });

  it('refuses an unknown profile, --path without custom, and a traversal', () => {
    expect(() => parseDemoArgs(['--profile', 'all'], {})).toThrow(
      /Unknown profile "all". Profiles: triage, full, memory, custom/,
    );
    expect(() => parseDemoArgs(['--path', '/etc/passwd'], {})).toThrow(
      /--path applies with --profile custom only/,
    );
    expect(() => parseDemoArgs(['--profile', 'custom', '--path', '/etc/../root'], {})).toThrow(
      /traversal is not allowed/,
    );
    expect(() => parseDemoArgs(['--profile', 'custom', '--path', 'etc'], {})).toThrow(/is relative/);
  });

  it.each(PROFILE_NAMES)(
    '%s: collects with that profile and the summary says what it collected',
    async (profile) => {
      const run = await runDemo(['--profile', profile, '--size', '1', '--time-scale', '120', '--json']);
      expect(run.code).toBe(0);
      const summary = JSON.parse(run.stdout) as DemoSummary;
      expect(summary.caseStatus).toBe('complete');
      // custom paths belong to one OS (Linux by default): the demo collects from that OS's agent only.
      expect(summary.agents.map((a) => a.osType).sort()).toEqual(
        profile === 'custom' ? ['linux'] : ['linux', 'windows'],
      );
      for (const agent of summary.agents) {
        const os = agent.osType as 'linux' | 'windows';
        expect(agent.evidence?.verified).toBe(true);
        expect(agent.evidence?.script).toEqual({
          libraryName: collectorFor(os, undefined, profile)?.libraryName,
          profile,
          sha256: collectorFor(os, undefined, profile)?.sha256,
          collected: PROFILE_CONTENTS[profile].sections[os],
        });
      }
      expect(run.stderr).toContain(`profile ${profile}`);
    },
  );
});
