import { describe, expect, it } from 'vitest';
import { InputValidationError } from '../../lambdas/shared/errors';
import { parseInput } from '../../lambdas/shared/handler';
import { WorkflowInput } from '../../lambdas/shared/schemas';

const base = { agentIds: ['1913920934584665209'], requestedBy: 'alice@example.com' };

/** The InputValidationError message for this input (fails the test when it parses). */
function refusal(input: unknown): string {
  try {
    parseInput(WorkflowInput, input, 'Investigation input');
  } catch (error) {
    expect(error).toBeInstanceOf(InputValidationError);
    return (error as Error).message;
  }
  throw new Error('expected the input to be refused');
}

describe('custody text (requestedBy, reason)', () => {
  const refused: [label: string, text: string, codePoint: string, position: number][] = [
    ['NUL', 'alice\u0000', 'U+0000', 6],
    ['newline', 'alice\nINFO forged log line', 'U+000A', 6],
    ['carriage return', 'alice\r', 'U+000D', 6],
    ['tab', 'a\tb', 'U+0009', 2],
    ['escape (terminal sequences)', '\u001b[31mred', 'U+001B', 1],
    ['DEL', 'ab\u007f', 'U+007F', 3],
    ['C1 control (NEL)', 'ab\u0085cd', 'U+0085', 3],
    ['line separator', 'ab\u2028cd', 'U+2028', 3],
    ['paragraph separator', 'ab\u2029', 'U+2029', 3],
    ['right-to-left override', 'invoice\u202Egpj.exe', 'U+202E', 8],
    ['left-to-right embedding', '\u202Aabc', 'U+202A', 1],
    ['right-to-left isolate', 'x\u2067y', 'U+2067', 2],
    ['pop directional isolate', 'x\u2069', 'U+2069', 2],
    ['right-to-left mark', 'x\u200F', 'U+200F', 2],
    ['Arabic letter mark', '\u061C', 'U+061C', 1],
    ['position counted in characters, not UTF-16 units', '😀😀\u0000', 'U+0000', 3],
  ];

  it.each(refused)(
    'refuses %s in requestedBy and in reason, naming the code point',
    (_, text, codePoint, position) => {
      for (const field of ['requestedBy', 'reason'] as const) {
        const message = refusal({ ...base, [field]: text });
        expect(message).toContain(
          `${field}: must not contain control, line-break or bidirectional-formatting characters`,
        );
        expect(message).toContain(`(${codePoint} at character ${position})`);
        // The text itself is never echoed.
        expect(message).not.toContain(text);
      }
    },
  );

  it('refuses a trailing newline instead of trimming it away', () => {
    expect(refusal({ ...base, requestedBy: 'alice\n' })).toContain('U+000A');
  });

  const accepted: [label: string, text: string, stored: string][] = [
    ['plain ASCII', 'alice@example.com', 'alice@example.com'],
    ['spaces around, trimmed', '  SOC on-call  ', 'SOC on-call'],
    ['accents and CJK', 'Zoë Müller / 山田太郎', 'Zoë Müller / 山田太郎'],
    ['Arabic and Hebrew letters (right-to-left script, no controls)', 'محمد אבי', 'محمد אבי'],
    ['emoji', 'incident 🚨 42', 'incident 🚨 42'],
  ];

  it.each(accepted)('accepts %s', (_, text, stored) => {
    const parsed = parseInput(WorkflowInput, { ...base, requestedBy: text, reason: text }, 'input');
    expect(parsed.requestedBy).toBe(stored);
    expect(parsed.reason).toBe(stored);
  });

  it('still requires requestedBy and bounds both lengths', () => {
    expect(refusal({ ...base, requestedBy: '   ' })).toContain('say who requested the collection');
    expect(refusal({ ...base, requestedBy: 'x'.repeat(257) })).toContain('requestedBy');
    expect(refusal({ ...base, reason: 'x'.repeat(1025) })).toContain('reason');
  });
});
