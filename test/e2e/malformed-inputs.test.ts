/**
 * End-to-end: a hundred malformed investigation requests (wrong types, bad execution names, forbidden characters,
 * sizes past the limits) each end in a clear, specific error and a case file, and none reaches SentinelOne. The
 * inputs go through the synthesized state machine as StartExecution would deliver them, so a scalar, `null` or an
 * array is the whole execution input, and an execution name Step Functions accepts but that is not an
 * investigation id (`..`, `_rejected`, `café`) is the execution's name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../lambdas/shared/contract';
import type { CaseRecord } from '../../lambdas/shared/evidence/case-record';
import { caseKeyForExecution, REJECTED_PREFIX } from '../../lambdas/shared/evidence/keys';
import { LocalExecutionFailedError } from '../../local/asl/errors';
import { type E2eStack, listKeys, readJson, sha256Hex, startE2eStack } from './helpers';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startE2eStack();
});

afterAll(async () => {
  await stack?.close();
});

/** One malformed request: the execution input, its name, and what the case file's summary must say about it. */
interface Malformed {
  readonly label: string;
  readonly input: unknown;
  /** @default a fresh valid name */
  readonly name?: string;
  /** Part of the error the responder must read in the case file. */
  readonly says: RegExp;
}

const AGENT = '1100000000000000001';
const valid = { agentIds: [AGENT], requestedBy: 'analyst@example.com', reason: 'malformed-input test' };

/** The valid request with one field replaced (or removed, for `undefined`). */
function withField(field: string, value: unknown): Record<string, unknown> {
  const request: Record<string, unknown> = { ...valid };
  if (value === undefined) delete request[field];
  else request[field] = value;
  return request;
}

function malformedInputs(): Malformed[] {
  const cases: Malformed[] = [];
  const add = (label: string, input: unknown, says: RegExp, name?: string) =>
    cases.push({ label, input, says, ...(name === undefined ? {} : { name }) });

  // The whole input of the wrong type.
  const notAnObject = /Investigation input is invalid: \(input\): Invalid input: expected object, received/;
  for (const [label, input] of [
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['a negative number', -1],
    ['a fraction', 3.5],
    ['a large number', 1e300],
    ['the empty string', ''],
    ['a string', 'collect everything'],
    ['a JSON text in a string', JSON.stringify(valid)],
    ['the empty array', []],
    ['an array of the request', [valid]],
    ['an array of ids', [AGENT]],
    ['nested arrays', [[[]]]],
  ] as const)
    add(`input is ${label}`, input, notAnObject);

  // Fields missing, of the wrong type, or not known.
  add('the empty object', {}, /agentIds: Invalid input: expected array.*requestedBy/);
  add('no agentIds', withField('agentIds', undefined), /agentIds: Invalid input: expected array/);
  add('no requestedBy', withField('requestedBy', undefined), /requestedBy: Invalid input: expected string/);
  for (const [label, value] of [
    ['a string', AGENT],
    ['a number', 1],
    ['null', null],
    ['an object', { id: AGENT }],
    ['true', true],
  ] as const)
    add(`agentIds is ${label}`, withField('agentIds', value), /agentIds: Invalid input: expected array/);
  add('agentIds is empty', withField('agentIds', []), /agentIds: name at least one agent id/);
  add(
    `agentIds has ${LIMITS.maxAgents + 1} ids`,
    withField(
      'agentIds',
      Array.from({ length: LIMITS.maxAgents + 1 }, (_, i) => String(1_100_000_000_000_000_000n + BigInt(i))),
    ),
    new RegExp(`agentIds: at most ${LIMITS.maxAgents} agents per investigation`),
  );
  add('agentIds repeats an id', withField('agentIds', [AGENT, AGENT]), /agentIds: agent ids must not repeat/);
  for (const [label, id] of [
    // As a JSON number an S1 id loses its last digits.
    ['a number', Number('1100000000000000001')],
    ['null', null],
    ['an array', [AGENT]],
  ] as const)
    add(`an agent id is ${label}`, withField('agentIds', [id]), /agentIds\.0: must be a string of digits/);
  for (const [label, id] of [
    ['empty', ''],
    ['a UUID', '0b3a7c1e-1f2d-4a5b-8c9d-0e1f2a3b4c5d'],
    ['negative', '-1100000000000000001'],
    ['hexadecimal', '0x1F'],
    ['padded', ' 1100000000000000001'],
    ['21 digits', '110000000000000000012'],
    ['a decimal', '1100000000000000001.0'],
    ['exponent notation', '1.1e18'],
    ['a path', '../1100000000000000001'],
    ['full-width digits', '１２３'],
    ['with a NUL', '11000\u0000001'],
    ['a SQL fragment', "1' OR '1'='1"],
  ] as const)
    add(`an agent id is ${label}`, withField('agentIds', [id]), /agentIds\.0: must be a string of digits/);
  add(
    'the second of two agent ids is bad',
    withField('agentIds', [AGENT, 'x']),
    /agentIds\.1: must be a string of digits/,
  );
  for (const [label, value] of [
    ['a number', Number('4200000000000000001')],
    ['not digits', 'threat-1'],
    ['empty', ''],
    ['an array', ['4200000000000000001']],
  ] as const)
    add(`threatId is ${label}`, withField('threatId', value), /threatId: must be a string of digits/);
  for (const [label, value] of [
    ['a number', 7],
    ['null', null],
    ['an object', { name: 'x' }],
    ['an array', ['analyst']],
  ] as const)
    add(
      `requestedBy is ${label}`,
      withField('requestedBy', value),
      /requestedBy: Invalid input: expected string/,
    );
  add('requestedBy is empty', withField('requestedBy', ''), /requestedBy: say who requested the collection/);
  add(
    'requestedBy is blank',
    withField('requestedBy', '   '),
    /requestedBy: say who requested the collection/,
  );
  add('reason is a number', withField('reason', 42), /reason: Invalid input: expected string/);
  add('reason is null', withField('reason', null), /reason: Invalid input: expected string/);
  for (const [label, key] of [
    ['a misspelt field', 'agentId'],
    ['a field of another tool', 'executionName'],
    ['a prototype key', '__proto__'],
    ['an empty key', ''],
  ] as const)
    add(`the request has ${label}`, { ...valid, [key]: 'x' }, /Unrecognized key/);

  // Custody text (requestedBy, reason) with characters that would read differently in a case file or console.
  for (const [label, char] of [
    ['NUL', '\u0000'],
    ['a newline', '\n'],
    ['a carriage return', '\r'],
    ['a tab', '\t'],
    ['an escape (terminal control)', '\u001b'],
    ['DEL', '\u007f'],
    ['a C1 control', '\u0085'],
    ['a line separator', '\u2028'],
    ['a paragraph separator', '\u2029'],
    ['a right-to-left override', '\u202e'],
    ['a left-to-right embedding', '\u202a'],
    ['a right-to-left isolate', '\u2067'],
    ['a pop directional isolate', '\u2069'],
    ['an Arabic letter mark', '\u061c'],
    ['a right-to-left mark', '\u200f'],
  ] as const) {
    const code = (char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
    const says = (field: string) =>
      new RegExp(
        `${field}: must not contain control, line-break or bidirectional-formatting characters \\(U\\+${code} at character 4\\)`,
      );
    add(`requestedBy holds ${label}`, withField('requestedBy', `bob${char}alice`), says('requestedBy'));
    add(`reason holds ${label}`, withField('reason', `see${char}ticket`), says('reason'));
  }

  // Sizes past the limits (the whole input stays under the 256 KiB Step Functions accepts).
  add('requestedBy is 257 characters', withField('requestedBy', 'a'.repeat(257)), /requestedBy: Too big/);
  add('reason is 1025 characters', withField('reason', 'r'.repeat(1025)), /reason: Too big/);
  add('reason is 200 KiB', withField('reason', 'r'.repeat(200 * 1024)), /reason: Too big/);

  // Execution names Step Functions accepts that are not investigation ids: valid input, rejected name.
  const badName =
    /Execution name is invalid: \(input\): must be 1–80 letters, digits, "-" or "_", not starting with "_"/;
  for (const name of [
    '..',
    '.',
    '...',
    '_rejected',
    '_x',
    'a.b',
    'café',
    'threat-١٢٣',
    'a=b',
    'a@b',
    'a+b',
    "a'b",
    'a(b)',
    'a!b',
    '%2e%2e',
  ])
    add(`execution name ${JSON.stringify(name)}`, valid, badName, name);
  return cases;
}

const CASES = malformedInputs();

let named = 0;
function executionName(malformed: Malformed): string {
  named += 1;
  return malformed.name ?? `malformed-${String(named).padStart(3, '0')}`;
}

describe('malformed inputs', () => {
  it('covers at least a hundred malformed requests', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(100);
    expect(new Set(CASES.map((c) => c.label)).size).toBe(CASES.length);
  });

  it('ends each one in a clear error and a case file, with nothing sent to SentinelOne', async () => {
    const requestsBefore = stack.s1Sim.requests.length;
    const outcomes: {
      malformed: Malformed;
      name: string;
      error?: string;
      record?: CaseRecord;
      key: string;
    }[] = [];
    const queue = CASES.map((malformed) => ({ malformed, name: executionName(malformed) }));
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { malformed, name } = next;
        let error: string | undefined;
        try {
          await stack.machine.run(malformed.input, { executionName: name }).result;
        } catch (failure) {
          if (!(failure instanceof LocalExecutionFailedError)) throw failure;
          error = failure.error;
        }
        const key = caseKeyForExecution(name);
        const record = await readJson<CaseRecord>(stack, key).catch(() => undefined);
        outcomes.push({ malformed, name, key, ...(error ? { error } : {}), ...(record ? { record } : {}) });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    const wrong = outcomes.flatMap(({ malformed, name, error, record }) => {
      const problems = [
        error === 'InvestigationFailed' ? '' : `execution ended with ${error ?? 'success'}`,
        record ? '' : 'no case file',
        record && record.status !== 'failed' ? `status ${record.status}` : '',
        record && record.investigationId !== name ? `case file names ${record.investigationId}` : '',
        record && !/InputValidationError/.test(record.summary) ? 'summary does not name the error' : '',
        record && !malformed.says.test(record.summary) ? `summary: ${record.summary.slice(0, 300)}` : '',
      ].filter(Boolean);
      return problems.length ? [`${malformed.label}: ${problems.join('; ')}`] : [];
    });
    expect(wrong).toEqual([]);
    // Validation comes before the first call to S1: not one request reached the simulator's API.
    expect(stack.s1Sim.requests.slice(requestsBefore).filter((r) => r.host === 'api')).toEqual([]);
  });

  it('keeps the case file of a name that is not an investigation id inside the bucket layout', async () => {
    for (const name of ['..', '.', '_rejected', 'café']) {
      const key = caseKeyForExecution(name);
      expect(key).toBe(`${REJECTED_PREFIX}${sha256Hex(name)}/case.json`);
      expect(await readJson<CaseRecord>(stack, key)).toMatchObject({
        investigationId: name,
        status: 'failed',
      });
    }
    // `..` never became a key segment: every case file is either an investigation's own or under _rejected/.
    const keys = await listKeys(stack, 'investigations/');
    expect(
      keys.filter((key) => key.split('/').some((segment) => segment === '..' || segment === '.')),
    ).toEqual([]);
    // Each has its case file and its report, side by side.
    const rejected = keys.filter((key) => key.startsWith(REJECTED_PREFIX));
    expect(rejected.filter((key) => key.endsWith('/case.json'))).toHaveLength(15);
    expect(rejected.filter((key) => key.endsWith('/case.md')).sort()).toEqual(
      rejected
        .filter((key) => key.endsWith('/case.json'))
        .map((key) => key.replace(/json$/, 'md'))
        .sort(),
    );
  });

  it('never copies the offending custody text into the case file', async () => {
    const record = await readJson<CaseRecord>(stack, caseKeyForExecution('malformed-cust-1')).catch(
      () => undefined,
    );
    expect(record).toBeUndefined();
    await stack.machine
      .run(withField('requestedBy', 'mallory\u202eevil'), { executionName: 'malformed-cust-1' })
      .result.catch(() => undefined);
    const written = JSON.stringify(
      await readJson<CaseRecord>(stack, caseKeyForExecution('malformed-cust-1')),
    );
    expect(written).toMatch(/U\+202E at character 8/);
    expect(written).not.toContain('\u202e');
    expect(written).not.toContain('mallory');
  });
});
