/**
 * Following tasks: `GET /remote-scripts/status` (one row per child task), `POST /remote-scripts/fetch-files`
 * (presigned links with per-task errors) and the private best-effort `POST /private/tasks/cancel-task`.
 */
import type { Route, SimRuntime } from '../context';
import {
  bodyIds,
  insufficientPermissions,
  isoMicros,
  type JsonObject,
  paginate,
  type Query,
  requireObject,
  sortItems,
  validationError,
} from '../http-util';
import { cancelPermission } from '../permissions';
import { completionTime, type TaskView, UNDELIVERED } from '../tasks';
import type { ChildTask, TaskStatus, User } from '../types';

const STATUSES: readonly TaskStatus[] = [
  'created',
  'scheduled',
  'pending',
  'pending_user_action',
  'in_progress',
  'completed',
  'partially_completed',
  'failed',
  'canceled',
  'expired',
];

function visible(sim: SimRuntime, user: User, task: ChildTask): boolean {
  const agent = sim.state.agents.get(task.agentId);
  return agent !== undefined && sim.state.canSeeSite(user, agent.siteId);
}

/** Parent ids from any of the accepted spellings (camelCase is the spec's, snake_case is what Kibana sends). */
function parentIds(query: Query): string[] | undefined {
  const lists = ['parentTaskId', 'parentTaskId__in', 'parent_task_id', 'parent_task_id__in']
    .map((name) => query.ids(name))
    .filter((list): list is string[] => list !== undefined);
  return lists.length ? lists.flat() : undefined;
}

function statusDescription(status: TaskStatus): string {
  const text = status.replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

async function renderRow(sim: SimRuntime, task: ChildTask, view: TaskView): Promise<JsonObject> {
  const agent = sim.state.agents.get(task.agentId);
  const site = agent ? sim.state.sites.get(agent.siteId) : undefined;
  const account = agent ? sim.state.accounts.get(agent.accountId) : undefined;
  const row: JsonObject = {
    id: task.id,
    parentTaskId: task.parentTaskId,
    type: 'script_execution',
    status: view.status,
    detailedStatus: view.detailedStatus,
    statusCode: view.statusCode,
    statusDescription: statusDescription(view.status),
    description: task.description,
    agentId: task.agentId,
    agentUuid: agent?.uuid ?? null,
    agentComputerName: agent?.computerName ?? null,
    agentOsType: agent?.osType ?? null,
    agentMachineType: agent?.machineType ?? null,
    agentIsActive: agent?.isActive ?? false,
    agentIsDecommissioned: agent?.isDecommissioned ?? false,
    accountId: agent?.accountId ?? null,
    accountName: account?.name ?? null,
    siteId: agent?.siteId ?? null,
    siteName: site?.name ?? null,
    groupId: agent?.groupId ?? null,
    groupName: 'Default Group',
    initiatedBy: task.initiatedBy,
    initiatedById: task.initiatedById,
    scriptId: task.scriptId,
    createdAt: isoMicros(task.createdAt),
    updatedAt: isoMicros(view.updatedAt),
  };
  if (view.hasResult) {
    // Present only when a result file exists (reference §2.5).
    const result = await sim.resultOf(task);
    row.scriptResultsSignature = result.sha256;
    row.scriptResultsBucket = 'rso-results';
    row.scriptResultsPath = `rso-results/${result.sha256}`;
  }
  return row;
}

/** Why fetch-files gives no link for a task, or undefined when it can give one. */
function fetchError(sim: SimRuntime, task: ChildTask, view: TaskView): string | undefined {
  if (!view.terminal) return `Task is not completed yet (status: ${view.status})`;
  if (view.status !== 'completed') return `Task ended with status ${view.status}; there is no results file`;
  if (!view.hasResult) return 'No results file was uploaded for this task';
  if (sim.clock() > completionTime(task) + sim.config.taskTiming.resultRetentionMs) {
    return 'The results file has expired and is no longer available';
  }
  return undefined;
}

/** Task routes. */
export const taskRoutes: Route[] = [
  {
    method: 'GET',
    pattern: '/remote-scripts/status',
    permissions: ['Task Management.view'],
    handle: async ({ sim, query, requireUser }) => {
      const user = requireUser();
      const parents = parentIds(query);
      if (!parents)
        throw validationError('parentTaskId: One of parentTaskId or parentTaskId__in is required.');
      const ids = query.ids('ids');
      const statuses = query.enumList('status', STATUSES);
      const description = query.str('description__contains')?.toLowerCase();
      const detailed = query.str('detailedStatus__contains')?.toLowerCase();
      const computerName = query.str('computerName__contains')?.toLowerCase();
      const siteIds = query.ids('siteIds');
      const created = query.timeRange('createdAt');
      const updated = query.timeRange('updatedAt');
      const rows = [...sim.state.tasks.values()]
        .filter((task) => parents.includes(task.parentTaskId) && visible(sim, user, task))
        .map((task) => ({ task, view: sim.taskView(task), agent: sim.state.agents.get(task.agentId) }))
        .filter(
          ({ task, view, agent }) =>
            (!ids || ids.includes(task.id)) &&
            (!statuses || statuses.includes(view.status)) &&
            (!description || task.description.toLowerCase().includes(description)) &&
            (!detailed || view.detailedStatus.toLowerCase().includes(detailed)) &&
            (!computerName || (agent?.computerName.toLowerCase().includes(computerName) ?? false)) &&
            (!siteIds || (agent !== undefined && siteIds.includes(agent.siteId))) &&
            (!created || created(task.createdAt)) &&
            (!updated || updated(view.updatedAt)),
        );
      sortItems(
        rows,
        query,
        {
          id: (r) => r.task.id,
          createdAt: (r) => r.task.createdAt,
          updatedAt: (r) => r.view.updatedAt,
          status: (r) => r.view.status,
          detailedStatus: (r) => r.view.detailedStatus,
          agentComputerName: (r) => r.agent?.computerName ?? null,
          parentTaskId: (r) => r.task.parentTaskId,
        },
        'id',
      );
      const page = paginate(rows, query, {
        listKey: 'remote-scripts-status',
        cursorEnd: sim.config.cursorEnd,
      });
      const data = await Promise.all(page.data.map(({ task, view }) => renderRow(sim, task, view)));
      return { data, pagination: page.pagination };
    },
  },
  {
    method: 'POST',
    pattern: '/remote-scripts/fetch-files',
    permissions: ['Remote Script Orchestration.viewOutput'],
    handle: async ({ sim, body, requireUser }) => {
      const user = requireUser();
      const data = requireObject(requireObject(body).data, 'data');
      const taskIds = bodyIds(data.taskIds, 'data.taskIds');
      if (!taskIds || taskIds.length === 0)
        throw validationError('data.taskIds: Missing data for required field.');
      const links: JsonObject[] = [];
      const errors: JsonObject[] = [];
      for (const taskId of taskIds) {
        const task = sim.state.tasks.get(taskId);
        if (!task || !visible(sim, user, task)) {
          errors.push({ taskId, errorString: 'Task not found' });
          continue;
        }
        const problem = fetchError(sim, task, sim.taskView(task));
        if (problem) {
          errors.push({ taskId, errorString: problem });
          continue;
        }
        const result = await sim.resultOf(task);
        links.push({ taskId, fileName: result.fileName, downloadUrl: sim.downloadUrl(result) });
      }
      return { data: { [sim.config.fetchFilesKey]: links, errors } };
    },
  },
  {
    method: 'POST',
    pattern: '/private/tasks/cancel-task',
    handle: ({ sim, body, requireUser, hasPermission }) => {
      const user = requireUser();
      const filter = requireObject(requireObject(body).filter, 'filter');
      const ids = bodyIds(filter.ids, 'filter.ids');
      const parents = [
        ...(bodyIds(filter.parentTaskId__in, 'filter.parentTaskId__in') ?? []),
        ...(bodyIds(filter.parentTaskId, 'filter.parentTaskId') ?? []),
      ];
      if (!ids?.length && parents.length === 0) {
        throw validationError('filter: ids or parentTaskId__in is required.');
      }
      const tasks = [...sim.state.tasks.values()].filter(
        (task) =>
          visible(sim, user, task) &&
          (!ids?.length || ids.includes(task.id)) &&
          (parents.length === 0 || parents.includes(task.parentTaskId)),
      );
      const missing = tasks.find((task) => !hasPermission(cancelPermission(task.scriptType)));
      if (missing) throw insufficientPermissions(`Canceling ${missing.scriptType} tasks is not permitted`);
      let affected = 0;
      for (const task of tasks) {
        // Best effort, like the real endpoint: only tasks the agent has not received yet can be canceled.
        if (UNDELIVERED.has(sim.taskView(task).status)) {
          task.canceledAt = sim.clock();
          affected++;
        }
      }
      return { data: { affected: sim.config.numbersAsStrings ? String(affected) : affected } };
    },
  },
];
