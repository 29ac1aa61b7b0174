/**
 * Human-readable views of an execution and of `case.json` (the `--json` variants print the documents as they are).
 */
import type { AgentOutcome, CaseRecord } from '../../lambdas/shared/evidence/case-record';
import { formatBytes } from '../units';

/** What DescribeExecution says, as the CLI shows it. */
export interface ExecutionView {
  readonly executionArn: string;
  readonly status: string;
  readonly startDate?: Date;
  readonly stopDate?: Date;
  readonly error?: string;
  readonly cause?: string;
}

/** The Step Functions console page of an execution. */
export function consoleUrl(executionArn: string): string {
  const [, partition = 'aws', , region = 'us-east-1'] = executionArn.split(':');
  const host =
    partition === 'aws-cn'
      ? `${region}.console.amazonaws.cn`
      : partition === 'aws-us-gov'
        ? `${region}.console.amazonaws-us-gov.com`
        : `${region}.console.aws.amazon.com`;
  return `https://${host}/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** The execution ARN of investigation `name` of a state machine (the execution name is the investigation id). */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

function agentTitle(agent: AgentOutcome): string {
  const details = [agent.computerName, agent.osType].filter(Boolean).join(', ');
  return details ? `${agent.agentId} (${details})` : agent.agentId;
}

/** The lines describing an execution. */
export function executionLines(view: ExecutionView): string[] {
  const when = [
    view.startDate ? `started ${view.startDate.toISOString()}` : '',
    view.stopDate ? `stopped ${view.stopDate.toISOString()}` : '',
  ].filter(Boolean);
  const lines = [`  Execution   ${view.status}${when.length ? ` (${when.join(', ')})` : ''}`];
  lines.push(`              ${view.executionArn}`);
  if (view.error)
    lines.push(`  Error       ${view.error}${view.cause ? `: ${view.cause.slice(0, 1000)}` : ''}`);
  return lines;
}

/** The lines describing one agent of a case. */
export function agentLines(agent: AgentOutcome): string[] {
  const lines = [`    ${agentTitle(agent)}: ${agent.outcome}`, `      Reason    ${agent.reason}`];
  if (agent.s1Task?.parentTaskId) {
    const child = agent.s1Task.childTaskId ? `, child ${agent.s1Task.childTaskId}` : '';
    const status = agent.s1Task.status ? ` (${agent.s1Task.status})` : '';
    lines.push(`      S1 task   parent ${agent.s1Task.parentTaskId}${child}${status}`);
  }
  if (agent.evidence) {
    lines.push(`      Evidence  s3://${agent.evidence.bucket}/${agent.evidence.key}`);
    lines.push(`      Size      ${formatBytes(agent.evidence.bytes, { exact: true })}`);
    lines.push(`      SHA-256   ${agent.evidence.sha256}`);
  }
  if (agent.cado) {
    const reason = agent.cado.reason ? ` — ${agent.cado.reason}` : '';
    lines.push(
      `      Cado      ${agent.cado.phase}: project ${agent.cado.projectId} "${agent.cado.projectName}", ` +
        `pipeline ${agent.cado.pipelineId}${reason}`,
    );
  } else if (agent.evidence) {
    lines.push('      Cado      not handed off');
  }
  return lines;
}

/** The lines describing a case. */
export function caseLines(record: CaseRecord): string[] {
  const lines = [`  Case        ${record.status}: ${record.summary}`];
  if (record.requestedBy) {
    lines.push(`  Requested   by ${record.requestedBy}${record.reason ? ` — ${record.reason}` : ''}`);
  }
  if (record.threatId) lines.push(`  Threat      ${record.threatId}`);
  lines.push(`  Finished    ${record.finishedAt}`);
  const last = record.handoffReruns?.at(-1);
  if (last) lines.push(`  Hand-off    re-run ${last.at} by ${last.by}`);
  if (record.agents.length > 0) lines.push('  Agents');
  for (const agent of record.agents) lines.push(...agentLines(agent));
  lines.push(...nextLines(record));
  return lines;
}

/**
 * What Cado says when the evidence itself is the problem: it ran the pipeline and could not open, extract or parse
 * what it was given. A re-run hands Cado the same bytes (evidence is never altered), so it fails the same way.
 */
const EVIDENCE_FAULT =
  /extract|archive|unsupported|corrupt|encrypted|password|malformed|invalid (file|format)|parse/i;

/** Whether a hand-off re-run can fix this agent's outcome: not when Cado's pipeline failed on the evidence itself. */
export function rerunCanHelp(agent: AgentOutcome): boolean {
  if (agent.outcome !== 'staged_handoff_failed' || !agent.evidence) return false;
  if (agent.cado?.phase !== 'failed') return true; // Cado unreachable, refused, cancelled, or out of time
  return !EVIDENCE_FAULT.test(`${agent.cado.reason ?? ''} ${agent.reason}`);
}

/**
 * The "Next" lines of a case: the re-run command only for the agents a re-run can help, and for the others why
 * not. `still` words it for after a re-run.
 */
export function nextLines(record: CaseRecord, still = false): string[] {
  const failed = record.agents.filter((a) => a.outcome === 'staged_handoff_failed');
  if (failed.length === 0) return [];
  const helped = failed.filter(rerunCanHelp);
  const lines: string[] = [];
  if (helped.length > 0) {
    const command = record.handoffRerunCommand ?? `npx s1cado handoff ${record.investigationId}`;
    const who = helped.length === failed.length ? '' : ` (${helped.map((a) => a.agentId).join(', ')})`;
    lines.push(
      `  Next        evidence is ${still ? 'still ' : ''}staged but not processed by Cado${who}: ${command}`,
    );
  }
  for (const agent of failed.filter((a) => !rerunCanHelp(a))) {
    const pipeline = agent.cado ? ` (pipeline ${agent.cado.pipelineId})` : '';
    lines.push(
      `  Not re-run  ${agent.agentId}: Cado could not process this evidence${pipeline}; a re-run would hand it the ` +
        'same bytes and fail the same way. The evidence stays in S3 as staged; see the reason above.',
    );
  }
  return lines;
}
