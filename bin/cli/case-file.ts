/**
 * Reading the investigation's files in the evidence bucket: `case.json` (written by Record Outcome, updated by
 * `handoff`), the manifests, and what the bucket says about a running investigation's progress.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import {
  type AgentOutcome,
  AgentOutcomeStatus,
  type CaseRecord,
  CaseStatus,
} from '../../lambdas/record-outcome/core';
import { caseKey, investigationPrefix } from '../../lambdas/shared/evidence/keys';
import { getJson } from '../../lambdas/shared/evidence/manifest';

/** One agent's line in `case.json` (tolerant: fields this CLI does not use are kept as they are). */
export const CaseAgent = z.looseObject({
  agentId: z.string(),
  computerName: z.string().optional(),
  osType: z.string().optional(),
  outcome: AgentOutcomeStatus,
  reason: z.string(),
  s1Task: z
    .looseObject({
      parentTaskId: z.string().optional(),
      childTaskId: z.string().optional(),
      status: z.string().optional(),
      detailedStatus: z.string().optional(),
    })
    .optional(),
  evidence: z
    .looseObject({
      bucket: z.string(),
      key: z.string(),
      versionId: z.string().nullable(),
      bytes: z.number(),
      sha256: z.string(),
      manifestKey: z.string(),
    })
    .optional(),
  cado: z
    .looseObject({
      projectId: z.number(),
      projectName: z.string(),
      pipelineId: z.number(),
      phase: z.string(),
      reason: z.string().optional(),
    })
    .optional(),
});
export type CaseAgent = z.infer<typeof CaseAgent>;

/** A run of `s1cado handoff`, as `case.json` records it. */
export const HandoffRerun = z.object({
  at: z.string(),
  by: z.string(),
  agents: z.array(z.object({ agentId: z.string(), outcome: AgentOutcomeStatus, reason: z.string() })),
});
export type HandoffRerun = z.infer<typeof HandoffRerun>;

/** `case.json` as the CLI reads it: the {@link CaseRecord} fields it uses, everything else kept. */
export const CaseFile = z.looseObject({
  schema: z.literal('s1cado/case@1'),
  investigationId: z.string(),
  executionArn: z.string().optional(),
  threatId: z.string().optional(),
  requestedBy: z.string().optional(),
  reason: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string(),
  status: CaseStatus,
  summary: z.string(),
  counts: z.record(z.string(), z.number()),
  agents: z.array(CaseAgent),
  error: z.string().optional(),
  handoffRerunCommand: z.string().optional(),
  handoffReruns: z.array(HandoffRerun).optional(),
});
export type CaseFile = z.infer<typeof CaseFile>;

/** Reads `case.json`; undefined when the investigation has not written it (yet). */
export function readCase(
  s3: S3Client,
  bucket: string,
  investigationId: string,
): Promise<CaseFile | undefined> {
  return getJson(s3, bucket, caseKey(investigationId), CaseFile);
}

/** An agent outcome from Record Outcome's `summarizeAgent`, as a case line. */
export function caseAgentOf(outcome: AgentOutcome): CaseAgent {
  return { ...outcome };
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
