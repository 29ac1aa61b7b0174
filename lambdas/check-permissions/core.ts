/**
 * Check Permissions: the workflow's preflight, the cheap part of the permission audit run before anything is
 * collected. It proves the S1 token is accepted and not expired, and that each target's site has the RemoteOps
 * (`rso`) licence module, using the audit's own wording (see `audit-permissions/checks.ts`).
 *
 * A rejected or expired token fails the investigation at once ({@link PreflightFailedError}): nothing could be
 * collected from any agent. A site without RemoteOps only rejects the targets on that site (moved to `rejected`
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
import { AppError } from '../shared/errors';
import { logger } from '../shared/observability';
import type { RejectedTarget, ResolvedTargets, Target } from '../shared/schemas';
import type { S1Client, S1Site } from '../shared/sentinelone';

/** A preflight check failed: the investigation cannot collect anything. The message is the audit's reason and fix. */
export class PreflightFailedError extends AppError {
  override readonly name = 'PreflightFailedError';

  /** Builds the error from the failed audit check. */
  static fromCheck(check: AuditCheck, cause?: unknown): PreflightFailedError {
    return new PreflightFailedError(`${check.title}: ${check.reason} Fix: ${check.fix}`, {
      cause,
      details: { checkId: check.id },
    });
  }
}

/** Dependencies of {@link checkPermissions}. */
export interface CheckPermissionsDeps {
  readonly s1: Pick<S1Client, 'getCurrentUser' | 'getApiTokenDetails' | 'getSites'>;
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

/**
 * Runs the preflight. Returns the input (plus the service user's scope, when S1 told it) when every check passes;
 * with targets on sites without RemoteOps moved to `rejected`.
 * @throws PreflightFailedError when the token is rejected, unreadable or expired.
 */
export async function checkPermissions(
  input: ResolvedTargets,
  deps: CheckPermissionsDeps,
): Promise<ResolvedTargets> {
  const clock = deps.clock ?? clockNow;
  const user = await attempt(() => deps.s1.getCurrentUser());
  rethrowIfTransient(user);
  const token = s1TokenCheck(user);
  if (token.status === 'fail') throw PreflightFailedError.fromCheck(token, user.ok ? undefined : user.error);

  const details = await attempt(async () => deps.s1.getApiTokenDetails(await deps.token()));
  const expiry = s1TokenExpiryCheck(details, user, clock(), deps.warningDays ?? 14);
  if (expiry.status === 'fail') {
    throw PreflightFailedError.fromCheck(expiry, details.ok ? undefined : details.error);
  }
  if (expiry.status !== 'pass')
    logger.warn('Preflight: token expiry', { status: expiry.status, reason: expiry.reason });

  // Ensure Scripts needs the user's scope too; passing it on spares a second GET /user (rate-limited at 2/s).
  const scope = user.ok ? (user.value.scope ?? undefined) : undefined;
  const checked = scope ? { ...input, s1UserScope: scope } : input;
  if (checked.targets.length === 0) return checked;
  const siteIds = [...new Set(checked.targets.map((target) => target.siteId))];
  const sites = await attempt(() => deps.s1.getSites({ siteIds }));
  rethrowIfTransient(sites);
  if (!sites.ok) {
    logger.warn('Preflight: could not read the targets’ sites; their RemoteOps licence is not verified', {
      error: (sites.error as Error).name,
    });
    return checked;
  }
  return rejectSitesWithoutRso(checked, sites.value);
}

/** Moves targets whose site lacks RemoteOps to `rejected`. A site S1 did not return is let through (unknown). */
function rejectSitesWithoutRso(input: ResolvedTargets, sites: readonly S1Site[]): ResolvedTargets {
  const byId = new Map(sites.map((site) => [site.id, site]));
  const targets: Target[] = [];
  const rejected: RejectedTarget[] = [...input.rejected];
  for (const target of input.targets) {
    const site = byId.get(target.siteId);
    const reason = site ? siteWithoutRsoReason(site) : undefined;
    if (reason) rejected.push({ agentId: target.agentId, computerName: target.computerName, reason });
    else targets.push(target);
  }
  if (targets.length === input.targets.length) return input;
  logger.warn('Preflight: rejected targets on sites without RemoteOps', {
    rejected: input.targets.length - targets.length,
    remaining: targets.length,
  });
  return { ...input, targets, rejected };
}
