import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DiagramMachine } from '../../bin/diagram/asl-mermaid';
import {
  DIAGRAM_FILES,
  diagramOutputs,
  REPO_ROOT,
  synthesizedMachines,
} from '../../bin/diagram/workflow-diagram';
import { walkStates } from '../../local/asl/definition';

let machines: DiagramMachine[];
let outputs: Map<string, string>;

beforeAll(async () => {
  machines = synthesizedMachines();
  outputs = await diagramOutputs();
});

describe('the committed workflow diagram', () => {
  it.each(Object.values(DIAGRAM_FILES).map((file) => path.relative(REPO_ROOT, file)))(
    '%s matches the synthesized definitions (run `npm run diagram` after changing the workflow)',
    (relative) => {
      const file = path.join(REPO_ROOT, relative);
      expect(readFileSync(file, 'utf8')).toBe(outputs.get(file));
    },
  );

  it('draws every state machine of the stack, and every state of each', () => {
    expect(machines.length).toBeGreaterThan(0);
    expect(machines.map((m) => m.title)).toContain('Workflow/StateMachine');
    const mermaid = outputs.get(DIAGRAM_FILES.mermaid) ?? '';
    for (const machine of machines) {
      expect(mermaid).toContain(`"▶ ${machine.title}"`);
      for (const { name } of walkStates(machine.definition)) {
        expect(mermaid, name).toMatch(new RegExp(`"${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(<br/>|")`));
      }
    }
  });

  it('the README shows the Mermaid text itself, which GitHub renders', () => {
    const readme = readFileSync(DIAGRAM_FILES.readme, 'utf8');
    expect(readme).toContain(`\`\`\`mermaid\n${outputs.get(DIAGRAM_FILES.mermaid)}\`\`\``);
    expect(readme).toContain('docs/workflow.svg');
  });

  it('the SVG stands alone: no web font to fetch, no CSS variables', () => {
    const svg = outputs.get(DIAGRAM_FILES.svg) ?? '';
    expect(svg).toMatch(/^<svg /);
    expect(svg).not.toMatch(/@import|https?:\/\/(?!www\.w3\.org)|var\(--|color-mix/);
  });
});
