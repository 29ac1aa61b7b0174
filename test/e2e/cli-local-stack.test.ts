/**
 * The `s1cado` CLI against the local deployment (startLocalStack): the real synthesized workflow behind the AWS
 * fake's Step Functions (both state machines: the investigation and the hand-off re-run), s3rver, and the S1 and
 * Cado simulators. Commands run in-process through `main`, finding everything through the fake's stack outputs.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseRecord } from '../../lambdas/record-outcome/core';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import { runCli } from './helpers';

let stack: LocalStack;
/** Everything the CLI printed in this file, for the leak check. */
const printed: string[] = [];

beforeAll(async () => {
  // Each test collects from the same demo agents again: no cooldown reuse between them.
  stack = await startLocalStack({ config: { agentCooldownMinutes: 0 } });
});

afterAll(async () => {
  await stack?.close();
});

async function cli(argv: string[]) {
  const result = await runCli(stack, argv);
  printed.push(result.stdout, result.stderr);
  return result;
}

async function readObject(key: string): Promise<Buffer> {
  const out = await stack.s3.client.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return Buffer.from(await (out.Body?.transformToByteArray() ?? new Uint8Array()));
}

async function readJson<T>(key: string): Promise<T> {
  return JSON.parse((await readObject(key)).toString('utf8')) as T;
}

/** The Cado imports requested for an investigation, as Cado's simulator recorded them. */
function importsOf(investigationId: string): string[] {
  return (stack.cadoSim?.state.imports ?? [])
    .flatMap((record) => record.keys)
    .filter((key) => key.startsWith(`investigations/${investigationId}/`));
}

describe('s1cado collect and status', () => {
  it('starts an execution with the documented input that completes, and status shows the case', async () => {
    const { windows, linux } = stack.tenant?.agents ?? ({} as never);
    const started = await cli([
      'collect',
      '--agent',
      windows.id,
      '--agent',
      linux.id,
      '--reason',
      'phishing',
    ]);
    expect(started.code).toBe(0);
    const id = /Started investigation (manual-\S+)/.exec(started.stdout)?.[1] ?? '';
    const execution = stack.aws.stepFunctions.list().find((e) => e.name === id);
    expect(execution).toBeDefined();
    expect(JSON.parse(execution?.input ?? '{}')).toEqual({
      agentIds: [windows.id, linux.id],
      requestedBy: 'analyst@workstation',
      reason: 'phishing',
    });
    expect(started.stdout).toContain(execution?.executionArn);
    expect(started.stdout).toContain(
      'console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/',
    );
    expect((await stack.aws.stepFunctions.waitFor(execution?.executionArn ?? '')).status).toBe('SUCCEEDED');

    const human = await cli(['status', id]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`Investigation ${id}`);
    expect(human.stdout).toMatch(/Execution {3}SUCCEEDED/);
    expect(human.stdout).toMatch(/Case {8}complete: 2 of 2 agent\(s\) collected and processed by Cado/);

    const json = await cli(['status', id, '--json']);
    const doc = JSON.parse(json.stdout) as { execution: { status: string }; case: CaseRecord };
    expect(doc.execution.status).toBe('SUCCEEDED');
    expect(doc.case.agents.map((a) => a.agentId).sort()).toEqual([windows.id, linux.id].sort());
    for (const agent of doc.case.agents) {
      expect(agent.outcome).toBe('complete');
      expect(agent.cado?.phase).toBe('complete');
      const evidence = agent.evidence;
      if (!evidence) throw new Error('no evidence');
      const head = await stack.s3.client.send(
        new HeadObjectCommand({ Bucket: evidence.bucket, Key: evidence.key }),
      );
      expect(head.ContentLength).toBe(evidence.bytes);
      // The human view names the same object, its size and hash.
      expect(human.stdout).toContain(`s3://${evidence.bucket}/${evidence.key}`);
      expect(human.stdout).toContain(`(${evidence.bytes.toLocaleString('en-US')} bytes)`);
      expect(human.stdout).toContain(evidence.sha256);
    }

    const imports = importsOf(id).length;
    const noop = await cli(['handoff', id]);
    expect(noop.code).toBe(0);
    expect(noop.stdout).toContain('Nothing to hand off');
    expect(importsOf(id)).toHaveLength(imports);
  });

  it('says when an investigation does not exist', async () => {
    const { code, stderr } = await cli(['status', 'manual-20200101T000000Z-000000']);
    expect(code).toBe(1);
    expect(stderr).toContain('No investigation manual-20200101T000000Z-000000');
  });
});

describe('s1cado handoff', () => {
  /** The HandOffRerun executions of an investigation, as the AWS fake's Step Functions ran them. */
  const rerunsOf = (investigationId: string) =>
    stack.aws.stepFunctions
      .list()
      .filter(
        (e) =>
          e.stateMachineArn === stack.handoffRerunArn && e.name.startsWith(`${investigationId}-handoff-`),
      );

  it('re-runs the hand-off after a Cado outage through the HandOffRerun state machine: one import per agent, manifests and case updated by Record Outcome', async () => {
    const cadoSim = stack.cadoSim;
    if (!cadoSim) throw new Error('the Cado simulator is needed');
    const { windows, linux } = stack.tenant?.agents ?? ({} as never);

    // The investigation runs while Cado is down: evidence staged, hand-off failed.
    await cadoSim.faults.down();
    const run = await cli(['collect', '--agent', windows.id, '--agent', linux.id, '--wait', '--json']);
    expect(run.code).toBe(1);
    const started = JSON.parse(run.stdout) as { investigationId: string; case: CaseRecord };
    const id = started.investigationId;
    expect(started.case).toMatchObject({
      status: 'staged_handoff_failed',
      counts: { staged_handoff_failed: 2 },
    });
    const evidence = new Map(started.case.agents.map((a) => [a.agentId, a.evidence]));
    const windowsEvidence = evidence.get(windows.id);
    const linuxEvidence = evidence.get(linux.id);
    if (!windowsEvidence || !linuxEvidence) throw new Error('evidence missing');
    expect(importsOf(id)).toEqual([]);

    // Still down: the second state machine runs the workflow's own hand-off steps (retried, then caught), the
    // execution fails HandOffFailed, and Record Outcome says so in the manifests and case.json.
    const stillDown = await cli(['handoff', id]);
    expect(stillDown.code).toBe(1);
    expect(stillDown.stdout).toContain(`Started the hand-off re-run of ${id}`);
    expect(stillDown.stderr).toContain('Find Staged Evidence');
    expect(stillDown.stderr).toContain('Hand To Cado');
    expect(stillDown.stdout).toMatch(/Execution {3}FAILED/);
    expect(stillDown.stdout).toMatch(
      new RegExp(
        `${windows.id}: staged_handoff_failed \\(imported\\) — Cado hand-off failed: CadoTransientError`,
      ),
    );
    const [firstRerun] = rerunsOf(id);
    expect(firstRerun).toMatchObject({ status: 'FAILED', error: 'HandOffFailed' });
    expect(JSON.parse(firstRerun?.input ?? '{}')).toEqual({
      investigationId: id,
      requestedBy: 'analyst@workstation',
    });
    const failedManifest = await readJson<Manifest>(windowsEvidence.manifestKey);
    expect(failedManifest.handoff.status).toBe('failed');
    expect(failedManifest.writtenBy).toBe('record-outcome');
    expect(failedManifest.timeline.map((e) => e.event).slice(-2)).toEqual([
      'handoff-rerun',
      'handoff-failed',
    ]);
    expect(importsOf(id)).toEqual([]);

    // Cado is back, but one staged object no longer has the size its manifest records: that one is refused, the
    // other is imported and followed to the end.
    await cadoSim.faults.up();
    const original = await readObject(windowsEvidence.key);
    await stack.s3.client.send(
      new PutObjectCommand({
        Bucket: stack.bucket,
        Key: windowsEvidence.key,
        Body: original.subarray(0, 100),
      }),
    );
    const tampered = await cli(['handoff', id]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain(`is 100 bytes; the manifest records ${windowsEvidence.bytes}`);
    expect(tampered.stdout).toMatch(new RegExp(`${windows.id}: staged_handoff_failed \\(not handed off\\)`));
    expect(tampered.stdout).toMatch(new RegExp(`${linux.id}: complete \\(imported, pipeline \\d+\\)`));
    expect(importsOf(id)).toEqual([linuxEvidence.key]);

    // Restored: the Windows evidence is imported; the Linux evidence, processed by now, is not imported again.
    await stack.s3.client.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: windowsEvidence.key, Body: original }),
    );
    const done = await cli(['handoff', id, '--json']);
    expect(done.code).toBe(0);
    const report = JSON.parse(done.stdout) as {
      execution: { status: string };
      rerun: { agents: { agentId: string; action: string; outcome: string }[] };
      case: CaseRecord;
    };
    expect(report.execution.status).toBe('SUCCEEDED');
    expect(report.rerun.agents).toEqual([
      expect.objectContaining({ agentId: windows.id, action: 'imported', outcome: 'complete' }),
    ]);
    expect(importsOf(id).sort()).toEqual([windowsEvidence.key, linuxEvidence.key].sort());
    expect(rerunsOf(id).map((e) => e.status)).toEqual(['FAILED', 'FAILED', 'SUCCEEDED']);

    for (const staged of [windowsEvidence, linuxEvidence]) {
      const manifest = await readJson<Manifest>(staged.manifestKey);
      expect(manifest.handoff.status).toBe('complete');
      expect(manifest.cado?.phase).toBe('complete');
      expect(manifest.writtenBy).toBe('record-outcome');
      expect(manifest.timeline.map((e) => e.event)).toEqual(
        expect.arrayContaining(['staged', 'handoff-rerun', 'cado-import-requested', 'cado-complete']),
      );
      // The evidence itself is what was staged.
      expect((await readObject(staged.key)).length).toBe(staged.bytes);
    }
    const record = await readJson<CaseRecord & { handoffReruns: { by: string; executionName: string }[] }>(
      `investigations/${id}/case.json`,
    );
    expect(record).toMatchObject({
      status: 'complete',
      counts: { complete: 2, staged_handoff_failed: 0 },
      summary: '2 of 2 agent(s) collected and processed by Cado',
    });
    expect(record.handoffRerunCommand).toBeUndefined();
    expect(record.handoffReruns.map((r) => r.by)).toEqual(Array(3).fill('analyst@workstation'));
    expect(record.handoffReruns.map((r) => r.executionName)).toEqual(rerunsOf(id).map((e) => e.name));
    expect(record.agents.every((a) => a.outcome === 'complete' && a.cado?.phase === 'complete')).toBe(true);

    const status = await cli(['status', id]);
    expect(status.stdout).toMatch(/Case {8}complete/);
    expect(status.stdout).toContain('Hand-off    re-run');

    // Each re-run signed the manifest version it wrote: the chain of custody verifies as it now stands.
    for (const agent of record.agents) expect(agent.evidence?.signature?.status).toBe('signed');
    const verified = await cli(['verify', id]);
    expect(verified.stdout).toContain(`Chain of custody of ${id}: VERIFIED (2 of 2 collections)`);
    expect(verified.code).toBe(0);

    // Nothing left: the re-run ends at Nothing To Hand Off, no import, no write.
    const caseBefore = await readObject(`investigations/${id}/case.json`);
    const again = await cli(['handoff', id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to hand off');
    expect(importsOf(id)).toHaveLength(2);
    expect(await readObject(`investigations/${id}/case.json`)).toEqual(caseBefore);
  });

  it('--no-wait returns once the execution has started; an unknown investigation fails the re-run with CaseNotFoundError', async () => {
    const id = 'manual-20200101T000000Z-0a0b0c';
    const quick = await cli(['handoff', id, '--no-wait', '--json']);
    expect(quick.code).toBe(0);
    const doc = JSON.parse(quick.stdout) as { executionArn: string };
    expect(doc.executionArn).toContain(':execution:');
    expect(doc.executionArn).toContain(`${id}-handoff-`);
    const finished = await stack.aws.stepFunctions.waitFor(doc.executionArn);
    expect(finished).toMatchObject({ status: 'FAILED', error: 'CaseNotFoundError' });

    const followed = await cli(['handoff', id]);
    expect(followed.code).toBe(1);
    expect(followed.stdout).toMatch(/Error {7}CaseNotFoundError/);
    expect(followed.stdout).toContain(`No case.json for ${id}`);
  });
});

describe('s1cado output', () => {
  it('never contains the S1 token or the Cado key', () => {
    const all = printed.join('\n');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(stack.secrets.s1Token);
    expect(all).not.toContain(stack.secrets.cadoKey);
  });
});
