import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV, SECRET_FIELDS } from '../../lambdas/shared/contract';
import type { S1CadoConfig } from '../config';

/** JSON field of the S1 secret that holds the API token (the contract's, which the handlers read). */
export const S1_TOKEN_FIELD = SECRET_FIELDS.s1Token;

/** JSON field of the Cado secret that holds the API key (the contract's). */
export const CADO_KEY_FIELD = SECRET_FIELDS.cadoKey;

/** Where S1 and Cado are and how the handlers may reach them: the part of the config the bound functions get. */
export type ApiEndpoints = Pick<
  S1CadoConfig,
  | 's1ConsoleUrl'
  | 's1AllowedHosts'
  | 'downloadAllowedHosts'
  | 'allowLoopback'
  | 'cadoUrl'
  | 'cadoProjectMode'
  | 'cadoProjectName'
  | 'cadoCloudId'
  | 'cadoCaCertificate'
  | 'cadoHandoffTimeoutSeconds'
>;

/** Properties of {@link ApiSecrets}. */
export interface ApiSecretsProps {
  /**
   * Where S1 and Cado are (pass the config): what {@link ApiSecrets.bindS1} and {@link ApiSecrets.bindCado} put
   * into a function's environment beside the secret's ARN.
   * @default - the secrets can be granted but not bound
   */
  readonly endpoints?: ApiEndpoints;
  /**
   * ARN of an existing secret holding `{"apiToken": "..."}` (`config.s1SecretArn`). A complete ARN
   * (ending in the 6-character suffix Secrets Manager adds) or a partial one (ending at the name). A
   * name that itself ends in "-" and six letters or digits must be given as the complete ARN.
   * @default - an empty secret is created
   */
  readonly s1SecretArn?: string;
  /**
   * ARN of an existing secret holding `{"apiKey": "..."}` (`config.cadoSecretArn`).
   * @default - an empty secret is created
   */
  readonly cadoSecretArn?: string;
}

// A complete secret ARN ends with "-" and the 6 random characters Secrets Manager appends to the name.
const COMPLETE_SECRET_ARN = /:secret:.+-[A-Za-z0-9]{6}$/;

/**
 * The two API credentials: the S1 service-user token and the Cado API key, in Secrets Manager.
 *
 * Secrets the stack creates start empty (`{"apiToken": ""}` / `{"apiKey": ""}`, plus a random
 * `placeholder` field because CloudFormation can only create a secret with a generated value) and are
 * encrypted with a key of their own. Set the real value once deployed, e.g.
 * `aws secretsmanager put-secret-value --secret-id <S1SecretArn> --secret-string file://token.json`.
 * Rotation is manual: both tokens are issued in the S1 and Cado consoles.
 *
 * Imported secrets are used as they are; if one is encrypted with a customer-managed key, that key's
 * policy must allow the reading functions to decrypt.
 */
export class ApiSecrets extends Construct {
  /** The secret holding `{"apiToken": "..."}` for the S1 management API. */
  readonly s1Secret: ISecret;
  /** The secret holding `{"apiKey": "..."}` for the Cado API. */
  readonly cadoSecret: ISecret;
  /** The key encrypting the secrets this construct created; undefined when both are imported. */
  readonly key?: Key;
  private readonly endpoints: ApiEndpoints | undefined;
  private s1Budget: ((fn: LambdaFunction) => void) | undefined;

  constructor(scope: Construct, id: string, props: ApiSecretsProps = {}) {
    super(scope, id);
    this.endpoints = props.endpoints;
    if (props.s1SecretArn === undefined || props.cadoSecretArn === undefined) {
      this.key = new Key(this, 'Key', {
        description: 'Encrypts the SentinelOne and Cado API credentials',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
    this.s1Secret = this.secret(
      'S1ApiToken',
      props.s1SecretArn,
      S1_TOKEN_FIELD,
      'SentinelOne service-user API token',
    );
    this.cadoSecret = this.secret('CadoApiKey', props.cadoSecretArn, CADO_KEY_FIELD, 'Cado platform API key');
  }

  /** Lets `grantee` read the S1 API token secret (and decrypt it, for a created secret). */
  grantReadS1Token(grantee: IGrantable): Grant {
    return this.s1Secret.grantRead(grantee);
  }

  /** Lets `grantee` read the Cado API key secret (and decrypt it, for a created secret). */
  grantReadCadoKey(grantee: IGrantable): Grant {
    return this.cadoSecret.grantRead(grantee);
  }

  /**
   * Makes `fn` an S1 client: sets the S1 settings the handlers read (console URL, host allowlists, the secret's
   * ARN) and lets it read the token. The one way a function gets S1 access, so settings and grant cannot drift.
   */
  bindS1(fn: LambdaFunction): Grant {
    const endpoints = this.requireEndpoints('bindS1');
    const environment: Record<string, string> = {
      [ENV.s1ConsoleUrl]: endpoints.s1ConsoleUrl,
      [ENV.s1SecretArn]: this.s1Secret.secretArn,
      [ENV.s1AllowedHosts]: endpoints.s1AllowedHosts.join(','),
      [ENV.downloadAllowedHosts]: endpoints.downloadAllowedHosts.join(','),
      [ENV.allowLoopback]: String(endpoints.allowLoopback),
    };
    for (const [key, value] of Object.entries(environment)) fn.addEnvironment(key, value);
    this.s1Budget?.(fn);
    return this.grantReadS1Token(fn);
  }

  /**
   * Makes every later {@link ApiSecrets.bindS1} also give the function the shared S1 request budget (the stack
   * passes `CoordinationStore.bindS1Budget`), so that no S1 client can be bound without it.
   */
  useS1Budget(bind: (fn: LambdaFunction) => void): void {
    this.s1Budget = bind;
  }

  /**
   * Makes `fn` a Cado client: sets the Cado settings the handlers read (URL, project, cloud, CA, hand-off
   * deadline, the secret's ARN) and lets it read the key.
   */
  bindCado(fn: LambdaFunction): Grant {
    const endpoints = this.requireEndpoints('bindCado');
    const environment: Record<string, string> = {
      [ENV.cadoUrl]: endpoints.cadoUrl,
      [ENV.cadoSecretArn]: this.cadoSecret.secretArn,
      [ENV.cadoProjectMode]: endpoints.cadoProjectMode,
      [ENV.cadoHandoffTimeoutSeconds]: String(endpoints.cadoHandoffTimeoutSeconds),
      [ENV.allowLoopback]: String(endpoints.allowLoopback),
      ...(endpoints.cadoProjectName ? { [ENV.cadoProjectName]: endpoints.cadoProjectName } : {}),
      ...(endpoints.cadoCloudId ? { [ENV.cadoCloudId]: endpoints.cadoCloudId } : {}),
      ...(endpoints.cadoCaCertificate ? { [ENV.cadoCaCert]: endpoints.cadoCaCertificate } : {}),
    };
    for (const [key, value] of Object.entries(environment)) fn.addEnvironment(key, value);
    return this.grantReadCadoKey(fn);
  }

  private requireEndpoints(method: string): ApiEndpoints {
    if (!this.endpoints) {
      throw new Error(
        `ApiSecrets ${this.node.id}: ${method} needs the endpoints (pass props.endpoints, the config)`,
      );
    }
    return this.endpoints;
  }

  private secret(id: string, arn: string | undefined, field: string, what: string): ISecret {
    if (arn !== undefined) {
      return COMPLETE_SECRET_ARN.test(arn)
        ? Secret.fromSecretCompleteArn(this, id, arn)
        : Secret.fromSecretPartialArn(this, id, arn);
    }
    const secret = new Secret(this, id, {
      description: `${what} for s1-cado-forensics, as {"${field}": "..."}; set it after deploying`,
      encryptionKey: this.key,
      removalPolicy: RemovalPolicy.RETAIN,
      generateSecretString: {
        // The template carries the empty field the handlers read; the generated value goes into an
        // unused "placeholder" field, so no credential ever sits in the template.
        secretStringTemplate: JSON.stringify({ [field]: '' }),
        generateStringKey: 'placeholder',
        excludePunctuation: true,
        passwordLength: 16,
      },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: `The ${what} is issued in its own console and cannot be rotated by a Lambda; rotate it there and put the new value.`,
    });
    return secret;
  }
}
