/**
 * `GET /agents`, and the agent selector shared with `POST /remote-scripts/execute` (whose `filter` is the
 * agents filter set given as JSON).
 */
import type { Route, SimRuntime } from '../context';
import {
  bodyIds,
  isoMicros,
  type JsonObject,
  paginate,
  type Query,
  sortItems,
  validationError,
} from '../http-util';
import type { Agent, OsType, User } from '../types';

const OS_TYPES: readonly OsType[] = ['windows', 'linux', 'macos'];

/** Agent filter fields the simulator understands (a subset of S1's ~200). */
export interface AgentSelector {
  ids?: string[];
  uuids?: string[];
  siteIds?: string[];
  accountIds?: string[];
  groupIds?: string[];
  osTypes?: string[];
  networkStatuses?: string[];
  isActive?: boolean;
  isDecommissioned?: boolean;
  computerName?: string;
  computerNameContains?: string[];
}

/** Reads a selector from query parameters. */
export function selectorFromQuery(query: Query): AgentSelector {
  return {
    ids: query.ids('ids'),
    uuids: query.list('uuids') ?? query.list('uuid'),
    siteIds: query.ids('siteIds'),
    accountIds: query.ids('accountIds'),
    groupIds: query.ids('groupIds'),
    osTypes: query.enumList('osTypes', [...OS_TYPES, 'windows_legacy']),
    networkStatuses: query.list('networkStatuses'),
    isActive: query.bool('isActive'),
    isDecommissioned: query.bool('isDecommissioned'),
    computerName: query.str('computerName'),
    computerNameContains: query.list('computerName__contains'),
  };
}

function stringList(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.split(',').filter((v) => v !== '');
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw validationError(`filter.${name}: Not a valid list.`);
}

function optionalBool(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw validationError(`filter.${name}: Not a valid boolean.`);
}

/** Reads a selector from a JSON `filter` object. */
export function selectorFromBody(filter: JsonObject): AgentSelector {
  return {
    ids: bodyIds(filter.ids, 'filter.ids'),
    uuids: stringList(filter.uuids, 'uuids'),
    siteIds: bodyIds(filter.siteIds, 'filter.siteIds'),
    accountIds: bodyIds(filter.accountIds, 'filter.accountIds'),
    groupIds: bodyIds(filter.groupIds, 'filter.groupIds'),
    osTypes: stringList(filter.osTypes, 'osTypes'),
    networkStatuses: stringList(filter.networkStatuses, 'networkStatuses'),
    isActive: optionalBool(filter.isActive, 'isActive'),
    isDecommissioned: optionalBool(filter.isDecommissioned, 'isDecommissioned'),
    computerName: typeof filter.computerName === 'string' ? filter.computerName : undefined,
    computerNameContains: stringList(filter.computerName__contains, 'computerName__contains'),
  };
}

/** Agents visible to the user that match the selector. */
export function selectAgents(sim: SimRuntime, user: User, selector: AgentSelector): Agent[] {
  const contains = selector.computerNameContains?.map((part) => part.toLowerCase());
  return [...sim.state.agents.values()].filter(
    (agent) =>
      sim.state.canSeeSite(user, agent.siteId) &&
      (!selector.ids || selector.ids.includes(agent.id)) &&
      (!selector.uuids || selector.uuids.includes(agent.uuid)) &&
      (!selector.siteIds || selector.siteIds.includes(agent.siteId)) &&
      (!selector.accountIds || selector.accountIds.includes(agent.accountId)) &&
      (!selector.groupIds || selector.groupIds.includes(agent.groupId)) &&
      (!selector.osTypes || selector.osTypes.includes(agent.osType)) &&
      (!selector.networkStatuses || selector.networkStatuses.includes(agent.networkStatus)) &&
      (selector.isActive === undefined || agent.isActive === selector.isActive) &&
      (selector.isDecommissioned === undefined || agent.isDecommissioned === selector.isDecommissioned) &&
      (selector.computerName === undefined || agent.computerName === selector.computerName) &&
      (!contains || contains.some((part) => agent.computerName.toLowerCase().includes(part))),
  );
}

/** The agent as `GET /agents` shows it. */
export function renderAgent(sim: SimRuntime, agent: Agent): JsonObject {
  const site = sim.state.sites.get(agent.siteId);
  const account = sim.state.accounts.get(agent.accountId);
  const activeThreats = [...sim.state.threats.values()].filter(
    (threat) => threat.agentId === agent.id && threat.incidentStatus !== 'resolved',
  ).length;
  return {
    id: agent.id,
    uuid: agent.uuid,
    computerName: agent.computerName,
    osType: agent.osType,
    osName: agent.osName,
    osRevision: agent.osRevision,
    osArch: '64 bit',
    machineType: agent.machineType,
    isActive: agent.isActive,
    isDecommissioned: agent.isDecommissioned,
    isUninstalled: agent.isUninstalled,
    networkStatus: agent.networkStatus,
    agentVersion: agent.agentVersion,
    siteId: agent.siteId,
    siteName: site?.name ?? null,
    accountId: agent.accountId,
    accountName: account?.name ?? null,
    groupId: agent.groupId,
    groupName: 'Default Group',
    externalIp: agent.externalIp,
    lastIpToMgmt: agent.externalIp,
    domain: agent.osType === 'windows' ? 'WORKGROUP' : 'unknown',
    infected: activeThreats > 0,
    activeThreats,
    lastActiveDate: isoMicros(agent.lastActiveDate),
    registeredAt: isoMicros(agent.lastActiveDate),
    createdAt: isoMicros(agent.lastActiveDate),
    updatedAt: isoMicros(agent.lastActiveDate),
    userActionsNeeded: [],
    missingPermissions: [],
  };
}

/** Agent routes. */
export const agentRoutes: Route[] = [
  {
    method: 'GET',
    pattern: '/agents',
    permissions: ['Endpoints.view'],
    handle: ({ sim, query, requireUser }) => {
      const agents = selectAgents(sim, requireUser(), selectorFromQuery(query));
      sortItems(
        agents,
        query,
        {
          id: (a) => a.id,
          computerName: (a) => a.computerName,
          osType: (a) => a.osType,
          lastActiveDate: (a) => a.lastActiveDate,
          createdAt: (a) => a.id,
        },
        'id',
      );
      const page = paginate(agents, query, { listKey: 'agents', cursorEnd: sim.config.cursorEnd });
      return { data: page.data.map((agent) => renderAgent(sim, agent)), pagination: page.pagination };
    },
  },
];
