/**
 * Free text that goes into the chain of custody (`requestedBy`, `reason`): it is shown in case files, the CLI and
 * the console, so it must read the same everywhere. Control characters (C0 including NUL, tab and newlines, DEL,
 * C1), the Unicode line and paragraph separators, and the bidirectional formatting controls (which can make a
 * line display in an order other than its bytes, "Trojan Source") are refused, anywhere in the text, before any
 * trimming. The error names the first offending code point and its position, never the text itself.
 */
import * as z from 'zod';

/** Characters custody text may not contain. */
// \p{Cc}: the C0 controls (NUL to U+001F), DEL and the C1 controls (U+0080 to U+009F).
const FORBIDDEN = /[\p{Cc}\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;

/** Why `text` is not acceptable custody text, or undefined when it is. */
export function custodyTextProblem(text: string): string | undefined {
  const match = FORBIDDEN.exec(text);
  if (!match) return undefined;
  const codePoint = (match[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  const position = [...text.slice(0, match.index)].length + 1;
  return `must not contain control, line-break or bidirectional-formatting characters (U+${codePoint} at character ${position})`;
}

/** A custody text field: no forbidden characters, then trimmed, at most `max` characters. */
export function custodyText(max: number) {
  return z
    .string()
    .check((ctx) => {
      const problem = custodyTextProblem(ctx.value);
      if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
    })
    .trim()
    .max(max);
}
