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
  if (record.handoffRerunCommand && record.counts.staged_handoff_failed) {
    lines.push(`  Next        evidence is staged but not processed by Cado: ${record.handoffRerunCommand}`);
  }
  return lines;
}
