/**
 * Runtime settings of the Lambdas, read from the environment that the CDK stack sets (and that local runs set
 * themselves). Each group is parsed once, lazily, so a function only needs the variables it uses; a missing or bad
 * variable fails with a message naming it.
 */
import * as z from 'zod';
import { COLLECTION_MODES, type CollectionMode, DEFAULT_COLLECTION_MODE } from './cado/xdr';
import { ENV, LEGAL_HOLD_MODES, type LegalHoldMode, LIMITS } from './contract';
import { ConfigError } from './errors';
import { DEFAULT_DOWNLOAD_HOSTS, DEFAULT_S1_HOSTS, type HostPolicy } from './hosts';

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A comma-separated list variable; undefined when unset or empty. */
export function envOptionalList() {
  return z
    .string()
    .optional()
    .transform((value) => {
      const items = splitList(value);
      return items.length > 0 ? items : undefined;
    });
}

/** A comma-separated list variable; `fallback` when unset or empty. */
export function envList(fallback: readonly string[]) {
  return z
    .string()
    .optional()
    .transform((value) => {
      const items = splitList(value);
      return items.length > 0 ? items : [...fallback];
    });
}

/** A `true`/`false` variable; `fallback` when unset or empty. */
export function envFlag(fallback = false) {
  return z
    .enum(['true', 'false', ''])
    .optional()
    .transform((value) => (value === undefined || value === '' ? fallback : value === 'true'));
}

/** An integer variable within [min, max]; `fallback` when unset. */
export function envInt(fallback: number, min: number, max: number) {
  return z.coerce.number().int().min(min).max(max).optional().default(fallback);
}

/** Parses the process environment with `schema`, or throws a {@link ConfigError} naming each bad variable. */
export function parseEnv<T extends z.ZodTypeAny>(schema: T, what: string): z.infer<T> {
  const result = schema.safeParse(process.env);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`Invalid ${what} settings in the Lambda environment (${issues})`);
  }
  return result.data;
}

const s1Schema = z.object({
  [ENV.s1ConsoleUrl]: z.string().min(1),
  [ENV.s1SecretArn]: z.string().min(1),
  [ENV.s1AllowedHosts]: envList(DEFAULT_S1_HOSTS),
  [ENV.downloadAllowedHosts]: envList(DEFAULT_DOWNLOAD_HOSTS),
  [ENV.allowLoopback]: envFlag(),
});

/** Where S1 is and how to reach it. */
export interface S1Settings {
  readonly consoleUrl: string;
  readonly secretArn: string;
  readonly consolePolicy: HostPolicy;
  readonly downloadPolicy: HostPolicy;
}

/** Reads the S1 settings. */
export function s1Settings(): S1Settings {
  const env = parseEnv(s1Schema, 'SentinelOne');
  return {
    consoleUrl: env[ENV.s1ConsoleUrl],
    secretArn: env[ENV.s1SecretArn],
    consolePolicy: { allowedHosts: env[ENV.s1AllowedHosts], allowLoopback: env[ENV.allowLoopback] },
    downloadPolicy: { allowedHosts: env[ENV.downloadAllowedHosts], allowLoopback: env[ENV.allowLoopback] },
  };
}

const cadoSchema = z.object({
  [ENV.cadoUrl]: z.string().min(1),
  [ENV.cadoSecretArn]: z.string().min(1),
  [ENV.cadoCaCert]: z.string().optional(),
  [ENV.cadoProjectMode]: z.enum(['per-threat', 'fixed']).optional().default('per-threat'),
  [ENV.cadoProjectName]: z.string().optional(),
  [ENV.cadoCloudId]: z.string().optional(),
  [ENV.cadoHandoffTimeoutSeconds]: envInt(6 * 3600, 60, 7 * 24 * 3600),
  [ENV.allowLoopback]: envFlag(),
});

/** Where Cado is and how the hand-off behaves. */
export interface CadoSettings {
  readonly url: string;
  readonly secretArn: string;
  readonly caCertificate: string | undefined;
  readonly projectMode: 'per-threat' | 'fixed';
  readonly projectName: string | undefined;
  readonly cloudId: string | undefined;
  readonly handoffTimeoutSeconds: number;
  readonly allowLoopback: boolean;
}

/** Reads the Cado settings. */
export function cadoSettings(): CadoSettings {
  const env = parseEnv(cadoSchema, 'Cado');
  if (env[ENV.cadoProjectMode] === 'fixed' && !env[ENV.cadoProjectName]) {
    throw new ConfigError(`${ENV.cadoProjectName} is required when ${ENV.cadoProjectMode} is "fixed"`);
  }
  return {
    url: env[ENV.cadoUrl],
    secretArn: env[ENV.cadoSecretArn],
    caCertificate: env[ENV.cadoCaCert] || undefined,
    projectMode: env[ENV.cadoProjectMode],
    projectName: env[ENV.cadoProjectName] || undefined,
    cloudId: env[ENV.cadoCloudId] || undefined,
    handoffTimeoutSeconds: env[ENV.cadoHandoffTimeoutSeconds],
    allowLoopback: env[ENV.allowLoopback],
  };
}

const evidenceSchema = z.object({
  [ENV.evidenceBucket]: z.string().min(3),
});

/** The evidence bucket's name (set, with the function's grant, by the EvidenceBucket construct's `bind*`). */
export function evidenceBucketName(): string {
  return parseEnv(evidenceSchema, 'evidence bucket')[ENV.evidenceBucket];
}

const legalHoldSchema = z.object({ [ENV.evidenceLegalHold]: z.enum(LEGAL_HOLD_MODES).default('none') });

/** The legal hold Stage Output places (`EvidenceBucket.bindStaging` sets it). @default "none" */
export function evidenceLegalHold(): LegalHoldMode {
  return parseEnv(legalHoldSchema, 'evidence legal hold')[ENV.evidenceLegalHold];
}

const threatNoteSchema = z.object({ [ENV.threatNote]: z.enum(['true', 'false']).default('false') });

/** Whether Record Outcome adds the evidence record to the investigation's S1 threat as a note. @default false */
export function threatNotesEnabled(): boolean {
  return parseEnv(threatNoteSchema, 'threat notes')[ENV.threatNote] === 'true';
}

const outcomeBusSchema = z.object({ [ENV.outcomeBusName]: z.string().min(1).max(256).optional() });

/** The bus Record Outcome puts outcome events on (`OutcomeNotifications.bindPublisher` sets it); undefined: none. */
export function outcomeBusName(): string | undefined {
  return parseEnv(outcomeBusSchema, 'outcome events')[ENV.outcomeBusName];
}

const threatUpdateSchema = z.object({
  [ENV.threatUpdate]: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text === '') return undefined;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .strictObject({
          incidentStatus: z.enum(['in_progress', 'resolved']).optional(),
          analystVerdict: z.enum(['true_positive', 'suspicious', 'false_positive']).optional(),
        })
        .optional(),
    ),
});

/** The threat update Record Outcome makes after a collection (`config.threatUpdate`); undefined: none. */
export function threatUpdateSettings(): z.infer<typeof threatUpdateSchema>[typeof ENV.threatUpdate] {
  return parseEnv(threatUpdateSchema, 'threat update')[ENV.threatUpdate];
}

const signingSchema = z.object({
  [ENV.manifestSigningKeyArn]: z
    .string()
    .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'a KMS key ARN')
    .optional(),
});

/** The KMS key that signs the final manifests (`CustodySigning.bindSigner` sets it); undefined when none is set. */
export function manifestSigningKeyArn(): string | undefined {
  return parseEnv(signingSchema, 'manifest signing')[ENV.manifestSigningKeyArn];
}

const workflowSchema = z.object({
  [ENV.scriptRuntimeTimeoutSeconds]: envInt(900, 60, 172_800),
  [ENV.taskGraceSeconds]: envInt(900, 0, 604_800),
  [ENV.agentCooldownMinutes]: envInt(30, 0, 10_080),
});

const scriptCacheSchema = z.object({ [ENV.scriptLibraryCacheSeconds]: envInt(600, 0, 86_400) });

const preflightCacheSchema = z.object({ [ENV.preflightCacheSeconds]: envInt(60, 0, 3600) });

/** Seconds a passed token preflight is shared (`preflightCacheSeconds`); 0: no cache. */
export function preflightCacheSeconds(): number {
  return parseEnv(preflightCacheSchema, 'preflight cache')[ENV.preflightCacheSeconds];
}

/** Seconds Ensure Scripts trusts a cached library proof (`scriptLibraryCacheSeconds`); 0: no cache. */
export function scriptLibraryCacheSeconds(): number {
  return parseEnv(scriptCacheSchema, 'script library cache')[ENV.scriptLibraryCacheSeconds];
}

/** How collections run. */
export interface WorkflowSettings {
  readonly scriptRuntimeTimeoutSeconds: number;
  readonly taskGraceSeconds: number;
  /** Minutes a collection from an agent is reused by other investigations of it. */
  readonly agentCooldownMinutes: number;
}

/** Reads the workflow settings. */
export function workflowSettings(): WorkflowSettings {
  const env = parseEnv(workflowSchema, 'workflow');
  return {
    scriptRuntimeTimeoutSeconds: env[ENV.scriptRuntimeTimeoutSeconds],
    taskGraceSeconds: env[ENV.taskGraceSeconds],
    agentCooldownMinutes: env[ENV.agentCooldownMinutes],
  };
}

const stagingSchema = z.object({
  [ENV.maxResultBytes]: envInt(LIMITS.defaultMaxResultBytes, 1024 * 1024, LIMITS.maxResultBytesCeiling),
});

/** Reads the largest result Stage Output accepts (`maxResultBytes` of the config), in bytes. */
export function maxResultBytes(): number {
  return parseEnv(stagingSchema, 'staging')[ENV.maxResultBytes];
}

const directUploadSchema = z.object({
  [ENV.directUploadOverBytes]: envInt(0, 0, LIMITS.maxResultBytesCeiling),
  [ENV.directUploadRoleArn]: z.string().optional(),
});

/** Prepare Upload / Run Script: the direct-to-S3 settings (size threshold in bytes, 0 = never by size; signing role). */
export function directUploadSettings(): { overBytes: number | undefined; roleArn: string | undefined } {
  const env = parseEnv(directUploadSchema, 'direct upload');
  const over = env[ENV.directUploadOverBytes];
  const role = env[ENV.directUploadRoleArn];
  return {
    overBytes: over > 0 ? over : undefined,
    roleArn: role === undefined || role === '' ? undefined : role,
  };
}

const xdrSchema = z.object({
  [ENV.collectionMode]: z.enum(COLLECTION_MODES).optional().default(DEFAULT_COLLECTION_MODE),
  [ENV.cadoXdrAccountName]: z.string().optional(),
  /** A JSON array of paths (paths may hold commas, so no comma list). */
  [ENV.cadoXdrCustomFiles]: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (!value) return [];
      try {
        return z.array(z.string().min(1)).parse(JSON.parse(value));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of file paths' });
        return z.NEVER;
      }
    }),
});

/** Collection mode `cado-xdr`: the default mode and how Cado is asked to collect. */
export interface XdrSettings {
  readonly defaultMode: CollectionMode;
  /** Cado's SentinelOne account; unset, the only one Cado has is used. */
  readonly accountName: string | undefined;
  /** The files profile `custom` asks Cado for. */
  readonly customFiles: readonly string[];
}

/** Reads the collection-mode settings. */
export function xdrSettings(): XdrSettings {
  const env = parseEnv(xdrSchema, 'collection mode');
  return {
    defaultMode: env[ENV.collectionMode],
    accountName: env[ENV.cadoXdrAccountName] || undefined,
    customFiles: env[ENV.cadoXdrCustomFiles],
  };
}
