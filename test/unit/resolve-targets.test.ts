import { describe, expect, it } from 'vitest';
import { agentRecord } from '../../lambdas/check-permissions/core';
import {
  decideTarget,
  decideTargets,
  NOT_FOUND_REASON,
  rejectionReason,
  resolveTargets,
} from '../../lambdas/resolve-targets/core';
import type { AgentRecord, PreflightChecked, RejectedTarget } from '../../lambdas/shared/schemas';
import type { S1Agent } from '../../lambdas/shared/sentinelone';

const linux: AgentRecord = {
  id: '1001',
  uuid: 'a'.repeat(32),
  computerName: 'web-01',
  osType: 'linux',
  osName: 'Ubuntu 22.04',
  siteId: '2001',
  siteName: 'Production',
  accountId: '3001',
  accountName: 'Acme',
  groupId: '4001',
  isDecommissioned: false,
  isUninstalled: false,
};
const agent = (over: Partial<AgentRecord>): AgentRecord => ({ ...linux, ...over });
const noRso: RejectedTarget = { agentId: '1009', computerName: 'branch', reason: 'the site lacks RemoteOps' };

describe('rejectionReason', () => {
  it('rejects decommissioned, uninstalled, unsupported-OS agents and agents without site or account', () => {
    expect(rejectionReason(agent({}))).toBeUndefined();
    expect(rejectionReason(agent({ isDecommissioned: true }))).toBe('the agent is decommissioned');
    expect(rejectionReason(agent({ isUninstalled: true }))).toBe('the agent is uninstalled');
    expect(rejectionReason(agent({ osType: 'macos' }))).toContain('unsupported OS "macos"');
    expect(rejectionReason(agent({ osType: 'windows_legacy' }))).toContain('unsupported OS "windows_legacy"');
    expect(rejectionReason(agent({ osType: undefined }))).toContain('unsupported OS "unknown"');
    expect(rejectionReason(agent({ siteId: undefined }))).toContain('site and account');
    expect(rejectionReason(agent({ accountId: undefined }))).toContain('site and account');
  });

  it('names decommissioning before the OS when both apply', () => {
    expect(rejectionReason(agent({ isDecommissioned: true, osType: 'macos' }))).toBe(
      'the agent is decommissioned',
    );
  });
});

describe('decideTarget', () => {
  it('turns a collectable agent into a Target with its S1 placement', () => {
    expect(decideTarget(linux.id, linux, undefined)).toEqual({
      target: {
        agentId: linux.id,
        agentUuid: linux.uuid,
        computerName: linux.computerName,
        osType: 'linux',
        osName: linux.osName,
        siteId: linux.siteId,
        siteName: linux.siteName,
        accountId: linux.accountId,
        accountName: linux.accountName,
        groupId: linux.groupId,
      },
    });
  });

  it('falls back to the agent id for a missing computer name and an empty uuid', () => {
    const { target } = decideTarget(
      '1002',
      agent({ id: '1002', computerName: undefined, uuid: undefined }),
      undefined,
    ) as {
      target: { computerName: string; agentUuid: string };
    };
    expect(target).toMatchObject({ computerName: '1002', agentUuid: '' });
  });

  it('keeps the preflight rejection, even for an agent whose record would pass', () => {
    expect(decideTarget(noRso.agentId, agent({ id: noRso.agentId }), noRso)).toEqual({ rejected: noRso });
  });

  it('rejects an agent S1 did not return as out of scope', () => {
    expect(decideTarget('1003', undefined, undefined)).toEqual({
      rejected: { agentId: '1003', reason: NOT_FOUND_REASON },
    });
  });

  it('rejects with the record’s reason and computer name', () => {
    expect(decideTarget(linux.id, agent({ osType: 'macos', computerName: 'mbp' }), undefined)).toEqual({
      rejected: { agentId: linux.id, computerName: 'mbp', reason: expect.stringContaining('macos') },
    });
  });
});

describe('decideTargets', () => {
  it('decides every requested agent once, in the order requested', () => {
    const windows = agent({ id: '1004', osType: 'windows', computerName: 'dc-01' });
    const decommissioned = agent({ id: '1005', isDecommissioned: true });
    const { targets, rejected } = decideTargets(['1004', '1003', noRso.agentId, '1005', linux.id], {
      rejected: [noRso],
      agents: [linux, decommissioned, windows],
    });
    expect(targets.map((t) => [t.agentId, t.osType])).toEqual([
      ['1004', 'windows'],
      [linux.id, 'linux'],
    ]);
    expect(rejected.map((r) => r.agentId)).toEqual(['1003', noRso.agentId, '1005']);
    expect(rejected[1]).toBe(noRso);
  });
});

describe('resolveTargets', () => {
  const event = (over: Partial<PreflightChecked> = {}): PreflightChecked => ({
    input: { agentIds: [linux.id, '1003'], requestedBy: 'analyst', reason: 'triage', threatId: '5001' },
    execution: { name: 'threat-5001', id: 'arn:exec', startTime: '2026-11-24T10:00:00.000Z' },
    preflight: { s1UserScope: 'site', rejected: [], agents: [linux] },
    ...over,
  });
  const never = () => {
    throw new Error('the clock is only read without a start time');
  };

  it('builds the investigation from the input and the execution, and carries the user scope', () => {
    const out = resolveTargets(event(), never);
    expect(out.investigation).toEqual({
      investigationId: 'threat-5001',
      executionArn: 'arn:exec',
      threatId: '5001',
      requestedBy: 'analyst',
      reason: 'triage',
      startedAt: '2026-11-24T10:00:00.000Z',
    });
    expect(out.targets.map((t) => t.agentId)).toEqual([linux.id]);
    expect(out.rejected).toEqual([{ agentId: '1003', reason: NOT_FOUND_REASON }]);
    expect(out.s1UserScope).toBe('site');
  });

  it('uses the clock when the execution has no start time, and leaves an unknown scope out', () => {
    const out = resolveTargets(
      event({
        execution: { name: 'manual-1' },
        preflight: { rejected: [], agents: [linux] },
      }),
      () => '2026-11-24T11:00:00.000Z',
    );
    expect(out.investigation.startedAt).toBe('2026-11-24T11:00:00.000Z');
    expect(out).not.toHaveProperty('s1UserScope');
  });

  it('refuses invalid input and an execution name that is no investigation id', () => {
    expect(() => resolveTargets(event({ input: { agentIds: [] } }), never)).toThrow(/agentIds/);
    expect(() => resolveTargets(event({ execution: { name: 'a b' } }), never)).toThrow(/Execution name/);
  });
});

describe('agentRecord (what Check Permissions passes on)', () => {
  it('keeps only the fields Resolve Targets reads, and drops S1’s nulls', () => {
    const s1: S1Agent = {
      ...linux,
      osName: null,
      groupId: null,
      osRevision: '5.15',
      networkStatus: 'connected',
      lastActiveDate: '2026-11-24T09:00:00Z',
      extraFieldS1Added: { deep: ['value'] },
    } as S1Agent;
    const { osName: _, groupId: __, ...expected } = linux;
    expect(agentRecord(s1)).toEqual(expected);
  });
});
