/**
 * Secrets Manager, the part the project uses: CreateSecret, GetSecretValue (by name, full ARN or partial ARN; by
 * version id or stage), PutSecretValue (a new version becomes AWSCURRENT, the old one AWSPREVIOUS) and
 * DescribeSecret. Values live in memory and never appear in error messages.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  AwsServiceError,
  epochSeconds,
  type FakeServiceOptions,
  type Operation,
  optionalString,
  type RequestBody,
  requiredString,
} from './protocol';

interface SecretVersion {
  readonly versionId: string;
  readonly secretString?: string;
  readonly secretBinary?: string;
  readonly stages: Set<string>;
  readonly created: number;
}

interface Secret {
  readonly arn: string;
  readonly name: string;
  readonly description?: string;
  readonly created: number;
  lastChanged: number;
  readonly versions: Map<string, SecretVersion>;
}

/** Where the fake pretends to live, and its clock. */
export type SecretsManagerFakeOptions = FakeServiceOptions;

/** In-memory Secrets Manager. */
export class SecretsManagerFake {
  private readonly secrets = new Map<string, Secret>();

  constructor(private readonly opts: SecretsManagerFakeOptions) {}

  /** The operations, by name, for the server's dispatcher. */
  readonly operations: Record<string, Operation> = {
    CreateSecret: (body) => this.createSecret(body),
    GetSecretValue: (body) => this.getSecretValue(body),
    PutSecretValue: (body) => this.putSecretValue(body),
    DescribeSecret: (body) => this.describeSecret(body),
  };

  /**
   * Test helper: creates the secret or stores a new current version. Objects are stored as JSON (the project keeps
   * `{ "apiToken": ... }` / `{ "apiKey": ... }`). Returns the secret ARN.
   */
  set(name: string, value: string | Record<string, unknown>): string {
    const secretString = typeof value === 'string' ? value : JSON.stringify(value);
    const existing = this.secrets.get(name);
    if (existing) {
      this.putSecretValue({ SecretId: existing.arn, SecretString: secretString });
      return existing.arn;
    }
    return this.createSecret({ Name: name, SecretString: secretString }).ARN;
  }

  /** Test helper: the current (AWSCURRENT) string value, if any. */
  get(name: string): string | undefined {
    const secret = this.secrets.get(name);
    return secret ? this.versionByStage(secret, 'AWSCURRENT')?.secretString : undefined;
  }

  /** Test helper: the ARN of a secret. */
  arnOf(name: string): string | undefined {
    return this.secrets.get(name)?.arn;
  }

  private find(secretId: string): Secret {
    const byName = this.secrets.get(secretId);
    if (byName) return byName;
    if (secretId.startsWith('arn:')) {
      for (const secret of this.secrets.values()) {
        // A partial ARN leaves out the random 6-character suffix AWS appends to the name.
        if (secret.arn === secretId || secret.arn.startsWith(`${secretId}-`)) return secret;
      }
    }
    throw new AwsServiceError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret.",
    );
  }

  private versionByStage(secret: Secret, stage: string): SecretVersion | undefined {
    for (const version of secret.versions.values()) if (version.stages.has(stage)) return version;
    return undefined;
  }

  private addVersion(secret: Secret, body: RequestBody): SecretVersion {
    const secretString = optionalString(body, 'SecretString');
    const secretBinary = optionalString(body, 'SecretBinary');
    if ((secretString === undefined) === (secretBinary === undefined)) {
      throw new AwsServiceError(
        'InvalidParameterException',
        'Specify exactly one of SecretString or SecretBinary.',
      );
    }
    const versionId = optionalString(body, 'ClientRequestToken') ?? randomUUID();
    const existing = secret.versions.get(versionId);
    if (existing) {
      // The same token with the same value is a retry; a different value is a conflict.
      if (existing.secretString === secretString && existing.secretBinary === secretBinary) return existing;
      throw new AwsServiceError(
        'ResourceExistsException',
        'A version with this ClientRequestToken already exists.',
      );
    }
    const requested = Array.isArray(body.VersionStages) ? body.VersionStages.map(String) : ['AWSCURRENT'];
    if (requested.includes('AWSCURRENT')) {
      const previous = this.versionByStage(secret, 'AWSCURRENT');
      for (const version of secret.versions.values()) version.stages.delete('AWSPREVIOUS');
      if (previous) {
        previous.stages.delete('AWSCURRENT');
        previous.stages.add('AWSPREVIOUS');
      }
    }
    for (const stage of requested)
      for (const version of secret.versions.values()) version.stages.delete(stage);
    const version: SecretVersion = {
      versionId,
      ...(secretString !== undefined ? { secretString } : {}),
      ...(secretBinary !== undefined ? { secretBinary } : {}),
      stages: new Set(requested),
      created: this.opts.clock(),
    };
    secret.versions.set(versionId, version);
    secret.lastChanged = version.created;
    return version;
  }

  private createSecret(body: RequestBody): { ARN: string; Name: string; VersionId?: string } {
    const name = requiredString(body, 'Name');
    if (this.secrets.has(name)) {
      throw new AwsServiceError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    }
    const suffix = randomBytes(6).toString('base64url').slice(0, 6);
    const created = this.opts.clock();
    const description = optionalString(body, 'Description');
    const secret: Secret = {
      arn: `arn:aws:secretsmanager:${this.opts.region}:${this.opts.accountId}:secret:${name}-${suffix}`,
      name,
      ...(description !== undefined ? { description } : {}),
      created,
      lastChanged: created,
      versions: new Map(),
    };
    const hasValue = body.SecretString !== undefined || body.SecretBinary !== undefined;
    const version = hasValue ? this.addVersion(secret, body) : undefined;
    this.secrets.set(name, secret);
    return { ARN: secret.arn, Name: name, ...(version ? { VersionId: version.versionId } : {}) };
  }

  private getSecretValue(body: RequestBody): Record<string, unknown> {
    const secret = this.find(requiredString(body, 'SecretId'));
    const versionId = optionalString(body, 'VersionId');
    const stage = optionalString(body, 'VersionStage') ?? (versionId ? undefined : 'AWSCURRENT');
    const version = versionId
      ? secret.versions.get(versionId)
      : this.versionByStage(secret, stage ?? 'AWSCURRENT');
    if (!version || (stage !== undefined && !version.stages.has(stage))) {
      throw new AwsServiceError(
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret value for the requested version or staging label.",
      );
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      ...(version.secretString !== undefined ? { SecretString: version.secretString } : {}),
      ...(version.secretBinary !== undefined ? { SecretBinary: version.secretBinary } : {}),
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.created),
    };
  }

  private putSecretValue(body: RequestBody): Record<string, unknown> {
    const secret = this.find(requiredString(body, 'SecretId'));
    const version = this.addVersion(secret, body);
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      VersionStages: [...version.stages],
    };
  }

  private describeSecret(body: RequestBody): Record<string, unknown> {
    const secret = this.find(requiredString(body, 'SecretId'));
    const versionIdsToStages: Record<string, string[]> = {};
    for (const version of secret.versions.values()) {
      if (version.stages.size > 0) versionIdsToStages[version.versionId] = [...version.stages];
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      CreatedDate: epochSeconds(secret.created),
      LastChangedDate: epochSeconds(secret.lastChanged),
      VersionIdsToStages: versionIdsToStages,
    };
  }
}
