/**
 * Replay protection inside the signing window: the signature of an accepted request is kept as a nonce in the
 * coordination store until its timestamp leaves the window, and a second request with the same signature is
 * refused. Only the SHA-256 of the signature's bytes is stored (the signature itself would let anyone holding the
 * table replay the request; and hashing the decoded bytes makes `sha256=ABC…` and `sha256=abc…` one nonce).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { CoordinationStore, ItemKey } from '../shared/coordination/store';

/** What the webhook needs of the coordination store. */
export type NonceStore = Pick<CoordinationStore, 'putIfAbsent' | 'remove'>;

/** A nonce this request holds; give it back with {@link releaseNonce} when the request had no effect. */
export interface HeldNonce {
  readonly key: ItemKey;
  readonly writeId: string;
}

const NonceData = z.object({ timestamp: z.string() });

/** The store key of a signature (`sha256=<hex>`, already checked to have that shape). */
export function nonceKey(signature: string): ItemKey {
  const hex = signature.trim().slice('sha256='.length).toLowerCase();
  const digest = createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
  return { pk: `webhook-nonce#${digest}`, sk: 'webhook-nonce' };
}

/**
 * Records the signature as used until `timestamp + maxSkewSeconds` (plus a second for rounding): resolves the
 * held nonce, or `replay` when a live one exists.
 */
export async function claimNonce(
  store: NonceStore,
  signature: string,
  timestamp: string,
  options: { now: number; maxSkewSeconds: number },
): Promise<HeldNonce | 'replay'> {
  const key = nonceKey(signature);
  const ttlSeconds = Math.max(
    1,
    Number(timestamp) + options.maxSkewSeconds + 1 - Math.floor(options.now / 1000),
  );
  const result = await store.putIfAbsent(key, { timestamp }, NonceData, { ttlSeconds });
  return result.status === 'created' ? { key, writeId: result.item.writeId } : 'replay';
}

/** Frees a nonce whose request was refused or failed, so the sender may send the same request again. */
export async function releaseNonce(store: NonceStore, nonce: HeldNonce): Promise<void> {
  await store.remove(nonce.key, nonce.writeId);
}
