/**
 * Running scripts: `POST /remote-scripts/execute` with S1's traps reproduced (an empty filter selects every
 * agent in scope; an OS mismatch answers 200 with no task; a guardrail turns the run into a pending
 * execution), `POST /remote-scripts/guardrails/check` and the pending-executions endpoints.
 */
import type { Route, SimRuntime } from '../context';
import {
  ApiError,
  bodyIds,
  checkId,
  isObject,
  isoMicros,
  type JsonObject,
  notFound,
  paginate,
  requireObject,
  validationError,
} from '../http-util';
import { runPermission } from '../permissions';
import type { Agent, ChildTask, ParentTask, PendingExecution, Script, User } from '../types';
import { type AgentSelector, selectAgents, selectorFromBody } from './agents';
import { findScript, renderScript } from './scripts';

const OUTPUT_DESTINATIONS = ['SentinelCloud', 'Local', 'None', 'SingularityXDR', 'DataSetCloud'];
const MAX_RUNTIME_SECONDS = 172_800;

/** Options of one run, validated from the execute `data` object. */
export interface RunOptions {
  taskDescription: string;
  outputDestination: string;
  inputParams: string;
  runtimeTimeoutSeconds: number;
}

/** Whether an agent can run the script: not decommissioned, OS supported, RSO licensed, script available. */
export function canRun(sim: SimRuntime, script: Script, agent: Agent): boolean {
  const site = sim.state.sites.get(agent.siteId);
  if (!site?.rso || agent.isDecommissioned || !script.osTypes.includes(agent.osType)) return false;
  if (script.scopeLevel === 'global') return true;
  if (script.scopeLevel === 'site') return script.scopeId === agent.siteId;
  return script.scopeId === agent.accountId;
}

/** Whether running the script on these agents needs approval under their sites' guardrails. */
export function needsApproval(sim: SimRuntime, script: Script, agents: readonly Agent[]): boolean {
  return agents.some((agent) => {
    const guardrail = sim.state.sites.get(agent.siteId)?.guardrail;
    return (
      guardrail?.enabled === true &&
      (guardrail.scriptTypes.length === 0 || guardrail.scriptTypes.includes(script.scriptType)) &&
      agents.length >= guardrail.endpointsQuantity
    );
  });
}

/** Creates the parent task and one child task per agent, capturing each agent's behaviour now. */
export function startTasks(
  sim: SimRuntime,
  user: User,
  script: Script,
  agents: readonly Agent[],
  options: RunOptions,
): ParentTask {
  const at = sim.clock();
  const timing = sim.config.taskTiming;
  const parent: ParentTask = {
    id: sim.state.newId(),
    scriptId: script.id,
    description: options.taskDescription,
    initiatedById: user.id,
    initiatedBy: user.fullName,
    createdAt: at,
    childIds: [],
  };
  for (const agent of agents) {
    const offline = !agent.isActive || agent.networkStatus !== 'connected';
    const task: ChildTask = {
      id: sim.state.newId(),
      parentTaskId: parent.id,
      agentId: agent.id,
      scriptId: script.id,
      scriptType: script.scriptType,
      description: options.taskDescription,
      inputParams: options.inputParams,
      outputDestination: options.outputDestination,
      runtimeTimeoutSeconds: options.runtimeTimeoutSeconds,
      initiatedById: user.id,
      initiatedBy: user.fullName,
      createdAt: at,
      profile: agent.behavior.profile ?? (offline ? 'expire' : 'complete'),
      pickupMs: agent.behavior.pickupMs ?? timing.pickupMs,
      runMs: agent.behavior.runMs ?? timing.runMs,
      result: agent.behavior.result ?? { size: timing.resultSize },
      canceledAt: null,
    };
    sim.state.tasks.set(task.id, task);
    parent.childIds.push(task.id);
    // Build and hash the result in the background now, so the status poll after completion answers at once
    // even for multi-GiB results (an error surfaces again when the result is actually needed).
    if (task.profile === 'complete') sim.resultOf(task).catch(() => undefined);
  }
  sim.state.parentTasks.set(parent.id, parent);
  return parent;
}

function parseRunOptions(data: JsonObject, script: Script): RunOptions {
  const { taskDescription, outputDestination, inputParams, scriptRuntimeTimeoutSeconds } = data;
  if (typeof taskDescription !== 'string' || taskDescription.trim() === '') {
    throw validationError('data.taskDescription: Missing data for required field.');
  }
  if (typeof outputDestination !== 'string')
    throw validationError('data.outputDestination: Missing data for required field.');
  if (!OUTPUT_DESTINATIONS.includes(outputDestination)) {
    throw validationError(`data.outputDestination: Must be one of: ${OUTPUT_DESTINATIONS.join(', ')}.`);
  }
  if (outputDestination === 'Local' && typeof data.outputDirectory !== 'string') {
    throw validationError('data.outputDirectory: Required when outputDestination is Local.');
  }
  if (inputParams !== undefined && inputParams !== null && typeof inputParams !== 'string') {
    throw validationError('data.inputParams: Not a valid string.');
  }
  if (script.inputRequired && (typeof inputParams !== 'string' || inputParams.trim() === '')) {
    throw validationError('data.inputParams: The script requires input parameters.');
  }
  let runtimeTimeoutSeconds = script.scriptRuntimeTimeoutSeconds;
  if (scriptRuntimeTimeoutSeconds !== undefined && scriptRuntimeTimeoutSeconds !== null) {
    const value = Number(scriptRuntimeTimeoutSeconds);
    if (!Number.isInteger(value) || value < 1 || value > MAX_RUNTIME_SECONDS) {
      throw validationError(
        `data.scriptRuntimeTimeoutSeconds: Must be between 1 and ${MAX_RUNTIME_SECONDS}.`,
      );
    }
    runtimeTimeoutSeconds = value;
  }
  if (data.requiresApproval !== undefined && typeof data.requiresApproval !== 'boolean') {
    throw validationError('data.requiresApproval: Not a valid boolean.');
  }
  return {
    taskDescription,
    outputDestination,
    inputParams: typeof inputParams === 'string' ? inputParams : '',
    runtimeTimeoutSeconds,
  };
}

function isEmptySelector(selector: AgentSelector): boolean {
  return Object.values(selector).every((value) => value === undefined);
}

function count(sim: SimRuntime, value: number): number | string {
  return sim.config.numbersAsStrings ? String(value) : value;
}

function renderPending(sim: SimRuntime, pending: PendingExecution): JsonObject {
  const script = sim.state.scripts.get(pending.scriptId);
  const bySite = new Map<string, number>();
  for (const agentId of pending.agentIds) {
    const siteId = sim.state.agents.get(agentId)?.siteId ?? '';
    bySite.set(siteId, (bySite.get(siteId) ?? 0) + 1);
  }
  return {
    pendingExecutionId: pending.id,
    id: pending.id,
    state: pending.state,
    executionData: pending.executionData,
    scriptData: script ? renderScript(sim, script) : null,
    creator: pending.creator,
    creatorId: pending.creatorId,
    reviewer: pending.reviewerId ? (sim.state.users.get(pending.reviewerId)?.fullName ?? null) : null,
    canApproveOrDecline: pending.state === 'waiting',
    totalEndpoints: pending.agentIds.length,
    endpointsByScope: [...bySite.entries()].map(([siteId, total]) => ({
      scopeName: sim.state.sites.get(siteId)?.name ?? 'Unknown',
      totalEndpoints: total,
    })),
    createdAt: isoMicros(pending.createdAt),
    scheduledTaskId: pending.parentTaskId,
    parentTaskId: pending.parentTaskId,
  };
}

/**
 * Approves a waiting execution: its tasks start now. Used by the PUT route and by `sim.approvePendingExecution`.
 */
export function approvePending(sim: SimRuntime, pending: PendingExecution, reviewer: User): ParentTask {
  const script = sim.state.scripts.get(pending.scriptId);
  if (!script) throw notFound('Script not found');
  const agents = pending.agentIds.flatMap((id) => sim.state.agents.get(id) ?? []);
  const requester = sim.state.users.get(pending.creatorId) ?? reviewer;
  const options = parseRunOptions(pending.executionData, script);
  const parent = startTasks(sim, requester, script, agents, options);
  pending.state = 'approved';
  pending.reviewerId = reviewer.id;
  pending.parentTaskId = parent.id;
  return parent;
}

/** Execution routes. */
export const executionRoutes: Route[] = [
  {
    method: 'POST',
    pattern: '/remote-scripts/execute',
    permissions: ['Remote Script Orchestration.view'],
    handle: ({ sim, body, requireUser, requirePermission }) => {
      const user = requireUser();
      const request = requireObject(body);
      const data = requireObject(request.data, 'data');
      const script = findScript(sim, user, checkId('data.scriptId', 0, data.scriptId));
      requirePermission(runPermission(script.scriptType));
      const options = parseRunOptions(data, script);
      if (request.filter !== undefined && request.filter !== null && !isObject(request.filter)) {
        throw validationError('filter: Must be a JSON object.');
      }
      // S1's trap: an absent or empty filter is not an error, it targets every agent in the caller's scope.
      const selector = selectorFromBody(isObject(request.filter) ? request.filter : {});
      const matched = selectAgents(sim, user, selector);
      const eligible = matched.filter((agent) => canRun(sim, script, agent));
      const record = {
        at: sim.clock(),
        userId: user.id,
        scriptId: script.id,
        filter: request.filter,
        emptyFilter: isEmptySelector(selector),
        matchedAgentIds: matched.map((agent) => agent.id),
        eligibleAgentIds: eligible.map((agent) => agent.id),
        parentTaskId: null as string | null,
        pendingExecutionId: null as string | null,
      };
      sim.state.executions.push(record);
      if (eligible.length === 0) {
        // OS mismatch, no licence, decommissioned or no match: a 200 that runs nothing.
        return {
          data: { affected: count(sim, 0), parentTaskId: null, pending: false, pendingExecutionId: null },
        };
      }
      if (data.requiresApproval === true || needsApproval(sim, script, eligible)) {
        const pending: PendingExecution = {
          id: sim.state.newId(),
          state: 'waiting',
          scriptId: script.id,
          agentIds: eligible.map((agent) => agent.id),
          executionData: { ...data },
          creatorId: user.id,
          creator: user.fullName,
          reviewerId: null,
          createdAt: sim.clock(),
          parentTaskId: null,
        };
        sim.state.pendingExecutions.set(pending.id, pending);
        record.pendingExecutionId = pending.id;
        return {
          data: {
            affected: count(sim, 0),
            parentTaskId: null,
            pending: true,
            pendingExecutionId: pending.id,
          },
        };
      }
      const parent = startTasks(sim, user, script, eligible, options);
      record.parentTaskId = parent.id;
      return {
        data: {
          affected: count(sim, eligible.length),
          parentTaskId: parent.id,
          pending: false,
          pendingExecutionId: null,
        },
      };
    },
  },
  {
    method: 'POST',
    pattern: '/remote-scripts/guardrails/check',
    permissions: ['Remote Script Orchestration.view'],
    handle: ({ sim, body, requireUser }) => {
      const user = requireUser();
      const request = requireObject(body);
      const data = requireObject(request.data, 'data');
      const script = findScript(sim, user, checkId('data.scriptId', 0, data.scriptId));
      const filter = isObject(request.filter) ? request.filter : {};
      const agentIds = bodyIds(data.agentIds, 'data.agentIds') ?? bodyIds(filter.ids, 'filter.ids');
      if (!agentIds || agentIds.length === 0)
        throw validationError('data.agentIds: Missing data for required field.');
      const agents = selectAgents(sim, user, { ids: agentIds }).filter((agent) => canRun(sim, script, agent));
      return { data: { requiresApproval: needsApproval(sim, script, agents) } };
    },
  },
  {
    method: 'GET',
    pattern: '/remote-scripts/pending-executions',
    permissions: ['Remote Script Orchestration.view'],
    handle: ({ sim, query, requireUser }) => {
      const user = requireUser();
      const ids = query.ids('ids');
      const states = query.list('states') ?? query.list('state');
      const items = [...sim.state.pendingExecutions.values()].filter(
        (pending) =>
          pending.agentIds.some((id) => {
            const agent = sim.state.agents.get(id);
            return agent !== undefined && sim.state.canSeeSite(user, agent.siteId);
          }) &&
          (!ids || ids.includes(pending.id)) &&
          (!states || states.includes(pending.state)),
      );
      const page = paginate(items, query, { listKey: 'pending-executions', cursorEnd: sim.config.cursorEnd });
      return { data: page.data.map((pending) => renderPending(sim, pending)), pagination: page.pagination };
    },
  },
  {
    method: 'PUT',
    pattern: '/remote-scripts/pending-executions/:id',
    permissions: ['Remote Script Orchestration.reviewPendingExecutions'],
    handle: ({ sim, params, body, requireUser }) => {
      const user = requireUser();
      const pending = sim.state.pendingExecutions.get(params.id ?? '');
      if (!pending) throw notFound('Pending execution not found');
      const data = requireObject(requireObject(body).data, 'data');
      if (data.action !== 'approve' && data.action !== 'decline') {
        throw validationError('data.action: Must be one of: approve, decline.');
      }
      if (pending.state !== 'waiting') {
        throw new ApiError(400, 4000010, 'Validation Error', `Pending execution is already ${pending.state}`);
      }
      if (data.action === 'approve') approvePending(sim, pending, user);
      else {
        pending.state = 'declined';
        pending.reviewerId = user.id;
      }
      return { data: { success: true } };
    },
  },
];
