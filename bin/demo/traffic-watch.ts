/**
 * Makes injected faults visible: reads the simulators' request logs as the run goes and reports, once each,
 * the answers a client had to survive (429s, 5xx, refused or broken downloads). Only the simulators' own logs
 * are read; nothing of the workflow is instrumented.
 */
import type { CadoSimulator } from '../../local/cado-simulator';
import type { RequestLogEntry, S1Simulator } from '../../local/s1-simulator';
import { formatBytes } from '../units';

/** Something that happened to one agent's download (its result's SHA-256 names it). */
export interface DownloadNote {
  readonly kind: 'refused' | 'resumed' | 'broke-off';
  readonly resultSha256: string | undefined;
  readonly text: string;
}

/** Error answers (429, 5xx) a client received since the last poll. */
export interface ErrorAnswers {
  readonly kind: 'errors';
  readonly source: 'S1' | 'Cado';
  readonly status: number;
  /** The API route, when known. */
  readonly route: string | undefined;
  readonly count: number;
}

/** What {@link TrafficWatch.poll} reports. */
export type TrafficNote = DownloadNote | ErrorAnswers;

const STATUS_TEXT: Record<number, string> = {
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** `429 Too Many Requests`. */
export function statusText(status: number): string {
  return `${status}${STATUS_TEXT[status] ? ` ${STATUS_TEXT[status]}` : ''}`;
}

/** Follows the S1 and Cado simulators' request logs. */
export class TrafficWatch {
  private s1Cursor = 0;
  private cadoCursor = 0;
  /** Entries already reported on; the cursors stop at the first entry still in flight. */
  private readonly seen = new WeakSet<object>();
  /** Storage downloads still streaming: they may yet break off. */
  private readonly open = new Set<RequestLogEntry>();

  constructor(
    private readonly s1: S1Simulator | undefined,
    private readonly cado: CadoSimulator | undefined,
  ) {}

  /** Notes since the last call. */
  poll(): TrafficNote[] {
    return [...this.pollS1(), ...this.pollCado()];
  }

  private pollS1(): TrafficNote[] {
    if (!this.s1) return [];
    const notes: TrafficNote[] = [];
    const log = this.s1.requests;
    // The log drops its oldest entries past its limit; start over rather than skip.
    if (log.length < this.s1Cursor) this.s1Cursor = 0;
    const apiErrors = new Map<string, number>();
    let firstInFlight: number | undefined;
    for (let index = this.s1Cursor; index < log.length; index++) {
      const entry = log[index];
      if (!entry || this.seen.has(entry)) continue;
      if (entry.status === null) {
        firstInFlight ??= index;
        continue;
      }
      this.seen.add(entry);
      if (entry.host === 'api' && (entry.status === 429 || entry.status >= 500)) {
        const key = `${entry.status} ${entry.route}`;
        apiErrors.set(key, (apiErrors.get(key) ?? 0) + 1);
      }
      if (entry.host === 'storage' && entry.method === 'GET') {
        if (entry.status === 403) {
          notes.push({
            resultSha256: shaOf(entry.path),
            kind: 'refused',
            text: 'storage refused the download link (403): Stage Output asks S1 for a fresh one',
          });
        } else if (entry.status === 200 || entry.status === 206) {
          const start = rangeStart(entry);
          if (entry.status === 206 && start > 0) {
            notes.push({
              resultSha256: shaOf(entry.path),
              kind: 'resumed',
              text: `download resumed with Range: bytes=${start}- (from ${formatBytes(start)})`,
            });
          }
          this.open.add(entry);
        }
      }
      for (const open of this.open) if (open.aborted) notes.push(this.brokeOff(open));
    }
    this.s1Cursor = firstInFlight ?? log.length;
    for (const [key, count] of apiErrors) {
      const [status = '', route = ''] = key.split(' ');
      notes.push({ kind: 'errors', source: 'S1', status: Number(status), route, count });
    }
    for (const entry of this.open) if (entry.aborted) notes.push(this.brokeOff(entry));
    return notes;
  }

  private brokeOff(entry: RequestLogEntry): DownloadNote {
    this.open.delete(entry);
    const start = rangeStart(entry);
    return {
      resultSha256: shaOf(entry.path),
      kind: 'broke-off',
      text: `download broke off at ${formatBytes(start + (entry.bytesSent ?? 0))}${start > 0 ? ` (request resumed from ${formatBytes(start)})` : ''}`,
    };
  }

  /** Forgets streaming downloads (the agent's staging ended). */
  settle(resultSha256: string): void {
    for (const entry of this.open) if (shaOf(entry.path) === resultSha256) this.open.delete(entry);
  }

  private pollCado(): TrafficNote[] {
    if (!this.cado) return [];
    const log = this.cado.requests;
    if (log.length < this.cadoCursor) this.cadoCursor = 0;
    const errors = new Map<number, number>();
    let firstInFlight: number | undefined;
    for (let index = this.cadoCursor; index < log.length; index++) {
      const entry = log[index];
      if (!entry || this.seen.has(entry)) continue;
      if (entry.status === 0) {
        firstInFlight ??= index;
        continue;
      }
      this.seen.add(entry);
      if (entry.status === 429 || entry.status >= 500)
        errors.set(entry.status, (errors.get(entry.status) ?? 0) + 1);
    }
    this.cadoCursor = firstInFlight ?? log.length;
    return [...errors].map(
      ([status, count]): ErrorAnswers => ({
        kind: 'errors',
        source: 'Cado',
        status,
        route: undefined,
        count,
      }),
    );
  }
}

function rangeStart(entry: RequestLogEntry): number {
  return Number(/^bytes=(\d+)-/.exec(entry.headers.range ?? '')?.[1] ?? 0);
}

function shaOf(path: string): string | undefined {
  return /\/([0-9a-f]{64})$/.exec(path)?.[1];
}
