/**
 * Streams a download into a multipart S3 upload ({@link PartWriter}: a fixed pool of part buffers), hashing SHA-256
 * and counting bytes on the way. Memory stays flat whatever the size (a few small parts in flight). S3 verifies every part against the
 * checksum the SDK sends; we verify the whole: the byte count must equal the announced length and the stored
 * object's size, or nothing is reported as staged. If the download fails, the upload is aborted, so a short body
 * can never become a "complete" object. The object is written once (`If-None-Match: *`): an existing key is never
 * overwritten, the attempt fails with an {@link EvidenceIntegrityError}.
 */
import { createHash } from 'node:crypto';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { nowIso } from '../clock';
import { EvidenceIntegrityError } from '../errors';
import { PartWriter, type WrittenObject } from './part-writer';
import {
  type DownloadSink,
  type DownloadStats,
  type ResumableDownloadOptions,
  receiveResumable,
} from './resumable-download';

/** Options for {@link stageToS3}. */
export interface StageToS3Options {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly download: ResumableDownloadOptions;
  /**
   * @default {@link partSizeFor} `download.maxBytes`: 5 MiB, larger only when 9,000 parts would not hold the
   * largest accepted file. Never sized from the announced length, so a host announcing terabytes cannot make
   * the parts (and the memory they take) grow.
   */
  readonly partSizeBytes?: number;
  /** Parts uploaded concurrently. @default 3 */
  readonly queueSize?: number;
  /** @default application/zip */
  readonly contentType?: string;
  /** Object metadata known before the upload starts (ids that tie the object to its investigation). */
  readonly metadata?: Record<string, string>;
  /** Place an Object Lock legal hold on the object as it is written. @default false */
  readonly legalHold?: boolean;
}

/** The staged object and how it got there. */
export interface StagedObject {
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string | null;
  readonly bytes: number;
  readonly sha256: string;
  readonly etag: string | null;
  readonly download: DownloadStats;
  readonly startedAt: string;
  readonly finishedAt: string;
}

const MIB = 1024 * 1024;
/** Parts uploaded at once. */
export const DEFAULT_QUEUE_SIZE = 3;
/** The checksum S3 verifies on every part (the evidence hash is our own whole-file SHA-256). */
export const PART_CHECKSUM_ALGORITHM = 'CRC32';
/** S3's smallest part (except the last one). */
const MIN_PART_BYTES = 5 * MIB;
/** The largest part ever used: bounds memory (a few parts in flight) whatever the size. 64 MiB × 9,000 > 500 GiB. */
export const MAX_PART_BYTES = 64 * MIB;

/**
 * The part size for files up to `maxBytes`: S3's 5 MiB minimum, which keeps memory low (a few parts in flight, each
 * copied once into a pooled part buffer), unless such a file needs bigger parts to fit S3's 10,000-part limit (with margin);
 * never more than {@link MAX_PART_BYTES}.
 */
export function partSizeFor(maxBytes: number): number {
  const needed = Math.ceil(maxBytes / 9_000);
  return Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, Math.ceil(needed / MIB) * MIB));
}

/** Whether S3 refused a conditional write because the key exists (412 PreconditionFailed). */
export function isPreconditionFailed(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

/** Downloads and stages one file; throws when any step fails or any check does not hold. */
export async function stageToS3(options: StageToS3Options): Promise<StagedObject> {
  const startedAt = nowIso();
  // The upload starts only once the storage has announced an acceptable length: a refused or oversized result
  // never creates a multipart upload.
  let writer: PartWriter | undefined;
  // One pass over every read: the evidence SHA-256, the byte count, and (in the writer) the part's CRC32 and, when
  // the read did not land in the part already, the copy into it, while the bytes are still in cache.
  const hash = createHash('sha256');
  let bytes = 0;
  const sink: DownloadSink = {
    start: (totalBytes) => {
      writer = new PartWriter({
        s3: options.s3,
        bucket: options.bucket,
        key: options.key,
        totalBytes,
        partSizeBytes: options.partSizeBytes ?? partSizeFor(options.download.maxBytes),
        queueSize: options.queueSize ?? DEFAULT_QUEUE_SIZE,
        contentType: options.contentType ?? 'application/zip',
        metadata: options.metadata,
        legalHold: options.legalHold,
      });
    },
    // Socket reads land straight in the free tail of the part being filled.
    region: () => writer?.region(),
    write: (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
      // Most reads are taken at once; only a full pool (every part in flight) makes this wait.
      return (writer as PartWriter).write(chunk);
    },
  };
  let written: WrittenObject;
  let stats: DownloadStats;
  try {
    stats = await receiveResumable(options.download, sink);
    // Checked before the upload completes, so a short or long body never becomes an object.
    if (bytes !== stats.totalBytes || !writer) {
      throw new EvidenceIntegrityError(
        `Staged ${bytes} bytes but the storage announced ${stats.totalBytes}; the object at ${options.key} is not evidence`,
      );
    }
    written = await writer.finish();
  } catch (error) {
    await writer?.abort();
    if (isPreconditionFailed(error)) {
      throw new EvidenceIntegrityError(
        `s3://${options.bucket}/${options.key} already holds an object; evidence is written once and was not overwritten`,
        { cause: error, details: { key: options.key, conflict: 'object-exists' } },
      );
    }
    throw error;
  }

  const sha256 = hash.digest('hex');
  const head = await options.s3.send(new HeadObjectCommand({ Bucket: options.bucket, Key: options.key }));
  if (head.ContentLength !== bytes) {
    throw new EvidenceIntegrityError(
      `S3 holds ${head.ContentLength} bytes at ${options.key} but ${bytes} were uploaded`,
    );
  }
  return {
    bucket: options.bucket,
    key: options.key,
    versionId: head.VersionId ?? written.versionId ?? null,
    bytes,
    sha256,
    etag: head.ETag ?? null,
    download: stats,
    startedAt,
    finishedAt: nowIso(),
  };
}
