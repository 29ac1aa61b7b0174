/**
 * PowerShell syntax checks for the Windows collector, on a real PowerShell grammar (tree-sitter-powershell, run
 * through web-tree-sitter's WebAssembly runtime): parse errors, and what the syntax tree says the script writes,
 * downloads and calls.
 *
 * The write check is a flow-insensitive taint analysis over variable names: a variable is "under the output folder"
 * when every assignment to it (anywhere in the script) is, and an expression is when it is
 * `$env:S1_OUTPUT_DIR_PATH`, the documented fallback folder, such a variable, `Join-Path <under> …`,
 * `<under> + …`, or `[IO.Path]::GetFullPath/Combine(<under>, …)`. Every write sink must take such a path.
 */
import path from 'node:path';
import { Language, type Node, Parser } from 'web-tree-sitter';

const REPO = path.resolve(__dirname, '..', '..');
const GRAMMAR = path.join(REPO, 'node_modules', 'tree-sitter-powershell', 'tree-sitter-powershell.wasm');

let parser: Promise<Parser> | undefined;

/** A parser for PowerShell, created once per test file. */
export function powershellParser(): Promise<Parser> {
  parser ??= (async () => {
    await Parser.init();
    const language = await Language.load(GRAMMAR);
    const p = new Parser();
    p.setLanguage(language);
    return p;
  })();
  return parser;
}

/** One ERROR or MISSING node: where it is and the text it covers. */
export interface SyntaxProblem {
  readonly kind: 'ERROR' | 'MISSING';
  readonly line: number;
  readonly column: number;
  readonly text: string;
}

/** Every ERROR and MISSING node of the parse of `source`. */
export async function syntaxProblems(source: string): Promise<SyntaxProblem[]> {
  const tree = (await powershellParser()).parse(source);
  if (!tree) throw new Error('tree-sitter returned no tree');
  const problems: SyntaxProblem[] = [];
  const walk = (node: Node): void => {
    if (node.isError || node.isMissing) {
      problems.push({
        kind: node.isMissing ? 'MISSING' : 'ERROR',
        line: node.startPosition.row + 1,
        column: node.startPosition.column + 1,
        text: node.isMissing ? node.type : node.text.slice(0, 80),
      });
    }
    for (const child of node.children) if (child) walk(child);
  };
  walk(tree.rootNode);
  tree.delete();
  return problems;
}

/** Single-child expression layers the grammar wraps every value in. */
const WRAPPERS = new Set([
  'pipeline',
  'pipeline_chain',
  'logical_expression',
  'bitwise_expression',
  'comparison_expression',
  'additive_expression',
  'multiplicative_expression',
  'format_expression',
  'range_expression',
  'array_literal_expression',
  'unary_expression',
  'expression_with_unary_operator',
  'argument_expression',
  'logical_argument_expression',
  'bitwise_argument_expression',
  'comparison_argument_expression',
  'additive_argument_expression',
  'multiplicative_argument_expression',
  'format_argument_expression',
  'range_argument_expression',
  'left_assignment_expression',
  'parenthesized_expression',
  'cast_expression',
]);

function core(node: Node): Node {
  let n = node;
  for (;;) {
    const named = n.namedChildren.filter((c): c is Node => c !== null);
    if (WRAPPERS.has(n.type) && named.length === 1 && named[0]) {
      n = named[0];
      continue;
    }
    // `[string]$x`: the value is the last part.
    if (n.type === 'cast_expression' && named.length > 0) {
      n = named[named.length - 1] as Node;
      continue;
    }
    return n;
  }
}

function named(node: Node | null | undefined): Node[] {
  return node ? node.namedChildren.filter((c): c is Node => c !== null) : [];
}

/** `$Script:Name`, `$name` → `name`; `$env:X` stays `env:x`. */
function variableName(node: Node): string {
  return node.text
    .replace(/^\$\{?/, '')
    .replace(/\}$/, '')
    .replace(/^(script|global|local|private):/i, '')
    .toLowerCase();
}

const OUTPUT_ENV = 'env:s1_output_dir_path';
/** The fallback the script documents for a run by hand (RemoteOps always sets the variable). */
const FALLBACK_OUTPUT = "'c:\\programdata\\sentinel\\rso'";

function commandName(node: Node): string {
  return (named(node).find((c) => c.type === 'command_name')?.text ?? '').toLowerCase();
}

/** The values of a command's arguments: positional ones in order, and `-Name value` pairs. */
function commandArguments(node: Node): { positional: Node[]; params: Map<string, Node | null> } {
  const elements = named(named(node).find((c) => c.type === 'command_elements'));
  const positional: Node[] = [];
  const params = new Map<string, Node | null>();
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i] as Node;
    if (e.type === 'command_argument_sep' || e.type === 'redirection') continue;
    if (e.type === 'command_parameter') {
      const name = e.text.replace(/^-/, '').replace(/:$/, '').toLowerCase();
      let j = i + 1;
      while (j < elements.length && elements[j]?.type === 'command_argument_sep') j++;
      const next = elements[j];
      if (next && next.type !== 'command_parameter' && next.type !== 'redirection') {
        params.set(name, next);
        i = j;
      } else {
        params.set(name, null);
      }
      continue;
    }
    positional.push(e);
  }
  return { positional, params };
}

function listArgs(list: Node | undefined): Node[] {
  return named(named(list).find((c) => c.type === 'argument_expression_list'));
}

function invocationArgs(node: Node): Node[] {
  return listArgs(named(node).find((c) => c.type === 'argument_list'));
}

/** `[IO.File]::WriteAllText(...)` → `{ type: 'io.file', member: 'writealltext' }`. */
function staticCall(node: Node): { type: string; member: string } | undefined {
  if (node.type !== 'invokation_expression' && node.type !== 'member_access') return undefined;
  const parts = named(node);
  const typeLiteral = parts.find((c) => c.type === 'type_literal');
  const member = parts.find((c) => c.type === 'member_name');
  if (!typeLiteral || !member) return undefined;
  const type = typeLiteral.text
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/^system\./, '');
  return { type, member: member.text.toLowerCase() };
}

/** What the write analysis found. */
export interface ScriptFacts {
  /** Write sinks whose path is not proven to be under the output folder: line and source text. */
  readonly unprovenWrites: string[];
  /** How many write sinks were checked (a guard that the analysis saw the script's writes at all). */
  readonly writesChecked: number;
  /** Command names called (lower case). */
  readonly commands: Set<string>;
  /** Types named in type literals and `New-Object` (lower case, without `system.`). */
  readonly types: Set<string>;
  /** Member names invoked (lower case). */
  readonly members: Set<string>;
  /** String literals (their text with quotes). */
  readonly strings: string[];
  /** Variables proven to hold a path under the output folder. */
  readonly outputVariables: Set<string>;
}

const FILE_SINKS_ARG0 = new Set([
  'writealltext',
  'writeallbytes',
  'writealllines',
  'appendalltext',
  'appendalllines',
  'appendtext',
  'create',
  'createtext',
  'delete',
  'open',
  'openwrite',
  'setlastwritetime',
  'setlastwritetimeutc',
  'setcreationtime',
  'setcreationtimeutc',
  'setattributes',
  'encrypt',
  'decrypt',
]);
const DIRECTORY_SINKS_ARG0 = new Set([
  'createdirectory',
  'delete',
  'setlastwritetime',
  'setlastwritetimeutc',
  'setcreationtime',
]);
const COMMAND_SINKS: Record<string, { params: string[]; position: number }> = {
  'export-csv': { params: ['literalpath', 'path'], position: 0 },
  'out-file': { params: ['literalpath', 'filepath'], position: 0 },
  'set-content': { params: ['literalpath', 'path'], position: 0 },
  'add-content': { params: ['literalpath', 'path'], position: 0 },
  'new-item': { params: ['literalpath', 'path'], position: 0 },
  'export-clixml': { params: ['literalpath', 'path'], position: 0 },
  'tee-object': { params: ['literalpath', 'filepath'], position: 0 },
  'start-transcript': { params: ['literalpath', 'path'], position: 0 },
  'copy-item': { params: ['destination'], position: 1 },
  'move-item': { params: ['destination'], position: 1 },
};
const WRITE_MODE =
  /FileMode\]::(Create|CreateNew|Append|OpenOrCreate|Truncate)|FileAccess\]::(Write|ReadWrite)/i;

/** Parses the script and collects the facts the collector tests assert on. */
export async function scriptFacts(source: string): Promise<ScriptFacts> {
  const tree = (await powershellParser()).parse(source);
  if (!tree) throw new Error('tree-sitter returned no tree');
  const root = tree.rootNode;
  const all = (type: string) => root.descendantsOfType(type).filter((n): n is Node => n !== null);

  // Assignments: variable name → right-hand sides.
  const assignments = new Map<string, Node[]>();
  for (const a of all('assignment_expression')) {
    const [left, , right] = named(a);
    const operator = named(a).find(
      (c) => c.type === 'assignement_operator' || c.type === 'assignment_operator',
    );
    if (!left || !right) continue;
    const target = core(left);
    if (target.type !== 'variable') continue;
    // `+=` keeps a path's prefix; only `=` decides where a variable points.
    if (operator && operator.text.trim() !== '=') continue;
    const name = variableName(target);
    assignments.set(name, [...(assignments.get(name) ?? []), right]);
  }

  const output = new Set(assignments.keys());
  const under = (node: Node | null | undefined): boolean => {
    if (!node) return false;
    const n = core(node);
    if (n.type === 'variable') {
      const name = variableName(n);
      return name === OUTPUT_ENV || output.has(name);
    }
    if (n.type === 'string_literal') return n.text.toLowerCase() === FALLBACK_OUTPUT;
    if (n.type === 'command' && commandName(n) === 'join-path') {
      const { positional, params } = commandArguments(n);
      return under(params.get('path') ?? params.get('literalpath') ?? positional[0]);
    }
    if (n.type === 'additive_expression' || n.type === 'additive_argument_expression') {
      return under(named(n)[0]);
    }
    const call = staticCall(n);
    if (call && call.type === 'io.path' && (call.member === 'getfullpath' || call.member === 'combine')) {
      return under(invocationArgs(n)[0]);
    }
    return false;
  };
  // Greatest fixpoint: drop every variable with an assignment not under the output folder, until stable.
  for (let changed = true; changed; ) {
    changed = false;
    for (const name of [...output]) {
      if (!(assignments.get(name) ?? []).every((rhs) => under(rhs))) {
        output.delete(name);
        changed = true;
      }
    }
  }

  const unproven: string[] = [];
  let checked = 0;
  const check = (sink: Node, value: Node | null | undefined) => {
    checked++;
    if (!under(value))
      unproven.push(`line ${sink.startPosition.row + 1}: ${sink.text.split('\n')[0]?.slice(0, 120)}`);
  };

  const members = new Set<string>();
  const types = new Set<string>();
  for (const n of [...all('invokation_expression'), ...all('member_access')]) {
    const member = named(n).find((c) => c.type === 'member_name');
    if (member) members.add(member.text.toLowerCase());
    const call = staticCall(n);
    if (!call || n.type !== 'invokation_expression') continue;
    const args = invocationArgs(n);
    if (call.type === 'io.file') {
      if (FILE_SINKS_ARG0.has(call.member)) check(n, args[0]);
      if (['copy', 'move', 'replace'].includes(call.member)) check(n, args[1]);
    }
    if (call.type === 'io.directory') {
      if (DIRECTORY_SINKS_ARG0.has(call.member)) check(n, args[0]);
      if (call.member === 'move') check(n, args[1]);
    }
  }
  for (const t of all('type_literal')) {
    types.add(
      t.text
        .replace(/^\[|\]$/g, '')
        .toLowerCase()
        .replace(/^system\./, ''),
    );
  }

  const commands = new Set<string>();
  for (const c of all('command')) {
    const name = commandName(c);
    if (!name) continue;
    commands.add(name);
    const { positional, params } = commandArguments(c);
    if (name === 'new-object') {
      const typeName = (params.get('typename') ?? positional[0])?.text.toLowerCase().replace(/^system\./, '');
      if (typeName) types.add(typeName);
      const ctorArgs = named(named(c).find((x) => x.type === 'command_elements')).find(
        (x) => x.type === 'argument_list',
      );
      const first = listArgs(ctorArgs)[0];
      if (typeName === 'io.streamwriter') check(c, first);
      if (typeName === 'io.filestream' && ctorArgs && WRITE_MODE.test(ctorArgs.text)) check(c, first);
      continue;
    }
    const sink = COMMAND_SINKS[name];
    if (sink) {
      const value =
        sink.params.map((p) => params.get(p)).find((v) => v !== undefined) ?? positional[sink.position];
      check(c, value);
    }
    for (const p of ['redirectstandardoutput', 'redirectstandarderror']) {
      if (params.has(p)) check(c, params.get(p));
    }
  }
  // Start-Process splatted from a hashtable: @{ RedirectStandardOutput = $out }.
  for (const entry of all('hash_entry')) {
    const [key, value] = named(entry);
    if (key && /^RedirectStandard(Output|Error)$/i.test(key.text)) check(entry, value);
  }
  // `> file` / `>> file`: only $null or the output folder.
  for (const r of all('redirected_file_name')) {
    const target = named(r).find((c) => c.type !== 'command_argument_sep');
    if (target && core(target).type === 'variable' && variableName(core(target)) === 'null') continue;
    check(r, target);
  }

  const strings = all('string_literal').map((s) => s.text);
  tree.delete();
  return {
    unprovenWrites: unproven,
    writesChecked: checked,
    commands,
    types,
    members,
    strings,
    outputVariables: output,
  };
}
