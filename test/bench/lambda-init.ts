/**
 * Section 4: bundle size and cold module init time of each Lambda, against issue 14's goals ({@link LAMBDA_GOALS}).
 * Each step is bundled with the TaskFunction settings (see lambda-bundles.ts); then a fresh `node` process loads the
 * bundle N times per step and reports how long the `require` took (reading, compiling and running the module's top
 * level: what Lambda's INIT phase spends on our code) and the RSS after it. Runs alternate between steps so a burst
 * of load on a shared machine does not land on one step only. Measured twice: with the Node flags each step's
 * function is deployed with (`NODE_OPTIONS` of the synthesized stack: TaskFunction's `TASK_FUNCTION_NODE_FLAGS`, or
 * a construct's own; the figure the goal is judged on) and with `--enable-source-maps` added (what reading the
 * source map at every cold start costs, where it is not deployed already).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TASK_FUNCTION_NODE_FLAGS } from '../../lib/constructs/task-function';
import { bundleLambda, lambdaSteps } from './lambda-bundles';
import type { Progress } from './staging';
import { median } from './stats';

const run = promisify(execFile);

/** What a fresh process measured around `require(bundle)`. */
interface InitSample {
  readonly ms: number;
  /** CPU time (user + system) the process spent in the `require`. */
  readonly cpuMs: number;
  readonly rss: number;
}

/** Issue 14's goals for every Lambda: `index.js` at most 1 MB (10^6 bytes), median cold init at most 200 ms. */
export const LAMBDA_GOALS = { maxBytes: 1_000_000, maxInitMs: 200 } as const;

/** One Lambda's figures. */
export interface LambdaInitFigures {
  readonly step: string;
  /** `index.js` bytes. */
  readonly bytes: number;
  /** `index.js.map` bytes (deployed beside it; read only when a handler fails). */
  readonly mapBytes: number;
  /** Other files in the bundle folder (the collection scripts). */
  readonly extraBytes: number;
  /** Median init time and the spread (ms), with the deployed Node flags. */
  readonly initMs: number;
  readonly initMinMs: number;
  readonly initMaxMs: number;
  /**
   * Median CPU time of the init (ms), deployed flags. Init is CPU-bound, so on a quiet machine this is close to
   * `initMs`; on a loaded one it inflates much less than the wall time (waiting for a core does not count).
   */
  readonly initCpuMs: number;
  /** Median init time with `--enable-source-maps` added (not deployed: what it would cost). */
  readonly initSourceMapsMs: number;
  /** Median RSS after init (bytes), as deployed. */
  readonly rssAfterInit: number;
  /** The Node flags `initMs` was measured with: the function's deployed `NODE_OPTIONS`. */
  readonly nodeFlags: readonly string[];
  /** `bytes` and `initMs` within {@link LAMBDA_GOALS}. */
  readonly meetsGoals: boolean;
}

/** A goal, whether it is met, and the figure it was judged on. */
export interface GoalVerdict {
  readonly goal: number;
  readonly figure: number;
  readonly met: boolean;
  /** The Lambda with the figure (the largest one). */
  readonly step: string;
}

/** Section 4's figures. */
export interface LambdaInitReport {
  readonly runs: number;
  /** TaskFunction's default Node flags (a step deployed with others shows them in its `nodeFlags`). */
  readonly deployedFlags: readonly string[];
  /** The largest `index.js`, in bytes. */
  readonly maxBytes: number;
  /** The largest median init time (ms) with the deployed flags. */
  readonly maxInitMs: number;
  readonly goals: typeof LAMBDA_GOALS;
  readonly verdicts: { readonly bytes: GoalVerdict; readonly init: GoalVerdict };
  /** Median RSS of a Node process that loads nothing (the floor under every RSS figure). */
  readonly emptyNode: { readonly rss: number };
  readonly lambdas: readonly LambdaInitFigures[];
}

/** The script a fresh process runs: time `require` of argv[1] and print the time and RSS as JSON. */
const PROBE = [
  'const cpu = process.cpuUsage();',
  'const started = process.hrtime.bigint();',
  'if (process.argv[1]) require(process.argv[1]);',
  'const ms = Number(process.hrtime.bigint() - started) / 1e6;',
  'const used = process.cpuUsage(cpu);',
  'const cpuMs = (used.user + used.system) / 1000;',
  'process.stdout.write(JSON.stringify({ ms, cpuMs, rss: process.memoryUsage.rss() }));',
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

async function sample(
  file: string | undefined,
  deployed: readonly string[],
  sourceMaps: boolean,
): Promise<InitSample> {
  const flags = [...deployed];
  if (sourceMaps && !flags.includes('--enable-source-maps')) flags.push('--enable-source-maps');
  const { stdout } = await run(process.execPath, [...flags, '-e', PROBE, ...(file ? [file] : [])], {
    env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV },
    timeout: 60_000,
  });
  return JSON.parse(stdout) as InitSample;
}

/** Runs section 4 with `runs` fresh processes per step and mode. */
export async function benchLambdaInit(runs: number, progress: Progress): Promise<LambdaInitReport> {
  const work = mkdtempSync(path.join(tmpdir(), 's1cado-bench-lambdas-'));
  try {
    const steps = lambdaSteps();
    progress("reading each function's Node flags from the synthesized stack");
    // Loaded here: it pulls in the whole local runtime, which the verdict helpers below do not need.
    const { deployedNodeFlags } = await import('./stack-functions');
    const stackFlags = deployedNodeFlags();
    const flagsOf = (step: string) => stackFlags.get(step) ?? TASK_FUNCTION_NODE_FLAGS;
    progress(`bundling ${steps.length} Lambdas with the TaskFunction settings`);
    const bundles = [];
    for (const step of steps) bundles.push(await bundleLambda(step, work));

    const empty: InitSample[] = [];
    const plain = new Map<string, InitSample[]>(steps.map((step) => [step, []]));
    const mapped = new Map<string, InitSample[]>(steps.map((step) => [step, []]));
    for (let round = 1; round <= runs; round++) {
      progress(`module init, round ${round}/${runs}`);
      empty.push(await sample(undefined, [], false));
      for (const bundle of bundles) {
        plain.get(bundle.step)?.push(await sample(bundle.file, flagsOf(bundle.step), false));
        mapped.get(bundle.step)?.push(await sample(bundle.file, flagsOf(bundle.step), true));
      }
    }
    const lambdas = bundles.map((bundle): LambdaInitFigures => {
      const deployed = plain.get(bundle.step) ?? [];
      const times = deployed.map((s) => s.ms);
      const withMaps = mapped.get(bundle.step) ?? [];
      const initMs = median(times);
      return {
        step: bundle.step,
        bytes: bundle.bytes,
        mapBytes: bundle.mapBytes,
        extraBytes: bundle.extraBytes,
        initMs,
        initMinMs: Math.min(...times),
        initMaxMs: Math.max(...times),
        initCpuMs: median(deployed.map((s) => s.cpuMs)),
        initSourceMapsMs: median(withMaps.map((s) => s.ms)),
        rssAfterInit: median(deployed.map((s) => s.rss)),
        nodeFlags: [...flagsOf(bundle.step)],
        meetsGoals: bundle.bytes <= LAMBDA_GOALS.maxBytes && initMs <= LAMBDA_GOALS.maxInitMs,
      };
    });
    return {
      runs,
      deployedFlags: [...TASK_FUNCTION_NODE_FLAGS],
      ...lambdaVerdicts(lambdas),
      emptyNode: { rss: median(empty.map((s) => s.rss)) },
      lambdas,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The largest bundle and the slowest median init, judged against {@link LAMBDA_GOALS}. */
export function lambdaVerdicts(
  lambdas: readonly Pick<LambdaInitFigures, 'step' | 'bytes' | 'initMs'>[],
): Pick<LambdaInitReport, 'maxBytes' | 'maxInitMs' | 'goals' | 'verdicts'> {
  const largest = (pick: (l: Pick<LambdaInitFigures, 'bytes' | 'initMs'>) => number) =>
    lambdas.reduce<(typeof lambdas)[number] | undefined>(
      (best, l) => (best === undefined || pick(l) > pick(best) ? l : best),
      undefined,
    );
  const bytes = largest((l) => l.bytes);
  const init = largest((l) => l.initMs);
  const maxBytes = bytes?.bytes ?? 0;
  const maxInitMs = init?.initMs ?? 0;
  return {
    maxBytes,
    maxInitMs,
    goals: LAMBDA_GOALS,
    verdicts: {
      bytes: {
        goal: LAMBDA_GOALS.maxBytes,
        figure: maxBytes,
        met: maxBytes <= LAMBDA_GOALS.maxBytes,
        step: bytes?.step ?? '-',
      },
      init: {
        goal: LAMBDA_GOALS.maxInitMs,
        figure: maxInitMs,
        met: maxInitMs <= LAMBDA_GOALS.maxInitMs,
        step: init?.step ?? '-',
      },
    },
  };
}
