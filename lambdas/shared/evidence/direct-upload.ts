/**
 * The direct-to-S3 path (large and memory collections): the workflow opens a multipart upload on one evidence key,
 * the collector receives short-lived presigned UploadPart URLs for exactly that key and upload (in S1's input
 * parameters), streams its package into the parts, and reports in its S1 result what it sent; the workflow then
 * checks S3's parts against that report, completes the upload and verifies the stored object as for any evidence.
 *
 * What travels through S1: one argument `--upload-parts <base>,<sig1>,…,<sigN>`. `<base>` is the part URL without
 * `partNumber` and `X-Amz-Signature` (bucket, key, upload id, credential scope, date, lifetime, session token);
 * part n's URL is `<base>&partNumber=n&X-Amz-Signature=<sign>`. Each URL allows one request: PUT of that part of
 * that upload of that key, until it expires (the script's timeout plus grace); it reads nothing and cannot complete,
 * abort or list the upload, nor touch another key (S3 refuses another key, method or part number: the signature
 * covers them, and the signing session's own policy allows that key only).
 *
 * Part checksums: a presigned request cannot carry an `x-amz-checksum-*` header the signer did not sign (S3 refuses
 * unsigned `x-amz-*` headers), and the signer cannot know the parts' content. So the collector sends each part
 * with `Content-MD5` (S3 refuses a part whose bytes differ: BadDigest) and reports every part's size, MD5 and
 * SHA-256 and the package's SHA-256; the whole object's SHA-256 is checked by Verify Evidence's read-back.
 */
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type Part,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import * as z from 'zod';
import { LIMITS } from '../contract';
import { DirectUploadError } from '../errors';
import type { AgentStart, DirectUpload } from '../schemas';
import { investigationPrefix } from './keys';
import { getJson, putJson, ReportedPart } from './manifest';
import { isPreconditionFailed } from './stage-to-s3';

/** Name of the report the collector leaves in its S1 output folder. */
export const REPORT_NAME = 's1cado-direct-upload.json';
/** The report's schema id. */
export const REPORT_SCHEMA = 's1cado/direct-upload@1';
/** Largest report read (a few hundred bytes per part). */
export const MAX_REPORT_BYTES = 256 * 1024;
/** S3's smallest part (except the last) and largest part. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;
/** The collector's argument that carries the part URLs. */
export const UPLOAD_ARGUMENT = '--upload-parts';

const MIB = 1024 * 1024;

/** The object the collector fills: `investigations/<id>/<agent>/direct/collection.zip`. */
export function directUploadKey(investigationId: string, agentId: string): string {
  return `${investigationPrefix(investigationId)}${agentId}/direct/collection.zip`;
}

/** Prepare Upload's record of the upload it opened (written once; a retry reuses the upload). */
export function directUploadRecordKey(investigationId: string, agentId: string): string {
  return `${investigationPrefix(investigationId)}${agentId}/direct/upload.json`;
}

/** The collector's size budget (`--max-mb N` of its input parameters), in bytes. */
export function sizeBudgetBytes(inputParams: string): number {
  const m = /(?:^|\s)--max-mb(?:=|\s+)(\d{1,9})(?:\s|$)/.exec(inputParams);
  return (m ? Number(m[1]) : LIMITS.collectorBudgetMiB) * MIB;
}

/** The collection profile named in the input parameters (`--profile NAME`), if any. */
export function profileOf(inputParams: string): string | undefined {
  return /(?:^|\s)--profile(?:=|\s+)([A-Za-z0-9_-]+)(?:\s|$)/.exec(inputParams)?.[1];
}

/**
 * Whether an agent's collection goes straight to S3, and why: the caller asked (`directUpload` in the input), the
 * profile is `memory`, or the collector's size budget exceeds `overBytes` (config `directUploadOverBytes`).
 */
export function directUploadReason(
  input: AgentStart,
  overBytes: number | undefined,
): DirectUpload['reason'] | undefined {
  if (input.investigation.directUpload === true) return 'requested';
  const params = input.target.script.inputParams;
  const profile = (input.target.script as { profile?: string }).profile ?? profileOf(params);
  if (profile === 'memory') return 'profile';
  if (overBytes !== undefined && sizeBudgetBytes(params) > overBytes) return 'size-budget';
  return undefined;
}

/**
 * Part URLs for a size budget: few, large parts. Twice the budget (a zip of incompressible data, headers and the
 * log) over {@link LIMITS.directUploadBytesPerPart}, within the contract's bounds; the collector sizes its parts
 * from the real size, at least 5 MiB and at most 5 GiB each.
 */
export function partCountFor(budgetBytes: number): number {
  const wanted = Math.ceil((2 * budgetBytes) / LIMITS.directUploadBytesPerPart);
  return Math.min(LIMITS.directUploadMaxParts, Math.max(LIMITS.directUploadMinParts, wanted));
}

/** What Prepare Upload records, written once beside the object. */
export const UploadRecord = z.object({
  schema: z.literal('s1cado/direct-upload-record@1'),
  bucket: z.string(),
  key: z.string(),
  uploadId: z.string(),
  parts: z.number().int().positive(),
  reason: z.enum(['requested', 'profile', 'size-budget']),
  createdAt: z.string(),
});
export type UploadRecord = z.infer<typeof UploadRecord>;

/** Options of {@link openDirectUpload}. */
export interface OpenDirectUploadOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly investigationId: string;
  readonly agentId: string;
  readonly parts: number;
  readonly reason: DirectUpload['reason'];
  readonly metadata: Record<string, string>;
  readonly legalHold: boolean;
  readonly nowIso: () => string;
}

/**
 * Opens the multipart upload of an agent's direct collection, once: a retry finds the record of the first attempt
 * and reuses its upload; two racing attempts keep the one whose record was written and abort the other.
 */
export async function openDirectUpload(options: OpenDirectUploadOptions): Promise<DirectUpload> {
  const { s3, bucket } = options;
  const key = directUploadKey(options.investigationId, options.agentId);
  const recordKey = directUploadRecordKey(options.investigationId, options.agentId);
  const asState = (r: UploadRecord): DirectUpload => ({
    bucket: r.bucket,
    key: r.key,
    uploadId: r.uploadId,
    parts: r.parts,
    reason: r.reason,
    recordKey,
    createdAt: r.createdAt,
  });
  const previous = await getJson(s3, bucket, recordKey, UploadRecord);
  if (previous) return asState(previous);
  const created = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: 'application/zip',
      Metadata: options.metadata,
      ...(options.legalHold ? { ObjectLockLegalHoldStatus: 'ON' as const } : {}),
    }),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new DirectUploadError(`S3 returned no upload id for s3://${bucket}/${key}`);
  const record: UploadRecord = {
    schema: 's1cado/direct-upload-record@1',
    bucket,
    key,
    uploadId,
    parts: options.parts,
    reason: options.reason,
    createdAt: options.nowIso(),
  };
  try {
    await putJson(s3, bucket, recordKey, record, { createOnly: true });
    return asState(record);
  } catch (error) {
    if (!isPreconditionFailed(error) && !(error as { details?: { conflict?: string } }).details?.conflict) {
      throw error;
    }
    await s3
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
      .catch(() => undefined);
    const winner = await getJson(s3, bucket, recordKey, UploadRecord);
    if (!winner) throw error;
    return asState(winner);
  }
}

/**
 * The collector's argument for `upload`: `--upload-parts <base>,<sig1>,…,<sigN>` (see the module comment), from
 * URLs presigned for `expiresInSeconds` with `s3` (whose credentials are the signing principal). Every URL is signed
 * with one signing date (now, to the second), so the URLs differ only in part number and signature even when
 * signing them crosses a second; that is checked (other credentials mid-way would fail it).
 */
export async function uploadArgument(
  s3: S3Client,
  upload: DirectUpload,
  expiresInSeconds: number,
): Promise<string> {
  const urls: URL[] = [];
  const signingDate = new Date(Math.floor(Date.now() / 1000) * 1000);
  for (let n = 1; n <= upload.parts; n++) {
    const command = new UploadPartCommand({
      Bucket: upload.bucket,
      Key: upload.key,
      UploadId: upload.uploadId,
      PartNumber: n,
    });
    urls.push(new URL(await getSignedUrl(s3, command, { expiresIn: expiresInSeconds, signingDate })));
  }
  const baseOf = (url: URL): string => {
    const copy = new URL(url);
    copy.searchParams.delete('partNumber');
    copy.searchParams.delete('X-Amz-Signature');
    return copy.toString();
  };
  const base = baseOf(urls[0] as URL);
  const signatures = urls.map((url, i) => {
    if (baseOf(url) !== base || url.searchParams.get('partNumber') !== String(i + 1)) {
      throw new DirectUploadError('Presigned part URLs differ in more than part number and signature');
    }
    return url.searchParams.get('X-Amz-Signature') ?? '';
  });
  if (base.includes(',') || signatures.some((s) => !/^[0-9a-f]{64}$/.test(s))) {
    throw new DirectUploadError('A presigned part URL is not in the form the collector reads');
  }
  return `${UPLOAD_ARGUMENT} ${[base, ...signatures].join(',')}`;
}

/** The presigned lifetime: the script's runtime timeout plus grace, within what a signing session allows. */
export function presignSeconds(runtimeTimeoutSeconds: number, graceSeconds: number): number {
  return Math.min(LIMITS.presignMaxSeconds, runtimeTimeoutSeconds + graceSeconds);
}

/** The input parameters of a direct run: the script's own plus the part URLs, within {@link LIMITS.maxInputParamsChars}. */
export function withUploadArgument(inputParams: string, argument: string): string {
  const params = inputParams.trim() === '' ? argument : `${inputParams.trim()} ${argument}`;
  if (params.length > LIMITS.maxInputParamsChars) {
    throw new DirectUploadError(
      `The direct-upload argument makes the input parameters ${params.length} characters, over the ${LIMITS.maxInputParamsChars} this tool sends to S1; use fewer parts`,
      { details: { length: params.length, limit: LIMITS.maxInputParamsChars } },
    );
  }
  return params;
}

/** The collector's report (`s1cado-direct-upload.json` in its S1 output). */
export const UploadReport = z.object({
  schema: z.literal(REPORT_SCHEMA),
  status: z.enum(['uploaded', 'failed']),
  reason: z.string().optional(),
  /** The package's name inside the collection (the object is stored under the upload's key). */
  package: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  parts: z.array(ReportedPart),
});
export type UploadReport = z.infer<typeof UploadReport>;

/** Parses the report text, or says why it is not one. */
export function parseReport(text: string | undefined): { report?: UploadReport; problem?: string } {
  if (text === undefined) return { problem: `the S1 result holds no ${REPORT_NAME}` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: `${REPORT_NAME} is not JSON` };
  }
  const parsed = UploadReport.safeParse(value);
  if (!parsed.success) return { problem: `${REPORT_NAME} is malformed: ${parsed.error.issues[0]?.message}` };
  return { report: parsed.data };
}

/** Every part S3 holds for the upload (ListParts, paged). */
export async function listAllParts(s3: S3Client, upload: DirectUpload): Promise<Part[]> {
  const parts: Part[] = [];
  let marker: string | undefined;
  for (let page = 0; page < 20; page++) {
    const out = await s3.send(
      new ListPartsCommand({
        Bucket: upload.bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
        ...(marker ? { PartNumberMarker: marker } : {}),
      }),
    );
    parts.push(...(out.Parts ?? []));
    if (!out.IsTruncated) return parts;
    marker = String(out.NextPartNumberMarker ?? '');
  }
  throw new DirectUploadError(`Upload ${upload.uploadId} lists more parts than any collector sends`);
}

const md5Hex = (base64: string): string => Buffer.from(base64, 'base64').toString('hex');

/**
 * The collector's report against the parts S3 holds: the same part numbers (1..n, consecutive), each with the
 * reported size, every part but the last at least 5 MiB, sizes adding up to the package, and where S3's ETag is
 * the part's MD5 (SSE-S3; not SSE-KMS) that MD5. Returns what does not hold (empty: all of it holds).
 */
export function compareParts(report: UploadReport, listed: readonly Part[]): string[] {
  const problems: string[] = [];
  const byNumber = new Map(listed.map((p) => [p.PartNumber ?? 0, p]));
  const reported = [...report.parts].sort((a, b) => a.partNumber - b.partNumber);
  if (reported.length === 0) problems.push('the report lists no part');
  reported.forEach((part, i) => {
    if (part.partNumber !== i + 1) problems.push(`reported part numbers are not 1..${reported.length}`);
    const held = byNumber.get(part.partNumber);
    if (!held) {
      problems.push(`part ${part.partNumber} is reported but S3 holds none`);
      return;
    }
    if (held.Size !== part.bytes) {
      problems.push(`part ${part.partNumber}: S3 holds ${held.Size} bytes, the collector sent ${part.bytes}`);
    }
    if (i < reported.length - 1 && part.bytes < MIN_PART_BYTES) {
      problems.push(`part ${part.partNumber} is ${part.bytes} bytes, under S3's 5 MiB minimum`);
    }
    const etag = held.ETag?.replace(/"/g, '') ?? '';
    if (/^[0-9a-f]{32}$/.test(etag) && etag !== md5Hex(part.md5)) {
      problems.push(`part ${part.partNumber}: S3's MD5 ${etag} is not the reported ${md5Hex(part.md5)}`);
    }
  });
  for (const number of byNumber.keys()) {
    if (!reported.some((p) => p.partNumber === number))
      problems.push(`S3 holds part ${number}, not reported`);
  }
  const total = reported.reduce((sum, p) => sum + p.bytes, 0);
  if (total !== report.bytes) problems.push(`parts add up to ${total} bytes, the package is ${report.bytes}`);
  return [...new Set(problems)];
}

/** The completed object. */
export interface CompletedObject {
  readonly versionId: string | null;
  readonly etag: string | null;
  readonly bytes: number;
}

/**
 * Completes the upload with exactly the reported parts (their S3 ETags), written once (`If-None-Match: *`), and
 * checks that S3 holds the package's size.
 */
export async function completeDirectUpload(
  s3: S3Client,
  upload: DirectUpload,
  report: UploadReport,
  listed: readonly Part[],
): Promise<CompletedObject> {
  const byNumber = new Map(listed.map((p) => [p.PartNumber ?? 0, p]));
  const done = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: upload.bucket,
      Key: upload.key,
      UploadId: upload.uploadId,
      IfNoneMatch: '*',
      MultipartUpload: {
        Parts: [...report.parts]
          .sort((a, b) => a.partNumber - b.partNumber)
          .map((p) => ({ PartNumber: p.partNumber, ETag: byNumber.get(p.partNumber)?.ETag })),
      },
    }),
  );
  const head = await s3.send(new HeadObjectCommand({ Bucket: upload.bucket, Key: upload.key }));
  if (head.ContentLength !== report.bytes) {
    throw new DirectUploadError(
      `S3 holds ${head.ContentLength} bytes at ${upload.key}; the collector uploaded ${report.bytes}`,
    );
  }
  return {
    versionId: head.VersionId ?? done.VersionId ?? null,
    etag: head.ETag ?? done.ETag ?? null,
    bytes: report.bytes,
  };
}

/** Aborts the upload (best effort: the bucket's lifecycle aborts incomplete uploads anyway). */
export async function abortDirectUpload(s3: S3Client, upload: DirectUpload): Promise<void> {
  await s3
    .send(
      new AbortMultipartUploadCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: upload.uploadId }),
    )
    .catch(() => undefined);
}

/** A digest of the part list, for the manifest (hex SHA-256 over "n:bytes:sha256" lines). */
export function partsDigest(parts: readonly ReportedPart[]): string {
  const lines = [...parts]
    .sort((a, b) => a.partNumber - b.partNumber)
    .map((p) => `${p.partNumber}:${p.bytes}:${p.sha256}`);
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
