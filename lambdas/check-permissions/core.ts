/**
 * Check Permissions: the workflow's first state, the cheap part of the permission audit run before anything is
 * collected. It proves the S1 token is accepted and not expired, and that each requested agent's site has the
 * RemoteOps (`rso`) licence module, using the audit's own wording (see `shared/audit/checks.ts`).
 *
 * A rejected or expired token fails the investigation at once ({@link PreflightFailedError}): nothing could be
 * collected from any agent. A site without RemoteOps only rejects the agents on that site (Resolve Targets lists them
 * with the audit's reason and fix), so one unlicensed branch office does not cost the evidence of the other
 * agents of a multi-agent investigation. What the preflight cannot verify (no Sites view, a console that does not
 * report the expiry) is logged and let through: the audit reports it as `unknown`, and the run itself will tell.
 */

import { z } from 'zod';
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
import { PreflightFailedError } from '../shared/errors';
import { parseInput } from '../shared/handler';
import { logger } from '../shared/observability';
import { RejectedTarget, WorkflowInput } from '../shared/schemas';
import type { S1Client, S1Site } from '../shared/sentinelone';

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
}

/** Transient failures are thrown as they are, so the state's Retry (matched by error name) can try again. */
function rethrowIfTransient(fetched: Fetched<unknown>): void {
  if (!fetched.ok && failureKind(fetched.error) === 'unreachable') throw fetched.error;
}

/** What the preflight hands to Resolve Targets. */
export const PreflightFindings = z.object({
  /** The S1 service user's scope (`tenant`, `account`, `site`), when S1 told it: Ensure Scripts uploads there. */
  s1UserScope: z.string().optional(),
  /** Agents on sites without RemoteOps, with the audit's reason and fix. */
  rejected: z.array(RejectedTarget),
});
export type PreflightFindings = z.infer<typeof PreflightFindings>;

/** The workflow's first state gets the execution input and the execution's own facts. */
export interface PreflightEvent {
  input: unknown;
  execution: { name: string; id?: string; startTime?: string };
}

/**
 * Runs the preflight, the workflow's first state. Passes the event on with its findings: the user's scope and the
 * agents whose site lacks RemoteOps (Resolve Targets rejects those with the audit's wording).
 * @throws InputValidationError when the input is not a valid investigation request (before anything reaches S1).
 * @throws PreflightFailedError when the token is rejected, unreadable or expired.
 */
export async function checkPermissions(
  event: PreflightEvent,
  deps: CheckPermissionsDeps,
): Promise<PreflightEvent & { preflight: PreflightFindings }> {
  const clock = deps.clock ?? clockNow;
  const request = parseInput(WorkflowInput, event.input, 'Investigation input');
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
  const rejected = await agentsOnSitesWithoutRso(request.agentIds, deps);
  return { ...event, preflight: { ...(scope ? { s1UserScope: scope } : {}), rejected } };
}

/** The requested agents whose site lacks RemoteOps. What cannot be read is let through (the audit reports it). */
async function agentsOnSitesWithoutRso(
  agentIds: readonly string[],
  deps: CheckPermissionsDeps,
): Promise<RejectedTarget[]> {
  const agents = await attempt(() => deps.s1.getAgents(agentIds));
  rethrowIfTransient(agents);
  if (!agents.ok) return [];
  const siteIds = [...new Set(agents.value.flatMap((agent) => (agent.siteId ? [agent.siteId] : [])))];
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
  for (const agent of agents.value) {
    const site = agent.siteId ? byId.get(agent.siteId) : undefined;
    const reason = site ? siteWithoutRsoReason(site) : undefined;
    if (reason) rejected.push({ agentId: agent.id, computerName: agent.computerName ?? undefined, reason });
  }
  if (rejected.length > 0)
    logger.warn('Preflight: agents on sites without RemoteOps', { rejected: rejected.length });
  return rejected;
}
