/**
 * The chain of custody, link by link (DESIGN §9): the collector's `SHA256SUMS` → our in-stream SHA-256 while
 * staging → S1's result signature → a read-back of the stored object version → Cado's evidence hash. Each link is
 * verified, mismatch or not available (no comparison was possible; never a failure by itself).
 */
import * as z from 'zod';

export const ChainStatus = z.enum(['verified', 'mismatch', 'not_available']);
export type ChainStatus = z.infer<typeof ChainStatus>;

/** The stored version read back once, start to end. */
export const ReadBackCheck = z.object({
  status: ChainStatus,
  sha256: z.string(),
  bytes: z.number().int().nonnegative(),
  versionId: z.string().nullable(),
});
export type ReadBackCheck = z.infer<typeof ReadBackCheck>;

/** Every zip entry against the collector's `SHA256SUMS`. */
export const ListingCheck = z.object({
  status: ChainStatus,
  /** Why no comparison was possible. */
  reason: z.string().optional(),
  /** S1 returned an encrypted archive: entries cannot be read, said so rather than guessed. */
  encrypted: z.boolean(),
  /** The listing's path inside the zip. */
  listingPath: z.string().optional(),
  filesListed: z.number().int().nonnegative(),
  verified: z.number().int().nonnegative(),
  mismatched: z.number().int().nonnegative(),
  missing: z.number().int().nonnegative(),
  extra: z.number().int().nonnegative(),
  /** The first problem entries by name (`mismatch: <path>`, `missing: <path>`, `extra: <path>`). */
  problems: z.array(z.string()),
});
export type ListingCheck = z.infer<typeof ListingCheck>;

/** What Verify Evidence found; written once as `verification.json` beside the manifest. */
export const Verification = z.object({
  schema: z.literal('s1cado/verification@1'),
  object: z.object({ bucket: z.string(), key: z.string(), versionId: z.string().nullable() }),
  stagedSha256: z.string(),
  readBack: ReadBackCheck,
  listing: ListingCheck,
  verifiedAt: z.string(),
});
export type Verification = z.infer<typeof Verification>;

export const ChainLinkName = z.enum(['collector-listing', 'staging', 's1-signature', 'read-back', 'cado']);

/** One link of the chain as the manifest records it. */
export const ChainLink = z.object({ link: ChainLinkName, status: ChainStatus, detail: z.string() });
export type ChainLink = z.infer<typeof ChainLink>;

/** Stage Output's comparison with S1's result hash (the manifest's `integrity`). */
interface S1Integrity {
  readonly status: ChainStatus;
  readonly s1Sha256: string | null;
  readonly s1Source: string | null;
}

function s1Link(matches: boolean | null, integrity: S1Integrity | undefined): ChainLink {
  const status: ChainStatus =
    integrity?.status ?? (matches === null ? 'not_available' : matches ? 'verified' : 'mismatch');
  const what = integrity?.s1Sha256
    ? `S1's ${integrity.s1Source ?? 'hash'} ${integrity.s1Sha256}`
    : "S1's hash";
  const detail =
    status === 'not_available'
      ? 'S1 gave no comparable SHA-256'
      : `${what} ${status === 'verified' ? 'equals' : 'differs from'} the staged SHA-256`;
  return { link: 's1-signature', status, detail };
}

/** The chain from what is known: staging always happened; the rest as far as it went. */
export function chainOf(facts: {
  readonly sha256: string;
  readonly bytes: number;
  readonly s1SignatureMatches: boolean | null;
  /** Stage Output's comparison with S1's result hash, where the manifest records it (preferred). */
  readonly s1Integrity?: S1Integrity;
  readonly verification?: Verification;
  /** Check Cado's comparison of Cado's evidence hash with ours. */
  readonly cadoHash?: { readonly status: ChainStatus; readonly detail: string };
}): ChainLink[] {
  const v = facts.verification;
  const listing = v?.listing;
  return [
    {
      link: 'collector-listing',
      status: listing?.status ?? 'not_available',
      detail: listing
        ? listing.status === 'not_available'
          ? (listing.reason ?? 'no listing')
          : `${listing.filesListed} listed, ${listing.verified} verified, ${listing.mismatched} mismatched, ${listing.missing} missing, ${listing.extra} extra`
        : 'not verified',
    },
    { link: 'staging', status: 'verified', detail: `${facts.bytes} bytes, sha256 ${facts.sha256}` },
    s1Link(facts.s1SignatureMatches, facts.s1Integrity),
    {
      link: 'read-back',
      status: v?.readBack.status ?? 'not_available',
      detail: v
        ? `${v.readBack.bytes} bytes, sha256 ${v.readBack.sha256} (version ${v.readBack.versionId ?? 'unversioned'})`
        : 'not verified',
    },
    facts.cadoHash
      ? { link: 'cado', status: facts.cadoHash.status, detail: facts.cadoHash.detail }
      : {
          link: 'cado',
          status: 'not_available',
          detail: 'Cado did not process it, or was not asked for its hash',
        },
  ];
}

/** The lengths of the hex digests Cado might report, by algorithm. */
const HEX_DIGESTS: Readonly<Record<number, string>> = {
  32: 'MD5',
  40: 'SHA-1',
  64: 'SHA-256',
  128: 'SHA-512',
};

/**
 * Cado's evidence hash (`details.disk_hash`, algorithm unstated by the API) against our SHA-256: equal → verified;
 * another 64-hex-digit value → mismatch; absent, or a hash of another length (MD5, SHA-1...) → not available, said
 * so with what Cado reported. Never a failure by itself.
 */
export function compareCadoHash(
  ourSha256: string,
  cadoHash: string | undefined,
): { status: ChainStatus; detail: string } {
  if (cadoHash === undefined || cadoHash.trim() === '') {
    return { status: 'not_available', detail: "Cado's evidence record has no hash" };
  }
  const hex = cadoHash.trim().toLowerCase();
  const algorithm = /^[0-9a-f]+$/.test(hex) ? HEX_DIGESTS[hex.length] : undefined;
  if (algorithm !== 'SHA-256') {
    const what = algorithm ? `an ${algorithm}-sized hash` : 'a hash in a form this tool does not compare';
    return { status: 'not_available', detail: `Cado reports ${what} (${hex.slice(0, 16)}…), not a SHA-256` };
  }
  return hex === ourSha256.toLowerCase()
    ? { status: 'verified', detail: `Cado's evidence hash equals the staged SHA-256 ${ourSha256}` }
    : {
        status: 'mismatch',
        detail: `Cado's evidence hash ${hex} differs from the staged SHA-256 ${ourSha256}`,
      };
}

/**
 * The chain of an agent Cado collected itself (collection mode `cado-xdr`): Cado Host ran on the endpoint and uploaded
 * to Cado's own storage, so none of our links exist. Each says so and why, rather than being left out; the `cado`
 * link carries what Cado reported about its evidence (its hash, when it gave one), with nothing of ours to compare.
 */
export function xdrChain(cadoHash?: { readonly detail: string }): ChainLink[] {
  const notOurs = 'collection mode cado-xdr: Cado collected through its SentinelOne integration';
  return [
    { link: 'collector-listing', status: 'not_available', detail: `${notOurs}; our collector did not run` },
    { link: 'staging', status: 'not_available', detail: `${notOurs}; nothing was staged in our bucket` },
    {
      link: 's1-signature',
      status: 'not_available',
      detail: `${notOurs}; the S1 task was Cado's, its result never passed through this tool`,
    },
    {
      link: 'read-back',
      status: 'not_available',
      detail: `${notOurs}; there is no stored object of ours to read back`,
    },
    {
      link: 'cado',
      status: 'not_available',
      detail: cadoHash?.detail ?? `${notOurs}; Cado did not finish, or reported no evidence record`,
    },
  ];
}
