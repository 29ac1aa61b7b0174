/**
 * The S1 and Cado clients of this process, built once from the settings and the secrets (module scope, so a warm
 * Lambda reuses connections and the cached credentials).
 */
import { dynamoClient } from './aws';
import { type CadoClient, createCadoClient } from './cado';
import { SECRET_FIELDS } from './contract';
import { budgetSettingsFromEnv, S1RequestBudget } from './coordination/budget';
import { coordinationTableName } from './coordination/table';
import { SecretReader, secretCredential } from './secrets';
import { createS1Client, type S1Client } from './sentinelone';
import { cadoSettings, s1Settings } from './settings';

let reader: SecretReader | undefined;
/** The process-wide secret cache. */
export function secretReader(): SecretReader {
  reader ??= new SecretReader();
  return reader;
}

let budget: S1RequestBudget | undefined;
/**
 * The deployment's shared S1 request budget, when the function has one (`S1_REQUEST_BUDGET` and the coordination
 * table, set by `CoordinationStore.bindS1Budget`); undefined otherwise.
 */
export function s1Budget(): S1RequestBudget | undefined {
  if (!budget) {
    const settings = budgetSettingsFromEnv();
    if (!settings) return undefined;
    budget = new S1RequestBudget({ client: dynamoClient(), tableName: coordinationTableName(), settings });
  }
  return budget;
}

let s1: S1Client | undefined;
/** The S1 client (console URL checked against the allowlist on first use), drawing on the shared budget. */
export function s1Client(): S1Client {
  if (!s1) {
    const settings = s1Settings();
    const shared = s1Budget();
    s1 = createS1Client({
      consoleUrl: settings.consoleUrl,
      credentials: secretCredential(secretReader(), settings.secretArn, SECRET_FIELDS.s1Token, 'ApiToken'),
      hostPolicy: settings.consolePolicy,
      ...(shared ? { budget: shared } : {}),
    });
  }
  return s1;
}

let cado: CadoClient | undefined;
/** The Cado client (with the platform's CA when one is configured). */
export function cadoClient(): CadoClient {
  if (!cado) {
    const settings = cadoSettings();
    cado = createCadoClient({
      baseUrl: settings.url,
      credentials: secretCredential(secretReader(), settings.secretArn, SECRET_FIELDS.cadoKey, 'Bearer'),
      caCertificate: settings.caCertificate,
      allowLoopback: settings.allowLoopback,
    });
  }
  return cado;
}

/** Forgets the clients and cached secrets (local runs that re-point the environment, and tests). */
export function resetServices(): void {
  reader = undefined;
  s1 = undefined;
  budget = undefined;
  void cado?.close();
  cado = undefined;
}
