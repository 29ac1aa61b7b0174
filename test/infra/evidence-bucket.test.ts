import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceBucket, type EvidenceBucketProps } from '../../lib/constructs/evidence-bucket';
import { appFactory } from './helpers';

const CADO_ROLE = 'arn:aws:iam::210987654321:role/myCadoResponseRole';
const apps = appFactory();
afterAll(() => apps.cleanup());

interface Statement {
  Effect: string;
  Action: string | string[];
  Principal?: unknown;
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

function build(props: EvidenceBucketProps = {}) {
  const stack = new Stack(apps.app(), 'T');
  const evidence = new EvidenceBucket(stack, 'Evidence', props);
  const worker = new Role(stack, 'Worker', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  return { stack, evidence, worker };
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
}

/** Every statement of every resource of `type` (policy documents under `docKey`). */
function statements(template: Template, type: string, docKey = 'PolicyDocument'): Statement[] {
  return Object.values(template.findResources(type)).flatMap(
    (r) => (r.Properties[docKey]?.Statement ?? []) as Statement[],
  );
}

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const json = (v: unknown) => JSON.stringify(v);

describe('EvidenceBucket', () => {
  let t: Template;
  let ids: { bucket: string; key: string; logs: string };

  beforeAll(() => {
    const { stack, evidence } = build({ objectLockDays: 30, retentionDays: 400, cadoRoleArn: CADO_ROLE });
    t = Template.fromStack(stack);
    ids = {
      bucket: logicalId(stack, evidence.bucket),
      key: logicalId(stack, evidence.key),
      logs: logicalId(stack, evidence.logBucket),
    };
  });

  it('encrypts with the customer-managed key, bucket key on, and the key rotates', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [ids.key, 'Arn'] },
            },
          },
        ],
      },
    });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    t.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/T/evidence' });
  });

  it('is versioned with Object Lock in GOVERNANCE mode for the configured days', () => {
    const bucket = t.findResources('AWS::S3::Bucket')[ids.bucket];
    expect(bucket?.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 30 } },
      },
    });
  });

  it('blocks public access and disables ACLs on both buckets', () => {
    const bpa = {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    };
    for (const id of [ids.bucket, ids.logs]) {
      expect(t.findResources('AWS::S3::Bucket')[id]?.Properties).toMatchObject({
        PublicAccessBlockConfiguration: bpa,
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      });
    }
  });

  it('sends server access logs to the separate, SSE-S3, versioned log bucket', () => {
    const buckets = t.findResources('AWS::S3::Bucket');
    expect(buckets[ids.bucket]?.Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: ids.logs },
      LogFilePrefix: 'evidence/',
    });
    expect(buckets[ids.logs]?.Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: [expect.objectContaining({ ExpirationInDays: 365, Status: 'Enabled' })],
      },
    });
  });

  it('expires evidence after the retention days and cleans up versions and uploads', () => {
    expect(t.findResources('AWS::S3::Bucket')[ids.bucket]?.Properties.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          ExpirationInDays: 400,
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          Status: 'Enabled',
        }),
        expect.objectContaining({ ExpiredObjectDeleteMarker: true, Status: 'Enabled' }),
      ]),
    );
  });

  it('denies any request without TLS (and below TLS 1.2) on both buckets', () => {
    for (const id of [ids.bucket, ids.logs]) {
      t.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
            }),
          ]),
        },
      });
    }
  });

  it('retains bucket, log bucket and key when the stack is deleted', () => {
    for (const [type, id] of [
      ['AWS::S3::Bucket', ids.bucket],
      ['AWS::S3::Bucket', ids.logs],
      ['AWS::KMS::Key', ids.key],
    ] as const) {
      expect(t.findResources(type)[id]).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    }
  });

  it('lets the Cado role read investigations/ only', () => {
    const cado = statements(t, 'AWS::S3::BucketPolicy').filter((s) => json(s.Principal).includes(CADO_ROLE));
    expect(cado.length).toBeGreaterThan(0);
    for (const s of cado) {
      expect(s.Effect).toBe('Allow');
      for (const action of actionsOf(s)) {
        if (action === 's3:GetObject' || action === 's3:GetObjectVersion') {
          expect(json(s.Resource)).toMatch(/"\/investigations\/\*"/);
        } else if (action === 's3:ListBucket') {
          expect(s.Condition).toEqual({ StringLike: { 's3:prefix': ['investigations/*'] } });
        } else {
          expect(action).toBe('s3:GetBucketLocation');
        }
      }
    }
    const granted = cado.flatMap(actionsOf).sort();
    expect(granted).toEqual(['s3:GetBucketLocation', 's3:GetObject', 's3:GetObjectVersion', 's3:ListBucket']);
  });

  it('lets the Cado role decrypt through S3 only, in the key policy', () => {
    const cado = statements(t, 'AWS::KMS::Key', 'KeyPolicy').filter((s) =>
      json(s.Principal).includes(CADO_ROLE),
    );
    expect(cado).toHaveLength(1);
    expect(cado[0]).toMatchObject({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Condition: {
        StringEquals: {
          'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
        },
      },
    });
  });

  it('grants Cado nothing without a role ARN', () => {
    const t2 = Template.fromStack(build().stack);
    const allows = [
      ...statements(t2, 'AWS::S3::BucketPolicy'),
      ...statements(t2, 'AWS::KMS::Key', 'KeyPolicy'),
    ].filter(
      (s) =>
        s.Effect === 'Allow' &&
        !json(s.Principal).includes('logging.s3.amazonaws.com') &&
        !json(s.Principal).includes(':root'),
    );
    expect(allows).toEqual([]);
  });

  it('can lock in COMPLIANCE mode', () => {
    const bucket = Object.values(
      Template.fromStack(build({ objectLockMode: 'COMPLIANCE', objectLockDays: 7 }).stack).findResources(
        'AWS::S3::Bucket',
        { Properties: { ObjectLockEnabled: true } },
      ),
    )[0];
    expect(bucket?.Properties.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 7 } },
    });
  });

  describe('retention protection in the bucket policy', () => {
    const BREAK_GLASS = 'arn:aws:iam::123456789012:role/evidence-break-glass';
    /** The evidence bucket's Deny statements other than the TLS ones. */
    function denies(props: EvidenceBucketProps) {
      const { stack, evidence } = build(props);
      const bucketId = logicalId(stack, evidence.bucket);
      const policy = Object.values(Template.fromStack(stack).findResources('AWS::S3::BucketPolicy')).find(
        (r) => json(r.Properties.Bucket) === json({ Ref: bucketId }),
      );
      const all = (policy?.Properties.PolicyDocument.Statement ?? []) as Statement[];
      return all.filter(
        (s) =>
          s.Effect === 'Deny' &&
          !String(json(s.Condition)).includes('TlsVersion') &&
          !String(json(s.Condition)).includes('SecureTransport'),
      );
    }

    it('denies bypass, retention changes and version deletion to every principal, when no break-glass role is set', () => {
      const [retention, hold, ...rest] = denies({});
      expect(rest).toEqual([]);
      expect(retention).toMatchObject({ Principal: { AWS: '*' } });
      expect(retention?.Condition).toBeUndefined();
      expect(actionsOf(retention as Statement).sort()).toEqual([
        's3:BypassGovernanceRetention',
        's3:DeleteObjectVersion',
        's3:PutObjectRetention',
      ]);
      // Lifting a hold is denied; placing one (ON) is not.
      expect(hold).toMatchObject({
        Principal: { AWS: '*' },
        Action: 's3:PutObjectLegalHold',
        Condition: { StringEquals: { 's3:object-lock-legal-hold': 'OFF' } },
      });
    });

    it('excepts only the configured break-glass role, by principal ARN', () => {
      const all = denies({ breakGlassRoleArn: BREAK_GLASS });
      expect(all).toHaveLength(2);
      for (const s of all) {
        expect(s.Principal).toEqual({ AWS: '*' });
        expect(s.Condition?.ArnNotEquals).toEqual({ 'aws:PrincipalArn': BREAK_GLASS });
      }
      expect(all.flatMap(actionsOf).sort()).toEqual([
        's3:BypassGovernanceRetention',
        's3:DeleteObjectVersion',
        's3:PutObjectLegalHold',
        's3:PutObjectRetention',
      ]);
    });

    it('grants no role of the stack the right to bypass retention, change it, delete versions or lift a hold', () => {
      const { stack, evidence, worker } = build({ legalHold: 'always' });
      evidence.grantStageEvidence(worker);
      evidence.grantReadEvidence(worker);
      evidence.grantWriteAudits(worker);
      const granted = statements(Template.fromStack(stack), 'AWS::IAM::Policy').flatMap(actionsOf);
      expect(
        granted.filter((a) => /^s3:(BypassGovernanceRetention|PutObjectRetention|DeleteObject|\*)/.test(a)),
      ).toEqual([]);
    });
  });

  it('refuses an Object Lock longer than the retention', () => {
    expect(() => build({ objectLockDays: 100, retentionDays: 30 })).toThrow(
      /objectLockDays \(100\) exceeds retentionDays \(30\)/,
    );
  });
});

describe('EvidenceBucket grants', () => {
  /** The worker's statements, actions sorted (the minimizePolicies flag reorders them). */
  function grantedTo(grant: 'grantStageEvidence' | 'grantReadEvidence' | 'grantWriteAudits') {
    const { stack, evidence, worker } = build();
    evidence[grant](worker);
    const t = Template.fromStack(stack);
    const all = statements(t, 'AWS::IAM::Policy').map((s) => ({ ...s, Action: actionsOf(s).sort() }));
    return { all, bucketId: logicalId(stack, evidence.bucket), keyId: logicalId(stack, evidence.key) };
  }

  const objects = (bucketId: string, prefix: string) => ({
    'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]],
  });
  const listing = (bucketId: string, prefix: string) => ({
    Effect: 'Allow',
    Action: ['s3:ListBucket'],
    Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
    Condition: { StringLike: { 's3:prefix': [`${prefix}*`] } },
  });

  const keys = (bucketId: string, pattern: string) => ({
    'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/investigations/${pattern}`]],
  });
  const reads = [
    's3:GetObject',
    's3:GetObjectAttributes',
    's3:GetObjectLegalHold',
    's3:GetObjectRetention',
    's3:GetObjectVersion',
  ];

  it('stage: uploads and multipart on evidence keys only (four segments deep), read-back of investigations/*, exact KMS actions', () => {
    const { all, bucketId, keyId } = grantedTo('grantStageEvidence');
    expect(all).toEqual([
      {
        Effect: 'Allow',
        Action: [
          's3:AbortMultipartUpload',
          's3:ListMultipartUploadParts',
          's3:PutObject',
          // A result that does not match S1's hash is tagged integrity=mismatch.
          's3:PutObjectTagging',
          's3:PutObjectVersionTagging',
        ],
        Resource: keys(bucketId, '*/*/*/*'),
      },
      { Effect: 'Allow', Action: reads, Resource: objects(bucketId, 'investigations/') },
      listing(bucketId, 'investigations/'),
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
      },
    ]);
  });

  it('stage: may place a legal hold on evidence keys when one is configured, never otherwise', () => {
    for (const legalHold of ['on-threat', 'always'] as const) {
      const { stack, evidence, worker } = build({ legalHold });
      evidence.grantStageEvidence(worker);
      const puts = statements(Template.fromStack(stack), 'AWS::IAM::Policy').filter((s) =>
        actionsOf(s).includes('s3:PutObject'),
      );
      expect(puts.flatMap(actionsOf), legalHold).toContain('s3:PutObjectLegalHold');
    }
    expect(json(grantedTo('grantStageEvidence').all)).not.toContain('s3:PutObjectLegalHold');
  });

  it('read: get only (with retention and legal hold), on investigations/*, decrypt only', () => {
    const { all, bucketId, keyId } = grantedTo('grantReadEvidence');
    expect(all).toEqual([
      { Effect: 'Allow', Action: reads, Resource: objects(bucketId, 'investigations/') },
      listing(bucketId, 'investigations/'),
      { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
  });

  it('audits: put on audits/* only, nothing on investigations/', () => {
    const { all, bucketId } = grantedTo('grantWriteAudits');
    expect(all).toEqual(
      expect.arrayContaining([
        {
          Effect: 'Allow',
          Action: ['s3:AbortMultipartUpload', 's3:PutObject'],
          Resource: objects(bucketId, 'audits/'),
        },
        listing(bucketId, 'audits/'),
      ]),
    );
    expect(json(all)).not.toContain('investigations/');
  });
});

describe('EvidenceBucket binding a function', () => {
  function bound(bind: (evidence: EvidenceBucket, fn: LambdaFunction) => void) {
    const { stack, evidence } = build();
    const fn = new LambdaFunction(stack, 'Fn', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({})'),
    });
    bind(evidence, fn);
    const t = Template.fromStack(stack);
    const [resource] = Object.values(t.findResources('AWS::Lambda::Function'));
    return {
      env: resource?.Properties.Environment?.Variables as Record<string, unknown>,
      all: statements(t, 'AWS::IAM::Policy').map((s) => ({ ...s, Action: actionsOf(s).sort() })),
      bucketId: logicalId(stack, evidence.bucket),
    };
  }

  it('bindStaging names the bucket and the legal hold, and grants staging under investigations/', () => {
    const { env, all, bucketId } = bound((evidence, fn) => evidence.bindStaging(fn));
    expect(env).toEqual({ EVIDENCE_BUCKET: { Ref: bucketId }, EVIDENCE_LEGAL_HOLD: 'none' });
    expect(all.flatMap((s) => s.Action)).toEqual(
      expect.arrayContaining(['s3:PutObject', 's3:GetObjectAttributes', 'kms:GenerateDataKey']),
    );
    expect(json(all)).toContain('/investigations/*');
    expect(json(all)).not.toContain('audits/');
  });

  it('bindTaskRecords and bindOutcomeRecords put only their own keys', () => {
    const putKeys = (bind: (evidence: EvidenceBucket, fn: LambdaFunction) => void) =>
      bound(bind)
        .all.filter((s) => s.Action.includes('s3:PutObject'))
        .flatMap((s) => json(s.Resource).match(/\/investigations\/[^"]*/g) ?? [])
        .sort();
    expect(putKeys((e, fn) => e.bindTaskRecords(fn))).toEqual(['/investigations/*/task.json']);
    expect(putKeys((e, fn) => e.bindOutcomeRecords(fn))).toEqual([
      '/investigations/*/*/*/manifest.json',
      '/investigations/*/*/*/manifest.signature.json',
      '/investigations/*/case.json',
      '/investigations/*/case.md',
    ]);
  });

  it('bindAuditReports names the bucket and grants writing and reading back audits/ only', () => {
    const { env, all, bucketId } = bound((evidence, fn) => evidence.bindAuditReports(fn));
    expect(env).toEqual({ EVIDENCE_BUCKET: { Ref: bucketId } });
    const onAudits = all.filter((s) => json(s.Resource).includes('/audits/*'));
    expect(onAudits.flatMap((s) => s.Action).sort()).toEqual([
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:PutObject',
    ]);
    expect(json(all)).not.toContain('investigations/');
  });

  it('bindInvestigationListing names the bucket and grants listing one key prefix, no reads, no key', () => {
    const { env, all, bucketId } = bound((evidence, fn) => evidence.bindInvestigationListing(fn, 'threat-'));
    expect(env).toEqual({ EVIDENCE_BUCKET: { Ref: bucketId } });
    expect(all).toEqual([
      {
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
        Condition: { StringLike: { 's3:prefix': ['investigations/threat-*'] } },
      },
    ]);
  });
});
