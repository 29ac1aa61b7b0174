/**
 * The hand-off's guard: Cado imports an object by key, so the key's current version must be the one that was
 * staged and verified. A newer version (or a store that answers with another write's ETag) means the key no longer
 * holds the evidence we vouch for, and nothing is handed on.
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { EvidenceIntegrityError } from '../errors';
import type { Evidence } from '../schemas';

/**
 * Throws {@link EvidenceIntegrityError} unless the current version of `evidence.key` is the recorded one: the same
 * version id where the bucket keeps versions, else (an unversioned store such as the local s3rver) the same ETag,
 * and in both cases the same size.
 */
export async function assertCurrentVersion(
  s3: S3Client,
  evidence: Pick<Evidence, 'bucket' | 'key' | 'versionId' | 'etag' | 'bytes'>,
): Promise<void> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: evidence.bucket, Key: evidence.key }));
  const where = `s3://${evidence.bucket}/${evidence.key}`;
  const current = head.VersionId ?? null;
  if (evidence.versionId !== null && current !== evidence.versionId) {
    throw new EvidenceIntegrityError(
      `The current version of ${where} is ${current ?? 'unversioned'}, not the verified ${evidence.versionId}; not handed off`,
      { details: { key: evidence.key, verifiedVersionId: evidence.versionId, currentVersionId: current } },
    );
  }
  if (evidence.versionId === null && evidence.etag && head.ETag !== evidence.etag) {
    throw new EvidenceIntegrityError(
      `${where} no longer holds the verified write (ETag differs); not handed off`,
      {
        details: { key: evidence.key },
      },
    );
  }
  if (head.ContentLength !== evidence.bytes) {
    throw new EvidenceIntegrityError(
      `${where} holds ${head.ContentLength} bytes, not the verified ${evidence.bytes}; not handed off`,
      { details: { key: evidence.key } },
    );
  }
}
