/**
 * Live byte counts for the staging bars. Stage Output streams the result from the storage link straight into the
 * S3 upload, so the bytes the S1 simulator's storage host has sent for a task's result are the bytes on their way
 * into the evidence bucket. The simulator's request log is updated as the body streams (`bytesSent`), and a
 * resumed request starts at its Range offset, so the furthest point any request reached is the progress.
 *
 * Against an external S1 there is nothing to watch: the bar fills when Stage Output reports the staged object.
 */
import type { S1Simulator } from '../../local/s1-simulator';

/** Where an agent's staging stands. */
export interface StagingReading {
  readonly bytes: number;
  /** The file's size, once known. */
  readonly total: number | undefined;
}

/** Reads staging progress per agent (by Map index). */
export interface StagingSource {
  /** Starts following the result of `childTaskId` for agent `index`. */
  follow(index: number, childTaskId: string): void;
  /** The current reading, or undefined when nothing is known yet. */
  read(index: number): StagingReading | undefined;
  /** The agent whose result has this SHA-256, if followed. */
  agentOf(resultSha256: string): number | undefined;
}

interface Followed {
  /** Requests before this log position belong to earlier attempts. */
  readonly since: number;
  sha256?: string;
  total?: number;
}

const RANGE_START = /^bytes=(\d+)-/;

/** Progress from the S1 simulator's storage-host request log. */
export class SimulatorStagingSource implements StagingSource {
  private readonly followed = new Map<number, Followed>();

  constructor(private readonly sim: S1Simulator) {}

  follow(index: number, childTaskId: string): void {
    const entry: Followed = { since: this.sim.requests.length };
    this.followed.set(index, entry);
    // The simulator prepares (and caches) the result when the task completes; this only looks it up.
    this.sim.resultOf(childTaskId).then(
      (result) => {
        entry.sha256 = result.sha256;
        entry.total = result.size;
      },
      () => undefined,
    );
  }

  read(index: number): StagingReading | undefined {
    const entry = this.followed.get(index);
    if (!entry?.sha256) return undefined;
    const suffix = `/${entry.sha256}`;
    let furthest = 0;
    const log = this.sim.requests;
    for (let i = Math.min(entry.since, log.length); i < log.length; i++) {
      const request = log[i];
      if (request?.host !== 'storage' || request.method !== 'GET' || !request.path.endsWith(suffix)) continue;
      const start = Number(RANGE_START.exec(request.headers.range ?? '')?.[1] ?? 0);
      furthest = Math.max(furthest, start + (request.bytesSent ?? 0));
    }
    return {
      bytes: entry.total === undefined ? furthest : Math.min(furthest, entry.total),
      total: entry.total,
    };
  }

  agentOf(resultSha256: string): number | undefined {
    for (const [index, entry] of this.followed) if (entry.sha256 === resultSha256) return index;
    return undefined;
  }
}

/** No live source (external S1). */
export class NoStagingSource implements StagingSource {
  follow(): void {}
  read(): StagingReading | undefined {
    return undefined;
  }
  agentOf(): number | undefined {
    return undefined;
  }
}
