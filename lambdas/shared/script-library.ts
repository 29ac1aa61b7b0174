/**
 * Whether a script in the S1 library is the exact collector a target needs. Used by Ensure Scripts (to decide
 * whether to upload) and by the permission audit (to check the library holds the deployed versions).
 */
import type { CollectorScript } from '../collectors';
import type { Target } from './schemas';
import type { S1Script } from './sentinelone';

/** Whether a library script is usable for `target`: same version and hash, right OS, visible in its scope. */
export function scriptMatches(
  script: S1Script,
  collector: Pick<CollectorScript, 'libraryName' | 'osType' | 'sha256'>,
  target: Pick<Target, 'siteId' | 'accountId'>,
): boolean {
  if (script.scriptName !== collector.libraryName) return false;
  if (!(script.osTypes ?? []).includes(collector.osType)) return false;
  const signature = script.signature?.toLowerCase();
  if (signature && /^[0-9a-f]{64}$/.test(signature) && signature !== collector.sha256) return false;
  const level = script.scopeLevel?.toLowerCase();
  if (level === 'site') return script.scopeId === target.siteId;
  if (level === 'account') return script.scopeId === target.accountId;
  return true; // global / tenant, or a console that does not say
}
