/**
 * Renders state machine definitions (plain ASL, as `local/asl/extract.ts` resolves them from the synthesized
 * template) as one Mermaid flowchart: every state with its type's shape, `Next`/`Default`/`Choices` as arrows,
 * `Catch` as dotted arrows naming the errors, `Retry` in the state's label, Map and Parallel states as subgraphs.
 * Several machines are laid side by side, each from its own start node.
 */
import type { AslDefinition, AslState } from '../../local/asl/definition';

/** One state machine to draw. */
export interface DiagramMachine {
  /** Shown on the machine's start node (e.g. the construct path `Workflow/StateMachine`). */
  readonly title: string;
  readonly definition: AslDefinition;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Mermaid quoted labels cannot hold `"`; lines are joined with `<br/>`. */
function label(...lines: string[]): string {
  return `"${lines.map((line) => line.replaceAll('"', "'")).join('<br/>')}"`;
}

const COMPARATORS: Record<string, string> = {
  StringEquals: '=',
  StringLessThan: '<',
  StringGreaterThan: '>',
  StringLessThanEquals: '≤',
  StringGreaterThanEquals: '≥',
  StringMatches: 'matches',
  NumericEquals: '=',
  NumericLessThan: '<',
  NumericGreaterThan: '>',
  NumericLessThanEquals: '≤',
  NumericGreaterThanEquals: '≥',
  BooleanEquals: '=',
  TimestampEquals: '=',
  TimestampLessThan: '<',
  TimestampGreaterThan: '>',
  TimestampLessThanEquals: '≤',
  TimestampGreaterThanEquals: '≥',
};

const TYPE_TESTS: Record<string, string> = {
  IsNull: 'null',
  IsPresent: 'present',
  IsNumeric: 'numeric',
  IsString: 'a string',
  IsBoolean: 'a boolean',
  IsTimestamp: 'a timestamp',
};

function literal(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

/** A Choice rule in words: `$.task.phase = 'running'`, `$.outcome.errorName is null`, `not (...)`. */
export function describeCondition(rule: unknown): string {
  if (!isRecord(rule)) throw new TypeError('A Choice rule is not an object');
  if (Array.isArray(rule.And)) return rule.And.map((r) => `(${describeCondition(r)})`).join(' and ');
  if (Array.isArray(rule.Or)) return rule.Or.map((r) => `(${describeCondition(r)})`).join(' or ');
  if (rule.Not !== undefined) return `not (${describeCondition(rule.Not)})`;
  const variable = String(rule.Variable);
  for (const [field, value] of Object.entries(rule)) {
    if (field in TYPE_TESTS) return `${variable} is ${value === false ? 'not ' : ''}${TYPE_TESTS[field]}`;
    const path = field.endsWith('Path') && field !== 'Variable';
    const comparator = COMPARATORS[path ? field.slice(0, -4) : field];
    if (comparator) return `${variable} ${comparator} ${path ? String(value) : literal(value)}`;
  }
  throw new TypeError(`A Choice rule on ${variable} has no comparison this renderer knows`);
}

/** Lambda's service errors (the default Retry of every LambdaInvoke) are named once, not one by one. */
function errorList(names: readonly string[]): string {
  const lambda = names.filter((name) => name.startsWith('Lambda.'));
  const rest = names.filter((name) => !name.startsWith('Lambda.'));
  return [...(lambda.length > 0 ? ['Lambda service errors'] : []), ...rest].join(', ');
}

function errorNames(entry: unknown): string[] {
  return isRecord(entry) && Array.isArray(entry.ErrorEquals) ? entry.ErrorEquals.map(String) : [];
}

/** The errors a state retries, wrapped to short lines so one long list does not widen the whole layer. */
function retryLine(state: AslState): string[] {
  if (!Array.isArray(state.Retry) || state.Retry.length === 0) return [];
  const lines: string[] = [];
  for (const name of errorList(state.Retry.flatMap(errorNames)).split(', ')) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + name.length < 44) lines[lines.length - 1] = `${last}, ${name}`;
    else lines.push(lines.length === 0 ? `retry: ${name}` : name);
  }
  return lines;
}

function waitLine(state: AslState): string {
  if (typeof state.Seconds === 'number') return `wait ${state.Seconds} seconds`;
  if (typeof state.SecondsPath === 'string') return `wait ${state.SecondsPath} seconds`;
  if (typeof state.Timestamp === 'string') return `until ${state.Timestamp}`;
  if (typeof state.TimestampPath === 'string') return `until ${state.TimestampPath}`;
  return 'wait';
}

/** Builds the flowchart of one machine; node ids are `m<machine>_<n>` so machines never collide. */
class MachineWriter {
  private readonly ids = new Map<string, string>();
  private counter = 0;
  private readonly nodes: string[] = [];
  private readonly edges: string[] = [];
  readonly classes = new Map<string, string[]>();

  constructor(private readonly prefix: string) {}

  private newId(): string {
    this.counter += 1;
    return `${this.prefix}_${this.counter}`;
  }

  private idOf(name: string): string {
    const id = this.ids.get(name);
    if (!id) throw new TypeError(`A transition names "${name}", which is not a state of this definition`);
    return id;
  }

  private classify(id: string, cls: string): void {
    this.classes.set(cls, [...(this.classes.get(cls) ?? []), id]);
  }

  /** Gives every state of the (sub-)definition an id first, so transitions can point forward. */
  private assignIds(definition: AslDefinition): void {
    for (const [name, state] of Object.entries(definition.States)) {
      if (this.ids.has(name)) throw new TypeError(`State name "${name}" is used twice`);
      this.ids.set(name, this.newId());
      for (const child of children(state)) this.assignIds(child);
    }
  }

  render(machine: DiagramMachine): string[] {
    this.assignIds(machine.definition);
    const start = `${this.prefix}_start`;
    this.nodes.push(`${start}([${label(`▶ ${machine.title}`)}])`);
    this.classify(start, 'start');
    this.edges.push(`${start} --> ${this.idOf(machine.definition.StartAt)}`);
    this.definition(machine.definition, '  ', true);
    return [...this.nodes, ...this.edges];
  }

  private definition(definition: AslDefinition, indent: string, top: boolean): void {
    for (const [name, state] of Object.entries(definition.States)) {
      this.state(name, state, indent, top);
    }
  }

  private state(name: string, state: AslState, indent: string, top: boolean): void {
    const id = this.idOf(name);
    switch (state.Type) {
      case 'Task':
        this.nodes.push(`${indent}${id}[${label(name, ...retryLine(state))}]`);
        this.classify(id, 'task');
        break;
      case 'Wait':
        this.nodes.push(`${indent}${id}{{${label(name, waitLine(state))}}}`);
        this.classify(id, 'wait');
        break;
      case 'Choice':
        this.nodes.push(`${indent}${id}{${label(name)}}`);
        this.classify(id, 'choice');
        break;
      case 'Pass':
        this.nodes.push(`${indent}${id}(${label(name)})`);
        this.classify(id, 'pass');
        break;
      case 'Succeed':
        this.nodes.push(`${indent}${id}([${label(name)}])`);
        this.classify(id, 'succeed');
        break;
      case 'Fail': {
        const error = typeof state.Error === 'string' ? [`error: ${state.Error}`] : [];
        this.nodes.push(`${indent}${id}([${label(name, ...error)}])`);
        this.classify(id, 'fail');
        break;
      }
      case 'Map':
      case 'Parallel':
        this.group(id, name, state, indent);
        break;
      default:
        throw new TypeError(`State "${name}" has type ${state.Type}, which this renderer does not draw`);
    }
    this.transitions(id, state, top);
  }

  /** A Map or Parallel state: a subgraph holding its item processor or branches, each from its own start. */
  private group(id: string, name: string, state: AslState, indent: string): void {
    const detail =
      state.Type === 'Map'
        ? [
            `Map over ${typeof state.ItemsPath === 'string' ? state.ItemsPath : '$'}` +
              (typeof state.MaxConcurrency === 'number' && state.MaxConcurrency > 0
                ? `, ${state.MaxConcurrency} at once`
                : ''),
          ]
        : ['Parallel'];
    this.nodes.push(`${indent}subgraph ${id}[${label(name, ...detail, ...retryLine(state))}]`);
    this.nodes.push(`${indent}  direction TB`);
    children(state).forEach((child, i) => {
      const start = `${id}_start${i}`;
      this.nodes.push(
        `${indent}  ${start}((${label(state.Type === 'Map' ? 'each item' : `branch ${i + 1}`)}))`,
      );
      this.classify(start, 'start');
      this.edges.push(`${start} --> ${this.idOf(child.StartAt)}`);
      this.definition(child, `${indent}  `, false);
    });
    this.nodes.push(`${indent}end`);
  }

  private transitions(id: string, state: AslState, top: boolean): void {
    if (typeof state.Next === 'string') this.edges.push(`${id} --> ${this.idOf(state.Next)}`);
    if (state.Type === 'Choice') {
      for (const rule of Array.isArray(state.Choices) ? state.Choices : []) {
        const next = isRecord(rule) ? String(rule.Next) : '';
        this.edges.push(`${id} -->|${label(describeCondition(rule))}| ${this.idOf(next)}`);
      }
      if (typeof state.Default === 'string') {
        this.edges.push(`${id} -->|${label('otherwise')}| ${this.idOf(state.Default)}`);
      }
    }
    for (const handler of Array.isArray(state.Catch) ? state.Catch : []) {
      const next = isRecord(handler) ? String(handler.Next) : '';
      this.edges.push(`${id} -.->|${label(`catch ${errorList(errorNames(handler))}`)}| ${this.idOf(next)}`);
    }
    // A top-level state that ends the execution without being Succeed or Fail gets an explicit end node.
    if (state.End === true && top) {
      const end = `${id}_end`;
      this.nodes.push(`  ${end}(((${label('end')})))`);
      this.classify(end, 'start');
      this.edges.push(`${id} --> ${end}`);
    }
  }
}

function children(state: AslState): AslDefinition[] {
  if (state.Type === 'Map') {
    const processor = state.ItemProcessor ?? state.Iterator;
    return isRecord(processor) ? [processor as unknown as AslDefinition] : [];
  }
  if (state.Type === 'Parallel' && Array.isArray(state.Branches)) return state.Branches as AslDefinition[];
  return [];
}

const CLASS_STYLES: Record<string, string> = {
  start: 'fill:#eef2ff,stroke:#4f46e5',
  task: 'fill:#f8fafc,stroke:#475569',
  wait: 'fill:#fefce8,stroke:#a16207',
  choice: 'fill:#f0f9ff,stroke:#0369a1',
  pass: 'fill:#f5f5f4,stroke:#78716c',
  succeed: 'fill:#ecfdf5,stroke:#047857',
  fail: 'fill:#fef2f2,stroke:#b91c1c',
};

/**
 * The Mermaid flowchart of the given machines (deterministic: same definitions, same text).
 * @throws TypeError on a state type, Choice rule or transition it cannot draw, so a new construct fails loudly
 */
export function renderMermaid(machines: readonly DiagramMachine[]): string {
  const lines = ['flowchart TD'];
  const classes = new Map<string, string[]>();
  machines.forEach((machine, i) => {
    const writer = new MachineWriter(`m${i}`);
    lines.push(...writer.render(machine).map((line) => (line.startsWith('  ') ? line : `  ${line}`)));
    for (const [cls, ids] of writer.classes) classes.set(cls, [...(classes.get(cls) ?? []), ...ids]);
  });
  for (const [cls, style] of Object.entries(CLASS_STYLES)) {
    const ids = classes.get(cls);
    if (!ids) continue;
    lines.push(`  classDef ${cls} ${style}`);
    lines.push(`  class ${ids.join(',')} ${cls}`);
  }
  return `${lines.join('\n')}\n`;
}
