/**
 * Section 3: a burst of threats. N investigations (one agent each) are started at once through the AWS fake's
 * StartExecution, as threat intake would, and run the synthesized state machine with the real handlers against the
 * S1 simulator enforcing S1's per-token rate limits (`/remote-scripts*` 1 req/s with a burst of 30, see the
 * simulator's DEFAULT_RATE_LIMITS). Every execution shares the one service-user token, as in production. Reported:
 * how many were collected and how many failed and why (the error each failed agent's branch was caught with, by
 * state), retries, 429s, the accepted S1 request rate against the limit, and the wall and simulated time.
 *
 * Time dilation caveat: the rate limiter counts in simulated time. When this process stalls (a loaded machine),
 * simulated time jumps by the stall times the scale and the token buckets refill meanwhile, which can only make
 * throttling look milder than it would be.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { THREAT_EVENT } from '../../lambdas/shared/contract';
import { caseKey } from '../../lambdas/shared/evidence/keys';
import { s1Budget } from '../../lambdas/shared/services';
import type { LocalEvent } from '../../local/asl/runner';
import { startLocalStack } from '../../local/local-stack';
import { DEFAULT_RATE_LIMITS, type RateLimitReport } from '../../local/s1-simulator';
import type { Retrier } from './retry-what-if';
import { whatIfMachine } from './stack-functions';
import type { Progress } from './staging';

/** What to run. */
export interface BurstPlan {
  readonly threats: number;
  /** Simulated seconds per real second. */
  readonly timeScale: number;
  /** Simulated minutes each agent's script runs. */
  readonly collectionMinutes: number;
  /** Real-time limit on the whole burst (seconds); executions still running then are stopped and counted. */
  readonly realTimeLimitSeconds: number;
  /** Run the state machine with this Retry for its errors instead of the synthesized one (a what-if). */
  readonly retrier?: Retrier;
  /**
   * Publish the threats as intake events on the bus instead of starting executions directly: they go through the
   * intake queue and start-investigation (bounded concurrency, S1 read-back, threat note), as deployed.
   */
  readonly viaIntake?: boolean;
}

/**
 * 1,000 threats at once (issue 11), 2-minute collections, 3× time. The local stack runs every Lambda, both
 * simulators and the state machines on this machine's two cores, so each real second the stack is CPU-bound becomes
 * `timeScale` simulated seconds that no deployed Lambda (each with a CPU of its own) would wait. With executes,
 * status calls and result links batched, the S1 limit binds at any scale (about 40 `/remote-scripts*` requests for
 * 1,000 threats), so the smallest scale that keeps the run short is the most faithful: at 20× the same run took
 * 36.6 simulated minutes for 110 s of real time, nearly all of it this machine's CPU, not S1's limits; at 5× runs
 * took 9.9 to 12.1 simulated minutes and at 3× 8.0, in about the same real time (2 to 3 minutes). `--burst-scale`
 * sets another.
 */
export const DEFAULT_BURST_PLAN: BurstPlan = {
  threats: 1000,
  timeScale: 3,
  collectionMinutes: 2,
  realTimeLimitSeconds: 2400,
};

/** Real-time limit for a burst of `threats`: 8 minutes for 200, growing with the count (2.4 s per threat). */
export function burstTimeLimitSeconds(threats: number): number {
  return Math.max(480, Math.ceil(threats * 2.4));
}

/** One row of the rate-limit counters (the token never appears, only its owner's name). */
export interface RateRow {
  readonly rule: string;
  readonly accepted: number;
  readonly limited: number;
  /** Limit of the rule (requests per simulated second) and its burst; null for `*` (all requests). */
  readonly limitPerSecond: number | null;
  readonly burst: number | null;
  /** Highest accepted count in any 1 s window (includes the burst allowance). */
  readonly peakPerSecond: number;
  /** Highest accepted rate over any 60 s window (the sustained rate the limit is about). */
  readonly peakPerSecond60s: number;
  /** Accepted requests per simulated second over the whole burst. */
  readonly averagePerSecond: number;
}

/** Section 3's figures. */
export interface BurstFigures {
  readonly plan: BurstPlan;
  readonly started: number;
  /** With `viaIntake`: simulated seconds from the first event until the last execution started, and the most
   * executions started in one simulated minute. */
  readonly intake?: {
    readonly allStartedAfterSeconds: number;
    readonly peakStartsPerMinute: number;
    /** Events whose investigation never started (refused, or still queued at the time limit). */
    readonly notStarted: number;
  };
  /** Investigations whose agent's evidence reached Cado. */
  readonly collected: number;
  /** Agents whose evidence was staged but the hand-off failed. */
  readonly stagedHandoffFailed: number;
  /** Investigations that ended without evidence, with the reasons. */
  readonly failed: number;
  /** Executions still running at the real-time limit (stopped). */
  readonly unfinished: number;
  /** `<state>: <error>` → count, for every caught failure. */
  readonly failuresByCause: Readonly<Record<string, number>>;
  /** Failures whose error was S1RateLimitedError. */
  readonly failedByThrottling: number;
  /** Step Functions retries, by state. */
  readonly retriesByState: Readonly<Record<string, number>>;
  readonly stateTransitions: number;
  /**
   * Where an investigation's time went: simulated seconds in each state (all its entries summed) across the
   * investigations, the ten states with the highest 95th percentile. A Map iteration counts once per agent.
   */
  readonly secondsInState: readonly ({ readonly state: string } & Distribution)[];
  /** State transitions per investigation: mean, median, 95th percentile and highest. */
  readonly transitionsPerInvestigation: Distribution;
  readonly lambdaInvocations: number;
  readonly rates: readonly RateRow[];
  /** All S1 requests the simulator accepted (rule `*`). */
  readonly totalAccepted: number;
  /** 429s as a share of accepted requests (goal ≤ 1 %). */
  readonly refusedShare: number;
  /** One row per simulated minute: S1 status requests against the tasks open at the minute's end. */
  readonly statusByMinute: readonly StatusMinute[];
  /** {@link statusByMinute} grouped by how many tasks were open. */
  readonly statusByOpenTasks: readonly StatusBand[];
  /** Highest number of tasks open at once. */
  readonly peakOpenTasks: number;
  /** S1 API requests by `<method> <route>`: sent (reached S1) and refused with 429. */
  readonly requestsByRoute: Readonly<Record<string, { readonly sent: number; readonly refused: number }>>;
  /** The shared S1 request budget of this process (undefined when the stack has none). */
  readonly budget?: {
    readonly taken: number;
    readonly storeCalls: number;
    readonly refused: number;
    readonly refusedLocally: number;
    readonly throttled: number;
    readonly waitedSeconds: number;
    readonly storeFailures: number;
  };
  /** The goals of issue 11, each with its verdict. */
  readonly verdicts: readonly Verdict[];
  /** 429 answers of the S1 simulator, all routes. */
  readonly total429: number;
  /** Collector scripts in the S1 library afterwards (more than one per OS: ensure-scripts raced itself). */
  readonly scriptUploads: number;
  /** Distinct scripts the S1 tasks ran (one per OS when the racers settled on the same copy). */
  readonly scriptsRun: number;
  readonly realSeconds: number;
  readonly simulatedSeconds: number;
  /** Time from the burst's start until the last execution ended, simulated seconds. */
  readonly simulatedMakespanSeconds: number;
  /**
   * Event-loop delay of this process during the burst (real ms). Each stalled real millisecond is `timeScale`
   * simulated ones in which the rate limiter refills while nobody can ask: large stalls flatter the figures.
   */
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The Task Watcher's scheduled invocations during the burst, and the ones that failed (by error name). */
  readonly watcher: { readonly invocations: number; readonly failed: Readonly<Record<string, number>> };
}

/** Mean, median, 95th percentile and highest of a list of counts. */
export interface Distribution {
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

/** One simulated minute of the burst. */
export interface StatusMinute {
  /** Minutes since the burst started (the minute ending then). */
  readonly minute: number;
  /** `GET /remote-scripts/status` requests that reached S1 in the minute (accepted or refused). */
  readonly statusRequests: number;
  /** Of those, answered 429. */
  readonly statusRefused: number;
  /** S1 tasks started and not yet fetched or canceled, at the minute's end. */
  readonly openTasks: number;
}

/** Minutes with a similar number of open tasks. */
export interface StatusBand {
  /** e.g. `10-99`. */
  readonly openTasks: string;
  readonly minutes: number;
  readonly meanOpenTasks: number;
  readonly meanStatusPerMinute: number;
  readonly maxStatusPerMinute: number;
}

/** A goal and whether the burst met it. */
export interface Verdict {
  readonly goal: string;
  readonly measured: string;
  readonly pass: boolean;
}

/** Bands of open tasks for the status table (lower bounds; the last is open-ended). */
const OPEN_TASK_BANDS = [1, 10, 100, 250, 500, 1000] as const;

function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    mean: sorted.length ? sum / sorted.length : 0,
    p50: at(0.5),
    p95: at(0.95),
    max: sorted.at(-1) ?? 0,
  };
}

function bands(minutes: readonly StatusMinute[]): StatusBand[] {
  const out: StatusBand[] = [];
  OPEN_TASK_BANDS.forEach((low, i) => {
    const high = OPEN_TASK_BANDS[i + 1];
    const inBand = minutes.filter((m) => m.openTasks >= low && (high === undefined || m.openTasks < high));
    if (inBand.length === 0) return;
    out.push({
      openTasks: high === undefined ? `${low}+` : `${low}-${high - 1}`,
      minutes: inBand.length,
      meanOpenTasks: inBand.reduce((a, m) => a + m.openTasks, 0) / inBand.length,
      meanStatusPerMinute: inBand.reduce((a, m) => a + m.statusRequests, 0) / inBand.length,
      maxStatusPerMinute: Math.max(...inBand.map((m) => m.statusRequests)),
    });
  });
  return out;
}

/**
 * Status requests per minute are flat when the band with the most open tasks averages at most twice the band
 * with the fewest (a floor of 6 a minute, one call every 10 s, so that a near-idle first band does not decide it).
 */
function statusFlat(statusBands: readonly StatusBand[]): { pass: boolean; measured: string } {
  const low = statusBands[0];
  const high = statusBands.at(-1);
  if (!low || !high) return { pass: false, measured: 'no minute with an open task' };
  const ratio = high.meanStatusPerMinute / Math.max(6, low.meanStatusPerMinute);
  return {
    pass: ratio <= 2,
    measured:
      `${high.meanStatusPerMinute.toFixed(1)}/min at ${high.openTasks} open vs ` +
      `${low.meanStatusPerMinute.toFixed(1)}/min at ${low.openTasks} (x${ratio.toFixed(2)}, goal <= x2)`,
  };
}

interface Tracked {
  /** Errors caught in this execution, as `<state>: <error>`. */
  readonly caught: string[];
  /** Error of the last failure per state (a Catch event does not carry the error). */
  readonly lastFailure: Map<string, string>;
  readonly retries: Map<string, number>;
  /** Simulated ms when each state (of the agent's branch, or the execution's) was last entered. */
  readonly entered: Map<string, number>;
  /** Simulated ms spent in each state, all entries summed. */
  readonly spent: Map<string, number>;
  stateTransitions: number;
  lambdaInvocations: number;
}

function track(tracked: Tracked, event: LocalEvent, nowMs: number): void {
  if (!('state' in event)) return;
  const state = event.state.name;
  if (event.type === 'StateEntered') tracked.entered.set(state, nowMs);
  if (event.type === 'StateExited' || event.type === 'StateFailed') {
    const since = tracked.entered.get(state);
    if (since !== undefined) {
      tracked.spent.set(state, (tracked.spent.get(state) ?? 0) + (nowMs - since));
      tracked.entered.delete(state);
    }
  }
  if (event.type === 'StateFailed') tracked.lastFailure.set(state, event.Error);
  if (event.type === 'StateCaught')
    tracked.caught.push(`${state}: ${tracked.lastFailure.get(state) ?? 'unknown'}`);
  if (event.type === 'StateRetried') tracked.retries.set(state, (tracked.retries.get(state) ?? 0) + 1);
}

function limitOf(rule: string): { limitPerSecond: number | null; burst: number | null } {
  const found = DEFAULT_RATE_LIMITS.find((r) => r.name === rule);
  return { limitPerSecond: found?.ratePerSecond ?? null, burst: found?.burst ?? null };
}

function increment(record: Record<string, number>, key: string, by = 1): void {
  record[key] = (record[key] ?? 0) + by;
}

/** Runs section 3. */
export async function benchBurst(plan: BurstPlan, progress: Progress): Promise<BurstFigures> {
  progress(
    `starting the local stack (time x${plan.timeScale}, S1 rate limits on, s3rver and dynalite in child processes)`,
  );
  const stack = await startLocalStack({
    timeScale: plan.timeScale,
    // The stores as services of their own: in the stack's process, its busy event loop delays their answers past
    // the handlers' SDK timeouts in a 1,000-threat burst (TimeoutErrors, not throttling).
    storesInChildProcesses: true,
    // Enough room for 200 Map iterations of one agent each is not the question; one agent per investigation.
    config: { maxConcurrentAgents: 5 },
  });
  const closers: (() => void)[] = [];
  const sfn = new SFNClient({
    endpoint: stack.aws.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  try {
    const sim = stack.s1Sim;
    const tenant = stack.tenant;
    if (!sim || !tenant) throw new Error('the burst needs the S1 simulator');
    const threats = Array.from({ length: plan.threats }, (_, i) => {
      const agent = sim.addAgent({
        siteId: tenant.sites.rso.id,
        osType: 'linux',
        computerName: `burst-${i + 1}`,
      });
      sim.setAgentBehavior(agent.id, { runMs: plan.collectionMinutes * 60_000 });
      return sim.addThreat({ agentId: agent.id, createdAt: sim.clock(), confidenceLevel: 'malicious' });
    });

    const machine = plan.retrier ? whatIfMachine(stack, plan.retrier) : stack.machine;
    if (plan.retrier) closers.push(() => machine.dispose());
    const tracked = new Map<string, Tracked>();
    const startedAt: number[] = [];
    stack.aws.registerStateMachine(stack.stateMachineArn, (execution) => {
      startedAt.push(sim.clock());
      const entry: Tracked = {
        caught: [],
        lastFailure: new Map(),
        retries: new Map(),
        entered: new Map(),
        spent: new Map(),
        stateTransitions: 0,
        lambdaInvocations: 0,
      };
      tracked.set(execution.name, entry);
      const run = machine.run(execution.input, {
        executionName: execution.name,
        executionId: execution.executionArn,
        signal: execution.signal,
        bufferEvents: false,
        onEvent: (event) => track(entry, event, sim.clock()),
      });
      return run.result.finally(() => {
        entry.stateTransitions = run.stats.stateTransitions;
        entry.lambdaInvocations = run.stats.lambdaInvocations;
      });
    });

    sim.rateLimiter.reset();
    sim.clearRequests();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    progress(`starting ${plan.threats} investigations at once`);
    const simStarted = sim.clock();
    const realStarted = performance.now();
    // Each simulated minute: count the status requests of the log and empty it (bounded memory at 1,000
    // threats), note the tasks fetched or canceled, and count the tasks still open.
    const statusByMinute: StatusMinute[] = [];
    const closedTasks = new Set<string>();
    const requestsByRoute: Record<string, { sent: number; refused: number }> = {};
    let sampledAt = simStarted;
    const sample = () => {
      const at = sim.clock();
      let statusRequests = 0;
      let statusRefused = 0;
      for (const entry of sim.requests) {
        if (entry.host !== 'api') continue;
        const route = `${entry.method} ${entry.route}`;
        const counts = requestsByRoute[route] ?? { sent: 0, refused: 0 };
        counts.sent++;
        if (entry.status === 429) counts.refused++;
        requestsByRoute[route] = counts;
        if (entry.route === '/remote-scripts/status') {
          statusRequests++;
          if (entry.status === 429) statusRefused++;
        } else if (
          (entry.route === '/remote-scripts/fetch-files' || entry.route === '/private/tasks/cancel-task') &&
          entry.status === 200
        ) {
          const body = entry.body as { data?: { taskIds?: unknown }; filter?: { ids?: unknown } } | undefined;
          const ids = body?.data?.taskIds ?? body?.filter?.ids;
          if (Array.isArray(ids)) for (const id of ids) closedTasks.add(String(id));
        }
      }
      sim.clearRequests();
      let openTasks = 0;
      for (const task of sim.state.tasks.values()) {
        if (task.createdAt <= at && !closedTasks.has(task.id) && task.canceledAt === null) openTasks++;
      }
      statusByMinute.push({
        minute: Math.round((at - simStarted) / 60_000),
        statusRequests,
        statusRefused,
        openTasks,
      });
      sampledAt = at;
    };
    const sampler = setInterval(sample, 60_000 / plan.timeScale);
    const executionArn = (name: string) =>
      `${stack.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    let arns: string[];
    let notStarted = 0;
    if (plan.viaIntake) {
      arns = await publishThreats(stack, sim, threats);
      // Executions start as the queue's consumer gets to them: wait for each to exist before waiting for its end.
      const giveUpAt = performance.now() + plan.realTimeLimitSeconds * 1000;
      const exists = (arn: string) => stack.aws.stepFunctions.list().some((e) => e.executionArn === arn);
      while (!arns.every(exists) && performance.now() < giveUpAt) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const published = arns.length;
      arns = arns.filter(exists);
      notStarted = published - arns.length;
    } else {
      arns = await Promise.all(
        threats.map(async (threat) => {
          const out = await sfn.send(
            new StartExecutionCommand({
              stateMachineArn: stack.stateMachineArn,
              name: `threat-${threat.id}`,
              input: JSON.stringify({
                agentIds: [threat.agentId],
                threatId: threat.id,
                requestedBy: 'threat-intake',
              }),
            }),
          );
          return out.executionArn ?? executionArn(`threat-${threat.id}`);
        }),
      );
    }

    let done = 0;
    const report = setInterval(() => progress(`${done}/${arns.length} investigations finished`), 10_000);
    report.unref();
    let lastEnded = simStarted;
    const timeLimit = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), plan.realTimeLimitSeconds * 1000).unref(),
    );
    const all = Promise.all(
      arns.map((arn) =>
        stack.aws.stepFunctions.waitFor(arn).then(() => {
          done++;
          lastEnded = sim.clock();
        }),
      ),
    );
    const finishedInTime = (await Promise.race([all.then(() => 'done' as const), timeLimit])) === 'done';
    clearInterval(report);
    clearInterval(sampler);
    if (sim.clock() - sampledAt > 1000) sample();
    loopDelay.disable();
    const realSeconds = (performance.now() - realStarted) / 1000;
    const simulatedSeconds = (sim.clock() - simStarted) / 1000;
    const executions = stack.aws.stepFunctions.list();
    const unfinished = executions.filter((e) => e.status === 'RUNNING').length;
    if (!finishedInTime) stack.aws.stepFunctions.abortAll();

    let collected = 0;
    let stagedHandoffFailed = 0;
    let failed = 0;
    const failuresByCause: Record<string, number> = {};
    const retriesByState: Record<string, number> = {};
    let failedByThrottling = 0;
    let stateTransitions = 0;
    let lambdaInvocations = 0;
    const transitions: number[] = [];
    const spentByState = new Map<string, number[]>();
    for (const execution of executions) {
      const entry = tracked.get(execution.name);
      if (entry) {
        for (const [state, ms] of entry.spent) {
          const list = spentByState.get(state) ?? [];
          list.push(ms / 1000);
          spentByState.set(state, list);
        }
        for (const cause of entry.caught) increment(failuresByCause, cause);
        for (const [state, count] of entry.retries) increment(retriesByState, state, count);
        stateTransitions += entry.stateTransitions;
        transitions.push(entry.stateTransitions);
        lambdaInvocations += entry.lambdaInvocations;
      }
      if (execution.status === 'RUNNING' || execution.status === 'ABORTED') continue;
      const outcome = await caseOutcome(stack, execution.name);
      if (outcome === 'complete') collected++;
      else if (outcome === 'staged_handoff_failed') stagedHandoffFailed++;
      else {
        failed++;
        if (entry?.caught.some((cause) => cause.endsWith(': S1RateLimitedError'))) failedByThrottling++;
      }
    }

    const rows = sim.rateLimitStats(1000).filter((row) => row.tokenId === tenant.serviceUser.tokenRecord.id);
    const rows60 = new Map(
      sim
        .rateLimitStats(60_000)
        .filter((row) => row.tokenId === tenant.serviceUser.tokenRecord.id)
        .map((row) => [row.rule, row]),
    );
    const span = Math.max(1, (lastEnded - simStarted) / 1000);
    const rates = rows
      .map(
        (row: RateLimitReport): RateRow => ({
          rule: row.rule,
          accepted: row.accepted,
          limited: row.limited,
          ...limitOf(row.rule),
          peakPerSecond: row.peakPerSecond,
          peakPerSecond60s: rows60.get(row.rule)?.peakPerSecond ?? 0,
          averagePerSecond: row.accepted / span,
        }),
      )
      .sort((a, b) => (a.rule === '*' ? 1 : b.rule === '*' ? -1 : b.accepted - a.accepted));
    const total429 = rates.find((row) => row.rule === '*')?.limited ?? 0;
    const scriptUploads = [...sim.state.scripts.values()].filter((script) =>
      script.scriptName.startsWith('s1cado-'),
    ).length;
    const scriptsRun = new Set(sim.state.executions.map((execution) => execution.scriptId)).size;
    const totalAccepted = rates.find((row) => row.rule === '*')?.accepted ?? 0;
    const refusedShare = total429 / Math.max(1, totalAccepted);
    const statusByOpenTasks = bands(statusByMinute);
    const makespan = (lastEnded - simStarted) / 1000;
    const allowedMakespan = plan.collectionMinutes * 60 + 600;
    const flat = statusFlat(statusByOpenTasks);
    const verdicts: Verdict[] = [
      {
        goal: '100 % collected',
        measured: `${collected} of ${plan.threats} (${((collected / Math.max(1, plan.threats)) * 100).toFixed(1)} %)`,
        pass: collected === plan.threats,
      },
      {
        goal: 'refused S1 requests <= 1 % of accepted',
        measured: `${total429} refused / ${totalAccepted} accepted = ${(refusedShare * 100).toFixed(2)} %`,
        pass: refusedShare <= 0.01,
      },
      { goal: 'status requests per minute flat as open tasks grow', ...flat },
      {
        goal: 'makespan <= collection time + 10 simulated minutes',
        measured: `${(makespan / 60).toFixed(1)} min vs ${(allowedMakespan / 60).toFixed(1)} min`,
        pass: finishedInTime && makespan <= allowedMakespan,
      },
    ];
    // The handlers' shared budget, created by their first S1 call in this stack (reset when the stack closes).
    const budgetNow = s1Budget()?.stats;

    return {
      plan,
      started: arns.length,
      ...(plan.viaIntake
        ? {
            intake: {
              allStartedAfterSeconds: (Math.max(simStarted, ...startedAt) - simStarted) / 1000,
              peakStartsPerMinute: peakPerWindow(startedAt, 60_000),
              notStarted,
            },
          }
        : {}),
      collected,
      stagedHandoffFailed,
      failed,
      unfinished,
      failuresByCause,
      failedByThrottling,
      retriesByState,
      stateTransitions,
      transitionsPerInvestigation: distribution(transitions),
      secondsInState: [...spentByState.entries()]
        .map(([state, values]) => ({ state, ...distribution(values) }))
        .sort((a, b) => b.p95 - a.p95)
        .slice(0, 10),
      lambdaInvocations,
      rates,
      total429,
      totalAccepted,
      refusedShare,
      statusByMinute,
      statusByOpenTasks,
      peakOpenTasks: Math.max(0, ...statusByMinute.map((m) => m.openTasks)),
      requestsByRoute,
      ...(budgetNow
        ? {
            budget: {
              taken: budgetNow.taken,
              storeCalls: budgetNow.storeCalls,
              refused: budgetNow.refused,
              refusedLocally: budgetNow.refusedLocally,
              throttled: budgetNow.throttled,
              waitedSeconds: budgetNow.waitedMs / 1000,
              storeFailures: budgetNow.storeFailures,
            },
          }
        : {}),
      verdicts,
      scriptUploads,
      scriptsRun,
      realSeconds,
      simulatedSeconds,
      simulatedMakespanSeconds: makespan,
      eventLoopDelayMs: {
        p50: loopDelay.percentile(50) / 1e6,
        p99: loopDelay.percentile(99) / 1e6,
        max: loopDelay.max / 1e6,
      },
      watcher: {
        invocations: stack.taskWatcher.invocations,
        failed: stack.taskWatcher.failures.reduce<Record<string, number>>((counts, error) => {
          const name = error instanceof Error ? error.name : 'Error';
          counts[name] = (counts[name] ?? 0) + 1;
          return counts;
        }, {}),
      },
    };
  } finally {
    sfn.destroy();
    for (const close of closers) close();
    await stack.close();
  }
}

/** Most timestamps in any window of `windowMs`. */
function peakPerWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let left = 0;
  for (let right = 0; right < sorted.length; right++) {
    while ((sorted[right] ?? 0) - (sorted[left] ?? 0) >= windowMs) left++;
    best = Math.max(best, right - left + 1);
  }
  return best;
}

/**
 * Puts one `SentinelOne Threat` event per threat on the intake bus (PutEvents, 10 a call), as the poller would;
 * returns the ARNs the executions will have (`threat-<id>`).
 */
async function publishThreats(
  stack: Awaited<ReturnType<typeof startLocalStack>>,
  sim: NonNullable<Awaited<ReturnType<typeof startLocalStack>>['s1Sim']>,
  threats: readonly { id: string; agentId: string; createdAt: number; updatedAt: number }[],
): Promise<string[]> {
  const events = new EventBridgeClient({
    endpoint: stack.aws.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  try {
    for (let i = 0; i < threats.length; i += 10) {
      const entries = threats.slice(i, i + 10).map((threat) => {
        const agent = sim.state.agents.get(threat.agentId);
        const created = new Date(threat.createdAt).toISOString();
        return {
          EventBusName: stack.intake.busName,
          Source: THREAT_EVENT.source,
          DetailType: THREAT_EVENT.detailType,
          Detail: JSON.stringify({
            threatId: threat.id,
            agentId: threat.agentId,
            agentOsType: agent?.osType ?? 'linux',
            computerName: agent?.computerName ?? null,
            siteId: null,
            classification: 'Malware',
            confidenceLevel: 'malicious',
            threatName: 'burst',
            createdAt: created,
            updatedAt: new Date(threat.updatedAt).toISOString(),
            via: 'backfill',
          }),
        };
      });
      const out = await events.send(new PutEventsCommand({ Entries: entries }));
      if (out.FailedEntryCount) throw new Error(`PutEvents failed for ${out.FailedEntryCount} threat events`);
    }
  } finally {
    events.destroy();
  }
  return threats.map(
    (threat) => `${stack.stateMachineArn.replace(':stateMachine:', ':execution:')}:threat-${threat.id}`,
  );
}

/** The investigation's outcome as case.json records it (`missing` when Record Outcome never wrote it). */
async function caseOutcome(
  stack: Awaited<ReturnType<typeof startLocalStack>>,
  investigationId: string,
): Promise<string> {
  try {
    const object = await stack.s3.client.send(
      new GetObjectCommand({ Bucket: stack.bucket, Key: caseKey(investigationId) }),
    );
    const record = JSON.parse(await (object.Body?.transformToString() ?? Promise.resolve('{}'))) as {
      agents?: { outcome?: string }[];
    };
    return record.agents?.[0]?.outcome ?? 'missing';
  } catch {
    return 'missing';
  }
}
