/**
 * Cado RBAC as the simulator models it: the roles an API key can carry and the permission flags that
 * `GET /api/v3/auth/whoami` reports for each. Endpoints are authorised from the same table, so what whoami
 * says a key can do is exactly what the simulator lets it do.
 *
 * The allowed roles per endpoint follow the `x-Required Roles` of Cado's OpenAPI document (see
 * `reference/cado-api.md` §1); the flags a role carries beyond those endpoints are an informed guess.
 */

/** Roles a Cado user or API key can hold (`rbac_role`). */
export const CADO_ROLES = [
  'Administrator',
  'Platform Administrator',
  'Lead Analyst',
  'Analyst',
  'Read Only Analyst',
] as const;

/** One Cado role. */
export type CadoRole = (typeof CADO_ROLES)[number];

/** Permission flags reported by whoami (a subset of the platform's list: the ones this project can touch). */
export const CADO_PERMISSIONS = [
  'alarms_read',
  'api_keys_create',
  'api_keys_read',
  'cloud_accounts_admin',
  'cloud_accounts_read',
  'cloud_accounts_write',
  'download_evidence',
  'import_data',
  'import_data_full',
  'import_data_triage',
  'pipelines_abort',
  'pipelines_logs',
  'pipelines_read',
  'pipelines_rerun',
  'platform_status_read',
  'projects_admin',
  'projects_create',
  'projects_delete',
  'projects_read',
  'projects_update',
  'settings_read',
  'settings_write',
  'system_read',
  'timeline_read',
  'users_admin',
  'webhook_read',
  'webhook_write',
] as const;

/** One permission flag. */
export type CadoPermission = (typeof CADO_PERMISSIONS)[number];

/** The whoami `permissions` object: every known flag, true or false. */
export type CadoPermissionFlags = Record<CadoPermission, boolean>;

const READ: readonly CadoPermission[] = [
  'alarms_read',
  'pipelines_read',
  'platform_status_read',
  'projects_read',
  'timeline_read',
];
const IMPORT: readonly CadoPermission[] = [
  'cloud_accounts_read',
  'download_evidence',
  'import_data',
  'import_data_full',
  'import_data_triage',
  'pipelines_abort',
  'pipelines_logs',
  'pipelines_rerun',
];
const PLATFORM_ADMIN: readonly CadoPermission[] = [
  'api_keys_create',
  'api_keys_read',
  'cloud_accounts_admin',
  'cloud_accounts_read',
  'cloud_accounts_write',
  'platform_status_read',
  'settings_read',
  'settings_write',
  'system_read',
  'users_admin',
  'webhook_read',
  'webhook_write',
];

const GRANTS: Record<CadoRole, ReadonlySet<CadoPermission>> = {
  Administrator: new Set(CADO_PERMISSIONS),
  // Platform administrators run the platform, not investigations: no project or import rights.
  'Platform Administrator': new Set(PLATFORM_ADMIN),
  'Lead Analyst': new Set([...READ, ...IMPORT, 'projects_create', 'projects_update']),
  Analyst: new Set([...READ, ...IMPORT]),
  'Read Only Analyst': new Set(READ),
};

/** Whether `role` carries `permission`. */
export function roleHas(role: CadoRole, permission: CadoPermission): boolean {
  return GRANTS[role].has(permission);
}

/** The whoami permission object for `role`. */
export function permissionFlags(role: CadoRole): CadoPermissionFlags {
  const flags = {} as CadoPermissionFlags;
  for (const permission of CADO_PERMISSIONS) flags[permission] = roleHas(role, permission);
  return flags;
}

/** Type guard for role names arriving from outside (CLI flags). */
export function isCadoRole(value: string): value is CadoRole {
  return (CADO_ROLES as readonly string[]).includes(value);
}
