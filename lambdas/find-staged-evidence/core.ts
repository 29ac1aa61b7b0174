/**
 * Find Staged Evidence, the first state of the hand-off re-run: reads an investigation's `case.json` and manifests
 * and lists every collection whose evidence is staged but was not processed by Cado (case.json says
 * `staged_handoff_failed`, or the manifest's hand-off is not complete). For each one the staged object must still
 * exist with the size its manifest records; the Hand To Cado input is rebuilt from the manifest. A pipeline that
 * may still be running is followed (Check Cado), not imported twice. It writes nothing: Record Outcome does.
 */
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CaseNotFoundError } from '../shared/errors';
import { CaseRecord } from '../shared/evidence/case-record';
import { caseKey, investigationPrefix } from '../shared/evidence/keys';
import { getJson, Manifest } from '../shared/evidence/manifest';
import { logger } from '../shared/observability';
import type {
  Evidence,
  HandoffRerunInput,
  Investigation,
  RefusedEvidence,
  RerunItem,
  StagedEvidence,
  StagedForRerun,
} from '../shared/schemas';

/** Dependencies of {@link findStagedEvidence}. */
export interface FindStagedEvidenceDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly now: () => number;
}

/** The `evidence` part of the workflow state, as the manifest records it. */
export function evidenceOf(manifest: Manifest, manifestKey: string): Evidence {
  return {
    bucket: manifest.object.bucket,
    key: manifest.object.key,
    versionId: manifest.object.versionId,
    bytes: manifest.object.bytes,
    sha256: manifest.object.sha256,
    fileName: manifest.result.fileName,
    manifestKey,
    s1Signature: manifest.result.s1Signature,
    s1SignatureMatches: manifest.result.s1SignatureMatches,
    stagedAt: manifest.download.finishedAt,
  };
}

/** The Hand To Cado input of a staged collection, rebuilt from its manifest. */
export function stagedEvidenceFrom(manifest: Manifest, manifestKey: string): StagedEvidence {
  const at = (event: string) => manifest.timeline.find((e) => e.event === event)?.at;
  const completedAt = at('task-completed') ?? manifest.download.startedAt;
  return {
    investigation: manifest.investigation,
    target: { ...manifest.agent, script: manifest.script },
    task: {
      parentTaskId: manifest.s1Task.parentTaskId,
      childTaskId: manifest.s1Task.childTaskId,
      description: manifest.s1Task.description,
      status: manifest.s1Task.status,
      detailedStatus: manifest.s1Task.detailedStatus,
      statusCode: manifest.s1Task.statusCode,
      ...(manifest.s1Task.scriptFailure ? { scriptFailure: manifest.s1Task.scriptFailure } : {}),
      reusedExisting: manifest.s1Task.reusedExisting,
      resultSignature: manifest.result.s1Signature ?? undefined,
      phase: 'completed',
      startedAt: at('task-started') ?? completedAt,
      checkedAt: completedAt,
      // The manifest does not keep the S1 task's deadline; no step after Stage Output reads it.
      deadline: completedAt,
    },
    poll: { attempt: 0, waitSeconds: 1, deadline: completedAt },
    evidence: evidenceOf(manifest, manifestKey),
  };
}

/**
 * What the re-run does with one staged collection: follow a pipeline that may still be running (its phase was
 * `running`, or `deadline`: still running when the hand-off gave up), for as long again as the first hand-off
 * allowed; otherwise import anew.
 */
export function rerunItemFrom(manifest: Manifest, manifestKey: string, nowMs: number): RerunItem {
  const staged = stagedEvidenceFrom(manifest, manifestKey);
  const earlier = manifest.cado;
  if (!earlier || (earlier.phase !== 'running' && earlier.phase !== 'deadline')) return staged;
  const window = Math.max(60_000, Date.parse(earlier.deadline) - Date.parse(earlier.startedAt) || 0);
  const deadline = new Date(nowMs + window).toISOString();
  return {
    ...staged,
    cado: { ...earlier, phase: 'running', deadline },
    poll: { attempt: 0, waitSeconds: 1, deadline },
  };
}

/** The investigation as the re-run's steps see it, from case.json. */
function investigationOf(record: CaseRecord): Investigation {
  return {
    investigationId: record.investigationId,
    ...(record.executionArn ? { executionArn: record.executionArn } : {}),
    ...(record.threatId ? { threatId: record.threatId } : {}),
    requestedBy: record.requestedBy ?? 'unknown',
    ...(record.reason ? { reason: record.reason } : {}),
    startedAt: record.startedAt ?? record.finishedAt,
  };
}

async function manifestKeysOf(deps: FindStagedEvidenceDeps, investigationId: string): Promise<string[]> {
  const prefix = investigationPrefix(investigationId);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const parts = (object.Key ?? '').slice(prefix.length).split('/');
      if (parts.length === 3 && parts[2] === 'manifest.json') keys.push(object.Key as string);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Why the staged object cannot be handed off again, or undefined when it is still there with the manifest's size. */
async function objectProblem(deps: FindStagedEvidenceDeps, manifest: Manifest): Promise<string | undefined> {
  const { bucket, key, versionId, bytes } = manifest.object;
  const where = `s3://${bucket}/${key}${versionId ? ` (version ${versionId})` : ''}`;
  let size: number | undefined;
  try {
    const head = await deps.s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
    );
    size = head.ContentLength;
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchVersion') {
      return `The staged evidence ${where} no longer exists`;
    }
    throw error;
  }
  if (size !== bytes) {
    return `The staged evidence ${where} is ${size ?? 'of unknown size'} bytes; the manifest records ${bytes}`;
  }
  return undefined;
}

/** Finds what to hand off again. */
export async function findStagedEvidence(
  input: HandoffRerunInput,
  execution: { name?: string },
  deps: FindStagedEvidenceDeps,
): Promise<StagedForRerun> {
  const { investigationId } = input;
  const record = await getJson(deps.s3, deps.bucket, caseKey(investigationId), CaseRecord);
  if (!record) {
    throw new CaseNotFoundError(
      `No case.json for ${investigationId} in s3://${deps.bucket}: the investigation has not finished (its own ` +
        `hand-off may still be running; see npx s1cado status ${investigationId}), or the id is wrong`,
    );
  }
  const nowMs = deps.now();
  const staged: RerunItem[] = [];
  const refused: RefusedEvidence[] = [];

  const keys = new Set<string>();
  for (const agent of record.agents) {
    if (agent.outcome === 'staged_handoff_failed' && agent.evidence) keys.add(agent.evidence.manifestKey);
  }
  for (const key of await manifestKeysOf(deps, investigationId)) keys.add(key);

  for (const manifestKey of [...keys].sort()) {
    const named = record.agents.find((a) => a.evidence?.manifestKey === manifestKey);
    let manifest: Manifest | undefined;
    try {
      manifest = await getJson(deps.s3, deps.bucket, manifestKey, Manifest);
    } catch (error) {
      const { name, message } = error as Error;
      refused.push({ agentId: named?.agentId ?? 'unknown', manifestKey, reason: `${name}: ${message}` });
      continue;
    }
    if (!manifest) {
      refused.push({
        agentId: named?.agentId ?? 'unknown',
        manifestKey,
        reason: 'case.json names this manifest but it does not exist',
      });
      continue;
    }
    // A staged collection whose line in case.json has no evidence (its branch failed after staging) is matched by
    // agent id: its evidence is safe and worth handing off too.
    const line =
      named ?? record.agents.find((a) => a.agentId === manifest.agent.agentId && !a.evidence) ?? undefined;
    if (line?.outcome === 'complete') continue;
    if (manifest.handoff.status === 'complete' && line?.outcome !== 'staged_handoff_failed') continue;
    const problem = await objectProblem(deps, manifest);
    if (problem) {
      refused.push({
        agentId: manifest.agent.agentId,
        computerName: manifest.agent.computerName,
        manifestKey,
        reason: problem,
      });
      continue;
    }
    staged.push(rerunItemFrom(manifest, manifestKey, nowMs));
  }
  logger.info('Staged evidence found', { staged: staged.length, refused: refused.length });
  return {
    investigation: investigationOf(record),
    rerun: {
      at: new Date(nowMs).toISOString(),
      by: input.requestedBy,
      ...(execution.name ? { executionName: execution.name } : {}),
    },
    staged,
    refused,
  };
}
