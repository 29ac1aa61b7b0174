/**
 * `s1cado verify <investigationId>`: checks the chain of custody of every collection of an investigation, from the
 * bucket itself, and prints a verdict table. Per agent, five links:
 *
 * - signature: `manifest.signature.json` is a valid ECDSA P-256 signature, by the deployment's custody key (its
 *   public key from KMS), of a statement naming this investigation, agent and manifest;
 * - manifest: the manifest version the statement names has the SHA-256 it states (canonical JSON), is still the
 *   current version, and agrees with the statement on the evidence object;
 * - object: the evidence object version exists and is under Object Lock (retention in force, or a legal hold);
 * - sha256: the stored bytes of that version hash to the signed SHA-256 and size;
 * - listing: every file in the zip matches the collector's `SHA256SUMS` ("not available" for a zip without one,
 *   which is not a failure: it is not our collector's output).
 *
 * Exit 0 only when every link of every collection holds.
 */
import { GetPublicKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { AgentOutcome } from '../../lambdas/shared/evidence/case-record';
import { signatureKey } from '../../lambdas/shared/evidence/keys';
import {
  ManifestSignature,
  manifestDigest,
  SignedStatement,
  signatureValid,
} from '../../lambdas/shared/evidence/signature';
import { verifyStoredZip } from '../../lambdas/shared/evidence/verify-zip';
import { COMMON_OPTIONS, parseCommand, stringFlag } from './args';
import { createAwsClients } from './aws-clients';
import { readCase } from './case-file';
import { Deployment, deploymentOptions } from './deployment';
import { EXIT_FAILURE, EXIT_OK, InvestigationNotFoundError } from './errors';
import { type CliIo, Output } from './io';
import { investigationIdArg } from './status';

/** `s1cado verify --help`. */
export const VERIFY_HELP = `Usage: s1cado verify <investigationId> [options]

Checks the chain of custody of each collection of an investigation, reading the evidence bucket itself:
  signature  manifest.signature.json is the deployment's custody key's signature of this manifest
  manifest   the signed manifest version is intact (SHA-256 of its canonical JSON) and still the current one
  object     the evidence object version exists and is under Object Lock
  sha256     the stored bytes hash to the signed SHA-256 and size
  listing    every file in the zip matches the collector's SHA256SUMS (n/a for a zip without one)
and prints a verdict per collection.

Options
  --json                   the checks as one JSON document on stdout
  --stack <name>           CloudFormation stack to read the locations from (default S1CadoForensics, or $S1CADO_STACK)
  --region <region>        AWS region (default: the SDK's, e.g. $AWS_REGION)
  --bucket <name>          the evidence bucket (or $S1CADO_BUCKET; default: stack output)
  --signing-key-arn <arn>  the custody signing key (or $S1CADO_SIGNING_KEY_ARN; default: stack output)

AWS permissions: s3:GetObject, s3:GetObjectVersion and s3:ListBucket on investigations/ (and kms:Decrypt on the bucket
key), kms:GetPublicKey on the signing key.

Exit codes: 0 every link of every collection holds, 1 a link failed (or nothing to verify), 2 usage error.`;

/** The result of one link. */
export interface LinkCheck {
  readonly status: 'verified' | 'mismatch' | 'not_available';
  readonly detail: string;
}

/** The five links, in order. */
export const LINKS = ['signature', 'manifest', 'object', 'sha256', 'listing'] as const;
export type LinkName = (typeof LINKS)[number];

/** What `verify` found for one collection. */
export interface CollectionVerdict {
  readonly agentId: string;
  readonly evidenceKey: string;
  readonly checks: Record<LinkName, LinkCheck>;
  /** Every link verified (the listing may be not available). */
  readonly verified: boolean;
}

const ok = (detail: string): LinkCheck => ({ status: 'verified', detail });
const bad = (detail: string): LinkCheck => ({ status: 'mismatch', detail });
const na = (detail: string): LinkCheck => ({ status: 'not_available', detail });

/** A check that could not run because an earlier link failed. */
const SKIPPED = na('not checked: an earlier link failed');

async function readText(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId?: string | null,
): Promise<{ text: string; versionId: string | null } | undefined> {
  try {
    const out = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
    );
    return { text: (await out.Body?.transformToString('utf8')) ?? '', versionId: out.VersionId ?? null };
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion') return undefined;
    throw error;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** What verifying needs. */
export interface VerifyDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  /** The deployment's custody key; a signature by any other key fails. */
  readonly signingKeyArn: string;
  /** The key's public key (DER SubjectPublicKeyInfo). */
  readonly publicKey: () => Promise<Uint8Array>;
  readonly now: () => number;
}

/** Verifies one collection's chain of custody. */
export async function verifyCollection(
  investigationId: string,
  agent: AgentOutcome,
  deps: VerifyDeps,
): Promise<CollectionVerdict> {
  const evidence = agent.evidence;
  if (!evidence) throw new Error(`agent ${agent.agentId} has no evidence`);
  const checks: Record<LinkName, LinkCheck> = {
    signature: SKIPPED,
    manifest: SKIPPED,
    object: SKIPPED,
    sha256: SKIPPED,
    listing: SKIPPED,
  };
  const verdict = (): CollectionVerdict => ({
    agentId: agent.agentId,
    evidenceKey: evidence.key,
    checks,
    verified: LINKS.every(
      (link) =>
        checks[link].status === 'verified' ||
        (link === 'listing' && checks[link] !== SKIPPED && checks[link].status === 'not_available'),
    ),
  });

  // signature
  const sigKey = signatureKey(evidence.manifestKey);
  const sigText = await readText(deps.s3, deps.bucket, sigKey);
  const doc = sigText ? ManifestSignature.safeParse(parseJson(sigText.text)) : undefined;
  if (!sigText) {
    checks.signature = bad(`no ${sigKey} (the case says: ${evidence.signature?.status ?? 'not recorded'})`);
    return verdict();
  }
  if (!doc?.success) {
    checks.signature = bad(`${sigKey} is not a manifest signature document`);
    return verdict();
  }
  const statement = SignedStatement.safeParse(parseJson(doc.data.statement));
  if (doc.data.keyArn !== deps.signingKeyArn) {
    checks.signature = bad(`signed by ${doc.data.keyArn}, not by the deployment's key ${deps.signingKeyArn}`);
    return verdict();
  }
  if (!signatureValid(doc.data.statement, doc.data.signature, await deps.publicKey())) {
    checks.signature = bad(
      'the signature does not verify with the custody key: the statement or the signature was altered',
    );
    return verdict();
  }
  if (!statement.success) {
    checks.signature = bad('the signed statement does not have the expected shape');
    return verdict();
  }
  const signed = statement.data;
  if (
    signed.investigationId !== investigationId ||
    signed.agentId !== agent.agentId ||
    signed.manifest.key !== evidence.manifestKey ||
    signed.manifest.bucket !== deps.bucket
  ) {
    checks.signature = bad(
      `the signature is for ${signed.investigationId} / ${signed.agentId} (${signed.manifest.key}), not this collection`,
    );
    return verdict();
  }
  checks.signature = ok(`ECDSA P-256 by the custody key, signed ${signed.signedAt}`);

  // manifest
  const current = await readText(deps.s3, deps.bucket, evidence.manifestKey);
  const atSigned = signed.manifest.versionId
    ? await readText(deps.s3, deps.bucket, evidence.manifestKey, signed.manifest.versionId)
    : current;
  if (!atSigned) {
    checks.manifest = bad(`the signed manifest version ${signed.manifest.versionId ?? '(current)'} is gone`);
    return verdict();
  }
  const manifestValue = parseJson(atSigned.text);
  const digest = manifestValue === undefined ? undefined : manifestDigest(manifestValue);
  if (digest !== signed.manifest.sha256) {
    checks.manifest = bad(
      `the manifest's SHA-256 is ${digest ?? '(not JSON)'}, the signature says ${signed.manifest.sha256}`,
    );
    return verdict();
  }
  if (signed.manifest.versionId && current?.versionId !== signed.manifest.versionId) {
    checks.manifest = bad(
      `the current manifest version ${current?.versionId ?? '(none)'} is not the signed version ${signed.manifest.versionId}`,
    );
    return verdict();
  }
  const object = (manifestValue as { object?: { key?: unknown; sha256?: unknown } }).object;
  if (
    object?.key !== signed.evidence.key ||
    object?.sha256 !== signed.evidence.sha256 ||
    signed.evidence.key !== evidence.key
  ) {
    checks.manifest = bad('the manifest, its signature and the case file disagree on the evidence object');
    return verdict();
  }
  checks.manifest = ok(
    `SHA-256 ${digest.slice(0, 16)}… as signed${signed.manifest.versionId ? `, version ${signed.manifest.versionId}` : ''}`,
  );

  // object
  const version = { bucket: deps.bucket, key: signed.evidence.key, versionId: signed.evidence.versionId };
  let head: HeadObjectCommandOutput;
  try {
    head = await deps.s3.send(
      new HeadObjectCommand({
        Bucket: version.bucket,
        Key: version.key,
        ...(version.versionId ? { VersionId: version.versionId } : {}),
      }),
    );
  } catch (error) {
    checks.object = bad(`the evidence object version is not there (${(error as Error).name})`);
    return verdict();
  }
  const retainedUntil = head.ObjectLockRetainUntilDate?.getTime();
  const held = head.ObjectLockLegalHoldStatus === 'ON';
  const retained =
    head.ObjectLockMode !== undefined && retainedUntil !== undefined && retainedUntil > deps.now();
  if (!held && !retained) {
    checks.object = bad(
      head.ObjectLockMode
        ? `the Object Lock retention ended ${head.ObjectLockRetainUntilDate?.toISOString()} and no legal hold is placed`
        : 'the object is not under Object Lock (no retention, no legal hold)',
    );
    return verdict();
  }
  checks.object = ok(
    [
      retained
        ? `${head.ObjectLockMode} until ${head.ObjectLockRetainUntilDate?.toISOString().slice(0, 10)}`
        : '',
      held ? 'legal hold' : '',
    ]
      .filter(Boolean)
      .join(', '),
  );

  // sha256
  // One sequential pass: the read-back and the listing together.
  const { readBack: back, listing } = await verifyStoredZip(deps.s3, version, {
    sha256: signed.evidence.sha256,
    bytes: signed.evidence.bytes,
  });
  checks.sha256 =
    back.status === 'verified'
      ? ok(`${back.sha256.slice(0, 16)}…, ${back.bytes} bytes`)
      : bad(
          `the stored bytes hash to ${back.sha256} (${back.bytes} bytes), the signature says ${signed.evidence.sha256} (${signed.evidence.bytes} bytes)`,
        );
  if (back.status !== 'verified') return verdict();

  // listing
  checks.listing =
    listing.status === 'verified'
      ? ok(`${listing.verified} of ${listing.filesListed} files as listed`)
      : listing.status === 'mismatch'
        ? bad(
            `${listing.mismatched} changed, ${listing.missing} missing, ${listing.extra} not listed${listing.problems.length ? `: ${listing.problems.slice(0, 3).join(', ')}` : ''}`,
          )
        : na(listing.reason ?? 'no listing');
  return verdict();
}

/** Runs `s1cado verify`; returns the exit code. */
export async function verifyCommand(args: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io);
  const { flags, positionals } = parseCommand(
    'verify',
    args,
    { ...COMMON_OPTIONS, ...deploymentOptions('bucket', 'signingKeyArn') },
    { min: 1, max: 1, names: 'the investigation id (e.g. threat-<id>)' },
  );
  if (flags.help) {
    out.out(VERIFY_HELP);
    return EXIT_OK;
  }
  const investigationId = investigationIdArg(positionals[0], 'verify');
  const clients = createAwsClients(io.env, stringFlag(flags, 'region'));
  try {
    const deployment = new Deployment({ stackName: stringFlag(flags, 'stack'), flags, env: io.env, clients });
    const bucket = await deployment.get('bucket');
    const signingKeyArn = await deployment.get('signingKeyArn');
    const record = await readCase(clients.s3, bucket, investigationId);
    if (!record) {
      throw new InvestigationNotFoundError(
        `No case.json for ${investigationId} in s3://${bucket}: nothing to verify yet`,
      );
    }
    let publicKey: Promise<Uint8Array> | undefined;
    const deps: VerifyDeps = {
      s3: clients.s3,
      bucket,
      signingKeyArn,
      publicKey: () => {
        publicKey ??= fetchPublicKey(clients.kms, signingKeyArn);
        return publicKey;
      },
      now: Date.now,
    };
    const verdicts: CollectionVerdict[] = [];
    for (const agent of record.agents.filter((a) => a.evidence)) {
      verdicts.push(await verifyCollection(investigationId, agent, deps));
    }
    const verified = verdicts.length > 0 && verdicts.every((v) => v.verified);
    if (flags.json === true) {
      out.json({ investigationId, verified, collections: verdicts });
      return verified ? EXIT_OK : EXIT_FAILURE;
    }
    for (const line of verdictTable(investigationId, verdicts)) out.out(line);
    if (verdicts.length === 0)
      out.out('No collection of this investigation was staged: there is nothing to verify.');
    return verified ? EXIT_OK : EXIT_FAILURE;
  } finally {
    clients.destroy();
  }
}

async function fetchPublicKey(kms: KMSClient, keyArn: string): Promise<Uint8Array> {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyArn }));
  if (!out.PublicKey) throw new Error(`KMS returned no public key for ${keyArn}`);
  return out.PublicKey;
}

const MARK: Record<LinkCheck['status'], string> = { verified: 'ok', mismatch: 'FAIL', not_available: 'n/a' };

/** The verdict table, then one line per link that did not verify. */
export function verdictTable(investigationId: string, verdicts: readonly CollectionVerdict[]): string[] {
  const header = ['AGENT', ...LINKS.map((l) => l.toUpperCase()), 'VERDICT'];
  const rows = verdicts.map((v) => [
    v.agentId,
    ...LINKS.map((l) => (v.checks[l] === SKIPPED ? '-' : MARK[v.checks[l].status])),
    v.verified ? 'VERIFIED' : 'FAILED',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const all = verdicts.length > 0 && verdicts.every((v) => v.verified);
  const lines = [
    `Chain of custody of ${investigationId}: ${all ? 'VERIFIED' : 'NOT VERIFIED'} (${verdicts.filter((v) => v.verified).length} of ${verdicts.length} collections)`,
    '',
    line(header),
    ...rows.map(line),
  ];
  const notes = verdicts.flatMap((v) =>
    LINKS.filter((l) => v.checks[l].status !== 'verified' && v.checks[l] !== SKIPPED).map(
      (l) => `  ${v.agentId} ${l}: ${v.checks[l].detail}`,
    ),
  );
  if (notes.length) lines.push('', ...notes);
  return lines;
}
