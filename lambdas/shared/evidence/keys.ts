/**
 * The evidence bucket layout (DESIGN §3). Every key carries the investigation id, so each artifact can be traced
 * back to its execution, and forward from the execution to its artifacts.
 */
import { createHash } from 'node:crypto';
import { BUCKET_PREFIXES, INVESTIGATION_ID_PATTERN } from '../contract';

/** Folder of the case files of executions whose name is not a valid investigation id (no id starts with "_"). */
export const REJECTED_PREFIX = `${BUCKET_PREFIXES.investigations}_rejected/`;

/** Prefix of everything an investigation wrote. */
export function investigationPrefix(investigationId: string): string {
  return `${BUCKET_PREFIXES.investigations}${investigationId}/`;
}

/** The outcome of the whole investigation. */
export function caseKey(investigationId: string): string {
  return `${investigationPrefix(investigationId)}case.json`;
}

/**
 * Where the case file of an execution goes: `caseKey(name)` for a valid investigation id; otherwise (a name such
 * as `..`, which Step Functions accepts) under `_rejected/`, named by the SHA-256 of the name, so that no execution
 * name can place a record outside its own folder. The case file itself keeps the name as it was.
 */
export function caseKeyForExecution(executionName: string): string {
  if (INVESTIGATION_ID_PATTERN.test(executionName)) return caseKey(executionName);
  const digest = createHash('sha256').update(executionName, 'utf8').digest('hex');
  return `${REJECTED_PREFIX}${digest}/case.json`;
}

/** Who cancelled the investigation, why, and what the cancel did (`s1cado cancel`; written once). */
export function cancellationKey(investigationId: string): string {
  return `${investigationPrefix(investigationId)}cancellation.json`;
}

/** The record of the S1 task started for one agent (lets a retried Run Script find it). */
export function taskRecordKey(investigationId: string, agentId: string): string {
  return `${investigationPrefix(investigationId)}${agentId}/task.json`;
}

/** Folder of one agent's collection. */
export function collectionPrefix(investigationId: string, agentId: string, taskId: string): string {
  return `${investigationPrefix(investigationId)}${agentId}/${taskId}/`;
}

/** The collection file as S1 returned it. */
export function evidenceKey(
  investigationId: string,
  agentId: string,
  taskId: string,
  fileName: string,
): string {
  return `${collectionPrefix(investigationId, agentId, taskId)}${safeFileName(fileName)}`;
}

/** The chain-of-custody record next to it. */
export function manifestKey(investigationId: string, agentId: string, taskId: string): string {
  return `${collectionPrefix(investigationId, agentId, taskId)}manifest.json`;
}

/** Verify Evidence's record, beside the manifest (written once). */
export function verificationKey(manifestKey: string): string {
  return manifestKey.replace(/manifest\.json$/, 'verification.json');
}

/** The signature of the final manifest, beside it. */
export function signatureKey(manifestKey: string): string {
  return manifestKey.replace(/manifest\.json$/, 'manifest.signature.json');
}

/** A permission audit report. */
export function auditKey(at: Date): string {
  const iso = at.toISOString();
  return `${BUCKET_PREFIXES.audits}${iso.slice(0, 10)}/${iso.replace(/[:.]/g, '-')}.json`;
}

/** Names of the records beside the evidence, which a result file must never take. */
const RESERVED_NAMES = new Set(['manifest.json', 'manifest.signature.json', 'verification.json']);

/**
 * A file name that is safe as the last key segment: the base name only, conservative characters, never
 * `manifest.json`, its signature or `verification.json` (which would collide with the chain-of-custody records).
 */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '')
    .slice(0, 200);
  if (!cleaned || RESERVED_NAMES.has(cleaned)) return `result-${cleaned || 'file'}.zip`;
  return cleaned;
}
