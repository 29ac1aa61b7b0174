/**
 * `s1cado cancel` and `s1cado backfill` against the local deployment: the CLI invokes the real cancel-investigation
 * and backfill-threats handlers through the AWS fake's Lambda (found through the stack outputs), which talk to the
 * S1 and Cado simulators, s3rver and the fake's Step Functions and EventBridge; the intake bus delivers threat
 * events to the real start-investigation. Each describe has its own stack, so their executions, threats and bus
 * events never meet.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CancellationRecord,
  CancellationRecord as CancellationSchema,
} from '../../lambdas/shared/evidence/cancellation';
import { cancellationKey, taskRecordKey } from '../../lambdas/shared/evidence/keys';
import { clearRegisteredSecrets } from '../../lambdas/shared/redact';
import { type E2eStack, readJson, runCli, s1Requests, startE2eStack } from './helpers';

const cli = runCli;

/** Every object under `prefix` with its ETag: what "untouched" is checked against. */
async function objectsUnder(stack: E2eStack, prefix: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await stack.s3.client.send(
      new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) found.set(o.Key, `${o.ETag}/${o.Size}`);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found;
}

/**
 * Waits for every execution of the stack to end: a stack closed under a running one would pull dynalite and
 * s3rver from under its handlers.
 */
async function executionsEnded(stack: E2eStack): Promise<void> {
  for (const e of stack.aws.stepFunctions.list()) await stack.aws.stepFunctions.waitFor(e.executionArn);
  await stack.intake.settled();
}

/** Polls `check` (real time) until it returns something, or fails after `ms`. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('s1cado cancel', () => {
  let stack: E2eStack;
  let sfn: SFNClient;

  beforeAll(async () => {
    // A long grace keeps the offline agent's task pending (cancellable) for the whole test.
    stack = await startE2eStack({ config: { taskGraceSeconds: 6 * 3600 } });
    sfn = new SFNClient({
      endpoint: stack.aws.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  });

  afterAll(async () => {
    sfn?.destroy();
    if (stack) await executionsEnded(stack);
    await stack?.close();
    clearRegisteredSecrets();
  });

  it('stops the execution, cancels the S1 task and the Cado pipeline, notes the threat, records who and why; evidence untouched', async () => {
    const { windows, offline } = stack.tenant.agents;
    const threat = stack.tenant.threats.windows;
    // Cado keeps acquiring for hours, so the investigation's pipeline is running when the cancel comes.
    stack.cadoSim.behaviour.timing.acquisitionMs = 12 * 3_600_000;
    const id = 'cancel-e2e-1';
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: stack.stateMachineArn,
        name: id,
        input: JSON.stringify({
          agentIds: [windows.id, offline.id],
          threatId: threat.id,
          requestedBy: 'analyst@workstation',
          reason: 'suspected ransomware',
        }),
      }),
    );
    const prefix = `investigations/${id}/`;
    // The windows agent's evidence is staged and handed to Cado; the offline agent's task waits for it.
    await until('the Cado import', () =>
      stack.cadoSim.state.imports.some((i) => i.keys.some((k) => k.startsWith(prefix))) ? true : undefined,
    );
    const offlineTask = await until('the offline agent task record', () =>
      readJson<{ parentTaskId?: string }>(stack, taskRecordKey(id, offline.id)).then(
        (r) => r.parentTaskId,
        () => undefined,
      ),
    );
    const before = await objectsUnder(stack, prefix);
    const cancelCallsBefore = s1Requests(stack, '/private/tasks/cancel-task').length;
    const notesBefore = stack.s1Sim.state.notes.get(threat.id)?.length ?? 0;

    const result = await cli(stack, ['cancel', id, '--reason', 'wrong host', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = CancellationSchema.parse(JSON.parse(result.stdout));

    // The execution is stopped, with the cancel's error and who.
    const execution = await stack.aws.stepFunctions.waitFor(started.executionArn ?? '');
    expect(execution.status).toBe('ABORTED');
    expect(printed.execution).toEqual({ arn: started.executionArn, statusBefore: 'RUNNING', stopped: true });

    // S1 was asked to cancel the offline agent's task, and did (the agent never received it).
    // Both agents run the same script: one batched execute, one parent task. Only the offline agent's child is
    // canceled by its id; the parent as a whole never is.
    const cancels = s1Requests(stack, '/private/tasks/cancel-task').slice(cancelCallsBefore);
    const offlineChild = [...stack.s1Sim.state.tasks.values()].find(
      (t) => t.parentTaskId === offlineTask && t.agentId === offline.id,
    );
    expect(cancels.map((r) => r.body)).toContainEqual({
      filter: { parentTaskId__in: [offlineTask], ids: [offlineChild?.id] },
    });
    expect(cancels.map((r) => r.body)).not.toContainEqual({ filter: { parentTaskId__in: [offlineTask] } });
    expect(printed.s1Tasks).toContainEqual({
      agentId: offline.id,
      parentTaskId: offlineTask,
      outcome: 'cancelled',
      affected: 1,
      leaseReleased: true,
    });
    expect(stack.s1Sim.taskView(offlineChild?.id as string).status).toBe('canceled');
    // The windows agent's child of the same parent completed and stays so.
    const windowsChild = [...stack.s1Sim.state.tasks.values()].find(
      (t) => t.parentTaskId === offlineTask && t.agentId === windows.id,
    );
    expect(stack.s1Sim.taskView(windowsChild?.id as string).status).toBe('completed');

    // Cado was asked to abort the running import pipeline.
    const aborted = printed.cadoPipelines.filter((p) => p.outcome === 'aborted');
    expect(aborted).toHaveLength(1);
    const patches = stack.cadoSim.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => [r.path, r.body])).toEqual([
      [`/api/v3/pipelines/${aborted[0]?.pipelineId}`, { aborted: true }],
    ]);

    // The note names the investigation, who and why.
    const notes = stack.s1Sim.state.notes.get(threat.id) ?? [];
    expect(notes.slice(notesBefore).map((n) => n.text)).toEqual([
      `s1-cado-forensics investigation ${id} cancelled by analyst@workstation: wrong host`,
    ]);
    expect(printed.threatNote).toEqual({ added: true });

    // The record is stored once, and is what the CLI printed.
    const stored = await readJson<CancellationRecord>(stack, cancellationKey(id));
    expect(stored).toMatchObject({
      cancelledBy: 'analyst@workstation',
      reason: 'wrong host',
      threatId: threat.id,
    });
    expect({ ...stored, recordKey: cancellationKey(id) }).toEqual(printed);

    // Nothing staged was deleted or rewritten: the same objects with the same ETags, plus the record.
    await stack.intake.settled();
    const after = await objectsUnder(stack, prefix);
    after.delete(cancellationKey(id));
    expect(after).toEqual(before);
    expect([...before.keys()].some((k) => k.endsWith('/manifest.json'))).toBe(true);
  });

  it('refuses a second cancel and an investigation that does not exist, changing nothing', async () => {
    const again = await cli(stack, ['cancel', 'cancel-e2e-1', '--json']);
    expect(again.code).toBe(1);
    const error = JSON.parse(again.stderr).error as { message: string };
    expect(error.message).toContain('InvestigationNotRunningError');
    expect(error.message).toContain('already cancelled by analyst@workstation');

    const missing = await cli(stack, ['cancel', 'no-such-investigation']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('There is no execution named no-such-investigation');
    expect(await objectsUnder(stack, 'investigations/no-such-investigation/')).toEqual(new Map());
  });

  it('completes the cancel of an execution stopped without a record (a cancel cut short, a console stop)', async () => {
    const { offline } = stack.tenant.agents;
    // The same agent as the first test: that cancel gave its collection lease back, or this would not collect.
    const id = 'cancel-e2e-3';
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: stack.stateMachineArn,
        name: id,
        input: JSON.stringify({
          agentIds: [offline.id],
          requestedBy: 'analyst@workstation',
          reason: 'triage',
        }),
      }),
    );
    const parentTaskId = await until('the task record', () =>
      readJson<{ parentTaskId?: string }>(stack, taskRecordKey(id, offline.id)).then(
        (r) => r.parentTaskId,
        () => undefined,
      ),
    );
    await sfn.send(new StopExecutionCommand({ executionArn: started.executionArn }));
    expect((await stack.aws.stepFunctions.waitFor(started.executionArn ?? '')).status).toBe('ABORTED');

    const result = await cli(stack, ['cancel', id, '--reason', 'finish the console stop', '--json']);
    expect(result.code).toBe(0);
    const record = CancellationSchema.parse(JSON.parse(result.stdout));
    expect(record.execution).toMatchObject({ statusBefore: 'ABORTED', stopped: false });
    // The task the stopped execution left behind is cancelled all the same.
    expect(record.s1Tasks).toEqual([
      { agentId: offline.id, parentTaskId, outcome: 'cancelled', affected: 1, leaseReleased: true },
    ]);
  });

  it('prints a readable summary', async () => {
    const { linux } = stack.tenant.agents;
    const id = 'cancel-e2e-2';
    stack.cadoSim.behaviour.timing.acquisitionMs = 12 * 3_600_000;
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: stack.stateMachineArn,
        name: id,
        input: JSON.stringify({ agentIds: [linux.id], requestedBy: 'analyst@workstation', reason: 'triage' }),
      }),
    );
    await until('the task record', () =>
      readJson<{ parentTaskId?: string }>(stack, taskRecordKey(id, linux.id)).then(
        (r) => r.parentTaskId,
        () => undefined,
      ),
    );
    const result = await cli(stack, ['cancel', id]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `Investigation ${id} cancelled by analyst@workstation: cancelled by an operator (no reason given)`,
    );
    expect(result.stdout).toContain('execution: stopped (was RUNNING)');
    expect(result.stdout).toContain(`record: ${cancellationKey(id)}`);
    // No threat, no note.
    expect(result.stdout).not.toContain('S1 threat');

    // status shows who cancelled, and why, beside the stopped execution.
    const status = await cli(stack, ['status', id]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Execution +ABORTED/);
    expect(status.stdout).toContain('Error       InvestigationCancelled: Cancelled by analyst@workstation');
    expect(status.stdout).toMatch(
      new RegExp(
        `Cancelled +by analyst@workstation at \\S+: cancelled by an operator \\(no reason given\\) \\(${cancellationKey(id)}\\)`,
      ),
    );
    expect(status.stdout).not.toContain('no case.json');
  });
});

describe('s1cado backfill', () => {
  let stack: E2eStack;
  /** Threats of this describe only, in a window of their own (hours before the seeded ones). */
  let ours: { id: string }[];
  let filtered: { id: string };

  beforeAll(async () => {
    stack = await startE2eStack();
    const at = stack.s1Sim.clock();
    const { windows, linux } = stack.tenant.agents;
    ours = [
      stack.s1Sim.addThreat({ agentId: windows.id, createdAt: at - 3 * 3_600_000 }),
      stack.s1Sim.addThreat({ agentId: linux.id, createdAt: at - 3 * 3_600_000 + 60_000 }),
    ];
    // Outside the threat filter (malicious only): S1 is asked for matching threats, so it is not even listed.
    filtered = stack.s1Sim.addThreat({
      agentId: linux.id,
      confidenceLevel: 'suspicious',
      createdAt: at - 3 * 3_600_000 + 120_000,
    });
  });

  afterAll(async () => {
    if (stack) await executionsEnded(stack);
    await stack?.close();
    clearRegisteredSecrets();
  });

  const window = () => {
    const at = stack.s1Sim.clock();
    return [
      '--since',
      new Date(at - 4 * 3_600_000).toISOString(),
      '--until',
      new Date(at - 2 * 3_600_000).toISOString(),
    ];
  };
  const executionsOf = (threatId: string) =>
    stack.aws.stepFunctions.list().filter((e) => e.name === `threat-${threatId}`);

  it('--dry-run lists what would start and puts no event', async () => {
    const result = await cli(stack, ['backfill', ...window(), '--dry-run', '--json']);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body.dryRun).toBe(true);
    expect(body.queued.map((q: { threatId: string }) => q.threatId).sort()).toEqual(
      ours.map((t) => t.id).sort(),
    );
    expect(body.skipped).toEqual([]);
    expect(body.listed).toBe(2);
    await stack.intake.settled();
    expect(stack.aws.eventBridge.events(stack.intake.busName)).toEqual([]);
    for (const t of [...ours, filtered]) expect(executionsOf(t.id)).toEqual([]);
  });

  it('starts each matching threat once through the intake; a second backfill starts nothing new', async () => {
    const first = await cli(stack, ['backfill', ...window()]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/: 2 threat\(s\) listed, 2 started, 0 skipped\n/);
    for (const t of ours) expect(first.stdout).toContain(`started: threat ${t.id} → threat-${t.id}`);
    const events = stack.aws.eventBridge.events(stack.intake.busName);
    expect(events.map((e) => [e.detail.threatId, e.detail.via]).sort()).toEqual(
      ours.map((t) => [t.id, 'backfill']).sort(),
    );
    await stack.intake.settled();
    expect(stack.intake.failures).toEqual([]);
    for (const t of ours) {
      const [execution, ...more] = executionsOf(t.id);
      expect(more).toEqual([]);
      expect(JSON.parse(execution?.input ?? '{}')).toMatchObject({
        threatId: t.id,
        requestedBy: 'threat-intake',
      });
    }

    const second = await cli(stack, ['backfill', ...window(), '--json']);
    expect(second.code).toBe(0);
    const body = JSON.parse(second.stdout);
    expect(body.queued).toEqual([]);
    expect(
      body.skipped
        .filter((s: { reason: string }) => s.reason === 'already-investigated')
        .map((s: { threatId: string }) => s.threatId)
        .sort(),
    ).toEqual(ours.map((t) => t.id).sort());
    await stack.intake.settled();
    expect(stack.aws.eventBridge.events(stack.intake.busName)).toHaveLength(2);
    for (const t of ours) expect(executionsOf(t.id)).toHaveLength(1);
    expect(executionsOf(filtered.id)).toEqual([]);
  });

  it('refuses a window without --since or with since after until', async () => {
    const missing = await cli(stack, ['backfill']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--since is required');
    const reversed = await cli(stack, ['backfill', '--since', '1h', '--until', '2h']);
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('since must be before until');
  });
});
