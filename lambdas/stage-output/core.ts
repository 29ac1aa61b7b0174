/**
 * Stage Output: asks S1 for the result link of the agent's child task, streams the file into the evidence bucket
 * (multipart, SHA-256 on the way, size verified, resumed with Range after a break, with a fresh link after expiry),
 * and writes the chain-of-custody manifest next to it. The link is a presigned secret: it is never logged, stored
 * or passed on, and the S1 token is never sent to it.
 *
 * When S1 gives a comparable hash of the result (`scriptResultsSignature`, or a file named `<sha256>.zip`) and the
 * staged SHA-256 differs, the result is fetched once more (under a key of its own: nothing is overwritten). Still
 * different: every mismatching object is kept, tagged `integrity=mismatch`, the manifest records both hashes, and
 * the agent fails with {@link EvidenceIntegrityError}, so it is never handed to Cado.
 */
import { PutObjectTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import { type LegalHoldMode, METRICS } from '../shared/contract';
import type { ResultLinks } from '../shared/coordination/result-links';
import { EvidenceIntegrityError, ResultNotAvailableError } from '../shared/errors';
import { evidenceKey, manifestKey, safeFileName } from '../shared/evidence/keys';
import {
  getJson,
  handoffCommand,
  MANIFEST_SCHEMA,
  Manifest,
  putJson,
  type ResultIntegrity,
  type StagingAttempt,
  TOOL_NAME,
} from '../shared/evidence/manifest';
import { PART_CHECKSUM_ALGORITHM, type StagedObject, stageToS3 } from '../shared/evidence/stage-to-s3';
import type { HostPolicy } from '../shared/hosts';
import { logger, metrics } from '../shared/observability';
import type { CompletedTask, StagedEvidence } from '../shared/schemas';
import { signatureSha256 } from '../shared/script-library';
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
  /** The legal hold to place on the evidence object. @default "none" */
  readonly legalHold?: LegalHoldMode;
  readonly partSizeBytes?: number;
  readonly onProgress?: (bytes: number, total: number) => void;
  /** Links the Task Watcher fetched ahead (result-links.ts); without one, or without these, S1 is asked. */
  readonly fetchedLinks?: Pick<ResultLinks, 'find' | 'drop'>;
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
  const comparable = signatureSha256(signature);
  return {
    s1Signature: signature,
    s1SignatureMatches: comparable === undefined ? null : comparable === sha256,
  };
}

/** S1's hash of the result, if it gives one we can compare: `scriptResultsSignature` first, then `<sha256>.zip`. */
export function s1ResultSha256(
  resultSignature: string | null | undefined,
  fileName: string,
): { sha256: string; source: 'scriptResultsSignature' | 'fileName' } | undefined {
  const fromSignature = signatureSha256(resultSignature);
  if (fromSignature !== undefined) return { sha256: fromSignature, source: 'scriptResultsSignature' };
  const named = /^([0-9a-f]{64})\.zip$/i.exec(fileName)?.[1];
  return named ? { sha256: named.toLowerCase(), source: 'fileName' } : undefined;
}

/** The integrity link of S1's hash and ours, over every staging attempt (the last one is the evidence). */
export function resultIntegrity(
  expected: ReturnType<typeof s1ResultSha256>,
  attempts: readonly StagedObject[],
): ResultIntegrity {
  const last = attempts[attempts.length - 1] as StagedObject;
  const matches = (o: StagedObject) => (expected ? o.sha256 === expected.sha256 : null);
  return {
    status: !expected ? 'not_available' : matches(last) ? 'verified' : 'mismatch',
    s1Sha256: expected?.sha256 ?? null,
    s1Source: expected?.source ?? null,
    stagedSha256: last.sha256,
    attempts: attempts.map(
      (o): StagingAttempt => ({
        key: o.key,
        versionId: o.versionId,
        bytes: o.bytes,
        sha256: o.sha256,
        matchesS1: matches(o),
        tag: matches(o) === false ? 'mismatch' : null,
      }),
    ),
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
  /** S1's result hash against every attempt. @default not available, one attempt: `staged` */
  readonly integrity?: ResultIntegrity;
}

/**
 * The first manifest of one agent's collection (Record Outcome writes the final one): who asked, the agent, the
 * script, the S1 tasks and what S1 said, the stored object with its SHA-256, the download, and the timeline up to
 * `staged`. The hand-off is `pending` and Cado is not involved yet.
 */
export function stagingManifest(facts: StagingFacts): Manifest {
  const { input, fileName, staged, writtenAt, version } = facts;
  const integrity = facts.integrity ?? resultIntegrity(undefined, [staged]);
  const failed = integrity.status === 'mismatch';
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
    integrity,
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
      ...(failed
        ? [
            {
              event: 'integrity-mismatch',
              at: writtenAt,
              detail: `S1 ${integrity.s1Source} ${integrity.s1Sha256}, staged ${integrity.stagedSha256}`,
            },
          ]
        : []),
    ],
    cado: null,
    handoff: failed
      ? {
          status: 'failed',
          reason: `not handed to Cado: the staged SHA-256 differs from S1's result hash after ${integrity.attempts.length} downloads`,
          rerunCommand: handoffCommand(investigation.investigationId),
        }
      : { status: 'pending', rerunCommand: handoffCommand(investigation.investigationId) },
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
      etag: staged.etag,
      bytes: staged.bytes,
      sha256: staged.sha256,
      fileName,
      manifestKey,
      ...signatureCheck(input.task.resultSignature, staged.sha256),
      stagedAt: staged.finishedAt,
    },
  };
}

/** The state after Stage Output from the first manifest a previous attempt wrote (a retried Stage Output). */
export function stagedFromManifest(input: CompletedTask, manifest: Manifest, mKey: string): StagedEvidence {
  const { object, result } = manifest;
  if (manifest.integrity?.status === 'mismatch') {
    throw new EvidenceIntegrityError(
      `A previous attempt found the result of S1 task ${input.task.childTaskId} does not match S1's hash (manifest ${mKey}); kept, not handed to Cado`,
      { details: { key: object.key, manifestKey: mKey } },
    );
  }
  return {
    ...input,
    evidence: {
      bucket: object.bucket,
      key: object.key,
      versionId: object.versionId,
      etag: object.etag,
      bytes: object.bytes,
      sha256: object.sha256,
      fileName: result.fileName,
      manifestKey: mKey,
      s1Signature: result.s1Signature,
      s1SignatureMatches: result.s1SignatureMatches,
      stagedAt: manifest.download.finishedAt,
    },
  };
}

/**
 * Stages one agent's result and writes its manifest. Evidence and first manifest are written once: a retry after
 * both were written answers from the manifest (no second download); an evidence key that exists without a
 * manifest is refused by S3 and fails the agent, the object kept as it is.
 */
export async function stageOutput(input: CompletedTask, deps: StageOutputDeps): Promise<StagedEvidence> {
  const { investigation, target, task } = input;
  const mKey = manifestKey(investigation.investigationId, target.agentId, task.childTaskId);
  const previous = await getJson(deps.s3, deps.bucket, mKey, Manifest);
  if (previous) {
    logger.info('Evidence already staged by a previous attempt', { key: previous.object.key });
    return stagedFromManifest(input, previous, mKey);
  }
  const fetched = await deps.fetchedLinks?.find(task.childTaskId);
  const first = fetched ?? (await resultLink(deps.s1, task.childTaskId));
  const key = evidenceKey(investigation.investigationId, target.agentId, task.childTaskId, first.fileName);
  const expected = s1ResultSha256(task.resultSignature, first.fileName);

  const stage = (objectKey: string, firstUrl: string | undefined) => {
    let pending = firstUrl;
    return stageToS3({
      s3: deps.s3,
      bucket: deps.bucket,
      key: objectKey,
      partSizeBytes: deps.partSizeBytes,
      legalHold:
        deps.legalHold === 'always' ||
        (deps.legalHold === 'on-threat' && investigation.threatId !== undefined),
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
          if (pending !== undefined) {
            const url = pending;
            pending = undefined;
            return url;
          }
          return (await resultLink(deps.s1, task.childTaskId)).downloadUrl;
        },
      },
    });
  };

  const attempts = [await stage(key, first.downloadUrl)];
  if (expected && attempts[0]?.sha256 !== expected.sha256) {
    logger.warn('Staged SHA-256 differs from S1’s result hash; fetching the result once more', {
      key,
      s1Sha256: expected.sha256,
      s1Source: expected.source,
      stagedSha256: attempts[0]?.sha256,
    });
    const again = evidenceKey(
      investigation.investigationId,
      target.agentId,
      task.childTaskId,
      `refetch-${safeFileName(first.fileName)}`,
    );
    attempts.push(await stage(again, undefined));
  }
  const integrity = resultIntegrity(expected, attempts);
  for (const attempt of integrity.attempts.filter((a) => a.tag === 'mismatch')) {
    await tagMismatch(deps, attempt);
  }
  const staged =
    integrity.status === 'mismatch' ? (attempts[0] as StagedObject) : (attempts.at(-1) as StagedObject);

  const manifest = stagingManifest({
    input,
    fileName: first.fileName,
    staged,
    writtenAt: new Date(deps.now()).toISOString(),
    version: deps.version,
    integrity,
  });
  await putJson(deps.s3, deps.bucket, mKey, manifest, { createOnly: true });
  if (fetched) await deps.fetchedLinks?.drop(task.childTaskId, fetched.writeId);

  if (integrity.status === 'mismatch') {
    metrics.addMetric(METRICS.integrityFailures, 'Count', 1);
    throw new EvidenceIntegrityError(
      `The result of S1 task ${task.childTaskId} does not match S1's hash after ${attempts.length} downloads: ` +
        `S1 ${expected?.source} ${expected?.sha256}, staged ${attempts.map((a) => a.sha256).join(' and ')}. ` +
        `Kept as s3://${deps.bucket}/${staged.key} (tagged integrity=mismatch, manifest ${mKey}); not handed to Cado`,
      {
        details: {
          key: staged.key,
          manifestKey: mKey,
          s1Sha256: expected?.sha256 ?? null,
          stagedSha256: staged.sha256,
        },
      },
    );
  }

  metrics.addMetric(METRICS.stagedBytes, 'Bytes', staged.bytes);
  metrics.addMetric('DownloadResumes', 'Count', staged.download.resumes);
  logger.info('Evidence staged', {
    key: staged.key,
    bytes: staged.bytes,
    sha256: staged.sha256,
    integrity: integrity.status,
    resumes: staged.download.resumes,
    linkRefreshes: staged.download.linkRefreshes,
  });
  return stagedEvidence(input, first.fileName, staged, mKey);
}

/** Tags a staged object `integrity=mismatch` (the version that was staged, when the bucket is versioned). */
async function tagMismatch(deps: StageOutputDeps, attempt: StagingAttempt): Promise<void> {
  await deps.s3.send(
    new PutObjectTaggingCommand({
      Bucket: deps.bucket,
      Key: attempt.key,
      ...(attempt.versionId ? { VersionId: attempt.versionId } : {}),
      Tagging: { TagSet: [{ Key: 'integrity', Value: 'mismatch' }] },
    }),
  );
}
