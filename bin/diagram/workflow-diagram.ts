/**
 * The workflow diagram from the real definitions: synthesizes the app with the committed cdk.json (as `cdk synth`
 * and the infra tests do, without bundling), resolves every AWS::StepFunctions::StateMachine's DefinitionString to
 * plain ASL, and renders it as Mermaid (docs/workflow.mmd, the README's ```mermaid block) and as SVG
 * (docs/workflow.svg, laid out by beautiful-mermaid: no browser needed).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { loadConfig } from '../../lib/config';
import { S1CadoForensicsStack } from '../../lib/s1-cado-forensics-stack';
import { extractStateMachine } from '../../local/asl/extract';
import { type DiagramMachine, renderMermaid } from './asl-mermaid';

/** The repository root. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Where the diagram is committed. */
export const DIAGRAM_FILES = {
  mermaid: path.join(REPO_ROOT, 'docs', 'workflow.mmd'),
  svg: path.join(REPO_ROOT, 'docs', 'workflow.svg'),
  readme: path.join(REPO_ROOT, 'README.md'),
} as const;

/** The README's diagram sits between these markers (a ```mermaid block GitHub renders). */
export const README_MARKERS = {
  begin: '<!-- diagram:begin (npm run diagram) -->',
  end: '<!-- diagram:end -->',
};

/** Every state machine of the synthesized stack, in construct order, titled by construct path. */
export function synthesizedMachines(): DiagramMachine[] {
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  const outdir = mkdtempSync(path.join(tmpdir(), 's1cado-diagram-'));
  try {
    const app = new App({
      outdir,
      context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] },
      builtinCloudFormationValidation: false,
    } as ConstructorParameters<typeof App>[0]);
    const stack = new S1CadoForensicsStack(app, 'S1CadoForensics', { config: loadConfig(app.node) });
    const template = Template.fromStack(stack).toJSON();
    return stack.node
      .findAll()
      .filter((c): c is CfnStateMachine => c instanceof CfnStateMachine)
      .map((cfn) => {
        const { definition } = extractStateMachine(template, { logicalId: Stack.of(cfn).getLogicalId(cfn) });
        const title = cfn.node.path
          .split('/')
          .slice(1)
          .filter((part) => part !== 'Resource')
          .join('/');
        return { title, definition };
      });
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The palette of the committed SVG. */
const COLOURS = {
  bg: '#ffffff',
  fg: '#1f2937',
  line: '#64748b',
  accent: '#334155',
  muted: '#475569',
  surface: '#f8fafc',
  border: '#94a3b8',
} as const;

function hexToRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** `color-mix(in srgb, a p%, b)` computed. */
function mix(a: string, percent: number, b: string): string {
  const [x, y] = [hexToRgb(a), hexToRgb(b)];
  const channel = (i: number) =>
    Math.round((x[i] ?? 0) * (percent / 100) + (y[i] ?? 0) * (1 - percent / 100));
  return `#${[0, 1, 2].map((i) => channel(i).toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Replaces the renderer's CSS custom properties (`var(--_line)`, derived with `color-mix()`) by plain colours, so
 * the file draws the same in every SVG viewer, not only in browsers.
 */
function inlineColours(svg: string): string {
  const given: Record<string, string> = { ...COLOURS };
  const derived = new Map<string, string>();
  for (const [, name, expression] of svg.matchAll(/^\s*--(_[\w-]+):\s*([^;]+);/gm)) {
    if (!name || !expression) continue;
    const fallback = /^var\(--(\w+)(?:,|\))/.exec(expression);
    const mixed = /color-mix\(in srgb, var\(--fg\) (\d+)%, var\(--bg\)\)/.exec(expression);
    const value =
      fallback?.[1] && given[fallback[1]]
        ? given[fallback[1]]
        : mixed?.[1]
          ? mix(COLOURS.fg, Number(mixed[1]), COLOURS.bg)
          : undefined;
    if (!value)
      throw new Error(`The SVG renderer derives --${name} as ${expression}, which renderSvg cannot inline`);
    derived.set(name, value);
  }
  const inlined = svg
    .replace(/^\s*svg \{[^}]*\}\n/m, '')
    .replace(/var\(--(_[\w-]+)\)/g, (whole, name: string) => derived.get(name) ?? whole)
    .replace(/var\(--(\w+)\)/g, (whole, name: string) => given[name] ?? whole);
  const left = /var\(--[\w-]+\)/.exec(inlined);
  if (left) throw new Error(`The SVG still refers to ${left[0]} after inlining the colours`);
  return inlined;
}

/**
 * The SVG of a Mermaid flowchart, laid out by beautiful-mermaid. Its web-font `@import` is dropped (the committed
 * file must not reach out to a font host when opened; text falls back to the system sans-serif) and its colours
 * are inlined.
 */
export async function renderSvg(mermaid: string): Promise<string> {
  // An ES module only (no `require` export): loaded with a dynamic import.
  const { renderMermaidSVG } = await import('beautiful-mermaid');
  // Inter where installed, else the system font: the import that would fetch it is dropped below.
  const svg = renderMermaidSVG(mermaid, { font: 'Inter', padding: 24, ...COLOURS });
  const titled = svg.replace(
    /^(<svg [^>]*>)/,
    '$1\n<title>s1-cado-forensics state machines (npm run diagram)</title>',
  );
  return `${inlineColours(titled.replace(/^\s*@import url\([^)]*\);\n/gm, ''))}\n`;
}

/** The README with its diagram block replaced by `mermaid`. */
export function readmeWithDiagram(readme: string, mermaid: string): string {
  const begin = readme.indexOf(README_MARKERS.begin);
  const end = readme.indexOf(README_MARKERS.end);
  if (begin < 0 || end < begin) {
    throw new Error(
      `README.md has no diagram block: put ${README_MARKERS.begin} ... ${README_MARKERS.end} in it`,
    );
  }
  const block = `${README_MARKERS.begin}\n\`\`\`mermaid\n${mermaid}\`\`\`\n`;
  return readme.slice(0, begin) + block + readme.slice(end);
}

/** What `npm run diagram` writes: file path → content. */
export async function diagramOutputs(): Promise<Map<string, string>> {
  const mermaid = renderMermaid(synthesizedMachines());
  return new Map([
    [DIAGRAM_FILES.mermaid, mermaid],
    [DIAGRAM_FILES.svg, await renderSvg(mermaid)],
    [DIAGRAM_FILES.readme, readmeWithDiagram(readFileSync(DIAGRAM_FILES.readme, 'utf8'), mermaid)],
  ]);
}
