/**
 * Notes on S1 threats, added once: S1's `POST /threats/notes` is not idempotent, so a claim in the coordination
 * store guards each note (see `doOnce`).
 */
import { doOnce } from './coordination/once';
import type { CoordinationStore, ItemKey } from './coordination/store';
import type { S1Client } from './sentinelone';

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
  const text =
    options.text.length > MAX_NOTE_LENGTH ? `${options.text.slice(0, MAX_NOTE_LENGTH - 1)}…` : options.text;
  const result = await doOnce(options.store, options.key, options.name, 'add the threat note', async () => {
    await options.s1.addThreatNote([options.threatId], text);
  });
  return result === 'done' ? 'added' : result === 'already-done' ? 'already-added' : 'failed';
}
