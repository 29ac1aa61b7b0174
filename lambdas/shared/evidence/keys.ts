/**
 * The evidence bucket layout (DESIGN §3). Every key carries the investigation id, so each artifact can be traced
 * back to its execution, and forward from the execution to its artifacts.
 */
import { BUCKET_PREFIXES } from '../contract';

/** Prefix of everything an investigation wrote. */
export function investigationPrefix(investigationId: string): string {
  return `${BUCKET_PREFIXES.investigations}${investigationId}/`;
}

/** The outcome of the whole investigation. */
export function caseKey(investigationId: string): string {
  return `${investigationPrefix(investigationId)}case.json`;
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
