/**
 * Signed custody (DESIGN §9 "Immutable evidence"): each final manifest is signed with the stack's KMS key
 * (`ECC_NIST_P256`, `SIGN_VERIFY`), and the signature is kept beside it as `manifest.signature.json`.
 *
 * What is signed is a short statement, not the manifest itself: canonical JSON (RFC 8785, JCS) naming the manifest
 * (key, S3 version, SHA-256 of the manifest's canonical JSON) and the evidence object (key, version, bytes,
 * SHA-256). KMS signs it as a `RAW` message with `ECDSA_SHA_256`, so KMS hashes it itself. Two reasons for the
 * statement: a manifest grows past the 4096 bytes KMS accepts as a `RAW` message, and a signature over a `RAW`
 * message verifies with nothing but the public key and any ECDSA tool (`openssl dgst -sha256 -verify`), where a
 * `DIGEST` signature needs a tool that takes a precomputed hash. The manifest's SHA-256 is in the signed bytes,
 * so changing any field of the manifest breaks the chain as surely as signing the manifest would.
 *
 * The statement is stored as the exact string that was signed: a verifier hashes those bytes, never a re-encoding.
 */
import { createHash, createPublicKey, verify as verifySignature } from 'node:crypto';
import { type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import { canonicalize } from 'json-canonicalize';
import * as z from 'zod';
import { signatureKey } from './keys';
import { putJson } from './manifest';

export const SIGNATURE_SCHEMA = 's1cado/manifest-signature@1';
export const STATEMENT_SCHEMA = 's1cado/signed-manifest@1';
/** The one algorithm an `ECC_NIST_P256` key signs with. */
export const SIGNING_ALGORITHM = 'ECDSA_SHA_256';
export const CANONICALIZATION = 'RFC 8785 (JCS)';

/** The canonical JSON of a value (RFC 8785): sorted keys, no whitespace, one number format. */
export function canonicalJson(value: unknown): string {
  return canonicalize(value);
}

/** The SHA-256 (hex) of a manifest's canonical JSON: what the statement names. */
export function manifestDigest(manifest: unknown): string {
  return createHash('sha256').update(canonicalJson(manifest), 'utf8').digest('hex');
}

/** What the signature covers. */
export const SignedStatement = z.object({
  schema: z.literal(STATEMENT_SCHEMA),
  investigationId: z.string(),
  agentId: z.string(),
  manifest: z.object({
    bucket: z.string(),
    key: z.string(),
    versionId: z.string().nullable(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    canonicalization: z.literal(CANONICALIZATION),
  }),
  evidence: z.object({
    key: z.string(),
    versionId: z.string().nullable(),
    bytes: z.number().int().nonnegative(),
    sha256: z.string(),
  }),
  signedAt: z.string(),
  signedBy: z.string(),
});
export type SignedStatement = z.infer<typeof SignedStatement>;

/** `manifest.signature.json`. */
export const ManifestSignature = z.object({
  schema: z.literal(SIGNATURE_SCHEMA),
  /** The exact bytes signed (UTF-8), the canonical JSON of a {@link SignedStatement}. */
  statement: z.string(),
  /** Base64 of the DER-encoded ECDSA signature KMS returned. */
  signature: z.string(),
  keyArn: z.string(),
  signingAlgorithm: z.literal(SIGNING_ALGORITHM),
  messageType: z.literal('RAW'),
  /** How to check it by hand. */
  verifyWith: z.string(),
});
export type ManifestSignature = z.infer<typeof ManifestSignature>;

/** Signs statement bytes; KMS in the product. */
export interface ManifestSigner {
  readonly keyArn: string;
  sign(message: Buffer): Promise<Buffer>;
}

/** A signer over KMS `Sign` (`RAW`, `ECDSA_SHA_256`). */
export function kmsSigner(kms: KMSClient, keyArn: string): ManifestSigner {
  return {
    keyArn,
    async sign(message) {
      const out = await kms.send(
        new SignCommand({
          KeyId: keyArn,
          Message: message,
          MessageType: 'RAW',
          SigningAlgorithm: SIGNING_ALGORITHM,
        }),
      );
      if (!out.Signature) throw new Error('KMS Sign returned no signature');
      return Buffer.from(out.Signature);
    },
  };
}

/** What {@link signManifest} needs to know of the manifest just written. */
export interface SignRequest {
  readonly bucket: string;
  readonly manifestKey: string;
  readonly manifestVersionId: string | null;
  /** The manifest as written (its canonical JSON is hashed). */
  readonly manifest: {
    investigation: { investigationId: string };
    agent: { agentId: string };
    object: { key: string; versionId: string | null; bytes: number; sha256: string };
  };
  readonly at: string;
  readonly by: string;
}

/** Signs the manifest version just written and stores `manifest.signature.json` beside it; returns its key. */
export async function signManifest(
  s3: S3Client,
  signer: ManifestSigner,
  request: SignRequest,
): Promise<{ key: string; versionId: string | null }> {
  const { manifest } = request;
  const statement: SignedStatement = {
    schema: STATEMENT_SCHEMA,
    investigationId: manifest.investigation.investigationId,
    agentId: manifest.agent.agentId,
    manifest: {
      bucket: request.bucket,
      key: request.manifestKey,
      versionId: request.manifestVersionId,
      sha256: manifestDigest(manifest),
      canonicalization: CANONICALIZATION,
    },
    evidence: {
      key: manifest.object.key,
      versionId: manifest.object.versionId,
      bytes: manifest.object.bytes,
      sha256: manifest.object.sha256,
    },
    signedAt: request.at,
    signedBy: request.by,
  };
  const text = canonicalJson(statement);
  const signature = await signer.sign(Buffer.from(text, 'utf8'));
  const document: ManifestSignature = {
    schema: SIGNATURE_SCHEMA,
    statement: text,
    signature: signature.toString('base64'),
    keyArn: signer.keyArn,
    signingAlgorithm: SIGNING_ALGORITHM,
    messageType: 'RAW',
    verifyWith:
      'openssl dgst -sha256 -verify <public key PEM (kms get-public-key)> -signature <signature, base64-decoded> <statement, as bytes>',
  };
  const key = signatureKey(request.manifestKey);
  const { versionId } = await putJson(s3, request.bucket, key, document);
  return { key, versionId };
}

/** Whether `signature` (base64 DER) is the key's ECDSA P-256 / SHA-256 signature of `statement`'s bytes. */
export function signatureValid(
  statement: string,
  signatureBase64: string,
  publicKeyDer: Uint8Array,
): boolean {
  const key = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
  return verifySignature(
    'sha256',
    Buffer.from(statement, 'utf8'),
    key,
    Buffer.from(signatureBase64, 'base64'),
  );
}
