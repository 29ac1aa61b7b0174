/**
 * The CLI's AWS SDK clients, configured from the CLI's environment (injectable, unlike the SDK's own reading of
 * `process.env`): region, per-service endpoint (`AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL`, which is how
 * local runs reach s3rver and the AWS fake), and static credentials when the environment holds them (else the SDK's
 * default chain: profile, SSO, instance role...). Clients are created on first use.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';

type Env = Readonly<Record<string, string | undefined>>;

/** The clients a command may use. */
export interface AwsClients {
  readonly sfn: SFNClient;
  readonly s3: S3Client;
  readonly lambda: LambdaClient;
  readonly cloudFormation: CloudFormationClient;
  /** KMS (`s1cado verify` reads the custody signing key's public key). */
  readonly kms: KMSClient;
  /** Closes the clients that were created. */
  destroy(): void;
}

/** Settings every client shares. */
function common(env: Env, service: string, region: string | undefined) {
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  const resolvedRegion = region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  return {
    // Without a region here the SDK looks in its usual places (profile, instance metadata).
    ...(resolvedRegion ? { region: resolvedRegion } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
    maxAttempts: 4,
    retryMode: 'adaptive' as const,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  };
}

/** Creates the clients lazily from `env` (and `region`, e.g. from `--region`). */
export function createAwsClients(env: Env, region?: string): AwsClients {
  let sfn: SFNClient | undefined;
  let s3: S3Client | undefined;
  let lambda: LambdaClient | undefined;
  let cloudFormation: CloudFormationClient | undefined;
  let kms: KMSClient | undefined;
  return {
    get kms() {
      kms ??= new KMSClient(common(env, 'KMS', region));
      return kms;
    },
    get sfn() {
      sfn ??= new SFNClient(common(env, 'SFN', region));
      return sfn;
    },
    get s3() {
      s3 ??= new S3Client({
        ...common(env, 'S3', region),
        forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
        ...(env.AWS_REQUEST_CHECKSUM_CALCULATION === 'WHEN_REQUIRED'
          ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const }
          : {}),
      });
      return s3;
    },
    get lambda() {
      lambda ??= new LambdaClient({
        ...common(env, 'LAMBDA', region),
        // A hand-off Lambda may run up to its own timeout; a client-side timeout must not cut it short, because the
        // SDK would then retry an invocation that may already have asked Cado for an import.
        requestHandler: { connectionTimeout: 5_000, requestTimeout: 16 * 60_000 },
      });
      return lambda;
    },
    get cloudFormation() {
      cloudFormation ??= new CloudFormationClient(common(env, 'CLOUDFORMATION', region));
      return cloudFormation;
    },
    destroy() {
      for (const client of [sfn, s3, lambda, cloudFormation, kms]) client?.destroy();
    },
  };
}
