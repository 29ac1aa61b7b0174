/**
 * Runtime settings of the Lambdas, read from the environment that the CDK stack sets (and that local runs set
 * themselves). Each group is parsed once, lazily, so a function only needs the variables it uses; a missing or bad
 * variable fails with a message naming it.
 */
import { z } from 'zod';
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
  S1_CONSOLE_URL: z.string().min(1),
  S1_SECRET_ARN: z.string().min(1),
  S1_ALLOWED_HOSTS: envList(DEFAULT_S1_HOSTS),
  DOWNLOAD_ALLOWED_HOSTS: envList(DEFAULT_DOWNLOAD_HOSTS),
  ALLOW_LOOPBACK: envFlag(),
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
    consoleUrl: env.S1_CONSOLE_URL,
    secretArn: env.S1_SECRET_ARN,
    consolePolicy: { allowedHosts: env.S1_ALLOWED_HOSTS, allowLoopback: env.ALLOW_LOOPBACK },
    downloadPolicy: { allowedHosts: env.DOWNLOAD_ALLOWED_HOSTS, allowLoopback: env.ALLOW_LOOPBACK },
  };
}

const cadoSchema = z.object({
  CADO_URL: z.string().min(1),
  CADO_SECRET_ARN: z.string().min(1),
  CADO_CA_CERT: z.string().optional(),
  CADO_PROJECT_MODE: z.enum(['per-threat', 'fixed']).optional().default('per-threat'),
  CADO_PROJECT_NAME: z.string().optional(),
  CADO_CLOUD_ID: z.string().optional(),
  CADO_HANDOFF_TIMEOUT_SECONDS: envInt(6 * 3600, 60, 7 * 24 * 3600),
  ALLOW_LOOPBACK: envFlag(),
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
  if (env.CADO_PROJECT_MODE === 'fixed' && !env.CADO_PROJECT_NAME) {
    throw new ConfigError('CADO_PROJECT_NAME is required when CADO_PROJECT_MODE is "fixed"');
  }
  return {
    url: env.CADO_URL,
    secretArn: env.CADO_SECRET_ARN,
    caCertificate: env.CADO_CA_CERT || undefined,
    projectMode: env.CADO_PROJECT_MODE,
    projectName: env.CADO_PROJECT_NAME || undefined,
    cloudId: env.CADO_CLOUD_ID || undefined,
    handoffTimeoutSeconds: env.CADO_HANDOFF_TIMEOUT_SECONDS,
    allowLoopback: env.ALLOW_LOOPBACK,
  };
}

const workflowSchema = z.object({
  EVIDENCE_BUCKET: z.string().min(3),
  SCRIPT_RUNTIME_TIMEOUT_SECONDS: envInt(900, 60, 172_800),
  TASK_GRACE_SECONDS: envInt(900, 0, 604_800),
});

/** How collections run and where evidence goes. */
export interface WorkflowSettings {
  readonly evidenceBucket: string;
  readonly scriptRuntimeTimeoutSeconds: number;
  readonly taskGraceSeconds: number;
}

/** Reads the workflow settings. */
export function workflowSettings(): WorkflowSettings {
  const env = parseEnv(workflowSchema, 'workflow');
  return {
    evidenceBucket: env.EVIDENCE_BUCKET,
    scriptRuntimeTimeoutSeconds: env.SCRIPT_RUNTIME_TIMEOUT_SECONDS,
    taskGraceSeconds: env.TASK_GRACE_SECONDS,
  };
}
