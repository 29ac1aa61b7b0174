/**
 * Hand To Cado: finds or creates the Cado project for the investigation (one per threat — or per manual
 * investigation — or one fixed project, by config) and asks Cado to import the exact staged object from S3.
 * The evidence is already safe in S3; if Cado is down this step fails and the manifest says how to re-run it.
 *
 * Exactly once (DESIGN §9). Before the import, an import intent is recorded in the coordination store, keyed by
 * the object and its version (`import#<bucket>/<key>` / `version#<id>`): `importing`, then `started` with the
 * pipeline id, `refused` when Cado provably did nothing (429, 4xx), `unknown` otherwise (5xx after the body was
 * sent, timeout, reset). Whenever the intent is not settled (an ambiguous answer, a retry after a lost Lambda
 * response, a re-run), the project's pipelines for this key are listed first: one found is the import (the oldest,
 * should there be several), recorded and followed. None found proves nothing was started only once the attempt is
 * {@link IMPORT_SETTLE_SECONDS} old (Cado creates the pipeline before it answers); until then the step fails with a
 * retryable error and Step Functions comes back later.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { type CadoClient, classifyPipeline, type FileNameLayout } from '../shared/cado';
import type { CoordinationStore, ItemKey, StoredItem } from '../shared/coordination/store';
import {
  CadoAuthError,
  CadoConflictError,
  CadoForbiddenError,
  CadoNotFoundError,
  CadoRateLimitedError,
  CadoTlsError,
  CadoTransientError,
  CadoValidationError,
  InputValidationError,
} from '../shared/errors';
import { assertCurrentVersion } from '../shared/evidence/current-version';
import { logger } from '../shared/observability';
import { CADO_POLL, nextPoll } from '../shared/poll';
import type { HandedOff, Investigation, StagedEvidence } from '../shared/schemas';
import type { CadoSettings } from '../shared/settings';

/** The import intent of one staged object version, as the coordination store keeps it. */
export const ImportIntent = z.object({
  projectId: z.number().int(),
  state: z.enum(['importing', 'started', 'refused', 'unknown']),
  at: z.string(),
  pipelineId: z.number().int().optional(),
  fileNameForm: z.enum(['array', 'string']).optional(),
  fileNameLayout: z.enum(['full-key', 'prefix-and-name']).optional(),
  outcome: z.string().optional(),
  /** Earlier pipelines of this object that ended without a result (a re-run imported anew after them). */
  superseded: z.array(z.number().int()).optional(),
});
export type ImportIntent = z.infer<typeof ImportIntent>;

/** Where the import intent of an object version lives. */
export function importIntentKey(bucket: string, key: string, versionId: string | null): ItemKey {
  return { pk: `import#${bucket}/${key}`, sk: `version#${versionId ?? 'none'}` };
}

/** How long after an ambiguous import an empty pipeline listing proves that nothing was started. */
export const IMPORT_SETTLE_SECONDS = 30;
/** How long an import intent is kept: longer than any hand-off re-run is likely to come. */
export const IMPORT_INTENT_TTL_SECONDS = 90 * 24 * 3600;

/** Whether Cado provably did not start an import on a failed call (it refused the request before acting). */
export function importRefused(error: unknown): boolean {
  return (
    error instanceof CadoRateLimitedError ||
    error instanceof CadoAuthError ||
    error instanceof CadoForbiddenError ||
    error instanceof CadoNotFoundError ||
    error instanceof CadoValidationError ||
    error instanceof CadoConflictError ||
    error instanceof CadoTlsError ||
    error instanceof InputValidationError
  );
}

/** Whether an unsettled import attempt made at `at` is old enough for an empty listing to prove nothing started. */
export function importSettled(at: string, nowMs: number): boolean {
  return nowMs - Date.parse(at) >= IMPORT_SETTLE_SECONDS * 1000;
}

/** Dependencies of {@link handToCado}. */
export interface HandToCadoDeps {
  readonly cado: CadoClient;
  /** Reads the key's current version (the import must be of the verified one). */
  readonly s3: S3Client;
  /** The coordination store holding import intents. */
  readonly store: CoordinationStore;
  readonly settings: Pick<CadoSettings, 'projectMode' | 'projectName' | 'cloudId' | 'handoffTimeoutSeconds'>;
  readonly now: () => number;
}

/** The Cado project an investigation's evidence goes to. Names carry the investigation id in per-threat mode. */
export function projectNameFor(
  investigation: Investigation,
  settings: Pick<CadoSettings, 'projectMode' | 'projectName'>,
): string {
  if (settings.projectMode === 'fixed' && settings.projectName) return settings.projectName;
  return `S1 ${investigation.investigationId}`;
}

/** Whether the import pipeline `id` failed, was cancelled, or is unknown to Cado (then a new import may start). */
async function endedWithoutResult(cado: CadoClient, id: number): Promise<boolean> {
  try {
    const state = classifyPipeline(await cado.getPipeline(id)).state;
    return state === 'failed' || state === 'cancelled';
  } catch (error) {
    if (error instanceof CadoNotFoundError) return true;
    throw error;
  }
}

/** The pipeline of this object version's import: started now, or found from an earlier attempt. */
async function importOnce(
  input: StagedEvidence,
  projectId: number,
  deps: HandToCadoDeps,
): Promise<{
  pipelineId: number;
  fileNameForm: 'array' | 'string';
  fileNameLayout: FileNameLayout;
  reused: boolean;
}> {
  const { bucket, key, versionId } = input.evidence;
  const intentKey = importIntentKey(bucket, key, versionId);
  const ttl = { ttlSeconds: IMPORT_INTENT_TTL_SECONDS };
  const at = new Date(deps.now()).toISOString();
  let intent: StoredItem<ImportIntent> | undefined = await deps.store.get(intentKey, ImportIntent);

  for (;;) {
    const data = intent?.data;
    if (data?.state === 'started' && data.pipelineId !== undefined) {
      if (!(await endedWithoutResult(deps.cado, data.pipelineId))) {
        logger.info('The import was started by an earlier attempt; following its pipeline', {
          pipelineId: data.pipelineId,
          key,
        });
        return {
          pipelineId: data.pipelineId,
          fileNameForm: data.fileNameForm ?? 'array',
          fileNameLayout: data.fileNameLayout ?? 'full-key',
          reused: true,
        };
      }
      // A hand-off re-run after a failed, cancelled or forgotten pipeline: a new import is what is asked for.
      logger.info('The earlier import of this object ended without a result; importing anew', {
        previousPipelineId: data.pipelineId,
        key,
      });
    } else if (intent && data && (data.state === 'importing' || data.state === 'unknown')) {
      // An earlier attempt may have started a pipeline: look for it before anything else.
      const done = new Set(data.superseded ?? []);
      const found = (await deps.cado.listImportPipelines(data.projectId, bucket, key)).find(
        (p) => !done.has(p.id),
      );
      if (found) {
        const settled = await deps.store.update(
          intentKey,
          { ...data, state: 'started', pipelineId: found.id },
          ImportIntent,
          { ...ttl, expectedVersion: intent.version },
        );
        if (settled.status === 'conflict') {
          intent = settled.current;
          continue;
        }
        logger.warn('Found the pipeline of an import whose answer was lost; following it', {
          pipelineId: found.id,
          key,
        });
        // Listed by its full key: the import this project sends first.
        return {
          pipelineId: found.id,
          fileNameForm: data.fileNameForm ?? 'array',
          fileNameLayout: 'full-key',
          reused: true,
        };
      }
      if (!importSettled(data.at, deps.now())) {
        throw new CadoTransientError(
          `Cado: the import of this object may still appear (attempt at ${data.at}, no pipeline listed yet); ` +
            `trying again after ${IMPORT_SETTLE_SECONDS} s settle`,
          { operation: 'GET /api/v3/pipelines' },
        );
      }
      logger.warn('No pipeline of an earlier, unanswered import after the settle delay; importing again', {
        key,
      });
    }
    // Claim the import (a concurrent attempt that got there first decides instead, on the next turn).
    const superseded = [
      ...(data?.superseded ?? []),
      ...(data?.state === 'started' && data.pipelineId !== undefined ? [data.pipelineId] : []),
    ];
    const importing: ImportIntent = {
      projectId,
      state: 'importing',
      at,
      ...(superseded.length ? { superseded } : {}),
    };
    const claim = intent
      ? await deps.store.update(intentKey, importing, ImportIntent, {
          ...ttl,
          expectedVersion: intent.version,
        })
      : await deps.store.putIfAbsent(intentKey, importing, ImportIntent, ttl);
    if (claim.status === 'exists' || claim.status === 'conflict') {
      intent = claim.status === 'exists' ? claim.item : claim.current;
      continue;
    }
    const version = claim.item.version;
    let imported: { pipelineId: number; fileNameForm: 'array' | 'string'; fileNameLayout: FileNameLayout };
    try {
      imported = await deps.cado.importS3({ projectId, bucket, key, cloudId: deps.settings.cloudId });
    } catch (error) {
      const refused = importRefused(error);
      const outcome = `${error instanceof Error ? error.name : 'Error'}${refused ? ' (refused)' : ' (Cado may have started the import)'}`;
      const marked = await deps.store
        .update(intentKey, { ...importing, state: refused ? 'refused' : 'unknown', outcome }, ImportIntent, {
          ...ttl,
          expectedVersion: version,
        })
        .catch((storeError: unknown) => {
          logger.error('Could not record how the import ended', { error: storeError as Error });
          return undefined;
        });
      if (refused || marked?.status !== 'updated') throw error;
      // Ambiguous: look for the pipeline now (next turn); the settle delay keeps an empty list from proving much.
      intent = marked.item;
      continue;
    }
    await deps.store
      .update(
        intentKey,
        {
          ...importing,
          state: 'started',
          pipelineId: imported.pipelineId,
          fileNameForm: imported.fileNameForm,
          fileNameLayout: imported.fileNameLayout,
        },
        ImportIntent,
        { ...ttl, expectedVersion: version },
      )
      .catch((storeError: unknown) =>
        logger.error('Could not record the started import', { error: storeError as Error }),
      );
    return { ...imported, reused: false };
  }
}

/** Starts the Cado import of one agent's evidence (or follows the one an earlier attempt started). */
export async function handToCado(input: StagedEvidence, deps: HandToCadoDeps): Promise<HandedOff> {
  const name = projectNameFor(input.investigation, deps.settings);
  const description = input.investigation.threatId
    ? `SentinelOne threat ${input.investigation.threatId}, collected by s1-cado-forensics`
    : `Collected by s1-cado-forensics (${input.investigation.investigationId})`;
  await assertCurrentVersion(deps.s3, input.evidence);
  const project = await deps.cado.findOrCreateProject(name, description);
  const imported = await importOnce(input, project.id, deps);
  const nowMs = deps.now();
  const startedAt = new Date(nowMs).toISOString();
  const deadline = new Date(nowMs + deps.settings.handoffTimeoutSeconds * 1000).toISOString();
  logger.info('Evidence handed to Cado', {
    projectId: project.id,
    pipelineId: imported.pipelineId,
    reused: imported.reused,
    key: input.evidence.key,
  });
  return {
    ...input,
    cado: {
      projectId: project.id,
      projectName: project.name,
      pipelineId: imported.pipelineId,
      fileNameForm: imported.fileNameForm,
      fileNameLayout: imported.fileNameLayout,
      ...(deps.settings.cloudId ? { cloudId: deps.settings.cloudId } : {}),
      startedAt,
      deadline,
      phase: 'running',
    },
    poll: nextPoll(0, deadline, nowMs, CADO_POLL) ?? { attempt: 0, waitSeconds: 1, deadline },
  };
}
