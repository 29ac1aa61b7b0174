/**
 * Child process of the staging bench for the two reference rates, measured on the same loopback as staging:
 * - `download`: GET the presigned link with Node's own HTTP client (lambdas/shared/http's `request` on the shared
 *   keep-alive dispatcher, what the S1 and Cado clients use) and count the bytes, nothing else: the plain, standard
 *   reference (staging and Verify Evidence read their long bodies with lambdas/shared/http-receive instead);
 * - `upload`: the same multipart upload `stageToS3` makes (its {@link PartWriter}, the Lambda's S3 client, same part
 *   size and queue), fed from memory with the very bytes the simulator serves, in the chunks a download brings; or,
 *   for comparison, lib-storage's `Upload` (the library the part writer replaced) with the same settings;
 * - `read-back-object`: builds the read-back object (read-back-zip.ts) and writes it to S3 (not measured).
 */
import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { s3Client } from '../../lambdas/shared/aws';
import { PartWriter } from '../../lambdas/shared/evidence/part-writer';
import { PART_CHECKSUM_ALGORITHM } from '../../lambdas/shared/evidence/stage-to-s3';
import { defaultDispatcher, request } from '../../lambdas/shared/http';
import { prepareResult } from '../../local/s1-simulator/result-file';
import {
  type ChildFigures,
  type ChildJob,
  type ChildReply,
  type DownloadJob,
  errorReply,
  type ReadBackObjectJob,
  type UploadJob,
} from './child-protocol';
import { cpuTimer, startMemoryProbe } from './memory-probe';
import { readBackObject } from './read-back-zip';

/** Chunk size the part writer is fed with in the raw upload (what a socket read typically delivers). */
const CHUNK_BYTES = 64 * 1024;

async function download(job: DownloadJob): Promise<ChildFigures> {
  const startRss = process.memoryUsage.rss();
  const probe = startMemoryProbe();
  const cpu = cpuTimer();
  const started = performance.now();
  const response = await request(job.url, { method: 'GET', dispatcher: defaultDispatcher() });
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`storage answered ${response.statusCode}`);
  }
  let bytes = 0;
  for await (const chunk of response.body) bytes += (chunk as Buffer).length;
  const ms = performance.now() - started;
  return {
    bytes,
    ms,
    startRss,
    readyRss: startRss,
    loadMs: 0,
    cpuMs: cpu(),
    memory: probe.stop(),
    details: {},
  };
}

async function upload(job: UploadJob): Promise<ChildFigures> {
  const startRss = process.memoryUsage.rss();
  const loadStarted = performance.now();
  const prepared = await prepareResult(
    { size: job.result.size },
    { seed: job.result.seed, key: job.result.taskId },
    job.result.modifiedAt,
  );
  if (prepared.sha256 !== job.result.sha256) {
    throw new Error('the regenerated archive differs from the one the simulator serves');
  }
  const loadMs = performance.now() - loadStarted;
  const readyRss = process.memoryUsage.rss();
  const probe = startMemoryProbe();
  const cpu = cpuTimer();
  const started = performance.now();
  let etag: string | undefined;
  if (job.writer === 'lib-storage') {
    const result = await new Upload({
      client: s3Client(),
      params: {
        Bucket: job.bucket,
        Key: job.key,
        Body: Readable.from(prepared.archive.read(0, prepared.size), { objectMode: false }),
        ContentType: 'application/zip',
        ...(job.checksum ? { ChecksumAlgorithm: PART_CHECKSUM_ALGORITHM } : {}),
      },
      partSize: job.partSizeBytes,
      queueSize: job.queueSize,
      leavePartsOnError: false,
    }).done();
    etag = result.ETag;
  } else {
    const writer = new PartWriter({
      s3: s3Client(),
      bucket: job.bucket,
      key: job.key,
      totalBytes: prepared.size,
      partSizeBytes: job.partSizeBytes,
      queueSize: job.queueSize,
      contentType: 'application/zip',
    });
    // The archive's bytes in 64 KiB chunks, as a download delivers them (subarrays: no copy of our own).
    for (const block of prepared.archive.read(0, prepared.size)) {
      const buffer = block as Buffer;
      for (let at = 0; at < buffer.length; at += CHUNK_BYTES) {
        const pending = writer.write(buffer.subarray(at, Math.min(buffer.length, at + CHUNK_BYTES)));
        if (pending) await pending;
      }
    }
    etag = (await writer.finish()).etag;
  }
  const ms = performance.now() - started;
  return {
    bytes: prepared.size,
    ms,
    startRss,
    readyRss,
    loadMs,
    cpuMs: cpu(),
    memory: probe.stop(),
    details: { etag: etag ?? null, sameBytesAsSimulator: true, writer: job.writer ?? 'part-writer' },
  };
}

async function putReadBackObject(job: ReadBackObjectJob): Promise<ChildFigures> {
  const startRss = process.memoryUsage.rss();
  const probe = startMemoryProbe();
  const cpu = cpuTimer();
  const started = performance.now();
  const object = readBackObject(job.size, job.seed);
  const put = await s3Client().send(
    new PutObjectCommand({
      Bucket: job.bucket,
      Key: job.key,
      Body: object.bytes,
      ContentType: 'application/zip',
    }),
  );
  return {
    bytes: object.bytes.length,
    ms: performance.now() - started,
    startRss,
    readyRss: startRss,
    loadMs: 0,
    cpuMs: cpu(),
    memory: probe.stop(),
    details: {
      sha256: object.sha256,
      bytes: object.bytes.length,
      entries: object.entries,
      versionId: put.VersionId ?? null,
      etag: put.ETag ?? null,
    },
  };
}

process.once('message', (job: ChildJob) => {
  const run =
    job.kind === 'download'
      ? download(job)
      : job.kind === 'upload'
        ? upload(job)
        : job.kind === 'read-back-object'
          ? putReadBackObject(job)
          : Promise.reject(new Error(`not a raw job: ${job.kind}`));
  run
    .then((figures): ChildReply => ({ ok: true, figures }))
    .catch(errorReply)
    .then((reply) => process.send?.(reply, () => process.exit(0)));
});
