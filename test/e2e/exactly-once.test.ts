/**
 * End-to-end fault matrix of DESIGN §9 "Exactly once on the endpoint and in Cado": each row runs the synthesized
 * workflow against the simulators, s3rver and dynalite with one fault, and checks from the simulators' own logs
 * that nothing was lost (every agent has a real outcome) and nothing doubled (one S1 task per agent, one Cado
 * import pipeline per staged object).
 */

import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImportIntent, importIntentKey } from '../../lambdas/hand-to-cado/core';
import { ExecuteIntent, executeIntentKey, runScript } from '../../lambdas/run-script/core';
import { CoordinationStore } from '../../lambdas/shared/coordination/store';
import { agentLeaseKey, PARTITION_KEY, SORT_KEY } from '../../lambdas/shared/coordination/table';
import type { AgentStart } from '../../lambdas/shared/schemas';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client } from '../../lambdas/shared/sentinelone';
import {
  agentLine,
  agentResult,
  type E2eStack,
  type InvestigationRun,
  investigate,
  nextThreatId,
  s1Requests,
  startE2eStack,
} from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack();
});

afterEach(async () => {
  await stack.reset();
  // An agent whose execute had an unknown outcome stays held (its task may run); free the demo agents between rows.
  for (const agent of Object.values(stack.tenant.agents)) {
    const key = agentLeaseKey(agent.id);
    await stack.dynamo.client.send(
      new DeleteItemCommand({
        TableName: stack.coordinationTable,
        Key: { [PARTITION_KEY]: { S: key.pk }, [SORT_KEY]: { S: key.sk } },
      }),
    );
  }
});

afterAll(async () => {
  await stack?.close();
});

/** The S1 executions (from the simulator's state) that targeted `agentId` since `since`. */
function executionsFor(agentId: string, since: number) {
  return stack.s1Sim.state.executions.slice(since).filter((e) => e.eligibleAgentIds.includes(agentId));
}

/** Child tasks S1 holds for `agentId` whose description names the investigation. */
function tasksFor(agentId: string, investigationId: string) {
  return [...stack.s1Sim.state.tasks.values()].filter(
    (t) => t.agentId === agentId && (t.description ?? '').includes(investigationId),
  );
}

function store(): CoordinationStore {
  return new CoordinationStore({ client: stack.dynamo.client, tableName: stack.coordinationTable });
}

async function intentOf(run: InvestigationRun, agentId: string) {
  return (await store().get(executeIntentKey(run.investigationId, agentId), ExecuteIntent))?.data;
}

describe('execute exactly once', () => {
  it('execute accepted then 502: no second task; the agent ends outcome_unknown naming what to search for', async () => {
    const { linux } = stack.tenant.agents;
    const lost = stack.s1Sim.faults.add({
      match: { method: 'POST', path: '/remote-scripts/execute' },
      times: 1,
      action: { type: 'statusAfter', status: 502 },
    });
    const since = stack.s1Sim.state.executions.length;
    const requestsBefore = stack.s1Sim.requests.length;
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(lost.hits).toBe(1);
    // S1 started the task once, and nothing sent the execute again.
    expect(executionsFor(linux.id, since)).toHaveLength(1);
    expect(tasksFor(linux.id, run.investigationId)).toHaveLength(1);
    expect(s1Requests(stack, '/remote-scripts/execute', requestsBefore)).toHaveLength(1);
    expect(run.stats.invocationsByState['Run Script']).toBe(1);
    expect(run.events.some((e) => e.type === 'StateRetried' && e.state.name === 'Run Script')).toBe(false);

    const line = agentLine(run, linux.id);
    expect(line.outcome).toBe('outcome_unknown');
    const description = tasksFor(linux.id, run.investigationId)[0]?.description as string;
    expect(line.reason).toContain('S1ExecuteOutcomeUnknownError');
    expect(line.reason).toContain(description);
    expect(run.caseRecord.counts.outcome_unknown).toBe(1);
    expect(run.caseRecord.summary).toMatch(/unknown outcome/);
    expect(await intentOf(run, linux.id)).toMatchObject({ state: 'unknown', description });
    // The task may run: the agent stays held by this investigation, so no other one collects from it meanwhile.
    const held = await store().acquireLease(agentLeaseKey(linux.id), 'someone-else', 60);
    expect(held).toMatchObject({ status: 'held', lease: { owner: run.investigationId } });
  });

  it('a refused execute (429 past the client retries) is provably not started: retried, one task, complete', async () => {
    const { linux } = stack.tenant.agents;
    const storm = stack.s1Sim.faults.respond(429, {
      times: 4,
      retryAfter: 1,
      match: { method: 'POST', path: '/remote-scripts/execute' },
    });
    const since = stack.s1Sim.state.executions.length;
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });

    expect(storm.hits).toBe(4);
    expect(run.caseRecord.status).toBe('complete');
    expect(executionsFor(linux.id, since)).toHaveLength(1);
    expect(tasksFor(linux.id, run.investigationId)).toHaveLength(1);
    expect(await intentOf(run, linux.id)).toMatchObject({
      state: 'started',
      parentTaskId: agentResult(run, linux.id).task?.parentTaskId,
    });
  });

  it('lost Run Script responses: each retry queues the execute again or reuses the started task; one task', async () => {
    const { windows } = stack.tenant.agents;
    const since = stack.s1Sim.state.executions.length;
    const run = await investigate(
      stack,
      { agentIds: [windows.id], requestedBy: 'e2e', threatId: nextThreatId() },
      { lostLambdaResponses: { 'Run Script': { times: 2 } } },
    );

    expect(run.stats.invocationsByState['Run Script']).toBe(3);
    expect(executionsFor(windows.id, since)).toHaveLength(1);
    expect(tasksFor(windows.id, run.investigationId)).toHaveLength(1);
    expect(run.caseRecord.status, JSON.stringify(run.caseRecord.agents)).toBe('complete');
    // Whether the last retry found the task started (reuse) depends on when the watcher sent it; never a second.
    expect(tasksFor(windows.id, run.investigationId)[0]?.parentTaskId).toBe(
      agentResult(run, windows.id).task?.parentTaskId,
    );
  });
});

describe('execute timed out', () => {
  it('an execute S1 acts on but answers after the client gave up ends outcome_unknown, and a retry never re-sends it', async () => {
    // Run Script's core against the simulator, s3rver and dynalite, with a client whose timeout is short enough to
    // pass in a test (the workflow's is 30 s; the error and the path are the same).
    const { linux } = stack.tenant.agents;
    const s1 = createS1Client({
      consoleUrl: stack.s1Url,
      credentials: staticCredential(stack.secrets.s1Token, 'ApiToken'),
      hostPolicy: { allowLoopback: true, allowedHosts: ['127.0.0.1'] },
      requestTimeoutMs: 300,
    });
    const s3 = stack.s3.client;
    const [script] = [...stack.s1Sim.state.scripts.values()].filter((s) => s.osTypes.includes('linux'));
    const investigationId = `manual-20261202T000000Z-${nextThreatId().slice(-6)}`;
    const input = {
      investigation: { investigationId },
      target: {
        agentId: linux.id,
        computerName: linux.computerName,
        osType: 'linux',
        script: {
          scriptId: script?.id,
          libraryName: script?.scriptName,
          runtimeTimeoutSeconds: 600,
          inputParams: '',
        },
      },
    } as unknown as AgentStart;
    const slow = stack.s1Sim.faults.add({
      match: { method: 'POST', path: '/remote-scripts/execute' },
      times: 1,
      action: { type: 'delay', ms: 800 },
    });
    const since = stack.s1Sim.state.executions.length;
    const deps = { s1, s3, bucket: stack.bucket, store: store(), graceSeconds: 60, now: Date.now };

    await expect(runScript(input, deps)).rejects.toMatchObject({ name: 'S1ExecuteOutcomeUnknownError' });
    await new Promise((resolve) => setTimeout(resolve, 900)); // S1 finishes the request it was sent
    expect(slow.hits).toBe(1);
    expect(executionsFor(linux.id, since)).toHaveLength(1);
    // A retry (as after a lost response) settles nothing it cannot prove, and sends nothing.
    const requestsBefore = stack.s1Sim.requests.length;
    await expect(runScript(input, deps)).rejects.toMatchObject({ name: 'S1ExecuteOutcomeUnknownError' });
    expect(s1Requests(stack, '/remote-scripts/execute', requestsBefore)).toHaveLength(0);
    expect(executionsFor(linux.id, since)).toHaveLength(1);
    expect(
      (await deps.store.get(executeIntentKey(investigationId, linux.id), ExecuteIntent))?.data.state,
    ).toBe('unknown');
  });
});

/** Cado imports (from the simulator's state) of the object at `key`. */
function importsOf(key: string) {
  return stack.cadoSim.state.imports.filter((i) => i.keys.includes(key));
}

/** The import pipelines (not their children) Cado holds for the evidence at `key`. */
function importPipelinesOf(key: string) {
  return [...stack.cadoSim.state.pipelines.values()].filter(
    (p) =>
      p.triggeringPipelineId === undefined && stack.cadoSim.state.evidences.get(p.evidenceId)?.name === key,
  );
}

describe('import exactly once', () => {
  async function importWith(times: number | undefined) {
    const { linux } = stack.tenant.agents;
    const lost = stack.cadoSim.faults.add({
      method: 'POST',
      path: '/api/v3/import/aws/s3',
      afterHandling: true,
      status: 502,
      ...(times === undefined ? {} : { times }),
    });
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    return { run, lost, linux };
  }

  it.each([
    ['once', 1],
    ['every time', undefined],
  ])('import accepted then 502 (%s): one pipeline, found and followed to completion', async (_, times) => {
    const { run, lost, linux } = await importWith(times);
    const result = agentResult(run, linux.id);
    const key = result.evidence?.key as string;

    expect(lost.fired).toBe(1);
    expect(importsOf(key)).toHaveLength(1);
    expect(importPipelinesOf(key)).toHaveLength(1);
    expect(result.cado?.pipelineId).toBe(importPipelinesOf(key)[0]?.id);
    expect(run.caseRecord.status).toBe('complete');
    const intent = await store().get(
      importIntentKey(result.evidence?.bucket as string, key, result.evidence?.versionId ?? null),
      ImportIntent,
    );
    expect(intent?.data).toMatchObject({ state: 'started', pipelineId: result.cado?.pipelineId });
  });

  it('a lost Hand To Cado response: the retry follows the pipeline from the intent, no second import', async () => {
    const { windows } = stack.tenant.agents;
    const run = await investigate(
      stack,
      { agentIds: [windows.id], requestedBy: 'e2e', threatId: nextThreatId() },
      { lostLambdaResponses: { 'Hand To Cado': { times: 2 } } },
    );
    const result = agentResult(run, windows.id);
    const key = result.evidence?.key as string;

    expect(run.stats.invocationsByState['Hand To Cado']).toBe(3);
    expect(importsOf(key)).toHaveLength(1);
    expect(importPipelinesOf(key)).toHaveLength(1);
    expect(run.caseRecord.status).toBe('complete');
  });

  it('an import refused with 429 is sent again and starts one pipeline', async () => {
    const { linux } = stack.tenant.agents;
    const refused = stack.cadoSim.faults.add({
      method: 'POST',
      path: '/api/v3/import/aws/s3',
      status: 429,
      retryAfter: 1,
      times: 5,
    });
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      threatId: nextThreatId(),
    });
    const key = agentResult(run, linux.id).evidence?.key as string;

    expect(refused.fired).toBe(5);
    expect(importsOf(key)).toHaveLength(1);
    expect(importPipelinesOf(key)).toHaveLength(1);
    expect(run.caseRecord.status).toBe('complete');
  });
});
