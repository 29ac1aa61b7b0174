#!/usr/bin/env node
/**
 * `npm run diagram`: renders the synthesized state machine definitions to docs/workflow.mmd, docs/workflow.svg and
 * the README's ```mermaid block. `npm run diagram -- --check` writes nothing and exits 1 when any of them is stale.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { diagramOutputs, REPO_ROOT } from './diagram/workflow-diagram';

async function main(args: readonly string[]): Promise<number> {
  const unknown = args.filter((arg) => arg !== '--check');
  if (unknown.length > 0) {
    process.stderr.write(`Unknown argument ${unknown[0]}; usage: npm run diagram [-- --check]\n`);
    return 2;
  }
  const check = args.includes('--check');
  const stale: string[] = [];
  for (const [file, content] of await diagramOutputs()) {
    const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    if (current === content) continue;
    stale.push(path.relative(REPO_ROOT, file));
    if (!check) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
  }
  if (check && stale.length > 0) {
    process.stderr.write(`Stale diagram: ${stale.join(', ')}; run npm run diagram\n`);
    return 1;
  }
  process.stdout.write(stale.length > 0 ? `Wrote ${stale.join(', ')}\n` : 'The diagram is up to date\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
