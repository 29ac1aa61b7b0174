/**
 * JSON shapes of the v3 API, rendered from the model (reference/cado-api.md §2, §3.2, §4).
 */
import type { CadoBehaviour } from './behaviour';
import {
  type ApiKeyRecord,
  type CadoState,
  type EvidenceRecord,
  type PipelineRecord,
  type ProjectRecord,
  pipelineSnapshot,
  summarize,
} from './model';
import { permissionFlags } from './roles';

/** `data` of `GET /api/v3/auth/whoami`. */
export function whoamiView(key: ApiKeyRecord): Record<string, unknown> {
  return {
    id: key.userId,
    username: key.username,
    display_name: key.displayName,
    rbac_role: key.role,
    changed_password: true,
    eula_agreed: key.eulaAgreed,
    permissions: permissionFlags(key.role),
  };
}

/** A project as the list and get endpoints return it (name under `details.name`). */
export function projectView(state: CadoState, project: ProjectRecord): Record<string, unknown> {
  const evidences = [...state.evidences.values()].filter((e) => e.projectId === project.id);
  const lastImport = state.imports.filter((i) => i.projectId === project.id).at(-1);
  return {
    id: project.id,
    created: project.created,
    evidences: evidences.length,
    alarms: { malicious: 0, suspicious: 0 },
    details: {
      name: project.name,
      description: project.description,
      items_identified: 0,
      status: 'Collection & Analysis',
      users: [],
      groups: [],
    },
    ai_summary: null,
    manually_created: true,
    unique_sources: [...new Set(evidences.map((e) => e.bucket))],
    ...(lastImport ? { last_acquisition: lastImport.at } : {}),
  };
}

/** Options of {@link pipelineView}. */
export interface PipelineViewOptions {
  /** Simulated now (epoch ms). */
  readonly now: number;
  /** Leave out `status`, as platforms before 2.269.0 do. */
  readonly legacyStatus: boolean;
  /** List items carry subtasks as `{name, state}` only. */
  readonly listItem?: boolean;
}

/** A pipeline as `GET /api/v3/pipelines/{id}` (or, with `listItem`, the list endpoint) returns it. */
export function pipelineView(
  state: CadoState,
  p: PipelineRecord,
  options: PipelineViewOptions,
): Record<string, unknown> {
  const snapshot = pipelineSnapshot(p, options.now);
  const evidence = state.evidences.get(p.evidenceId);
  const project = state.projects.get(p.projectId);
  const user = [...state.keys.values()].find((k) => k.userId === p.userId);
  const subtasks = snapshot.subtasks.map((s) =>
    options.listItem
      ? { name: s.name, state: s.state }
      : {
          id: `${p.id}-${s.index}`,
          name: s.name,
          name_key: s.name.toLowerCase().replace(/[^a-z0-9]+/g, '_'),
          state: s.state,
          progress_text: s.progressText,
          start_time: s.startTime ?? null,
          finish_time: s.finishTime ?? null,
          execution_duration:
            s.startTime !== undefined && s.finishTime !== undefined ? s.finishTime - s.startTime : null,
        },
  );
  return {
    pipeline: { id: p.id, type: p.type },
    name: p.name,
    ...(options.legacyStatus ? {} : { status: snapshot.status }),
    terminated: snapshot.terminal,
    aborted: snapshot.aborted,
    can_be_terminated: !snapshot.terminal,
    summary: summarize(snapshot),
    subtasks,
    evidence: { id: p.evidenceId, name: evidence?.name ?? '' },
    project: { id: p.projectId, name: project?.name ?? '' },
    ...(p.triggeringPipelineId === undefined ? {} : { triggering_pipeline_id: p.triggeringPipelineId }),
    created: p.created,
    ...(snapshot.startTime === undefined ? {} : { start_time: snapshot.startTime }),
    kick_off: [],
    user: user ? { id: user.userId, username: user.username, display_name: user.displayName } : null,
  };
}

/** An evidence record as `GET /api/v3/evidences/{id}` returns it (the spec's `evidence_schema`). */
export function evidenceView(
  evidence: EvidenceRecord,
  hash: CadoBehaviour['evidenceHash'],
): Record<string, unknown> {
  const diskHash =
    typeof hash === 'function'
      ? hash(evidence)
      : hash === 'sha256'
        ? evidence.digests?.sha256
        : hash === 'md5'
          ? evidence.digests?.md5
          : undefined;
  return {
    id: evidence.id,
    project_id: evidence.projectId,
    display_name: evidence.name,
    description: '',
    log: '',
    alarms: { malicious: 0, suspicious: 0 },
    items: 1,
    details: {
      ...(evidence.sizeBytes === undefined ? {} : { disk_size: evidence.sizeBytes }),
      ...(diskHash === undefined ? {} : { disk_hash: diskHash }),
      type: 'file',
      is_cado_host: false,
    },
    processing_ran: true,
  };
}
