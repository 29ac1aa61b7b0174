/**
 * The end of a demo run: what the investigation left in S3, checked independently of the workflow. `case.json`
 * says which agents produced evidence; each evidence object is read back from S3 and hashed here, and the hash
 * must equal the one in its manifest (and, with the S1 simulator, the SHA-256 of the result S1 served).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PROFILE_CONTENTS, type ProfileName } from '../../lambdas/collectors/profiles';
import { CaseRecord } from '../../lambdas/shared/evidence/case-record';
import type { ChainLink } from '../../lambdas/shared/evidence/chain';
import { caseKey } from '../../lambdas/shared/evidence/keys';
import { getJson, Manifest } from '../../lambdas/shared/evidence/manifest';
import { formatBytes, formatDuration } from '../units';
import type { Paint } from './format';
import { outcomeWords } from './reporter';

/** One staged file, re-read and checked. */
export interface EvidenceCheck {
  readonly bucket: string;
  readonly key: string;
  readonly manifestKey: string;
  /** Bytes read back from S3. */
  readonly bytes: number;
  /** SHA-256 of the bytes read back from S3. */
  readonly sha256: string;
  /** What the manifest recorded (null when the manifest could not be read). */
  readonly manifestSha256: string | null;
  readonly manifestBytes: number | null;
  /** SHA-256 of the result the S1 simulator served (null against an external S1). */
  readonly s1ResultSha256: string | null;
  /** Re-read hash = manifest hash (= S1's), and the sizes agree. */
  readonly verified: boolean;
  readonly resumes: number | null;
  readonly linkRefreshes: number | null;
  /** The chain of custody as the final manifest records it, link by link (null when it records none). */
  readonly chain: readonly ChainLink[] | null;
  /** The collector that produced it, as the manifest records it (null when the manifest could not be read). */
  readonly script: {
    readonly libraryName: string;
    readonly profile: string | null;
    readonly sha256: string;
    /** What that profile collects on that OS (its sections). */
    readonly collected: readonly string[];
  } | null;
  /** The object's file in the kept s3rver directory (with `--keep`). */
  localPath?: string;
}

/** One agent in the summary. */
export interface AgentSummary {
  readonly agentId: string;
  readonly computerName: string | null;
  readonly osType: string | null;
  readonly outcome: string;
  readonly reason: string;
  readonly s1Task: {
    readonly parentTaskId: string | null;
    readonly childTaskId: string | null;
    readonly status: string | null;
    readonly detailedStatus: string | null;
  } | null;
  readonly evidence: EvidenceCheck | null;
  /** Collection mode cado-xdr: Cado collected through its SentinelOne integration (no evidence of ours). */
  readonly xdr: {
    readonly accountName: string | null;
    readonly deviceId: string | null;
    readonly custody: readonly { link: string; status: string; detail: string }[];
  } | null;
  readonly cado: {
    readonly projectId: number;
    readonly projectName: string;
    readonly pipelineId: number;
    readonly status: string;
    readonly reason: string | null;
  } | null;
}

/** The whole summary (also the `--json` document). */
export interface DemoSummary {
  readonly investigationId: string;
  readonly executionArn: string;
  /** Step Functions status: SUCCEEDED, FAILED, ABORTED, TIMED_OUT. */
  readonly executionStatus: string;
  readonly executionError: string | null;
  readonly executionCause: string | null;
  /** `case.json` status, or null when no case record was written. */
  readonly caseStatus: string | null;
  readonly caseSummary: string | null;
  readonly caseKey: string;
  /** `case.md` beside it, when Record Outcome wrote one. */
  readonly caseReportKey: string | null;
  readonly handoffRerunCommand: string | null;
  /** Exit code of `s1cado handoff` when the scenario re-ran the hand-off, else null. */
  readonly handoffRerunExitCode: number | null;
  readonly scenario: string;
  readonly expectedCaseStatus: string;
  readonly asExpected: boolean;
  readonly agents: readonly AgentSummary[];
  readonly elapsedSeconds: number;
  readonly simulatedSeconds: number;
  readonly timeScale: number;
  readonly stats: { readonly stateTransitions: number; readonly lambdaInvocations: number } | null;
  readonly s3: { readonly endpoint: string; readonly bucket: string; directory: string | null };
  readonly logFile: string;
  exitCode: number;
}

/** What {@link collectSummary} reads from. */
export interface SummaryInput {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly investigationId: string;
  /** SHA-256 of the result S1 served for a child task (S1 simulator only). */
  readonly s1ResultSha256?: (childTaskId: string) => Promise<string | undefined>;
}

/** Hashes an object as S3 returns it now. */
export async function hashObject(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ sha256: string; bytes: number }> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = out.Body;
  if (!(body instanceof Readable)) throw new TypeError(`s3://${bucket}/${key}: expected a stream body`);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function checkEvidence(
  input: SummaryInput,
  evidence: NonNullable<CaseRecord['agents'][number]['evidence']>,
  childTaskId: string | undefined,
): Promise<EvidenceCheck> {
  const [reread, manifest, s1Sha] = await Promise.all([
    hashObject(input.s3, evidence.bucket, evidence.key),
    getJson(input.s3, evidence.bucket, evidence.manifestKey, Manifest).catch(() => undefined),
    childTaskId && input.s1ResultSha256 ? input.s1ResultSha256(childTaskId) : Promise.resolve(undefined),
  ]);
  const manifestSha256 = manifest?.object.sha256 ?? null;
  const manifestBytes = manifest?.object.bytes ?? null;
  const verified =
    manifestSha256 === reread.sha256 &&
    manifestBytes === reread.bytes &&
    evidence.sha256 === reread.sha256 &&
    (s1Sha === undefined || s1Sha === reread.sha256);
  return {
    bucket: evidence.bucket,
    key: evidence.key,
    manifestKey: evidence.manifestKey,
    bytes: reread.bytes,
    sha256: reread.sha256,
    manifestSha256,
    manifestBytes,
    s1ResultSha256: s1Sha ?? null,
    verified,
    resumes: manifest?.download.resumes ?? null,
    linkRefreshes: manifest?.download.linkRefreshes ?? null,
    chain: manifest?.chain ?? null,
    script: manifest
      ? {
          libraryName: manifest.script.libraryName,
          profile: manifest.script.profile ?? null,
          sha256: manifest.script.sha256,
          collected: manifest.script.profile
            ? PROFILE_CONTENTS[manifest.script.profile as ProfileName].sections[manifest.script.osType]
            : [],
        }
      : null,
  };
}

/** Reads `case.json` and checks every staged file. */
export async function collectAgents(
  input: SummaryInput,
): Promise<{ caseFile: CaseRecord | undefined; agents: AgentSummary[] }> {
  const caseFile = await getJson(input.s3, input.bucket, caseKey(input.investigationId), CaseRecord);
  if (!caseFile) return { caseFile, agents: [] };
  const agents = await Promise.all(
    caseFile.agents.map(
      async (agent): Promise<AgentSummary> => ({
        agentId: agent.agentId,
        computerName: agent.computerName ?? null,
        osType: agent.osType ?? null,
        outcome: agent.outcome,
        reason: agent.reason,
        s1Task: agent.s1Task
          ? {
              parentTaskId: agent.s1Task.parentTaskId ?? null,
              childTaskId: agent.s1Task.childTaskId ?? null,
              status: agent.s1Task.status ?? null,
              detailedStatus: agent.s1Task.detailedStatus ?? null,
            }
          : null,
        evidence: agent.evidence
          ? await checkEvidence(input, agent.evidence, agent.s1Task?.childTaskId)
          : null,
        xdr:
          agent.collectedBy === 'cado-xdr'
            ? {
                accountName: agent.xdr?.accountName ?? null,
                deviceId: agent.xdr?.deviceId ?? null,
                custody: agent.custody ?? [],
              }
            : null,
        cado: agent.cado
          ? {
              projectId: agent.cado.projectId,
              projectName: agent.cado.projectName,
              pipelineId: agent.cado.pipelineId,
              status: agent.cado.phase,
              reason: agent.cado.reason ?? null,
            }
          : null,
      }),
    ),
  );
  return { caseFile, agents };
}

/** Where s3rver keeps an object's bytes inside its directory. */
export function s3rverObjectPath(directory: string, bucket: string, key: string): string {
  const parts = key.split('/');
  const last = parts.pop() ?? '';
  return path.join(directory, bucket, ...parts, `${last}._S3rver_object`);
}

/** The human-readable summary. */
export function renderSummary(summary: DemoSummary, p: Paint, totalMs?: number): string[] {
  const lines: string[] = [];
  const label = (name: string) => p.dim(name.padEnd(17));
  const labelIn = (name: string) => p.dim(name.padEnd(15));
  const ok = summary.executionStatus === 'SUCCEEDED';
  lines.push('', p.bold(`── Summary ${'─'.repeat(60)}`));
  lines.push(
    `${label('investigation')}${p.bold(summary.investigationId)}  ${(ok ? p.green : p.red)(summary.executionStatus)} in ${formatDuration(summary.elapsedSeconds * 1000)} (${formatDuration(summary.simulatedSeconds * 1000)} simulated at ×${summary.timeScale})`,
  );
  if (summary.executionError && !ok) {
    const cause =
      summary.executionCause && summary.executionCause !== summary.caseSummary
        ? ` — ${summary.executionCause}`
        : '';
    lines.push(`${label('error')}${summary.executionError}${cause}`);
  }
  if (summary.caseStatus === null) {
    lines.push(`${label('case')}no case.json: the execution ended before Record Outcome`);
  } else {
    lines.push(
      `${label('case')}${summary.caseStatus}${summary.caseSummary ? ` — ${summary.caseSummary}` : ''}`,
    );
    lines.push(`${label('case record')}s3://${summary.s3.bucket}/${summary.caseKey}`);
    if (summary.caseReportKey)
      lines.push(`${label('case report')}s3://${summary.s3.bucket}/${summary.caseReportKey}`);
  }
  for (const agent of summary.agents) {
    const good = agent.outcome === 'complete';
    lines.push('');
    lines.push(
      `${p.cyan(p.bold(agent.computerName ?? agent.agentId))} (${agent.osType ?? '?'}, agent ${agent.agentId})  ${(good ? p.green : p.red)(outcomeWords(agent.outcome))}`,
    );
    if (!good) lines.push(`  ${labelIn('why')}${agent.reason}`);
    if (agent.s1Task) {
      lines.push(
        `  ${labelIn('S1 task')}parent ${agent.s1Task.parentTaskId ?? '?'}, child ${agent.s1Task.childTaskId ?? '?'}: ${agent.s1Task.status ?? '?'}${agent.s1Task.detailedStatus ? ` (${agent.s1Task.detailedStatus})` : ''}`,
      );
    }
    if (agent.xdr) {
      lines.push(
        `  ${labelIn('collected')}by Cado through SentinelOne (account ${agent.xdr.accountName ?? '?'}, device ${agent.xdr.deviceId ?? '?'}): no copy in our bucket`,
      );
      for (const [i, link] of agent.xdr.custody.entries()) {
        lines.push(
          `  ${labelIn(i === 0 ? 'chain' : '')}${link.link.padEnd(18)}${p.dim(link.status.padEnd(14))}${link.detail}`,
        );
      }
    }
    const e = agent.evidence;
    if (e) {
      if (e.script) {
        lines.push(
          `  ${labelIn('collector')}${e.script.libraryName}${e.script.profile ? ` · profile ${p.bold(e.script.profile)}` : ''}`,
        );
        if (e.script.profile) {
          lines.push(
            `  ${labelIn('collected')}${e.script.collected.join(', ')} — ${PROFILE_CONTENTS[e.script.profile as ProfileName].summary}`,
          );
        }
      }
      lines.push(`  ${labelIn('S3 key')}s3://${e.bucket}/${e.key}`);
      lines.push(`  ${labelIn('size')}${formatBytes(e.bytes, { exact: true })}`);
      const against = e.s1ResultSha256 ? 'manifest and S1 result' : 'manifest';
      lines.push(
        `  ${labelIn('sha256')}${e.sha256}  ${e.verified ? p.green(`verified (re-read from S3 = ${against})`) : p.red(`MISMATCH: manifest says ${e.manifestSha256 ?? 'nothing'}${e.s1ResultSha256 ? `, S1 served ${e.s1ResultSha256}` : ''}`)}`,
      );
      lines.push(`  ${labelIn('manifest')}s3://${e.bucket}/${e.manifestKey}`);
      for (const link of e.chain ?? []) {
        const paint = link.status === 'verified' ? p.green : link.status === 'mismatch' ? p.red : p.dim;
        lines.push(
          `  ${labelIn(link === e.chain?.[0] ? 'chain' : '')}${link.link.padEnd(18)}${paint(link.status.padEnd(14))}${link.detail}`,
        );
      }
      if ((e.resumes ?? 0) > 0 || (e.linkRefreshes ?? 0) > 0) {
        lines.push(
          `  ${labelIn('download')}${e.resumes ?? 0} resume(s), ${e.linkRefreshes ?? 0} fresh link(s)`,
        );
      }
      if (e.localPath) lines.push(`  ${labelIn('on disk')}${e.localPath}`);
    }
    if (agent.cado) {
      const status = agent.cado.status;
      lines.push(
        `  ${labelIn('Cado')}project ${agent.cado.projectId} "${agent.cado.projectName}", pipeline ${agent.cado.pipelineId}: ${(status === 'complete' ? p.green : p.red)(status)}${agent.cado.reason && status !== 'complete' ? ` — ${agent.cado.reason}` : ''}`,
      );
    }
  }
  lines.push('');
  if (summary.handoffRerunCommand) lines.push(`${label('re-run hand-off')}${summary.handoffRerunCommand}`);
  if (summary.handoffRerunExitCode !== null) {
    lines.push(
      `${label('hand-off re-run')}npx s1cado handoff ${summary.investigationId} exited ${summary.handoffRerunExitCode}`,
    );
  }
  lines.push(
    `${label('scenario')}${summary.scenario}: expected ${summary.expectedCaseStatus}, got ${summary.caseStatus ?? 'nothing'} ${summary.asExpected ? p.green('(as expected)') : p.yellow('(not what the scenario expects)')}`,
  );
  if (summary.stats) {
    lines.push(
      `${label('workflow')}${summary.stats.stateTransitions} state transitions, ${summary.stats.lambdaInvocations} Lambda invocations`,
    );
  }
  lines.push(
    `${label('local S3')}${summary.s3.directory ? `kept in ${summary.s3.directory} (s3rver layout: <bucket>/<key>._S3rver_object)` : 'removed (npm run demo -- --keep keeps the evidence on disk)'}`,
  );
  lines.push(`${label('handler logs')}${summary.logFile}`);
  if (totalMs !== undefined)
    lines.push(`${label('demo took')}${formatDuration(totalMs)} (including the local stack)`);
  lines.push(`${label('exit code')}${summary.exitCode}`);
  return lines;
}
