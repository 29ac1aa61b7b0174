/**
 * Tolerant response schemas for the SentinelOne Management API v2.1 and the types derived from them.
 *
 * S1 adds fields without notice (a strict schema once broke Kibana's connector), so every object is a
 * `z.looseObject` that validates only the fields this project reads and keeps the rest. Ids are 18–19 digit
 * integers that exceed 2^53: they stay strings, and a number that could not have survived `JSON.parse` exactly is
 * refused rather than silently rounded. Fields S1 sends as number or string (`affected`, `statusCode`) are coerced.
 */
import * as z from 'zod';

/**
 * An S1 id: a decimal string. A number is accepted only while it is a safe integer (anything larger has already
 * lost digits in `JSON.parse`, and using it would address the wrong object).
 */
export const idSchema = z.union([
  z.string().min(1),
  z
    .number()
    .refine(Number.isSafeInteger, { message: 'id is a number too large to be exact; S1 ids must be strings' })
    .transform(String),
]);

/** A count S1 sends as a number or a numeric string; missing or null counts as 0. */
export const countSchema = z
  .union([z.number(), z.string()])
  .nullish()
  .transform((value, ctx) => {
    if (value === null || value === undefined || value === '') return 0;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(n)) {
      ctx.addIssue({ code: 'custom', message: `expected a number, got "${String(value)}"` });
      return z.NEVER;
    }
    return n;
  });

/**
 * A status code S1 sends as a number, a numeric string or null. Numeric strings become numbers; any other
 * non-empty string is kept as it is (its meaning is undocumented); missing becomes null.
 */
export const statusCodeSchema = z
  .union([z.number(), z.string()])
  .nullish()
  .transform((value): number | string | null => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'number') return value;
    const trimmed = value.trim();
    if (trimmed === '') return null;
    return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
  });

const optionalString = z.string().nullish();
const optionalId = idSchema.nullish();
const optionalBoolean = z.boolean().nullish();

/** `pagination` of list responses; `nextCursor` is `null`, `""` or missing at the end. */
export const paginationSchema = z.looseObject({
  nextCursor: z.string().nullish(),
  totalItems: z.number().nullish(),
});

/** The envelope of a list endpoint whose `data` is an array of `item`. */
export function listEnvelope<T extends z.ZodType>(item: T) {
  return z.looseObject({
    data: z.array(item).nullish(),
    pagination: paginationSchema.nullish(),
  });
}

/**
 * The envelope of a list endpoint with its rows left unparsed, so that each row can be checked on its own: one
 * row S1 changed must not hide the others (see {@link parseRows}).
 */
export const rawListEnvelope = z.looseObject({
  data: z.array(z.unknown()).nullish(),
  pagination: paginationSchema.nullish(),
});

/** A row that failed its schema: where it was, which field, and what was wrong (safe to log: no values). */
export interface RowProblem {
  readonly index: number;
  /** Dotted path of the first failing field, e.g. `id` or `threatInfo.createdAt`; `(row)` for the row itself. */
  readonly field: string;
  readonly problem: string;
  /** The row's `id` when it has a usable one. */
  readonly id?: string;
}

/** Parses each row on its own; rows that fail come back as problems instead of failing the page. */
export function parseRows<T extends z.ZodType>(
  rows: readonly unknown[],
  schema: T,
): { rows: z.infer<T>[]; problems: RowProblem[] } {
  const parsed: z.infer<T>[] = [];
  const problems: RowProblem[] = [];
  rows.forEach((row, index) => {
    const result = schema.safeParse(row);
    if (result.success) {
      parsed.push(result.data);
      return;
    }
    const issue = result.error.issues[0];
    const rawId = row && typeof row === 'object' ? (row as Record<string, unknown>).id : undefined;
    const id = typeof rawId === 'string' && /^\d{1,32}$/.test(rawId) ? rawId : undefined;
    const path = issue?.path ?? [];
    let value: unknown = row;
    for (const key of path) value = value && typeof value === 'object' ? (value as never)[key] : undefined;
    problems.push({
      index,
      field: path.length > 0 ? path.join('.') : '(row)',
      problem:
        value === undefined && path.length > 0
          ? 'is missing'
          : (issue?.message ?? 'is invalid').slice(0, 200),
      ...(id === undefined ? {} : { id }),
    });
  });
  return { rows: parsed, problems };
}

/** The envelope of an endpoint whose `data` is one object. */
export function objectEnvelope<T extends z.ZodType>(data: T) {
  return z.looseObject({ data });
}

/** `data` of bulk actions (`POST /threats/notes`, `DELETE /remote-scripts`, cancel). */
export const affectedSchema = z.looseObject({ affected: countSchema });

// --- Agents ------------------------------------------------------------------------------------------------

/** Where an agent, a threat's agent or a task sits in the S1 hierarchy (the same four fields everywhere). */
const scopeFields = {
  siteId: optionalId,
  siteName: optionalString,
  accountId: optionalId,
  accountName: optionalString,
};

/** An agent (`GET /agents` item); `osType` is `windows`, `linux`, `macos` or `windows_legacy`. */
export const agentSchema = z.looseObject({
  id: idSchema,
  uuid: optionalString,
  computerName: optionalString,
  osType: optionalString,
  osName: optionalString,
  osRevision: optionalString,
  isActive: optionalBoolean,
  isDecommissioned: optionalBoolean,
  isUninstalled: optionalBoolean,
  networkStatus: optionalString,
  ...scopeFields,
  groupId: optionalId,
  groupName: optionalString,
  machineType: optionalString,
  agentVersion: optionalString,
  lastActiveDate: optionalString,
});
/** An S1 agent as returned by `GET /agents`. */
export type S1Agent = z.infer<typeof agentSchema>;

// --- Threats -----------------------------------------------------------------------------------------------

/** `threatInfo` of a threat. */
export const threatInfoSchema = z.looseObject({
  threatId: optionalId,
  threatName: optionalString,
  classification: optionalString,
  classificationSource: optionalString,
  confidenceLevel: optionalString,
  analystVerdict: optionalString,
  incidentStatus: optionalString,
  mitigationStatus: optionalString,
  detectionType: optionalString,
  initiatedBy: optionalString,
  filePath: optionalString,
  sha1: optionalString,
  sha256: optionalString,
  md5: optionalString,
  storyline: optionalString,
  processUser: optionalString,
  createdAt: optionalString,
  updatedAt: optionalString,
});

/** `agentRealtimeInfo` of a threat: the agent as it is now (prefer it to `agentDetectionInfo`). */
export const agentRealtimeInfoSchema = z.looseObject({
  agentId: optionalId,
  agentUuid: optionalString,
  agentComputerName: optionalString,
  agentOsType: optionalString,
  agentIsActive: optionalBoolean,
  agentIsDecommissioned: optionalBoolean,
  agentNetworkStatus: optionalString,
  agentMachineType: optionalString,
  ...scopeFields,
  groupId: optionalId,
});

/** A threat (`GET /threats` item). v2.1 has no top-level `createdAt`: it is `threatInfo.createdAt`. */
export const threatSchema = z.looseObject({
  id: idSchema,
  threatInfo: threatInfoSchema.nullish(),
  agentRealtimeInfo: agentRealtimeInfoSchema.nullish(),
  agentDetectionInfo: z.looseObject({}).nullish(),
});
/** An S1 threat as returned by `GET /threats`. */
export type S1Threat = z.infer<typeof threatSchema>;

// --- Scripts -----------------------------------------------------------------------------------------------

/** A RemoteOps script (`GET /remote-scripts` item, or the object `POST /remote-scripts` returns). */
export const scriptSchema = z.looseObject({
  id: idSchema,
  scriptName: optionalString,
  scriptType: optionalString,
  scriptDescription: optionalString,
  osTypes: z.array(z.string()).nullish(),
  inputRequired: optionalBoolean,
  inputExample: optionalString,
  inputInstructions: optionalString,
  scriptRuntimeTimeoutSeconds: z.number().nullish(),
  scopeLevel: optionalString,
  scopeId: optionalId,
  scopeName: optionalString,
  creator: optionalString,
  creatorId: optionalId,
  fileName: optionalString,
  shortFileName: optionalString,
  fileSize: z.number().nullish(),
  signature: optionalString,
  signatureType: optionalString,
  version: z.union([z.string(), z.number()]).nullish(),
  createdAt: optionalString,
  updatedAt: optionalString,
});
/** An S1 RemoteOps script. */
export type S1Script = z.infer<typeof scriptSchema>;

/** `data` of `GET /remote-scripts/script-content`. */
export const scriptContentSchema = z.looseObject({ scriptContent: z.string() });

// --- Execution and tasks -----------------------------------------------------------------------------------

/** `data` of `POST /remote-scripts/execute`. */
export const executeResultSchema = z.looseObject({
  affected: countSchema,
  parentTaskId: optionalId,
  pending: optionalBoolean,
  pendingExecutionId: optionalId,
});

/** One child (per-agent) task row of `GET /remote-scripts/status`. */
export const taskRowSchema = z.looseObject({
  /** The child task id: what fetch-files takes. */
  id: idSchema,
  parentTaskId: optionalId,
  type: optionalString,
  /** Open enum: created, scheduled, pending, pending_user_action, in_progress, completed, ... */
  status: z.string(),
  detailedStatus: optionalString,
  statusCode: statusCodeSchema,
  /** Typed as a free-form object in the spec; do not assume a string. */
  statusDescription: z.unknown().optional(),
  description: optionalString,
  agentId: optionalId,
  agentUuid: optionalString,
  agentComputerName: optionalString,
  agentOsType: optionalString,
  agentIsActive: optionalBoolean,
  agentIsDecommissioned: optionalBoolean,
  ...scopeFields,
  initiatedBy: optionalString,
  /** Why the task failed, in S1's words, when it did (read by the vendor SDK's task entity). */
  errorReason: optionalString,
  /** Present only when a result file exists. */
  scriptResultsSignature: optionalString,
  createdAt: optionalString,
  updatedAt: optionalString,
});
/** One child task of a RemoteOps execution. */
export type S1TaskRow = z.infer<typeof taskRowSchema>;

/** One link of `POST /remote-scripts/fetch-files`. `downloadUrl` is a presigned secret. */
export const downloadLinkSchema = z.looseObject({
  taskId: optionalId,
  fileName: optionalString,
  downloadUrl: optionalString,
});

/** One per-task error of `POST /remote-scripts/fetch-files`. */
export const fetchErrorSchema = z.looseObject({
  taskId: optionalId,
  errorString: optionalString,
  error: optionalString,
  message: optionalString,
});

/**
 * `data` of `POST /remote-scripts/fetch-files`. Production consoles answer snake_case `download_links`; the
 * generated spec says `downloadLinks`, or nests them under `data.data`. All three are read.
 */
export const fetchFilesDataSchema = z.looseObject({
  download_links: z.array(downloadLinkSchema).nullish(),
  downloadLinks: z.array(downloadLinkSchema).nullish(),
  errors: z.array(fetchErrorSchema).nullish(),
  data: z
    .looseObject({
      download_links: z.array(downloadLinkSchema).nullish(),
      downloadLinks: z.array(downloadLinkSchema).nullish(),
      errors: z.array(fetchErrorSchema).nullish(),
    })
    .nullish(),
});

// --- Users, roles, sites -----------------------------------------------------------------------------------

/** `apiToken` of a user, or `data` of `POST /users/api-token-details`. */
export const apiTokenDetailsSchema = z.looseObject({
  createdAt: optionalString,
  expiresAt: optionalString,
});
/** When the API token was created and when it expires (ISO-8601). */
export type S1ApiTokenDetails = z.infer<typeof apiTokenDetailsSchema>;

/** One entry of `scopeRoles` of a user. */
export const scopeRoleSchema = z.looseObject({
  id: optionalId,
  name: optionalString,
  accountName: optionalString,
  roleId: optionalId,
  roleName: optionalString,
  roles: z.array(z.string()).nullish(),
});

/** `data` of `GET /user`: the user owning the token. `scope` is `tenant`, `account` or `site`. */
export const currentUserSchema = z.looseObject({
  id: idSchema,
  fullName: optionalString,
  name: optionalString,
  email: optionalString,
  source: optionalString,
  scope: optionalString,
  scopeRoles: z.array(scopeRoleSchema).nullish(),
  apiToken: apiTokenDetailsSchema.nullish(),
  lowestRole: optionalString,
});
/** The S1 user that owns the API token. */
export type S1CurrentUser = z.infer<typeof currentUserSchema>;

/** One permission of a role page. */
export const rolePermissionSchema = z.looseObject({
  identifier: optionalString,
  title: optionalString,
  value: optionalBoolean,
  groupName: optionalString,
  disabledReason: optionalString,
});

/** One page of a role: a console area and its permissions. */
export const rolePageSchema = z.looseObject({
  name: optionalString,
  identifier: optionalString,
  permissions: z.array(rolePermissionSchema).nullish(),
});

/** `data` of `GET /rbac/role/{id}`. */
export const roleSchema = z.looseObject({
  id: optionalId,
  name: optionalString,
  description: optionalString,
  scope: optionalString,
  scopeId: optionalId,
  predefinedRole: optionalBoolean,
  pages: z.array(rolePageSchema).nullish(),
});
/** An S1 RBAC role with its pages of permissions. */
export type S1Role = z.infer<typeof roleSchema>;

/** One licence module of a site, e.g. `{ name: "rso", displayName: "Remote Script Orchestration" }`. */
export const licenseModuleSchema = z.looseObject({
  name: optionalString,
  displayName: optionalString,
  majorVersion: z.union([z.number(), z.string()]).nullish(),
});

/** A site (`GET /sites` → `data.sites[]`). */
export const siteSchema = z.looseObject({
  id: idSchema,
  name: optionalString,
  accountId: optionalId,
  accountName: optionalString,
  state: optionalString,
  sku: optionalString,
  suite: optionalString,
  licenses: z
    .looseObject({
      modules: z.array(licenseModuleSchema).nullish(),
      bundles: z.array(z.looseObject({ name: optionalString })).nullish(),
    })
    .nullish(),
});
/** An S1 site with its licences. */
export type S1Site = z.infer<typeof siteSchema>;

/** `data` of `GET /sites`: an object, not an array; its rows are parsed one by one (see {@link parseRows}). */
export const sitesDataSchema = z.looseObject({
  sites: z.array(z.unknown()).nullish(),
});

/** The envelope of `GET /sites`: cursor-paged like a list, but `data` is an object holding `sites`. */
export const sitesEnvelope = z.looseObject({
  data: sitesDataSchema.nullish(),
  pagination: paginationSchema.nullish(),
});

/** `data` of `GET /system/status`. */
export const systemStatusSchema = z.looseObject({ health: optionalString });
/** The console's health report. */
export type S1SystemStatus = z.infer<typeof systemStatusSchema>;
