/**
 * End-to-end: Cado's webhook resumes the hand-off (DESIGN §9, "Cado pipelines resume ... from Cado's
 * `processing_finished/failed` webhooks where configured"). The Cado simulator sends its webhooks, as Cado does, to the
 * receiver's local Function URL with the payload template the local stack registered (`$Title`/`$Event` substituted,
 * the shared secret first). The Task Watcher's schedule is off and its Cado interval an hour: a test runs the watcher
 * once for the S1 task, and only a webhook can resume Wait For Cado.
 */
import { describe, expect, it } from 'vitest';
import {
  agentLine,
  type E2eStack,
  type InvestigationRun,
  investigate,
  nextThreatId,
  runWatcherUntil,
  useE2eStack,
} from './helpers';

let stack: E2eStack;
useE2eStack((s) => (stack = s), {
  taskWatcher: false,
  config: { cadoWebhookEnabled: true, cadoWatchIntervalSeconds: 3600 },
});

/** Waits (real time, polling) until `condition` holds; fails naming `what` after 30 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const giveUp = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > giveUp) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const waitingIn = (state: string) => stack.taskTokens.waiting().filter((w) => w.stateName === state).length;

/** Starts an investigation of one agent and runs the watcher once its S1 task ended (Run Script resumes). */
async function startAndPassRunScript(
  agentId: string,
): Promise<{ id: string; run: Promise<InvestigationRun> }> {
  const threatId = nextThreatId();
  const id = `threat-${threatId}`;
  const run = investigate(stack, { agentIds: [agentId], requestedBy: 'e2e', threatId });
  await until(() => waitingIn('Run Script') === 1, 'Run Script to wait');
  // The watcher sends the queued execute, and resumes Run Script once the task ended.
  await runWatcherUntil(stack, () => waitingIn('Run Script') === 0, 'Run Script to resume');
  return { id, run };
}

/** POSTs `body` to the receiver as anyone could. */
async function post(body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(stack.cadoWebhook?.url as string, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('the Cado webhook', () => {
  it('registered in Cado as an operator would: both events, the template with the secret, $Title and $Event', () => {
    const records = stack.cadoSim.webhooks.records;
    expect(records.map((r) => r.eventType).sort()).toEqual(['processing_failed', 'processing_finished']);
    for (const record of records) {
      expect(record.url).toBe(stack.cadoWebhook?.url);
      expect(JSON.parse(record.payload)).toEqual({
        secret: stack.cadoWebhook?.secret,
        title: '$Title',
        event: '$Event',
      });
    }
  });

  it('processing_finished resumes Wait For Cado at once: no Task Watcher look at the pipeline, same outcome', async () => {
    const { linux } = stack.tenant.agents;
    const deliveriesBefore = stack.cadoSim.webhooks.deliveries.length;
    const { run } = await startAndPassRunScript(linux.id);
    const done = await run;

    expect(done.caseRecord.status).toBe('complete');
    const line = agentLine(done, linux.id);
    expect(line.cado?.phase).toBe('complete');
    // One wait, no Check Cado loop: Wait For Cado, then Record Outcome.
    expect(done.stats.invocationsByState['Wait For Cado']).toBe(1);
    expect(done.stats.invocationsByState['Check Cado']).toBeUndefined();
    // The webhook that resumed it: Cado's processing_finished for this pipeline's processing child.
    const deliveries = stack.cadoSim.webhooks.deliveries.slice(deliveriesBefore);
    const finished = deliveries.filter((d) => d.eventType === 'processing_finished');
    expect(finished.length).toBeGreaterThan(0);
    const pipeline = stack.cadoSim.state.pipelines.get(line.cado?.pipelineId as number);
    expect(finished.map((d) => d.pipelineId)).toContain(pipeline?.childId);
    const answers = finished.map((d) => ({ status: d.status, ...JSON.parse(d.response ?? '{}') }));
    expect(answers).toContainEqual(expect.objectContaining({ status: 200, resumed: 1 }));
    // The substituted payload Cado sent is JSON carrying the secret, its title and the event text.
    const sent = JSON.parse(finished[0]?.body ?? '{}') as Record<string, string>;
    expect(sent).toMatchObject({ secret: stack.cadoWebhook?.secret, title: 'PROCESSING FINISHED' });
    expect(sent.event).toContain(String(pipeline?.childId));
    // Nothing left open: a watcher run asks Cado nothing more.
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open' });
  });

  it('processing_failed resumes it with the reason Cado gave (staged_handoff_failed)', async () => {
    const { windows } = stack.tenant.agents;
    const progressText = 'Unable to open the archive: unsupported compression';
    stack.cadoSim.behaviour.acquisitionOutcome = { kind: 'failed', progressText };
    const { run } = await startAndPassRunScript(windows.id);
    const done = await run;
    expect(done.failure?.error).toBe('HandOffFailed');
    const line = agentLine(done, windows.id);
    expect(line.outcome).toBe('staged_handoff_failed');
    expect(line.reason).toContain(progressText);
    const failed = stack.cadoSim.webhooks.deliveries.filter(
      (d) => d.eventType === 'processing_failed' && d.pipelineId === line.cado?.pipelineId,
    );
    expect(failed).toHaveLength(1);
    expect(JSON.parse(failed[0]?.response ?? '{}')).toMatchObject({ resumed: 1 });
  });

  it('a forged or unauthenticated webhook is refused (401) and causes nothing: no Cado call, no resume', async () => {
    const { linux } = stack.tenant.agents;
    // A pipeline that stays running for the length of the test, and Cado's real webhooks dropped.
    stack.cadoSim.behaviour.timing.processingMs = 24 * 3600_000;
    stack.cadoSim.webhooks.dropDeliveries = true;
    try {
      const { run } = await startAndPassRunScript(linux.id);
      await until(() => waitingIn('Wait For Cado') === 1, 'Wait For Cado to wait');
      const cadoBefore = stack.cadoSim.requests.length;
      const secret = stack.cadoWebhook?.secret as string;
      const forged = [
        JSON.stringify({ title: 'PROCESSING FINISHED', event: 'pipeline 1 finished' }),
        JSON.stringify({ secret: `${secret.slice(0, -1)}x`, title: '$Title', event: '$Event' }),
        JSON.stringify({ secret: '', title: 'PROCESSING FINISHED', event: 'x' }),
        JSON.stringify({ secret: { $ne: null }, title: 'PROCESSING FINISHED', event: 'x' }),
        'not json at all',
        `{"title":"PROCESSING FINISHED","secret":"${secret.slice(1)}"`,
      ];
      for (const body of forged) {
        const answer = await post(body);
        expect(answer.status, body.slice(0, 40)).toBe(401);
        expect(JSON.stringify(answer.json)).not.toContain(secret);
      }
      expect(stack.cadoSim.requests.length).toBe(cadoBefore);
      expect(waitingIn('Wait For Cado')).toBe(1);

      // The right secret, even in a body an unescaped $Event broke, wakes a check (still running: no resume).
      const broken = `{"secret":"${secret}","title":"PROCESSING FINISHED","event":"say "hi""}`;
      const woken = await post(broken);
      expect(woken).toMatchObject({ status: 200, json: { checked: 1, resumed: 0, stillOpen: 1 } });
      expect(stack.cadoSim.requests.length).toBeGreaterThan(cadoBefore);
      expect(waitingIn('Wait For Cado')).toBe(1);

      // An operator cancels the pipeline in Cado (no event for that): the next authenticated wake resumes it.
      const line = [...stack.cadoSim.state.imports].at(-1);
      for (const p of stack.cadoSim.state.pipelines.values()) {
        if (p.projectId === line?.projectId) p.abortedAt = p.created;
      }
      const last = await post(JSON.stringify({ secret, title: 'PROCESSING FAILED', event: 'x' }));
      expect(last).toMatchObject({ status: 200, json: { checked: 1, resumed: 1, stillOpen: 0 } });
      const done = await run;
      expect(agentLine(done, linux.id).cado?.phase).toBe('cancelled');
    } finally {
      stack.cadoSim.webhooks.dropDeliveries = false;
    }
  });
});
