/**
 * `npm run bench`: the figures of DESIGN §8, measured side by side in one run on this machine.
 *
 * 1. staging: throughput vs raw download/upload of the same bytes, peak RSS for 100 MiB vs 2 GiB, issue #3's check;
 * 2. bill: state transitions, Lambda invocations and cost of one investigation with a 10-minute collection;
 * 3. burst: 1,000 threats at once against S1's rate limits;
 * 4. lambdas: bundle size and cold module init time of each Lambda.
 *
 * Tables go to stdout (or one JSON document with `--json`); progress goes to stderr. See README.md beside this file.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { BenchUsageError, parseArgs, type Section, USAGE } from './args';
import type { MachineInfo } from './report';

// The handlers run in this process (sections 2 and 3): keep their logs and metrics out of the figures. Set before
// anything loads lambdas/shared/observability, whose logger reads the level once.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_TRACE_ENABLED = 'false';
process.env.AWS_REGION ??= 'us-east-1';

function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    memoryBytes: totalmem(),
    loadAtStart: loadavg(),
    startedAt: new Date().toISOString(),
  };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof BenchUsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const report = await import('./report');
  const machine = machineInfo();
  const results: Partial<Record<Section | 'burstWhatIf', unknown>> = {};
  const texts: string[] = [];
  const timings: Partial<Record<Section, number>> = {};
  if (!args.json) process.stdout.write(`${report.renderMachine(machine)}\n`);

  for (const section of args.sections) {
    const started = performance.now();
    progress(`section ${section}`);
    let text: string;
    if (section === 'staging') {
      const { benchStaging, FULL_STAGING_PLAN, QUICK_STAGING_PLAN } = await import('./staging');
      const figures = await benchStaging(args.quick ? QUICK_STAGING_PLAN : FULL_STAGING_PLAN, progress, {
        cpuProfDir: args.cpuProfDir,
      });
      results.staging = figures;
      text = report.renderStaging(figures);
    } else if (section === 'bill') {
      const { benchBill, DEFAULT_BILL_PLAN } = await import('./bill');
      const figures = await benchBill(DEFAULT_BILL_PLAN, progress);
      results.bill = figures;
      text = report.renderBill(figures);
    } else if (section === 'burst') {
      const { benchBurst, burstTimeLimitSeconds, DEFAULT_BURST_PLAN } = await import('./burst');
      const threats = args.threats ?? (args.quick ? 30 : DEFAULT_BURST_PLAN.threats);
      const plan = {
        ...DEFAULT_BURST_PLAN,
        threats,
        timeScale: args.burstScale ?? DEFAULT_BURST_PLAN.timeScale,
        realTimeLimitSeconds: burstTimeLimitSeconds(threats),
        viaIntake: args.burstIntake,
      };
      const figures = await benchBurst(plan, progress);
      results.burst = figures;
      text = report.renderBurst(figures);
      if (args.burstWhatIf) {
        const { PROPOSED_THROTTLE_RETRY } = await import('./retry-what-if');
        progress('the burst again, with the proposed Retry for S1RateLimitedError');
        const whatIf = await benchBurst({ ...plan, retrier: PROPOSED_THROTTLE_RETRY }, progress);
        results.burstWhatIf = whatIf;
        text += `\n\n${report.renderBurst(whatIf)}`;
      }
    } else {
      const { benchLambdaInit } = await import('./lambda-init');
      const figures = await benchLambdaInit(args.initRuns ?? (args.quick ? 3 : 5), progress);
      results.lambdas = figures;
      text = report.renderLambdas(figures);
    }
    timings[section] = (performance.now() - started) / 1000;
    texts.push(text);
    if (!args.json) process.stdout.write(`\n${text}\n  (section took ${timings[section]?.toFixed(0)} s)\n`);
  }

  const finished = { ...machine, loadAtEnd: loadavg() };
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({ machine: finished, quick: args.quick, sectionSeconds: timings, ...results }, null, 2)}\n`,
    );
  } else {
    const load = finished.loadAtEnd.map((x) => x.toFixed(1)).join(' ');
    process.stdout.write(
      `\nload average at end: ${load}${args.quick ? '   (--quick: smoke sizes, not the figures to report)' : ''}\n`,
    );
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
