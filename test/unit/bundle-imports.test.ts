/**
 * What the Lambda bundles import, where the form of an import decides the bundle's size. `import { z } from 'zod'`
 * binds zod's `z` namespace object as a value, which esbuild cannot tree-shake: every bundle then carries all of
 * zod, its 258 KiB of locales included. `import * as z from 'zod'` with static member accesses is tree-shaken
 * (measured: a one-schema bundle is 454 KB the first way, 85 KB the second; `npm run bench -- --only lambdas`
 * shows each bundle). Some packages must not be in a bundle at all: undici (about 540 KiB with its WebAssembly
 * HTTP parser; `shared/http-transport.ts` does the same job on Node's own http/https) and the Powertools tracer
 * (the X-Ray SDK; Lambda's active tracing needs no code).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const LAMBDAS = path.resolve(__dirname, '..', '..', 'lambdas');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('Lambda bundle imports', () => {
  it('import zod as a namespace (tree-shaken), never its `z` object as a value', () => {
    const files = sources(LAMBDAS);
    expect(files.length).toBeGreaterThan(50);
    const offending = files.filter((file) =>
      /^import\s*\{[^}]*\bz\b[^}]*\}\s*from\s*'zod'/m.test(readFileSync(file, 'utf8')),
    );
    expect(offending.map((f) => path.relative(LAMBDAS, f))).toEqual([]);
    // The namespace form is what the code uses.
    expect(files.some((file) => readFileSync(file, 'utf8').includes("import * as z from 'zod';"))).toBe(true);
  });

  it('never import undici or the Powertools tracer', () => {
    const offending = sources(LAMBDAS).filter((file) =>
      /from\s*'(undici(\/[^']*)?|@aws-lambda-powertools\/tracer(\/[^']*)?)'|require\(\s*'(undici|@aws-lambda-powertools\/tracer)/.test(
        readFileSync(file, 'utf8'),
      ),
    );
    expect(offending.map((f) => path.relative(LAMBDAS, f))).toEqual([]);
  });
});
