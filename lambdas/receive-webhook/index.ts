/**
 * Receive Webhook (see core.ts), behind a Lambda Function URL. Function URLs deliver header names in lower case and
 * a binary or non-text body base64-encoded; the signature is checked over the bytes as sent.
 */
import type { Context, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { eventBridgeClient, secretsClient } from '../shared/aws';
import { now } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { threatFilterFromEnv, webhookSettings } from '../shared/intake/settings';
import { logger, metrics } from '../shared/observability';
import { s1Client } from '../shared/services';
import { receiveWebhook } from './core';
import { SigningKeyReader } from './signing-key';

let keys: { secretArn: string; reader: SigningKeyReader } | undefined;

export async function handler(
  event: LambdaFunctionURLEvent,
  context: Context,
): Promise<LambdaFunctionURLResult> {
  logger.addContext(context);
  logger.appendKeys({ step: 'receive-webhook' });
  try {
    const settings = webhookSettings();
    if (keys?.secretArn !== settings.secretArn) {
      keys = {
        secretArn: settings.secretArn,
        reader: new SigningKeyReader({ client: secretsClient(), secretId: settings.secretArn }),
      };
    }
    const { reader } = keys;
    const raw = event.body ?? '';
    return await receiveWebhook(
      {
        method: event.requestContext?.http?.method ?? 'GET',
        headers: event.headers ?? {},
        body: Buffer.from(raw, event.isBase64Encoded ? 'base64' : 'utf8'),
      },
      {
        signingKeys: () => reader.keys(),
        refreshSigningKey: () => reader.refresh(),
        s1: settings.verifyWithS1 ? s1Client() : undefined,
        events: eventBridgeClient(),
        eventBusName: settings.eventBusName,
        nonces: coordinationStore(),
        filter: threatFilterFromEnv(),
        now,
        maxBodyBytes: settings.maxBodyBytes,
        maxSkewSeconds: settings.maxSkewSeconds,
      },
    );
  } catch (error) {
    // Misconfiguration (settings, the secret's shape): the caller cannot fix it, the operator can.
    logger.error('receive-webhook failed', error as Error);
    return {
      statusCode: 500,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: JSON.stringify({ error: 'the webhook is not configured correctly; see the function logs' }),
    };
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
