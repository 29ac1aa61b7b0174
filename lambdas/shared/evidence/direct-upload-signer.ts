/**
 * The credentials direct-upload part URLs are signed with. Deployed, Run Script assumes the upload-signing role
 * with a session policy that allows `s3:PutObject` on the one evidence key (and the KMS calls a part upload makes),
 * for the URLs' lifetime: a URL signed by that session can do nothing else, whatever its query says, and stops
 * working when the session ends. Without a role (local runs) the process's own credentials sign.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { DirectUpload } from '../schemas';

/** The session policy of one upload: that key only. */
export function sessionPolicy(upload: DirectUpload, partition = 'aws'): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: `arn:${partition}:s3:::${upload.bucket}/${upload.key}`,
      },
      // SSE-KMS: every part is encrypted with a data key; the role's own policy names the bucket's key.
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*' },
    ],
  });
}

/**
 * An S3 client whose credentials sign the part URLs of `upload` for `seconds`. It never sends a request itself.
 * Checksums only when required: the SDK would otherwise put a checksum of an empty body into the presigned query.
 */
export function signerClient(upload: DirectUpload, roleArn: string | undefined, seconds: number): S3Client {
  return new S3Client({
    forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    ...(roleArn
      ? {
          credentials: fromTemporaryCredentials({
            params: {
              RoleArn: roleArn,
              RoleSessionName: `s1cado-upload-${upload.uploadId.slice(0, 32).replace(/[^\w+=,.@-]/g, '')}`,
              // An assumed role session lasts 15 minutes to 12 hours (the role's MaxSessionDuration is 12 h).
              DurationSeconds: Math.max(900, seconds),
              Policy: sessionPolicy(upload, roleArn.split(':')[1] ?? 'aws'),
            },
          }),
        }
      : {}),
  });
}
