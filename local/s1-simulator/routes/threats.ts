/**
 * `GET /threats`, `POST /threats/notes`, `GET /threats/{id}/notes`, `POST /threats/incident` and
 * `POST /threats/analyst-verdict`.
 */
import type { Route, SimRuntime } from '../context';
import {
  bodyIds,
  isoMicros,
  type JsonObject,
  notFound,
  paginate,
  requireObject,
  sortItems,
  validationError,
} from '../http-util';
import type { Threat, ThreatNote } from '../types';

/** The full threat object, shaped like v2.1 (`threatInfo`, `agentRealtimeInfo`, `agentDetectionInfo`, ...). */
export function renderThreat(sim: SimRuntime, threat: Threat): JsonObject {
  const agent = sim.state.agents.get(threat.agentId);
  const site = agent ? sim.state.sites.get(agent.siteId) : undefined;
  const account = agent ? sim.state.accounts.get(agent.accountId) : undefined;
  return {
    id: threat.id,
    threatInfo: {
      threatId: threat.id,
      threatName: threat.threatName,
      classification: threat.classification,
      classificationSource: threat.classificationSource,
      confidenceLevel: threat.confidenceLevel,
      analystVerdict: threat.analystVerdict,
      analystVerdictDescription: threat.analystVerdict === 'undefined' ? 'Undefined' : threat.analystVerdict,
      incidentStatus: threat.incidentStatus,
      mitigationStatus: threat.mitigationStatus,
      detectionType: threat.detectionType,
      engines: ['Reputation'],
      initiatedBy: threat.initiatedBy,
      filePath: threat.filePath,
      sha1: threat.sha1,
      sha256: threat.sha256,
      md5: null,
      storyline: threat.storyline,
      processUser: threat.processUser,
      createdAt: isoMicros(threat.createdAt),
      updatedAt: isoMicros(threat.updatedAt),
      identifiedAt: isoMicros(threat.createdAt),
    },
    agentRealtimeInfo: {
      agentId: threat.agentId,
      agentUuid: agent?.uuid ?? null,
      agentComputerName: agent?.computerName ?? null,
      agentOsType: agent?.osType ?? null,
      agentIsActive: agent?.isActive ?? false,
      agentIsDecommissioned: agent?.isDecommissioned ?? false,
      agentNetworkStatus: agent?.networkStatus ?? null,
      agentMachineType: agent?.machineType ?? null,
      agentVersion: agent?.agentVersion ?? null,
      siteId: agent?.siteId ?? null,
      siteName: site?.name ?? null,
      accountId: agent?.accountId ?? null,
      accountName: account?.name ?? null,
      groupId: agent?.groupId ?? null,
    },
    // Real consoles often leave these null (reference §4.1): clients must route by agentRealtimeInfo.
    agentDetectionInfo: {
      agentVersion: threat.detectionAgentVersion,
      agentMitigationMode: 'protect',
      agentOsName: agent?.osName ?? null,
      siteId: null,
      accountId: null,
      agentUuid: null,
      externalIp: null,
    },
    mitigationStatus: [{ action: 'kill', status: 'success', lastUpdate: isoMicros(threat.createdAt) }],
    indicators: [],
    whiteningOptions: ['hash'],
  };
}

function renderNote(note: ThreatNote): JsonObject {
  return {
    id: note.id,
    text: note.text,
    creator: note.creator,
    creatorId: note.creatorId,
    edited: false,
    createdAt: isoMicros(note.createdAt),
    updatedAt: isoMicros(note.createdAt),
  };
}

/** Threat routes. */
export const threatRoutes: Route[] = [
  {
    method: 'GET',
    pattern: '/threats',
    permissions: ['Threats.view'],
    handle: ({ sim, query, requireUser }) => {
      const user = requireUser();
      const ids = query.ids('ids');
      const siteIds = query.ids('siteIds');
      const accountIds = query.ids('accountIds');
      const agentIds = query.ids('agentIds');
      const confidenceLevels = query.enumList('confidenceLevels', ['malicious', 'suspicious', 'n/a']);
      const classifications = query.list('classifications');
      const osTypes = query.list('osTypes');
      const incidentStatuses = query.list('incidentStatuses');
      const analystVerdicts = query.list('analystVerdicts');
      const created = query.timeRange('createdAt');
      const updated = query.timeRange('updatedAt');
      const threats = [...sim.state.threats.values()].filter((threat) => {
        const agent = sim.state.agents.get(threat.agentId);
        if (!agent || !sim.state.canSeeSite(user, agent.siteId)) return false;
        return (
          (!ids || ids.includes(threat.id)) &&
          (!siteIds || siteIds.includes(agent.siteId)) &&
          (!accountIds || accountIds.includes(agent.accountId)) &&
          (!agentIds || agentIds.includes(agent.id)) &&
          (!confidenceLevels || confidenceLevels.includes(threat.confidenceLevel)) &&
          (!classifications || classifications.includes(threat.classification)) &&
          (!osTypes || osTypes.includes(agent.osType)) &&
          (!incidentStatuses || incidentStatuses.includes(threat.incidentStatus)) &&
          (!analystVerdicts || analystVerdicts.includes(threat.analystVerdict)) &&
          (!created || created(threat.createdAt)) &&
          (!updated || updated(threat.updatedAt))
        );
      });
      sortItems(
        threats,
        query,
        {
          id: (t) => t.id,
          createdAt: (t) => t.createdAt,
          updatedAt: (t) => t.updatedAt,
          threatName: (t) => t.threatName,
        },
        'id',
      );
      const page = paginate(threats, query, { listKey: 'threats', cursorEnd: sim.config.cursorEnd });
      return { data: page.data.map((threat) => renderThreat(sim, threat)), pagination: page.pagination };
    },
  },
  {
    method: 'POST',
    pattern: '/threats/notes',
    permissions: ['Threats.view'],
    handle: ({ sim, body, requireUser }) => {
      const user = requireUser();
      const request = requireObject(body);
      const filter = requireObject(request.filter, 'filter');
      const data = requireObject(request.data, 'data');
      if (typeof data.text !== 'string' || data.text.trim() === '')
        throw validationError('data.text: Missing data for required field.');
      const ids = bodyIds(filter.ids, 'filter.ids');
      // Refuse an id-less filter rather than annotating every threat in scope.
      if (!ids || ids.length === 0) throw validationError('filter.ids: At least one threat id is required.');
      const text = data.text;
      let affected = 0;
      for (const id of ids) {
        const threat = sim.state.threats.get(id);
        const agent = threat ? sim.state.agents.get(threat.agentId) : undefined;
        if (!threat || !agent || !sim.state.canSeeSite(user, agent.siteId)) continue;
        const note: ThreatNote = {
          id: sim.state.newId(),
          threatId: id,
          text,
          creatorId: user.id,
          creator: user.fullName,
          createdAt: sim.clock(),
        };
        sim.state.notes.set(id, [...(sim.state.notes.get(id) ?? []), note]);
        affected++;
      }
      return { data: { affected: sim.config.numbersAsStrings ? String(affected) : affected } };
    },
  },
  ...(
    [
      ['/threats/incident', 'incidentStatus', ['unresolved', 'in_progress', 'resolved']],
      [
        '/threats/analyst-verdict',
        'analystVerdict',
        ['true_positive', 'suspicious', 'false_positive', 'undefined'],
      ],
    ] as const
  ).map(
    ([pattern, field, allowed]): Route => ({
      method: 'POST',
      pattern,
      permissions: ['Threats.update'],
      handle: ({ sim, body, requireUser }) => {
        const user = requireUser();
        const request = requireObject(body);
        const filter = requireObject(request.filter, 'filter');
        const data = requireObject(request.data, 'data');
        const value = data[field];
        if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
          throw validationError(`data.${field}: Must be one of: ${allowed.join(', ')}.`);
        }
        const ids = bodyIds(filter.ids, 'filter.ids');
        if (!ids || ids.length === 0)
          throw validationError('filter.ids: At least one threat id is required.');
        let affected = 0;
        for (const id of ids) {
          const threat = sim.state.threats.get(id);
          const agent = threat ? sim.state.agents.get(threat.agentId) : undefined;
          if (!threat || !agent || !sim.state.canSeeSite(user, agent.siteId)) continue;
          threat[field] = value;
          threat.updatedAt = sim.clock();
          affected++;
        }
        return { data: { affected: sim.config.numbersAsStrings ? String(affected) : affected } };
      },
    }),
  ),
  {
    method: 'GET',
    pattern: '/threats/:threatId/notes',
    permissions: ['Threats.view'],
    handle: ({ sim, params, query, requireUser }) => {
      const threat = sim.state.threats.get(params.threatId ?? '');
      const agent = threat ? sim.state.agents.get(threat.agentId) : undefined;
      if (!threat || !agent || !sim.state.canSeeSite(requireUser(), agent.siteId))
        throw notFound('Threat not found');
      const notes = [...(sim.state.notes.get(threat.id) ?? [])];
      const page = paginate(notes, query, { listKey: `notes:${threat.id}`, cursorEnd: sim.config.cursorEnd });
      return { data: page.data.map(renderNote), pagination: page.pagination };
    },
  },
];
