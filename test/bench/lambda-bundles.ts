/**
 * Builds the Lambda bundles the way the deployed stack does: `TaskFunction` (lib/constructs/task-function.ts) hands
 * `lambdas/<step>/index.ts` to NodejsFunction, which runs esbuild with `TASK_FUNCTION_BUNDLING` (read from there, so
 * the two cannot drift: CommonJS, node22 target, ES-module builds of packages first, minified, names kept, external
 * source map without sources content, nothing external) and, for functions that bundle the collectors, copies
 * `lambdas/collectors/{linux,windows}` into `collectors/` beside `index.js`.
 * The bench bundles the same way so that sizes, init times and the staging run measure what Lambda would load.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type BuildOptions, build } from 'esbuild';
import { TASK_FUNCTION_BUNDLING } from '../../lib/constructs/task-function';

/** The repository root. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Folder of the Lambda entry points. */
export const LAMBDAS_DIR = path.join(REPO_ROOT, 'lambdas');

/**
 * Whether a step's bundle carries the collection scripts: the stack sets `bundleCollectors` for the functions whose
 * handler loads them (`lambdas/collectors` reads them from beside the bundle at init).
 */
function usesCollectors(step: string, root = LAMBDAS_DIR): boolean {
  return /from\s+['"]\.\.\/collectors['"]/.test(readFileSync(path.join(root, step, 'index.ts'), 'utf8'));
}

/** A built bundle and its sizes. */
export interface LambdaBundle {
  readonly step: string;
  /** Folder holding `index.js` (what Lambda would unzip). */
  readonly dir: string;
  /** `<dir>/index.js`. */
  readonly file: string;
  /** Size of `index.js`. */
  readonly bytes: number;
  /** Size of `index.js.map`. */
  readonly mapBytes: number;
  /** Size of everything else in the folder (the collection scripts). */
  readonly extraBytes: number;
  /** Real milliseconds esbuild took. */
  readonly buildMs: number;
}

/**
 * The Lambda steps: folders under `lambdas/` whose `index.ts` exports a `handler` (the shared code and the
 * collectors' catalogue do not).
 */
export function lambdaSteps(root = LAMBDAS_DIR): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .filter((name) => {
      const entry = path.join(root, name, 'index.ts');
      return existsSync(entry) && /export\s+const\s+handler\b/.test(readFileSync(entry, 'utf8'));
    })
    .sort();
}

/** The esbuild options NodejsFunction derives from TaskFunction's bundling props (`TASK_FUNCTION_BUNDLING`). */
export function taskFunctionBuildOptions(entry: string, outfile: string): BuildOptions {
  const b = TASK_FUNCTION_BUNDLING;
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: b.format,
    target: b.target,
    mainFields: [...b.mainFields],
    minify: b.minify,
    keepNames: b.keepNames,
    sourcemap: b.sourceMap,
    sourcesContent: b.sourcesContent,
    external: [],
    logLevel: 'silent',
  };
}

function sizeOf(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(full) : statSync(full).size;
  }
  return total;
}

/** Bundles one step into `<outRoot>/<step>/`. */
export function bundleLambda(step: string, outRoot: string): Promise<LambdaBundle> {
  return bundleEntry(step, path.join(LAMBDAS_DIR, step, 'index.ts'), path.join(outRoot, step), {
    collectors: usesCollectors(step),
  });
}

/**
 * Bundles any handler entry with the TaskFunction settings into `<dir>/index.js` (`step` only labels the result);
 * `collectors` copies the collection scripts beside it as the stack does for ensure-scripts.
 */
export async function bundleEntry(
  step: string,
  entry: string,
  dir: string,
  options: { collectors?: boolean } = {},
): Promise<LambdaBundle> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'index.js');
  const started = performance.now();
  await build(taskFunctionBuildOptions(entry, file));
  const buildMs = performance.now() - started;
  if (options.collectors) {
    for (const os of ['linux', 'windows']) {
      cpSync(path.join(LAMBDAS_DIR, 'collectors', os), path.join(dir, 'collectors', os), { recursive: true });
    }
  }
  const bytes = sizeOf(file);
  const mapBytes = sizeOf(`${file}.map`);
  return { step, dir, file, bytes, mapBytes, extraBytes: folderBytes(dir) - bytes - mapBytes, buildMs };
}

/**
 * Bundles a bench helper script (a child process entry) into one CommonJS file, so that children run on plain
 * `node` without tsx's loader in their memory or start-up time.
 */
export async function bundleScript(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  return outfile;
}
