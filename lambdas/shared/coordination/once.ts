/**
 * Side effects that must happen once however often their step runs (S1 notes, outcome events): a claim in the
 * coordination store (create-if-absent) comes first, and only whoever created it acts. If the action fails, the
 * claim is removed so a retry may try again; an action that failed after taking effect (a 5xx after S1 stored a
 * note) can then still happen twice, which the caller's log says.
 */
import * as z from 'zod';
import { logger } from '../observability';
import type { CoordinationStore, ItemKey } from './store';

/** What a claim holds. */
const Claim = z.object({ name: z.string() });
/** How long a claim is kept: longer than any redelivery or retry of the step that acts. */
export const ONCE_CLAIM_TTL_SECONDS = 7 * 24 * 3600;

/** What became of the action. */
export type OnceResult = 'done' | 'already-done' | 'failed';

/**
 * Runs `action` unless the claim `key` says it ran before. Never throws for the action's errors (they are logged
 * under `what`); the store's errors propagate. Without a store, the action runs every time.
 */
export async function doOnce(
  store: CoordinationStore | undefined,
  key: ItemKey,
  name: string,
  what: string,
  action: () => Promise<void>,
): Promise<OnceResult> {
  const claim = store
    ? await store.putIfAbsent(key, { name }, Claim, { ttlSeconds: ONCE_CLAIM_TTL_SECONDS })
    : undefined;
  if (claim?.status === 'exists') return 'already-done';
  try {
    await action();
    return 'done';
  } catch (error) {
    logger.warn(`Could not ${what}`, { error: (error as Error).name, claim: key.pk });
    if (store && claim?.status === 'created')
      await store.remove(key, claim.item.writeId).catch(() => undefined);
    return 'failed';
  }
}
