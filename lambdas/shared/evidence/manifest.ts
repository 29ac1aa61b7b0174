/**
 * `manifest.json`, the chain of custody of one agent's collection: who asked, which agent, which script (and its
 * hash), which S1 tasks, what S1 said, what we stored (bytes, SHA-256, S3 version), when each step happened, and
 * what Cado did with it. Stage Output writes the first version; Record Outcome writes the final one (the bucket is
 * versioned and object-locked, so every version is kept).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { EvidenceIntegrityError } from '../errors';
import { CadoHandoff, CollectionTarget, Investigation } from '../schemas';
import { ChainLink, Verification } from './chain';

export const MANIFEST_SCHEMA = 's1cado/manifest@1';
export const TOOL_NAME = 's1-cado-forensics';

/** A timestamped event in the life of the collection. */
export const TimelineEvent = z.object({ event: z.string(), at: z.string(), detail: z.string().optional() });
export type TimelineEvent = z.infer<typeof TimelineEvent>;

/** One download of the result into the bucket (a re-fetch after a hash mismatch is a second one). */
export const StagingAttempt = z.object({
  key: z.string(),
  versionId: z.string().nullable(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  /** Whether it equals S1's result hash; null when S1 gave none to compare. */
  matchesS1: z.boolean().nullable(),
  /** The object's `integrity` tag: `mismatch` when it differs from S1's hash (kept, never handed to Cado). */
  tag: z.enum(['mismatch']).nullable(),
});
export type StagingAttempt = z.infer<typeof StagingAttempt>;

/**
 * The link between S1's result hash (`scriptResultsSignature`, or a result file named `<sha256>.zip`) and our
 * in-stream SHA-256 of the staged bytes: `verified` (equal), `mismatch` (different after one re-fetch: the agent
 * failed with EvidenceIntegrityError), or `not_available` (S1 gave no comparable hash).
 */
export const ResultIntegrity = z.object({
  status: z.enum(['verified', 'mismatch', 'not_available']),
  s1Sha256: z.string().nullable(),
  s1Source: z.enum(['scriptResultsSignature', 'fileName']).nullable(),
  stagedSha256: z.string(),
  attempts: z.array(StagingAttempt),
});
export type ResultIntegrity = z.infer<typeof ResultIntegrity>;

/** One part as the collector reports it. */
export const ReportedPart = z.object({
  partNumber: z.number().int().min(1).max(10_000),
  bytes: z.number().int().nonnegative(),
  /** Base64 MD5 sent as Content-MD5. */
  md5: z.string(),
  /** Hex SHA-256 of the part. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** HTTP status S3 answered. */
  status: z.number().int(),
});
export type ReportedPart = z.infer<typeof ReportedPart>;

/** The manifest's record of a direct upload. */
export const DirectUploadManifest = z.object({
  status: z.enum(['completed', 'mismatch', 'not_used']),
  reason: z.enum(['requested', 'profile', 'size-budget']),
  key: z.string(),
  uploadId: z.string(),
  partUrls: z.number().int(),
  urlLifetimeSeconds: z.number().int().optional(),
  /** The S1 result that carried the collector's report (staged as evidence of its own). */
  s1Result: z.object({ key: z.string(), versionId: z.string().nullable(), sha256: z.string() }),
  collectorSha256: z.string().nullable(),
  bytes: z.number().int().nullable(),
  parts: z.array(ReportedPart),
  problems: z.array(z.string()),
});
export type DirectUploadManifest = z.infer<typeof DirectUploadManifest>;

/** The chain-of-custody record. */
export const Manifest = z.object({
  schema: z.literal(MANIFEST_SCHEMA),
  investigation: Investigation,
  agent: CollectionTarget.omit({ script: true }),
  script: CollectionTarget.shape.script,
  s1Task: z.object({
    parentTaskId: z.string(),
    childTaskId: z.string(),
    description: z.string(),
    status: z.string().optional(),
    detailedStatus: z.string().optional(),
    statusCode: z.string().optional(),
    /** The task completed but the script reported this failure; the result file was kept (the agent is partial). */
    scriptFailure: z.string().optional(),
    reusedExisting: z.boolean(),
  }),
  result: z.object({
    fileName: z.string(),
    s1Signature: z.string().nullable(),
    s1SignatureType: z.literal('SHA256'),
    s1SignatureMatches: z.boolean().nullable(),
  }),
  object: z.object({
    bucket: z.string(),
    key: z.string(),
    versionId: z.string().nullable(),
    bytes: z.number().int().nonnegative(),
    sha256: z.string(),
    etag: z.string().nullable(),
    /** The checksum S3 verified on every part (transport integrity; the evidence hash is `sha256`). */
    s3ChecksumAlgorithm: z.string(),
  }),
  /** S1's result hash against ours (absent in manifests written before this link was recorded). */
  integrity: ResultIntegrity.optional(),
  download: z.object({
    resumes: z.number().int().nonnegative(),
    linkRefreshes: z.number().int().nonnegative(),
    startedAt: z.string(),
    finishedAt: z.string(),
  }),
  timeline: z.array(TimelineEvent),
  cado: CadoHandoff.nullable(),
  /** The direct-to-S3 path, when the collector uploaded the collection itself (see evidence/direct-upload.ts). */
  directUpload: DirectUploadManifest.optional(),
  /** What Verify Evidence found (final manifest). */
  verification: Verification.optional(),
  /** Each link of the chain of custody: verified / mismatch / not available (final manifest). */
  chain: z.array(ChainLink).optional(),
  handoff: z.object({
    status: z.enum(['pending', 'complete', 'failed']),
    reason: z.string().optional(),
    rerunCommand: z.string(),
  }),
  tool: z.object({ name: z.string(), version: z.string() }),
  writtenAt: z.string(),
  writtenBy: z.string(),
});
export type Manifest = z.infer<typeof Manifest>;

/** The command that re-runs the Cado hand-off of an investigation. */
export function handoffCommand(investigationId: string): string {
  return `npx s1cado handoff ${investigationId}`;
}

/** Options of {@link putJson}. */
export interface PutJsonOptions {
  /**
   * Write only if the key does not exist yet (`If-None-Match: *`): S3 answers 412 otherwise, and this throws an
   * {@link EvidenceIntegrityError}. First manifests are written this way. @default false
   */
  readonly createOnly?: boolean;
}

/** Writes a JSON document (pretty-printed, so a responder can read it in the console). */
export async function putJson(
  s3: S3Client,
  bucket: string,
  key: string,
  value: unknown,
  options: PutJsonOptions = {},
): Promise<{ versionId: string | null }> {
  try {
    const out = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: `${JSON.stringify(value, null, 2)}\n`,
        ContentType: 'application/json',
        ChecksumAlgorithm: 'SHA256',
        ...(options.createOnly ? { IfNoneMatch: '*' } : {}),
      }),
    );
    return { versionId: out.VersionId ?? null };
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (options.createOnly && (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412)) {
      throw new EvidenceIntegrityError(
        `s3://${bucket}/${key} already exists; it is written once and was kept`,
        {
          cause: error,
          details: { key, conflict: 'object-exists' },
        },
      );
    }
    throw error;
  }
}

/** Reads a JSON document and validates it; undefined when the key does not exist. */
export async function getJson<S extends z.ZodTypeAny>(
  s3: S3Client,
  bucket: string,
  key: string,
  schema: S,
): Promise<z.infer<S> | undefined> {
  return (await getJsonVersion(s3, bucket, key, schema))?.value;
}

/** {@link getJson}, with the S3 version read (null where the bucket keeps no versions). */
export async function getJsonVersion<S extends z.ZodTypeAny>(
  s3: S3Client,
  bucket: string,
  key: string,
  schema: S,
): Promise<{ value: z.infer<S>; versionId: string | null } | undefined> {
  let text: string;
  let versionId: string | null;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = (await out.Body?.transformToString('utf8')) ?? '';
    versionId = out.VersionId ?? null;
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
    throw error;
  }
  const parsed = schema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new EvidenceIntegrityError(`s3://${bucket}/${key} does not have the expected shape`);
  }
  return { value: parsed.data, versionId };
}
