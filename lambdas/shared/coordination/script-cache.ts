/**
 * The script library cache (DESIGN §9, "O(1) S1 traffic" and "Only our collector runs"): what Ensure Scripts proved
 * about the S1 library, shared by every execution for a few minutes, so that a burst of investigations makes one
 * library lookup per collector version and scope instead of one each (`GET /remote-scripts` shares S1's 1 req/s
 * with executes and result fetches).
 *
 * An entry is the proof, not a name: it names the library script, the SHA-256 it was proven to have (from S1's
 * signature or its content) and how, for exactly one collector hash. A hit is used only when the proven hash equals
 * the collector's and the entry is younger than its TTL (`scriptLibraryCacheSeconds`, {@link SCRIPT_CACHE_TTL_SECONDS} by default); anything else (an entry of
 * another version, a hash that does not match, an unreadable item) is ignored and the library is looked up again,
 * which re-proves every candidate. The same-name look-alikes found by the lookup are kept in the entry, so an
 * investigation served from the cache still reports (and never runs) them. A script removed from the library
 * while cached makes the execute fail with "not found" (nothing runs); Run Script then drops the entry.
 *
 * Uploads are claimed: when the lookup finds no copy of ours, one execution takes the upload claim and uploads;
 * the others wait (bounded) for its entry instead of uploading copies of their own.
 */
import * as z from 'zod';
import { LookAlikeScript } from '../schemas';
import type { CoordinationStore, ItemKey } from './store';

/** How long a proven library script is trusted without looking again, unless configured. */
export const SCRIPT_CACHE_TTL_SECONDS = 600;
/** How long an upload claim holds (an upload and the re-list after it take a few seconds). */
export const SCRIPT_UPLOAD_CLAIM_SECONDS = 90;

/** One cached proof. */
export const CachedScript = z.object({
  /** The collector's SHA-256 this entry is for. */
  collectorSha256: z.string().regex(/^[0-9a-f]{64}$/),
  scriptId: z.string().regex(/^\d+$/),
  scriptName: z.string(),
  /** The library script's SHA-256 as proven, and from what. */
  provenSha256: z.string().regex(/^[0-9a-f]{64}$/),
  source: z.enum(['signature', 'content', 'uploaded']),
  verifiedAt: z.string(),
  lookAlikes: z.array(LookAlikeScript),
});
export type CachedScript = z.infer<typeof CachedScript>;

const UploadClaim = z.object({ owner: z.string(), at: z.string() });

/** What a cache entry is for: the collector version (its library name and hash), the OS and the upload scope. */
export interface ScriptCacheKey {
  readonly libraryName: string;
  readonly sha256: string;
  readonly osType: string;
  /** `global`, `account:<id>` or `site:<id>`. */
  readonly scope: string;
}

function cacheKey(key: ScriptCacheKey): ItemKey {
  return { pk: `scriptlib#${key.sha256}`, sk: `${key.osType}|${key.scope}|${key.libraryName}` };
}

function claimKey(key: ScriptCacheKey): ItemKey {
  const { pk, sk } = cacheKey(key);
  return { pk, sk: `upload|${sk}` };
}

/** The shared script library cache; see the module comment. */
export class ScriptCache {
  constructor(
    private readonly store: CoordinationStore,
    private readonly ttlSeconds: number = SCRIPT_CACHE_TTL_SECONDS,
  ) {}

  /** The cached proof for `key`, or undefined (none, expired, unreadable, or not a proof of this collector). */
  async get(key: ScriptCacheKey): Promise<CachedScript | undefined> {
    let found: CachedScript | undefined;
    try {
      found = (await this.store.get(cacheKey(key), CachedScript))?.data;
    } catch {
      return undefined; // unreadable (or the store failed): look the library up
    }
    if (!found) return undefined;
    if (found.collectorSha256 !== key.sha256 || found.provenSha256 !== key.sha256) return undefined;
    return found;
  }

  /** Records a proof (replacing an older one: the newest lookup knows most). */
  async put(key: ScriptCacheKey, entry: CachedScript): Promise<void> {
    const parsed = CachedScript.parse(entry);
    const at = cacheKey(key);
    const created = await this.store.putIfAbsent(at, parsed, CachedScript, { ttlSeconds: this.ttlSeconds });
    if (created.status === 'exists') {
      await this.store.update(at, parsed, CachedScript, {
        ttlSeconds: this.ttlSeconds,
        expectedVersion: created.item.version,
      });
    }
  }

  /** Drops the entry when it still names `scriptId` (the script is gone from the library). */
  async forget(key: ScriptCacheKey, scriptId: string): Promise<void> {
    const at = cacheKey(key);
    const current = await this.store.get(at, CachedScript);
    if (current && current.data.scriptId === scriptId) await this.store.remove(at, current.writeId);
  }

  /** Claims the upload of `key`'s collector; false when another execution holds the claim. */
  async claimUpload(key: ScriptCacheKey, owner: string, nowIso: string): Promise<boolean> {
    const claim = await this.store.putIfAbsent(claimKey(key), { owner, at: nowIso }, UploadClaim, {
      ttlSeconds: SCRIPT_UPLOAD_CLAIM_SECONDS,
    });
    return claim.status === 'created' || claim.item.data.owner === owner;
  }

  /** Gives the upload claim back (it lapses by itself otherwise). */
  async releaseUpload(key: ScriptCacheKey, owner: string): Promise<void> {
    const current = await this.store.get(claimKey(key), UploadClaim);
    if (current && current.data.owner === owner) await this.store.remove(claimKey(key), current.writeId);
  }
}
