/** Receive Cado Webhook (see core.ts), behind a Lambda Function URL (a binary body arrives base64-encoded). */
import type { Context, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import * as z from 'zod';
import { SigningKeyReader } from '../receive-webhook/signing-key';
import { secretsClient } from '../shared/aws';
import { now } from '../shared/clock';
import { ENV, SECRET_FIELDS } from '../shared/contract';
import { openPipelines } from '../shared/coordination';
import { logger, metrics } from '../shared/observability';
import { cadoClient } from '../shared/services';
import { parseEnv } from '../shared/settings';
import { cadoPass, cadoWatchIntervalSeconds } from '../watch-tasks/cado';
import { stepFunctionsResumer } from '../watch-tasks/step-functions-resumer';
import { receiveCadoWebhook } from './core';

const settingsSchema = z.object({ [ENV.cadoWebhookSecretArn]: z.string().min(1) });
let reader: { secretArn: string; reader: SigningKeyReader } | undefined;

export async function handler(
  event: LambdaFunctionURLEvent,
  context: Context,
): Promise<LambdaFunctionURLResult> {
  logger.addContext(context);
  logger.appendKeys({ step: 'receive-cado-webhook' });
  try {
    const secretArn = parseEnv(settingsSchema, 'receive-cado-webhook')[ENV.cadoWebhookSecretArn];
    if (reader?.secretArn !== secretArn) {
      reader = {
        secretArn,
        reader: new SigningKeyReader({
          client: secretsClient(),
          secretId: secretArn,
          field: SECRET_FIELDS.cadoWebhookSecret,
        }),
      };
    }
    const secrets = reader.reader;
    const raw = event.body ?? '';
    return await receiveCadoWebhook(
      {
        method: event.requestContext?.http?.method ?? 'GET',
        body: Buffer.from(raw, event.isBase64Encoded ? 'base64' : 'utf8'),
      },
      {
        secrets: () => secrets.keys(),
        refreshSecrets: () => secrets.refresh(),
        wake: () =>
          cadoPass(
            {
              cado: cadoClient(),
              openPipelines: openPipelines(),
              resume: stepFunctionsResumer(),
              intervalSeconds: cadoWatchIntervalSeconds(),
              now,
            },
            { force: true },
          ),
      },
    );
  } catch (error) {
    // Misconfiguration (settings, the secret's shape): the caller cannot fix it, the operator can.
    logger.error('receive-cado-webhook failed', error as Error);
    return {
      statusCode: 500,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: JSON.stringify({ error: 'the webhook is not configured correctly; see the function logs' }),
    };
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
