/**
 * Stage Output: asks S1 for the result link of the agent's child task, streams the file into the evidence bucket
 * (multipart, SHA-256 on the way, size verified, resumed with Range after a break, with a fresh link after expiry),
 * and writes the chain-of-custody manifest next to it. The link is a presigned secret: it is never logged, stored
 * or passed on, and the S1 token is never sent to it.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { METRICS } from '../shared/contract';
import { ResultNotAvailableError } from '../shared/errors';
import { evidenceKey, manifestKey } from '../shared/evidence/keys';
import {
  handoffCommand,
  MANIFEST_SCHEMA,
  type Manifest,
  putJson,
  TOOL_NAME,
} from '../shared/evidence/manifest';
import { PART_CHECKSUM_ALGORITHM, type StagedObject, stageToS3 } from '../shared/evidence/stage-to-s3';
import type { HostPolicy } from '../shared/hosts';
import { logger, metrics } from '../shared/observability';
import type { CompletedTask, StagedEvidence } from '../shared/schemas';
import type { ResultLink, S1Client } from '../shared/sentinelone';

/** Dependencies of {@link stageOutput}. */
export interface StageOutputDeps {
  readonly s1: S1Client;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly downloadPolicy: HostPolicy;
  /** The largest result accepted (announced Content-Length), in bytes: `maxResultBytes` of the config. */
  readonly maxResultBytes: number;
  readonly now: () => number;
  /** Clock time by which no new resume may start (leaves the Lambda time to finish cleanly). */
  readonly deadline: number;
  readonly version: string;
  readonly partSizeBytes?: number;
  readonly onProgress?: (bytes: number, total: number) => void;
}

async function resultLink(s1: S1Client, childTaskId: string): Promise<ResultLink> {
  const { links, errors } = await s1.fetchFiles([childTaskId]);
  const link = links.find((l) => l.taskId === childTaskId);
  if (link) return link;
  const why = errors.find((e) => e.taskId === childTaskId)?.errorString ?? 'no download link was returned';
  throw new ResultNotAvailableError(`S1 offers no result file for task ${childTaskId}: ${why}`);
}

/**
 * S1's result signature against our SHA-256 of the staged bytes: `true`/`false` when S1 gave a SHA-256 (any case),
 * `null` when it gave none or something else (S1 does not document what it signs, so nothing is inferred).
 */
export function signatureCheck(
  s1Signature: string | null | undefined,
  sha256: string,
): { s1Signature: string | null; s1SignatureMatches: boolean | null } {
  const signature = s1Signature ?? null;
  const comparable = signature !== null && /^[0-9a-f]{64}$/i.test(signature);
  return {
    s1Signature: signature,
    s1SignatureMatches: comparable ? signature.toLowerCase() === sha256 : null,
  };
}

/** What staging produced, as plain data: everything the first manifest is built from. */
export interface StagingFacts {
  /** The state Stage Output was given. */
  readonly input: CompletedTask;
  /** The result file's name as S1 gave it. */
  readonly fileName: string;
  /** The object stored in the evidence bucket. */
  readonly staged: StagedObject;
  /** When the manifest is written. */
  readonly writtenAt: string;
  /** The tool's version. */
  readonly version: string;
}

/**
 * The first manifest of one agent's collection (Record Outcome writes the final one): who asked, the agent, the
 * script, the S1 tasks and what S1 said, the stored object with its SHA-256, the download, and the timeline up to
 * `staged`. The hand-off is `pending` and Cado is not involved yet.
 */
export function stagingManifest(facts: StagingFacts): Manifest {
  const { input, fileName, staged, writtenAt, version } = facts;
  const { investigation, target, task } = input;
  const { script, ...agent } = target;
  const signature = signatureCheck(task.resultSignature, staged.sha256);
  return {
    schema: MANIFEST_SCHEMA,
    investigation,
    agent,
    script,
    s1Task: {
      parentTaskId: task.parentTaskId,
      childTaskId: task.childTaskId,
      description: task.description,
      status: task.status,
      detailedStatus: task.detailedStatus,
      statusCode: task.statusCode,
      ...(task.scriptFailure ? { scriptFailure: task.scriptFailure } : {}),
      reusedExisting: task.reusedExisting,
    },
    result: {
      fileName,
      s1Signature: signature.s1Signature,
      s1SignatureType: 'SHA256',
      s1SignatureMatches: signature.s1SignatureMatches,
    },
    object: {
      bucket: staged.bucket,
      key: staged.key,
      versionId: staged.versionId,
      bytes: staged.bytes,
      sha256: staged.sha256,
      etag: staged.etag,
      s3ChecksumAlgorithm: PART_CHECKSUM_ALGORITHM,
    },
    download: {
      resumes: staged.download.resumes,
      linkRefreshes: staged.download.linkRefreshes,
      startedAt: staged.startedAt,
      finishedAt: staged.finishedAt,
    },
    timeline: [
      { event: 'investigation-started', at: investigation.startedAt },
      { event: 'task-started', at: task.startedAt, detail: `S1 parent task ${task.parentTaskId}` },
      { event: 'task-completed', at: task.checkedAt, detail: task.detailedStatus ?? task.status },
      { event: 'download-started', at: staged.startedAt },
      { event: 'staged', at: staged.finishedAt, detail: `${staged.bytes} bytes, sha256 ${staged.sha256}` },
    ],
    cado: null,
    handoff: { status: 'pending', rerunCommand: handoffCommand(investigation.investigationId) },
    tool: { name: TOOL_NAME, version },
    writtenAt,
    writtenBy: 'stage-output',
  };
}

/** The state after Stage Output: the task with its staged evidence. */
export function stagedEvidence(
  input: CompletedTask,
  fileName: string,
  staged: StagedObject,
  manifestKey: string,
): StagedEvidence {
  return {
    ...input,
    evidence: {
      bucket: staged.bucket,
      key: staged.key,
      versionId: staged.versionId,
      bytes: staged.bytes,
      sha256: staged.sha256,
      fileName,
      manifestKey,
      ...signatureCheck(input.task.resultSignature, staged.sha256),
      stagedAt: staged.finishedAt,
    },
  };
}

/** Stages one agent's result and writes its manifest. */
export async function stageOutput(input: CompletedTask, deps: StageOutputDeps): Promise<StagedEvidence> {
  const { investigation, target, task } = input;
  const first = await resultLink(deps.s1, task.childTaskId);
  let usedFirst = false;
  const key = evidenceKey(investigation.investigationId, target.agentId, task.childTaskId, first.fileName);

  const staged = await stageToS3({
    s3: deps.s3,
    bucket: deps.bucket,
    key,
    partSizeBytes: deps.partSizeBytes,
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
      onProgress: deps.onProgress,
      getUrl: async () => {
        if (!usedFirst) {
          usedFirst = true;
          return first.downloadUrl;
        }
        return (await resultLink(deps.s1, task.childTaskId)).downloadUrl;
      },
    },
  });

  const mKey = manifestKey(investigation.investigationId, target.agentId, task.childTaskId);
  const manifest = stagingManifest({
    input,
    fileName: first.fileName,
    staged,
    writtenAt: new Date(deps.now()).toISOString(),
    version: deps.version,
  });
  if (manifest.result.s1SignatureMatches === false) {
    // S1 does not document what its signature covers, so a mismatch is flagged, not fatal; the manifest says so.
    logger.warn('S1 result signature differs from the SHA-256 of the staged file', { key });
  }
  await putJson(deps.s3, deps.bucket, mKey, manifest);

  metrics.addMetric(METRICS.stagedBytes, 'Bytes', staged.bytes);
  metrics.addMetric('DownloadResumes', 'Count', staged.download.resumes);
  logger.info('Evidence staged', {
    key,
    bytes: staged.bytes,
    sha256: staged.sha256,
    resumes: staged.download.resumes,
    linkRefreshes: staged.download.linkRefreshes,
  });
  return stagedEvidence(input, first.fileName, staged, mKey);
}
