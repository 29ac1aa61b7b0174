/**
 * Complete Upload: after a direct-to-S3 collection's task completed, stages the (small) S1 result the collector
 * left, reads the collector's upload report from it, checks the parts S3 holds against the report (numbers,
 * sizes, MD5 where the ETag is one), completes the multipart upload with exactly those parts (written once) and
 * writes the first manifest. The evidence hash is the collector's SHA-256 of its package; Verify Evidence then
 * reads the stored version back and compares, as for any evidence.
 *
 * When the collector reports no completed upload (it could not package or send), its S1 result holds what it
 * collected: that result is the evidence, as Stage Output would have staged it, and the upload is aborted. When
 * the report and S3 disagree, nothing is completed (the parts stay until the bucket's lifecycle aborts the upload),
 * the manifest records every problem and the agent fails with {@link EvidenceIntegrityError}: never handed to Cado.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { METRICS } from '../shared/contract';
import { EvidenceIntegrityError, InputValidationError, ResultNotAvailableError } from '../shared/errors';
import {
  abortDirectUpload,
  compareParts,
  completeDirectUpload,
  listAllParts,
  MAX_REPORT_BYTES,
  parseReport,
  presignSeconds,
  REPORT_NAME,
  type UploadReport,
} from '../shared/evidence/direct-upload';
import { evidenceKey, manifestKey } from '../shared/evidence/keys';
import { type DirectUploadManifest, getJson, Manifest, putJson } from '../shared/evidence/manifest';
import { type StagedObject, stageToS3 } from '../shared/evidence/stage-to-s3';
import { readZipText } from '../shared/evidence/verify-zip';
import type { HostPolicy } from '../shared/hosts';
import { logger, metrics } from '../shared/observability';
import type { CompletedTask, StagedEvidence } from '../shared/schemas';
import type { S1Client } from '../shared/sentinelone';
import {
  resultIntegrity,
  s1ResultSha256,
  stagedEvidence,
  stagedFromManifest,
  stagingManifest,
} from '../stage-output/core';

/** Dependencies of {@link completeUpload}. */
export interface CompleteUploadDeps {
  readonly s1: S1Client;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly downloadPolicy: HostPolicy;
  /** The largest S1 result accepted (as Stage Output): a collector that fell back may leave its whole collection. */
  readonly maxResultBytes: number;
  readonly graceSeconds: number;
  readonly now: () => number;
  readonly deadline: number;
  readonly version: string;
}

async function resultLink(s1: S1Client, childTaskId: string) {
  const { links, errors } = await s1.fetchFiles([childTaskId]);
  const link = links.find((l) => l.taskId === childTaskId);
  if (link) return link;
  const why = errors.find((e) => e.taskId === childTaskId)?.errorString ?? 'no download link was returned';
  throw new ResultNotAvailableError(`S1 offers no result file for task ${childTaskId}: ${why}`);
}

/** Completes one agent's direct upload and writes its first manifest. */
export async function completeUpload(
  input: CompletedTask,
  deps: CompleteUploadDeps,
): Promise<StagedEvidence> {
  const { investigation, target, task } = input;
  const upload = input.upload;
  if (!upload) {
    throw new InputValidationError(
      'Complete Upload needs the direct upload Prepare Upload opened (`upload`)',
    );
  }
  const mKey = manifestKey(investigation.investigationId, target.agentId, task.childTaskId);
  const previous = await getJson(deps.s3, deps.bucket, mKey, Manifest);
  if (previous) {
    logger.info('Direct upload already completed by a previous attempt', { key: previous.object.key });
    return stagedFromManifest(input, previous, mKey);
  }

  // 1. The S1 result (the collector's report, or its whole collection if it fell back) is evidence of its own.
  const first = await resultLink(deps.s1, task.childTaskId);
  let pending: string | undefined = first.downloadUrl;
  const s1Result = await stageToS3({
    s3: deps.s3,
    bucket: deps.bucket,
    key: evidenceKey(investigation.investigationId, target.agentId, task.childTaskId, first.fileName),
    metadata: {
      'investigation-id': investigation.investigationId,
      'agent-id': target.agentId,
      's1-parent-task-id': task.parentTaskId,
      's1-task-id': task.childTaskId,
    },
    download: {
      policy: deps.downloadPolicy,
      maxBytes: deps.maxResultBytes,
      deadline: deps.deadline,
      getUrl: async () => {
        const url = pending ?? (await resultLink(deps.s1, task.childTaskId)).downloadUrl;
        pending = undefined;
        return url;
      },
    },
  });
  const s1Integrity = resultIntegrity(s1ResultSha256(task.resultSignature, first.fileName), [s1Result]);
  const version = {
    bucket: s1Result.bucket,
    key: s1Result.key,
    versionId: s1Result.versionId,
    etag: s1Result.etag,
  };
  const text = await readZipText(deps.s3, version, s1Result.bytes, REPORT_NAME, MAX_REPORT_BYTES).catch(
    () => undefined,
  );
  const { report, problem } = parseReport(text);
  const record = (status: DirectUploadManifest['status'], problems: string[]): DirectUploadManifest => ({
    status,
    reason: upload.reason,
    key: upload.key,
    uploadId: upload.uploadId,
    partUrls: upload.parts,
    urlLifetimeSeconds: presignSeconds(target.script.runtimeTimeoutSeconds, deps.graceSeconds),
    s1Result: { key: s1Result.key, versionId: s1Result.versionId, sha256: s1Result.sha256 },
    collectorSha256: report?.sha256 ?? null,
    bytes: report?.bytes ?? null,
    parts: report?.parts ?? [],
    problems,
  });
  const writtenAt = () => new Date(deps.now()).toISOString();

  // 2. No completed upload reported: the S1 result is the evidence, exactly as Stage Output stages it.
  if (!report || report.status !== 'uploaded' || s1Integrity.status === 'mismatch') {
    const why =
      s1Integrity.status === 'mismatch'
        ? "the S1 result does not match S1's hash, so its report is not trusted"
        : (problem ??
          `the collector reports the upload ${report?.status}: ${report?.reason ?? 'no reason given'}`);
    if (s1Integrity.status !== 'mismatch') await abortDirectUpload(deps.s3, upload);
    const manifest: Manifest = {
      ...stagingManifest({
        input,
        fileName: first.fileName,
        staged: s1Result,
        writtenAt: writtenAt(),
        version: deps.version,
        integrity: s1Integrity,
      }),
      directUpload: record(s1Integrity.status === 'mismatch' ? 'mismatch' : 'not_used', [why]),
      writtenBy: 'complete-upload',
    };
    await putJson(deps.s3, deps.bucket, mKey, manifest, { createOnly: true });
    if (s1Integrity.status === 'mismatch') {
      metrics.addMetric(METRICS.integrityFailures, 'Count', 1);
      throw new EvidenceIntegrityError(
        `The S1 result of task ${task.childTaskId} does not match S1's hash; the direct upload ${upload.uploadId} was not completed (manifest ${mKey}); not handed to Cado`,
        { details: { key: s1Result.key, manifestKey: mKey, uploadId: upload.uploadId } },
      );
    }
    logger.warn('The collector did not upload directly; its S1 result is the evidence', { reason: why });
    return stagedEvidence(input, first.fileName, s1Result, mKey);
  }

  // 3. The report against what S3 holds, then completion with exactly the reported parts.
  const listed = await listAllParts(deps.s3, upload);
  const problems = compareParts(report, listed);
  if (problems.length > 0) {
    await writeMismatch(deps, input, mKey, s1Result, first.fileName, record('mismatch', problems), report);
    metrics.addMetric(METRICS.integrityFailures, 'Count', 1);
    throw new EvidenceIntegrityError(
      `The parts S3 holds for ${upload.key} do not match the collector's report: ${problems.slice(0, 5).join('; ')}. ` +
        `Not completed (upload ${upload.uploadId} kept until the bucket's lifecycle aborts it; manifest ${mKey}); not handed to Cado`,
      { details: { key: upload.key, manifestKey: mKey, uploadId: upload.uploadId } },
    );
  }
  const startedAt = writtenAt();
  const object = await completeDirectUpload(deps.s3, upload, report, listed);
  const staged: StagedObject = {
    bucket: upload.bucket,
    key: upload.key,
    versionId: object.versionId,
    bytes: object.bytes,
    sha256: report.sha256,
    etag: object.etag,
    download: { resumes: 0, linkRefreshes: 0, totalBytes: object.bytes } as StagedObject['download'],
    startedAt,
    finishedAt: writtenAt(),
  };
  const fileName = 'collection.zip';
  const base = stagingManifest({
    input,
    fileName,
    staged,
    writtenAt: writtenAt(),
    version: deps.version,
    integrity: s1Integrity,
  });
  const manifest: Manifest = {
    ...base,
    // S1's signature covers the S1 result (the report), not the object the collector uploaded.
    result: { ...base.result, fileName: first.fileName, s1SignatureMatches: s1IntegrityMatches(s1Integrity) },
    object: { ...base.object, s3ChecksumAlgorithm: 'Content-MD5 per part' },
    directUpload: record('completed', []),
    timeline: [
      ...base.timeline.filter((e) => e.event !== 'download-started'),
      {
        event: 'direct-upload-completed',
        at: staged.finishedAt,
        detail: `${report.parts.length} parts, ${report.bytes} bytes, collector sha256 ${report.sha256}`,
      },
    ],
    writtenBy: 'complete-upload',
  };
  await putJson(deps.s3, deps.bucket, mKey, manifest, { createOnly: true });
  metrics.addMetric(METRICS.stagedBytes, 'Bytes', staged.bytes);
  logger.info('Direct upload completed', {
    key: staged.key,
    bytes: staged.bytes,
    sha256: staged.sha256,
    parts: report.parts.length,
  });
  const state = stagedEvidence(input, fileName, staged, mKey);
  return {
    ...state,
    evidence: {
      ...state.evidence,
      s1Signature: base.result.s1Signature,
      s1SignatureMatches: s1IntegrityMatches(s1Integrity),
    },
  };
}

function s1IntegrityMatches(integrity: { status: string }): boolean | null {
  return integrity.status === 'not_available' ? null : integrity.status === 'verified';
}

async function writeMismatch(
  deps: CompleteUploadDeps,
  input: CompletedTask,
  mKey: string,
  s1Result: StagedObject,
  fileName: string,
  direct: DirectUploadManifest,
  report: UploadReport,
): Promise<void> {
  const base = stagingManifest({
    input,
    fileName,
    staged: s1Result,
    writtenAt: new Date(deps.now()).toISOString(),
    version: deps.version,
  });
  const manifest: Manifest = {
    ...base,
    directUpload: direct,
    handoff: {
      status: 'failed',
      reason: `not handed to Cado: the direct upload does not match the collector's report (sha256 ${report.sha256})`,
      rerunCommand: base.handoff.rerunCommand,
    },
    writtenBy: 'complete-upload',
  };
  await putJson(deps.s3, deps.bucket, mKey, manifest, { createOnly: true });
}
