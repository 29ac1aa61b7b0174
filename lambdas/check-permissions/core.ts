/**
 * Check Permissions: the workflow's first step (Receive Input only wraps the execution input), the cheap part of
 * the permission audit run before anything is collected. It proves the S1 token is accepted and not expired, and
 * that each requested agent's site has the RemoteOps (`rso`) licence module, using the audit's own wording (see
 * `shared/audit/checks.ts`).
 *
 * A rejected or expired token fails the investigation at once ({@link PreflightFailedError}): nothing could be
 * collected from any agent. A site without RemoteOps only rejects the agents on that site (Resolve Targets lists them
 * with the audit's reason and fix), so one unlicensed branch office does not cost the evidence of the other
 * agents of a multi-agent investigation. What the preflight cannot verify (no Sites view, a console that does not
 * report the expiry) is logged and let through: the audit reports it as `unknown`, and the run itself will tell.
 */

import {
  attempt,
  type Fetched,
  failureKind,
  s1TokenCheck,
  s1TokenExpiryCheck,
  siteWithoutRsoReason,
} from '../shared/audit/checks';
import type { AuditCheck } from '../shared/audit/report';
import { now as clockNow } from '../shared/clock';
import { type PreflightCache, tokenFingerprint } from '../shared/coordination/preflight-cache';
import { PreflightFailedError } from '../shared/errors';
import { parseInput } from '../shared/handler';
import { logger } from '../shared/observability';
import {
  AgentRecord,
  InvestigationId,
  type InvestigationRequest,
  type PreflightChecked,
  type RejectedTarget,
  WorkflowInput,
} from '../shared/schemas';
import type { S1Agent, S1Client, S1Site } from '../shared/sentinelone';

/** The error for a failed audit check: its title, reason and fix, in the audit's words. */
export function preflightFailure(check: AuditCheck, cause?: unknown): PreflightFailedError {
  return new PreflightFailedError(`${check.title}: ${check.reason} Fix: ${check.fix}`, {
    cause,
    details: { checkId: check.id },
  });
}

/** Dependencies of {@link checkPermissions}. */
export interface CheckPermissionsDeps {
  readonly s1: Pick<S1Client, 'getCurrentUser' | 'getApiTokenDetails' | 'getAgents' | 'getSites'>;
  /** The token value, for `POST /users/api-token-details`. */
  readonly token: () => Promise<string>;
  /** A token expiring within this many days is logged as a warning. @default 14 */
  readonly warningDays?: number;
  /** @default `now` of the shared clock */
  readonly clock?: () => number;
  /** The shared preflight cache (a burst asks S1 about the token once a minute, not once each). */
  readonly cache?: Pick<PreflightCache, 'get' | 'put'>;
}

/** Transient failures are thrown as they are, so the state's Retry (matched by error name) can try again. */
function rethrowIfTransient(fetched: Fetched<unknown>): void {
  if (!fetched.ok && failureKind(fetched.error) === 'unreachable') throw fetched.error;
}

/**
 * The part of an S1 agent record that travels on in the state (see {@link AgentRecord}); S1's nulls are dropped.
 */
export function agentRecord(agent: S1Agent): AgentRecord {
  const fields = Object.keys(AgentRecord.shape).flatMap((key) => {
    const value = agent[key as keyof S1Agent];
    return value === null || value === undefined ? [] : [[key, value]];
  });
  return AgentRecord.parse(Object.fromEntries(fields));
}

/**
 * Runs the preflight, the workflow's first state. Passes the request on with its findings: the user's scope, the
 * agents whose site lacks RemoteOps (Resolve Targets rejects those with the audit's wording), and the record of
 * every other requested agent S1 knows. This is the investigation's only `GET /agents`: Resolve Targets decides
 * on these records instead of fetching them again.
 * @throws InputValidationError when the execution name is not a valid investigation id or the input is not a valid
 *   investigation request (before anything reaches S1).
 * @throws PreflightFailedError when the token is rejected, unreadable or expired.
 * @throws the S1 client's error when the agents cannot be read (transient ones for the state's Retry; without
 *   the agents nothing can be collected, so the others end the investigation).
 */
export async function checkPermissions(
  event: InvestigationRequest,
  deps: CheckPermissionsDeps,
): Promise<PreflightChecked> {
  const clock = deps.clock ?? clockNow;
  // The execution name is the investigation id every evidence key carries: checked before anything reaches S1.
  parseInput(InvestigationId, event.execution.name, 'Execution name');
  const request = parseInput(WorkflowInput, event.input, 'Investigation input');
  const scope = await checkToken(deps, clock);
  const agents = await deps.s1.getAgents(request.agentIds);
  const rejected = await agentsOnSitesWithoutRso(agents, deps);
  const rejectedIds = new Set(rejected.map((r) => r.agentId));
  return {
    ...event,
    preflight: {
      ...(scope ? { s1UserScope: scope } : {}),
      rejected,
      agents: agents.filter((agent) => !rejectedIds.has(agent.id)).map(agentRecord),
    },
  };
}

/**
 * Proves the token is accepted and not expired, and returns the user's scope; a pass within the last minute (the
 * shared cache, for this very token) stands for the calls.
 */
async function checkToken(deps: CheckPermissionsDeps, clock: () => number): Promise<string | undefined> {
  const fingerprint = deps.cache
    ? await attempt(async () => tokenFingerprint(await deps.token()))
    : undefined;
  if (deps.cache && fingerprint?.ok) {
    const cached = await deps.cache.get(fingerprint.value, clock());
    if (cached) return cached.scope;
  }
  const user = await attempt(() => deps.s1.getCurrentUser());
  rethrowIfTransient(user);
  const token = s1TokenCheck(user);
  if (token.status === 'fail') throw preflightFailure(token, user.ok ? undefined : user.error);

  const details = await attempt(async () => deps.s1.getApiTokenDetails(await deps.token()));
  const expiry = s1TokenExpiryCheck(details, user, clock(), deps.warningDays ?? 14);
  if (expiry.status === 'fail') {
    throw preflightFailure(expiry, details.ok ? undefined : details.error);
  }
  if (expiry.status !== 'pass')
    logger.warn('Preflight: token expiry', { status: expiry.status, reason: expiry.reason });

  // Ensure Scripts needs the user's scope too; passing it on spares a second GET /user (rate-limited at 2/s).
  const scope = user.ok ? (user.value.scope ?? undefined) : undefined;
  if (deps.cache && fingerprint?.ok) {
    const tokenExpiresAt =
      (details.ok ? details.value.expiresAt : undefined) ??
      (user.ok ? user.value.apiToken?.expiresAt : undefined) ??
      undefined;
    await deps.cache.put(fingerprint.value, {
      ...(scope ? { scope } : {}),
      ...(tokenExpiresAt ? { tokenExpiresAt } : {}),
      checkedAt: new Date(clock()).toISOString(),
    });
  }
  return scope;
}

/** The agents whose site lacks RemoteOps. Sites that cannot be read are let through (the audit reports them). */
async function agentsOnSitesWithoutRso(
  agents: readonly S1Agent[],
  deps: CheckPermissionsDeps,
): Promise<RejectedTarget[]> {
  const siteIds = [...new Set(agents.flatMap((agent) => (agent.siteId ? [agent.siteId] : [])))];
  if (siteIds.length === 0) return [];
  const sites = await attempt(() => deps.s1.getSites({ siteIds }));
  rethrowIfTransient(sites);
  if (!sites.ok) {
    logger.warn('Preflight: could not read the targets’ sites; their RemoteOps licence is not verified', {
      error: (sites.error as Error).name,
    });
    return [];
  }
  const byId = new Map(sites.value.map((site: S1Site) => [site.id, site]));
  const rejected: RejectedTarget[] = [];
  for (const agent of agents) {
    const site = agent.siteId ? byId.get(agent.siteId) : undefined;
    const reason = site ? siteWithoutRsoReason(site) : undefined;
    if (reason) rejected.push({ agentId: agent.id, computerName: agent.computerName ?? undefined, reason });
  }
  if (rejected.length > 0)
    logger.warn('Preflight: agents on sites without RemoteOps', { rejected: rejected.length });
  return rejected;
}
