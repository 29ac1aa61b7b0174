/**
 * The preflight cache (DESIGN §9, "O(1) S1 traffic"): what Check Permissions proved about the S1 token, shared by
 * every execution for a minute, so that a burst of investigations asks `GET /user` (S1: 2 requests/s, burst 5, per
 * token) and `POST /users/api-token-details` once a minute instead of once each.
 *
 * An entry is kept only for a token that passed: S1 accepted it and it was not expired. It holds the user's scope
 * (Ensure Scripts needs it) and the token's expiry date when S1 gave one; a hit whose expiry date has passed is
 * ignored, so an expired token is found by the full check and fails the investigation with the audit's words.
 * The entry is keyed by a fingerprint of the token (SHA-256 of a labelled token, never the token), so a rotated
 * token is checked anew at once. A store that cannot be read or written costs only the cache: the full check runs.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { CoordinationStore, ItemKey } from './store';

/** How long a passed preflight is trusted, unless configured. */
export const PREFLIGHT_CACHE_TTL_SECONDS = 60;

/** What a passed preflight proved. */
export const CachedPreflight = z.object({
  /** The user's scope as `GET /user` gave it. */
  scope: z.string().optional(),
  /** When the token expires (ISO 8601), when S1 said. */
  tokenExpiresAt: z.string().optional(),
  checkedAt: z.string(),
});
export type CachedPreflight = z.infer<typeof CachedPreflight>;

/** The fingerprint an entry is kept under: not the token, and not reversible to it. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update('s1cado-preflight\0').update(token).digest('hex').slice(0, 32);
}

function keyOf(fingerprint: string): ItemKey {
  return { pk: 'preflight#s1-token', sk: fingerprint };
}

/** The shared preflight cache; see the module comment. */
export class PreflightCache {
  constructor(
    private readonly store: CoordinationStore,
    private readonly ttlSeconds: number = PREFLIGHT_CACHE_TTL_SECONDS,
  ) {}

  /** The passed preflight of this token, or undefined (none, expired entry, expired token, unreadable). */
  async get(fingerprint: string, now: number): Promise<CachedPreflight | undefined> {
    let found: CachedPreflight | undefined;
    try {
      found = (await this.store.get(keyOf(fingerprint), CachedPreflight))?.data;
    } catch {
      return undefined;
    }
    if (!found) return undefined;
    if (found.tokenExpiresAt !== undefined) {
      const expires = Date.parse(found.tokenExpiresAt);
      if (!Number.isFinite(expires) || expires <= now) return undefined;
    }
    return found;
  }

  /** Records a passed preflight; a store failure is swallowed (the cache is an optimisation). */
  async put(fingerprint: string, entry: CachedPreflight): Promise<boolean> {
    try {
      const parsed = CachedPreflight.parse(entry);
      const at = keyOf(fingerprint);
      const created = await this.store.putIfAbsent(at, parsed, CachedPreflight, {
        ttlSeconds: this.ttlSeconds,
      });
      if (created.status === 'exists') {
        await this.store.update(at, parsed, CachedPreflight, {
          ttlSeconds: this.ttlSeconds,
          expectedVersion: created.item.version,
        });
      }
      return true;
    } catch {
      return false;
    }
  }
}
