/**
 * Console-level endpoints: `GET /system/status`, `GET /user`, `POST /users/api-token-details`,
 * `GET /rbac/role/{id}` and `GET /sites` — what the permission audit reads.
 */
import type { Route, SimRuntime } from '../context';
import {
  authenticationFailed,
  checkId,
  isoMicros,
  type JsonObject,
  notFound,
  paginate,
  requireObject,
  sortItems,
  validationError,
} from '../http-util';
import { PERMISSION_PAGES, type Permission, permissionTitle, RSO_PAGE } from '../permissions';
import type { Role, Site, User } from '../types';

function scopeRole(sim: SimRuntime, user: User, role: Role): JsonObject {
  let name = 'Global';
  let accountName: string | null = null;
  if (user.scope === 'account') {
    name = sim.state.accounts.get(user.scopeId ?? '')?.name ?? 'Unknown';
    accountName = name;
  } else if (user.scope === 'site') {
    const site = sim.state.sites.get(user.scopeId ?? '');
    name = site?.name ?? 'Unknown';
    accountName = site ? (sim.state.accounts.get(site.accountId)?.name ?? null) : null;
  }
  return {
    id: user.scopeId ?? 'tenant',
    name,
    accountName,
    roleId: role.id,
    roleName: role.name,
    roles: [role.name],
  };
}

/** The role with every page of the catalogue and a boolean per permission (`GET /rbac/role/{id}`). */
export function renderRole(sim: SimRuntime, role: Role): JsonObject {
  const users = [...sim.state.users.values()].filter((user) => user.roleId === role.id).length;
  return {
    id: role.id,
    name: role.name,
    description: role.description,
    scope: role.scope.charAt(0).toUpperCase() + role.scope.slice(1),
    scopeId: role.scopeId,
    predefinedRole: role.predefinedRole,
    usersInRoles: users,
    createdAt: isoMicros(role.createdAt),
    updatedAt: isoMicros(role.createdAt),
    pages: PERMISSION_PAGES.map((page) => ({
      name: page.name === RSO_PAGE ? sim.config.rsoPageName : page.name,
      identifier: page.identifier,
      permissions: page.permissions.map((key) => ({
        identifier: key,
        title: permissionTitle(key),
        value: role.permissions.has(`${page.name}.${key}` as Permission),
        description: null,
        type: 'checkbox',
        dependsOn: [],
        groupName: null,
        disabledReason: null,
        disabledReasonCode: null,
      })),
    })),
  };
}

function renderSite(sim: SimRuntime, site: Site): JsonObject {
  const account = sim.state.accounts.get(site.accountId);
  const activeLicenses = [...sim.state.agents.values()].filter(
    (agent) => agent.siteId === site.id && !agent.isDecommissioned,
  ).length;
  const bundle = site.sku.toLowerCase();
  return {
    id: site.id,
    name: site.name,
    accountId: site.accountId,
    accountName: account?.name ?? null,
    state: site.state,
    siteType: 'Paid',
    sku: site.sku,
    suite: site.sku,
    isDefault: false,
    healthStatus: true,
    activeLicenses,
    totalLicenses: site.totalLicenses,
    unlimitedLicenses: false,
    expiration: null,
    unlimitedExpiration: true,
    createdAt: isoMicros(site.createdAt),
    updatedAt: isoMicros(site.createdAt),
    creator: 'simulator',
    ...(site.licenceData ? { licenses: siteLicences(site, bundle) } : {}),
  };
}

/** The `licenses` block of a site's record. */
function siteLicences(site: Site, bundle: string): JsonObject {
  return {
    bundles: [
      {
        name: bundle,
        displayName: site.sku,
        majorVersion: 1,
        minorVersion: 0,
        totalSurfaces: site.totalLicenses,
        surfaces: [{ name: 'Total Agents', count: site.totalLicenses }],
      },
    ],
    modules: site.rso ? [{ name: 'rso', displayName: 'Remote Script Orchestration', majorVersion: 1 }] : [],
    settings: [
      {
        groupName: 'remote_shell_availability',
        displayName: 'Remote Shell',
        setting: 'Available',
        settingGroupDisplayName: 'Remote Shell',
      },
    ],
  };
}

/** Tenant-level routes. */
export const tenantRoutes: Route[] = [
  {
    method: 'GET',
    pattern: '/system/status',
    auth: false,
    handle: () => ({ data: { health: 'ok' } }),
  },
  {
    method: 'GET',
    pattern: '/user',
    handle: ({ sim, requireUser, token }) => {
      const user = requireUser();
      const role = sim.state.roleOf(user);
      return {
        data: {
          id: user.id,
          fullName: user.fullName,
          email: user.email,
          source: 'mgmt',
          scope: user.scope,
          scopeRoles: [scopeRole(sim, user, role)],
          apiToken: token
            ? { createdAt: isoMicros(token.createdAt), expiresAt: isoMicros(token.expiresAt) }
            : null,
          canGenerateApiToken: true,
          isSystem: false,
          lowestRole: role.name,
          dateJoined: isoMicros(user.createdAt),
          twoFaEnabled: false,
        },
      };
    },
  },
  {
    // Callable without an Authorization header (as the alertlogic collector does): the body's token decides.
    method: 'POST',
    pattern: '/users/api-token-details',
    auth: false,
    handle: ({ sim, body }) => {
      const data = requireObject(requireObject(body).data, 'data');
      if (typeof data.apiToken !== 'string' || data.apiToken === '') {
        throw validationError('data.apiToken: Missing data for required field.');
      }
      const record = sim.state.tokens.get(data.apiToken);
      if (!record || record.revoked || record.expiresAt <= sim.clock()) throw authenticationFailed();
      return { data: { createdAt: isoMicros(record.createdAt), expiresAt: isoMicros(record.expiresAt) } };
    },
  },
  {
    method: 'GET',
    pattern: '/rbac/role/:roleId',
    permissions: ['Roles.view'],
    handle: ({ sim, params }) => {
      const role = sim.state.roles.get(checkId('roleId', 0, params.roleId));
      if (!role) throw notFound('Role not found');
      return { data: renderRole(sim, role) };
    },
  },
  {
    method: 'GET',
    pattern: '/sites',
    permissions: ['Sites.view'],
    handle: ({ sim, query, requireUser }) => {
      const user = requireUser();
      const siteIds = query.ids('siteIds');
      const accountIds = query.ids('accountIds');
      const states = query.list('states') ?? query.list('state');
      const name = query.str('name');
      const sites = [...sim.state.sites.values()].filter(
        (site) =>
          sim.state.canSeeSite(user, site.id) &&
          (!siteIds || siteIds.includes(site.id)) &&
          (!accountIds || accountIds.includes(site.accountId)) &&
          (!states || states.includes(site.state)) &&
          (name === undefined || site.name === name),
      );
      sortItems(sites, query, { id: (s) => s.id, name: (s) => s.name, createdAt: (s) => s.createdAt }, 'id');
      const page = paginate(sites, query, { listKey: 'sites', cursorEnd: sim.config.cursorEnd });
      const rendered = page.data.map((site) => renderSite(sim, site));
      const activeLicenses = rendered.reduce((sum, site) => sum + Number(site.activeLicenses), 0);
      const totalLicenses = sites.reduce((sum, site) => sum + site.totalLicenses, 0);
      return {
        data: { allSites: { activeLicenses, totalLicenses }, sites: rendered },
        pagination: page.pagination,
      };
    },
  },
];
