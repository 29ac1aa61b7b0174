/**
 * `case.md`, the case report beside `case.json`: the same facts for a person to read (a responder, a lawyer, a
 * ticket): who started the investigation and why, what it collected from each agent, the hashes and how each link
 * of the chain of custody was checked, where Cado has it, and how to verify it. Record Outcome writes it with the
 * case file; a hand-off re-run writes it again. `case.json` stays the record of truth; the report is rendered from
 * it and the final manifests, never the other way round.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AgentOutcome, CaseRecord } from './case-record';
import type { Manifest } from './manifest';

/** Where the report of the case file at `caseKey` goes. */
export function caseReportKey(caseKey: string): string {
  return caseKey.replace(/case\.json$/, 'case.md');
}

/** Text safe inside a Markdown table cell or line: no pipes, backticks, or line breaks, bounded. */
function text(value: string | number | null | undefined, max = 500): string {
  if (value === null || value === undefined || value === '') return '—';
  const s = String(value)
    .replace(/[\r\n]+/g, ' ')
    .replace(/\|/g, '\\|')
    .replace(/`/g, "'");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A value shown as code (hashes, keys, ids). */
function code(value: string | number | null | undefined): string {
  return value === null || value === undefined || value === ''
    ? '—'
    : `\`${String(value).replace(/`/g, "'")}\``;
}

function agentSection(agent: AgentOutcome, manifest: Manifest | undefined): string[] {
  const lines = [`### ${text(agent.computerName ?? agent.agentId, 120)} (${code(agent.agentId)})`, ''];
  lines.push(`- Outcome: **${agent.outcome}** — ${text(agent.reason, 1000)}`);
  if (agent.osType) lines.push(`- OS: ${text(agent.osType)}`);
  if (agent.s1Task) {
    lines.push(
      `- S1 task: parent ${code(agent.s1Task.parentTaskId)}, child ${code(agent.s1Task.childTaskId)}, ${text(agent.s1Task.status)}${agent.s1Task.detailedStatus ? ` (${text(agent.s1Task.detailedStatus, 200)})` : ''}`,
    );
  }
  if (manifest) {
    lines.push(
      `- Script: ${text(manifest.script.libraryName)} (S1 id ${code(manifest.script.scriptId)}), SHA-256 ${code(manifest.script.sha256)}`,
    );
  }
  const e = agent.evidence;
  if (e) {
    lines.push(
      `- Evidence: ${code(`s3://${e.bucket}/${e.key}`)}${e.versionId ? `, version ${code(e.versionId)}` : ''}, ${e.bytes} bytes`,
    );
    lines.push(`- SHA-256: ${code(e.sha256)}`);
    lines.push(`- Manifest: ${code(e.manifestKey)}`);
    const signature = e.signature;
    lines.push(
      `- Signature: ${signature ? `${signature.status}${signature.key ? ` (${code(signature.key)})` : ''}${signature.detail ? ` — ${text(signature.detail)}` : ''}` : 'not recorded'}`,
    );
  }
  if (agent.collectedBy === 'cado-xdr') {
    lines.push(
      `- Collected by: Cado, through its SentinelOne integration${agent.xdr ? ` (account ${text(agent.xdr.accountName)}, device ${code(agent.xdr.deviceId)}, profile ${text(agent.xdr.profile)})` : ''}; no copy in the evidence bucket`,
    );
  }
  if (agent.sharedWith) {
    lines.push(
      `- Shared: the collection of ${code(agent.sharedWith.investigationId)} is reused (${code(agent.sharedWith.evidencePrefix)})`,
    );
  }
  if (agent.cado) {
    lines.push(
      `- Cado: project ${code(agent.cado.projectId)} (${text(agent.cado.projectName)}), pipeline ${code(agent.cado.pipelineId)}: ${text(agent.cado.phase)}${agent.cado.reason ? ` — ${text(agent.cado.reason)}` : ''}`,
    );
  }
  if (agent.cancelError)
    lines.push(`- Cancel: failed (${text(agent.cancelError)}); the S1 task may still be running`);
  const chain = manifest?.chain?.length ? manifest.chain : agent.custody;
  if (chain?.length) {
    lines.push('', '| Link | Status | Detail |', '| --- | --- | --- |');
    for (const link of chain) lines.push(`| ${link.link} | ${link.status} | ${text(link.detail, 300)} |`);
  }
  if (manifest?.timeline.length) {
    lines.push('', 'Timeline:', '');
    for (const event of manifest.timeline) {
      lines.push(
        `- ${text(event.at)} ${text(event.event)}${event.detail ? ` — ${text(event.detail, 300)}` : ''}`,
      );
    }
  }
  lines.push('');
  return lines;
}

/** The report, from the case file and the final manifests (by manifest key). */
export function renderCaseReport(
  record: CaseRecord,
  manifests: ReadonlyMap<string, Manifest>,
  bucket: string,
): string {
  const lines = [
    `# Investigation ${text(record.investigationId)}: ${record.status}`,
    '',
    text(record.summary, 2000),
    '',
    '| | |',
    '| --- | --- |',
    `| Investigation | ${code(record.investigationId)} |`,
    `| Status | ${record.status} |`,
    `| Threat | ${code(record.threatId)} |`,
    `| Requested by | ${text(record.requestedBy)} |`,
    `| Reason | ${text(record.reason, 1024)} |`,
    `| Started | ${text(record.startedAt)} |`,
    `| Finished | ${text(record.finishedAt)} |`,
    `| Execution | ${code(record.executionArn)} |`,
    `| Tool | ${text(record.tool.name)} ${text(record.tool.version)} |`,
    '',
    '## Collections',
    '',
    '| Agent | Host | Outcome | Bytes | SHA-256 | Cado |',
    '| --- | --- | --- | --- | --- | --- |',
    ...record.agents.map(
      (a) =>
        `| ${code(a.agentId)} | ${text(a.computerName)} | ${a.outcome} | ${a.evidence?.bytes ?? '—'} | ${code(a.evidence?.sha256)} | ${a.cado ? `${a.cado.phase} (pipeline ${a.cado.pipelineId})` : '—'} |`,
    ),
    '',
  ];
  for (const agent of record.agents) {
    lines.push(
      ...agentSection(agent, agent.evidence ? manifests.get(agent.evidence.manifestKey) : undefined),
    );
  }
  if (record.scripts.length) {
    lines.push(
      '## Collector scripts',
      '',
      '| OS | Library name | S1 id | SHA-256 | Uploaded |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const s of record.scripts) {
      lines.push(
        `| ${text(s.osType)} | ${text(s.libraryName)} | ${code(s.scriptId)} | ${code(s.sha256)} | ${s.uploaded ? 'yes' : 'no'} |`,
      );
    }
    lines.push('');
  }
  if (record.handoffReruns?.length) {
    lines.push('## Hand-off re-runs', '');
    for (const r of record.handoffReruns) {
      lines.push(
        `- ${text(r.at)} by ${text(r.by)}${r.executionName ? ` (${code(r.executionName)})` : ''}: ${r.agents.map((a) => `${a.agentId} ${a.outcome}`).join(', ') || 'nothing to hand off'}`,
      );
    }
    lines.push('');
  }
  lines.push(
    '## Verifying it',
    '',
    `\`npx s1cado verify ${record.investigationId}\` checks, per collection, the manifest's signature, the manifest, the object's lock, the SHA-256 of the stored bytes and the zip's listing, from \`s3://${bucket}\` itself.`,
    '',
  );
  if (record.handoffRerunCommand)
    lines.push(`Re-run the Cado hand-off: \`${record.handoffRerunCommand}\``, '');
  return lines.join('\n');
}

/** Writes `case.md` beside `case.json`. */
export async function putCaseReport(
  s3: S3Client,
  bucket: string,
  caseKey: string,
  report: string,
): Promise<string> {
  const key = caseReportKey(caseKey);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: report,
      ContentType: 'text/markdown; charset=utf-8',
      ChecksumAlgorithm: 'SHA256',
    }),
  );
  return key;
}
