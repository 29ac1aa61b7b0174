import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { clearRegisteredSecrets, redact } from '../../lambdas/shared/redact';
import { SecretReader, secretCredential } from '../../lambdas/shared/secrets';

const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:s1cado/s1-api-AbCdEf';

function setup(ttlMs = 60_000) {
  const client = new SecretsManagerClient({ region: 'us-east-1' });
  const sm = mockClient(client);
  return { sm, reader: new SecretReader({ client, ttlMs }) };
}

afterEach(() => clearRegisteredSecrets());

describe('SecretReader', () => {
  it('reads the field once and serves it from the cache within the TTL', async () => {
    const { sm, reader } = setup();
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolves({
      SecretString: '{"apiToken":"s1-token-1111111111"}',
    });
    expect(await reader.get(ARN, 'apiToken')).toBe('s1-token-1111111111');
    expect(await reader.get(ARN, 'apiToken')).toBe('s1-token-1111111111');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('reads again after the TTL', async () => {
    const { sm, reader } = setup(0);
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"apiKey":"cado-key-22222222"}' });
    await reader.get(ARN, 'apiKey');
    await reader.get(ARN, 'apiKey');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('shares one in-flight read between concurrent callers', async () => {
    const { sm, reader } = setup();
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"apiToken":"s1-token-3333333333"}' });
    await Promise.all([
      reader.get(ARN, 'apiToken'),
      reader.get(ARN, 'apiToken'),
      reader.get(ARN, 'apiToken'),
    ]);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('refresh bypasses the cache and says whether the value changed', async () => {
    const { sm, reader } = setup();
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: '{"apiToken":"old-token-44444444"}' })
      .resolvesOnce({ SecretString: '{"apiToken":"new-token-55555555"}' })
      .resolves({ SecretString: '{"apiToken":"new-token-55555555"}' });
    const credential = secretCredential(reader, ARN, 'apiToken', 'ApiToken');
    expect(await credential.authorization()).toBe('ApiToken old-token-44444444');
    expect(await credential.refresh()).toBe(true);
    expect(await credential.authorization()).toBe('ApiToken new-token-55555555');
    expect(await credential.refresh()).toBe(false);
  });

  it('registers loaded values for redaction', async () => {
    const { sm, reader } = setup();
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"apiToken":"zz-token-66666666"}' });
    await reader.get(ARN, 'apiToken');
    expect(redact('header was zz-token-66666666!')).toBe('header was [REDACTED]!');
  });

  it.each([
    ['an empty field', '{"apiToken":""}', 'no non-empty "apiToken" field'],
    ['the wrong field', '{"apiKey":"cado-key-77777777"}', 'no non-empty "apiToken" field'],
    ['a non-JSON value', 'raw-token-88888888', 'is not JSON'],
  ])('explains %s without echoing the secret', async (_what, secretString, expected) => {
    const { sm, reader } = setup();
    sm.on(GetSecretValueCommand).resolves({ SecretString: secretString });
    const error = (await reader.get(ARN, 'apiToken').catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('SecretError');
    expect(error.message).toContain(expected);
    expect(error.message).toContain('s1cado/s1-api-AbCdEf');
    expect(error.message).not.toContain('raw-token-88888888');
    expect(error.message).not.toContain('cado-key-77777777');
  });

  it('wraps a Secrets Manager failure in a SecretError naming the secret', async () => {
    const { sm, reader } = setup();
    const denied = Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' });
    sm.on(GetSecretValueCommand).rejects(denied);
    await expect(reader.get(ARN, 'apiToken')).rejects.toMatchObject({
      name: 'SecretError',
      message: expect.stringContaining('AccessDeniedException'),
    });
  });
});
