import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/contract';
import { EvidenceBucket, OWNED_KEYS } from '../../lib/constructs/evidence-bucket';
import { appFactory } from './helpers';

const apps = appFactory();
afterAll(() => apps.cleanup());

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Principal?: unknown;
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const json = (v: unknown) => JSON.stringify(v);

function lambda(stack: Stack, id: string): LambdaFunction {
  return new LambdaFunction(stack, id, {
    runtime: Runtime.NODEJS_20_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler = async () => ({})'),
  });
}

describe('EvidenceBucket.enableDirectUploads', () => {
  let t: Template;
  let stack: Stack;
  let ids: {
    signer: string;
    opener: string;
    runScript: string;
    completer: string;
    bucket: string;
    key: string;
  };

  beforeAll(() => {
    stack = new Stack(apps.app(), 'T');
    const evidence = new EvidenceBucket(stack, 'Evidence');
    const opener = lambda(stack, 'Prepare');
    const signer = lambda(stack, 'RunScript');
    const completer = lambda(stack, 'Complete');
    evidence.bindStaging(completer);
    const role = evidence.enableDirectUploads({ opener, signer, completer });
    const id = (c: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(c.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
    t = Template.fromStack(stack);
    ids = {
      signer: id(role),
      opener: id(opener.role as never),
      runScript: id(signer.role as never),
      completer: id(completer.role as never),
      bucket: id(evidence.bucket),
      key: id(evidence.key),
    };
  });

  function bucketStatements(): Statement[] {
    return Object.values(t.findResources('AWS::S3::BucketPolicy')).flatMap(
      (r) => r.Properties.PolicyDocument.Statement as Statement[],
    );
  }

  function policiesOf(roleId: string): Statement[] {
    return Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => json(p.Properties.Roles).includes(roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  }

  it('denies writes in the direct folder to everyone but the signer, the opener and the completer', () => {
    const deny = bucketStatements().find((s) => s.Sid === 'DirectUploadWritersOnly') as Statement;
    expect(deny.Effect).toBe('Deny');
    expect(deny.Principal).toEqual({ AWS: '*' });
    expect(actionsOf(deny)).toEqual(expect.arrayContaining(['s3:PutObject', 's3:AbortMultipartUpload']));
    expect(json(deny.Resource)).toContain(`/investigations/${OWNED_KEYS.directUpload[0]}`);
    const allowed = json(deny.Condition?.ArnNotEquals?.['aws:PrincipalArn']);
    for (const role of [ids.signer, ids.opener, ids.completer]) expect(allowed).toContain(role);
    expect(allowed).not.toContain(ids.runScript);
  });

  it('lets only Run Script assume the signer, for up to 12 hours, and tells Run Script its ARN', () => {
    const role = t.findResources('AWS::IAM::Role')[ids.signer];
    expect(role?.Properties.MaxSessionDuration).toBe(12 * 3600);
    expect(role?.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::GetAtt': [ids.runScript, 'Arn'] } },
      }),
    ]);
    const assume = policiesOf(ids.runScript).filter((s) => actionsOf(s).includes('sts:AssumeRole'));
    expect(json(assume.map((s) => s.Resource))).toContain(ids.signer);
    const fn = Object.values(t.findResources('AWS::Lambda::Function')).find((f) =>
      json(f.Properties.Role).includes(ids.runScript),
    );
    expect(json(fn?.Properties.Environment.Variables[ENV.directUploadRoleArn])).toContain(ids.signer);
  });

  it('gives the signer PutObject on the direct folder only (each session narrows it to one key) and the KMS key', () => {
    const statements = policiesOf(ids.signer);
    const s3 = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    expect(s3.flatMap(actionsOf)).toEqual(['s3:PutObject']);
    expect(json(s3.map((s) => s.Resource))).toContain('/investigations/*/*/direct/*');
    expect(json(s3.map((s) => s.Resource))).not.toMatch(/investigations\/\*"/);
    const kms = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(json(kms.map((s) => s.Resource))).toContain(ids.key);
    expect(statements.flatMap(actionsOf).some((a) => a.startsWith('s3:Get') || a === 's3:*')).toBe(false);
  });

  it('lets the opener create uploads and its record in the direct folder, nothing else', () => {
    const writes = policiesOf(ids.opener).filter((s) => actionsOf(s).some((a) => /^s3:(Put|Abort)/.test(a)));
    expect(json(writes.map((s) => s.Resource))).toContain('/investigations/*/*/direct/*');
    expect(writes.every((s) => json(s.Resource).includes('/direct/'))).toBe(true);
  });
});
