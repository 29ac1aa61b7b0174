/**
 * The AWS fake's KMS, through the real SDK client: signing keys that behave like KMS's, including its refusals.
 */
import { createPublicKey, verify } from 'node:crypto';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';

let aws: AwsFake;
let kms: KMSClient;

beforeAll(async () => {
  aws = await startAwsFake();
  kms = new KMSClient({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  kms?.destroy();
  await aws?.close();
});

const sign = (KeyId: string, message: Buffer | string, extra: Record<string, unknown> = {}) =>
  kms.send(
    new SignCommand({
      KeyId,
      Message: Buffer.from(message),
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
      ...extra,
    }),
  );

describe('AWS fake: KMS signing keys', () => {
  it('signs RAW messages with ECDSA_SHA_256; the signature verifies with the public key, and with Verify', async () => {
    const created = await kms.send(
      new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
    );
    const arn = created.KeyMetadata?.Arn as string;
    expect(created.KeyMetadata).toMatchObject({
      KeySpec: 'ECC_NIST_P256',
      SigningAlgorithms: ['ECDSA_SHA_256'],
    });
    // By id or by ARN.
    expect(
      (await kms.send(new DescribeKeyCommand({ KeyId: created.KeyMetadata?.KeyId }))).KeyMetadata?.Arn,
    ).toBe(arn);

    const signed = await sign(arn, 'statement');
    expect(signed.KeyId).toBe(arn);
    const publicKey = await kms.send(new GetPublicKeyCommand({ KeyId: arn }));
    const key = createPublicKey({
      key: Buffer.from(publicKey.PublicKey as Uint8Array),
      format: 'der',
      type: 'spki',
    });
    expect(verify('sha256', Buffer.from('statement'), key, Buffer.from(signed.Signature as Uint8Array))).toBe(
      true,
    );
    expect(verify('sha256', Buffer.from('statemenT'), key, Buffer.from(signed.Signature as Uint8Array))).toBe(
      false,
    );

    const verified = await kms.send(
      new VerifyCommand({
        KeyId: arn,
        Message: Buffer.from('statement'),
        MessageType: 'RAW',
        Signature: signed.Signature,
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    expect(verified.SignatureValid).toBe(true);
    await expect(
      kms.send(
        new VerifyCommand({
          KeyId: arn,
          Message: Buffer.from('other'),
          MessageType: 'RAW',
          Signature: signed.Signature,
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      ),
    ).rejects.toMatchObject({ name: 'KMSInvalidSignatureException' });
  });

  it('refuses like KMS: unknown key, wrong usage or algorithm, oversized RAW message, disabled key', async () => {
    const arn = aws.kms.createSigningKey();
    await expect(sign(`${arn.slice(0, -4)}0000`, 'x')).rejects.toMatchObject({ name: 'NotFoundException' });
    const symmetric = await kms.send(new CreateKeyCommand({}));
    await expect(sign(symmetric.KeyMetadata?.Arn as string, 'x')).rejects.toMatchObject({
      name: 'InvalidKeyUsageException',
    });
    await expect(sign(arn, 'x', { SigningAlgorithm: 'RSASSA_PSS_SHA_256' })).rejects.toMatchObject({
      name: 'InvalidKeyUsageException',
    });
    await expect(sign(arn, Buffer.alloc(4097, 1))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(sign(arn, Buffer.alloc(4096, 1))).resolves.toMatchObject({ KeyId: arn });
    await expect(
      kms.send(new GetPublicKeyCommand({ KeyId: symmetric.KeyMetadata?.Arn })),
    ).rejects.toMatchObject({ name: 'UnsupportedOperationException' });
    aws.kms.setEnabled(arn, false);
    await expect(sign(arn, 'x')).rejects.toMatchObject({ name: 'DisabledException' });
  });
});
