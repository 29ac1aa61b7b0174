/**
 * End-to-end: the synthesized investigation workflow, run in-process against the S1 and Cado simulators and
 * s3rver, collecting from agents that succeed, fail, go missing, or get rate-limited; input that is refused; and a
 * Run Script whose response is lost after S1 started the task.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { evidenceKey } from '../../lambdas/shared/evidence/keys';
import { DETAILED_STATUS } from '../../local/s1-simulator';
import {
  agentLine,
  agentResult,
  collectorOnDisk,
  type E2eStack,
  investigate,
  listKeys,
  nextThreatId,
  readJson,
  s1Requests,
  sha256Hex,
  startE2eStack,
  verifiedEvidence,
} from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack();
});

afterEach(async () => {
  await stack.reset();
});

afterAll(async () => {
  await stack?.close();
});

/** Keys of staged objects (evidence and manifests) under an investigation: all but task records, case and report. */
async function stagedKeys(investigationId: string): Promise<string[]> {
  const keys = await listKeys(stack, `investigations/${investigationId}/`);
  return keys.filter((key) => !/\/(task\.json|case\.json|case\.md)$/.test(key));
}

describe('a Windows and a Linux agent', () => {
  it('collects both, stages verified evidence with a complete manifest, and hands both to Cado', async () => {
    const { windows, linux } = stack.tenant.agents;
    const threatId = stack.tenant.threats.windows.id;
    const run = await investigate(stack, {
      agentIds: [windows.id, linux.id],
      requestedBy: 'e2e',
      reason: 'two operating systems',
      threatId,
    });

    expect(run.failure).toBeUndefined();
    expect(run.output?.outcome).toMatchObject({ status: 'complete', errorName: null });
    expect(run.caseRecord).toMatchObject({
      investigationId: `threat-${threatId}`,
      threatId,
      requestedBy: 'e2e',
      status: 'complete',
      counts: { complete: 2, failed: 0, timed_out: 0, staged_handoff_failed: 0, rejected: 0 },
    });

    for (const agent of [windows, linux]) {
      const osType = agent.osType as 'windows' | 'linux';
      const result = agentResult(run, agent.id);
      const childTaskId = result.task?.childTaskId as string;
      const parentTaskId = result.task?.parentTaskId as string;
      // The child task really is this agent's task under that parent, in the simulator.
      const simTask = stack.s1Sim.state.tasks.get(childTaskId);
      expect(simTask).toMatchObject({ agentId: agent.id, parentTaskId });

      const evidence = result.evidence;
      expect(evidence?.key).toMatch(
        new RegExp(`^investigations/${run.investigationId}/${agent.id}/${childTaskId}/[0-9a-f]{64}\\.zip$`),
      );
      const { manifest, bytes, served } = await verifiedEvidence(
        stack,
        evidence?.key as string,
        evidence?.manifestKey as string,
      );
      // The bytes in S3 are exactly the file S1 served for that task.
      expect(sha256Hex(bytes)).toBe(served.sha256);
      expect(manifest.object.sha256).toBe(served.sha256);
      expect(manifest.object.bytes).toBe(served.size);
      expect(bytes.length).toBe(served.size);
      expect(evidence?.key).toBe(
        evidenceKey(run.investigationId, agent.id, childTaskId, `${served.sha256}.zip`),
      );

      const script = collectorOnDisk(osType);
      expect(manifest).toMatchObject({
        schema: 's1cado/manifest@1',
        investigation: { investigationId: run.investigationId, threatId, requestedBy: 'e2e' },
        agent: { agentId: agent.id, agentUuid: agent.uuid, computerName: agent.computerName, osType },
        script: { osType, sha256: script.sha256, version: script.version },
        s1Task: {
          parentTaskId,
          childTaskId,
          status: 'completed',
          detailedStatus: DETAILED_STATUS.success,
          reusedExisting: false,
        },
        result: { s1Signature: served.sha256, s1SignatureMatches: true },
        object: { bucket: stack.bucket, key: evidence?.key },
        download: { resumes: 0, linkRefreshes: 0 },
        handoff: { status: 'complete', rerunCommand: `npx s1cado handoff ${run.investigationId}` },
        tool: { name: 's1-cado-forensics' },
        writtenBy: 'record-outcome',
      });
      expect(manifest.tool.version).toMatch(/^\d+\.\d+\.\d+/);
      // The S1 library holds the script under the hash of the exact bytes on disk.
      expect(stack.s1Sim.state.scripts.get(manifest.script.scriptId)?.scriptName).toBe(
        manifest.script.libraryName,
      );

      expect(manifest.timeline.map((e) => e.event)).toEqual([
        'investigation-started',
        'task-started',
        'task-completed',
        'download-started',
        'staged',
        'cado-complete',
      ]);
      const times = manifest.timeline.map((e) => Date.parse(e.at));
      expect(times.every((t) => Number.isFinite(t))).toBe(true);
      expect([...times].sort((a, b) => a - b)).toEqual(times);

      // Cado imported exactly this object, and the manifest carries the pipeline's final status.
      const imports = stack.cadoSim.state.imports.filter((i) => i.keys.includes(evidence?.key as string));
      expect(imports).toHaveLength(1);
      expect(imports[0]?.bucket).toBe(stack.bucket);
      expect(manifest.cado).toMatchObject({ pipelineId: imports[0]?.pipelineId, phase: 'complete' });
      expect(manifest.cado?.projectName).toBe(`S1 threat-${threatId}`);

      expect(agentLine(run, agent.id)).toMatchObject({
        outcome: 'complete',
        osType,
        evidence: { key: evidence?.key, sha256: served.sha256, bytes: served.size },
        cado: { phase: 'complete', pipelineId: imports[0]?.pipelineId },
      });
    }
  });
});

describe('agents that do not deliver', () => {
  it('an offline agent whose task expires fails with the expiry; the other is collected (partial)', async () => {
    // Tasks for the offline agent expire after 2 simulated minutes, well before the workflow's deadline.
    stack.s1Sim.config.taskTiming.expiryMs = 120_000;
    const { windows, offline } = stack.tenant.agents;
    const run = await investigate(stack, {
      agentIds: [windows.id, offline.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.failure).toBeUndefined();
    expect(run.output?.outcome).toMatchObject({ status: 'partial', errorName: null });
    expect(run.caseRecord.status).toBe('partial');
    expect(agentLine(run, windows.id).outcome).toBe('complete');
    const line = agentLine(run, offline.id);
    expect(line.outcome).toBe('failed');
    expect(line.s1Task?.status).toBe('expired');
    expect(line.reason).toMatch(/expired/i);
    expect(line.evidence).toBeUndefined();
    const childTaskId = line.s1Task?.childTaskId as string;
    expect(stack.s1Sim.taskView(childTaskId).status).toBe('expired');
    const staged = await stagedKeys(run.investigationId);
    expect(staged.some((key) => key.includes(`/${offline.id}/`))).toBe(false);
    // The result, its manifest, its verification record and the final manifest's signature.
    expect(
      staged
        .filter((key) => key.includes(`/${windows.id}/`))
        .map((key) => key.split('/').pop())
        .sort(),
    ).toEqual([
      expect.stringMatching(/\.zip$/),
      'manifest.json',
      'manifest.signature.json',
      'verification.json',
    ]);
  });

  it("a broken SHA256SUMS entry fails that agent's integrity (kept, not handed off); a good collection shows its chain", async () => {
    const { windows, linux } = stack.tenant.agents;
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    const log = '# s1cado-collector windows-triage 1\n';
    const listing = `${sha(log)}  collection.log\n${'0'.repeat(64)}  system/systeminfo.txt\n`;
    stack.s1Sim.setAgentBehavior(windows.id, {
      result: {
        entries: [
          { name: 'collection.log', content: Buffer.from(log) },
          { name: 'system/systeminfo.txt', content: Buffer.from('Host Name: ACME-SRV1\n') },
          { name: 'SHA256SUMS', content: Buffer.from(listing) },
        ],
      },
    });
    stack.s1Sim.setAgentBehavior(linux.id, { result: { size: 100_000, collector: true } });
    const run = await investigate(stack, {
      agentIds: [windows.id, linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    const broken = agentLine(run, windows.id);
    expect(broken.outcome).toBe('failed');
    expect(broken.reason).toMatch(/EvidenceIntegrityError.*mismatch: system\/systeminfo\.txt/);
    expect(broken.cado).toBeUndefined();
    const kept = broken.evidence as NonNullable<typeof broken.evidence>;
    const verification = await readJson(
      stack,
      kept.manifestKey.replace('manifest.json', 'verification.json'),
    );
    expect(verification).toMatchObject({
      readBack: { status: 'verified', sha256: kept.sha256 },
      listing: { status: 'mismatch', filesListed: 2, verified: 1, mismatched: 1, missing: 0, extra: 0 },
    });
    expect(await listKeys(stack, kept.key)).toEqual([kept.key]);

    const good = agentLine(run, linux.id);
    expect(good.outcome).toBe('complete');
    const manifest = (await readJson(stack, good.evidence?.manifestKey as string)) as {
      chain: { link: string; status: string }[];
    };
    expect(Object.fromEntries(manifest.chain.map((l) => [l.link, l.status]))).toEqual({
      'collector-listing': 'verified',
      staging: 'verified',
      's1-signature': 'verified',
      'read-back': 'verified',
      cado: 'not_available',
    });
  });

  it('a failed task and a task completed with a failure detailedStatus: both failed, nothing staged', async () => {
    const { windows, linux } = stack.tenant.agents;
    stack.s1Sim.setAgentBehavior(windows.id, { profile: 'fail' });
    stack.s1Sim.setAgentBehavior(linux.id, { profile: 'completedWithFailure' });
    const before = stack.s1Sim.requests.length;
    const run = await investigate(stack, {
      agentIds: [windows.id, linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(run.output).toBeUndefined();
    expect(run.failure?.error).toBe('InvestigationFailed');
    expect(run.caseRecord.status).toBe('failed');
    expect(run.caseRecord.counts).toMatchObject({ failed: 2, complete: 0 });

    const failed = agentLine(run, windows.id);
    expect(failed).toMatchObject({ outcome: 'failed', s1Task: { status: 'failed' } });
    expect(failed.reason).toMatch(/fail/i);
    const completedBadly = agentLine(run, linux.id);
    expect(completedBadly).toMatchObject({
      outcome: 'failed',
      s1Task: { status: 'completed', detailedStatus: DETAILED_STATUS.terminatedInFailure },
    });
    expect(completedBadly.reason).toContain(DETAILED_STATUS.terminatedInFailure);
    for (const line of [failed, completedBadly]) expect(line.evidence).toBeUndefined();

    expect(await stagedKeys(run.investigationId)).toEqual([]);
    expect(s1Requests(stack, '/remote-scripts/fetch-files', before)).toEqual([]);
    expect(
      stack.cadoSim.state.imports.filter((i) => i.keys.some((k) => k.includes(run.investigationId))),
    ).toEqual([]);
  });
});

describe('input the workflow refuses', () => {
  it.each([
    ['no agents', { agentIds: [], requestedBy: 'e2e' }, /agentIds: name at least one agent id/],
    ['numeric ids', { agentIds: [141584400004129], requestedBy: 'e2e' }, /agentIds\.0: .*string of digits/],
    [
      'unknown keys',
      { agentIds: ['1'], requestedBy: 'e2e', priority: 'high' },
      /[Uu]nrecognized key.*priority/,
    ],
  ])(
    '%s: fails with InvestigationFailed naming the problem, and still writes case.json',
    async (_, input, why) => {
      const name = `manual-e2e-bad-input-${nextThreatId()}`;
      const before = stack.s1Sim.requests.length;
      const run = await investigate(stack, input, { name });

      expect(run.output).toBeUndefined();
      expect(run.failure?.error).toBe('InvestigationFailed');
      expect(run.failure?.cause).toContain('InputValidationError');
      expect(run.failure?.cause).toMatch(why);
      expect(run.caseRecord).toMatchObject({ investigationId: name, status: 'failed', agents: [] });
      expect(run.caseRecord.error).toMatch(/^InputValidationError: Investigation input is invalid/);
      expect(run.caseRecord.error).toMatch(why);
      // Refused before anything reached S1.
      expect(stack.s1Sim.requests.length).toBe(before);
    },
  );

  it('rejects macOS, decommissioned, unknown and unlicensed agents with their reasons and collects the rest, reading the agents once', async () => {
    const { macos, decommissioned, linux, noRso } = stack.tenant.agents;
    const unknown = '1999999999999999999';
    const agentIds = [macos.id, decommissioned.id, unknown, noRso.id, linux.id];
    const executionsBefore = stack.s1Sim.state.executions.length;
    const before = stack.s1Sim.requests.length;
    const run = await investigate(stack, { agentIds, requestedBy: 'e2e', threatId: nextThreatId() });

    expect(run.failure).toBeUndefined();
    expect(run.caseRecord.status).toBe('partial');
    expect(run.caseRecord.counts).toMatchObject({ complete: 1, rejected: 4 });
    // One GET /agents for the whole investigation (Check Permissions), asking for every requested id.
    const agentReads = s1Requests(stack, '/agents', before);
    expect(agentReads).toHaveLength(1);
    expect(String(agentReads[0]?.query.ids).split(',').sort()).toEqual([...agentIds].sort());
    expect(agentLine(run, noRso.id)).toMatchObject({ outcome: 'rejected', computerName: noRso.computerName });
    expect(agentLine(run, noRso.id).reason).toMatch(/lacks the RemoteOps \(rso\) licence module/);
    expect(agentLine(run, macos.id)).toMatchObject({ outcome: 'rejected', computerName: macos.computerName });
    expect(agentLine(run, macos.id).reason).toMatch(/unsupported OS "macos"/);
    expect(agentLine(run, decommissioned.id).reason).toMatch(/decommissioned/);
    expect(agentLine(run, unknown)).toMatchObject({ outcome: 'rejected' });
    expect(agentLine(run, unknown).reason).toMatch(/no such agent/);
    expect(agentLine(run, linux.id).outcome).toBe('complete');
    // Only the Linux agent was ever sent a script.
    const executions = stack.s1Sim.state.executions.slice(executionsBefore);
    expect(executions.flatMap((e) => e.eligibleAgentIds)).toEqual([linux.id]);
  });
});

describe('resilience', () => {
  it('survives a 429 storm on task polling and completes', async () => {
    const { windows, linux } = stack.tenant.agents;
    const storm = stack.s1Sim.faults.respond(429, {
      times: 12,
      retryAfter: 2,
      match: { path: '/remote-scripts/status' },
    });
    const before = stack.s1Sim.requests.length;
    const run = await investigate(stack, {
      agentIds: [windows.id, linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(storm.hits).toBe(12);
    const statusCalls = s1Requests(stack, '/remote-scripts/status', before);
    // At least the storm (the simulator's own limiter may add a few).
    expect(statusCalls.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(12);
    expect(statusCalls.some((r) => r.status === 200)).toBe(true);
    expect(run.failure).toBeUndefined();
    expect(run.caseRecord.status).toBe('complete');
  });

  it('a Run Script retried after its first attempt queued the execute still starts one task, and follows it', async () => {
    const { linux } = stack.tenant.agents;
    const executionsBefore = stack.s1Sim.state.executions.length;
    const run = await investigate(
      stack,
      { agentIds: [linux.id], requestedBy: 'e2e', threatId: nextThreatId() },
      { lostLambdaResponses: { 'Run Script': { times: 1 } } },
    );

    // The first invocation did its work (queued the execute) but Step Functions saw Lambda.ServiceException. The
    // retry, with a new token, either queues it again (not sent yet) or finds it started by the watcher (reuse).
    expect(run.stats.invocationsByState['Run Script']).toBe(2);
    expect(run.events.some((e) => e.type === 'StateRetried' && e.state.name === 'Run Script')).toBe(true);
    const executions = stack.s1Sim.state.executions
      .slice(executionsBefore)
      .filter((e) => e.eligibleAgentIds.includes(linux.id));
    expect(executions).toHaveLength(1);
    const parentTaskId = executions[0]?.parentTaskId as string;
    expect(stack.s1Sim.tasksOf(parentTaskId)).toHaveLength(1);

    expect(run.failure).toBeUndefined();
    expect(run.caseRecord.status).toBe('complete');
    const result = agentResult(run, linux.id);
    expect(result.task).toMatchObject({ parentTaskId });
    const reused = result.task?.reusedExisting;
    const { manifest } = await verifiedEvidence(
      stack,
      result.evidence?.key as string,
      result.evidence?.manifestKey as string,
    );
    expect(manifest.s1Task).toMatchObject({ parentTaskId, reusedExisting: reused });
    const record = await readJson<{ state: string; parentTaskId: string }>(
      stack,
      `investigations/${run.investigationId}/${linux.id}/task.json`,
    );
    expect(record).toMatchObject({ state: 'started', parentTaskId });
  });
});
