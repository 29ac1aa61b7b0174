/**
 * Which scripts in the S1 library are our collector. Used by Ensure Scripts (to decide which script to run, or to
 * upload) and by the permission audit (to check the library holds the deployed versions and nothing posing as them).
 *
 * A name proves nothing: anyone with the Upload or Edit permission can put a script under our collector's name. A
 * library script is ours only when its SHA-256 equals the collector's:
 * 1. S1's `signature`, when it is a SHA-256 (hex in any case, or base64 as S1's own built-in scripts carry it);
 * 2. otherwise the SHA-256 of its source, read from `GET /remote-scripts/script-content`;
 * 3. when neither is available the script is unverifiable, and not used: Ensure Scripts uploads our own copy
 *    under a fresh versioned name ({@link freshLibraryName}).
 */
import { createHash } from 'node:crypto';
import type { CollectorScript } from '../collectors';
import type { Target } from './schemas';
import type { S1Script } from './sentinelone';

/** Lower-case hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;
/** 32 bytes in base64 (standard, with or without its one `=`) or base64url. */
const BASE64_SHA256 = /^(?:[A-Za-z0-9+/]{43}=?|[A-Za-z0-9_-]{43}=?)$/;

/**
 * S1's script `signature` as lower-case hex SHA-256, or `undefined` when it is not comparable: null, empty,
 * SHA-1-shaped (40 hex), any other length, or a `signatureType` naming another algorithm.
 */
export function signatureSha256(
  signature: string | null | undefined,
  signatureType?: string | null,
): string | undefined {
  if (typeof signature !== 'string') return undefined;
  if (typeof signatureType === 'string' && signatureType.trim() !== '') {
    if (!/^sha-?256$/i.test(signatureType.trim())) return undefined;
  }
  const value = signature.trim();
  if (HEX_SHA256.test(value)) return value.toLowerCase();
  if (BASE64_SHA256.test(value)) {
    const bytes = Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64');
    if (bytes.length === 32) return bytes.toString('hex');
  }
  return undefined;
}

/** How a script's SHA-256 was learnt. */
export type HashSource = 'signature' | 'content';

/** What the library script is, compared with the collector. */
export type ScriptIdentity =
  | { readonly verdict: 'ours'; readonly sha256: string; readonly source: HashSource }
  | { readonly verdict: 'foreign'; readonly sha256: string; readonly source: HashSource }
  | { readonly verdict: 'unverifiable'; readonly reason: string };

/** The script's SHA-256 from its source, or why it could not be read. */
export type ContentHash = { readonly sha256: string } | { readonly error: string };

/**
 * The identity of `script` against the collector's SHA-256. `content` is consulted only when the signature is
 * not comparable (pass `undefined` when it was not fetched).
 */
export function identityOf(
  script: Pick<S1Script, 'signature' | 'signatureType'>,
  expectedSha256: string,
  content?: ContentHash,
): ScriptIdentity {
  const fromSignature = signatureSha256(script.signature, script.signatureType);
  if (fromSignature !== undefined) {
    return {
      verdict: fromSignature === expectedSha256 ? 'ours' : 'foreign',
      sha256: fromSignature,
      source: 'signature',
    };
  }
  if (content && 'sha256' in content) {
    return {
      verdict: content.sha256 === expectedSha256 ? 'ours' : 'foreign',
      sha256: content.sha256,
      source: 'content',
    };
  }
  return {
    verdict: 'unverifiable',
    reason: `S1 reports no comparable SHA-256 signature and its content could not be read${
      content && 'error' in content ? ` (${content.error})` : ''
    }`,
  };
}

/** Whether the signature alone settles the identity (no content call needed). */
export function needsContent(script: Pick<S1Script, 'signature' | 'signatureType'>): boolean {
  return signatureSha256(script.signature, script.signatureType) === undefined;
}

/** Reads a script's source and hashes it; never throws (an error becomes the reason). */
export async function contentHash(
  read: (scriptId: string) => Promise<string>,
  scriptId: string,
): Promise<ContentHash> {
  try {
    return { sha256: sha256Hex(Buffer.from(await read(scriptId), 'utf8')) };
  } catch (error) {
    const e = error as { name?: string; status?: number };
    return { error: `${e?.name ?? 'Error'}${e?.status ? ` ${e.status}` : ''}` };
  }
}

/** `<libraryName> copy <yyyymmddThhmmssZ>`: the name of a copy uploaded beside a same-name script we cannot trust. */
export function freshLibraryName(libraryName: string, at: number): string {
  const stamp = new Date(at)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `${libraryName} copy ${stamp}`;
}

const COPY_SUFFIX = /^ copy \d{8}T\d{6}Z$/;

/** Whether `scriptName` is `libraryName` itself or one of its fresh copies ({@link freshLibraryName}). */
export function isLibraryNameOf(scriptName: string | null | undefined, libraryName: string): boolean {
  if (!scriptName) return false;
  if (scriptName === libraryName) return true;
  return scriptName.startsWith(libraryName) && COPY_SUFFIX.test(scriptName.slice(libraryName.length));
}

/**
 * Whether a library script is a candidate for `target`: the collector's name (or a fresh copy of it), the right
 * OS, visible in the target's scope. Whether it is really ours is {@link identityOf}'s question.
 */
export function scriptCovers(
  script: S1Script,
  collector: Pick<CollectorScript, 'libraryName' | 'osType'>,
  target: Pick<Target, 'siteId' | 'accountId'>,
): boolean {
  if (!isLibraryNameOf(script.scriptName, collector.libraryName)) return false;
  if (!(script.osTypes ?? []).includes(collector.osType)) return false;
  const level = script.scopeLevel?.toLowerCase();
  if (level === 'site') return script.scopeId === target.siteId;
  if (level === 'account') return script.scopeId === target.accountId;
  return true; // global / tenant, or a console that does not say
}

/** A same-name script that is not our collector, as the outcome and the audit report it. */
export interface LookAlike {
  readonly scriptId: string;
  readonly scriptName: string;
  /** `signature` as S1 reported it. */
  readonly s1Signature: string | null;
  /** Its SHA-256 (from the signature or its content), or null when neither was available. */
  readonly sha256: string | null;
  /** The collector's SHA-256. */
  readonly expectedSha256: string;
  readonly verdict: 'mismatch' | 'unverifiable';
  readonly source: HashSource | null;
}

/** The report form of a script that is not ours. */
export function lookAlike(script: S1Script, expectedSha256: string, identity: ScriptIdentity): LookAlike {
  return {
    scriptId: script.id,
    scriptName: script.scriptName ?? '',
    s1Signature: script.signature ?? null,
    sha256: identity.verdict === 'unverifiable' ? null : identity.sha256,
    expectedSha256,
    verdict: identity.verdict === 'unverifiable' ? 'unverifiable' : 'mismatch',
    source: identity.verdict === 'unverifiable' ? null : identity.source,
  };
}
