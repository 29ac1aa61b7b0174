/**
 * Command-line parsing on top of `node:util` `parseArgs` (strict: an unknown flag, a missing value or a stray
 * argument is a {@link UsageError}), plus the flags every command shares.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './errors';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags that say where the deployment is; each command adds the ones for the values it needs. */
export const LOCATION_OPTIONS = {
  stack: { type: 'string' },
  region: { type: 'string' },
} as const satisfies Options;

/** Flags of every command. */
export const COMMON_OPTIONS = {
  ...LOCATION_OPTIONS,
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** Parsed flags: strings, string arrays (`multiple`) or booleans, by flag name. */
export type ParsedFlags = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * How a value from the command line appears in a message: quoted when short, else only its length. A long value
 * in the wrong place may be a token pasted by mistake, and error output ends up in terminals and tickets.
 */
export function shown(value: string | undefined): string {
  if (value === undefined) return '(none)';
  return value.length <= 32 ? JSON.stringify(value) : `(a value of ${value.length} characters, not shown)`;
}

/** Parses `args` for `command`; node's messages are clear, except that they echo a stray argument. */
export function parseCommand(
  command: string,
  args: readonly string[],
  options: Options,
  positionals: { min: number; max: number; names: string },
): { flags: ParsedFlags; positionals: string[] } {
  let parsed: { values: ParsedFlags; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: positionals.max > 0 });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const stray = /^Unexpected argument '(.*)'\. This command/s.exec(message)?.[1];
      throw new UsageError(`unexpected argument ${shown(stray)}`, command);
    }
    throw new UsageError(message.split('\n')[0] ?? 'invalid arguments', command);
  }
  if (parsed.values.help) return { flags: parsed.values, positionals: parsed.positionals };
  if (parsed.positionals.length < positionals.min) {
    throw new UsageError(`missing ${positionals.names}`, command);
  }
  if (parsed.positionals.length > positionals.max) {
    throw new UsageError(`unexpected argument ${shown(parsed.positionals[positionals.max])}`, command);
  }
  return { flags: parsed.values, positionals: parsed.positionals };
}

/** A string flag's value (the last one when repeated). */
export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const value = flags[name];
  if (Array.isArray(value)) {
    const last = value.at(-1);
    return typeof last === 'string' ? last : undefined;
  }
  return typeof value === 'string' ? value : undefined;
}

/** Every value of a repeatable string flag. */
export function stringList(flags: ParsedFlags, name: string): string[] {
  const value = flags[name];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `90s`, `15m`, `2h` or plain seconds into milliseconds. */
export function parseDuration(text: string, flag: string, command: string): number {
  const match = /^(\d+(?:\.\d+)?)([smh]?)$/.exec(text.trim());
  const amount = match ? Number(match[1]) : Number.NaN;
  const ms = amount * (UNIT_MS[match?.[2] || 's'] ?? 1000);
  if (!match || !(ms > 0) || ms > 7 * 24 * 3_600_000) {
    throw new UsageError(`${flag} must be a duration such as 90s, 30m or 2h (at most 7 days)`, command);
  }
  return ms;
}
