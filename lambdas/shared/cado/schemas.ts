/**
 * Tolerant zod schemas for the Cado v3 responses this project reads (reference/cado-api.md §1–§4). Each schema
 * validates only the fields we use, keeps everything else (`z.looseObject`), and accepts the spellings that differ
 * between platform releases (ids as numbers or digit strings, `progress_text` as a list or a single string,
 * timestamps in seconds or milliseconds). Unknown enum values are kept as strings rather than rejected: the
 * classification in `pipeline.ts` decides what an unexpected status means.
 */
import * as z from 'zod';

/** A Cado integer id: the spec says integer; a digit string is accepted too. Always a safe positive integer. */
export const cadoId = z.union([
  z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number)
    .pipe(z.number().int().positive()),
]);

/** A string that may be absent or null on some releases. */
const optionalText = z
  .string()
  .nullish()
  .transform((value) => value ?? undefined);

/** A count that may be absent or null; anything not a finite non-negative number counts as 0. */
const count = z
  .unknown()
  .optional()
  .transform((value) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0));

/** A flag that may be absent or null (false), or sent as a string by a lenient backend. */
const flag = z
  .unknown()
  .optional()
  .transform((value) => value === true || value === 'true');

/**
 * The v3 success envelope `{status: "success", data, pagination?}`. A 2xx answer whose envelope says `error` is
 * rejected (the HTTP layer then throws `CadoResponseError`).
 */
export function envelope<T extends z.ZodType>(data: T) {
  return z.looseObject({
    status: z
      .string()
      .optional()
      .refine((status) => status?.toLowerCase() !== 'error', 'envelope status is "error"'),
    data,
  });
}

/** `pagination` of the page-style list endpoints; every field optional so a missing block ends paging. */
export const pageInfoSchema = z
  .looseObject({
    current_page: z.number().int().nullish(),
    total_pages: z.number().int().nullish(),
    total_records: z.number().int().nullish(),
    per_page: z.number().int().nullish(),
  })
  .nullish();

/** A page of a v3 list endpoint. */
export function pageEnvelope<T extends z.ZodType>(item: T) {
  return envelope(z.array(item)).extend({ pagination: pageInfoSchema });
}

/** `data` of `GET /api/v3/auth/whoami`. */
export const whoamiSchema = z.looseObject({
  id: cadoId,
  username: z.string(),
  display_name: optionalText,
  rbac_role: optionalText,
  eula_agreed: z.boolean().nullish(),
  permissions: z.record(z.string(), z.unknown()).nullish(),
});

/** `data` of `GET /api/v3/system/status`. */
export const systemStatusSchema = z.looseObject({
  status: z.string(),
  status_message: optionalText,
  message: optionalText,
  is_installing: z.boolean().nullish(),
  setup_complete: z.boolean().nullish(),
});

/** A project as the v3 list returns it; the name lives under `details.name` (v3 has no `caseName`). */
export const projectSchema = z.looseObject({
  id: cadoId,
  details: z.looseObject({ name: z.string() }),
});

/** `data` of `POST /api/v3/projects` (201). */
export const createdProjectSchema = z.looseObject({ id: cadoId });

/** `data` of `POST /api/v3/import/aws/s3`. */
export const importResultSchema = z.looseObject({ pipeline_id: cadoId });

/** Subtask of a pipeline. List items carry only `{name, state}`. */
export const subtaskSchema = z.looseObject({
  name: z
    .string()
    .nullish()
    .transform((name) => name ?? ''),
  state: z
    .string()
    .nullish()
    .transform((state) => (state ?? '').toUpperCase()),
  progress_text: z
    .union([z.array(z.unknown()), z.string()])
    .nullish()
    .transform((text) => {
      if (text === null || text === undefined) return [];
      const items = Array.isArray(text) ? text : [text];
      return items.filter((item): item is string => typeof item === 'string' && item.trim() !== '');
    }),
  finish_time: z.number().nullish(),
});

/** `{id, name?}` references to evidence and project. */
const reference = z.looseObject({ id: cadoId, name: optionalText }).nullish();

/**
 * A pipeline from `GET /api/v3/pipelines/{id}` or a list item of `GET /api/v3/pipelines`. The id and type are
 * under `pipeline` in the spec; `pipeline_id`/`id` and `pipeline_type`/`type` (list items, v2-shaped backends) are
 * accepted too.
 */
export const pipelineSchema = z.looseObject({
  pipeline: z.looseObject({ id: cadoId.nullish(), type: optionalText }).nullish(),
  pipeline_id: cadoId.nullish(),
  id: cadoId.nullish(),
  pipeline_type: optionalText,
  type: optionalText,
  name: optionalText,
  status: optionalText,
  terminated: flag,
  aborted: flag,
  summary: z
    .looseObject({
      total: count,
      success: count,
      failure: count,
      pending: count,
      running: count,
      cancelled: count,
    })
    .nullish(),
  subtasks: z
    .array(subtaskSchema)
    .nullish()
    .transform((items) => items ?? []),
  evidence: reference,
  project: reference,
  triggering_pipeline_id: cadoId.nullish(),
  finish_time: z.number().nullish(),
});

/** A parsed pipeline as the schema yields it. */
export type RawPipeline = z.infer<typeof pipelineSchema>;

/** `GET /api/v3/evidences/{id}` data: the fields compared with ours (`details.disk_hash`, `details.disk_size`). */
export const evidenceSchema = z.looseObject({
  id: cadoId,
  display_name: optionalText,
  details: z
    .looseObject({
      disk_hash: optionalText,
      disk_size: z.number().nonnegative().nullish(),
    })
    .nullish(),
});

/** An account as `GET /api/v3/accounts` lists it [spec]; `public_identifier` may be absent. */
export const accountSchema = z.looseObject({
  account_name: z.string(),
  type: z.string(),
  public_identifier: optionalText,
});

/** A device of `GET /api/v3/import/xdr/sentinelone` [spec]; ids as digit strings or numbers. */
export const xdrDeviceSchema = z.looseObject({
  device_id: z.union([z.string(), z.number().transform(String)]),
  hostname: z.string(),
  operating_system: optionalText,
  is_online: flag,
});

/** `pagination` of the cursor-style list endpoints (XDR and cloud browsing). */
export const cursorInfoSchema = z.looseObject({ next_token: optionalText }).nullish();
