/**
 * End-to-end: each collection profile through the whole workflow on the local stack. The profile's own copy of the
 * collector is uploaded to the S1 library (its own name and hash), run with the profile's budget and arguments, and
 * its evidence staged with a verified chain of custody. The memory profile's "tool" is a small fake acquisition
 * program whose SHA-256 is configured; an OS without a configured tool is refused with the reason.
 */
import { describe, expect, it } from 'vitest';
import {
  budgetOf,
  collectorFor,
  DEFAULT_PROFILE_SETTINGS,
  PROFILE_NAMES,
  type ProfileName,
} from '../../lambdas/collectors';
import {
  agentResult,
  type E2eStack,
  investigate,
  nextThreatId,
  runCli,
  s1Requests,
  sha256Hex,
  useE2eStack,
  verifiedEvidence,
} from './helpers';

/** The fake acquisition program: writes a recognisable "image" to the file named by its one argument. */
const FAKE_TOOL = '#!/bin/bash\nprintf "FAKE-MEMORY-IMAGE" > "$1"\n';
const FAKE_TOOL_SHA256 = sha256Hex(FAKE_TOOL);

let stack: E2eStack;
useE2eStack(
  (s) => {
    stack = s;
  },
  {
    config: {
      collectionProfiles: {
        budgets: { full: { runtimeTimeoutSeconds: 2400, maxMb: 2048 } },
        memoryTool: { linux: { fileName: 'avml', sha256: FAKE_TOOL_SHA256 } },
      },
    },
  },
);

function inputFor(profile: ProfileName, agentIds: string[]) {
  return {
    agentIds,
    requestedBy: 'e2e',
    threatId: nextThreatId(),
    profile,
    ...(profile === 'custom' ? { customPaths: ['/etc/passwd', '/var/log/nginx/*.log'] } : {}),
  };
}

describe('each profile through the whole workflow', () => {
  it.each(PROFILE_NAMES)(
    '%s: uploads its own script, runs it with its budget, stages verified evidence',
    async (profile) => {
      const { linux } = stack.tenant.agents;
      const executes = stack.s1Sim.requests.length;
      const run = await investigate(stack, inputFor(profile, [linux.id]));
      expect(run.failure).toBeUndefined();
      expect(run.output?.outcome).toMatchObject({ status: 'complete' });

      const expected = collectorFor('linux', undefined, profile);
      const result = agentResult(run, linux.id);
      expect(result.target?.script).toMatchObject({
        profile,
        name: `s1cado-${profile}-linux`,
        sha256: expected?.sha256,
        libraryName: expected?.libraryName,
      });
      // The library script S1 holds is the profile's copy, byte for byte.
      const scriptId = result.target?.script?.scriptId as string;
      const inLibrary = stack.s1Sim.state.scripts.get(scriptId);
      expect(inLibrary?.scriptName).toBe(expected?.libraryName);

      // The run carries the profile, its budget and arguments.
      const budget = budgetOf(
        profile,
        { ...DEFAULT_PROFILE_SETTINGS, budgets: { full: { runtimeTimeoutSeconds: 2400, maxMb: 2048 } } },
        900,
      );
      const [execute] = s1Requests(stack, '/remote-scripts/execute', executes);
      expect(execute).toBeDefined();
      const { data } = (
        execute as { body: { data: { inputParams: string; scriptRuntimeTimeoutSeconds: number } } }
      ).body;
      expect(data.scriptRuntimeTimeoutSeconds).toBe(budget.runtimeTimeoutSeconds);
      expect(data.inputParams).toContain(
        `--profile ${profile} --max-seconds ${budget.runtimeTimeoutSeconds / 2}`,
      );
      expect(data.inputParams).toContain(`--max-mb ${budget.maxMb}`);
      if (profile === 'memory')
        expect(data.inputParams).toContain(`--tool-name avml --tool-sha256 ${FAKE_TOOL_SHA256}`);
      if (profile === 'custom')
        expect(data.inputParams).toContain('--paths /etc/passwd,/var/log/nginx/*.log');

      // Chain of custody: the staged bytes are what S1 served, and the manifest names the profile's script.
      const { manifest, bytes, served } = await verifiedEvidence(
        stack,
        result.evidence?.key as string,
        result.evidence?.manifestKey as string,
      );
      expect(sha256Hex(bytes)).toBe(served.sha256);
      expect(manifest.object.sha256).toBe(served.sha256);
      expect(manifest.script).toMatchObject({ profile, sha256: expected?.sha256 });
      expect(manifest.result).toMatchObject({ s1SignatureMatches: true });
    },
  );

  it('the default profile is triage when the input names none', async () => {
    const { windows } = stack.tenant.agents;
    const run = await investigate(stack, {
      agentIds: [windows.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    expect(run.output?.outcome).toMatchObject({ status: 'complete' });
    expect(agentResult(run, windows.id).target?.script).toMatchObject({
      profile: 'triage',
      sha256: collectorFor('windows')?.sha256,
    });
  });

  it('memory: an agent whose OS has no configured tool is refused with the reason; the other is collected', async () => {
    const { windows, linux } = stack.tenant.agents;
    const run = await investigate(stack, inputFor('memory', [windows.id, linux.id]));
    expect(run.output?.outcome).toMatchObject({ status: 'partial' });
    expect(run.output?.rejected).toEqual([
      expect.objectContaining({
        agentId: windows.id,
        reason: expect.stringMatching(/no memory acquisition tool is configured for windows/),
      }),
    ]);
    expect(agentResult(run, linux.id).target?.script?.profile).toBe('memory');
  });

  it('custom: a relative path or traversal is refused before anything runs, with a clear error', async () => {
    const { linux } = stack.tenant.agents;
    const executes = stack.s1Sim.requests.length;
    for (const [paths, message] of [
      [['etc/passwd'], /relative: give an absolute path/],
      [['/var/log/../../etc/shadow'], /traversal is not allowed/],
    ] as const) {
      const run = await investigate(stack, {
        agentIds: [linux.id],
        requestedBy: 'e2e',
        threatId: nextThreatId(),
        profile: 'custom',
        customPaths: paths,
      });
      expect(run.output).toBeUndefined();
      expect(`${run.failure?.error} ${run.failure?.cause}`).toMatch(message);
    }
    expect(s1Requests(stack, '/remote-scripts/execute', executes)).toHaveLength(0);
  });

  it('s1cado collect --profile custom refuses a traversal and a relative path with a usage error', async () => {
    const { linux } = stack.tenant.agents;
    const traversal = await runCli(stack, [
      'collect',
      '--agent',
      linux.id,
      '--profile',
      'custom',
      '--path',
      '/etc/../root',
    ]);
    expect(traversal.code).toBe(2);
    expect(traversal.stderr).toMatch(/--path: path "\/etc\/\.\.\/root" contains a "\." or "\.\." segment/);
    const relative = await runCli(stack, [
      'collect',
      '--agent',
      linux.id,
      '--profile',
      'custom',
      '--path',
      'tmp/x',
    ]);
    expect(relative.code).toBe(2);
    expect(relative.stderr).toMatch(/is relative: give an absolute path/);
    const unknown = await runCli(stack, ['collect', '--agent', linux.id, '--profile', 'everything']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--profile "everything": must be one of triage, full, memory, custom/);
  });

  it('s1cado collect --help lists the four profiles', async () => {
    const help = await runCli(stack, ['collect', '--help']);
    for (const name of PROFILE_NAMES) expect(help.stdout).toMatch(new RegExp(`^ +${name} +\\S`, 'm'));
  });
});
