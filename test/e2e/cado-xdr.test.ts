/**
 * Collection mode cado-xdr: instead of our collector, Cado collects through its own SentinelOne integration
 * (`POST /api/v3/import/xdr`), once per agent even when answers are lost, and the case file says honestly that no
 * evidence of ours exists.
 */
import { describe, expect, it } from 'vitest';
import type { CaseRecord } from '../../lambdas/shared/evidence/case-record';
import { LOCAL_XDR_ACCOUNT } from '../../local/local-stack';
import {
  agentLine,
  type E2eStack,
  investigate,
  listKeys,
  nextThreatId,
  readObject,
  runCli,
  s1Requests,
  useE2eStack,
} from './helpers';

let stack: E2eStack;
useE2eStack((started) => {
  stack = started;
});

function xdrImportsOf(agentId: string) {
  return stack.cadoSim.state.xdrImports.filter((record) => record.deviceId === agentId);
}

describe('collection mode cado-xdr', () => {
  it('has Cado collect through SentinelOne, follows its pipeline to the end and records an honest custody', async () => {
    const { windows } = stack.tenant.agents;
    const executesBefore = s1Requests(stack, '/remote-scripts/execute').length;
    const threatId = nextThreatId();
    const run = await investigate(stack, {
      agentIds: [windows.id],
      threatId,
      requestedBy: 'analyst',
      reason: 'cado-xdr test',
      collectionMode: 'cado-xdr',
    });
    expect(run.caseRecord.status).toBe('complete');
    const line = agentLine(run, windows.id);
    expect(line.outcome).toBe('complete');
    expect(line.collectedBy).toBe('cado-xdr');
    expect(line.xdr).toMatchObject({
      accountName: LOCAL_XDR_ACCOUNT,
      deviceId: windows.id,
      profile: 'triage',
    });
    expect(line.evidence).toBeUndefined();
    // Every link of our chain is "not available", each saying why.
    expect(line.custody?.map((l) => [l.link, l.status])).toEqual([
      ['collector-listing', 'not_available'],
      ['staging', 'not_available'],
      ['s1-signature', 'not_available'],
      ['read-back', 'not_available'],
      ['cado', 'not_available'],
    ]);
    expect(line.custody?.[4]?.detail).toMatch(/never held a copy/);

    // One XDR import of that agent, triage options, into the investigation's project; nothing of ours ran.
    const [xdrImport, ...more] = xdrImportsOf(windows.id);
    expect(more).toEqual([]);
    expect(xdrImport?.accountName).toBe(LOCAL_XDR_ACCOUNT);
    expect(xdrImport?.hostOptions).toMatchObject({ collection_type: 'balanced', light_mode: true });
    expect(stack.cadoSim.state.projects.get(xdrImport?.projectId as number)?.name).toBe(
      `S1 threat-${threatId}`,
    );
    expect(line.cado).toMatchObject({ pipelineId: xdrImport?.pipelineId, phase: 'complete' });
    expect(s1Requests(stack, '/remote-scripts/execute').length).toBe(executesBefore);
    expect(run.events.some((e) => JSON.stringify(e).includes('Import From XDR'))).toBe(true);
    expect(run.events.some((e) => JSON.stringify(e).includes('Ensure Scripts'))).toBe(false);
    const keys = await listKeys(stack, `investigations/${run.investigationId}/`);
    expect(keys.filter((k) => !/case\.(json|md)$/.test(k))).toEqual([]);
    const report = (await readObject(stack, `investigations/${run.investigationId}/case.md`)).toString(
      'utf8',
    );
    expect(report).toContain('Collected by: Cado, through its SentinelOne integration');
    expect(report).toMatch(/\| staging \| not_available \| collection mode cado-xdr/);
  });

  it('asks Cado once when its answer is lost after it acted, and when the Lambda response is lost', async () => {
    const { linux } = stack.tenant.agents;
    stack.cadoSim.faults.add({
      method: 'POST',
      path: '/api/v3/import/xdr',
      status: 500,
      afterHandling: true,
      times: 1,
    });
    const run = await investigate(
      stack,
      { agentIds: [linux.id], requestedBy: 'analyst', collectionMode: 'cado-xdr', profile: 'full' },
      { lostLambdaResponses: { 'Import From XDR': { times: 1 } } },
    );
    expect(run.caseRecord.status).toBe('complete');
    const imports = xdrImportsOf(linux.id).filter(
      (r) => r.projectId === agentLine(run, linux.id).cado?.projectId,
    );
    expect(imports).toHaveLength(1);
    expect(imports[0]?.hostOptions).toMatchObject({ collection_type: 'balanced', light_mode: false });
    expect(agentLine(run, linux.id).cado?.pipelineId).toBe(imports[0]?.pipelineId);
  });

  it('says outcome_unknown, and never asks again, when an unanswered import left no pipeline to find', async () => {
    const { windows } = stack.tenant.agents;
    const before = xdrImportsOf(windows.id).length;
    const xdrPosts = () =>
      stack.cadoSim.requests.filter((r) => r.method === 'POST' && r.path === '/api/v3/import/xdr').length;
    const postsBefore = xdrPosts();
    stack.cadoSim.faults.add({ method: 'POST', path: '/api/v3/import/xdr', status: 502, times: 1 });
    const run = await investigate(stack, {
      agentIds: [windows.id],
      requestedBy: 'analyst',
      collectionMode: 'cado-xdr',
    });
    const line = agentLine(run, windows.id);
    expect(line.outcome).toBe('outcome_unknown');
    expect(line.reason).toMatch(/CadoXdrImportOutcomeUnknownError.*not asked again/);
    expect(xdrImportsOf(windows.id).length).toBe(before);
    // One POST (refused by the fault), none after it.
    expect(xdrPosts() - postsBefore).toBe(1);
  });

  it('refuses profile memory before asking Cado anything', async () => {
    const { windows } = stack.tenant.agents;
    const before = stack.cadoSim.state.xdrImports.length;
    const run = await investigate(stack, {
      agentIds: [windows.id],
      requestedBy: 'analyst',
      collectionMode: 'cado-xdr',
      profile: 'memory',
    });
    expect(run.caseRecord.status).toBe('failed');
    expect(run.caseRecord.error).toMatch(/memory.*not available in collection mode cado-xdr/);
    expect(stack.cadoSim.state.xdrImports.length).toBe(before);
  });

  it('fails the agent clearly when Cado has no SentinelOne account', async () => {
    const { windows } = stack.tenant.agents;
    const account = stack.cadoSim.state.accounts.get(LOCAL_XDR_ACCOUNT);
    stack.cadoSim.state.accounts.delete(LOCAL_XDR_ACCOUNT);
    try {
      const run = await investigate(stack, {
        agentIds: [windows.id],
        requestedBy: 'analyst',
        collectionMode: 'cado-xdr',
      });
      const line = agentLine(run, windows.id);
      expect(line.outcome).toBe('failed');
      expect(line.reason).toMatch(/CadoXdrAccountError.*no SentinelOne account/);
      expect(run.caseRecord.status).toBe('failed');
    } finally {
      if (account) stack.cadoSim.state.accounts.set(LOCAL_XDR_ACCOUNT, account);
    }
  });

  it('s1cado collect --mode cado-xdr starts it and waits for the outcome; a bad mode is a usage error', async () => {
    const { linux } = stack.tenant.agents;
    const run = await runCli(stack, [
      'collect',
      '--agent',
      linux.id,
      '--mode',
      'cado-xdr',
      '--wait',
      '--json',
    ]);
    expect(run.code).toBe(0);
    const started = JSON.parse(run.stdout) as { investigationId: string; case: CaseRecord };
    expect(started.case.status).toBe('complete');
    expect(started.case.agents[0]).toMatchObject({ collectedBy: 'cado-xdr', outcome: 'complete' });
    const bad = await runCli(stack, ['collect', '--agent', linux.id, '--mode', 'cado']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mode "cado": Invalid option: expected one of "s1-remoteops"\|"cado-xdr"/);
  });
});
