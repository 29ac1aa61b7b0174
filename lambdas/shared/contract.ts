/**
 * The contract between the infrastructure (`lib/`) and the runtime (`lambdas/`): every name and limit both sides
 * must agree on, declared once. The CDK constructs import this file and nothing else from `lambdas/` (Biome's
 * `noRestrictedImports` in biome.json enforces it), so it imports nothing itself: no zod, no SDK, no other module.
 *
 * - {@link ERRORS}: the name of every error the project throws on purpose and whether trying again may succeed;
 *   the classes in `errors.ts` take their `retryable` flag from it, and {@link RETRY_ON} lists the names each
 *   Step Functions `Retry` matches (the compiler refuses a name in a Retry that is not retryable here).
 * - {@link THREAT_EVENT}: `Source` and `DetailType` of intake events (the rule's pattern and the publishers).
 * - {@link ENV}: the environment variables the constructs set and the handlers read.
 * - {@link COORDINATION_TABLE}: key and TTL attribute names of the coordination store's table.
 * - {@link LIMITS}: bounds the state machine is sized by and the input schema enforces.
 */

/**
 * Every error this project throws deliberately, by name (the class name and its `name`), with `retryable`: true
 * when trying again later may succeed (throttling, 5xx, network, a lagging or expired result link).
 */
export const ERRORS = {
  // SentinelOne
  S1RateLimitedError: { retryable: true },
  S1TransientError: { retryable: true },
  S1AuthError: { retryable: false },
  S1ForbiddenError: { retryable: false },
  S1NotFoundError: { retryable: false },
  S1ValidationError: { retryable: false },
  S1TlsError: { retryable: false },
  S1ResponseError: { retryable: false },
  S1ExecutionNotStartedError: { retryable: false },
  S1ApprovalRequiredError: { retryable: false },
  S1RemoteOpsRefusedError: { retryable: false },
  S1ExecuteOutcomeUnknownError: { retryable: false },
  AgentCollectionSharedError: { retryable: false },
  // Cado
  CadoRateLimitedError: { retryable: true },
  CadoTransientError: { retryable: true },
  CadoAuthError: { retryable: false },
  CadoForbiddenError: { retryable: false },
  CadoNotFoundError: { retryable: false },
  CadoValidationError: { retryable: false },
  CadoConflictError: { retryable: false },
  CadoTlsError: { retryable: false },
  CadoResponseError: { retryable: false },
  CadoXdrImportOutcomeUnknownError: { retryable: false },
  CadoXdrAccountError: { retryable: false },
  // Local failures
  InputValidationError: { retryable: false },
  ConfigError: { retryable: false },
  HostNotAllowedError: { retryable: false },
  SecretError: { retryable: false },
  // Evidence
  DownloadError: { retryable: false },
  DownloadInterruptedError: { retryable: true },
  DownloadLinkExpiredError: { retryable: true },
  ResultNotAvailableError: { retryable: true },
  EvidenceIntegrityError: { retryable: false },
  CaseNotFoundError: { retryable: false },
  ResultTooLargeError: { retryable: false },
  DirectUploadError: { retryable: false },
  // Preflight, audit and intake
  PreflightFailedError: { retryable: false },
  AuditDeliveryError: { retryable: false },
  ThreatPublishError: { retryable: true },
  HighWaterMarkError: { retryable: true },
  // Operator actions (s1cado cancel, s1cado backfill)
  InvestigationNotRunningError: { retryable: false },
  // Coordination store
  CoordinationStoreError: { retryable: true },
} as const satisfies Record<string, { readonly retryable: boolean }>;

/** The name of an error this project throws on purpose. */
export type ErrorName = keyof typeof ERRORS;

/** The names of the errors whose `retryable` flag is true. */
export type RetryableErrorName = {
  [N in ErrorName]: (typeof ERRORS)[N]['retryable'] extends true ? N : never;
}[ErrorName];

/**
 * The error names each group of Step Functions `Retry` matches. Only retryable names type-check here; the infra
 * tests walk the synthesized definitions and check every retried name against the error classes as well.
 */
export const RETRY_ON = {
  /** S1 throttling (429): retried patiently, a burst of investigations shares one token. */
  s1Throttling: ['S1RateLimitedError'],
  /** S1 5xx, connection failures and timeouts: retried briefly. */
  s1Transient: ['S1TransientError'],
  /** Cado throttling (429). */
  cadoThrottling: ['CadoRateLimitedError'],
  /** Cado 5xx, connection failures and timeouts. */
  cadoTransient: ['CadoTransientError'],
  /** The coordination store (DynamoDB) failed: nothing it guards has happened yet. */
  coordination: ['CoordinationStoreError'],
  /** Download failures worth another full attempt of Stage Output. */
  staging: ['DownloadInterruptedError', 'DownloadLinkExpiredError', 'ResultNotAvailableError'],
} as const satisfies Record<string, readonly RetryableErrorName[]>;

/**
 * The outcome events Record Outcome puts on the project's bus (DESIGN §9 "Operate it"): `Source`, and the
 * `DetailType` of each case status. The notification rule matches on these.
 */
export const OUTCOME_EVENT = {
  source: 's1cado.investigation',
  detailTypes: {
    complete: 'Investigation Completed',
    partial: 'Investigation Partial',
    failed: 'Investigation Failed',
    staged_handoff_failed: 'Investigation HandOffFailed',
    not_attempted: 'Investigation NotAttempted',
  },
} as const;

/** Case statuses, in the order the configuration lists them. */
export const OUTCOME_STATUSES = [
  'complete',
  'partial',
  'failed',
  'staged_handoff_failed',
  'not_attempted',
] as const;

/** `Source` and `DetailType` of every intake event (custom sources must not start with `aws.`). */
export const THREAT_EVENT = {
  source: 's1cado.threat-intake',
  detailType: 'SentinelOne Threat',
} as const;

/** JSON fields of the secrets the handlers read. */
export const SECRET_FIELDS = {
  /** The S1 service-user API token. */
  s1Token: 'apiToken',
  /** The Cado API key. */
  cadoKey: 'apiKey',
  /** The webhook's HMAC signing key. */
  webhookSigningKey: 'signingKey',
  /** The shared value the Cado webhook's payload template carries (Cado signs nothing, see receive-cado-webhook). */
  cadoWebhookSecret: 'cadoWebhookSecret',
} as const;

/** Environment variables set by the constructs in `lib/` and read by the handlers' settings. */
export const ENV = {
  // S1 (ApiSecrets.bindS1)
  s1ConsoleUrl: 'S1_CONSOLE_URL',
  s1SecretArn: 'S1_SECRET_ARN',
  s1AllowedHosts: 'S1_ALLOWED_HOSTS',
  downloadAllowedHosts: 'DOWNLOAD_ALLOWED_HOSTS',
  /** Stage Output: the largest result (announced Content-Length) it accepts, in bytes. */
  maxResultBytes: 'MAX_RESULT_BYTES',
  /** Prepare Upload: collections whose size budget exceeds this many bytes go straight to S3 (unset: never by size). */
  directUploadOverBytes: 'DIRECT_UPLOAD_OVER_BYTES',
  /** Run Script: the role it assumes (scoped to one key) to presign direct-upload part URLs (unset: its own role). */
  directUploadRoleArn: 'DIRECT_UPLOAD_ROLE_ARN',
  /** Shared by the S1 and Cado settings: loopback hosts are allowed (local runs only). */
  allowLoopback: 'ALLOW_LOOPBACK',
  // Cado (ApiSecrets.bindCado)
  cadoUrl: 'CADO_URL',
  cadoSecretArn: 'CADO_SECRET_ARN',
  cadoCaCert: 'CADO_CA_CERT',
  cadoProjectMode: 'CADO_PROJECT_MODE',
  cadoProjectName: 'CADO_PROJECT_NAME',
  cadoCloudId: 'CADO_CLOUD_ID',
  cadoHandoffTimeoutSeconds: 'CADO_HANDOFF_TIMEOUT_SECONDS',
  /** Task Watcher: seconds between two looks at one running Cado pipeline (its Cado pass). */
  cadoWatchIntervalSeconds: 'CADO_WATCH_INTERVAL_SECONDS',
  /** Receive Cado Webhook: the secret holding the shared value Cado's payload template carries. */
  cadoWebhookSecretArn: 'CADO_WEBHOOK_SECRET_ARN',
  /** Collection mode `cado-xdr`: the default mode, Cado's SentinelOne account, the files of profile custom. */
  collectionMode: 'COLLECTION_MODE',
  cadoXdrAccountName: 'CADO_XDR_ACCOUNT_NAME',
  cadoXdrCustomFiles: 'CADO_XDR_CUSTOM_FILES',
  // Evidence bucket (EvidenceBucket.bind*)
  evidenceBucket: 'EVIDENCE_BUCKET',
  /** The legal hold Stage Output places ({@link LEGAL_HOLD_MODES}). */
  evidenceLegalHold: 'EVIDENCE_LEGAL_HOLD',
  /** Record Outcome: the S1 threat update to make after a collection (JSON `{incidentStatus?, analystVerdict?}`). */
  threatUpdate: 'THREAT_UPDATE',
  /** Record Outcome: the bus it puts outcome events on. */
  outcomeBusName: 'OUTCOME_BUS_NAME',
  /** Record Outcome: the KMS key (ARN) that signs each final manifest. */
  manifestSigningKeyArn: 'MANIFEST_SIGNING_KEY_ARN',
  // Workflow
  /** Run Script: the Task Watcher function it wakes after queuing an execute (unset: the schedule's next minute). */
  taskWatcherFunction: 'TASK_WATCHER_FUNCTION',
  scriptRuntimeTimeoutSeconds: 'SCRIPT_RUNTIME_TIMEOUT_SECONDS',
  /** JSON of `collectionProfiles` (default profile, budgets, memory tool, intake rules): lambdas/collectors/profiles.ts. */
  collectionProfiles: 'COLLECTION_PROFILES',
  taskGraceSeconds: 'TASK_GRACE_SECONDS',
  agentCooldownMinutes: 'AGENT_COOLDOWN_MINUTES',
  /** Seconds Ensure Scripts trusts a library script proven ours without looking again (0: no shared cache). */
  scriptLibraryCacheSeconds: 'SCRIPT_LIBRARY_CACHE_SECONDS',
  /** Seconds a passed token preflight (Check Permissions) stands for the next investigations (0: no shared cache). */
  preflightCacheSeconds: 'PREFLIGHT_CACHE_SECONDS',
  tokenExpiryWarningDays: 'TOKEN_EXPIRY_WARNING_DAYS',
  // Permission audit
  notificationTopicArn: 'NOTIFICATION_TOPIC_ARN',
  auditSiteIds: 'AUDIT_SITE_IDS',
  // Threat intake
  threatConfidenceLevels: 'THREAT_CONFIDENCE_LEVELS',
  threatClassifications: 'THREAT_CLASSIFICATIONS',
  threatOsTypes: 'THREAT_OS_TYPES',
  threatSiteIds: 'THREAT_SITE_IDS',
  eventBusName: 'EVENT_BUS_NAME',
  pollMarkParameter: 'POLL_MARK_PARAMETER',
  pollLookbackSeconds: 'POLL_LOOKBACK_SECONDS',
  pollSettleSeconds: 'POLL_SETTLE_SECONDS',
  pollPageSize: 'POLL_PAGE_SIZE',
  pollMaxPages: 'POLL_MAX_PAGES',
  pollTimeBudgetSeconds: 'POLL_TIME_BUDGET_SECONDS',
  webhookSecretArn: 'WEBHOOK_SECRET_ARN',
  webhookVerifyWithS1: 'WEBHOOK_VERIFY_WITH_S1',
  webhookMaxBodyBytes: 'WEBHOOK_MAX_BODY_BYTES',
  webhookMaxSkewSeconds: 'WEBHOOK_MAX_SKEW_SECONDS',
  stateMachineArn: 'STATE_MACHINE_ARN',
  threatNote: 'THREAT_NOTE',
  backfillMaxThreats: 'BACKFILL_MAX_THREATS',
  // Coordination store (CoordinationStore.bind)
  coordinationTableName: 'COORDINATION_TABLE_NAME',
  /**
   * The shared S1 request budget (CoordinationStore.bindS1Budget): JSON `{ maxWaitSeconds, coolOffSeconds,
   * families: { <family>: { perSecond, burst } } }`; unset means no budget (every call is sent at once).
   */
  s1RequestBudget: 'S1_REQUEST_BUDGET',
  // Powertools (TaskFunction)
  powertoolsServiceName: 'POWERTOOLS_SERVICE_NAME',
  powertoolsMetricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  powertoolsLogLevel: 'POWERTOOLS_LOG_LEVEL',
} as const;

/**
 * Hosts S1 result links may point at, unless the config (`downloadAllowedHosts`) says otherwise. S1 keeps RemoteOps
 * results in its own per-region S3 bucket and hands out virtual-hosted-style presigned links on the regional
 * endpoint: the one recorded link in a public integration is
 * `https://eu-central-1-prod-remote-scripts-uploads.s3.eu-central-1.amazonaws.com/rso-results/<sha256>?X-Amz-…`
 * (SEKOIA-IO/automation-library, `SentinelOne/tests/rso/test_execute.py`); Kibana's SentinelOne connector mocks
 * name S1's script bucket `us-east-1-prod-remote-scripts` in the same `<region>-prod-…` scheme. `{region}` stands
 * for one AWS region name, the same at each place it occurs, so no other bucket or AWS host matches.
 */
export const DEFAULT_DOWNLOAD_HOSTS: readonly string[] = [
  '{region}-prod-remote-scripts-uploads.s3.{region}.amazonaws.com',
];

/** When staging places a legal hold on an evidence object: never, for investigations of an S1 threat, always. */
/**
 * How the description of a batched execute (one S1 parent task for several agents, sent by the Task Watcher) begins;
 * `s1cado batch <id>: <library name>`. A row of such a task belongs to the agent it names, and to no other.
 */
export const BATCH_DESCRIPTION_PREFIX = 's1cado batch ';

export const LEGAL_HOLD_MODES = ['none', 'on-threat', 'always'] as const;
export type LegalHoldMode = (typeof LEGAL_HOLD_MODES)[number];

/**
 * An investigation id (= the execution name): 1–80 letters, digits, "-" or "_", never starting with "_", so that no
 * id can name the `_rejected/` folder of case files whose execution name is not a valid id.
 */
export const INVESTIGATION_ID_PATTERN = /^[A-Za-z0-9-][A-Za-z0-9_-]{0,79}$/;

/** Key prefixes of the evidence bucket; the grants are scoped to them. */
export const BUCKET_PREFIXES = {
  /** Everything an investigation stores (collections, manifests, case.json). */
  investigations: 'investigations/',
  /** The permission audit reports. */
  audits: 'audits/',
} as const;

/**
 * The coordination store's table layout: items addressed by a string partition and sort key, TTL in epoch
 * seconds. The construct defines the table with these names; the runtime writes its items and conditions with them.
 */
export const COORDINATION_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
} as const;

/**
 * S1's per-token rate limits by path family, as S1's per-path table is quoted by its Go SDK (reference §1.6;
 * treat as guidance). The first family whose `prefix` matches a path (under `/web/api/v2.1`) applies: a prefix
 * matches the path itself or anything below it, `exact` only the path itself. Paths matching none are not
 * budgeted. The shared request budget (`S1_REQUEST_BUDGET`) is sized from these unless the config overrides them.
 */
export const S1_RATE_LIMITS = [
  { family: 'remote-scripts', prefix: '/remote-scripts', perSecond: 1, burst: 30 },
  { family: 'threats', prefix: '/threats', exact: true, perSecond: 10, burst: 50 },
  { family: 'threats-sub', prefix: '/threats', perSecond: 100, burst: 100 },
  { family: 'agents', prefix: '/agents', perSecond: 25, burst: 50 },
  { family: 'sites', prefix: '/sites', perSecond: 100, burst: 100 },
  { family: 'rbac', prefix: '/rbac', perSecond: 50, burst: 50 },
  { family: 'users', prefix: '/users', perSecond: 40, burst: 40 },
  { family: 'user', prefix: '/user', perSecond: 2, burst: 5 },
  // Not in S1's table: the best-effort cancel endpoint, given the S1 simulator's conservative guess.
  { family: 'private', prefix: '/private', perSecond: 10, burst: 20 },
] as const satisfies readonly {
  readonly family: string;
  readonly prefix: string;
  readonly exact?: boolean;
  readonly perSecond: number;
  readonly burst: number;
}[];

/** Partition-key prefix of the S1 request budget's items in the coordination table (`s1budget#<family>`). */
export const S1_BUDGET_KEY_PREFIX = 's1budget#';
/** Partition key prefix of the result links the Task Watcher fetches ahead for Stage Output (result-links.ts). */
export const RESULT_LINK_KEY_PREFIX = 'result-link#';

/** The coordination store's partition of open Cado pipeline waits (the Cado webhook may touch only these). */
export const OPEN_CADO_PIPELINES_PK = 'open#cado-pipeline';

/** A family of {@link S1_RATE_LIMITS}. */
export type S1RateFamily = (typeof S1_RATE_LIMITS)[number]['family'];

/** Metric names and namespace the handlers emit and the alarms watch. */
export const METRICS = {
  /** Namespace of every handler's metrics (Powertools Metrics). */
  namespace: 'S1CadoForensics',
  /** Service name of every handler, a dimension of its metrics. */
  serviceName: 's1-cado-forensics',
  /** Audit checks by `Status` (pass | warn | fail | unknown). */
  auditChecks: 'AuditChecks',
  /** One per investigation recorded, by `Outcome` (the case.json status). */
  investigations: 'Investigations',
  /** Bytes written to the evidence bucket per staged file. */
  stagedBytes: 'EvidenceStagedBytes',
  /** One per staged result whose SHA-256 still differed from S1's after the re-fetch (EvidenceIntegrityError). */
  integrityFailures: 'EvidenceIntegrityFailures',
  /** One per S1 collection task started. */
  tasksStarted: 'S1TasksStarted',
  /** One per S1 collection task that left `running` (completed, failed or past its deadline). */
  tasksClosed: 'S1TasksClosed',
  /** 429 answers, by `RemoteService`: counted by a log metric filter on {@link RETRY_LOG_MESSAGE} lines. */
  throttled: 'ApiThrottled',
} as const;

/** The message of the HTTP client's retry log line (with `remoteService` and `status`); a metric filter reads it. */
export const RETRY_LOG_MESSAGE = 'Request failed; retrying';

/** Collection profiles, in the order the CLI and the demo list them (what each collects: lambdas/collectors/profiles.ts). */
export const COLLECTION_PROFILES = ['triage', 'full', 'memory', 'custom'] as const;

/**
 * Default script runtime of each profile, in seconds (triage's is `scriptRuntimeTimeoutSeconds` when set). The
 * state machine sizes Run Script's watchdog and its own timeout for the longest profile.
 */
export const PROFILE_DEFAULT_RUNTIME_SECONDS: Readonly<Record<(typeof COLLECTION_PROFILES)[number], number>> =
  {
    triage: 900,
    full: 3600,
    memory: 3600,
    custom: 1800,
  };

/** Bounds of the `custom` profile's path list (config, CLI, workflow input and the collectors agree on them). */
export const CUSTOM_PATHS_LIMITS = { maxCount: 32, maxLength: 256 } as const;

/** Bounds shared by the input schema and the state machine's sizing. */
export const LIMITS = {
  /** Agents one investigation may collect from. */
  maxAgents: 50,
  /** Timeout of the Stage Output Lambda, the longest Lambda allows: it streams up to gigabytes. */
  stagingTimeoutSeconds: 15 * 60,
  /** The collectors' default size budget for collected data (`--max-mb`), in MiB. */
  collectorBudgetMiB: 512,
  /**
   * Default of `maxResultBytes`: twice the collectors' size budget (the zip adds its listing, log and headers, and a
   * custom budget may be set per run). A larger announced result is refused before anything is uploaded.
   */
  defaultMaxResultBytes: 2 * 512 * 1024 * 1024,
  /** The largest `maxResultBytes` the config accepts: 500 GiB (64 MiB parts, within S3's 10,000). */
  maxResultBytesCeiling: 500 * 1024 * 1024 * 1024,
  /**
   * Longest `inputParams` Run Script sends. S1 documents none; the string is one command line on the endpoint (the
   * Windows command line holds 32,767 characters), so the direct-upload argument is kept well under it.
   */
  maxInputParamsChars: 8192,
  /** Fewest and most part URLs of a direct upload: few, large parts (each at most S3's 5 GiB). */
  directUploadMinParts: 2,
  directUploadMaxParts: 32,
  /** Size budget one direct-upload part URL is presigned for (the collector sizes parts from the real size). */
  directUploadBytesPerPart: 2 * 1024 * 1024 * 1024,
  /** S3's longest presigned lifetime (seven days); an assumed signing role's session lasts at most 12 hours. */
  presignMaxSeconds: 12 * 60 * 60,
} as const;

/**
 * How evidence is collected (config `collectionMode`, execution input `collectionMode`): our collector through S1
 * RemoteOps, staged in our bucket; or Cado through its own SentinelOne integration (lambdas/shared/cado/xdr.ts).
 */
export const COLLECTION_MODES = ['s1-remoteops', 'cado-xdr'] as const;
export type CollectionMode = (typeof COLLECTION_MODES)[number];
/** The mode when neither the config nor the execution names one. */
export const DEFAULT_COLLECTION_MODE: CollectionMode = 's1-remoteops';
