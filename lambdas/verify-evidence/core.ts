/**
 * Verify Evidence: reads the staged object version back from S3 (SHA-256 and size must equal what staging
 * computed) and checks every entry against the collector's `SHA256SUMS` in the same sequential pass, writes
 * the result once as `verification.json` beside the manifest, and fails the agent's integrity on any mismatch
 * (the object is kept, never handed to Cado). A zip without a listing is "not available", not a failure.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { EvidenceIntegrityError } from '../shared/errors';
import { Verification } from '../shared/evidence/chain';
import { verificationKey } from '../shared/evidence/keys';
import { getJson, putJson } from '../shared/evidence/manifest';
import { verifyStoredZip } from '../shared/evidence/verify-zip';
import { logger, metrics } from '../shared/observability';
import type { StagedEvidence } from '../shared/schemas';

/** Dependencies of {@link verifyEvidence}. */
export interface VerifyEvidenceDeps {
  readonly s3: S3Client;
  readonly nowIso: () => string;
}

/** Verifies one agent's staged evidence; returns the state unchanged but for `evidence.verificationKey`. */
export async function verifyEvidence(
  input: StagedEvidence,
  deps: VerifyEvidenceDeps,
): Promise<StagedEvidence> {
  const { evidence } = input;
  const key = verificationKey(evidence.manifestKey);
  // A retried invocation finds the record the first one wrote (written once) and judges by it.
  const previous = await getJson(deps.s3, evidence.bucket, key, Verification);
  const verification = previous ?? (await verify(input, deps));
  if (!previous) await putJson(deps.s3, evidence.bucket, key, verification, { createOnly: true });
  return judge(input, verification, key);
}

async function verify(input: StagedEvidence, deps: VerifyEvidenceDeps): Promise<Verification> {
  const { evidence } = input;
  const version = {
    bucket: evidence.bucket,
    key: evidence.key,
    versionId: evidence.versionId,
    etag: evidence.etag,
  };
  const { readBack: back, listing } = await verifyStoredZip(deps.s3, version, evidence);
  return {
    schema: 's1cado/verification@1',
    object: { bucket: evidence.bucket, key: evidence.key, versionId: evidence.versionId },
    stagedSha256: evidence.sha256,
    readBack: back,
    listing,
    verifiedAt: deps.nowIso(),
  };
}

/** Fails the agent's integrity on a mismatch; otherwise the state, with the record's key. */
function judge(input: StagedEvidence, verification: Verification, key: string): StagedEvidence {
  const { evidence } = input;
  const { readBack: back, listing } = verification;
  metrics.addMetric(
    'EvidenceVerified',
    'Count',
    back.status === 'verified' && listing.status !== 'mismatch' ? 1 : 0,
  );
  logger.info('Evidence verified', {
    key: evidence.key,
    readBack: back.status,
    listing: listing.status,
    encrypted: listing.encrypted,
    filesListed: listing.filesListed,
    verified: listing.verified,
    mismatched: listing.mismatched,
    missing: listing.missing,
    extra: listing.extra,
  });
  if (back.status === 'mismatch') {
    throw new EvidenceIntegrityError(
      `S3 holds ${back.bytes} bytes with sha256 ${back.sha256} at ${evidence.key}, not the staged ${evidence.bytes} bytes with sha256 ${evidence.sha256}; kept, not handed off`,
      { details: { key: evidence.key, verificationKey: key } },
    );
  }
  if (listing.status === 'mismatch') {
    throw new EvidenceIntegrityError(
      `The collection at ${evidence.key} does not match its SHA256SUMS (${listing.mismatched} mismatched, ${listing.missing} missing, ${listing.extra} extra: ${listing.problems.slice(0, 5).join('; ')}); kept, not handed off`,
      { details: { key: evidence.key, verificationKey: key } },
    );
  }
  return { ...input, evidence: { ...evidence, verificationKey: key } };
}
