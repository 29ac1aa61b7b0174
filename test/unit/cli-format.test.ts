import { describe, expect, it } from 'vitest';
import { caseLines, nextLines, rerunCanHelp } from '../../bin/cli/format';
import { type AgentOutcome, CaseRecord } from '../../lambdas/shared/evidence/case-record';

const evidence = (agentId: string) => ({
  bucket: 'evidence',
  key: `investigations/threat-1/${agentId}/result.zip`,
  versionId: 'v1',
  bytes: 1024,
  sha256: 'a'.repeat(64),
  manifestKey: `investigations/threat-1/${agentId}/manifest.json`,
});

function handoffFailed(
  agentId: string,
  cado?: AgentOutcome['cado'],
  reason = 'Cado hand-off failed',
): AgentOutcome {
  return {
    agentId,
    outcome: 'staged_handoff_failed',
    reason,
    evidence: evidence(agentId),
    ...(cado ? { cado } : {}),
  };
}

const failedPipeline = (pipelineId: number, why: string) => ({
  projectId: 7,
  projectName: 'threat-1',
  pipelineId,
  phase: 'failed',
  reason: `Cado acquisition pipeline ${pipelineId} failed: ${why}`,
});

function record(agents: AgentOutcome[]): CaseRecord {
  return CaseRecord.parse({
    schema: 's1cado/case@1',
    investigationId: 'threat-1',
    finishedAt: '2026-12-02T10:00:00.000Z',
    status: 'staged_handoff_failed',
    summary: 'staged, hand-off failed',
    counts: {
      complete: 0,
      partial: 0,
      staged_handoff_failed: agents.length,
      failed: 0,
      timed_out: 0,
      rejected: 0,
      outcome_unknown: 0,
      shared: 0,
    },
    agents,
    scripts: [],
    tool: { name: 's1-cado-forensics', version: '0.1.0' },
    handoffRerunCommand: 'npx s1cado handoff threat-1',
  });
}

describe('re-run advice', () => {
  it('gives the re-run command when Cado was down, refused the import or ran out of time', () => {
    const down = handoffFailed('1', undefined, 'CadoTransientError: 503 from POST /api/v3/projects');
    const late = handoffFailed('2', {
      ...failedPipeline(11, 'x'),
      phase: 'deadline',
      reason: 'Still running',
    });
    const s3 = handoffFailed('3', failedPipeline(12, 'Download from S3: Failed to acquire evidence from S3'));
    for (const agent of [down, late, s3]) expect(rerunCanHelp(agent)).toBe(true);
    expect(nextLines(record([down, late, s3]))).toEqual([
      '  Next        evidence is staged but not processed by Cado: npx s1cado handoff threat-1',
    ]);
  });

  it('gives none for evidence Cado cannot extract, and says why', () => {
    const encrypted = handoffFailed(
      '4',
      failedPipeline(21, 'Extract evidence: Failed to extract evidence: archive was encrypted'),
    );
    const compression = handoffFailed(
      '5',
      failedPipeline(22, 'Unable to open the archive: unsupported compression'),
    );
    expect(rerunCanHelp(encrypted)).toBe(false);
    expect(rerunCanHelp(compression)).toBe(false);
    const lines = caseLines(record([encrypted, compression]));
    expect(lines.join('\n')).not.toContain('npx s1cado handoff');
    expect(lines.filter((l) => l.startsWith('  Not re-run'))).toEqual([
      expect.stringMatching(
        /^ {2}Not re-run {2}4: Cado could not process this evidence \(pipeline 21\); a re-run/,
      ),
      expect.stringMatching(/^ {2}Not re-run {2}5: .*\(pipeline 22\)/),
    ]);
  });

  it('names the agents a re-run helps when only some can be helped', () => {
    const down = handoffFailed('6');
    const bad = handoffFailed('7', failedPipeline(31, 'Parse artifacts: corrupt zip'));
    expect(nextLines(record([down, bad]), true)).toEqual([
      '  Next        evidence is still staged but not processed by Cado (6): npx s1cado handoff threat-1',
      expect.stringMatching(/^ {2}Not re-run {2}7: /),
    ]);
  });
});
