/**
 * Ensure Scripts: makes sure the exact collector version each target needs is in the S1 script library, and
 * attaches it to the target. A library script is used only when its name (which carries version and hash prefix)
 * matches, its osTypes cover the OS, its scope covers the target, and its SHA-256 is proven equal to ours: from
 * S1's `signature` (hex or base64), else from its content (`GET /remote-scripts/script-content`). A same-name
 * script that is not proven ours is never run; it is reported on the script (`lookAlikes`, which the outcome
 * carries), and our own copy is uploaded beside it under a fresh versioned name. Scripts are uploaded at the widest
 * scope the service user has: global for a tenant-scoped user, else the target's account, else its site.
 */
import { randomUUID } from 'node:crypto';
import type { CollectorScript } from '../collectors';
import {
  budgetOf,
  collectorArguments,
  DEFAULT_PROFILE_SETTINGS,
  type ProfileName,
  type ProfileSettings,
} from '../collectors/profiles';
import type { CachedScript, ScriptCache, ScriptCacheKey } from '../shared/coordination/script-cache';
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
  /**
   * The shared library cache (coordination store): a hit skips the library lookup; an upload is claimed so a
   * burst uploads one copy. @default - none: every invocation looks the library up
   */
  readonly cache?: ScriptCache;
  /** Waits while another execution uploads (simulated time locally). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How long an execution waits for another one's upload before it uploads itself, and how often it looks. */
export const UPLOAD_WAIT = { maxMs: 60_000, everyMs: 2_000 } as const;

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
    const cacheKey: ScriptCacheKey = {
      libraryName: collector.libraryName,
      sha256: collector.sha256,
      osType: collector.osType,
      scope: scopeKey(scope),
    };
    if (!ref) {
      const cached = await cachedScript(deps, cacheKey);
      if (cached) {
        ref = refOf(collector, budget.runtimeTimeoutSeconds, inputParams, profile, cached, false);
        byKey.set(key, ref);
        logger.info('Collector found in the shared library cache (hash proven by an earlier lookup)', {
          libraryName: ref.libraryName,
          scriptId: ref.scriptId,
          scope: scopeKey(scope),
          verifiedAt: cached.verifiedAt,
        });
      }
    }
    if (!ref) {
      let library = libraryCache.get(collector.libraryName);
      if (!library) {
        library = await listLibrary(collector);
        libraryCache.set(collector.libraryName, library);
      }
      const sorted = await sortCandidates(library, collector, target, identify);
      const existing = oldest(sorted.ours);
      let script = existing;
      let proof: CachedScript | undefined = existing
        ? proofOf(collector, existing, await identify(existing, collector), sorted.lookAlikes, deps)
        : undefined;
      // Another execution of the burst may be uploading our copy right now: wait for it rather than upload another.
      const claimOwner = randomUUID();
      let claimed = false;
      let didUpload = false;
      if (!script && deps.cache) {
        claimed = await claimUpload(deps, cacheKey, claimOwner);
        if (!claimed) {
          const uploadedByOther = await waitForUpload(deps, cacheKey);
          if (uploadedByOther) {
            proof = uploadedByOther;
            script = { id: uploadedByOther.scriptId, scriptName: uploadedByOther.scriptName } as S1Script;
          }
        }
      }
      if (!script) {
        // The collector's own name is taken by something not proven ours: upload beside it, under a fresh name.
        const scriptName =
          sorted.lookAlikes.length > 0
            ? freshLibraryName(collector.libraryName, (deps.now ?? Date.now)())
            : collector.libraryName;
        const uploaded = await upload(deps, collector, scope, scriptName, budget.runtimeTimeoutSeconds);
        didUpload = true;
        // Investigations started together may each have uploaded a copy: all of them settle on the oldest one
        // proven ours, so the runs of a burst use one library script (the extra copies stay in the library, unused).
        const now = await listLibrary(collector);
        const settled = await sortCandidates(now, collector, target, identify);
        script = oldest([uploaded, ...settled.ours]) ?? uploaded;
        libraryCache.set(collector.libraryName, [uploaded, ...now]);
        proof =
          script === uploaded
            ? {
                collectorSha256: collector.sha256,
                scriptId: uploaded.id,
                scriptName: uploaded.scriptName ?? scriptName,
                provenSha256: collector.sha256,
                source: 'uploaded',
                verifiedAt: new Date((deps.now ?? Date.now)()).toISOString(),
                lookAlikes: sorted.lookAlikes,
              }
            : proofOf(collector, script, await identify(script, collector), sorted.lookAlikes, deps);
      }
      if (proof) await rememberProof(deps, cacheKey, proof);
      if (claimed) await releaseUpload(deps, cacheKey, claimOwner);
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
      ref = refOf(
        collector,
        budget.runtimeTimeoutSeconds,
        inputParams,
        profile,
        {
          scriptId: script.id,
          scriptName: script.scriptName ?? collector.libraryName,
          lookAlikes: sorted.lookAlikes,
        },
        didUpload,
      );
      byKey.set(key, ref);
      logger.info(didUpload ? 'Collector uploaded to the S1 library' : 'Collector found in the S1 library', {
        libraryName: ref.libraryName,
        scriptId: script.id,
        scope: scopeKey(scope),
      });
    }
    targets.push({ ...target, script: ref });
  }
  return { ...input, targets, scripts: [...byKey.values()] };
}

/** The target's script reference. */
function refOf(
  collector: CollectorScript,
  runtimeTimeoutSeconds: number,
  inputParams: string,
  profile: ProfileName,
  script: Pick<CachedScript, 'scriptId' | 'scriptName' | 'lookAlikes'>,
  uploaded: boolean,
): ScriptRef {
  return {
    scriptId: script.scriptId,
    libraryName: script.scriptName,
    name: collector.name,
    version: collector.version,
    sha256: collector.sha256,
    osType: collector.osType,
    scriptType: collector.scriptType,
    runtimeTimeoutSeconds,
    inputParams,
    profile,
    uploaded,
    ...(script.lookAlikes.length > 0 ? { lookAlikes: script.lookAlikes } : {}),
  };
}

/** The cache entry of a library script proven ours (undefined when the identity is not `ours`). */
function proofOf(
  collector: CollectorScript,
  script: S1Script,
  identity: ScriptIdentity,
  lookAlikes: LookAlike[],
  deps: EnsureScriptsDeps,
): CachedScript | undefined {
  if (identity.verdict !== 'ours') return undefined;
  return {
    collectorSha256: collector.sha256,
    scriptId: script.id,
    scriptName: script.scriptName ?? collector.libraryName,
    provenSha256: identity.sha256,
    source: identity.source,
    verifiedAt: new Date((deps.now ?? Date.now)()).toISOString(),
    lookAlikes,
  };
}

/** The cached proof, if any; a store failure is a miss (the library is looked up as without a cache). */
async function cachedScript(deps: EnsureScriptsDeps, key: ScriptCacheKey): Promise<CachedScript | undefined> {
  return deps.cache?.get(key);
}

async function rememberProof(
  deps: EnsureScriptsDeps,
  key: ScriptCacheKey,
  proof: CachedScript,
): Promise<void> {
  await deps.cache?.put(key, proof).catch((error: unknown) =>
    logger.warn('Could not record the library script in the shared cache', {
      error: error instanceof Error ? error.name : 'Error',
    }),
  );
}

async function claimUpload(deps: EnsureScriptsDeps, key: ScriptCacheKey, owner: string): Promise<boolean> {
  try {
    return (
      (await deps.cache?.claimUpload(key, owner, new Date((deps.now ?? Date.now)()).toISOString())) ?? true
    );
  } catch {
    return true; // the store failed: upload as without a cache (the racers settle on the oldest copy)
  }
}

async function releaseUpload(deps: EnsureScriptsDeps, key: ScriptCacheKey, owner: string): Promise<void> {
  await deps.cache?.releaseUpload(key, owner).catch(() => undefined); // it lapses by itself
}

/** Waits (bounded) for the entry another execution's upload leaves; undefined when it does not come in time. */
async function waitForUpload(
  deps: EnsureScriptsDeps,
  key: ScriptCacheKey,
): Promise<CachedScript | undefined> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let waited = 0; waited < UPLOAD_WAIT.maxMs; waited += UPLOAD_WAIT.everyMs) {
    await sleep(UPLOAD_WAIT.everyMs);
    const entry = await cachedScript(deps, key);
    if (entry) return entry;
  }
  logger.warn('Another execution claimed the collector upload but left no library entry in time; uploading', {
    libraryName: key.libraryName,
  });
  return undefined;
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
