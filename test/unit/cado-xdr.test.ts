/** Collection mode cado-xdr: the profile mapping, the console comparison and how Record Outcome judges such an agent. */
import { describe, expect, it } from 'vitest';
import { summarizeAgent } from '../../lambdas/record-outcome/core';
import { sameConsole, xdrHostOptions } from '../../lambdas/shared/cado/xdr';
import { InputValidationError } from '../../lambdas/shared/errors';
import type { AgentFinalState } from '../../lambdas/shared/schemas';

describe('xdrHostOptions', () => {
  it('maps the four profiles, triage lightest, and never turns TLS verification off', () => {
    expect(xdrHostOptions('triage')).toMatchObject({
      collection_type: 'balanced',
      light_mode: true,
      skip_scan: true,
    });
    expect(xdrHostOptions('full')).toMatchObject({
      collection_type: 'balanced',
      light_mode: false,
      skip_scan: false,
    });
    expect(xdrHostOptions('custom', ['C:\\\\x.log'])).toMatchObject({
      collection_type: 'custom',
      additional_files_only: true,
      additional_files: ['C:\\\\x.log'],
    });
    for (const profile of ['triage', 'full'] as const)
      expect(xdrHostOptions(profile).skip_ssl_verification).toBe(false);
  });

  it('refuses memory, and custom without files, with what to do', () => {
    expect(() => xdrHostOptions('memory')).toThrow(InputValidationError);
    expect(() => xdrHostOptions('memory')).toThrow(/use collection mode s1-remoteops/);
    expect(() => xdrHostOptions('custom')).toThrow(/cadoXdrCustomFiles/);
  });
});

describe('sameConsole', () => {
  it('compares scheme and host, not paths or case', () => {
    expect(sameConsole('https://ACME.sentinelone.net/', 'https://acme.sentinelone.net/web/api/v2.1')).toBe(
      true,
    );
    expect(sameConsole('https://acme.sentinelone.net', 'https://other.sentinelone.net')).toBe(false);
    expect(sameConsole('http://acme.sentinelone.net', 'https://acme.sentinelone.net')).toBe(false);
    expect(sameConsole('acme', 'https://acme.sentinelone.net')).toBe(false);
  });
});

describe('summarizeAgent in collection mode cado-xdr', () => {
  const investigation = {
    investigationId: 'threat-1',
    requestedBy: 'test',
    startedAt: '2026-01-01T00:00:00.000Z',
    collectionMode: 'cado-xdr' as const,
  };
  const target = { agentId: '11', computerName: 'host', osType: 'linux' as const };
  const xdr = {
    collectedBy: 'cado-xdr' as const,
    accountName: 'S1',
    deviceId: '11',
    profile: 'triage' as const,
    collectionType: 'balanced' as const,
    lightMode: true,
    reused: false,
  };
  const cado = {
    projectId: 1,
    projectName: 'S1 threat-1',
    pipelineId: 1001,
    startedAt: 'a',
    deadline: 'b',
  };

  it('is complete when the pipeline completed, with every custody link not available', () => {
    const line = summarizeAgent({
      investigation,
      target,
      xdr,
      cado: { ...cado, phase: 'complete' },
    } as AgentFinalState);
    expect(line).toMatchObject({ outcome: 'complete', collectedBy: 'cado-xdr', cado: { pipelineId: 1001 } });
    expect(line.evidence).toBeUndefined();
    expect(line.custody?.every((l) => l.status === 'not_available')).toBe(true);
  });

  it('is outcome_unknown for an unprovable import, failed for any other error or ending', () => {
    const unknown = summarizeAgent({
      investigation,
      target,
      handoffError: {
        Error: 'CadoXdrImportOutcomeUnknownError',
        Cause: '{"errorMessage":"may have started"}',
      },
    } as AgentFinalState);
    expect(unknown).toMatchObject({ outcome: 'outcome_unknown', collectedBy: 'cado-xdr' });
    const failed = summarizeAgent({
      investigation,
      target,
      xdr,
      cado: { ...cado, phase: 'failed', reason: 'boom' },
    } as AgentFinalState);
    expect(failed).toMatchObject({ outcome: 'failed', reason: "Cado's XDR collection failed: boom" });
    const refused = summarizeAgent({
      investigation,
      target,
      handoffError: { Error: 'CadoXdrAccountError', Cause: 'no account' },
    } as AgentFinalState);
    expect(refused.outcome).toBe('failed');
    expect(refused.reason).toMatch(/^Cado XDR import failed: CadoXdrAccountError/);
  });
});
