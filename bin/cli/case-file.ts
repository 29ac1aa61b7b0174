/**
 * Reading the investigation's files in the evidence bucket: `case.json` (written by Record Outcome, updated by
 * `handoff`), the manifests, and what the bucket says about a running investigation's progress.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CaseRecord } from '../../lambdas/shared/evidence/case-record';
import { caseKey, investigationPrefix } from '../../lambdas/shared/evidence/keys';
import { getJson } from '../../lambdas/shared/evidence/manifest';

/** Reads `case.json`; undefined when the investigation has not written it (yet). */
export function readCase(
  s3: S3Client,
  bucket: string,
  investigationId: string,
): Promise<CaseRecord | undefined> {
  return getJson(s3, bucket, caseKey(investigationId), CaseRecord);
}

/** What the bucket shows of an investigation: S1 tasks started and evidence staged, by agent id. */
export interface BucketProgress {
  readonly tasksStarted: ReadonlySet<string>;
  readonly staged: ReadonlySet<string>;
  /** Keys of every `manifest.json`. */
  readonly manifestKeys: readonly string[];
  readonly caseWritten: boolean;
}

/** Lists the investigation's prefix (an investigation has at most 50 agents: a few pages at most). */
export async function bucketProgress(
  s3: S3Client,
  bucket: string,
  investigationId: string,
): Promise<BucketProgress> {
  const prefix = investigationPrefix(investigationId);
  const tasksStarted = new Set<string>();
  const staged = new Set<string>();
  const manifestKeys: string[] = [];
  let caseWritten = false;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const rest = (object.Key ?? '').slice(prefix.length);
      const [agentId = '', second, third] = rest.split('/');
      if (rest === 'case.json') caseWritten = true;
      else if (second === 'task.json' && third === undefined) tasksStarted.add(agentId);
      else if (third === 'manifest.json') {
        staged.add(agentId);
        manifestKeys.push(object.Key as string);
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { tasksStarted, staged, manifestKeys, caseWritten };
}
