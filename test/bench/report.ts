/** Renders each section's figures as readable text (tables, verdicts and a few lines of explanation). */

import { formatBytes } from '../../bin/units';
import type { BillFigures } from './bill';
import type { BurstFigures } from './burst';
import { num, pct, table, usd, verdict } from './format';
import type { LambdaInitReport } from './lambda-init';
import type { StagingFigures, StagingRun } from './staging';
import { median } from './stats';

const MB = 1_000_000;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Facts about the machine the figures come from. */
export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly memoryBytes: number;
  readonly loadAtStart: readonly number[];
  readonly loadAtEnd?: readonly number[];
  readonly startedAt: string;
}

/** The heading. */
export function renderMachine(machine: MachineInfo): string {
  const load = (l: readonly number[] | undefined) => (l ? l.map((x) => x.toFixed(1)).join(' ') : '-');
  return [
    `s1-cado-forensics bench, ${machine.startedAt}`,
    `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${formatBytes(machine.memoryBytes)} RAM, ${machine.platform}, Node ${machine.node}`,
    `load average (1/5/15 min): ${load(machine.loadAtStart)} at start, ${load(machine.loadAtEnd)} at end` +
      (machine.loadAtStart[0] !== undefined && machine.loadAtStart[0] > machine.cpus
        ? '  (busy machine: rates and times are lower than on an idle one; memory and counts are not affected)'
        : ''),
  ].join('\n');
}

function stagingRow(run: StagingRun): string[] {
  return [
    run.variant === 'deployed' ? formatBytes(run.size) : `${formatBytes(run.size)}, ${run.variant}`,
    `${formatBytes(run.partSizeBytes)} x ${run.queueSize}`,
    num(run.mibPerSecond),
    num(run.cpuSeconds / (run.bytes / GiB)),
    num(run.peakRss / MiB),
    num(run.initRss / MiB),
    num(run.peakHeapUsed / MiB),
    num(run.peakArrayBuffers / MiB),
    run.sha256Matches ? 'yes' : 'NO',
  ];
}

/** One row for the staging runs of the rate rounds: the highest peak of them, and the median rate. */
function rateRunsRow(runs: readonly StagingRun[]): string[] {
  const highest = [...runs].sort((a, b) => b.peakRss - a.peakRss)[0] as StagingRun;
  const row = stagingRow(highest);
  row[0] = `${formatBytes(highest.size)} (highest of ${runs.length} rate rounds)`;
  row[2] = num(median(runs.map((r) => r.mibPerSecond)));
  return row;
}

/** Section 1. */
export function renderStaging(f: StagingFigures): string {
  const r = f.rates;
  const perGiB = (t: { cpuSeconds: number; bytes: number }) => num(t.cpuSeconds / (t.bytes / GiB));
  const spread = (list: readonly number[]) => list.map((x) => num(x)).join(' ');
  const node = f.runs[0];
  const lines = [
    '1. Evidence staging: the stage-output Lambda bundle in its own Node process, S1 simulator storage -> s3rver',
    '   (s3rver in a separate process; loopback; same bytes for all three rows)',
    '',
    table([
      [
        `rates on ${formatBytes(r.size)}, median of ${r.rounds}`,
        'MiB/s',
        'client CPU s/GiB',
        'every round (MiB/s)',
      ],
      [
        'staging (fetch-files, GET, SHA-256, multipart upload)',
        num(r.staging.mibPerSecond),
        perGiB(r.staging),
        spread(r.samples.staging),
      ],
      [
        'raw download (GET, count the bytes)',
        num(r.rawDownload.mibPerSecond),
        perGiB(r.rawDownload),
        spread(r.samples.rawDownload),
      ],
      [
        'raw upload (same multipart upload, from memory)',
        num(r.rawUpload.mibPerSecond),
        perGiB(r.rawUpload),
        spread(r.samples.rawUpload),
      ],
      [
        '  the same through lib-storage Upload (not a goal)',
        num(r.rawUploadLibStorage.mibPerSecond),
        perGiB(r.rawUploadLibStorage),
        spread(r.samples.rawUploadLibStorage),
      ],
    ]),
    `  staging / slower raw rate = ${num(r.ratio, 2)} (median of the rounds' ratios: ${r.samples.ratio.map((x) => num(x, 2)).join(' ')})   goal >= ${num(r.goal, 2)}   ${verdict(r.pass)}`,
    `  Verify Evidence read-back ${num(f.readBack.verify.mibPerSecond)} MiB/s (${perGiB(f.readBack.verify)} CPU s/GiB) vs raw S3 download of the same object ${num(f.readBack.rawS3Download.mibPerSecond)} MiB/s (${perGiB(f.readBack.rawS3Download)}): ${num(f.readBack.ratio, 2)} (rounds: ${f.readBack.samples.ratio.map((x) => num(x, 2)).join(' ')})   goal >= ${num(f.readBack.goal, 2)}   ${verdict(f.readBack.pass)}`,
    ...(f.readBack.ceiling
      ? [
          `    this machine's ceiling for it: ${f.readBack.ceiling.cores} cores / (Verify ${perGiB(f.readBack.verify)} + s3rver ${num(f.readBack.ceiling.serverCpuPerGiB)} CPU s/GiB) = ${num(f.readBack.ceiling.mibPerSecond)} MiB/s = ${num(f.readBack.ceiling.ratio, 2)} of the raw rate (s3rver spends ${num(f.readBack.ceiling.serverCpuPerGiBRaw)} CPU s/GiB serving the raw download)`,
        ]
      : []),
    `  staging CPU / (raw download + raw upload) = ${num(f.cpuPerGiB.staging)} / ${num(f.cpuPerGiB.rawSum)} s/GiB = ${num(f.cpuPerGiB.ratio, 2)}   goal <= ${num(f.cpuPerGiB.goal, 2)}   ${verdict(f.cpuPerGiB.pass)}`,
    '  (CPU: medians of the rounds; the staging child also runs fetch-files and the manifest write)',
    ...(f.cpuPerGiB.stagingMarginal !== undefined
      ? [
          `  staging CPU per extra GiB (two largest sizes): ${num(f.cpuPerGiB.stagingMarginal)} s/GiB; raw upload through lib-storage: ${num(f.cpuPerGiB.rawUploadLibStorage)} s/GiB`,
        ]
      : []),
    '',
    table([
      [
        'staged size',
        'parts',
        'MiB/s',
        'CPU s/GiB',
        'peak RSS MiB',
        'after init MiB',
        'peak heap MiB',
        'peak ArrayBuffers MiB',
        'sha256 ok',
      ],
      ...[
        ...f.runs.map((run) => ({ size: run.size, row: stagingRow(run) })),
        ...(f.rateRuns[0] ? [{ size: f.rateRuns[0].size, row: rateRunsRow(f.rateRuns) }] : []),
      ]
        .sort((a, b) => a.size - b.size)
        .map((entry) => entry.row),
      ...f.whatIf.map(stagingRow),
    ]),
    `  peak RSS ${formatBytes(f.flat.largeSize)} vs ${formatBytes(f.flat.smallSize)}: ${num(f.flat.growthBytes / MB)} MB (${pct(f.flat.growth)})   goal: flat (<= ${num(f.flat.toleranceBytes / MB, 0)} MB)   ${verdict(f.flat.pass)}`,
    '  (one run per size: kernel high-water mark of the whole process)',
  ];
  if (f.issueCheck) {
    const c = f.issueCheck;
    lines.push(
      `  issue #3: ${formatBytes(c.size)} staged with peak RSS ${num(c.peakRss / MiB)} MiB (${num(c.peakRss / MB)} MB); limit ${num(c.limit / MiB, 0)} MiB   ${verdict(c.pass)}`,
    );
  } else {
    lines.push('  issue #3 (1 GiB under 256 MB): not run in this plan');
  }
  if (node) {
    lines.push(
      '',
      '  What the RSS includes: the whole Lambda process, as the kernel counts it (resourceUsage().maxRSS).',
      `  - Node itself and the bench's small driver: ${num(node.nodeRss / MiB)} MiB before anything is loaded;`,
      `  - the bundle's module init (${num(node.initMs, 0)} ms): +${num((node.initRss - node.nodeRss) / MiB)} MiB (code, zod schemas, SDK and the HTTP transport, under the flags ${f.settings.nodeFlags});`,
      `  - staging: a fixed pool of ${f.settings.queueSize + 1} part buffers of ${formatBytes(f.settings.partSizeBytes)} (${f.settings.queueSize} in flight, one being filled),`,
      '    download chunks waiting for garbage collection, and heap growth.',
      '  "what-if" rows: the same staging with other multipart settings (bench build, nothing changed in lambdas/).',
    );
  }
  lines.push(
    '',
    '  Goals (issue 14):',
    ...f.verdicts.map((v) => `  - ${v.goal}: ${v.figure}, goal ${v.target}: ${v.met ? 'met' : 'not met'}`),
  );
  return lines.join('\n');
}

/** Section 2. */
export function renderBill(f: BillFigures): string {
  const steps = Object.keys(f.invocationsByStep);
  const p = f.prices;
  return [
    `2. The bill: one investigation, one agent, a ${f.plan.collectionMinutes}-minute collection (time x${f.plan.timeScale}: ${num(f.simulatedSeconds / 60)} simulated minutes in ${num(f.realSeconds)} s)`,
    `   outcome: ${f.outcome}`,
    '',
    table([
      ['Lambda', 'invocations', 'memory MB', 'billed ms (local)'],
      ...steps.map((step) => [
        step,
        String(f.invocationsByStep[step] ?? 0),
        String(f.durationByStep[step]?.memoryMb ?? '-'),
        String(f.durationByStep[step]?.ms ?? '-'),
      ]),
      [
        'total',
        String(f.lambdaInvocations),
        '',
        String(Object.values(f.durationByStep).reduce((s, d) => s + d.ms, 0)),
      ],
    ]),
    `  state transitions: ${f.stateTransitions} (${f.statesEntered} states entered + ${f.retries} retries)`,
    `  task watcher: finished task noticed after ${f.watcher.noticedAfterSeconds === null ? 'n/a' : `${num(f.watcher.noticedAfterSeconds)} s`} (simulated);` +
      ` ${f.watcher.invocations} watcher invocations, ${f.watcher.statusCalls} S1 status calls in the run;` +
      ` ${usd(f.watcher.costPerOpenMinute)} Lambda duration per minute while any task is open (shared by all open investigations, not in the bill below)`,
    `  Cado pipeline end noticed after ${f.watcher.cadoNoticedAfterSeconds === null ? 'n/a' : `${num(f.watcher.cadoNoticedAfterSeconds)} s`} (simulated; the watcher's Cado pass every cadoWatchIntervalSeconds, no webhook)`,
    '',
    table([
      ['cost per investigation', 'durations as measured', 'every invocation 1 s'],
      ['Step Functions Standard', usd(f.cost.stepFunctions), usd(f.costAt1s.stepFunctions)],
      ['Lambda requests', usd(f.cost.lambdaRequests), usd(f.costAt1s.lambdaRequests)],
      ['Lambda duration (Arm)', usd(f.cost.lambdaDuration), usd(f.costAt1s.lambdaDuration)],
      [`execution log, ~${num(f.logBytes / 1024, 0)} KiB`, usd(f.cost.logs), usd(f.costAt1s.logs)],
      ['total', usd(f.cost.total), usd(f.costAt1s.total)],
    ]),
    `  prices assumed (us-east-1 list, no free tier): $${num(p.stateTransition * 1000, 3)} per 1,000 state transitions;` +
      ` $${num(p.lambdaRequest * 1e6, 2)} per million Lambda requests; $${p.lambdaGbSecondArm} per GB-s (Arm);` +
      ` CloudWatch Logs ingestion $${num(p.logsIngestionGb, 2)}/GB.`,
    "  Durations are this machine's loopback calls (a floor); the second column bills every invocation 1 s.",
    '  The log size is the JSON of every execution event (a rough stand-in for level ALL with execution data).',
    '  Not included: S3 requests and storage, KMS, X-Ray, Secrets Manager calls.',
  ].join('\n');
}

/** Section 3. */
export function renderBurst(f: BurstFigures): string {
  const causes = Object.entries(f.failuresByCause).sort((a, b) => b[1] - a[1]);
  const retries = Object.entries(f.retriesByState).sort((a, b) => b[1] - a[1]);
  const retry = f.plan.retrier;
  const lines = [
    `3. Burst${retry ? ' (WHAT-IF: proposed Retry)' : ''}: ${f.started} threats at once (one agent each, ${f.plan.collectionMinutes}-minute collections), S1 rate limits enforced, one service-user token`,
    `   time x${f.plan.timeScale}: ${num(f.simulatedMakespanSeconds / 60)} simulated minutes in ${num(f.realSeconds)} s real`,
    retry
      ? `   Retry for ${retry.ErrorEquals.join(', ')}: every ${retry.IntervalSeconds} s x${retry.BackoffRate}, at most ${retry.MaxAttempts} attempts, ${retry.MaxDelaySeconds} s apart, jitter ${retry.JitterStrategy} (other errors as synthesized)`
      : '   Retry as synthesized (throttling: its own retrier, every 15 s x2, at most 12 attempts, 600 s apart, full jitter)',
    '',
    `  collected: ${f.collected}   staged but hand-off failed: ${f.stagedHandoffFailed}   failed: ${f.failed}` +
      `   unfinished at the time limit: ${f.unfinished}`,
    `  failed by throttling (S1RateLimitedError): ${f.failedByThrottling}`,
    ...(f.intake
      ? [
          `  through threat intake (bus -> SQS queue -> start-investigation): all started after ${num(f.intake.allStartedAfterSeconds / 60, 1)} simulated min,` +
            ` at most ${f.intake.peakStartsPerMinute} a minute; ${f.intake.notStarted} never started`,
        ]
      : []),
  ];
  if (causes.length) {
    lines.push(
      '',
      table([['caught failures (state: error)', 'count'], ...causes.map(([cause, n]) => [cause, String(n)])]),
    );
  }
  lines.push(
    '',
    table([
      [
        'S1 rule',
        'limit/s',
        'burst',
        'accepted',
        'refused (429)',
        'peak in 1 s',
        'peak over 60 s /s',
        'average /s',
      ],
      ...f.rates.map((row) => [
        row.rule === '*' ? 'all requests' : row.rule,
        row.limitPerSecond === null ? '-' : String(row.limitPerSecond),
        row.burst === null ? '-' : String(row.burst),
        String(row.accepted),
        String(row.limited),
        num(row.peakPerSecond, 0),
        num(row.peakPerSecond60s, 2),
        num(row.averagePerSecond, 2),
      ]),
    ]),
    `  total 429s: ${f.total429} (${num(f.refusedShare * 100, 2)} % of ${f.totalAccepted} accepted)   (rates are per simulated second; a rule allows at most burst + rate x window in any window)`,
    `  Step Functions retries: ${retries.map(([state, n]) => `${state} ${n}`).join(', ') || 'none'}`,
    `  state transitions: ${f.stateTransitions} (${num(f.stateTransitions / Math.max(1, f.started), 1)} per investigation); Lambda invocations: ${f.lambdaInvocations}`,
    `  collector scripts in the S1 library afterwards: ${f.scriptUploads} (more than 2: investigations raced to upload);` +
      ` scripts the tasks ran: ${f.scriptsRun} (one per OS: the racers settle on the oldest copy)`,
    `  task watcher: ${f.watcher.invocations} scheduled invocations, failed: ${
      Object.entries(f.watcher.failed)
        .map(([name, count]) => `${count} ${name}`)
        .join(', ') || 'none'
    }`,
    `  event-loop delay of the local stack: p50 ${num(f.eventLoopDelayMs.p50)} ms, p99 ${num(f.eventLoopDelayMs.p99)} ms, max ${num(f.eventLoopDelayMs.max)} ms real` +
      ` (x${f.plan.timeScale} in simulated time: stalls let the limiter refill, so they flatter the result)`,
  );
  const t = f.transitionsPerInvestigation;
  lines.push(
    `  transitions per investigation: mean ${num(t.mean, 1)}, median ${t.p50}, p95 ${t.p95}, max ${t.max}`,
  );
  if (f.budget) {
    const b = f.budget;
    lines.push(
      `  shared S1 request budget: ${b.taken} slots taken with ${b.storeCalls} UpdateItems (${num(b.storeCalls / Math.max(1, b.taken), 2)} per S1 request);` +
        ` ${b.refused} calls refused for Step Functions to retry (${b.refusedLocally} without a store call); ${b.throttled} 429s reported;` +
        ` ${num(b.waitedSeconds / 60, 1)} simulated minutes waited in all; ${b.storeFailures} sent unbudgeted (store failed)`,
    );
  } else {
    lines.push('  shared S1 request budget: none (every S1 call is sent at once)');
  }
  if (f.secondsInState?.length) {
    lines.push(
      '',
      '  where an investigation spent its time (simulated seconds in each state, entries summed; top 10 by p95):',
      table([
        ['state', 'median', 'p95', 'max'],
        ...f.secondsInState.map((d) => [d.state, num(d.p50, 1), num(d.p95, 1), num(d.max, 1)]),
      ]),
    );
  }
  const routes = Object.entries(f.requestsByRoute ?? {}).sort((a, b) => b[1].sent - a[1].sent);
  if (routes.length) {
    lines.push(
      '',
      table([
        ['S1 route', 'sent', 'refused (429)', 'per investigation'],
        ...routes.map(([route, n]) => [
          route,
          String(n.sent),
          String(n.refused),
          num(n.sent / Math.max(1, f.started), 2),
        ]),
      ]),
    );
  }
  lines.push(
    '',
    `  S1 status requests per simulated minute against open tasks (peak ${f.peakOpenTasks} open; open = started, not yet fetched or canceled):`,
    table([
      [
        'open tasks',
        'minutes',
        'mean open',
        'status req/min (mean)',
        'status req/min (max)',
        'per open task /min',
      ],
      ...f.statusByOpenTasks.map((band) => [
        band.openTasks,
        String(band.minutes),
        num(band.meanOpenTasks, 0),
        num(band.meanStatusPerMinute, 1),
        String(band.maxStatusPerMinute),
        num(band.meanStatusPerMinute / Math.max(1, band.meanOpenTasks), 3),
      ]),
    ]),
    '',
    ...f.verdicts.map((v) => `  ${verdict(v.pass)}  ${v.goal}: ${v.measured}`),
  );
  if (f.failedByThrottling > 0) {
    lines.push(
      '',
      `  ${f.failedByThrottling} of ${f.started} investigations FAILED BY THROTTLING (S1RateLimitedError): their evidence was lost to`,
      '  the rate limit, not to the endpoints. Proposed fix: a Retry of its own for S1RateLimitedError (much longer than the',
      '  transient-error one; see --burst-what-if), jittered poll intervals, and one /user call per investigation.',
    );
  }
  if (f.total429 === 0 && !f.budget) {
    lines.push(
      '  WARNING: no 429 at all: the local stack may not have reached the limit at this time scale; lower --burst-scale.',
    );
  }
  return lines.join('\n');
}

/** Section 4. */
export function renderLambdas(f: LambdaInitReport): string {
  const goal = `≤ ${num(f.goals.maxBytes / 1e6, 0)} MB and ≤ ${num(f.goals.maxInitMs, 0)} ms`;
  const bytes = f.verdicts.bytes;
  const init = f.verdicts.init;
  return [
    `4. Lambda bundles (esbuild as TaskFunction: CJS, node22, ES-module builds first, minify, keepNames, external source map, all bundled) and cold module init`,
    `   (median of ${f.runs} fresh processes each; time of require() of index.js with each function's deployed NODE_OPTIONS; an empty node's RSS is ${num(f.emptyNode.rss / MiB)} MiB)`,
    '',
    table([
      [
        'Lambda',
        'index.js KiB',
        'map KiB',
        'other KiB',
        'init ms',
        'min-max ms',
        'init CPU ms',
        `goal ${goal}`,
        'init ms if --enable-source-maps',
        'RSS after init MiB',
        'NODE_OPTIONS',
      ],
      ...f.lambdas.map((l) => [
        l.step,
        num(l.bytes / 1024, 0),
        num(l.mapBytes / 1024, 0),
        num(l.extraBytes / 1024, 0),
        num(l.initMs, 0),
        `${num(l.initMinMs, 0)}-${num(l.initMaxMs, 0)}`,
        num(l.initCpuMs, 0),
        l.meetsGoals ? 'met' : 'NOT MET',
        num(l.initSourceMapsMs, 0),
        num(l.rssAfterInit / MiB),
        l.nodeFlags.join(' ') || '-',
      ]),
    ]),
    '  The source map ships beside index.js; without --enable-source-maps it is read only when a handler fails',
    '  (lambdas/shared/source-stack.ts). The "if --enable-source-maps" column is what reading it at every cold start costs.',
    '',
    `  goal bundles ≤ ${num(bytes.goal / 1e6, 0)} MB: ${bytes.met ? 'met' : 'NOT MET'} (largest ${bytes.step}: ${num(bytes.figure / 1e6, 3)} MB = ${num(bytes.figure / 1024, 0)} KiB)`,
    `  goal median cold init ≤ ${num(init.goal, 0)} ms: ${init.met ? 'met' : 'NOT MET'} (slowest ${init.step}: ${num(init.figure, 0)} ms; judged on wall time, which a loaded machine inflates: see the load average and the CPU column)`,
  ].join('\n');
}
