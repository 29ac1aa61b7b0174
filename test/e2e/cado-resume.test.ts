/**
 * End-to-end: Cado pipelines resume like S1 tasks (DESIGN §9). Hand To Cado → Wait For Cado registers the pipeline
 * with its task token; with no webhook configured the Task Watcher's Cado pass looks at it every
 * `cadoWatchIntervalSeconds` and resumes the execution with Check Cado's decision. The stack's schedule is off: each
 * test decides when the watcher runs, or that it is down. The hand-off deadline is a simulated minute (pipelines
 * here take 16 s), so the watchdog of Wait For Cado fires 11 simulated minutes after it starts waiting.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { now } from '../../lambdas/shared/clock';
import { pipelineSnapshot } from '../../local/cado-simulator';
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
  config: { cadoWatchIntervalSeconds: 10, cadoHandoffTimeoutSeconds: 60 },
});

beforeEach(() => {
  Object.assign(stack.cadoSim.behaviour.timing, {
    queuedMs: 1_000,
    acquisitionMs: 5_000,
    processingMs: 10_000,
  });
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

/** Whether the last import's pipelines have all ended, its processing child included (as Cado would list them now). */
function cadoEnded(): boolean {
  const state = stack.cadoSim.state;
  const last = state.imports.at(-1);
  if (!last) return false;
  const pipelines = [...state.pipelines.values()].filter((p) => p.projectId === last.projectId);
  return (
    pipelines.some((p) => p.type === 'processing') &&
    pipelines.every((p) => pipelineSnapshot(p, now()).terminal)
  );
}

/** Starts an investigation of one agent; runs the watcher once its S1 task ended, so Run Script resumes. */
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

interface WatchResult {
  stopped: string;
  passes: number;
  resumed: number;
  open: number;
}

describe('Cado pipelines resume by task token', () => {
  it('polling fallback: with no webhook the Task Watcher resumes Wait For Cado with Check Cado’s decision', async () => {
    const { linux } = stack.tenant.agents;
    const threatId = nextThreatId();
    stack.cadoSim.behaviour.evidenceHash = 'sha256';
    stack.taskWatcher.start();
    let done: InvestigationRun;
    try {
      done = await investigate(stack, { agentIds: [linux.id], requestedBy: 'e2e', threatId });
    } finally {
      await stack.taskWatcher.stop();
    }
    expect(stack.cadoSim.webhooks.records).toHaveLength(0);
    expect(done.caseRecord.status).toBe('complete');
    const line = agentLine(done, linux.id);
    expect(line.cado).toMatchObject({ phase: 'complete' });
    // One registered wait instead of a Wait ⇄ Check Cado loop; the state after it is Check Cado's (evidence hash).
    expect(done.stats.invocationsByState['Wait For Cado']).toBe(1);
    expect(done.stats.invocationsByState['Check Cado']).toBeUndefined();
    const exited = done.events.find((e) => e.type === 'StateExited' && e.state.name === 'Wait For Cado') as
      | { state: { output: { cado: { phase: string; evidenceHash?: { status: string } } } } }
      | undefined;
    expect(exited?.state.output.cado.phase).toBe('complete');
    expect(exited?.state.output.cado.evidenceHash?.status).toBe('verified');
    // Nothing left open: the next watcher run asks Cado nothing.
    const before = stack.cadoSim.requests.length;
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open', open: 0 });
    expect(stack.cadoSim.requests.length).toBe(before);
  });

  it('a lost SendTaskSuccess response: the wait stays, the next pass finds the token closed and drops it', async () => {
    const { windows } = stack.tenant.agents;
    const { run } = await startAndPassRunScript(windows.id);
    await until(() => waitingIn('Wait For Cado') === 1, 'Wait For Cado to wait');
    await until(cadoEnded, 'the Cado pipelines to end');
    // Every attempt of the SDK loses its response: the execution resumes, but the watcher cannot know.
    const lostBefore = stack.aws.stepFunctions.lostSendTaskSuccessCalls;
    stack.aws.stepFunctions.loseTaskSuccessResponses(4);
    const first = (await stack.taskWatcher.runOnce()) as WatchResult;
    expect(stack.aws.stepFunctions.lostSendTaskSuccessCalls - lostBefore).toBe(4);
    const done = await run;
    expect(done.caseRecord.status).toBe('complete');
    expect(done.stats.invocationsByState['Wait For Cado']).toBe(1);
    expect(done.stats.invocationsByState['Record Outcome']).toBe(1);
    // Whichever pass answers next gets TaskTimedOut for the closed token and drops the wait: nothing resumed twice.
    if (first.stopped !== 'nothing-open') {
      expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open' });
    }
    expect(await stack.taskWatcher.runOnce()).toMatchObject({ stopped: 'nothing-open', open: 0 });
  });

  it('with the watcher down and no webhook, the watchdog of Wait For Cado ends the hand-off failed, evidence kept', async () => {
    const { linux } = stack.tenant.agents;
    const { run } = await startAndPassRunScript(linux.id);
    const done = await run;
    expect(done.failure?.error).toBe('HandOffFailed');
    const line = agentLine(done, linux.id);
    expect(line.outcome).toBe('staged_handoff_failed');
    expect(line.reason).toMatch(
      /^Cado hand-off failed: CadoWatchdogFired: No Task Watcher pass or Cado webhook/,
    );
    expect(done.stats.invocationsByState['Cado Watchdog Fired']).toBeUndefined(); // a Pass, not a Task
    expect(done.events.some((e) => e.type === 'StateEntered' && e.state.name === 'Cado Watchdog Fired')).toBe(
      true,
    );
    expect(done.caseRecord.handoffRerunCommand).toBe(`npx s1cado handoff ${done.investigationId}`);
    // The watcher finds the wait's token closed and drops it, without resuming anything.
    const summary = (await stack.taskWatcher.runOnce()) as WatchResult;
    expect(summary).toMatchObject({ stopped: 'nothing-open', resumed: 0 });
  });
});
