import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contract';
import type { TaskFunction } from './task-function';

/**
 * The key that signs the chain of custody: an asymmetric KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`) whose private half
 * never leaves KMS. Record Outcome signs each final manifest with it (lambdas/shared/evidence/signature.ts); only the
 * function given {@link bindSigner} may call `kms:Sign`. Anyone holding the public key (`kms:GetPublicKey`, or a copy
 * of it) can verify a signature, offline if need be. The key is retained when the stack is deleted: a signature
 * must stay verifiable for as long as the evidence is kept.
 */
export class CustodySigning extends Construct {
  /** The signing key. */
  readonly key: Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: 'Signs the s1-cado-forensics chain-of-custody manifests',
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.key).acknowledge({
      id: 'AwsSolutions-KMS5',
      reason:
        'KMS does not rotate asymmetric keys; a signing key must stay the same for signatures to verify over the evidence retention period.',
    });
  }

  /** Lets `fn` sign with the key (`kms:Sign` only) and tells it which key to use. */
  bindSigner(fn: TaskFunction): Grant {
    fn.addEnvironment(ENV.manifestSigningKeyArn, this.key.keyArn);
    return this.key.grant(fn, 'kms:Sign');
  }

  /** Lets `grantee` read the public key and ask KMS to verify (what `s1cado verify` uses). */
  grantVerify(grantee: IGrantable): Grant {
    return this.key.grant(grantee, 'kms:GetPublicKey', 'kms:Verify', 'kms:DescribeKey');
  }
}
