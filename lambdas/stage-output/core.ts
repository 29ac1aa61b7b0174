/**
 * Stage Output: asks S1 for the result link of the agent's child task, streams the file into the evidence bucket
 * (multipart, SHA-256 on the way, size verified, resumed with Range after a break, with a fresh link after expiry),
 * and writes the chain-of-custody manifest next to it. The link is a presigned secret: it is never logged, stored
 * or passed on, and the S1 token is never sent to it.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ResultNotAvailableError } from '../shared/errors';
import { evidenceKey, manifestKey } from '../shared/evidence/keys';
import {
  handoffCommand,
  MANIFEST_SCHEMA,
  type Manifest,
  putJson,
  TOOL_NAME,
} from '../shared/evidence/manifest';
import { PART_CHECKSUM_ALGORITHM, stageToS3 } from '../shared/evidence/stage-to-s3';
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

  const s1Signature = task.resultSignature ?? null;
  const comparable = s1Signature !== null && /^[0-9a-f]{64}$/i.test(s1Signature);
  const s1SignatureMatches = comparable ? s1Signature.toLowerCase() === staged.sha256 : null;
  if (s1SignatureMatches === false) {
    // S1 does not document what its signature covers, so a mismatch is flagged, not fatal; the manifest says so.
    logger.warn('S1 result signature differs from the SHA-256 of the staged file', { key });
  }

  const manifestAt = new Date(deps.now()).toISOString();
  const mKey = manifestKey(investigation.investigationId, target.agentId, task.childTaskId);
  const { script, ...agent } = target;
  const manifest: Manifest = {
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
      reusedExisting: task.reusedExisting,
    },
    result: { fileName: first.fileName, s1Signature, s1SignatureType: 'SHA256', s1SignatureMatches },
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
    tool: { name: TOOL_NAME, version: deps.version },
    writtenAt: manifestAt,
    writtenBy: 'stage-output',
  };
  await putJson(deps.s3, deps.bucket, mKey, manifest);

  metrics.addMetric('EvidenceStagedBytes', 'Bytes', staged.bytes);
  metrics.addMetric('DownloadResumes', 'Count', staged.download.resumes);
  logger.info('Evidence staged', {
    key,
    bytes: staged.bytes,
    sha256: staged.sha256,
    resumes: staged.download.resumes,
    linkRefreshes: staged.download.linkRefreshes,
  });
  return {
    ...input,
    evidence: {
      bucket: staged.bucket,
      key: staged.key,
      versionId: staged.versionId,
      bytes: staged.bytes,
      sha256: staged.sha256,
      fileName: first.fileName,
      manifestKey: mKey,
      s1Signature,
      s1SignatureMatches,
      stagedAt: staged.finishedAt,
    },
  };
}
