/**
 * Section 2: the bill of one investigation. The whole product runs locally (the synthesized state machine with the
 * real handlers, the simulators, s3rver, the AWS fake) for one agent whose collection task runs ten simulated
 * minutes; time dilation makes that seconds. The runner counts state transitions (states entered plus retries, as
 * Standard workflows bill them) and Lambda invocations; the durations are each handler's own (real milliseconds on
 * this machine's loopback, so a floor for Lambda's; for Run Script, which waits with a task token, not the wait).
 *
 * The Task Watcher (one for every open investigation) is reported beside the bill: how late it noticed the finished
 * task (simulated seconds from S1's completion to the execution leaving Run Script), its invocations and S1 status
 * calls during the run, and what its minute-long invocations cost while any task is open.
 */

import { pipelineSnapshot } from '../../local/cado-simulator';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import { completionTime } from '../../local/s1-simulator/tasks';
import {
  billedMs,
  type CostEstimate,
  estimateCost,
  type Invocation,
  type Prices,
  US_EAST_1,
} from './pricing';
import { stackFunctions } from './stack-functions';
import type { Progress } from './staging';

/** What to run. */
export interface BillPlan {
  /** Simulated minutes the agent's script runs. */
  readonly collectionMinutes: number;
  /** Simulated seconds per real second. */
  readonly timeScale: number;
}

/** Ten simulated minutes at 60× (about 15 real seconds). */
export const DEFAULT_BILL_PLAN: BillPlan = { collectionMinutes: 10, timeScale: 60 };

/** Section 2's figures. */
export interface BillFigures {
  readonly plan: BillPlan;
  /** Outcome of the investigation (`complete` expected). */
  readonly outcome: string;
  readonly stateTransitions: number;
  readonly statesEntered: number;
  readonly retries: number;
  readonly lambdaInvocations: number;
  readonly invocationsByStep: Readonly<Record<string, number>>;
  /** Billed duration (ms, local) and memory per step. */
  readonly durationByStep: Readonly<Record<string, { readonly ms: number; readonly memoryMb: number }>>;
  /** Rough size of the execution log at level ALL with data (JSON of every event). */
  readonly logBytes: number;
  /** The Task Watcher during the run. */
  readonly watcher: {
    /** Simulated seconds from the task's completion in S1 to the execution resuming (leaving Run Script). */
    readonly noticedAfterSeconds: number | null;
    /**
     * Simulated seconds from the end of the Cado pipeline (its processing child) to the execution resuming (leaving
     * Wait For Cado): the watcher's Cado pass, as no webhook is configured here.
     */
    readonly cadoNoticedAfterSeconds: number | null;
    readonly invocations: number;
    /** `GET /remote-scripts/status` calls the whole run made (all from the watcher). */
    readonly statusCalls: number;
    /** Lambda duration cost of its invocations (each runs about a minute), shared by every open investigation. */
    readonly costPerOpenMinute: number;
  };
  /** Simulated and real duration of the investigation. */
  readonly simulatedSeconds: number;
  readonly realSeconds: number;
  readonly cost: CostEstimate;
  /** The same with every invocation billed 1 s (Lambda on the internet is slower than loopback). */
  readonly costAt1s: CostEstimate;
  readonly prices: Prices;
}

/** Memory of each step's function in the synthesized stack. */
function memoryBySteps(stack: LocalStack): Map<string, number> {
  const memory = new Map<string, number>();
  for (const fn of stackFunctions(stack).values()) if (fn.step) memory.set(fn.step, fn.memorySize);
  return memory;
}

/** Runs section 2. */
export async function benchBill(plan: BillPlan, progress: Progress): Promise<BillFigures> {
  progress(`starting the local stack (time x${plan.timeScale})`);
  const stack = await startLocalStack({ timeScale: plan.timeScale });
  try {
    const tenant = stack.tenant;
    const sim = stack.s1Sim;
    if (!tenant || !sim) throw new Error('the bill needs the S1 simulator');
    const memory = memoryBySteps(stack);
    const agent = tenant.agents.linux;
    sim.setAgentBehavior(agent.id, { profile: 'complete', runMs: plan.collectionMinutes * 60_000 });

    const invocations: (Invocation & { step: string })[] = [];
    let logBytes = 0;
    let noticedAfterSeconds: number | null = null;
    let cadoNoticedAfterSeconds: number | null = null;
    const watcherInvocationsBefore = stack.taskWatcher.invocations;
    const statusCallsBefore = sim.requests.filter((r) => r.route === '/remote-scripts/status').length;
    progress(`one investigation, one agent, a ${plan.collectionMinutes}-minute collection`);
    const simStarted = sim.clock();
    const realStarted = performance.now();
    const execution = stack.machine.run(
      { agentIds: [agent.id], threatId: tenant.threats.linux.id, requestedBy: 'npm run bench' },
      {
        executionName: `threat-${tenant.threats.linux.id}`,
        bufferEvents: false,
        onLambdaInvocation: ({ step, durationMs }) =>
          invocations.push({ step, durationMs, memoryMb: memory.get(step) ?? 128 }),
        onEvent: (event) => {
          logBytes += Buffer.byteLength(JSON.stringify(event));
          if (event.type === 'StateExited' && event.state.name === 'Run Script') {
            const output = event.state.output as { task?: { parentTaskId?: string } } | undefined;
            const child = output?.task?.parentTaskId ? sim.tasksOf(output.task.parentTaskId)[0] : undefined;
            if (child) noticedAfterSeconds = (sim.clock() - completionTime(child)) / 1000;
          }
          if (event.type === 'StateExited' && event.state.name === 'Wait For Cado' && stack.cadoSim) {
            const output = event.state.output as { cado?: { pipelineId?: number } } | undefined;
            const pipelines = stack.cadoSim.state.pipelines;
            const parent = pipelines.get(output?.cado?.pipelineId ?? -1);
            const last = parent?.childId !== undefined ? pipelines.get(parent.childId) : parent;
            const ended = last ? pipelineSnapshot(last, sim.clock()).finishTime : undefined;
            if (ended !== undefined) cadoNoticedAfterSeconds = (sim.clock() - ended) / 1000;
          }
        },
      },
    );
    const output = (await execution.result) as { outcome?: { status?: string } };
    const realSeconds = (performance.now() - realStarted) / 1000;
    const simulatedSeconds = (sim.clock() - simStarted) / 1000;
    const stats = execution.stats;

    const durationByStep: Record<string, { ms: number; memoryMb: number }> = {};
    for (const inv of invocations) {
      const row = durationByStep[inv.step] ?? { ms: 0, memoryMb: inv.memoryMb };
      row.ms += billedMs(inv.durationMs);
      durationByStep[inv.step] = row;
    }
    const counts = { stateTransitions: stats.stateTransitions, invocations, logBytes };
    const watcherMemoryMb = memory.get('watch-tasks') ?? 128;
    return {
      plan,
      outcome: output.outcome?.status ?? 'unknown',
      stateTransitions: stats.stateTransitions,
      statesEntered: stats.statesEntered,
      retries: stats.retries,
      lambdaInvocations: stats.lambdaInvocations,
      invocationsByStep: { ...stats.invocationsByStep },
      durationByStep,
      logBytes,
      watcher: {
        noticedAfterSeconds,
        cadoNoticedAfterSeconds,
        invocations: stack.taskWatcher.invocations - watcherInvocationsBefore,
        statusCalls:
          sim.requests.filter((r) => r.route === '/remote-scripts/status').length - statusCallsBefore,
        // A minute's invocation runs WATCHER_RUN_SECONDS (55 s) while a task is open.
        costPerOpenMinute: (watcherMemoryMb / 1024) * 55 * US_EAST_1.lambdaGbSecondArm,
      },
      simulatedSeconds,
      realSeconds,
      cost: estimateCost(counts),
      costAt1s: estimateCost({
        ...counts,
        invocations: invocations.map((inv) => ({ ...inv, durationMs: Math.max(1000, inv.durationMs) })),
      }),
      prices: US_EAST_1,
    };
  } finally {
    await stack.close();
  }
}
