/**
 * The permission audit report (`s1cado/audit@1`): what was checked, each check's status with the reason and the fix
 * in words a responder can act on, and the overall verdict. Stored in S3 under `audits/`, printed by the CLI, and
 * compared with the previous report to decide whether a warning is new.
 */
import * as z from 'zod';

/** The schema id every report carries. */
export const AUDIT_SCHEMA = 's1cado/audit@1';

/** How one check came out. `unknown`: the audit could not find out (e.g. it may not read the role). */
export const CheckStatus = z.enum(['pass', 'warn', 'fail', 'unknown']);
export type CheckStatus = z.infer<typeof CheckStatus>;

/** Every status, in the order reports count them. */
export const CHECK_STATUSES: readonly CheckStatus[] = ['pass', 'warn', 'fail', 'unknown'];

/**
 * How bad a status is, for the overall verdict: fail > warn > unknown > pass. A warning outranks an unknown because
 * it is a known problem coming (an expiring token); an unknown is routine for a least-privilege service user that
 * may not read its own role.
 */
const SEVERITY: Readonly<Record<CheckStatus, number>> = { pass: 0, unknown: 1, warn: 2, fail: 3 };

/** One check of the audit. */
export const AuditCheck = z.object({
  /** Stable kebab-case id, e.g. `s1-role-permissions` (also the `CheckId` metric dimension). */
  id: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/),
  /** Short human title. */
  title: z.string(),
  status: CheckStatus,
  /** What was found, in plain words. */
  reason: z.string(),
  /** What to do about it ("Nothing to do." when it passed). */
  fix: z.string(),
  /** Machine-readable facts behind the reason (missing permissions, site lists, dates). */
  details: z.record(z.string(), z.unknown()).optional(),
});
export type AuditCheck = z.infer<typeof AuditCheck>;

/** Count of checks per status. */
export const StatusCounts = z.object({
  pass: z.number().int().nonnegative(),
  warn: z.number().int().nonnegative(),
  fail: z.number().int().nonnegative(),
  unknown: z.number().int().nonnegative(),
});
export type StatusCounts = z.infer<typeof StatusCounts>;

/** The whole report. */
export const AuditReport = z.object({
  schema: z.literal(AUDIT_SCHEMA),
  startedAt: z.string(),
  finishedAt: z.string(),
  /** The worst status of any check (fail > warn > unknown > pass). */
  status: CheckStatus,
  counts: StatusCounts,
  /** What was audited (URLs without credentials); a service left out was not checked. */
  targets: z.object({ s1: z.string().optional(), cado: z.string().optional() }),
  checks: z.array(AuditCheck),
  tool: z.object({ name: z.string(), version: z.string() }),
});
export type AuditReport = z.infer<typeof AuditReport>;

/** Counts the checks per status. */
export function countStatuses(checks: readonly AuditCheck[]): StatusCounts {
  const counts: StatusCounts = { pass: 0, warn: 0, fail: 0, unknown: 0 };
  for (const check of checks) counts[check.status]++;
  return counts;
}

/** The worst status among `checks` (`pass` for none). */
export function overallStatus(checks: readonly AuditCheck[]): CheckStatus {
  let worst: CheckStatus = 'pass';
  for (const check of checks) if (SEVERITY[check.status] > SEVERITY[worst]) worst = check.status;
  return worst;
}
