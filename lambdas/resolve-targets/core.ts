/**
 * Resolve Targets: validates what the caller asked for and looks the agents up in S1. Agents we cannot collect
 * from are not errors of the investigation: each is listed with its reason (not found or out of the token's scope,
 * decommissioned or uninstalled, an OS the collectors do not cover), and the others go ahead. An offline agent is
 * still targeted: S1 queues the task until the agent checks in or the task expires.
 */
import { parseInput } from '../shared/handler';
import {
  InvestigationId,
  OsType,
  type RejectedTarget,
  type ResolvedTargets,
  type Target,
  WorkflowInput,
} from '../shared/schemas';
import type { S1Agent, S1Client } from '../shared/sentinelone';

/** What the state machine passes in: the execution input, the execution's own facts, and the preflight's findings. */
export interface ResolveTargetsEvent {
  input: unknown;
  execution: { name: string; id?: string; startTime?: string };
  preflight?: { s1UserScope?: string; rejected: RejectedTarget[] };
}

/** Why an agent cannot be collected from, or undefined when it can. */
export function rejectionReason(agent: S1Agent): string | undefined {
  if (agent.isDecommissioned) return 'the agent is decommissioned';
  if (agent.isUninstalled) return 'the agent is uninstalled';
  if (!OsType.safeParse(agent.osType).success) {
    return `unsupported OS "${agent.osType ?? 'unknown'}" (the collectors cover Windows and Linux)`;
  }
  if (!agent.siteId || !agent.accountId) return "S1 did not report the agent's site and account";
  return undefined;
}

/** Resolves the targets of an investigation. */
export async function resolveTargets(
  event: ResolveTargetsEvent,
  deps: { s1: S1Client },
): Promise<ResolvedTargets> {
  const input = parseInput(WorkflowInput, event.input, 'Investigation input');
  const investigationId = parseInput(InvestigationId, event.execution.name, 'Execution name');
  const preflightRejected = new Map((event.preflight?.rejected ?? []).map((r) => [r.agentId, r]));
  const rejected: RejectedTarget[] = [...preflightRejected.values()];
  const wanted = input.agentIds.filter((agentId) => !preflightRejected.has(agentId));
  const agents = wanted.length > 0 ? await deps.s1.getAgents(wanted) : [];
  const byId = new Map(agents.map((agent) => [agent.id, agent]));

  const targets: Target[] = [];
  for (const agentId of wanted) {
    const agent = byId.get(agentId);
    if (!agent) {
      rejected.push({ agentId, reason: 'no such agent in the scope of the S1 service user' });
      continue;
    }
    const reason = rejectionReason(agent);
    if (reason) {
      rejected.push({ agentId, computerName: agent.computerName ?? undefined, reason });
      continue;
    }
    targets.push({
      agentId,
      agentUuid: agent.uuid ?? '',
      computerName: agent.computerName ?? agentId,
      osType: agent.osType as OsType,
      osName: agent.osName ?? undefined,
      siteId: agent.siteId as string,
      siteName: agent.siteName ?? undefined,
      accountId: agent.accountId as string,
      accountName: agent.accountName ?? undefined,
      groupId: agent.groupId ?? undefined,
    });
  }
  return {
    investigation: {
      investigationId,
      executionArn: event.execution.id,
      threatId: input.threatId,
      requestedBy: input.requestedBy,
      reason: input.reason,
      startedAt: event.execution.startTime ?? new Date().toISOString(),
    },
    targets,
    rejected,
    ...(event.preflight?.s1UserScope ? { s1UserScope: event.preflight.s1UserScope } : {}),
  };
}
