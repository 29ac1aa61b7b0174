import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { type ApiEndpoints, ApiSecrets, type ApiSecretsProps } from '../../lib/constructs/api-secrets';
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

describe('ApiSecrets binding a function', () => {
  const endpoints: ApiEndpoints = {
    s1ConsoleUrl: 'https://usea1-example.sentinelone.net',
    s1AllowedHosts: ['*.sentinelone.net'],
    downloadAllowedHosts: ['*.amazonaws.com', 'downloads.example.com'],
    allowLoopback: false,
    cadoUrl: 'https://cado.example.com',
    cadoProjectMode: 'fixed',
    cadoProjectName: 's1-threats',
    cadoCloudId: '7',
    cadoCaCertificate: undefined,
    cadoHandoffTimeoutSeconds: 3600,
  };

  function bound(
    bind: (secrets: ApiSecrets, fn: LambdaFunction) => void,
    props: ApiSecretsProps = { endpoints },
  ) {
    const stack = new Stack(apps.app(), 'T');
    const secrets = new ApiSecrets(stack, 'ApiSecrets', props);
    const fn = new LambdaFunction(stack, 'Fn', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({})'),
    });
    bind(secrets, fn);
    const t = Template.fromStack(stack);
    const [resource] = Object.values(t.findResources('AWS::Lambda::Function'));
    const id = (c: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(c.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
    return {
      env: resource?.Properties.Environment?.Variables as Record<string, unknown>,
      granted: JSON.stringify(policyStatements(t)),
      s1Id: props.s1SecretArn ? '' : id(secrets.s1Secret),
      cadoId: props.cadoSecretArn ? '' : id(secrets.cadoSecret),
    };
  }

  it('bindS1 sets the S1 settings and the secret ARN, and grants reading that secret only', () => {
    const { env, granted, s1Id, cadoId } = bound((secrets, fn) => secrets.bindS1(fn));
    expect(env).toEqual({
      S1_CONSOLE_URL: 'https://usea1-example.sentinelone.net',
      S1_SECRET_ARN: { Ref: s1Id },
      S1_ALLOWED_HOSTS: '*.sentinelone.net',
      DOWNLOAD_ALLOWED_HOSTS: '*.amazonaws.com,downloads.example.com',
      ALLOW_LOOPBACK: 'false',
    });
    expect(granted).toContain('secretsmanager:GetSecretValue');
    expect(granted).toContain(s1Id);
    expect(granted).not.toContain(cadoId);
  });

  it('bindCado sets every Cado setting the handlers read, and grants reading the Cado secret only', () => {
    const { env, granted, s1Id, cadoId } = bound((secrets, fn) => secrets.bindCado(fn));
    expect(env).toEqual({
      CADO_URL: 'https://cado.example.com',
      CADO_SECRET_ARN: { Ref: cadoId },
      CADO_PROJECT_MODE: 'fixed',
      CADO_PROJECT_NAME: 's1-threats',
      CADO_CLOUD_ID: '7',
      CADO_HANDOFF_TIMEOUT_SECONDS: '3600',
      ALLOW_LOOPBACK: 'false',
    });
    expect(granted).toContain(cadoId);
    expect(granted).not.toContain(s1Id);
  });

  it('binds imported secrets by their ARN', () => {
    const { env, granted } = bound((secrets, fn) => secrets.bindS1(fn), { endpoints, s1SecretArn: S1_ARN });
    expect(env.S1_SECRET_ARN).toBe(S1_ARN);
    expect(granted).toContain(S1_ARN);
  });

  it('refuses to bind without the endpoints, naming the fix', () => {
    expect(() => bound((secrets, fn) => secrets.bindS1(fn), {})).toThrow(/bindS1 needs the endpoints/);
  });
});
