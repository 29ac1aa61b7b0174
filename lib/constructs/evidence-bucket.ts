import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AnyPrincipal,
  ArnPrincipal,
  Effect,
  Grant,
  type IGrantable,
  type IRole,
  PolicyStatement,
  Role,
} from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  ObjectLockRetention,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { BUCKET_PREFIXES, ENV, type LegalHoldMode } from '../../lambdas/shared/contract';

/** Key prefix of everything an investigation stores (collections, manifests, case.json), from the contract. */
export const INVESTIGATIONS_PREFIX = BUCKET_PREFIXES.investigations;

/** Key prefix of the permission audit reports, from the contract. */
export const AUDITS_PREFIX = BUCKET_PREFIXES.audits;

/**
 * The keys each writing step owns under `investigations/` (S3 ARN patterns: `*` also matches `/`). The task record
 * is `<investigation>/<agent>/task.json`; evidence and its first manifest are four segments deep
 * (`<investigation>/<agent>/<task>/<file>`), which neither the task record nor the case file can be; Record Outcome
 * writes the final manifest, its signature, the case file and its report.
 */
export const OWNED_KEYS = {
  taskRecord: ['*/task.json'],
  staging: ['*/*/*/*'],
  verification: ['*/*/*/verification.json'],
  outcome: ['*/case.json', '*/case.md', '*/*/*/manifest.json', '*/*/*/manifest.signature.json'],
  cancellation: ['*/cancellation.json'],
  /** The direct-to-S3 folder of an agent: the upload record and the object the collector fills. */
  directUpload: ['*/*/direct/*'],
} as const satisfies Record<string, readonly string[]>;

/** Actions the bucket policy denies to every principal but the break-glass role. */
export const PROTECTED_ACTIONS = [
  's3:BypassGovernanceRetention',
  's3:PutObjectRetention',
  's3:DeleteObjectVersion',
] as const;

/** Properties of an {@link EvidenceBucket}. */
export interface EvidenceBucketProps {
  /**
   * Object Lock default retention (GOVERNANCE mode) in days; must not exceed `retentionDays`.
   * @default 90
   */
  readonly objectLockDays?: number;
  /**
   * Object Lock mode of the default retention.
   * @default "GOVERNANCE"
   */
  readonly objectLockMode?: 'GOVERNANCE' | 'COMPLIANCE';
  /**
   * Legal hold placed at staging (`none`, `on-threat`, `always`); staging gets `s3:PutObjectLegalHold` unless `none`.
   * @default "none"
   */
  readonly legalHold?: LegalHoldMode;
  /**
   * The only principal the bucket policy lets bypass governance retention, change retention, delete object versions
   * or lift a legal hold.
   * @default - nobody may
   */
  readonly breakGlassRoleArn?: string;
  /**
   * Days after which lifecycle expires current objects.
   * @default 365
   */
  readonly retentionDays?: number;
  /**
   * Days after which lifecycle deletes noncurrent versions (never before their Object Lock ends).
   * @default 30
   */
  readonly noncurrentVersionDays?: number;
  /**
   * Days after which lifecycle aborts incomplete multipart uploads.
   * @default 7
   */
  readonly abortIncompleteUploadDays?: number;
  /**
   * Days the server access logs are kept in the log bucket.
   * @default 365
   */
  readonly accessLogRetentionDays?: number;
  /**
   * IAM role Cado reads the evidence with (`config.cadoRoleArn`). It gets read access to
   * `investigations/*` through the bucket policy and `kms:Decrypt` via S3 through the key policy.
   * @default - no access for Cado
   */
  readonly cadoRoleArn?: string;
  /**
   * Alias of the bucket's KMS key.
   * @default - `alias/<stack name>/evidence`
   */
  readonly keyAlias?: string;
}

/**
 * The evidence bucket: SSE-KMS with a customer-managed key (rotation on, bucket key), versioning,
 * Object Lock (GOVERNANCE or COMPLIANCE) with a default retention that only an optional break-glass role may bypass,
 * shorten or lift a legal hold from, each step writing only the keys it owns ({@link OWNED_KEYS}), TLS 1.2+ only, Block Public Access,
 * server access logs to a separate log bucket, and lifecycle rules. Bucket, key and log bucket are
 * retained when the stack is deleted.
 *
 * Writers must send an integrity checksum (Content-MD5 or `x-amz-checksum-*`): S3 requires one for
 * every PUT into an Object Lock bucket. Give a Lambda access with a `bind*` method (the bucket name in its
 * environment and the grant, in one call), anything else with a `grant*` method, rather than the bucket's own
 * grants: they are scoped to one prefix and name the exact KMS actions.
 */
export class EvidenceBucket extends Construct {
  /** The evidence bucket. */
  readonly bucket: Bucket;
  /** The customer-managed key that encrypts the evidence. */
  readonly key: Key;
  /** The bucket receiving the evidence bucket's server access logs (SSE-S3). */
  readonly logBucket: Bucket;
  /** The legal hold staging places. */
  readonly legalHold: LegalHoldMode;

  constructor(scope: Construct, id: string, props: EvidenceBucketProps = {}) {
    super(scope, id);
    const objectLockDays = props.objectLockDays ?? 90;
    const retentionDays = props.retentionDays ?? 365;
    if (objectLockDays > retentionDays) {
      throw new Error(
        `EvidenceBucket ${id}: objectLockDays (${objectLockDays}) exceeds retentionDays (${retentionDays})`,
      );
    }

    this.key = new Key(this, 'Key', {
      description: 'Encrypts forensic evidence collected from SentinelOne endpoints',
      enableKeyRotation: true,
      alias: props.keyAlias ?? `alias/${Stack.of(this).stackName}/evidence`,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.logBucket = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'ExpireAccessLogs',
          expiration: Duration.days(props.accessLogRetentionDays ?? 365),
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });
    Validations.of(this.logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log destination of the evidence bucket; logging it into itself would loop.',
    });

    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention:
        props.objectLockMode === 'COMPLIANCE'
          ? ObjectLockRetention.compliance(Duration.days(objectLockDays))
          : ObjectLockRetention.governance(Duration.days(objectLockDays)),
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 'evidence/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'ExpireEvidence',
          expiration: Duration.days(retentionDays),
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 30),
          abortIncompleteMultipartUploadAfter: Duration.days(props.abortIncompleteUploadDays ?? 7),
        },
        // A separate rule: S3 does not allow ExpiredObjectDeleteMarker together with Expiration days.
        { id: 'RemoveExpiredDeleteMarkers', expiredObjectDeleteMarker: true },
      ],
    });

    this.legalHold = props.legalHold ?? 'none';
    this.protectRetention(props.breakGlassRoleArn);
    if (props.cadoRoleArn !== undefined) this.allowCadoRead(props.cadoRoleArn);
  }

  /**
   * Denies, to every principal but the break-glass role (to all when there is none): bypassing governance
   * retention, changing retention, deleting object versions, and setting a legal hold to OFF. Placing a hold stays
   * possible (staging does it when configured).
   */
  private protectRetention(breakGlassRoleArn: string | undefined): void {
    const except = breakGlassRoleArn ? { ArnNotEquals: { 'aws:PrincipalArn': breakGlassRoleArn } } : {};
    const objects = this.bucket.arnForObjects('*');
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyRetentionChanges',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: [...PROTECTED_ACTIONS],
        resources: [objects],
        conditions: except,
      }),
    );
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyLiftingLegalHold',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutObjectLegalHold'],
        resources: [objects],
        conditions: { ...except, StringEquals: { 's3:object-lock-legal-hold': 'OFF' } },
      }),
    );
  }

  /** ARN pattern of every object under `prefix` (e.g. `INVESTIGATIONS_PREFIX`), for custom grants. */
  arnForPrefix(prefix: string): string {
    return this.bucket.arnForObjects(`${prefix}*`);
  }

  /**
   * Lets `grantee` stage evidence: single and multipart uploads of evidence and first manifests
   * ({@link OWNED_KEYS}.staging, plus placing a legal hold when configured), reading back everything under
   * `investigations/` (also by version and attributes) and listing that prefix (so a missing key is a 404, not a
   * 403). KMS: `Encrypt`, `Decrypt` (multipart completion), `GenerateDataKey`.
   */
  grantStageEvidence(grantee: IGrantable): Grant {
    const writes = this.grantOwnedKeys(grantee, OWNED_KEYS.staging, [
      's3:PutObject',
      // A staged result that does not match S1's hash is tagged integrity=mismatch (and kept).
      's3:PutObjectTagging',
      's3:PutObjectVersionTagging',
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
      ...(this.legalHold === 'none' ? [] : ['s3:PutObjectLegalHold']),
    ]);
    this.grantReadEvidence(grantee, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey']);
    return writes;
  }

  /**
   * Tells `fn` the bucket's name (`EVIDENCE_BUCKET`) and the legal hold to place, and lets it stage evidence
   * ({@link grantStageEvidence}).
   */
  bindStaging(fn: LambdaFunction): Grant {
    this.setBucketName(fn);
    fn.addEnvironment(ENV.evidenceLegalHold, this.legalHold);
    return this.grantStageEvidence(fn);
  }

  /**
   * The direct-to-S3 path (large and memory collections). `opener` creates the multipart upload on an agent's
   * direct key and records it; `signer` assumes the returned role, with a session policy naming the one key, to
   * presign the part URLs the collector uses; `completer` (already bound for staging) completes the upload. The
   * bucket policy denies every write under `investigations/<id>/<agent>/direct/` to any other principal, so the
   * URLs handed through S1 are the only way in: write-only, one key, one upload, until they expire.
   */
  enableDirectUploads(fns: {
    opener: LambdaFunction;
    signer: LambdaFunction;
    completer: LambdaFunction;
  }): Role {
    const signerRole = fns.signer.role as IRole;
    const role = new Role(this, 'DirectUploadSigner', {
      assumedBy: new ArnPrincipal(signerRole.roleArn),
      description: 'Signs direct-upload part URLs (one key per session) for the collector on the endpoint',
      // The URLs live as long as the script's timeout plus grace; a session can last at most 12 hours.
      maxSessionDuration: Duration.hours(12),
    });
    this.grantOwnedKeys(role, OWNED_KEYS.directUpload, ['s3:PutObject']);
    Grant.addToPrincipal({
      grantee: role,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resourceArns: [this.key.keyArn],
    });
    role.grantAssumeRole(signerRole);
    fns.signer.addEnvironment(ENV.directUploadRoleArn, role.roleArn);

    this.setBucketName(fns.opener);
    fns.opener.addEnvironment(ENV.evidenceLegalHold, this.legalHold);
    this.grantOwnedKeys(fns.opener, OWNED_KEYS.directUpload, [
      's3:PutObject',
      's3:AbortMultipartUpload',
      ...(this.legalHold === 'none' ? [] : ['s3:PutObjectLegalHold']),
    ]);
    this.grantReadEvidence(fns.opener, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey']);

    const writers = [role.roleArn, (fns.opener.role as IRole).roleArn, (fns.completer.role as IRole).roleArn];
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DirectUploadWritersOnly',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:PutObjectTagging'],
        resources: OWNED_KEYS.directUpload.map((p) =>
          this.bucket.arnForObjects(`${INVESTIGATIONS_PREFIX}${p}`),
        ),
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': writers } },
      }),
    );
    return role;
  }

  /** Tells `fn` the bucket's name and lets it write task records ({@link OWNED_KEYS}.taskRecord) and read evidence. */
  bindTaskRecords(fn: LambdaFunction): Grant {
    this.setBucketName(fn);
    const writes = this.grantOwnedKeys(fn, OWNED_KEYS.taskRecord, ['s3:PutObject']);
    this.grantReadEvidence(fn, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey']);
    return writes;
  }

  /**
   * Tells `fn` the bucket's name and lets it read evidence and write its verification record
   * ({@link OWNED_KEYS}.verification): Verify Evidence.
   */
  bindVerification(fn: LambdaFunction): Grant {
    this.setBucketName(fn);
    const writes = this.grantOwnedKeys(fn, OWNED_KEYS.verification, ['s3:PutObject']);
    this.grantReadEvidence(fn, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey']);
    return writes;
  }

  /**
   * Tells `fn` the bucket's name and lets it write the final manifests, their signatures and case files
   * ({@link OWNED_KEYS}.outcome) and read evidence.
   */
  bindOutcomeRecords(fn: LambdaFunction): Grant {
    this.setBucketName(fn);
    const writes = this.grantOwnedKeys(fn, OWNED_KEYS.outcome, ['s3:PutObject']);
    this.grantReadEvidence(fn, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey']);
    return writes;
  }

  /**
   * Tells `fn` the bucket's name and lets it write cancellation records ({@link OWNED_KEYS}.cancellation) and read
   * evidence (task records and manifests name the S1 tasks and staged objects to cancel). No other key is writable:
   * a cancel never alters what was staged.
   */
  bindCancellationRecords(fn: LambdaFunction): Grant {
    this.setBucketName(fn);
    const writes = this.grantOwnedKeys(fn, OWNED_KEYS.cancellation, ['s3:PutObject']);
    this.grantReadEvidence(fn, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey']);
    return writes;
  }

  /** `actions` on the given key patterns under `investigations/`, with their cdk-nag acknowledgements. */
  private grantOwnedKeys(grantee: IGrantable, patterns: readonly string[], actions: string[]): Grant {
    const grant = Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: patterns.map((p) => this.bucket.arnForObjects(`${INVESTIGATIONS_PREFIX}${p}`)),
    });
    for (const p of patterns) {
      this.acknowledgeWildcard(
        grantee,
        `${INVESTIGATIONS_PREFIX}${p}`,
        'Evidence keys embed the investigation, agent and task ids, which exist only at run time; each step may write only the key pattern it owns.',
      );
    }
    return grant;
  }

  /**
   * Tells `fn` the bucket's name and lets it write audit reports ({@link grantWriteAudits}) and read them back
   * (the previous report decides whether a warning is new): same prefix, same key.
   */
  bindAuditReports(fn: LambdaFunction): Grant {
    this.setBucketName(fn);
    Grant.addToPrincipal({
      grantee: fn,
      actions: ['s3:GetObject'],
      resourceArns: [this.arnForPrefix(AUDITS_PREFIX)],
    });
    return this.grantWriteAudits(fn);
  }

  /**
   * Tells `fn` the bucket's name and lets it list the keys under `investigations/<keyPrefix>` and nothing else:
   * no object reads, no key (which investigations exist, not what they hold).
   */
  bindInvestigationListing(fn: LambdaFunction, keyPrefix: string): Grant {
    this.setBucketName(fn);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${INVESTIGATIONS_PREFIX}${keyPrefix}*`] } },
    });
  }

  /** Tells `fn` the bucket's name and lets it read evidence ({@link grantReadEvidence}): the hand-off re-run's finder. */
  bindReadEvidence(fn: LambdaFunction): Grant {
    this.setBucketName(fn);
    return this.grantReadEvidence(fn);
  }

  private setBucketName(fn: LambdaFunction): void {
    fn.addEnvironment(ENV.evidenceBucket, this.bucket.bucketName);
  }

  /**
   * Lets `grantee` read evidence under `investigations/` (objects, versions, their retention and legal hold,
   * listing that prefix); `keyActions` default to `kms:Decrypt`.
   */
  grantReadEvidence(grantee: IGrantable, keyActions: string[] = ['kms:Decrypt']): Grant {
    return this.grantPrefix(
      grantee,
      INVESTIGATIONS_PREFIX,
      [
        's3:GetObject',
        's3:GetObjectVersion',
        's3:GetObjectAttributes',
        's3:GetObjectRetention',
        's3:GetObjectLegalHold',
      ],
      keyActions,
      'Evidence keys embed run-time ids; read access is limited to the investigations/ prefix.',
    );
  }

  /** Lets `grantee` write audit reports under `audits/` (and list that prefix). */
  grantWriteAudits(grantee: IGrantable): Grant {
    return this.grantPrefix(
      grantee,
      AUDITS_PREFIX,
      ['s3:PutObject', 's3:AbortMultipartUpload'],
      ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
      'Audit report keys carry the run date and time; write access is limited to the audits/ prefix.',
    );
  }

  private grantPrefix(
    grantee: IGrantable,
    prefix: string,
    objectActions: string[],
    keyActions: string[],
    reason: string,
  ): Grant {
    const objects = Grant.addToPrincipal({
      grantee,
      actions: objectActions,
      resourceArns: [this.arnForPrefix(prefix)],
    });
    Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
    });
    Grant.addToPrincipal({ grantee, actions: keyActions, resourceArns: [this.key.keyArn] });
    this.acknowledgeWildcard(grantee, `${prefix}*`, reason);
    return objects;
  }

  private acknowledgeWildcard(grantee: IGrantable, keyPattern: string, reason: string): void {
    const principal = grantee.grantPrincipal;
    if (Construct.isConstruct(principal)) {
      // The finding id is the flattened resource cdk-nag reports: "<BucketLogicalId.Arn>/<key pattern>".
      const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket);
      Validations.of(principal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${keyPattern}]`,
        reason,
      });
    }
  }

  /** Bucket and key policy statements letting Cado's role read `investigations/` and nothing else. */
  private allowCadoRead(roleArn: string): void {
    const cado = new ArnPrincipal(roleArn);
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CadoReadEvidence',
        principals: [cado],
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [this.arnForPrefix(INVESTIGATIONS_PREFIX)],
      }),
    );
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CadoListEvidence',
        principals: [cado],
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${INVESTIGATIONS_PREFIX}*`] } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CadoLocateBucket',
        principals: [cado],
        actions: ['s3:GetBucketLocation'],
        resources: [this.bucket.bucketArn],
      }),
    );
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CadoDecryptViaS3',
        principals: [cado],
        actions: ['kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }
}
