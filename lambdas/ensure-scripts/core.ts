/**
 * Ensure Scripts: makes sure the exact collector version each target needs is in the S1 script library, and
 * attaches it to the target. A script counts as present only when its name (which carries version and hash
 * prefix) matches, its osTypes cover the OS, its scope covers the target, and S1's SHA-256 signature (when S1
 * reports one) equals ours; otherwise it is uploaded. Scripts are uploaded at the widest scope the service user
 * has: global for a tenant-scoped user, else the target's account, else its site.
 */
import type { CollectorScript } from '../collectors';
import { ConfigError } from '../shared/errors';
import { logger } from '../shared/observability';
import type { CollectionTarget, ResolvedTargets, ScriptRef, ScriptsEnsured, Target } from '../shared/schemas';
import { scriptMatches } from '../shared/script-library';
import type { S1Client, S1Script } from '../shared/sentinelone';

/** Dependencies of {@link ensureScripts}. */
export interface EnsureScriptsDeps {
  readonly s1: S1Client;
  readonly collectors: readonly CollectorScript[];
  /** S1 runtime timeout for each run (also the collector's own budget, halved). */
  readonly runtimeTimeoutSeconds: number;
  /** Builds the collector's `inputParams` for that timeout. */
  readonly inputParamsFor: (runtimeTimeoutSeconds: number) => string;
}

type Scope = { level: 'global' } | { level: 'account'; id: string } | { level: 'site'; id: string };

function scopeFor(userScope: string | undefined, target: Target): Scope {
  if (userScope === 'tenant' || userScope === 'global') return { level: 'global' };
  if (userScope === 'site') return { level: 'site', id: target.siteId };
  return { level: 'account', id: target.accountId };
}

function scopeKey(scope: Scope): string {
  return scope.level === 'global' ? 'global' : `${scope.level}:${scope.id}`;
}

/** Ensures the scripts and attaches one to every target. */
export async function ensureScripts(
  input: ResolvedTargets,
  deps: EnsureScriptsDeps,
): Promise<ScriptsEnsured> {
  if (input.targets.length === 0) return { ...input, targets: [], scripts: [] };
  const userScope = input.s1UserScope ?? (await currentScope(deps.s1));
  const byKey = new Map<string, ScriptRef>();
  const targets: CollectionTarget[] = [];
  const libraryCache = new Map<string, S1Script[]>();

  for (const target of input.targets) {
    const collector = deps.collectors.find((c) => c.osType === target.osType);
    if (!collector) throw new ConfigError(`No collector script is bundled for ${target.osType}`);
    const scope = scopeFor(userScope, target);
    const key = `${collector.osType}|${scopeKey(scope)}`;
    let ref = byKey.get(key);
    if (!ref) {
      let library = libraryCache.get(collector.libraryName);
      if (!library) {
        library = await deps.s1.listScripts({ query: collector.libraryName, osTypes: [collector.osType] });
        libraryCache.set(collector.libraryName, library);
      }
      const existing = oldest(library.filter((script) => scriptMatches(script, collector, target)));
      let script = existing;
      if (!script) {
        const uploaded = await upload(deps, collector, scope);
        // Investigations started together may each have uploaded a copy: all of them settle on the oldest one,
        // so the runs of a burst use one library script (the extra copies stay in the library, unused).
        const now = await deps.s1.listScripts({ query: collector.libraryName, osTypes: [collector.osType] });
        script =
          oldest([uploaded, ...now.filter((candidate) => scriptMatches(candidate, collector, target))]) ??
          uploaded;
        libraryCache.set(collector.libraryName, [uploaded, ...now]);
      }
      ref = {
        scriptId: script.id,
        libraryName: collector.libraryName,
        name: collector.name,
        version: collector.version,
        sha256: collector.sha256,
        osType: collector.osType,
        scriptType: collector.scriptType,
        runtimeTimeoutSeconds: deps.runtimeTimeoutSeconds,
        inputParams: deps.inputParamsFor(deps.runtimeTimeoutSeconds),
        uploaded: !existing,
      };
      byKey.set(key, ref);
      logger.info(existing ? 'Collector found in the S1 library' : 'Collector uploaded to the S1 library', {
        libraryName: collector.libraryName,
        scriptId: script.id,
        scope: scopeKey(scope),
      });
    }
    targets.push({ ...target, script: ref });
  }
  return { ...input, targets, scripts: [...byKey.values()] };
}

/** The script S1 created first (ids grow with time; compared as big integers, they exceed 2^53). */
function oldest(scripts: readonly S1Script[]): S1Script | undefined {
  return scripts.reduce<S1Script | undefined>(
    (best, script) => (best === undefined || BigInt(script.id) < BigInt(best.id) ? script : best),
    undefined,
  );
}

async function currentScope(s1: S1Client): Promise<string | undefined> {
  try {
    return (await s1.getCurrentUser()).scope ?? undefined;
  } catch (error) {
    // A least-privilege user may not read /user; account scope is what the setup guide asks for.
    logger.warn('Could not read the S1 user scope; uploading at account scope', {
      error: (error as Error).name,
    });
    return undefined;
  }
}

async function upload(deps: EnsureScriptsDeps, collector: CollectorScript, scope: Scope): Promise<S1Script> {
  return deps.s1.uploadScript({
    content: collector.content,
    fileName: collector.fileName,
    scriptName: collector.libraryName,
    scriptType: collector.scriptType,
    osTypes: [collector.osType],
    scopeLevel: scope.level,
    scopeId: scope.level === 'global' ? undefined : scope.id,
    runtimeTimeoutSeconds: deps.runtimeTimeoutSeconds,
    description: collector.description,
    inputRequired: false,
  });
}
