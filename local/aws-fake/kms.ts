/**
 * AWS KMS, the part manifest signing uses: asymmetric `ECC_NIST_P256` / `SIGN_VERIFY` keys with CreateKey,
 * DescribeKey, GetPublicKey, Sign and Verify, over `ECDSA_SHA_256`. Keys are real P-256 key pairs made with
 * `node:crypto`, so a signature the fake returns verifies with the public key anywhere (openssl included), as a KMS
 * one does. Signatures are DER-encoded (ASN.1), public keys DER SubjectPublicKeyInfo, blobs base64 in JSON, as on
 * the wire.
 *
 * Faithful where the code depends on it: a key is found by id or ARN (an alias is not supported here: the project
 * passes ARNs); an unknown key is `NotFoundException`; signing with a key of another usage or with an algorithm the
 * key does not support is `InvalidKeyUsageException`; a `RAW` message over 4096 bytes, or a `DIGEST` that is not 32
 * bytes for SHA-256, is `ValidationException`; a disabled key is `DisabledException`; a signature that does not
 * verify is `KMSInvalidSignatureException` (Verify never answers `SignatureValid: false`).
 *
 * `DIGEST` messages are refused with `ValidationException`: `node:crypto` cannot sign a precomputed digest with
 * ECDSA, and the project signs `RAW` statements only, so the fake says so instead of signing something else.
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign, verify } from 'node:crypto';
import {
  AwsServiceError,
  epochSeconds,
  type FakeServiceOptions,
  type Operation,
  optionalString,
  type RequestBody,
  requiredString,
} from './protocol';

/** Where the fake pretends to live, and its clock. */
export type KmsFakeOptions = FakeServiceOptions;

interface FakeKey {
  readonly keyId: string;
  readonly arn: string;
  readonly keySpec: string;
  readonly keyUsage: string;
  readonly description: string;
  readonly created: number;
  enabled: boolean;
  readonly privateKey?: KeyObject;
  readonly publicKey?: KeyObject;
}

/** Largest RAW message KMS signs. */
const MAX_RAW_MESSAGE = 4096;
const SIGNING_ALGORITHMS: Record<string, string[]> = { ECC_NIST_P256: ['ECDSA_SHA_256'] };

function blob(body: RequestBody, field: string): Buffer {
  const value = requiredString(body, field);
  return Buffer.from(value, 'base64');
}

/** In-memory KMS. */
export class KmsFake {
  private readonly keys = new Map<string, FakeKey>();

  constructor(private readonly opts: KmsFakeOptions) {}

  /** The operations, by name, for the server's dispatcher. */
  readonly operations: Record<string, Operation> = {
    CreateKey: (body) => ({ KeyMetadata: this.metadata(this.create(body)) }),
    DescribeKey: (body) => ({ KeyMetadata: this.metadata(this.find(requiredString(body, 'KeyId'))) }),
    GetPublicKey: (body) => this.getPublicKey(body),
    Sign: (body) => this.sign(body),
    Verify: (body) => this.verify(body),
  };

  /** Test helper: creates a signing key (`ECC_NIST_P256`, `SIGN_VERIFY`) and returns its ARN. */
  createSigningKey(description = 'local signing key'): string {
    return this.create({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: description }).arn;
  }

  /** Test helper: disables or enables a key (DisableKey / EnableKey). */
  setEnabled(keyId: string, enabled: boolean): void {
    this.find(keyId).enabled = enabled;
  }

  private create(body: RequestBody): FakeKey {
    const keySpec = optionalString(body, 'KeySpec') ?? 'SYMMETRIC_DEFAULT';
    const keyUsage = optionalString(body, 'KeyUsage') ?? 'ENCRYPT_DECRYPT';
    const keyId = randomUUID();
    const base = {
      keyId,
      arn: `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:key/${keyId}`,
      keySpec,
      keyUsage,
      description: optionalString(body, 'Description') ?? '',
      created: this.opts.clock(),
      enabled: true,
    };
    let key: FakeKey;
    if (keySpec === 'ECC_NIST_P256') {
      if (keyUsage !== 'SIGN_VERIFY') {
        throw new AwsServiceError(
          'ValidationException',
          `KeyUsage ${keyUsage} is not valid for KeySpec ${keySpec}`,
        );
      }
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      key = { ...base, privateKey: pair.privateKey, publicKey: pair.publicKey };
    } else if (keySpec === 'SYMMETRIC_DEFAULT') {
      if (keyUsage !== 'ENCRYPT_DECRYPT') {
        throw new AwsServiceError(
          'ValidationException',
          `KeyUsage ${keyUsage} is not valid for KeySpec ${keySpec}`,
        );
      }
      key = base;
    } else {
      throw new AwsServiceError(
        'ValidationException',
        `KeySpec ${keySpec} is not supported by the local fake`,
      );
    }
    this.keys.set(keyId, key);
    return key;
  }

  private find(keyId: string): FakeKey {
    const id = keyId.startsWith('arn:') ? (keyId.split(':key/')[1] ?? '') : keyId;
    const key = this.keys.get(id);
    if (!key || (keyId.startsWith('arn:') && key.arn !== keyId)) {
      throw new AwsServiceError('NotFoundException', `Key '${keyId}' does not exist`);
    }
    return key;
  }

  private metadata(key: FakeKey): Record<string, unknown> {
    return {
      KeyId: key.keyId,
      Arn: key.arn,
      AWSAccountId: this.opts.accountId,
      CreationDate: epochSeconds(key.created),
      Description: key.description,
      Enabled: key.enabled,
      KeyState: key.enabled ? 'Enabled' : 'Disabled',
      KeySpec: key.keySpec,
      KeyUsage: key.keyUsage,
      KeyManager: 'CUSTOMER',
      Origin: 'AWS_KMS',
      ...(SIGNING_ALGORITHMS[key.keySpec] ? { SigningAlgorithms: SIGNING_ALGORITHMS[key.keySpec] } : {}),
    };
  }

  /** The key for a signing operation, after the checks KMS makes before touching the message. */
  private signingKey(body: RequestBody): { key: FakeKey; message: Buffer; algorithm: string } {
    const key = this.find(requiredString(body, 'KeyId'));
    if (!key.enabled) throw new AwsServiceError('DisabledException', `${key.arn} is disabled.`);
    const algorithm = requiredString(body, 'SigningAlgorithm');
    if (key.keyUsage !== 'SIGN_VERIFY' || !(SIGNING_ALGORITHMS[key.keySpec] ?? []).includes(algorithm)) {
      throw new AwsServiceError(
        'InvalidKeyUsageException',
        `You cannot use ${algorithm} with key ${key.arn} (KeyUsage ${key.keyUsage}, KeySpec ${key.keySpec}).`,
      );
    }
    const messageType = optionalString(body, 'MessageType') ?? 'RAW';
    const message = blob(body, 'Message');
    if (messageType === 'DIGEST') {
      throw new AwsServiceError('ValidationException', 'The local KMS fake signs RAW messages only');
    }
    if (messageType !== 'RAW')
      throw new AwsServiceError('ValidationException', `MessageType ${messageType} is not valid`);
    if (message.length === 0 || message.length > MAX_RAW_MESSAGE) {
      throw new AwsServiceError(
        'ValidationException',
        `Message must be between 1 and ${MAX_RAW_MESSAGE} bytes for MessageType RAW`,
      );
    }
    return { key, message, algorithm };
  }

  private getPublicKey(body: RequestBody): Record<string, unknown> {
    const key = this.find(requiredString(body, 'KeyId'));
    if (!key.publicKey) {
      throw new AwsServiceError(
        'UnsupportedOperationException',
        `${key.arn} is a symmetric key; it has no public key.`,
      );
    }
    const der = key.publicKey.export({ type: 'spki', format: 'der' });
    return {
      KeyId: key.arn,
      PublicKey: der.toString('base64'),
      KeySpec: key.keySpec,
      KeyUsage: key.keyUsage,
      SigningAlgorithms: SIGNING_ALGORITHMS[key.keySpec],
    };
  }

  private sign(body: RequestBody): Record<string, unknown> {
    const { key, message, algorithm } = this.signingKey(body);
    const signature = sign('sha256', message, key.privateKey as KeyObject);
    return { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: algorithm };
  }

  private verify(body: RequestBody): Record<string, unknown> {
    const { key, message, algorithm } = this.signingKey(body);
    const signature = blob(body, 'Signature');
    if (!verify('sha256', message, key.publicKey as KeyObject, signature)) {
      throw new AwsServiceError('KMSInvalidSignatureException', 'The signature is not valid.');
    }
    return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm };
  }
}
