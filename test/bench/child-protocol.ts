/**
 * Jobs the bench hands to its child processes, and their replies. Each measurement runs in a fresh Node process
 * so that its peak RSS is its own (the simulators and s3rver stay in the parent). Jobs travel over the IPC channel,
 * not the command line: they may hold presigned links.
 */
import type { MemoryReport } from './memory-probe';

/** Run the bundled stage-output Lambda once, as Lambda would. */
export interface StageJob {
  readonly kind: 'stage';
  /** Absolute path of the bundled `index.js`. */
  readonly bundle: string;
  /** The handler's input (a CompletedTask). */
  readonly event: unknown;
  /** The function's timeout in seconds (the context's remaining time counts down from it). */
  readonly timeoutSeconds: number;
  /** The function's memory size, for the context. */
  readonly memorySize: number;
}

/** GET a presigned link and count the bytes (no hashing, no S3): the raw download rate. */
export interface DownloadJob {
  readonly kind: 'download';
  readonly url: string;
}

/**
 * Upload the bytes of a simulator result from memory, with the multipart settings `stageToS3` uses: the raw upload
 * rate. The child regenerates the very archive the simulator serves (same seed, task id and timestamp).
 */
export interface UploadJob {
  readonly kind: 'upload';
  readonly bucket: string;
  readonly key: string;
  readonly result: {
    readonly size: number;
    readonly seed: string;
    readonly taskId: string;
    readonly modifiedAt: number;
    /** The simulator's SHA-256 of the archive; the child checks that it regenerated the same bytes. */
    readonly sha256: string;
  };
  readonly partSizeBytes: number;
  readonly queueSize: number;
  /** Ask for the part checksums `stageToS3` asks for. */
  readonly checksum: boolean;
  /**
   * `part-writer`: the uploader `stageToS3` uses (its pool of part buffers, CRC32 header, unsigned payload);
   * `lib-storage`: the SDK's `Upload`, the library it replaced, for comparison. @default part-writer
   */
  readonly writer?: 'part-writer' | 'lib-storage';
}

/**
 * Build the read-back object (read-back-zip.ts) and write it to S3, in a child so that the bench process never
 * holds it: a child forked from a large parent starts with the parent's RSS as its peak (Linux keeps the larger
 * high-water mark across exec), which would show in every later child's peak RSS. Replies `details` with `sha256`,
 * `bytes`, `entries`, `versionId` and `etag`.
 */
export interface ReadBackObjectJob {
  readonly kind: 'read-back-object';
  readonly bucket: string;
  readonly key: string;
  /** Bytes of content (inflated). */
  readonly size: number;
  readonly seed: string;
}

/** Any job. */
export type ChildJob = StageJob | DownloadJob | UploadJob | ReadBackObjectJob;

/** What a child measured. */
export interface ChildFigures {
  /** Bytes moved. */
  readonly bytes: number;
  /** Real milliseconds of the measured work (module loading excluded). */
  readonly ms: number;
  /** RSS when the child began, before loading the code under test (Node itself and the child's driver). */
  readonly startRss: number;
  /** RSS after loading the code under test (for the Lambda: after module init), before the work. */
  readonly readyRss: number;
  /** Real milliseconds loading the code under test took. */
  readonly loadMs: number;
  /** CPU milliseconds (user + system) the child spent on the measured work. */
  readonly cpuMs: number;
  readonly memory: MemoryReport;
  /** Job-specific facts (SHA-256 of what was staged, resumes, ...). */
  readonly details: Readonly<Record<string, string | number | boolean | null>>;
}

/** A child's reply. */
export type ChildReply =
  | { readonly ok: true; readonly figures: ChildFigures }
  | { readonly ok: false; readonly error: { readonly name: string; readonly message: string } };

/** Turns anything thrown into the reply's error (name and first line of the message only). */
export function errorReply(error: unknown): ChildReply {
  const e = error as { name?: unknown; message?: unknown };
  return {
    ok: false,
    error: {
      name: typeof e?.name === 'string' ? e.name : 'Error',
      message: (typeof e?.message === 'string' ? e.message : String(error)).split('\n')[0] ?? '',
    },
  };
}
