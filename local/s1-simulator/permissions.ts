/**
 * The permission catalogue of the simulated console: RBAC pages, each with named permissions. A role holds a
 * set of `"<Page>.<permission>"` strings (the form S1's endpoint annotations use, e.g.
 * `Remote Script Orchestration.runDataCollectionScript`); `GET /rbac/role/{id}` renders every page with a
 * boolean `value` per permission, and the routes enforce them (403 `Insufficient permissions`).
 */
import type { ScriptType } from './types';

/** Page key of the RemoteOps permissions (the rendered page name is configurable, see `rsoPageName`). */
export const RSO_PAGE = 'Remote Script Orchestration';

/** Every page and its permissions. `identifier` is the page's stable id in `GET /rbac/role/{id}`. */
export const PERMISSION_PAGES = [
  {
    name: RSO_PAGE,
    identifier: 'remoteScriptOrchestration',
    permissions: [
      'view',
      'viewOutput',
      'upload',
      'edit',
      'delete',
      'runDataCollectionScript',
      'runArtifactCollectionScript',
      'runActionScript',
      'cancelDataCollectionScript',
      'cancelArtifactCollectionScript',
      'cancelActionScript',
      'manageGuardrails',
      'reviewPendingExecutions',
    ],
  },
  { name: 'Task Management', identifier: 'taskManagement', permissions: ['view'] },
  { name: 'Endpoints', identifier: 'endpoints', permissions: ['view'] },
  // `update` (incident status, analyst verdict): S1's own name for it is not in the public sources (README).
  { name: 'Threats', identifier: 'threats', permissions: ['view', 'update'] },
  { name: 'Sites', identifier: 'sites', permissions: ['view'] },
  { name: 'Roles', identifier: 'roles', permissions: ['view'] },
  { name: 'Users', identifier: 'users', permissions: ['view'] },
] as const;

type Page = (typeof PERMISSION_PAGES)[number];

/** A permission as `"<Page name>.<permission>"`, e.g. `"Task Management.view"`. */
export type Permission = {
  [P in Page as P['name']]: `${P['name']}.${P['permissions'][number]}`;
}[Page['name']];

/** All permissions of the catalogue (a fully-permitted role holds these). */
export const ALL_PERMISSIONS: readonly Permission[] = PERMISSION_PAGES.flatMap((page) =>
  page.permissions.map((perm) => `${page.name}.${perm}` as Permission),
);

/**
 * The least set of permissions the forensic workflow needs: list/upload/run data-collection scripts, read the
 * output, cancel its tasks, poll tasks, and see endpoints, threats and sites.
 */
export const WORKFLOW_PERMISSIONS: readonly Permission[] = [
  'Remote Script Orchestration.view',
  'Remote Script Orchestration.viewOutput',
  'Remote Script Orchestration.upload',
  'Remote Script Orchestration.runDataCollectionScript',
  'Remote Script Orchestration.cancelDataCollectionScript',
  'Task Management.view',
  'Endpoints.view',
  'Threats.view',
  'Sites.view',
];

const RUN_PERMISSION: Record<ScriptType, Permission> = {
  action: 'Remote Script Orchestration.runActionScript',
  artifactCollection: 'Remote Script Orchestration.runArtifactCollectionScript',
  dataCollection: 'Remote Script Orchestration.runDataCollectionScript',
};

const CANCEL_PERMISSION: Record<ScriptType, Permission> = {
  action: 'Remote Script Orchestration.cancelActionScript',
  artifactCollection: 'Remote Script Orchestration.cancelArtifactCollectionScript',
  dataCollection: 'Remote Script Orchestration.cancelDataCollectionScript',
};

/** The permission needed to run a script of the given type. */
export function runPermission(type: ScriptType): Permission {
  return RUN_PERMISSION[type];
}

/** The permission needed to cancel a task of a script of the given type. */
export function cancelPermission(type: ScriptType): Permission {
  return CANCEL_PERMISSION[type];
}

/** Type guard for permission strings coming from tests or the CLI. */
export function isPermission(value: string): value is Permission {
  return (ALL_PERMISSIONS as readonly string[]).includes(value);
}

/** Human title of a permission key, e.g. `runActionScript` → "Run Action Script". */
export function permissionTitle(key: string): string {
  const words = key.replace(/([a-z])([A-Z])/g, '$1 $2');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
