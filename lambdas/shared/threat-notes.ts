/**
 * Notes on S1 threats, added once. S1's `POST /threats/notes` is not idempotent: a retried Lambda, a redelivered
 * event or a retried state would add the same note again. A claim in the coordination store (create-if-absent)
 * comes first; the note is added only by whoever created the claim. If adding it fails, the claim is removed so a
 * retry may try again (a 5xx after S1 stored the note can still double it, which is said in the log).
 */
import { z } from 'zod';
import type { CoordinationStore, ItemKey } from './coordination/store';
import { logger } from './observability';
import type { S1Client } from './sentinelone';

/** What a note claim holds. */
const NoteClaim = z.object({ name: z.string() });
/** How long a note claim is kept: longer than any redelivery or retry of the step that adds it. */
export const NOTE_CLAIM_TTL_SECONDS = 7 * 24 * 3600;
/** Longest note sent (S1 shows notes in the threat's timeline; a case file holds the rest). */
export const MAX_NOTE_LENGTH = 4000;

/** What became of a note. */
export type NoteResult = 'added' | 'already-added' | 'failed';

/** Adds `text` to the threat unless the claim `key` says it was added before. Never throws for S1's errors. */
export async function addThreatNoteOnce(options: {
  readonly s1: Pick<S1Client, 'addThreatNote'>;
  /** Unset: no claim is kept, and the note is added every time. */
  readonly store: CoordinationStore | undefined;
  readonly key: ItemKey;
  /** Who claims it (an investigation id), kept in the claim. */
  readonly name: string;
  readonly threatId: string;
  readonly text: string;
}): Promise<NoteResult> {
  const { s1, store, key } = options;
  const claim = store
    ? await store.putIfAbsent(key, { name: options.name }, NoteClaim, { ttlSeconds: NOTE_CLAIM_TTL_SECONDS })
    : undefined;
  if (claim?.status === 'exists') return 'already-added';
  try {
    const text =
      options.text.length > MAX_NOTE_LENGTH ? `${options.text.slice(0, MAX_NOTE_LENGTH - 1)}…` : options.text;
    await s1.addThreatNote([options.threatId], text);
    return 'added';
  } catch (error) {
    logger.warn('Could not add the threat note', { error: (error as Error).name, noteKey: key.pk });
    if (store && claim?.status === 'created')
      await store.remove(key, claim.item.writeId).catch(() => undefined);
    return 'failed';
  }
}
