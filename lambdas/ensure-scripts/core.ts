/**
 * Ensure Scripts: makes sure the exact collector version each target needs is in the S1 script library, and
 * attaches it to the target. A library script is used only when its name (which carries version and hash prefix)
 * matches, its osTypes cover the OS, its scope covers the target, and its SHA-256 is proven equal to ours: from
 * S1's `signature` (hex or base64), else from its content (`GET /remote-scripts/script-content`). A same-name
 * script that is not proven ours is never run; it is reported on the script (`lookAlikes`, which the outcome
 * carries), and our own copy is uploaded beside it under a fresh versioned name. Scripts are uploaded at the widest
 * scope the service user has: global for a tenant-scoped user, else the target's account, else its site.
 */
import type { CollectorScript } from '../collectors';
import {
  budgetOf,
  collectorArguments,
  DEFAULT_PROFILE_SETTINGS,
  type ProfileName,
  type ProfileSettings,
} from '../collectors/profiles';
import { ConfigError } from '../shared/errors';
import { logger } from '../shared/observability';
import type { CollectionTarget, ResolvedTargets, ScriptRef, ScriptsEnsured, Target } from '../shared/schemas';
import {
  type ContentHash,
  contentHash,
  freshLibraryName,
  identityOf,
  type LookAlike,
  lookAlike,
  needsContent,
  type ScriptIdentity,
  scriptCovers,
} from '../shared/script-library';
import type { S1Client, S1Script } from '../shared/sentinelone';

/** Dependencies of {@link ensureScripts}. */
export interface EnsureScriptsDeps {
  readonly s1: S1Client;
  /** Every profile's copy of every collector (`loadProfileCollectors`). */
  readonly collectors: readonly CollectorScript[];
  /** S1 runtime timeout of a triage run (`scriptRuntimeTimeoutSeconds`); the other profiles have their own budget. */
  readonly runtimeTimeoutSeconds: number;
  /** Default profile, budgets, memory tool. @default - triage, default budgets, no memory tool */
  readonly profiles?: ProfileSettings;
  /** Clock for the fresh names of copies (epoch ms). @default Date.now */
  readonly now?: () => number;
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
  const identities = new Map<string, Promise<ScriptIdentity>>();
  const identify = (script: S1Script, collector: CollectorScript): Promise<ScriptIdentity> => {
    const key = `${script.id}|${collector.sha256}`;
    let found = identities.get(key);
    if (!found) {
      found = (async () => {
        const content: ContentHash | undefined = needsContent(script)
          ? await contentHash((id) => deps.s1.getScriptContent(id), script.id)
          : undefined;
        return identityOf(script, collector.sha256, content);
      })();
      identities.set(key, found);
    }
    return found;
  };
  const listLibrary = (collector: CollectorScript) =>
    deps.s1.listScripts({ query: collector.libraryName, osTypes: [collector.osType] });
  const settings = deps.profiles ?? DEFAULT_PROFILE_SETTINGS;
  const profile: ProfileName = input.investigation.profile ?? settings.defaultProfile;
  const budget = budgetOf(profile, settings, deps.runtimeTimeoutSeconds);

  for (const target of input.targets) {
    const collector = deps.collectors.find((c) => c.osType === target.osType && c.profile === profile);
    if (!collector) throw new ConfigError(`No ${profile} collector script is bundled for ${target.osType}`);
    // Fails before anything is uploaded when the profile cannot run (custom paths invalid, memory without a tool).
    const inputParams = collectorArguments({
      profile,
      osType: target.osType,
      budget,
      customPaths: input.investigation.customPaths,
      memoryTool: settings.memoryTool[target.osType],
    });
    const scope = scopeFor(userScope, target);
    const key = `${collector.osType}|${profile}|${scopeKey(scope)}`;
    let ref = byKey.get(key);
    if (!ref) {
      let library = libraryCache.get(collector.libraryName);
      if (!library) {
        library = await listLibrary(collector);
        libraryCache.set(collector.libraryName, library);
      }
      const sorted = await sortCandidates(library, collector, target, identify);
      const existing = oldest(sorted.ours);
      let script = existing;
      if (!script) {
        // The collector's own name is taken by something not proven ours: upload beside it, under a fresh name.
        const scriptName =
          sorted.lookAlikes.length > 0
            ? freshLibraryName(collector.libraryName, (deps.now ?? Date.now)())
            : collector.libraryName;
        const uploaded = await upload(deps, collector, scope, scriptName, budget.runtimeTimeoutSeconds);
        // Investigations started together may each have uploaded a copy: all of them settle on the oldest one
        // proven ours, so the runs of a burst use one library script (the extra copies stay in the library, unused).
        const now = await listLibrary(collector);
        const settled = await sortCandidates(now, collector, target, identify);
        script = oldest([uploaded, ...settled.ours]) ?? uploaded;
        libraryCache.set(collector.libraryName, [uploaded, ...now]);
      }
      for (const found of sorted.lookAlikes) {
        logger.warn('A library script under the collector name is not our collector; it is never run', {
          libraryName: collector.libraryName,
          scriptId: found.scriptId,
          scriptName: found.scriptName,
          verdict: found.verdict,
          sha256: found.sha256,
          expectedSha256: found.expectedSha256,
        });
      }
      ref = {
        scriptId: script.id,
        libraryName: script.scriptName ?? collector.libraryName,
        name: collector.name,
        version: collector.version,
        sha256: collector.sha256,
        osType: collector.osType,
        scriptType: collector.scriptType,
        runtimeTimeoutSeconds: budget.runtimeTimeoutSeconds,
        inputParams,
        profile,
        uploaded: !existing,
        ...(sorted.lookAlikes.length > 0 ? { lookAlikes: sorted.lookAlikes } : {}),
      };
      byKey.set(key, ref);
      logger.info(existing ? 'Collector found in the S1 library' : 'Collector uploaded to the S1 library', {
        libraryName: ref.libraryName,
        scriptId: script.id,
        scope: scopeKey(scope),
      });
    }
    targets.push({ ...target, script: ref });
  }
  return { ...input, targets, scripts: [...byKey.values()] };
}

/** The library scripts that cover `target`, split into those proven ours and the look-alikes. */
async function sortCandidates(
  library: readonly S1Script[],
  collector: CollectorScript,
  target: Target,
  identify: (script: S1Script, collector: CollectorScript) => Promise<ScriptIdentity>,
): Promise<{ ours: S1Script[]; lookAlikes: LookAlike[] }> {
  const candidates = library.filter((script) => scriptCovers(script, collector, target));
  const verdicts = await Promise.all(candidates.map((script) => identify(script, collector)));
  const ours: S1Script[] = [];
  const lookAlikes: LookAlike[] = [];
  candidates.forEach((script, i) => {
    const identity = verdicts[i] as ScriptIdentity;
    if (identity.verdict === 'ours') ours.push(script);
    else lookAlikes.push(lookAlike(script, collector.sha256, identity));
  });
  return { ours, lookAlikes };
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

async function upload(
  deps: EnsureScriptsDeps,
  collector: CollectorScript,
  scope: Scope,
  scriptName: string,
  runtimeTimeoutSeconds: number,
): Promise<S1Script> {
  return deps.s1.uploadScript({
    content: collector.content,
    fileName: collector.fileName,
    scriptName,
    scriptType: collector.scriptType,
    osTypes: [collector.osType],
    scopeLevel: scope.level,
    scopeId: scope.level === 'global' ? undefined : scope.id,
    runtimeTimeoutSeconds,
    description: collector.description,
    inputRequired: false,
  });
}
