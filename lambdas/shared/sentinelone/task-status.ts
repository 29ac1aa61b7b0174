/**
 * What a RemoteOps child task row means for the workflow. Pure functions: no I/O, no clock.
 *
 * S1's `status` alone is not enough: `completed` also covers scripts that terminated in failure (the failure is in
 * `detailedStatus`, sometimes in a non-zero `statusCode`), and S1 may add status values at any time.
 */
import { redact } from '../redact';
import type { S1TaskRow } from './schemas';

/** The workflow's view of one child task. `unknown` is terminal and the workflow treats it as a failure. */
export type TaskOutcome = 'running' | 'succeeded' | 'failed' | 'expired' | 'canceled' | 'unknown';

/** Outcome of {@link classifyTaskStatus}. */
export interface TaskClassification {
  readonly outcome: TaskOutcome;
  /** False only while the task may still change (`running`). */
  readonly terminal: boolean;
  /** One sentence for people: what S1 said and what it means. */
  readonly reason: string;
}

/** The fields {@link classifyTaskStatus} reads (a full {@link S1TaskRow} fits). */
export type TaskStatusFields = Pick<
  S1TaskRow,
  'status' | 'detailedStatus' | 'statusCode' | 'statusDescription'
> &
  Partial<Pick<S1TaskRow, 'errorReason'>>;

/** S1 statuses of a task that has not finished yet. */
const RUNNING_STATUSES = new Set(['created', 'scheduled', 'pending', 'in_progress']);

/**
 * Words in `detailedStatus` that mean the script did not succeed although the task is `completed`, e.g.
 * "The execution terminated in failure". The happy path reads "Execution completed successfully".
 */
const FAILURE_TEXT =
  /\b(fail\w*|error\w*|terminated|abort\w*|timed?[\s-]?out|killed|crash\w*|unable|could not|cannot)\b/i;

/** Negated mentions ("no errors", "without failures") that must not count as failure words. */
const NEGATED_FAILURE = /\b(no|without|zero|0)\s+(errors?|failures?)\b/gi;

function mentionsFailure(text: string): boolean {
  return FAILURE_TEXT.test(text.replace(NEGATED_FAILURE, ''));
}

/** Placeholders some consoles put in an empty `errorReason`. */
const NO_REASON = /^(|none|null|n\/a|-)$/i;

/** S1's `errorReason`, when it says something. */
function errorReasonOf(row: TaskStatusFields): string | undefined {
  const reason = row.errorReason?.trim();
  return reason === undefined || NO_REASON.test(reason) ? undefined : reason;
}

/** Classifies one child task row following the rules of the S1 reference (§3). */
export function classifyTaskStatus(row: TaskStatusFields): TaskClassification {
  const status = (row.status ?? '').trim().toLowerCase();
  const detail = describeDetail(row);
  const said = `S1 status "${status || '(empty)'}"${detail ? ` (${detail})` : ''}`;

  if (RUNNING_STATUSES.has(status)) {
    return { outcome: 'running', terminal: false, reason: `${said}: the task has not finished yet` };
  }
  if (status === 'pending_user_action') {
    return {
      outcome: 'running',
      terminal: false,
      reason: `${said}: waiting for a user action on the endpoint; it may never finish on its own`,
    };
  }
  if (status === 'partially_completed') {
    // An aggregate state for multi-agent parents; on a single agent's child task it is not an end state.
    return { outcome: 'running', terminal: false, reason: `${said}: not every step has finished yet` };
  }
  if (status === 'completed') {
    const failureText = [
      row.detailedStatus,
      typeof row.statusDescription === 'string' ? row.statusDescription : '',
    ]
      .filter((text): text is string => typeof text === 'string' && text.length > 0)
      .find(mentionsFailure);
    if (failureText !== undefined || errorReasonOf(row) !== undefined) {
      return {
        outcome: 'failed',
        terminal: true,
        reason: `${said}: the task completed but the script failed`,
      };
    }
    const code = numericCode(row.statusCode);
    if (code !== undefined && code !== 0) {
      return {
        outcome: 'failed',
        terminal: true,
        reason: `${said}: the task completed but the script ended with status code ${code}`,
      };
    }
    return { outcome: 'succeeded', terminal: true, reason: `${said}: the script completed successfully` };
  }
  if (status === 'failed') {
    return { outcome: 'failed', terminal: true, reason: `${said}: the script failed on the endpoint` };
  }
  if (status === 'expired') {
    return {
      outcome: 'expired',
      terminal: true,
      reason: `${said}: the agent did not pick the task up in time (offline or disconnected?)`,
    };
  }
  if (status === 'canceled' || status === 'cancelled') {
    return { outcome: 'canceled', terminal: true, reason: `${said}: the task was canceled` };
  }
  return {
    outcome: 'unknown',
    terminal: true,
    reason: `${said}: this status is not known to this version of the workflow; treating it as a failure`,
  };
}

/** True when every row is terminal (an empty list is not: rows may lag the execute call). */
export function allTerminal(rows: readonly TaskStatusFields[]): boolean {
  return rows.length > 0 && rows.every((row) => classifyTaskStatus(row).terminal);
}

function numericCode(code: TaskStatusFields['statusCode']): number | undefined {
  if (typeof code === 'number') return Number.isFinite(code) ? code : undefined;
  return undefined;
}

function describeDetail(row: TaskStatusFields): string {
  const parts: string[] = [];
  if (row.detailedStatus) parts.push(row.detailedStatus);
  if (row.statusCode !== null && row.statusCode !== undefined) parts.push(`status code ${row.statusCode}`);
  const reason = errorReasonOf(row);
  if (reason !== undefined) parts.push(`error reason: ${reason}`);
  return redact(parts.join('; ').slice(0, 300));
}
