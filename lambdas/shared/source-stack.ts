/**
 * Stack traces in source terms, paid for only when something failed. A bundled Lambda ships its source map beside
 * `index.js`, but Node's `--enable-source-maps` reads and parses that map at every cold start (measured: about a
 * tenth of a bundle's init time and 6 MiB); here the map is read the first time a handler fails, and each
 * `index.js:line:col` frame of the failure's stack becomes `lambdas/…/file.ts:line:col`. Outside a bundle (tests,
 * the local runs) there is no map and stacks are left alone.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';

type Lookup = (line: number, column: number) => string | undefined;

let lookup: Lookup | null | undefined;

/** The map of the running bundle, or null when there is none (or it cannot be read). */
function loadLookup(): Lookup | null {
  if (typeof __filename !== 'string' || !__filename.endsWith('.js')) return null;
  const mapFile = `${__filename}.map`;
  if (!existsSync(mapFile)) return null;
  try {
    const map = new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')));
    return (line, column) => {
      const entry = map.findEntry(line - 1, column - 1) as {
        originalSource?: string;
        originalLine?: number;
        originalColumn?: number;
      };
      if (!entry.originalSource || entry.originalLine === undefined || entry.originalColumn === undefined) {
        return undefined;
      }
      return `${readableSource(entry.originalSource)}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
    };
  } catch {
    return null;
  }
}

/**
 * The source path from where it becomes meaningful: `…/node_modules/pkg/f.js` → `node_modules/pkg/f.js`,
 * `../../repo/lambdas/x.ts` → `lambdas/x.ts` (the map names sources relative to wherever the bundle was built).
 */
function readableSource(source: string): string {
  const modules = source.lastIndexOf('node_modules/');
  if (modules >= 0) return source.slice(modules);
  const lambdas = source.lastIndexOf('lambdas/');
  if (lambdas >= 0 && (lambdas === 0 || source[lambdas - 1] === '/')) return source.slice(lambdas);
  return source.replace(/^(\.\.\/)+/, '');
}

/**
 * Rewrites the frames of `stack` that point into this bundle to their source positions; other frames, and every
 * stack outside a bundle, are returned unchanged.
 */
export function sourceMappedStack(stack: string): string {
  lookup ??= loadLookup();
  const find = lookup;
  if (!find) return stack;
  const file = __filename;
  return stack
    .split('\n')
    .map((line) => {
      const at = line.lastIndexOf(`${file}:`);
      if (!line.trimStart().startsWith('at ') || at < 0) return line;
      const match = /^(\d+):(\d+)/.exec(line.slice(at + file.length + 1));
      if (!match) return line;
      const original = find(Number(match[1]), Number(match[2]));
      if (!original) return line;
      return `${line.slice(0, at)}${original}${line.slice(at + file.length + 1 + match[0].length)}`;
    })
    .join('\n');
}

/** Gives `error` (and its causes) source-mapped stacks in place; anything else is left alone. */
export function mapErrorStack(error: unknown): void {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    if (typeof current.stack === 'string') {
      try {
        current.stack = sourceMappedStack(current.stack);
      } catch {
        // A frozen or odd error keeps its stack.
      }
    }
    current = current.cause;
  }
}
