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
export const README_MARKERS = { begin: '<!-- diagram:begin (npm run diagram) -->', end: '<!-- diagram:end -->' };

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

/**
 * The SVG of a Mermaid flowchart. The renderer's web-font `@import` is dropped: the committed file must not reach
 * out to a font host when opened; text falls back to the system sans-serif.
 */
export async function renderSvg(mermaid: string): Promise<string> {
  // An ES module only (no `require` export): loaded with a dynamic import.
  const { renderMermaidSVG } = await import('beautiful-mermaid');
  const svg = renderMermaidSVG(mermaid, { font: 'system-ui', padding: 24 });
  return `${svg.replace(/^\s*@import url\([^)]*\);\n/gm, '')}\n`;
}

/** The README with its diagram block replaced by `mermaid`. */
export function readmeWithDiagram(readme: string, mermaid: string): string {
  const begin = readme.indexOf(README_MARKERS.begin);
  const end = readme.indexOf(README_MARKERS.end);
  if (begin < 0 || end < begin) {
    throw new Error(`README.md has no diagram block: put ${README_MARKERS.begin} ... ${README_MARKERS.end} in it`);
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
