/**
 * Streams a download into a multipart S3 upload (`@aws-sdk/lib-storage`), hashing SHA-256 and counting bytes on
 * the way. Memory stays flat whatever the size (a few parts in flight). S3 verifies every part against the SHA-256
 * checksum the SDK sends; we verify the whole: the byte count must equal the announced length and the stored
 * object's size, or nothing is reported as staged. If the download fails, the upload is aborted, so a short body
 * can never become a "complete" object.
 */
import { createHash } from 'node:crypto';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { nowIso } from '../clock';
import { EvidenceIntegrityError } from '../errors';
import {
  type DownloadStats,
  openResumableDownload,
  type ResumableDownloadOptions,
} from './resumable-download';

/** Options for {@link stageToS3}. */
export interface StageToS3Options {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly download: ResumableDownloadOptions;
  /** @default 16 MiB (S3 allows 10,000 parts: up to 160 GiB) */
  readonly partSizeBytes?: number;
  /** Parts uploaded concurrently. @default 4 */
  readonly queueSize?: number;
  /** @default application/zip */
  readonly contentType?: string;
  /** Object metadata known before the upload starts (ids that tie the object to its investigation). */
  readonly metadata?: Record<string, string>;
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

class HashingCounter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/** Downloads and stages one file; throws when any step fails or any check does not hold. */
export async function stageToS3(options: StageToS3Options): Promise<StagedObject> {
  const startedAt = nowIso();
  const download = openResumableDownload(options.download);
  const counter = new HashingCounter();
  let downloadError: unknown;
  pipeline(download.stream, counter, (error) => {
    if (error) downloadError = error;
  });

  const upload = new Upload({
    client: options.s3,
    params: {
      Bucket: options.bucket,
      Key: options.key,
      Body: counter,
      ContentType: options.contentType ?? 'application/zip',
      ChecksumAlgorithm: 'SHA256',
      Metadata: options.metadata,
    },
    partSize: options.partSizeBytes ?? 16 * 1024 * 1024,
    queueSize: options.queueSize ?? 4,
    leavePartsOnError: false,
  });

  let uploaded: Awaited<ReturnType<Upload['done']>>;
  let stats: DownloadStats;
  try {
    [uploaded, stats] = await Promise.all([upload.done(), download.stats]);
  } catch (error) {
    // A download failure surfaces in the upload too (as a broken body); report the cause, not the symptom.
    await upload.abort().catch(() => undefined);
    throw downloadError ?? error;
  }
  if (downloadError) throw downloadError;

  const sha256 = counter.hash.digest('hex');
  if (counter.bytes !== stats.totalBytes) {
    throw new EvidenceIntegrityError(
      `Staged ${counter.bytes} bytes but the storage announced ${stats.totalBytes}; the object at ${options.key} is not evidence`,
    );
  }
  const head = await options.s3.send(new HeadObjectCommand({ Bucket: options.bucket, Key: options.key }));
  if (head.ContentLength !== counter.bytes) {
    throw new EvidenceIntegrityError(
      `S3 holds ${head.ContentLength} bytes at ${options.key} but ${counter.bytes} were uploaded`,
    );
  }
  return {
    bucket: options.bucket,
    key: options.key,
    versionId: head.VersionId ?? uploaded.VersionId ?? null,
    bytes: counter.bytes,
    sha256,
    etag: head.ETag ?? null,
    download: stats,
    startedAt,
    finishedAt: nowIso(),
  };
}
