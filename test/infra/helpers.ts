import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { REPO_ROOT } from '../../lib/constructs/task-function';

/** Root of the fixture handlers (`<root>/<step>/index.ts`). */
export const FIXTURE_ENTRY_ROOT = path.join(__dirname, 'fixtures', 'lambdas');

/** Fixture collection scripts (`linux/*.sh`, `windows/*.ps1`). */
export const FIXTURE_COLLECTORS_DIR = path.join(__dirname, 'fixtures', 'collectors');

/** The committed cdk.json context: feature flags and the example `s1cado` config. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** The example `s1cado` config from cdk.json, with `overrides` on top. */
export function exampleConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(cdkJsonContext().s1cado as Record<string, unknown>), ...overrides };
}

/**
 * Creates Apps the way `cdk synth` would (cdk.json flags and config) but in a temp outdir, with
 * bundling skipped unless `bundle` is set; `cleanup()` removes every outdir it made.
 */
export function appFactory() {
  const dirs: string[] = [];
  return {
    app(opts: { s1cado?: Record<string, unknown>; bundle?: boolean } = {}): App {
      const outdir = mkdtempSync(path.join(tmpdir(), 's1cado-infra-'));
      dirs.push(outdir);
      return new App({
        outdir,
        // The built-in CloudFormation validation adds ~10 s of CPU per synth; `cdk synth` still runs it.
        builtinCloudFormationValidation: false,
        context: {
          ...cdkJsonContext(),
          ...(opts.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
          s1cado: opts.s1cado ?? exampleConfig(),
        },
      });
    },
    cleanup(): void {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
