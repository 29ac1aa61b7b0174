/**
 * The poller's high-water mark, kept in an SSM parameter: the `updatedAt` of the last threat handled and the ids
 * of the threats handled at exactly that instant. Everything updated before the instant has been handled; at the
 * instant, exactly the listed ids. The next run asks S1 for threats updated at or after the instant and drops the
 * listed ids, so threats that share a timestamp across a page or run boundary are neither skipped nor repeated.
 *
 * S1 times carry microseconds, more than a JS Date holds, so instants are compared as bigint microseconds.
 */
import {
  GetParameterCommand,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { HighWaterMarkError } from '../shared/errors';
import { logger } from '../shared/observability';

/** A point in the stream of threat updates. */
export interface HighWaterMark {
  /** ISO-8601 UTC with microseconds. */
  readonly updatedAt: string;
  /** Threats handled at exactly `updatedAt`. */
  readonly ids: readonly string[];
}

/**
 * Ids kept at one instant. A bulk console action can stamp many threats with one time; past this many, the
 * parameter would outgrow the standard tier's 4 KB, so only the last ones handled are kept. A dropped id can only cause a
 * repeated event (start-investigation is idempotent), never a missed one.
 */
export const MAX_MARK_IDS = 150;

const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})$/;

/** Microseconds since the epoch of an ISO-8601 time (any number of fraction digits), or undefined. */
export function timeKey(iso: string | null | undefined): bigint | undefined {
  if (!iso) return undefined;
  const match = ISO.exec(iso.trim());
  if (!match) return undefined;
  const [, head, fraction = '', zone] = match;
  const wholeSecondMs = Date.parse(`${head}${zone}`);
  if (!Number.isFinite(wholeSecondMs)) return undefined;
  const fractionMicros = BigInt(`${fraction}000000`.slice(0, 6));
  return BigInt(wholeSecondMs) * 1000n + fractionMicros;
}

/** ISO-8601 UTC with six fraction digits, S1's own format. */
export function isoFromKey(key: bigint): string {
  const ms = key / 1000n;
  const subMs = key % 1000n;
  return new Date(Number(ms)).toISOString().replace('Z', `${subMs.toString().padStart(3, '0')}Z`);
}

/** Epoch milliseconds as an S1-style time. */
export function isoFromMs(ms: number): string {
  return isoFromKey(BigInt(Math.floor(ms)) * 1000n);
}

const StoredMark = z.object({
  version: z.literal(1),
  updatedAt: z.string().refine((value) => timeKey(value) !== undefined, 'must be an ISO-8601 time'),
  ids: z.array(z.string().regex(/^\d{1,20}$/)).max(1000),
  savedAt: z.string().optional(),
});

/** The mark in a parameter value, or undefined when the value is not a mark (e.g. the deploy-time placeholder). */
export function parseMark(value: string | undefined): HighWaterMark | undefined {
  if (!value) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return undefined;
  }
  const parsed = StoredMark.safeParse(json);
  if (!parsed.success) return undefined;
  return { updatedAt: isoFromKey(timeKey(parsed.data.updatedAt) ?? 0n), ids: parsed.data.ids };
}

/** The parameter value of a mark. */
export function serializeMark(mark: HighWaterMark, savedAt: string): string {
  const ids = mark.ids.length > MAX_MARK_IDS ? mark.ids.slice(-MAX_MARK_IDS) : mark.ids;
  return JSON.stringify({ version: 1, updatedAt: mark.updatedAt, ids, savedAt });
}

/** Reads and saves the mark in one SSM parameter. */
export class MarkStore {
  constructor(
    private readonly ssm: SSMClient,
    /** Parameter name, e.g. `/s1cado/threat-intake/high-water-mark`. */
    readonly parameterName: string,
  ) {}

  /** The saved mark; undefined on a first run (no parameter, or the placeholder the stack creates). */
  async read(): Promise<HighWaterMark | undefined> {
    let value: string | undefined;
    try {
      const out = await this.ssm.send(new GetParameterCommand({ Name: this.parameterName }));
      value = out.Parameter?.Value;
    } catch (error) {
      if (error instanceof ParameterNotFound) return undefined;
      throw new HighWaterMarkError(
        `Could not read the high-water mark ${this.parameterName} (${(error as Error).name})`,
        { cause: error },
      );
    }
    const mark = parseMark(value);
    if (!mark && value !== undefined) {
      logger.info('The high-water mark holds no mark yet; starting from the lookback window', {
        parameter: this.parameterName,
      });
    }
    return mark;
  }

  /** Saves `mark` (overwriting). */
  async save(mark: HighWaterMark, savedAt: string): Promise<void> {
    try {
      await this.ssm.send(
        new PutParameterCommand({
          Name: this.parameterName,
          Value: serializeMark(mark, savedAt),
          Type: 'String',
          Overwrite: true,
        }),
      );
    } catch (error) {
      throw new HighWaterMarkError(
        `Could not save the high-water mark ${this.parameterName} (${(error as Error).name})`,
        { cause: error },
      );
    }
  }
}
