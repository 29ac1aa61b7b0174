/**
 * AWS SDK clients with timeouts and capped retries, created once per process (kept across warm invocations).
 * Local runs point them at s3rver and the AWS fake through the SDK's standard `AWS_ENDPOINT_URL_<SERVICE>`
 * variables; s3rver also needs path-style addressing (`S3_FORCE_PATH_STYLE=true`).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';

/** Every AWS call has a deadline: connect within 3 s, answer within 30 s (S3 parts get longer). */
function handler(requestTimeout = 30_000): { connectionTimeout: number; requestTimeout: number } {
  return { connectionTimeout: 3_000, requestTimeout };
}

const common = { maxAttempts: 4, retryMode: 'adaptive' as const };

let s3: S3Client | undefined;
/**
 * The S3 client (multipart parts may take a while on slow links, hence the longer request timeout).
 * `expectContinueHeader: false`: by default the SDK sends `Expect: 100-continue` on bodies of 2 MB and more, and
 * its Node handler sends every such request on a fresh agent with keep-alive off, i.e. a new TCP (and TLS)
 * connection for every 5 MiB part. Without it, parts reuse the pooled keep-alive connections (measured with
 * `npm run bench -- --only staging`: 52 connections for a 256 MiB staging, now 4).
 */
export function s3Client(): S3Client {
  s3 ??= new S3Client({
    ...common,
    requestHandler: handler(120_000),
    expectContinueHeader: false,
    forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true',
  });
  return s3;
}

let secrets: SecretsManagerClient | undefined;
/** The Secrets Manager client. */
export function secretsClient(): SecretsManagerClient {
  secrets ??= new SecretsManagerClient({ ...common, requestHandler: handler() });
  return secrets;
}

let sfn: SFNClient | undefined;
/** The Step Functions client. */
export function sfnClient(): SFNClient {
  sfn ??= new SFNClient({ ...common, requestHandler: handler() });
  return sfn;
}

let sns: SNSClient | undefined;
/** The SNS client. */
export function snsClient(): SNSClient {
  sns ??= new SNSClient({ ...common, requestHandler: handler() });
  return sns;
}

let events: EventBridgeClient | undefined;
/** The EventBridge client (threat intake). */
export function eventBridgeClient(): EventBridgeClient {
  events ??= new EventBridgeClient({ ...common, requestHandler: handler() });
  return events;
}

let ssm: SSMClient | undefined;
/** The SSM client (the threat poller's high-water mark). */
export function ssmClient(): SSMClient {
  ssm ??= new SSMClient({ ...common, requestHandler: handler() });
  return ssm;
}

let kms: KMSClient | undefined;
/** The KMS client (Record Outcome signs the final manifests). */
export function kmsClient(): KMSClient {
  kms ??= new KMSClient({ ...common, requestHandler: handler() });
  return kms;
}

let dynamo: DynamoDBClient | undefined;
/**
 * The DynamoDB client (the coordination store): single-item calls answer in milliseconds, so a short deadline per
 * attempt and three attempts bound a call to well under the callers' own timeouts.
 */
export function dynamoClient(): DynamoDBClient {
  dynamo ??= new DynamoDBClient({
    maxAttempts: 3,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
  });
  return dynamo;
}

let lambda: LambdaClient | undefined;
/** The Lambda client (asynchronous invokes: answered at once, so short deadlines and one retry). */
export function lambdaClient(): LambdaClient {
  lambda ??= new LambdaClient({ maxAttempts: 2, retryMode: 'standard', requestHandler: handler(5_000) });
  return lambda;
}

/** Drops the cached clients so the next call reads the environment again (local runs and tests). */
export function resetAwsClients(): void {
  for (const client of [s3, secrets, sfn, sns, events, ssm, kms, dynamo, lambda]) client?.destroy();
  s3 = secrets = sfn = sns = events = ssm = kms = dynamo = lambda = undefined;
}
