/**
 * The audit's checks as pure functions: each takes what was fetched from S1 or Cado (a value, or the error the
 * call failed with) and returns one {@link AuditCheck} with its status, the reason and the fix. Keeping the fetching
 * out of here lets the workflow's preflight (`check-permissions`) reuse the exact wording, and keeps every check
 * isolated: a failed call turns into that check's `fail` or `unknown`, never into an exception.
 */
import type { CollectorScript } from '../../collectors';
import { parseLibraryName } from '../../collectors';
import type { CadoPurpose, CadoSystemStatus, CadoWhoami, CadoXdrAccount } from '../cado';
import { missingPermissionsFor } from '../cado';
import { sameConsole } from '../cado/xdr';
import {
  CadoAuthError,
  CadoForbiddenError,
  CadoNotFoundError,
  CadoRateLimitedError,
  CadoTlsError,
  CadoTransientError,
  ConfigError,
  HostNotAllowedError,
  InputValidationError,
  S1AuthError,
  S1ForbiddenError,
  S1NotFoundError,
  S1RateLimitedError,
  S1TlsError,
  S1TransientError,
  SecretError,
} from '../errors';
import { redact } from '../redact';
import type { OsType, Target } from '../schemas';
import {
  type ContentHash,
  identityOf,
  isLibraryNameOf,
  type LookAlike,
  lookAlike,
  type ScriptIdentity,
  scriptCovers,
} from '../script-library';
import {
  RSO_LICENSE_MODULE,
  type S1ApiTokenDetails,
  type S1CurrentUser,
  type S1Role,
  type S1Script,
  type S1Site,
  siteLicence,
} from '../sentinelone';
import type { AuditCheck } from './report';

/** The outcome of one call: its value, or the error it failed with. */
export type Fetched<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown };

/** Runs `call` and captures its value or error (never throws). */
export async function attempt<T>(call: () => T | Promise<T>): Promise<Fetched<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Ids of the checks, in report order. Stable: they are metric dimensions and keys for "is this warning new". */
export const CHECK_IDS = {
  s1Token: 's1-token-valid',
  s1Scope: 's1-user-scope',
  s1Permissions: 's1-role-permissions',
  s1Expiry: 's1-token-expiry',
  s1Sites: 's1-sites-rso',
  s1Scripts: 's1-collector-scripts',
  cadoKey: 'cado-key-valid',
  cadoPermissions: 'cado-permissions',
  cadoHealth: 'cado-platform-health',
  cadoXdrAccount: 'cado-xdr-account',
} as const;

/** Titles of the checks, by id. */
export const CHECK_TITLES: Readonly<Record<(typeof CHECK_IDS)[keyof typeof CHECK_IDS], string>> = {
  's1-token-valid': 'S1 API token accepted',
  's1-user-scope': 'S1 service user scope',
  's1-role-permissions': 'S1 role permissions',
  's1-token-expiry': 'S1 API token expiry',
  's1-sites-rso': 'RemoteOps licence on every site',
  's1-collector-scripts': 'Collector scripts in the S1 library',
  'cado-key-valid': 'Cado API key accepted',
  'cado-permissions': 'Cado key permissions',
  'cado-platform-health': 'Cado platform health',
  'cado-xdr-account': 'Cado SentinelOne XDR account (collection mode cado-xdr)',
};

type CheckId = keyof typeof CHECK_TITLES;

const NOTHING_TO_DO = 'Nothing to do.';
const DAY_MS = 86_400_000;

function check(
  id: CheckId,
  status: AuditCheck['status'],
  reason: string,
  fix: string,
  details?: Record<string, unknown>,
): AuditCheck {
  return {
    id,
    title: CHECK_TITLES[id],
    status,
    reason: redact(reason),
    fix: redact(fix),
    ...(details ? { details } : {}),
  };
}

// --- Errors ---------------------------------------------------------------------------------------------------

/** What kind of failure an error is, as far as the audit's wording is concerned. */
export type FailureKind = 'auth' | 'forbidden' | 'notFound' | 'secret' | 'unreachable' | 'config' | 'other';

/** Classifies an error thrown by the S1/Cado clients or the secret reader. */
export function failureKind(error: unknown): FailureKind {
  if (error instanceof S1AuthError || error instanceof CadoAuthError) return 'auth';
  if (error instanceof S1ForbiddenError || error instanceof CadoForbiddenError) return 'forbidden';
  if (error instanceof S1NotFoundError || error instanceof CadoNotFoundError) return 'notFound';
  if (error instanceof SecretError) return 'secret';
  if (
    error instanceof S1TransientError ||
    error instanceof S1RateLimitedError ||
    error instanceof S1TlsError ||
    error instanceof CadoTransientError ||
    error instanceof CadoRateLimitedError ||
    error instanceof CadoTlsError
  ) {
    return 'unreachable';
  }
  if (
    error instanceof HostNotAllowedError ||
    error instanceof ConfigError ||
    error instanceof InputValidationError
  ) {
    return 'config';
  }
  return 'other';
}

/** `Name: message`, redacted and bounded, for reasons. */
export function describeError(error: unknown): string {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const text = redact(`${name}: ${message}`);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

type Service = 'S1' | 'Cado';

const SERVICE_NAME: Record<Service, string> = { S1: 'SentinelOne', Cado: 'Cado' };
const GATE_CHECK: Record<Service, CheckId> = { S1: CHECK_IDS.s1Token, Cado: CHECK_IDS.cadoKey };

/**
 * `unknown` for a check that could not run because the service could not be asked at all (token rejected, no
 * connection, secret unreadable); other errors are described as they are.
 */
function notChecked(id: CheckId, service: Service, error: unknown, what: string): AuditCheck {
  const kind = failureKind(error);
  const gate = `see "${CHECK_TITLES[GATE_CHECK[service]]}"`;
  if (kind === 'auth') {
    return check(
      id,
      'unknown',
      `Not checked: ${SERVICE_NAME[service]} rejected the credential (${gate}).`,
      'Fix the credential first, then run the audit again.',
    );
  }
  if (kind === 'unreachable' || kind === 'secret' || kind === 'config') {
    return check(
      id,
      'unknown',
      `Not checked: ${SERVICE_NAME[service]} could not be asked (${gate}): ${describeError(error)}.`,
      'Fix the connection or credential first, then run the audit again.',
    );
  }
  return check(
    id,
    'unknown',
    `Could not ${what}: ${describeError(error)}.`,
    'Run the audit again; if this persists, check the service and this project’s logs.',
  );
}

// --- S1 token and user ----------------------------------------------------------------------------------------

const S1_TOKEN_REJECTED =
  'SentinelOne rejected the API token (401): it has expired, was revoked, or does not belong to this console.';
const S1_NEW_TOKEN_FIX =
  'Generate a new API token for the service user in the S1 console (Settings → Users → Service Users), ' +
  'store it as {"apiToken": "<token>"} in the S1 secret, and run the audit again. The workflow re-reads the ' +
  'secret, so no redeploy is needed.';

function userName(user: S1CurrentUser): string {
  return user.fullName ?? user.name ?? `user ${user.id}`;
}

/** The S1 token is accepted (`GET /user` works). A 403 still proves the token valid. */
export function s1TokenCheck(user: Fetched<S1CurrentUser>): AuditCheck {
  const id = CHECK_IDS.s1Token;
  if (user.ok) {
    return check(id, 'pass', `SentinelOne accepted the token of "${userName(user.value)}".`, NOTHING_TO_DO, {
      userId: user.value.id,
      userName: userName(user.value),
    });
  }
  switch (failureKind(user.error)) {
    case 'auth':
      return check(id, 'fail', S1_TOKEN_REJECTED, S1_NEW_TOKEN_FIX);
    case 'forbidden':
      return check(
        id,
        'pass',
        'SentinelOne accepted the token, but the service user may not read its own details (GET /user answered 403).',
        NOTHING_TO_DO,
      );
    case 'secret':
      return check(
        id,
        'fail',
        `The S1 API token could not be read: ${describeError(user.error)}.`,
        'Store the token as {"apiToken": "<token>"} in the S1 secret in Secrets Manager, and make sure this function may read it.',
      );
    case 'unreachable':
      return check(
        id,
        'fail',
        `Could not reach the SentinelOne console: ${describeError(user.error)}.`,
        'Check the console URL (s1ConsoleUrl, or --s1-url), DNS and outbound HTTPS from where the audit runs, then run it again.',
      );
    case 'config':
      return check(
        id,
        'fail',
        `The S1 console URL is not usable: ${describeError(user.error)}.`,
        'Fix s1ConsoleUrl (the console root, e.g. https://<tenant>.sentinelone.net) or widen s1AllowedHosts in cdk.json.',
      );
    default:
      return check(
        id,
        'fail',
        `SentinelOne answered GET /user unexpectedly: ${describeError(user.error)}.`,
        'Run the audit again; if this persists, check the console status and this project’s logs.',
      );
  }
}

/** The service user's scope is account or global (`tenant`), not site. */
export function s1ScopeCheck(user: Fetched<S1CurrentUser>): AuditCheck {
  const id = CHECK_IDS.s1Scope;
  if (!user.ok) {
    if (failureKind(user.error) === 'forbidden') {
      return check(
        id,
        'unknown',
        'The service user may not read its own details (GET /user answered 403), so its scope is unknown.',
        'Check in the S1 console (Settings → Users → Service Users) that the user has Account or Global scope, not Site.',
      );
    }
    return notChecked(id, 'S1', user.error, 'read the service user');
  }
  const scope = user.value.scope?.trim().toLowerCase();
  const where = (user.value.scopeRoles ?? [])
    .map((role) => role.name ?? role.id)
    .filter((name): name is string => Boolean(name));
  const details = { scope: user.value.scope ?? null, scopeNames: where };
  const within = where.length > 0 ? ` (${where.join(', ')})` : '';
  if (scope === 'tenant' || scope === 'global') {
    return check(
      id,
      'pass',
      'The service user has Global scope (tenant in the API).',
      NOTHING_TO_DO,
      details,
    );
  }
  if (scope === 'account') {
    return check(id, 'pass', `The service user has Account scope${within}.`, NOTHING_TO_DO, details);
  }
  if (scope === 'site') {
    return check(
      id,
      'fail',
      `The service user is scoped to a site${within}. The workflow needs Account or Global scope: a site-scoped ` +
        'user cannot see agents in other sites, and the scripts it uploads are visible in one site only.',
      'Create a service user with Account (or Global) scope in the S1 console (Settings → Users → Service Users), ' +
        'give it the role with the required permissions, and store its API token in the S1 secret.',
      details,
    );
  }
  return check(
    id,
    'unknown',
    `SentinelOne reported an unexpected scope "${user.value.scope ?? '(none)'}".`,
    'Check in the S1 console that the service user has Account or Global scope, not Site.',
    details,
  );
}

// --- S1 role permissions --------------------------------------------------------------------------------------

/** A permission the workflow needs from the service user's role. */
export interface RequiredS1Permission {
  /** The name the setup guide uses, e.g. "Run Artifact Collection Script". */
  readonly name: string;
  /** The role page it sits on. */
  readonly page: 'Remote Script Orchestration' | 'Task Management';
  /** Its label on that page in the console. */
  readonly label: string;
  /** Spellings accepted for its identifier or title, lower-case letters and digits only. */
  readonly aliases: readonly string[];
  /** What the workflow needs it for. */
  readonly why: string;
}

const RSO = 'Remote Script Orchestration' as const;

/** The eleven permissions the S1 setup requires, in the order of the setup guide. */
export const REQUIRED_S1_PERMISSIONS: readonly RequiredS1Permission[] = [
  { name: 'RemoteOps View', page: RSO, label: 'View', aliases: ['view'], why: 'list the script library' },
  {
    name: 'View Output',
    page: RSO,
    label: 'View Output',
    aliases: ['viewoutput', 'viewscriptoutput', 'viewresults'],
    why: 'fetch the collection result files',
  },
  {
    name: 'Upload',
    page: RSO,
    label: 'Upload',
    aliases: ['upload', 'uploadscript', 'uploadscripts'],
    why: 'upload the collector scripts',
  },
  {
    name: 'Run Data Collection Script',
    page: RSO,
    label: 'Run Data Collection Script',
    aliases: ['rundatacollectionscript', 'rundatacollectionscripts', 'rundatacollection'],
    why: 'run data collection scripts (required by the setup guide)',
  },
  {
    name: 'Run Artifact Collection Script',
    page: RSO,
    label: 'Run Artifact Collection Script',
    aliases: ['runartifactcollectionscript', 'runartifactcollectionscripts', 'runartifactcollection'],
    why: 'run the collectors (artifact collection scripts)',
  },
  {
    name: 'Run Action Script',
    page: RSO,
    label: 'Run Action Script',
    aliases: ['runactionscript', 'runactionscripts', 'runaction'],
    why: 'run action scripts (required by the setup guide)',
  },
  {
    name: 'Delete',
    page: RSO,
    label: 'Delete',
    aliases: ['delete', 'deletescript', 'deletescripts'],
    why: 'remove scripts the integration uploaded (required by the setup guide)',
  },
  {
    name: 'Cancel Data Collection Script',
    page: RSO,
    label: 'Cancel Data Collection Script',
    aliases: ['canceldatacollectionscript', 'canceldatacollectionscripts', 'canceldatacollection'],
    why: 'cancel data collection tasks past their deadline (required by the setup guide)',
  },
  {
    name: 'Cancel Artifact Collection Script',
    page: RSO,
    label: 'Cancel Artifact Collection Script',
    aliases: [
      'cancelartifactcollectionscript',
      'cancelartifactcollectionscripts',
      'cancelartifactcollection',
    ],
    why: 'cancel collector tasks past their deadline',
  },
  {
    name: 'Cancel Action Script',
    page: RSO,
    label: 'Cancel Action Script',
    aliases: ['cancelactionscript', 'cancelactionscripts', 'cancelaction'],
    why: 'cancel action tasks (required by the setup guide)',
  },
  {
    name: 'Task Management View',
    page: 'Task Management',
    label: 'View',
    aliases: ['view'],
    why: 'follow task status',
  },
];

const normalise = (text: string | null | undefined): string =>
  (text ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');

/** Exact page names/identifiers of the two pages; looser "contains" matching is the fallback. */
const PAGE_EXACT: Record<RequiredS1Permission['page'], readonly string[]> = {
  'Remote Script Orchestration': ['remotescriptorchestration', 'remoteops', 'rso', 'remotescripts'],
  'Task Management': ['taskmanagement', 'tasks'],
};
const PAGE_CONTAINS: Record<RequiredS1Permission['page'], readonly string[]> = {
  'Remote Script Orchestration': ['remotescript', 'remoteops'],
  'Task Management': ['taskmanagement'],
};

type RolePage = NonNullable<S1Role['pages']>[number];

/**
 * The pages of `role` that hold `page`'s permissions: those named exactly (by name or identifier), or, when none
 * is, those whose name contains the key words. Exact first, so that a neighbouring page such as "RemoteOps
 * Forensics" cannot stand in for "Remote Script Orchestration".
 */
function pagesFor(role: S1Role, page: RequiredS1Permission['page']): RolePage[] {
  const pages = role.pages ?? [];
  const keys = (p: RolePage) => [normalise(p.name), normalise(p.identifier)];
  const exact = pages.filter((p) => keys(p).some((k) => PAGE_EXACT[page].includes(k)));
  if (exact.length > 0) return exact;
  return pages.filter((p) => keys(p).some((k) => PAGE_CONTAINS[page].some((word) => k.includes(word))));
}

/** Spellings of a role permission: its identifier (also after a `page.` prefix) and its title. */
function spellings(permission: NonNullable<RolePage['permissions']>[number]): string[] {
  const identifier = permission.identifier ?? '';
  const last = identifier.split(/[.:/]/).pop();
  return [normalise(identifier), normalise(last), normalise(permission.title)].filter(Boolean);
}

/** Whether `role` grants the permission, denies it, or does not show it under any known spelling. */
export type PermissionGrant = 'granted' | 'denied' | 'notFound';

/** Looks each required permission up in the role's pages, tolerant of page names and identifier spellings. */
export function evaluateRole(role: S1Role): Map<string, PermissionGrant> {
  const result = new Map<string, PermissionGrant>();
  for (const required of REQUIRED_S1_PERMISSIONS) {
    const found = pagesFor(role, required.page)
      .flatMap((page) => page.permissions ?? [])
      .filter((permission) => spellings(permission).some((s) => required.aliases.includes(s)));
    if (found.length === 0) result.set(required.name, 'notFound');
    else result.set(required.name, found.some((p) => p.value === true) ? 'granted' : 'denied');
  }
  return result;
}

/** The required permissions grouped by page, as the console shows them: "Remote Script Orchestration: Upload". */
function byPage(names: readonly string[]): string {
  const groups = new Map<string, string[]>();
  for (const required of REQUIRED_S1_PERMISSIONS) {
    if (!names.includes(required.name)) continue;
    groups.set(required.page, [...(groups.get(required.page) ?? []), required.label]);
  }
  return [...groups].map(([page, labels]) => `${page} → ${labels.join(', ')}`).join('; ');
}

const ALL_REQUIRED_NAMES = REQUIRED_S1_PERMISSIONS.map((p) => p.name);

/** A role to evaluate: its id and name from `GET /user`, and what `GET /rbac/role/{id}` gave. */
export interface FetchedRole {
  readonly roleId: string;
  readonly roleName: string | undefined;
  readonly role: Fetched<S1Role>;
}

/** The roles named in the user's `scopeRoles`, once each. */
export function roleRefs(user: S1CurrentUser): { roleId: string; roleName: string | undefined }[] {
  const seen = new Map<string, string | undefined>();
  for (const scopeRole of user.scopeRoles ?? []) {
    if (scopeRole.roleId && !seen.has(scopeRole.roleId)) {
      seen.set(scopeRole.roleId, scopeRole.roleName ?? undefined);
    }
  }
  return [...seen].map(([roleId, roleName]) => ({ roleId, roleName }));
}

const CHECK_BY_HAND = `check by hand in the S1 console (Settings → Users → Roles) that the role grants: ${byPage(ALL_REQUIRED_NAMES)}`;

/**
 * Every role of the service user grants each required permission. Permissions a role shows as off fail the
 * check, by name; permissions it does not show under any known spelling make it `unknown`; a role that cannot be
 * read (403) is `unknown` too.
 */
export function s1PermissionsCheck(user: Fetched<S1CurrentUser>, roles: readonly FetchedRole[]): AuditCheck {
  const id = CHECK_IDS.s1Permissions;
  if (!user.ok) {
    if (failureKind(user.error) === 'forbidden') {
      return check(
        id,
        'unknown',
        'The service user may not read its own details (GET /user answered 403), so its role is unknown.',
        `Grant the role Users view, or ${CHECK_BY_HAND}.`,
        { required: ALL_REQUIRED_NAMES },
      );
    }
    return notChecked(id, 'S1', user.error, 'read the service user');
  }
  if (roles.length === 0) {
    return check(
      id,
      'unknown',
      'SentinelOne did not say which role the service user has (no scopeRoles in GET /user).',
      `Check the user in the S1 console, and ${CHECK_BY_HAND}.`,
      { required: ALL_REQUIRED_NAMES },
    );
  }
  const label = (r: FetchedRole) =>
    `"${r.roleName ?? (r.role.ok ? r.role.value.name : undefined) ?? r.roleId}"`;
  const unreadable = roles.filter((r) => !r.role.ok);
  if (unreadable.length > 0) {
    const first = unreadable[0] as FetchedRole & { role: { ok: false; error: unknown } };
    const names = unreadable.map(label).join(', ');
    const kind = failureKind(first.role.error);
    if (kind === 'forbidden' || kind === 'notFound') {
      return check(
        id,
        'unknown',
        `The service user may not read its role ${names} (GET /rbac/role answered ${kind === 'forbidden' ? '403' : '404'}), so its permissions cannot be verified.`,
        `Grant Roles view so the audit can verify it, or ${CHECK_BY_HAND}.`,
        {
          roles: roles.map((r) => ({ id: r.roleId, name: r.roleName ?? null })),
          required: ALL_REQUIRED_NAMES,
        },
      );
    }
    return notChecked(id, 'S1', first.role.error, `read the role ${names}`);
  }

  const perRole = roles.map((r) => {
    const grants = evaluateRole((r.role as { ok: true; value: S1Role }).value);
    const pick = (want: PermissionGrant) => ALL_REQUIRED_NAMES.filter((name) => grants.get(name) === want);
    return { ref: r, denied: pick('denied'), notFound: pick('notFound') };
  });
  const missing = ALL_REQUIRED_NAMES.filter((name) => perRole.some((r) => r.denied.includes(name)));
  const unrecognised = ALL_REQUIRED_NAMES.filter(
    (name) => !missing.includes(name) && perRole.some((r) => r.notFound.includes(name)),
  );
  const details = {
    roles: roles.map((r) => ({ id: r.roleId, name: r.roleName ?? null })),
    required: ALL_REQUIRED_NAMES,
    missing,
    unrecognised,
    neededFor: Object.fromEntries(
      REQUIRED_S1_PERMISSIONS.filter((p) => missing.includes(p.name) || unrecognised.includes(p.name)).map(
        (p) => [p.name, p.why],
      ),
    ),
  };
  const total = ALL_REQUIRED_NAMES.length;
  if (missing.length > 0) {
    const lacking = perRole.filter((r) => r.denied.length > 0);
    const reason = lacking
      .map(
        (r) =>
          `The role ${label(r.ref)} lacks ${r.denied.length} of the ${total} permissions the workflow needs: ${r.denied.join(', ')}.`,
      )
      .join(' ');
    const fix = lacking
      .map(
        (r) =>
          `In the S1 console (Settings → Users → Roles), edit the role ${label(r.ref)} and enable ${byPage(r.denied)}.`,
      )
      .join(' ');
    return check(id, 'fail', reason, `${fix} Then run the audit again.`, details);
  }
  if (unrecognised.length > 0) {
    return check(
      id,
      'unknown',
      `The role does not show these permissions under any name the audit knows: ${unrecognised.join(', ')}.`,
      `Check by hand in the S1 console (Settings → Users → Roles) that the role grants ${byPage(unrecognised)}.`,
      details,
    );
  }
  const names = roles.map(label).join(', ');
  return check(
    id,
    'pass',
    `The role ${names} grants all ${total} permissions the workflow needs.`,
    NOTHING_TO_DO,
    details,
  );
}

// --- S1 token expiry ------------------------------------------------------------------------------------------

function formatDate(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function formatRemaining(ms: number): string {
  const days = Math.floor(ms / DAY_MS);
  if (days >= 1) return `${days} day${days === 1 ? '' : 's'}`;
  const hours = Math.max(1, Math.floor(ms / 3_600_000));
  return `${hours} hour${hours === 1 ? '' : 's'}`;
}

/**
 * The token expires more than `warningDays` from `now`. The date comes from `POST /users/api-token-details`, or
 * from `GET /user`'s `apiToken.expiresAt` when that call is not available. A token S1 rejects fails here too: an
 * expired token is the usual cause, and S1 then answers neither call.
 */
export function s1TokenExpiryCheck(
  details: Fetched<S1ApiTokenDetails>,
  user: Fetched<S1CurrentUser>,
  now: number,
  warningDays: number,
): AuditCheck {
  const id = CHECK_IDS.s1Expiry;
  let expiresAt: string | undefined;
  let source: string | undefined;
  if (details.ok && details.value.expiresAt) {
    expiresAt = details.value.expiresAt;
    source = 'POST /users/api-token-details';
  } else if (user.ok && user.value.apiToken?.expiresAt) {
    expiresAt = user.value.apiToken.expiresAt;
    source = 'GET /user';
  }
  if (expiresAt === undefined) {
    const error = !details.ok ? details.error : !user.ok ? user.error : undefined;
    const kind = error === undefined ? undefined : failureKind(error);
    if (kind === 'auth') {
      return check(
        id,
        'fail',
        `${S1_TOKEN_REJECTED} Its expiry date cannot be read; an expired token is the usual cause.`,
        S1_NEW_TOKEN_FIX,
      );
    }
    if (kind === 'secret' || kind === 'unreachable' || kind === 'config') {
      return notChecked(id, 'S1', error, 'read the token expiry');
    }
    return check(
      id,
      'unknown',
      `SentinelOne did not report when the token expires${error === undefined ? '' : ` (${describeError(error)})`}.`,
      'Look up the token’s expiry in the S1 console (Settings → Users → Service Users) and renew it before then.',
    );
  }
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) {
    return check(
      id,
      'unknown',
      `SentinelOne reported an expiry date that is not a date ("${expiresAt.slice(0, 40)}").`,
      'Look up the token’s expiry in the S1 console (Settings → Users → Service Users).',
    );
  }
  const left = at - now;
  const facts = {
    expiresAt: new Date(at).toISOString(),
    daysLeft: Math.floor(left / DAY_MS),
    warningDays,
    source,
  };
  if (left <= 0) {
    return check(id, 'fail', `The API token expired on ${formatDate(at)}.`, S1_NEW_TOKEN_FIX, facts);
  }
  if (left < warningDays * DAY_MS) {
    return check(
      id,
      'warn',
      `The API token expires on ${formatDate(at)}, in ${formatRemaining(left)} (the audit warns ${warningDays} days ahead).`,
      'Generate a new API token for the service user before then (S1 console: Settings → Users → Service Users) and ' +
        'store it as {"apiToken": "<token>"} in the S1 secret; no redeploy is needed.',
      facts,
    );
  }
  return check(
    id,
    'pass',
    `The API token expires on ${formatDate(at)}, in ${formatRemaining(left)}.`,
    `Nothing to do now; renew the token before ${formatDate(at)}.`,
    facts,
  );
}

// --- Sites ----------------------------------------------------------------------------------------------------

function siteLabel(site: S1Site): string {
  return `${site.name ?? 'unnamed site'} (${site.id})`;
}

const RSO_FIX =
  'Enable Remote Script Orchestration (RemoteOps) for the site in the S1 console, or ask SentinelOne to add the ' +
  'RemoteOps licence to it. Until then, investigations skip agents on that site.';

/** How to see a site's RemoteOps licence for oneself when its `/sites` record does not say. */
const RSO_CONSOLE_CHECK =
  'In the S1 console, open the site (Settings → Sites, or the scope selector → the site → Site Info) and look for ' +
  'Remote Script Orchestration among its licensed modules or add-ons; or run a harmless RemoteOps script on one ' +
  'of its agents.';

/**
 * Why a target on `site` cannot be collected from (the audit's wording), or undefined when the site has the
 * RemoteOps (`rso`) licence module or its record carries no licence data at all (`unknown`: the workflow tries,
 * and S1's own refusal, if any, becomes the agent's reason). Used by the workflow's preflight to reject targets.
 */
export function siteWithoutRsoReason(site: S1Site): string | undefined {
  if (siteLicence(site, RSO_LICENSE_MODULE) !== 'unlicensed') return undefined;
  return `the site ${siteLabel(site)} lacks the RemoteOps (${RSO_LICENSE_MODULE}) licence module. ${RSO_FIX}`;
}

/**
 * Every site in scope has the RemoteOps (`rso`) licence module. `requestedSiteIds` (when the audit is limited to
 * some sites) must all be visible to the service user. Deleted sites are ignored.
 */
export function s1SitesCheck(sites: Fetched<S1Site[]>, requestedSiteIds?: readonly string[]): AuditCheck {
  const id = CHECK_IDS.s1Sites;
  if (!sites.ok) {
    if (failureKind(sites.error) === 'forbidden') {
      return check(
        id,
        'unknown',
        'The service user may not list sites (GET /sites answered 403), so their RemoteOps licences are unknown.',
        'Grant the role Sites view, or check in the S1 console that RemoteOps is enabled for every site the workflow collects from.',
      );
    }
    return notChecked(id, 'S1', sites.error, 'list the sites');
  }
  const considered = sites.value.filter((site) => site.state?.toLowerCase() !== 'deleted');
  const lacking = considered.filter((site) => siteLicence(site, RSO_LICENSE_MODULE) === 'unlicensed');
  const undisclosed = considered.filter((site) => siteLicence(site, RSO_LICENSE_MODULE) === 'unknown');
  const seen = new Set(sites.value.map((site) => site.id));
  const invisible = (requestedSiteIds ?? []).filter((siteId) => !seen.has(siteId));
  const details = {
    sitesChecked: considered.length,
    sitesWithoutRso: lacking.map((site) => ({ id: site.id, name: site.name ?? null })),
    sitesWithoutLicenceData: undisclosed.map((site) => ({ id: site.id, name: site.name ?? null })),
    notVisible: invisible,
  };
  if (lacking.length > 0 || invisible.length > 0) {
    const parts: string[] = [];
    const fixes: string[] = [];
    if (lacking.length > 0) {
      parts.push(
        `${lacking.length} of ${considered.length} sites lack the RemoteOps (${RSO_LICENSE_MODULE}) licence module: ${lacking.map(siteLabel).join(', ')}.`,
      );
      fixes.push(
        'Enable Remote Script Orchestration (RemoteOps) for these sites in the S1 console, or ask SentinelOne to add ' +
          'the RemoteOps licence. Until then, investigations skip agents on them.',
      );
    }
    if (invisible.length > 0) {
      parts.push(`The service user cannot see these sites: ${invisible.join(', ')}.`);
      fixes.push(
        'Widen the service user’s scope to cover them, or remove them from s1cado.threatFilter.siteIds.',
      );
    }
    return check(id, 'fail', parts.join(' '), fixes.join(' '), details);
  }
  if (undisclosed.length > 0) {
    return check(
      id,
      'unknown',
      `S1 gives no licence data for ${undisclosed.length} of ${considered.length} sites (${undisclosed.map(siteLabel).join(', ')}), ` +
        'so whether they have RemoteOps is unknown. Investigations still try their agents; if S1 refuses, the ' +
        "agent's reason says so.",
      RSO_CONSOLE_CHECK,
      details,
    );
  }
  if (considered.length === 0) {
    return check(
      id,
      'warn',
      'The service user sees no sites, so no agent can be collected from.',
      'Check the service user’s scope in the S1 console (Settings → Users → Service Users).',
      details,
    );
  }
  return check(
    id,
    'pass',
    `${considered.length === 1 ? 'The one site' : `All ${considered.length} sites`} in scope ${considered.length === 1 ? 'has' : 'have'} RemoteOps (${RSO_LICENSE_MODULE}): ${considered.map((site) => site.name ?? site.id).join(', ')}.`,
    NOTHING_TO_DO,
    details,
  );
}

// --- Collector scripts ----------------------------------------------------------------------------------------

/** One deployed collector and what the S1 library holds under its name. */
export interface CollectorLibrary {
  readonly collector: CollectorScript;
  readonly library: Fetched<S1Script[]>;
  /** The SHA-256 of the source of each same-name script whose S1 signature is not comparable, by script id. */
  readonly contents?: ReadonlyMap<string, ContentHash>;
}

/**
 * `scriptCovers` (the rule Ensure Scripts uses) takes a Target but reads only its site and account: a site, or a
 * script's own scope when no site list is known, is dressed as one.
 */
function scopeTarget(siteId: string, accountId: string, osType: OsType): Target {
  return { agentId: '0', agentUuid: '', computerName: '', osType, siteId, accountId };
}

/**
 * The deployed collector versions are in the S1 library, usable on every RemoteOps site in scope (same name,
 * which carries version and hash, right OS, visible scope, and a SHA-256 proven equal to the deployed one: S1's
 * signature, hex or base64, else the hash of the script's content).
 *
 * A missing script is a warning, not a failure: Ensure Scripts uploads the deployed version the first time an
 * investigation needs it (given the Upload permission, which the permissions check covers). A script under the
 * deployed name whose SHA-256 differs fails, naming its id and both hashes: someone changed or planted it (the
 * workflow never runs it). One whose hash cannot be learnt at all is a warning.
 *
 * @param rsoSites the sites with RemoteOps in scope, or undefined when they could not be listed
 */
export function s1ScriptsCheck(
  collectors: Fetched<readonly CollectorScript[]>,
  libraries: readonly CollectorLibrary[],
  rsoSites: readonly S1Site[] | undefined,
): AuditCheck {
  const id = CHECK_IDS.s1Scripts;
  if (!collectors.ok) {
    return check(
      id,
      'fail',
      `The deployed collector scripts could not be read: ${describeError(collectors.error)}.`,
      'Redeploy the stack (the collectors are bundled with the Lambdas); investigations cannot upload scripts until then.',
    );
  }
  const failed = libraries.find((entry) => !entry.library.ok);
  if (failed && !failed.library.ok) {
    if (failureKind(failed.library.error) === 'forbidden') {
      return check(
        id,
        'unknown',
        'The service user may not list the script library (GET /remote-scripts answered 403).',
        'Grant the role Remote Script Orchestration → View (the permissions check lists it too).',
      );
    }
    return notChecked(id, 'S1', failed.library.error, 'list the script library');
  }

  const findings = libraries.map(({ collector, library, contents }) => {
    const scripts = (library as { ok: true; value: S1Script[] }).value.filter((script) =>
      (script.osTypes ?? []).includes(collector.osType),
    );
    const ours = scripts.filter(
      (script) => parseLibraryName(script.scriptName ?? '')?.name === collector.name,
    );
    const sameName = ours.filter((script) => isLibraryNameOf(script.scriptName, collector.libraryName));
    const identities = new Map<string, ScriptIdentity>(
      sameName.map((script) => [script.id, identityOf(script, collector.sha256, contents?.get(script.id))]),
    );
    const proven = sameName.filter((script) => identities.get(script.id)?.verdict === 'ours');
    const suspects: LookAlike[] = sameName
      .filter((script) => identities.get(script.id)?.verdict !== 'ours')
      .map((script) => lookAlike(script, collector.sha256, identities.get(script.id) as ScriptIdentity));
    const altered = suspects.filter((s) => s.verdict === 'mismatch');
    const unverifiable = suspects.filter((s) => s.verdict === 'unverifiable');
    const usableOn = (siteId: string, accountId: string) =>
      proven.some((script) =>
        scriptCovers(script, collector, scopeTarget(siteId, accountId, collector.osType)),
      );
    const lackingSites =
      rsoSites === undefined || rsoSites.length === 0
        ? []
        : rsoSites.filter((site) => !usableOn(site.id, site.accountId ?? ''));
    const present =
      rsoSites === undefined || rsoSites.length === 0
        ? proven.some((script) => usableOn(script.scopeId ?? '0', script.scopeId ?? '0'))
        : lackingSites.length < rsoSites.length;
    const older = [
      ...new Set(
        ours.map((s) => s.scriptName ?? '').filter((n) => !isLibraryNameOf(n, collector.libraryName)),
      ),
    ];
    return { collector, sameName, altered, unverifiable, lackingSites, present, older };
  });

  const details = {
    collectors: findings.map((f) => ({
      libraryName: f.collector.libraryName,
      osType: f.collector.osType,
      sha256: f.collector.sha256,
      scriptIds: f.sameName.map((s) => s.id),
      missingOnSites: f.lackingSites.map((site) => site.id),
      olderVersions: f.older,
      altered: f.altered,
      unverifiable: f.unverifiable,
    })),
  };

  const altered = findings.filter((f) => f.altered.length > 0);
  if (altered.length > 0) {
    const reason = altered
      .map((f) =>
        f.altered
          .map(
            (s) =>
              `The library script "${s.scriptName}" (id ${s.scriptId}) has SHA-256 ${s.sha256} (from its ${s.source}) ` +
              `instead of the deployed ${s.expectedSha256}: it was changed or planted under the collector's name, and the workflow never runs it.`,
          )
          .join(' '),
      )
      .join(' ');
    return check(
      id,
      'fail',
      reason,
      'Delete the altered script from the S1 script library and find out who changed it; the workflow uploads the ' +
        'deployed version on its next run.',
      details,
    );
  }
  const unproven = findings.filter((f) => f.unverifiable.length > 0);
  if (unproven.length > 0) {
    const reason = unproven
      .flatMap((f) => f.unverifiable)
      .map(
        (s) =>
          `The library script "${s.scriptName}" (id ${s.scriptId}) cannot be proven to be the deployed collector ` +
          `(SHA-256 ${s.expectedSha256}): S1 reports no comparable signature${s.s1Signature ? ` ("${s.s1Signature}")` : ''} and its content could not be read.`,
      )
      .join(' ');
    return check(
      id,
      'warn',
      reason,
      'Grant Remote Script Orchestration → View so its content can be read, or delete the script; the workflow never ' +
        'runs it and uploads its own copy under a fresh name instead.',
      details,
    );
  }
  const missing = findings.filter((f) => !f.present || f.lackingSites.length > 0);
  if (missing.length > 0) {
    const reason = missing
      .map((f) => {
        const where =
          f.present && f.lackingSites.length > 0
            ? ` for the sites ${f.lackingSites.map(siteLabel).join(', ')}`
            : '';
        const older = f.older.length > 0 ? ` (older versions in the library: ${f.older.join('; ')})` : '';
        return `"${f.collector.libraryName}" is not in the S1 library yet${where}${older}.`;
      })
      .join(' ');
    return check(
      id,
      'warn',
      reason,
      'Nothing urgent: the workflow uploads the deployed version the first time an investigation needs it (the ' +
        'service user needs the Upload permission for that). To have it in place beforehand, run one investigation.',
      details,
    );
  }
  return check(
    id,
    'pass',
    `The deployed collectors are in the S1 library: ${findings.map((f) => `"${f.collector.libraryName}"`).join(', ')}.`,
    NOTHING_TO_DO,
    details,
  );
}

// --- Cado -----------------------------------------------------------------------------------------------------

const CADO_NEW_KEY_FIX =
  'Create an API key in Cado (Settings → API → Create API key, role Lead Analyst), store it as ' +
  '{"apiKey": "<key>"} in the Cado secret, and run the audit again.';

/** Cado accepts the key (`GET /api/v3/auth/whoami`). */
export function cadoKeyCheck(whoami: Fetched<CadoWhoami>): AuditCheck {
  const id = CHECK_IDS.cadoKey;
  if (whoami.ok) {
    const who = `"${whoami.value.username}"${whoami.value.role ? ` (role ${whoami.value.role})` : ''}`;
    const details = { username: whoami.value.username, role: whoami.value.role ?? null };
    if (whoami.value.eulaAgreed === false) {
      return check(
        id,
        'warn',
        `Cado accepted the key of ${who}, but that user has not accepted the EULA, which may block API calls.`,
        `Log in to Cado once as ${whoami.value.username} and accept the EULA.`,
        details,
      );
    }
    return check(id, 'pass', `Cado accepted the key of ${who}.`, NOTHING_TO_DO, details);
  }
  switch (failureKind(whoami.error)) {
    case 'auth':
      return check(
        id,
        'fail',
        'Cado rejected the API key (401): it was revoked or is not a key of this platform.',
        CADO_NEW_KEY_FIX,
      );
    case 'secret':
      return check(
        id,
        'fail',
        `The Cado API key could not be read: ${describeError(whoami.error)}.`,
        'Store the key as {"apiKey": "<key>"} in the Cado secret in Secrets Manager, and make sure this function may read it.',
      );
    case 'unreachable':
      return check(
        id,
        'fail',
        `Could not reach the Cado platform: ${describeError(whoami.error)}.`,
        'Check the Cado URL (cadoUrl, or --cado-url), its certificate (cadoCaCertificate for a self-signed platform), ' +
          'and that the platform accepts HTTPS from where the audit runs.',
      );
    case 'config':
      return check(
        id,
        'fail',
        `The Cado URL or certificate is not usable: ${describeError(whoami.error)}.`,
        'Fix cadoUrl (the platform root over https) or cadoCaCertificate in cdk.json.',
      );
    default:
      return check(
        id,
        'fail',
        `Cado answered whoami unexpectedly: ${describeError(whoami.error)}.`,
        'Run the audit again; if this persists, check the platform and this project’s logs.',
      );
  }
}

/**
 * The key may do what the hand-off needs: create projects (`handoff`; not needed with a fixed project), import
 * from S3, and read pipelines. Missing permissions are named.
 */
export function cadoPermissionsCheck(whoami: Fetched<CadoWhoami>, purpose: CadoPurpose): AuditCheck {
  const id = CHECK_IDS.cadoPermissions;
  if (!whoami.ok) return notChecked(id, 'Cado', whoami.error, 'ask Cado who the key is');
  const missing = missingPermissionsFor(whoami.value, purpose);
  const role = whoami.value.role ?? 'unknown';
  const details = { role, purpose, missing: missing.map((m) => m.permission) };
  if (missing.length > 0) {
    const what = missing.map((m) => `${m.permission} (to ${m.why})`).join(', ');
    const roles = missing[0]?.roles.join(' or ') ?? 'Lead Analyst';
    return check(
      id,
      'fail',
      `The key's role ${role} may not: ${what}.`,
      `Use a key with the Lead Analyst role (the smallest role that can create projects and import)${
        missing.length === 1 ? `; roles that have it: ${roles}` : ''
      }. With cadoProjectMode "fixed", Analyst is enough.`,
      details,
    );
  }
  const can =
    purpose === 'handoff'
      ? 'create projects, import from S3 and read pipelines'
      : 'import from S3 and read pipelines';
  return check(id, 'pass', `The key's role ${role} may ${can}.`, NOTHING_TO_DO, details);
}

/** The platform reports itself running, set up and not installing (`GET /api/v3/system/status`). */
export function cadoHealthCheck(status: Fetched<CadoSystemStatus>): AuditCheck {
  const id = CHECK_IDS.cadoHealth;
  if (!status.ok) {
    const kind = failureKind(status.error);
    if (kind === 'unreachable') {
      return check(
        id,
        'fail',
        `Could not read the platform status: ${describeError(status.error)}.`,
        'Check that the Cado platform is up and reachable.',
      );
    }
    return notChecked(id, 'Cado', status.error, 'read the platform status');
  }
  const details = { status: status.value.status, message: status.value.message };
  if (status.value.healthy) {
    return check(id, 'pass', `Cado reports "${status.value.status}".`, NOTHING_TO_DO, details);
  }
  const message = status.value.message ? ` (${status.value.message})` : '';
  return check(
    id,
    'fail',
    `Cado reports "${status.value.status}"${message}, not running.`,
    'Check the platform in the Cado UI and wait for an upgrade or installation to finish. Hand-offs fail until it ' +
      'is running; evidence stays in S3 and can be handed off later with `npx s1cado handoff <investigationId>`.',
    details,
  );
}

/** What the XDR account check compares Cado's accounts with. */
export interface XdrAccountExpectation {
  /** `cadoXdrAccountName`, when configured. */
  readonly accountName?: string;
  /** Our S1 console (the one the token and the threats belong to). */
  readonly s1ConsoleUrl: string;
  /** Whether cado-xdr is the configured mode: problems fail then; otherwise they only warn. */
  readonly required: boolean;
}

const XDR_ACCOUNT_FIX =
  'In Cado, add a SentinelOne account (Settings → Accounts → Create account → SentinelOne) with our S1 console ' +
  'URL as the endpoint and a Global-scope service-user token, run its Account Check, and set ' +
  's1cado.cadoXdrAccountName if Cado holds more than one.';

/**
 * Cado holds a SentinelOne XDR account for collection mode cado-xdr (`GET /api/v3/accounts?type=sentinelone`): the
 * configured one, or the only one; and it is on our console. Which console an account uses is not in the spec's
 * account fields; `public_identifier` is compared when it is a URL, and when it is not the check says it cannot tell.
 */
export function cadoXdrAccountCheck(
  accounts: Fetched<readonly CadoXdrAccount[]>,
  expected: XdrAccountExpectation,
): AuditCheck {
  const id = CHECK_IDS.cadoXdrAccount;
  if (!accounts.ok) return notChecked(id, 'Cado', accounts.error, "list Cado's SentinelOne accounts");
  const problem = expected.required ? 'fail' : 'warn';
  const names = accounts.value.map((a) => a.name);
  const details = { accounts: names, configured: expected.accountName ?? null };
  const account = expected.accountName
    ? accounts.value.find((a) => a.name === expected.accountName)
    : accounts.value.length === 1
      ? accounts.value[0]
      : undefined;
  if (!account) {
    const reason =
      accounts.value.length === 0
        ? 'Cado has no SentinelOne XDR account, so collection mode cado-xdr cannot ask it to collect.'
        : expected.accountName
          ? `Cado has no SentinelOne account named "${expected.accountName}" (it has ${names.join(', ')}).`
          : `Cado has ${names.length} SentinelOne accounts (${names.join(', ')}) and none is named in s1cado.cadoXdrAccountName.`;
    return check(id, problem, reason, XDR_ACCOUNT_FIX, details);
  }
  const identifier = account.publicIdentifier?.trim();
  const withConsole = { ...details, account: account.name, publicIdentifier: identifier ?? null };
  if (identifier && /^https?:\/\//i.test(identifier)) {
    if (sameConsole(identifier, expected.s1ConsoleUrl)) {
      return check(
        id,
        'pass',
        `Cado's SentinelOne account "${account.name}" uses our console (${new URL(identifier).host}).`,
        NOTHING_TO_DO,
        withConsole,
      );
    }
    return check(
      id,
      problem,
      `Cado's SentinelOne account "${account.name}" uses the console ${new URL(identifier).host}, not ours ` +
        `(${hostOf(expected.s1ConsoleUrl)}): Cado would collect from another tenant's agents, or find none.`,
      `Edit the account in Cado to use ${hostOf(expected.s1ConsoleUrl)} (or name the right account in s1cado.cadoXdrAccountName).`,
      withConsole,
    );
  }
  return check(
    id,
    'warn',
    `Cado has the SentinelOne account "${account.name}", but does not say which console it uses ` +
      '(no URL in public_identifier), so it cannot be compared with ours.',
    `Check in Cado (Settings → Accounts → ${account.name}) that its endpoint is ${hostOf(expected.s1ConsoleUrl)}.`,
    withConsole,
  );
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
