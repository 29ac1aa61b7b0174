/**
 * Hand To Cado: finds or creates the Cado project for the investigation (one per threat — or per manual
 * investigation — or one fixed project, by config) and asks Cado to import the exact staged object from S3.
 * The evidence is already safe in S3; if Cado is down this step fails and the manifest says how to re-run it.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { CadoClient } from '../shared/cado';
import { assertCurrentVersion } from '../shared/evidence/current-version';
import { logger } from '../shared/observability';
import { CADO_POLL, nextPoll } from '../shared/poll';
import type { HandedOff, Investigation, StagedEvidence } from '../shared/schemas';
import type { CadoSettings } from '../shared/settings';

/** Dependencies of {@link handToCado}. */
export interface HandToCadoDeps {
  readonly cado: CadoClient;
  /** Reads the key's current version (the import must be of the verified one). */
  readonly s3: S3Client;
  readonly settings: Pick<CadoSettings, 'projectMode' | 'projectName' | 'cloudId' | 'handoffTimeoutSeconds'>;
  readonly now: () => number;
}

/** The Cado project an investigation's evidence goes to. Names carry the investigation id in per-threat mode. */
export function projectNameFor(investigation: Investigation, settings: HandToCadoDeps['settings']): string {
  if (settings.projectMode === 'fixed' && settings.projectName) return settings.projectName;
  return `S1 ${investigation.investigationId}`;
}

/** Starts the Cado import of one agent's evidence. */
export async function handToCado(input: StagedEvidence, deps: HandToCadoDeps): Promise<HandedOff> {
  const name = projectNameFor(input.investigation, deps.settings);
  const description = input.investigation.threatId
    ? `SentinelOne threat ${input.investigation.threatId}, collected by s1-cado-forensics`
    : `Collected by s1-cado-forensics (${input.investigation.investigationId})`;
  await assertCurrentVersion(deps.s3, input.evidence);
  const project = await deps.cado.findOrCreateProject(name, description);
  const imported = await deps.cado.importS3({
    projectId: project.id,
    bucket: input.evidence.bucket,
    key: input.evidence.key,
    cloudId: deps.settings.cloudId,
  });
  const nowMs = deps.now();
  const startedAt = new Date(nowMs).toISOString();
  const deadline = new Date(nowMs + deps.settings.handoffTimeoutSeconds * 1000).toISOString();
  logger.info('Evidence handed to Cado', {
    projectId: project.id,
    pipelineId: imported.pipelineId,
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
