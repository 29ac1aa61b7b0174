/**
 * Signed custody and `s1cado verify`, on the local stack: Record Outcome signs each final manifest with the stack's
 * KMS key (the AWS fake signs with a real P-256 key), and `verify` checks every link from the bucket itself, passing
 * on an untouched case and failing, naming the link, when a manifest, a signature, the evidence bytes or the lock
 * are not what was signed.
 */
import { createPublicKey, verify as ecdsaVerify } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyCollection } from '../../bin/cli/verify';
import type { AgentOutcome } from '../../lambdas/shared/evidence/case-record';
import { signatureKey } from '../../lambdas/shared/evidence/keys';
import {
  canonicalJson,
  ManifestSignature,
  manifestDigest,
  SignedStatement,
} from '../../lambdas/shared/evidence/signature';
import {
  type E2eStack,
  type InvestigationRun,
  investigate,
  nextThreatId,
  readJson,
  readObject,
  runCli,
  startE2eStack,
} from './helpers';

let stack: E2eStack;
let kms: KMSClient;
const printed: string[] = [];

beforeAll(async () => {
  stack = await startE2eStack();
  kms = new KMSClient({
    endpoint: stack.aws.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
});

afterAll(async () => {
  kms?.destroy();
  await stack?.close();
  // Whatever verify printed, the tokens never appear in it.
  const all = printed.join('');
  expect(all).not.toContain(stack.secrets.s1Token);
  expect(all).not.toContain(stack.secrets.cadoKey);
});

beforeEach(() => stack.reset());

async function cli(argv: string[]) {
  const result = await runCli(stack, argv);
  printed.push(result.stdout, result.stderr);
  return result;
}

/** A complete two-agent investigation (Windows and Linux), results shaped like the collector's (with SHA256SUMS). */
async function completeCase(): Promise<InvestigationRun> {
  for (const agent of [stack.tenant.agents.windows, stack.tenant.agents.linux]) {
    stack.s1Sim.setAgentBehavior(agent.id, { result: { size: 50_000, collector: true } });
  }
  const run = await investigate(stack, {
    agentIds: [stack.tenant.agents.windows.id, stack.tenant.agents.linux.id],
    threatId: nextThreatId(),
    requestedBy: 'analyst@example.com',
    reason: 'custody test',
  });
  expect(run.caseRecord.status).toBe('complete');
  return run;
}

function staged(run: InvestigationRun): AgentOutcome[] {
  return run.caseRecord.agents.filter((a) => a.evidence);
}

async function put(key: string, body: string | Buffer) {
  await stack.s3.client.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body }));
}

describe('signed custody', () => {
  it("signs each final manifest with the stack's key: a statement naming the manifest's and the evidence's SHA-256", async () => {
    const run = await completeCase();
    const agents = staged(run);
    expect(agents).toHaveLength(2);
    const publicKey = await kms.send(new GetPublicKeyCommand({ KeyId: stack.outputs.ManifestSigningKeyArn }));
    for (const agent of agents) {
      const evidence = agent.evidence as NonNullable<AgentOutcome['evidence']>;
      expect(evidence.signature).toEqual({ status: 'signed', key: signatureKey(evidence.manifestKey) });
      const doc = ManifestSignature.parse(await readJson(stack, signatureKey(evidence.manifestKey)));
      expect(doc).toMatchObject({
        keyArn: stack.outputs.ManifestSigningKeyArn,
        signingAlgorithm: 'ECDSA_SHA_256',
        messageType: 'RAW',
      });
      // The statement is stored as the exact canonical bytes signed.
      const statement = SignedStatement.parse(JSON.parse(doc.statement));
      expect(canonicalJson(statement)).toBe(doc.statement);
      const manifest = await readJson(stack, evidence.manifestKey);
      expect(statement).toMatchObject({
        investigationId: run.investigationId,
        agentId: agent.agentId,
        manifest: { key: evidence.manifestKey, sha256: manifestDigest(manifest) },
        evidence: { key: evidence.key, sha256: evidence.sha256, bytes: evidence.bytes },
        signedBy: 'record-outcome',
      });
      // Anyone with the public key can check it, with nothing but an ECDSA verifier (openssl does the same).
      const key = createPublicKey({
        key: Buffer.from(publicKey.PublicKey as Uint8Array),
        format: 'der',
        type: 'spki',
      });
      expect(
        ecdsaVerify('sha256', Buffer.from(doc.statement), key, Buffer.from(doc.signature, 'base64')),
      ).toBe(true);
    }
  });

  it('s1cado verify passes on an untouched case, with a verdict per collection', async () => {
    const run = await completeCase();
    const { code, stdout } = await cli(['verify', run.investigationId]);
    expect(code).toBe(0);
    expect(stdout).toContain(`Chain of custody of ${run.investigationId}: VERIFIED (2 of 2 collections)`);
    for (const agent of staged(run)) {
      expect(stdout).toMatch(new RegExp(`${agent.agentId}\\s+ok\\s+ok\\s+ok\\s+ok\\s+ok\\s+VERIFIED`));
    }

    const json = await cli(['verify', run.investigationId, '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { verified: boolean; collections: { checks: object }[] };
    expect(parsed.verified).toBe(true);
    expect(parsed.collections[0]?.checks).toMatchObject({
      object: { status: 'verified', detail: expect.stringMatching(/^GOVERNANCE until \d{4}-\d{2}-\d{2}$/) },
      listing: { status: 'verified' },
    });
  });
});

describe('s1cado verify fails, naming the link', () => {
  it('a manifest changed after signing', async () => {
    const run = await completeCase();
    const [first, second] = staged(run);
    const key = first?.evidence?.manifestKey as string;
    const manifest = await readJson<Record<string, unknown>>(stack, key);
    await put(key, JSON.stringify({ ...manifest, writtenBy: 'someone-else' }, null, 2));

    const { code, stdout } = await cli(['verify', run.investigationId]);
    expect(code).toBe(1);
    expect(stdout).toContain('NOT VERIFIED (1 of 2 collections)');
    expect(stdout).toMatch(new RegExp(`${first?.agentId}\\s+ok\\s+FAIL\\s+-\\s+-\\s+-\\s+FAILED`));
    expect(stdout).toMatch(new RegExp(`${second?.agentId}\\s+ok\\s+ok\\s+ok\\s+ok\\s+ok\\s+VERIFIED`));
    expect(stdout).toContain(`${first?.agentId} manifest: the manifest's SHA-256 is`);
  });

  it('a signed statement altered (the evidence hash swapped), or re-signed with another key', async () => {
    const run = await completeCase();
    const [first, second] = staged(run);
    const firstKey = signatureKey(first?.evidence?.manifestKey as string);
    const doc = ManifestSignature.parse(await readJson(stack, firstKey));
    const statement = SignedStatement.parse(JSON.parse(doc.statement));
    const altered = canonicalJson({
      ...statement,
      evidence: { ...statement.evidence, sha256: '0'.repeat(64) },
    });
    await put(firstKey, JSON.stringify({ ...doc, statement: altered }));

    // The second one is signed properly, but by a key that is not the deployment's.
    const secondKey = signatureKey(second?.evidence?.manifestKey as string);
    const secondDoc = ManifestSignature.parse(await readJson(stack, secondKey));
    const otherKey = stack.aws.kms.createSigningKey('not the custody key');
    const forged = await kms.send(
      new SignCommand({
        KeyId: otherKey,
        Message: Buffer.from(secondDoc.statement),
        MessageType: 'RAW',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    await put(
      secondKey,
      JSON.stringify({
        ...secondDoc,
        keyArn: otherKey,
        signature: Buffer.from(forged.Signature as Uint8Array).toString('base64'),
      }),
    );

    const { code, stdout } = await cli(['verify', run.investigationId]);
    expect(code).toBe(1);
    expect(stdout).toContain('NOT VERIFIED (0 of 2 collections)');
    expect(stdout).toContain(
      `${first?.agentId} signature: the signature does not verify with the custody key`,
    );
    expect(stdout).toContain(
      `${second?.agentId} signature: signed by ${otherKey}, not by the deployment's key`,
    );
  });

  it('a signature file removed', async () => {
    const run = await completeCase();
    const [first] = staged(run);
    // s3rver keeps no versions: an empty object stands in for what a deleted signature leaves to read.
    await put(signatureKey(first?.evidence?.manifestKey as string), '');
    const { code, stdout } = await cli(['verify', run.investigationId]);
    expect(code).toBe(1);
    expect(stdout).toContain(`${first?.agentId} signature:`);
    expect(stdout).toContain('is not a manifest signature document');
  });

  it('evidence bytes replaced after signing (same length)', async () => {
    const run = await completeCase();
    const [first] = staged(run);
    const key = first?.evidence?.key as string;
    const bytes = await readObject(stack, key);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length >> 1] = (flipped[flipped.length >> 1] ?? 0) ^ 0xff;
    await put(key, flipped);

    const { code, stdout } = await cli(['verify', run.investigationId]);
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`${first?.agentId}\\s+ok\\s+ok\\s+ok\\s+FAIL\\s+-\\s+FAILED`));
    expect(stdout).toContain(`${first?.agentId} sha256: the stored bytes hash to`);
  });

  it('an object whose Object Lock retention has ended', async () => {
    const run = await completeCase();
    const [first] = staged(run);
    const publicKey = await kms.send(new GetPublicKeyCommand({ KeyId: stack.outputs.ManifestSigningKeyArn }));
    const verdict = await verifyCollection(run.investigationId, first as AgentOutcome, {
      s3: stack.s3.client,
      bucket: stack.bucket,
      signingKeyArn: stack.outputs.ManifestSigningKeyArn as string,
      publicKey: async () => publicKey.PublicKey as Uint8Array,
      // A day after the default retention (90 days) ended.
      now: () => Date.now() + 91 * 86_400_000,
    });
    expect(verdict.verified).toBe(false);
    expect(verdict.checks.object).toEqual({
      status: 'mismatch',
      detail: expect.stringMatching(/^the Object Lock retention ended \S+ and no legal hold is placed$/),
    });
  });

  it('nothing to verify: an unknown investigation, or one with no staged evidence', async () => {
    const unknown = await cli(['verify', 'threat-1999999999999999999']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No case.json for threat-1999999999999999999');

    const none = await investigate(stack, { agentIds: ['1999999999999999998'], threatId: nextThreatId() });
    const { code, stdout } = await cli(['verify', none.investigationId]);
    expect(code).toBe(1);
    expect(stdout).toContain('there is nothing to verify');
  });
});
