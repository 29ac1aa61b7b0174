/**
 * The permission audit: asks SentinelOne and Cado what the service user and the API key may do, and turns the
 * answers into an {@link AuditReport}. S1 and Cado are asked side by side; each check is judged from its own
 * calls (see `shared/audit/checks.ts`), so one failing call makes that check `fail` or `unknown` and never stops the audit.
 */
import type { CollectorScript } from '../collectors';
import {
  attempt,
  type CollectorLibrary,
  cadoHealthCheck,
  cadoKeyCheck,
  cadoPermissionsCheck,
  cadoXdrAccountCheck,
  type Fetched,
  type FetchedRole,
  failureKind,
  roleRefs,
  s1PermissionsCheck,
  s1ScopeCheck,
  s1ScriptsCheck,
  s1SitesCheck,
  s1TokenCheck,
  s1TokenExpiryCheck,
  type XdrAccountExpectation,
} from '../shared/audit/checks';
import {
  AUDIT_SCHEMA,
  type AuditCheck,
  AuditReport,
  countStatuses,
  overallStatus,
} from '../shared/audit/report';
import type { CadoClient, CadoPurpose } from '../shared/cado';
import { now as clockNow } from '../shared/clock';
import { TOOL_NAME } from '../shared/evidence/manifest';
import { redactDeep, safeUrl } from '../shared/redact';
import { type ContentHash, contentHash, isLibraryNameOf, needsContent } from '../shared/script-library';
import type { S1Client, S1CurrentUser, S1Site } from '../shared/sentinelone';
import { siteLicence } from '../shared/sentinelone';
import { TOOL_VERSION } from '../shared/version';

/** The S1 calls the audit makes (an `S1Client` has them all). */
export type S1AuditApi = Pick<
  S1Client,
  | 'apiBaseUrl'
  | 'getCurrentUser'
  | 'getApiTokenDetails'
  | 'getRole'
  | 'getSites'
  | 'listScripts'
  | 'getScriptContent'
>;

/** The Cado calls the audit makes (a `CadoClient` has them all). */
export type CadoAuditApi = Pick<CadoClient, 'baseUrl' | 'whoami' | 'systemStatus'> &
  Partial<Pick<CadoClient, 'listXdrAccounts'>>;

/** Dependencies of {@link runAudit}. Leave `s1` or `cado` out to skip that service's checks. */
export interface AuditDeps {
  readonly s1?: {
    readonly client: S1AuditApi;
    /** The token value, for `POST /users/api-token-details` (sent in the body, never logged). */
    readonly token: () => Promise<string>;
    /** Limit the site check to these sites. @default every site the service user can see */
    readonly siteIds?: readonly string[];
  };
  readonly cado?: {
    readonly client: CadoAuditApi;
    /** `handoff` (one project per threat: must create projects) or `import` (fixed project). @default 'handoff' */
    readonly purpose?: CadoPurpose;
    /** Set to check Cado's SentinelOne XDR account (collection mode cado-xdr). @default - not checked */
    readonly xdr?: XdrAccountExpectation;
  };
  /** The deployed collector scripts (read lazily, so a broken bundle fails one check, not the audit). */
  readonly collectors: () => readonly CollectorScript[];
  /** Warn when the S1 token expires within this many days. */
  readonly warningDays: number;
  /** @default `now` of the shared clock */
  readonly clock?: () => number;
}

/** Runs every check and returns the report. Never throws for a failing call. */
export async function runAudit(deps: AuditDeps): Promise<AuditReport> {
  const clock = deps.clock ?? clockNow;
  const startedAt = new Date(clock()).toISOString();
  const [s1Checks, cadoChecks] = await Promise.all([
    deps.s1 ? auditS1(deps.s1, deps, clock) : Promise.resolve([]),
    deps.cado ? auditCado(deps.cado) : Promise.resolve([]),
  ]);
  const checks = [...s1Checks, ...cadoChecks];
  const report: AuditReport = {
    schema: AUDIT_SCHEMA,
    startedAt,
    finishedAt: new Date(clock()).toISOString(),
    status: overallStatus(checks),
    counts: countStatuses(checks),
    targets: {
      ...(deps.s1 ? { s1: displayUrl(deps.s1.client.apiBaseUrl) } : {}),
      ...(deps.cado ? { cado: displayUrl(deps.cado.client.baseUrl) } : {}),
    },
    checks,
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
  };
  // Last line of defence: every string passes the redactor once more before the report leaves the process.
  return AuditReport.parse(redactDeep(report));
}

/** A URL as the report shows it: no credentials or query, no trailing slash. */
function displayUrl(url: string): string {
  return safeUrl(url).replace(/\/+$/, '');
}

/** Errors after which further S1 calls are pointless: they would fail the same way. */
function blocksFurtherCalls(user: Fetched<S1CurrentUser>): unknown {
  if (user.ok) return undefined;
  const kind = failureKind(user.error);
  return kind === 'auth' || kind === 'unreachable' || kind === 'secret' || kind === 'config'
    ? user.error
    : undefined;
}

async function auditS1(
  s1: NonNullable<AuditDeps['s1']>,
  deps: AuditDeps,
  clock: () => number,
): Promise<AuditCheck[]> {
  const { client } = s1;
  const user = await attempt(() => client.getCurrentUser());
  const blocked = blocksFurtherCalls(user);
  const skipped = <T>(): Promise<Fetched<T>> => Promise.resolve({ ok: false, error: blocked });
  const unreachable = blocked !== undefined && failureKind(blocked) !== 'auth';
  const collectors = await attempt(() => deps.collectors());

  const [details, roles, sites, libraries] = await Promise.all([
    // Asked even after a 401 on /user: a console may still report the expiry date of an expired token.
    unreachable ? skipped<never>() : attempt(async () => client.getApiTokenDetails(await s1.token())),
    user.ok ? fetchRoles(client, user.value) : Promise.resolve([] as FetchedRole[]),
    blocked === undefined
      ? attempt(() => client.getSites(s1.siteIds?.length ? { siteIds: s1.siteIds } : {}))
      : skipped<S1Site[]>(),
    blocked === undefined && collectors.ok
      ? fetchLibraries(client, collectors.value)
      : Promise.resolve(
          collectors.ok
            ? collectors.value.map((collector) => ({
                collector,
                library: { ok: false, error: blocked } as const,
              }))
            : [],
        ),
  ]);

  // Sites whose record does not say are counted in: the workflow tries their agents too.
  const rsoSites = sites.ok ? sites.value.filter((site) => siteLicence(site) !== 'unlicensed') : undefined;
  return [
    s1TokenCheck(user),
    s1ScopeCheck(user),
    s1PermissionsCheck(user, roles),
    s1TokenExpiryCheck(details, user, clock(), deps.warningDays),
    s1SitesCheck(sites, s1.siteIds),
    s1ScriptsCheck(collectors, libraries, rsoSites),
  ];
}

function fetchRoles(client: S1AuditApi, user: S1CurrentUser): Promise<FetchedRole[]> {
  return Promise.all(
    roleRefs(user).map(async (ref) => ({ ...ref, role: await attempt(() => client.getRole(ref.roleId)) })),
  );
}

/**
 * Every version of each collector the library holds (searched by the stable name, so older versions show), and the
 * content hash of each script under the deployed name whose S1 signature is not comparable.
 */
function fetchLibraries(
  client: S1AuditApi,
  collectors: readonly CollectorScript[],
): Promise<CollectorLibrary[]> {
  return Promise.all(
    collectors.map(async (collector) => {
      const library = await attempt(() =>
        client.listScripts({ query: collector.name, osTypes: [collector.osType] }),
      );
      const unsigned = library.ok
        ? library.value.filter(
            (script) => isLibraryNameOf(script.scriptName, collector.libraryName) && needsContent(script),
          )
        : [];
      const contents = new Map<string, ContentHash>(
        await Promise.all(
          unsigned.map(
            async (script) =>
              [script.id, await contentHash((id) => client.getScriptContent(id), script.id)] as const,
          ),
        ),
      );
      return { collector, library, contents };
    }),
  );
}

async function auditCado(cado: NonNullable<AuditDeps['cado']>): Promise<AuditCheck[]> {
  const [whoami, status] = await Promise.all([
    attempt(() => cado.client.whoami()),
    attempt(() => cado.client.systemStatus()),
  ]);
  const checks = [
    cadoKeyCheck(whoami),
    cadoPermissionsCheck(whoami, cado.purpose ?? 'handoff'),
    cadoHealthCheck(status),
  ];
  const { xdr } = cado;
  if (xdr) {
    const list = cado.client.listXdrAccounts;
    const accounts = await attempt(() =>
      list
        ? list.call(cado.client, 'sentinelone')
        : Promise.reject(new Error('this client cannot list accounts')),
    );
    checks.push(cadoXdrAccountCheck(accounts, xdr));
  }
  return checks;
}
