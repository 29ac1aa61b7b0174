import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiSecrets, type ApiSecretsProps } from '../../lib/constructs/api-secrets';
import { appFactory } from './helpers';

const S1_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s1/token-AbC123';
const CADO_PARTIAL_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:cado/key';

const apps = appFactory();
afterAll(() => apps.cleanup());

function build(props: ApiSecretsProps = {}) {
  const stack = new Stack(apps.app(), 'T');
  const secrets = new ApiSecrets(stack, 'ApiSecrets', props);
  const worker = new Role(stack, 'Worker', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  return { stack, secrets, worker };
}

function policyStatements(t: Template): { Action: string | string[]; Resource: unknown }[] {
  return Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
    (p) => p.Properties.PolicyDocument.Statement,
  );
}

describe('ApiSecrets created by the stack', () => {
  it('creates both secrets empty, encrypted with their own rotating key, no value in the template', () => {
    const { stack, secrets } = build();
    const t = Template.fromStack(stack);
    const keyId = stack.getLogicalId(secrets.key?.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
    t.resourceCountIs('AWS::SecretsManager::Secret', 2);
    for (const field of ['apiToken', 'apiKey']) {
      t.hasResourceProperties('AWS::SecretsManager::Secret', {
        KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
        GenerateSecretString: {
          SecretStringTemplate: JSON.stringify({ [field]: '' }),
          GenerateStringKey: 'placeholder',
        },
      });
    }
    for (const secret of Object.values(t.findResources('AWS::SecretsManager::Secret'))) {
      expect(secret.Properties.SecretString).toBeUndefined();
      expect(secret.DeletionPolicy).toBe('Retain');
    }
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('grants read on one secret at a time', () => {
    const { stack, secrets, worker } = build();
    secrets.grantReadS1Token(worker);
    const t = Template.fromStack(stack);
    const s1Id = stack.getLogicalId(
      secrets.s1Secret.node.defaultChild as Parameters<Stack['getLogicalId']>[0],
    );
    const cadoId = stack.getLogicalId(
      secrets.cadoSecret.node.defaultChild as Parameters<Stack['getLogicalId']>[0],
    );
    const text = JSON.stringify(policyStatements(t));
    expect(text).toContain('secretsmanager:GetSecretValue');
    expect(text).toContain(s1Id);
    expect(text).not.toContain(cadoId);
  });
});

describe('ApiSecrets imported by ARN', () => {
  it('creates no secret and no key when both ARNs are given', () => {
    const { stack, secrets } = build({ s1SecretArn: S1_ARN, cadoSecretArn: CADO_PARTIAL_ARN });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    t.resourceCountIs('AWS::KMS::Key', 0);
    expect(secrets.key).toBeUndefined();
  });

  it('grants exactly a complete ARN, and any suffix of a partial one', () => {
    const { stack, secrets, worker } = build({ s1SecretArn: S1_ARN, cadoSecretArn: CADO_PARTIAL_ARN });
    secrets.grantReadS1Token(worker);
    secrets.grantReadCadoKey(worker);
    const resources = policyStatements(Template.fromStack(stack)).flatMap((s) => s.Resource);
    expect(resources).toContainEqual(S1_ARN);
    expect(resources).toContainEqual(`${CADO_PARTIAL_ARN}-??????`);
  });

  it('creates only the secret that is not imported', () => {
    const { stack } = build({ s1SecretArn: S1_ARN });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::SecretsManager::Secret', 1);
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { SecretStringTemplate: '{"apiKey":""}' },
    });
  });
});
