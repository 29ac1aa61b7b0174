/**
 * Section 4: bundle size and cold module init time of each Lambda. Each step is bundled with the TaskFunction
 * settings (see lambda-bundles.ts); then a fresh `node` process loads the bundle N times per step and reports how
 * long the `require` took (reading, compiling and running the module's top level: what Lambda's INIT phase spends
 * on our code) and the RSS after it. Runs alternate between steps so a burst of load on a shared machine does not
 * land on one step only. Measured twice: with Node's defaults and with `--enable-source-maps`, which TaskFunction
 * puts in NODE_OPTIONS and which makes Node read the source map of every module it loads.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { bundleLambda, lambdaSteps } from './lambda-bundles';
import type { Progress } from './staging';
import { median } from './stats';

const run = promisify(execFile);

/** What a fresh process measured around `require(bundle)`. */
interface InitSample {
  readonly ms: number;
  readonly rss: number;
}

/** One Lambda's figures. */
export interface LambdaInitFigures {
  readonly step: string;
  /** `index.js` bytes. */
  readonly bytes: number;
  /** `index.js.map` bytes (deployed too, read at init under `--enable-source-maps`). */
  readonly mapBytes: number;
  /** Other files in the bundle folder (the collection scripts). */
  readonly extraBytes: number;
  /** Median init time and the spread (ms), Node defaults. */
  readonly initMs: number;
  readonly initMinMs: number;
  readonly initMaxMs: number;
  /** Median init time with `--enable-source-maps` (as deployed). */
  readonly initSourceMapsMs: number;
  /** Median RSS after init (bytes), as deployed. */
  readonly rssAfterInit: number;
}

/** Section 4's figures. */
export interface LambdaInitReport {
  readonly runs: number;
  /** Median RSS of a Node process that loads nothing (the floor under every RSS figure). */
  readonly emptyNode: { readonly rss: number };
  readonly lambdas: readonly LambdaInitFigures[];
}

/** The script a fresh process runs: time `require` of argv[1] and print the time and RSS as JSON. */
const PROBE = [
  'const started = process.hrtime.bigint();',
  'if (process.argv[1]) require(process.argv[1]);',
  'const ms = Number(process.hrtime.bigint() - started) / 1e6;',
  'process.stdout.write(JSON.stringify({ ms, rss: process.memoryUsage.rss() }));',
].join('\n');

/** Roughly what Lambda sets for a function, minus anything pointing at AWS. */
const LAMBDA_ENV: Readonly<Record<string, string>> = {
  AWS_REGION: 'us-east-1',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
  POWERTOOLS_SERVICE_NAME: 's1-cado-forensics',
  POWERTOOLS_METRICS_NAMESPACE: 'S1CadoForensics',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  POWERTOOLS_TRACE_ENABLED: 'false',
};

async function sample(file: string | undefined, sourceMaps: boolean): Promise<InitSample> {
  const { stdout } = await run(
    process.execPath,
    [...(sourceMaps ? ['--enable-source-maps'] : []), '-e', PROBE, ...(file ? [file] : [])],
    { env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV }, timeout: 60_000 },
  );
  return JSON.parse(stdout) as InitSample;
}

/** Runs section 4 with `runs` fresh processes per step and mode. */
export async function benchLambdaInit(runs: number, progress: Progress): Promise<LambdaInitReport> {
  const work = mkdtempSync(path.join(tmpdir(), 's1cado-bench-lambdas-'));
  try {
    const steps = lambdaSteps();
    progress(`bundling ${steps.length} Lambdas with the TaskFunction settings`);
    const bundles = [];
    for (const step of steps) bundles.push(await bundleLambda(step, work));

    const empty: InitSample[] = [];
    const plain = new Map<string, InitSample[]>(steps.map((step) => [step, []]));
    const mapped = new Map<string, InitSample[]>(steps.map((step) => [step, []]));
    for (let round = 1; round <= runs; round++) {
      progress(`module init, round ${round}/${runs}`);
      empty.push(await sample(undefined, false));
      for (const bundle of bundles) {
        plain.get(bundle.step)?.push(await sample(bundle.file, false));
        mapped.get(bundle.step)?.push(await sample(bundle.file, true));
      }
    }
    return {
      runs,
      emptyNode: { rss: median(empty.map((s) => s.rss)) },
      lambdas: bundles.map((bundle) => {
        const times = (plain.get(bundle.step) ?? []).map((s) => s.ms);
        const withMaps = mapped.get(bundle.step) ?? [];
        return {
          step: bundle.step,
          bytes: bundle.bytes,
          mapBytes: bundle.mapBytes,
          extraBytes: bundle.extraBytes,
          initMs: median(times),
          initMinMs: Math.min(...times),
          initMaxMs: Math.max(...times),
          initSourceMapsMs: median(withMaps.map((s) => s.ms)),
          rssAfterInit: median(withMaps.map((s) => s.rss)),
        };
      }),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
