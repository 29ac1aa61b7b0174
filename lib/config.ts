/**
 * The one typed configuration of the stack, read from the `s1cado` key of the CDK context
 * (`cdk.json`) and validated once with zod. A bad value fails `cdk synth` with a {@link ConfigError}
 * whose message names the key, says what is wrong and how to fix it.
 *
 * @example
 * ```jsonc
 * // cdk.json
 * {
 *   "context": {
 *     "s1cado": {
 *       "s1ConsoleUrl": "https://usea1-example.sentinelone.net",
 *       "cadoUrl": "https://cado.example.com",
 *       "cadoProjectMode": "fixed",
 *       "cadoProjectName": "s1-threats",
 *       "cadoRoleArn": "arn:aws:iam::123456789012:role/myCadoResponseRole",
 *       "threatFilter": { "confidenceLevels": ["malicious", "suspicious"] },
 *       "notificationEmails": ["soc@example.com"]
 *     }
 *   }
 * }
 * ```
 * One key can be overridden on the command line, the value parsed as JSON when it is JSON:
 * `npx cdk synth -c s1cado.maxConcurrentAgents=10 -c 's1cado.threatFilter.osTypes=["linux"]'`.
 *
 * @module
 */
import { Construct, Node } from 'constructs';
import { z } from 'zod';
import {
  COLLECTION_MODES,
  COLLECTION_PROFILES,
  DEFAULT_COLLECTION_MODE,
  DEFAULT_DOWNLOAD_HOSTS,
  LEGAL_HOLD_MODES,
  LIMITS,
  OUTCOME_STATUSES,
  S1_RATE_LIMITS,
  type S1RateFamily,
} from '../lambdas/shared/contract';

/** The CDK context key that holds the configuration object. */
export const CONFIG_CONTEXT_KEY = 's1cado';

/** The stack name when `stackName` is not set (the CLI's default `--stack` too). */
export const DEFAULT_STACK_NAME = 'S1CadoForensics';

/** CloudFormation's rule for stack names. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/** Retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Thrown when the configuration is missing or invalid; the message lists every problem, one per line. */
export class ConfigError extends Error {
  /** One line per problem, each starting with the full key path (`s1cado.<key>`). */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(
      problems.length === 1
        ? `Invalid s1cado configuration: ${problems[0]}`
        : `Invalid s1cado configuration (${problems.length} problems):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const profileName = z.enum(COLLECTION_PROFILES, {
  error: `must be one of ${COLLECTION_PROFILES.join(', ')}`,
});
const profileBudget = z.strictObject({
  runtimeTimeoutSeconds: z.number().int().min(60).max(172_800).optional(),
  maxMb: z.number().int().min(1).max(1_048_576).optional(),
  days: z.number().int().min(1).max(3650).optional(),
  minFreeMb: z.number().int().min(0).max(1_048_576).optional(),
});
const memoryTool = z.strictObject({
  fileName: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be a plain file name (letters, digits, . _ -)'),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be the 64 hex digits of a SHA-256')
    .transform((s) => s.toLowerCase()),
});
/**
 * `collectionProfiles`; the Lambdas read it back (COLLECTION_PROFILES) with the same shape
 * (lambdas/collectors/profiles.ts `ProfileSettingsSchema`; a unit test keeps the two in step).
 */
const collectionProfilesSchema = z.strictObject({
  defaultProfile: profileName.default('triage'),
  budgets: z.partialRecord(profileName, profileBudget).default({}),
  memoryTool: z.partialRecord(z.enum(['linux', 'windows']), memoryTool).default({}),
  rules: z
    .array(
      z.strictObject({
        confidenceLevels: z.array(z.string().min(1)).min(1).optional(),
        classifications: z.array(z.string().min(1)).min(1).optional(),
        profile: profileName.refine(
          (p) => p !== 'custom',
          'custom needs paths; an intake rule cannot choose it',
        ),
      }),
    )
    .max(20, 'at most 20 rules')
    .default([]),
});

const LOOPBACK_HOSTS = new Set(['localhost', '::1', '[::1]']);

/** True for `localhost`, `127.0.0.0/8` and `::1`: hosts only local runs may use. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_HOSTS.has(h) || /^127(\.\d{1,3}){3}$/.test(h);
}

/** An AWS region name, as `{region}` in a host pattern matches it (the runtime's rule in lambdas/shared/hosts.ts). */
const AWS_REGION = '[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\\d{1,2}';

/**
 * Whether `host` matches an allowlist entry. `"*.x.y"` matches any subdomain of `x.y` at any depth
 * (`a.x.y`, `a.b.x.y`) but not `x.y` itself; `{region}` matches one AWS region name, the same one at each
 * place it occurs; any other entry matches exactly. Case-insensitive; ports are not part of the match.
 */
export function hostMatchesPattern(host: string, pattern: string): boolean {
  const h = host.toLowerCase();
  const p = pattern.toLowerCase();
  if (p.includes('{region}')) {
    const [first, ...rest] = p.split('{region}').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return new RegExp(`^${first}(${AWS_REGION})${rest.join('\\1')}$`).test(h);
  }
  if (p.startsWith('*.')) {
    return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  }
  return h === p;
}

/** Whether `host` matches any entry of `patterns` (see {@link hostMatchesPattern}). */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => hostMatchesPattern(host, p));
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
// A wildcard needs at least two labels after it: "*.com" would allow the whole TLD.
const HOST_PATTERN = new RegExp(
  `^(?:\\*\\.${LABEL}\\.${LABEL}(?:\\.${LABEL})*|${LABEL}(?:\\.${LABEL})*)$`,
  'i',
);

const hostPattern = z
  .string({ error: 'must be a host name string' })
  .refine(
    (v) =>
      (v.includes('{region}')
        ? !v.includes('*') && HOST_PATTERN.test(v.replaceAll('{region}', 'us-east-1'))
        : HOST_PATTERN.test(v)) || isLoopbackHost(v),
    {
      message:
        'must be a host name ("api.example.com"), a subdomain wildcard with at least two labels ("*.example.com"), ' +
        'or a name with {region} for an AWS region ("{region}-bucket.s3.{region}.amazonaws.com")',
    },
  );

const hostList = z.array(hostPattern, { error: 'must be a list of host names' }).min(1, 'must not be empty');

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\(\S+( \S+){5}\)$/;

/** Validates an EventBridge schedule expression: `rate(1 minute)`, `rate(5 minutes)`, or a 6-field `cron(...)`. */
function scheduleProblem(v: string): string | undefined {
  const rate = RATE.exec(v);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (n < 1) return 'a rate must be at least 1';
    // EventBridge rejects "rate(1 minutes)" and "rate(5 minute)".
    if (n === 1 && unit.endsWith('s')) return `use the singular unit for 1: "rate(1 ${unit.slice(0, -1)})"`;
    if (n > 1 && !unit.endsWith('s')) return `use the plural unit: "rate(${n} ${unit}s)"`;
    return undefined;
  }
  if (CRON.test(v)) return undefined;
  return 'must be an EventBridge schedule expression such as "rate(2 minutes)" or "cron(0 6 * * ? *)" (6 cron fields)';
}

const schedule = z.string({ error: 'must be a schedule expression string' }).superRefine((v, ctx) => {
  const problem = scheduleProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const int = (min: number, max: number) =>
  z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be between ${min} and ${max}`)
    .max(max, `must be between ${min} and ${max}`);

const urlString = z.string({ error: 'must be a URL string' }).min(1, 'must not be empty');

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[\w/+=.@-]+$/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

const threatFilterSchema = z.strictObject(
  {
    /** S1 `confidenceLevel` values that start an investigation. @default ["malicious"] */
    confidenceLevels: z
      .array(
        z.enum(['malicious', 'suspicious', 'n/a'], { error: 'must be "malicious", "suspicious" or "n/a"' }),
      )
      .min(1, 'must not be empty')
      .default(['malicious']),
    /** S1 `classification` values (e.g. "Malware", "Ransomware"); unset matches any. @default - any */
    classifications: z
      .array(z.string().min(1))
      .min(1, 'must not be empty (leave it out to match any)')
      .optional(),
    /** Endpoint OS types; the project ships collectors for these two only. @default ["windows","linux"] */
    osTypes: z
      .array(
        z.enum(['windows', 'linux'], { error: 'must be "windows" or "linux" (collectors exist for these)' }),
      )
      .min(1, 'must not be empty')
      .default(['windows', 'linux']),
    /** S1 site ids (decimal strings); unset matches every site the token can see. @default - all sites */
    siteIds: z
      .array(
        z.string().regex(/^\d{1,20}$/, 'must be S1 site ids as decimal strings, e.g. "1234567890123456789"'),
      )
      .min(1, 'must not be empty (leave it out to match every site)')
      .optional(),
  },
  { error: 'must be an object' },
);

const configSchema = z
  .strictObject(
    {
      /** SentinelOne console root, e.g. `https://usea1-acme.sentinelone.net` (no path). Required. */
      s1ConsoleUrl: urlString,
      /** Hosts the S1 console URL may use. @default ["*.sentinelone.net"] */
      s1AllowedHosts: hostList.default(['*.sentinelone.net']),
      /**
       * Hosts result downloads (pre-signed URLs from S1) may come from; anything else is refused before connecting.
       * The default is S1's own results bucket on the regional S3 endpoint, as recorded in public integrations (see
       * `DEFAULT_DOWNLOAD_HOSTS` in lambdas/shared/contract.ts); `{region}` is one AWS region name.
       * @default ["{region}-prod-remote-scripts-uploads.s3.{region}.amazonaws.com"]
       */
      downloadAllowedHosts: hostList.default([...DEFAULT_DOWNLOAD_HOSTS]),
      /**
       * The largest result Stage Output accepts, in bytes: a larger announced Content-Length fails the agent with
       * `ResultTooLargeError` before anything is uploaded. 1 MiB to 500 GiB.
       * @default 1073741824 (1 GiB: twice the collectors' 512 MiB size budget)
       */
      maxResultBytes: int(1024 * 1024, LIMITS.maxResultBytesCeiling).default(LIMITS.defaultMaxResultBytes),
      /**
       * Collections whose size budget (`--max-mb` of the collector) exceeds this many bytes go straight from the
       * endpoint to S3 through presigned part URLs instead of through S1's cloud (the `memory` profile and
       * `directUpload: true` in the input always do). 1 MiB to 500 GiB.
       * @default - only by profile or request
       */
      directUploadOverBytes: int(1024 * 1024, LIMITS.maxResultBytesCeiling).optional(),
      /** Local runs only: allow loopback hosts (and plain http to them) in URLs and allowlists. @default false */
      allowLoopback: z.boolean({ error: 'must be true or false' }).default(false),
      /** Existing Secrets Manager secret holding `{"apiToken": "..."}`. @default - the stack creates an empty one */
      s1SecretArn: z.string().regex(SECRET_ARN, 'must be a Secrets Manager secret ARN').optional(),
      /** Existing Secrets Manager secret holding `{"apiKey": "..."}`. @default - the stack creates an empty one */
      cadoSecretArn: z.string().regex(SECRET_ARN, 'must be a Secrets Manager secret ARN').optional(),
      /** Cado platform root, e.g. `https://cado.example.com`. Required. */
      cadoUrl: urlString,
      /** PEM certificate (or CA) to trust for a self-signed Cado platform. @default - public CAs only */
      cadoCaCertificate: z
        .string()
        .regex(PEM_CERT, 'must contain a PEM "-----BEGIN CERTIFICATE-----" block')
        .optional(),
      /** One Cado project per threat, or every investigation in one fixed project. @default "per-threat" */
      cadoProjectMode: z
        .enum(['per-threat', 'fixed'], { error: 'must be "per-threat" or "fixed"' })
        .default('per-threat'),
      /** The Cado project name; required when `cadoProjectMode` is "fixed". @default - none */
      cadoProjectName: z
        .string()
        .min(1, 'must not be empty')
        .max(128, 'must be at most 128 characters')
        .optional(),
      /** Cado account name passed as `cloud_id` on S3 imports. @default - Cado's own credentials */
      cadoCloudId: z.string().min(1, 'must not be empty').optional(),
      /** IAM role Cado uses to read the evidence bucket; gets read access to `investigations/` only. @default - no grant */
      cadoRoleArn: z
        .string()
        .regex(ROLE_ARN, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)')
        .optional(),
      /** Which S1 threats start an investigation. @default - malicious threats on Windows and Linux, all sites */
      threatFilter: threatFilterSchema.prefault({}),
      /** EventBridge schedule of the threat poller. @default "rate(2 minutes)" */
      pollSchedule: schedule.default('rate(2 minutes)'),
      /** Whether to deploy the authenticated threat webhook. @default false */
      webhookEnabled: z.boolean({ error: 'must be true or false' }).default(false),
      /**
       * Reserved concurrency of the webhook function: a flood of requests is refused (429) instead of taking the
       * account's concurrency from the forensic Lambdas. @default 10
       */
      webhookReservedConcurrency: int(1, 1000).default(10),
      /**
       * Reserved concurrency of the staging (Stage Output) function: capacity kept for streaming evidence, and a
       * bound on how many downloads run at once; an invocation over it is throttled and retried by the workflow.
       * At least `maxConcurrentAgents`. @default 20
       */
      stagingReservedConcurrency: int(1, 1000).default(20),
      /**
       * Collection profiles (triage, full, memory, custom): the default profile, each profile's time and size
       * budget (`triage` takes its runtime from `scriptRuntimeTimeoutSeconds` unless set here), the memory
       * acquisition tool per OS (file name in the script's S1 package and its SHA-256), and intake rules that map a
       * threat's confidence level / classification to a profile (first match wins).
       * @default - triage for everything; no memory tool
       * @example { "rules": [{ "confidenceLevels": ["malicious"], "classifications": ["Ransomware"], "profile": "full" }],
       *            "memoryTool": { "linux": { "fileName": "avml", "sha256": "<64 hex>" } } }
       */
      collectionProfiles: collectionProfilesSchema.prefault({}),
      /** `scriptRuntimeTimeoutSeconds` given to S1 for the collection script (60 s to 48 h). @default 900 */
      scriptRuntimeTimeoutSeconds: int(60, 172_800).default(900),
      /** Time beyond the script runtime allowed for an offline agent to pick the task up. @default 900 */
      taskGraceSeconds: int(0, 604_800).default(900),
      /**
       * Minutes after a collection from an agent during which another investigation of that agent reuses it
       * (its case file points at that collection's evidence) instead of running the collector again. @default 30
       */
      agentCooldownMinutes: int(0, 10_080).default(30),
      /**
       * Seconds a library script proven to be our collector (by its SHA-256) is trusted by every investigation
       * without looking the library up again (the coordination store's script cache); 0 looks it up every time.
       * @default 600
       */
      scriptLibraryCacheSeconds: int(0, 86_400).default(600),
      /**
       * Seconds a passed token preflight (S1 accepted the token, it is not expired) stands for every investigation
       * without asking S1 again (`GET /user` is limited to 2/s per token); 0 asks every time. @default 60
       */
      preflightCacheSeconds: int(0, 3600).default(60),
      /**
       * The one S1 request budget every Lambda draws from before each S1 call (DESIGN §9), per path family of S1's
       * documented per-token limits (`S1_RATE_LIMITS`: e.g. `remote-scripts` 1/s, burst 30 of which the budget
       * uses 24). `limits` overrides a family's `{ perSecond, burst }` (e.g. when S1 raised the token's limits);
       * `maxWaitSeconds` is the longest a call waits for a slot before it fails with S1RateLimitedError (retried
       * by the workflow; a handler makes a few S1 calls within its 60 s timeout); a 429 halves the family's rate for
       * `coolOffSeconds`. @default enabled, 10 s, 60 s
       */
      s1RequestBudget: z
        .strictObject({
          enabled: z.boolean({ error: 'must be true or false' }).default(true),
          maxWaitSeconds: int(0, 600).default(10),
          coolOffSeconds: int(0, 3600).default(60),
          limits: z
            .partialRecord(
              z.enum(S1_RATE_LIMITS.map((limit) => limit.family) as [S1RateFamily, ...S1RateFamily[]], {
                error: `must be one of ${S1_RATE_LIMITS.map((limit) => limit.family).join(', ')}`,
              }),
              z.strictObject({
                perSecond: z.number({ error: 'must be a number' }).positive('must be positive').max(10_000),
                burst: int(1, 100_000),
              }),
            )
            .default({}),
        })
        .prefault({}),
      /**
       * Threat intake goes through an SQS queue whose consumer starts investigations with at most this many
       * concurrent invocations (event source mapping `maxConcurrency`, 2-1000): a burst of threats starts at a
       * bounded pace instead of all at once. @default 10
       */
      intakeMaxConcurrency: int(2, 1000).default(10),
      /** How many agents one investigation collects from at once (Map MaxConcurrency). @default 5 */
      maxConcurrentAgents: int(1, 40).default(5),
      /** How long to wait for the Cado pipeline before giving up on the hand-off. @default 21600 (6 h) */
      cadoHandoffTimeoutSeconds: int(60, 604_800).default(21_600),
      /**
       * Least seconds between two looks of the Task Watcher at one running Cado pipeline (the polling fallback; the
       * gap grows to a quarter of the pipeline's age, at most 5 minutes; a Cado webhook, when enabled, wakes it at
       * once). @default 30
       */
      cadoWatchIntervalSeconds: int(10, 3600).default(30),
      /**
       * Whether to deploy the Cado webhook receiver: Cado's `processing_finished` / `processing_failed` webhooks
       * wake an immediate check of the open pipelines, authenticated by a secret the payload template carries.
       * @default false
       */
      cadoWebhookEnabled: z.boolean({ error: 'must be true or false' }).default(false),
      /**
       * How evidence is collected unless an execution says otherwise (`s1cado collect --mode`): "s1-remoteops" runs
       * our collector through S1 RemoteOps and stages the output in our bucket; "cado-xdr" asks Cado to collect
       * through its own SentinelOne integration (`POST /api/v3/import/xdr`). @default "s1-remoteops"
       */
      collectionMode: z.enum(COLLECTION_MODES).default(DEFAULT_COLLECTION_MODE),
      /** Cado's SentinelOne account (collection mode cado-xdr). @default - the only one Cado has */
      cadoXdrAccountName: z.string().min(1, 'must not be empty').optional(),
      /** Files Cado collects for profile "custom" in collection mode cado-xdr. @default - none (profile custom refused) */
      cadoXdrCustomFiles: z.array(z.string().min(1)).max(100).optional(),
      /** Days evidence objects are kept before lifecycle expiry. @default 365 */
      evidenceRetentionDays: int(1, 36_500).default(365),
      /** Object Lock (governance) default retention in days; must not exceed `evidenceRetentionDays`. @default 90 */
      objectLockDays: int(1, 36_500).default(90),
      /**
       * Object Lock mode of the default retention: GOVERNANCE (only the break-glass role could shorten it, the bucket
       * policy denies everyone else) or COMPLIANCE (nobody, not even the account root, until it expires).
       * @default "GOVERNANCE"
       */
      objectLockMode: z
        .enum(['GOVERNANCE', 'COMPLIANCE'], { error: 'must be "GOVERNANCE" or "COMPLIANCE"' })
        .default('GOVERNANCE'),
      /**
       * Legal hold placed on each evidence object as it is staged: never, when the investigation is about an S1
       * threat, or always. The workflow may place a hold, never lift one. @default "none"
       */
      legalHold: z
        .enum(LEGAL_HOLD_MODES, { error: 'must be "none", "on-threat" or "always"' })
        .default('none'),
      /**
       * The one IAM role the bucket policy lets bypass governance retention, change retention, delete object
       * versions or lift a legal hold. @default - no principal may
       */
      breakGlassRoleArn: z
        .string()
        .regex(ROLE_ARN, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)')
        .optional(),
      /** CloudWatch Logs retention for every Lambda, one of {@link LOG_RETENTION_DAYS}. @default 365 */
      logRetentionDays: z
        .number({ error: 'must be a number' })
        .refine((v) => (LOG_RETENTION_DAYS as readonly number[]).includes(v), {
          message: `must be one CloudWatch Logs accepts: ${LOG_RETENTION_DAYS.join(', ')}`,
        })
        .default(365),
      /** EventBridge schedule of the permission audit. @default "cron(0 6 * * ? *)" */
      auditSchedule: schedule.default('cron(0 6 * * ? *)'),
      /** The audit warns when the S1 token expires within this many days. @default 14 */
      tokenExpiryWarningDays: int(1, 365).default(14),
      /** Addresses subscribed to the notification topic (each must confirm by email). @default [] */
      notificationEmails: z.array(z.email('must be an email address')).default([]),
      /**
       * Investigation outcomes whose event also sends a readable summary to the notification topic (every outcome
       * goes on the bus as an event either way). `not_attempted` is retried by intake on its own.
       * @default ["complete", "partial", "failed", "staged_handoff_failed"]
       */
      /**
       * Off by default. When set, an investigation that collected evidence (`complete` or `partial`) also sets its S1
       * threat's incident status and/or analyst verdict, once. The service user then needs the role permission that
       * allows it (README: "SentinelOne setup").
       */
      threatUpdate: z
        .strictObject({
          incidentStatus: z.enum(['in_progress', 'resolved']).optional(),
          analystVerdict: z.enum(['true_positive', 'suspicious', 'false_positive']).optional(),
        })
        .optional(),
      notifyOutcomes: z
        .array(z.enum(OUTCOME_STATUSES, { error: `must be one of ${OUTCOME_STATUSES.join(', ')}` }))
        .default(['complete', 'partial', 'failed', 'staged_handoff_failed']),
      /**
       * CloudFormation stack name (and CDK construct id). A second name deploys a second, independent stack beside
       * the first in the same account and region (`-c s1cado.stackName=S1CadoForensicsTest`); the CLI then needs
       * `--stack <name>` or `S1CADO_STACK`. @default "S1CadoForensics"
       */
      stackName: z
        .string({ error: 'must be a string' })
        .regex(
          STACK_NAME,
          'must be a CloudFormation stack name: a letter, then letters, digits or hyphens (at most 128)',
        )
        .default(DEFAULT_STACK_NAME),
    },
    { error: 'must be an object' },
  )
  .superRefine((c, ctx) => {
    checkUrl(c.s1ConsoleUrl, 's1ConsoleUrl', c.allowLoopback, ctx, {
      allowed: c.s1AllowedHosts,
      fix: 'set it in cdk.json context or widen s1cado.s1AllowedHosts',
    });
    checkUrl(c.cadoUrl, 'cadoUrl', c.allowLoopback, ctx, { fix: 'set it in cdk.json context' });
    if (!c.allowLoopback) {
      for (const key of ['s1AllowedHosts', 'downloadAllowedHosts'] as const) {
        c[key].forEach((h, i) => {
          if (isLoopbackHost(h)) {
            ctx.addIssue({
              code: 'custom',
              path: [key, i],
              message: 'is a loopback host, which only local runs may use',
              params: { fix: 'remove it, or set s1cado.allowLoopback to true for a local run' },
            });
          }
        });
      }
    }
    if (c.cadoProjectMode === 'fixed' && c.cadoProjectName === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['cadoProjectName'],
        message: 'is required when s1cado.cadoProjectMode is "fixed"',
        params: { fix: 'set the Cado project name, or use cadoProjectMode "per-threat"' },
      });
    }
    if (c.stagingReservedConcurrency < c.maxConcurrentAgents) {
      ctx.addIssue({
        code: 'custom',
        path: ['stagingReservedConcurrency'],
        message: `must be at least s1cado.maxConcurrentAgents (${c.maxConcurrentAgents}): one investigation stages that many agents at once`,
        params: { fix: 'raise stagingReservedConcurrency or lower maxConcurrentAgents' },
      });
    }
    if (c.objectLockDays > c.evidenceRetentionDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['objectLockDays'],
        message: `must not exceed s1cado.evidenceRetentionDays (${c.evidenceRetentionDays})`,
        params: { fix: 'lower objectLockDays or raise evidenceRetentionDays' },
      });
    }
  });

/** Adds an issue unless `raw` is an https URL (or http on loopback when allowed) with no credentials, query or path. */
function checkUrl(
  raw: string,
  key: string,
  allowLoopback: boolean,
  ctx: z.RefinementCtx,
  opts: { allowed?: readonly string[]; fix: string },
): void {
  const fail = (message: string, fix = opts.fix) =>
    ctx.addIssue({ code: 'custom', path: [key], message, params: { fix } });
  const expected = opts.allowed ? `an https URL on ${opts.allowed.join(' or ')}` : 'an https URL';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(`must be ${expected}`);
    return;
  }
  if (url.username || url.password) {
    // Credentials in a URL end up in logs and state; tokens belong in Secrets Manager.
    ctx.addIssue({
      code: 'custom',
      path: [key],
      message: 'must not contain credentials',
      params: { fix: 'remove the user:password part; API tokens go in Secrets Manager', redact: true },
    });
    return;
  }
  if (url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    fail('must be the root URL, without path, query or fragment', `use "${url.origin}"`);
    return;
  }
  const loopback = isLoopbackHost(url.hostname);
  if (loopback && allowLoopback) {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`must be ${expected}`);
    return;
  }
  if (loopback) {
    fail(
      'points at a loopback host, which only local runs may use',
      'set s1cado.allowLoopback to true for a local run',
    );
    return;
  }
  if (url.protocol !== 'https:' || (opts.allowed && !hostAllowed(url.hostname, opts.allowed))) {
    fail(`must be ${expected}`);
  }
}

type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The validated configuration, deeply frozen. URLs are normalized to their origin (no trailing slash). */
export type S1CadoConfig = DeepReadonly<z.output<typeof configSchema>>;

/** What {@link loadConfig} accepts before validation. */
export type S1CadoConfigInput = z.input<typeof configSchema>;

/** Generic fixes by top-level key, for issues whose refinement did not name one. */
const FIXES: Partial<Record<string, string>> = {
  s1ConsoleUrl: 'set it in cdk.json context, e.g. "https://usea1-acme.sentinelone.net"',
  cadoUrl: 'set it in cdk.json context, e.g. "https://cado.example.com"',
  s1AllowedHosts: 'list host names or wildcards such as "*.sentinelone.net"',
  downloadAllowedHosts:
    'list host names or patterns such as "{region}-prod-remote-scripts-uploads.s3.{region}.amazonaws.com"',
  s1SecretArn: 'use the full ARN of an existing secret, or leave it out to have the stack create one',
  cadoSecretArn: 'use the full ARN of an existing secret, or leave it out to have the stack create one',
  cadoRoleArn: 'use the ARN of the role Cado reads the bucket with, or leave it out',
  cadoCaCertificate: 'paste the PEM text of the platform certificate, with \\n line breaks in JSON',
  stackName: 'use a name such as "S1CadoForensicsTest" (letters, digits, hyphens), or leave it out',
  pollSchedule: 'see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html',
  auditSchedule:
    'see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html',
};

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min(
        tmp + 1,
        (row[j - 1] ?? 0) + 1,
        prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function knownKeys(path: readonly PropertyKey[]): string[] {
  if (path.length === 0) return Object.keys(configSchema.shape);
  if (path.length === 1 && path[0] === 'threatFilter') return Object.keys(threatFilterSchema.shape);
  return [];
}

function formatIssue(issue: z.core.$ZodIssue, raw: unknown): string[] {
  const keyPath = (path: readonly PropertyKey[]) => [CONFIG_CONTEXT_KEY, ...path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(issue.path);
    return issue.keys.map((k) => {
      const guess = known
        .map((name) => ({ name, d: editDistance(k, name) }))
        .sort((x, y) => x.d - y.d)
        .find((x) => x.d <= 3);
      const fix = guess
        ? `did you mean ${keyPath([...issue.path, guess.name])}?`
        : `remove it; known keys: ${known.join(', ')}`;
      return `${keyPath([...issue.path, k])}: unknown key; ${fix}`;
    });
  }
  const value = valueAt(raw, issue.path);
  const params =
    issue.code === 'custom' ? (issue.params as { fix?: string; redact?: boolean } | undefined) : undefined;
  const top = String(issue.path[0] ?? '');
  if (value === undefined && issue.code === 'invalid_type') {
    return [
      `${keyPath(issue.path)}: is missing; ${FIXES[top] ?? `set it in cdk.json context under "${CONFIG_CONTEXT_KEY}"`}`,
    ];
  }
  const fix =
    params?.fix ??
    FIXES[top] ??
    `fix it in cdk.json context under "${CONFIG_CONTEXT_KEY}" (see the TSDoc in lib/config.ts)`;
  // A value that may hold a credential is never echoed into the message.
  const got = params?.redact ? '' : ` (got ${describe(value)})`;
  return [`${keyPath(issue.path)}: ${issue.message}${got}; ${fix}`];
}

function parseContextValue(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let obj = target;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      obj[key] = value;
      return;
    }
    const next = obj[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) obj[key] = {};
    obj = obj[key] as Record<string, unknown>;
  }
}

/** Reads `s1cado` plus any `s1cado.<key.path>` overrides (values from `-c` arrive as strings) from a node. */
function rawFromNode(node: Node): unknown {
  const base = parseContextValue(node.tryGetContext(CONFIG_CONTEXT_KEY));
  const all = node.getAllContext() as Record<string, unknown>;
  const prefix = `${CONFIG_CONTEXT_KEY}.`;
  const overrides = Object.keys(all).filter((k) => k.startsWith(prefix));
  if (overrides.length === 0) return base;
  const merged: Record<string, unknown> =
    base !== null && typeof base === 'object' && !Array.isArray(base)
      ? (structuredClone(base) as Record<string, unknown>)
      : {};
  for (const k of overrides.sort())
    setPath(merged, k.slice(prefix.length).split('.'), parseContextValue(all[k]));
  return merged;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates the configuration and returns it deeply frozen.
 *
 * @param source - a construct or construct `Node` (reads the `s1cado` context key and `s1cado.<key>`
 *   overrides), or the raw `s1cado` object itself (tests, tools).
 * @throws ConfigError listing every problem, each naming its key path and the fix.
 */
export function loadConfig(source: Construct | Node | unknown): S1CadoConfig {
  const raw =
    source instanceof Node
      ? rawFromNode(source)
      : Construct.isConstruct(source)
        ? rawFromNode(source.node)
        : source;
  if (raw === undefined || raw === null) {
    throw new ConfigError([
      `${CONFIG_CONTEXT_KEY}: is missing; add an "${CONFIG_CONTEXT_KEY}" object to "context" in cdk.json (the committed one has an example)`,
    ]);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((i) => formatIssue(i, raw)));
  }
  const c = result.data;
  // Normalize URLs to their origin so callers can append API paths without double slashes.
  return deepFreeze({
    ...c,
    s1ConsoleUrl: new URL(c.s1ConsoleUrl).origin,
    cadoUrl: new URL(c.cadoUrl).origin,
  });
}
