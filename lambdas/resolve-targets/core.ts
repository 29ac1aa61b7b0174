/**
 * Resolve Targets: decides, for each requested agent, whether the investigation collects from it. Agents we cannot
 * collect from are not errors of the investigation: each is listed with its reason (on a site without RemoteOps,
 * not found or out of the token's scope, decommissioned or uninstalled, an OS the collectors do not cover), and the
 * others go ahead. An offline agent is still targeted: S1 queues the task until the agent checks in or the task
 * expires.
 *
 * It calls nothing: the agent records and the RemoteOps findings come from Check Permissions, the investigation's
 * only `GET /agents`.
 */
import { DEFAULT_PROFILE_SETTINGS, type ProfileName, type ProfileSettings } from '../collectors/profiles';
import { type CollectionMode, DEFAULT_COLLECTION_MODE, xdrHostOptions } from '../shared/cado/xdr';
import { parseInput } from '../shared/handler';
import {
  type AgentRecord,
  InvestigationId,
  OsType,
  type PreflightChecked,
  type PreflightFindings,
  type RejectedTarget,
  type ResolvedTargets,
  type Target,
  WorkflowInput,
} from '../shared/schemas';

/** Why an agent cannot be collected from, or undefined when it can. */
export function rejectionReason(agent: AgentRecord): string | undefined {
  if (agent.isDecommissioned) return 'the agent is decommissioned';
  if (agent.isUninstalled) return 'the agent is uninstalled';
  if (!OsType.safeParse(agent.osType).success) {
    return `unsupported OS "${agent.osType ?? 'unknown'}" (the collectors cover Windows and Linux)`;
  }
  if (!agent.siteId || !agent.accountId) return "S1 did not report the agent's site and account";
  return undefined;
}

/** The reason given for a requested agent that S1 did not return. */
export const NOT_FOUND_REASON = 'no such agent in the scope of the S1 service user';

/** What becomes of one requested agent. */
export type TargetDecision = { readonly target: Target } | { readonly rejected: RejectedTarget };

/**
 * Decides one requested agent: the preflight's rejection (its site lacks RemoteOps) comes first, then whether S1
 * knows the agent, then {@link rejectionReason}; an agent that passes becomes a {@link Target}.
 */
export function decideTarget(
  agentId: string,
  agent: AgentRecord | undefined,
  preflightRejection: RejectedTarget | undefined,
): TargetDecision {
  if (preflightRejection) return { rejected: preflightRejection };
  if (!agent) return { rejected: { agentId, reason: NOT_FOUND_REASON } };
  const reason = rejectionReason(agent);
  if (reason) return { rejected: { agentId, computerName: agent.computerName, reason } };
  const osType = OsType.parse(agent.osType);
  return {
    target: {
      agentId,
      agentUuid: agent.uuid ?? '',
      computerName: agent.computerName ?? agentId,
      osType,
      osName: agent.osName,
      siteId: agent.siteId as string,
      siteName: agent.siteName,
      accountId: agent.accountId as string,
      accountName: agent.accountName,
      groupId: agent.groupId,
    },
  };
}

/** Decides every requested agent ({@link decideTarget}), in the order requested. */
export function decideTargets(
  agentIds: readonly string[],
  preflight: PreflightFindings,
): { targets: Target[]; rejected: RejectedTarget[] } {
  const records = new Map(preflight.agents.map((agent) => [agent.id, agent]));
  const preflightRejected = new Map(preflight.rejected.map((r) => [r.agentId, r]));
  const targets: Target[] = [];
  const rejected: RejectedTarget[] = [];
  for (const agentId of agentIds) {
    const decision = decideTarget(agentId, records.get(agentId), preflightRejected.get(agentId));
    if ('target' in decision) targets.push(decision.target);
    else rejected.push(decision.rejected);
  }
  return { targets, rejected };
}

/** The workflow input with the profile rules that span fields: custom needs paths, the others take none. */
const ProfiledWorkflowInput = WorkflowInput.superRefine((input, ctx) => {
  if (input.profile === 'custom' && !input.customPaths) {
    ctx.addIssue({ code: 'custom', path: ['customPaths'], message: 'the custom profile needs customPaths' });
  }
  if (input.customPaths && input.profile !== 'custom') {
    ctx.addIssue({
      code: 'custom',
      path: ['customPaths'],
      message: `customPaths are only taken by the custom profile, not by ${input.profile ?? 'the default profile'}`,
    });
  }
});

/**
 * Why a target cannot run the investigation's profile, or undefined: custom paths written for the other OS, or the
 * memory profile without an acquisition tool configured for the target's OS.
 */
export function profileRejection(
  target: Target,
  profile: ProfileName | undefined,
  customPaths: readonly string[] | undefined,
  settings: ProfileSettings,
): string | undefined {
  const effective = profile ?? settings.defaultProfile;
  if (effective === 'custom' && customPaths) {
    const wrong = customPaths.find((p) => (target.osType === 'windows') !== /^[A-Za-z]:\\/.test(p));
    if (wrong)
      return `custom path "${wrong}" is not a ${target.osType === 'windows' ? 'Windows' : 'Linux'} path`;
  }
  if (effective === 'memory' && !settings.memoryTool[target.osType]) {
    return `no memory acquisition tool is configured for ${target.osType} (collectionProfiles.memoryTool.${target.osType})`;
  }
  return undefined;
}

/**
 * Resolves the targets of an investigation from what Check Permissions found. The collection mode is the execution
 * input's, else `defaultMode` (the config's); the states after this one choose their path by it.
 */
export function resolveTargets(
  event: PreflightChecked,
  now: () => string,
  settings: ProfileSettings = DEFAULT_PROFILE_SETTINGS,
  defaultMode: CollectionMode = DEFAULT_COLLECTION_MODE,
): ResolvedTargets {
  const input = parseInput(ProfiledWorkflowInput, event.input, 'Investigation input');
  const investigationId = parseInput(InvestigationId, event.execution.name, 'Execution name');
  const collectionMode = input.collectionMode ?? defaultMode;
  if (collectionMode === 'cado-xdr' && input.profile === 'memory') {
    // Before any target is decided: Cado's XDR import has no memory option (shared/cado/xdr.ts).
    xdrHostOptions('memory');
  }
  const decided = decideTargets(input.agentIds, event.preflight);
  const targets: Target[] = [];
  const rejected = [...decided.rejected];
  for (const target of decided.targets) {
    const reason = profileRejection(target, input.profile, input.customPaths, settings);
    if (reason) rejected.push({ agentId: target.agentId, computerName: target.computerName, reason });
    else targets.push(target);
  }
  return {
    investigation: {
      investigationId,
      executionArn: event.execution.id,
      threatId: input.threatId,
      requestedBy: input.requestedBy,
      reason: input.reason,
      startedAt: event.execution.startTime ?? now(),
      ...(input.profile ? { profile: input.profile } : {}),
      ...(input.customPaths ? { customPaths: input.customPaths } : {}),
      ...(input.directUpload ? { directUpload: true } : {}),
      // Only the non-default mode is written (state and case files of the default mode keep their shape).
      ...(collectionMode === 'cado-xdr' ? { collectionMode } : {}),
    },
    targets,
    rejected,
    ...(event.preflight.s1UserScope ? { s1UserScope: event.preflight.s1UserScope } : {}),
  };
}
