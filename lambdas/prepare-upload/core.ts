/**
 * Prepare Upload: decides per agent whether the collection goes straight from the endpoint to S3 (the caller asked,
 * the profile is `memory`, or the collector's size budget exceeds `directUploadOverBytes`) and, if so, opens the
 * multipart upload on the agent's direct evidence key, once (a retry reuses it). The state gets the upload's
 * bucket, key and id, never a URL: Run Script presigns the part URLs and sends them to S1 only.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { LegalHoldMode } from '../shared/contract';
import {
  directUploadReason,
  openDirectUpload,
  partCountFor,
  sizeBudgetBytes,
} from '../shared/evidence/direct-upload';
import { logger } from '../shared/observability';
import type { AgentStart } from '../shared/schemas';

/** Dependencies of {@link prepareUpload}. */
export interface PrepareUploadDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  /** Collections whose size budget exceeds this many bytes go direct (undefined: never by size). */
  readonly overBytes: number | undefined;
  readonly legalHold: LegalHoldMode;
  readonly nowIso: () => string;
}

/** The agent's state, with `upload` when its collection goes straight to S3. */
export async function prepareUpload(input: AgentStart, deps: PrepareUploadDeps): Promise<AgentStart> {
  const { investigation, target } = input;
  const reason = directUploadReason(input, deps.overBytes);
  // `upload: null`, not absent: Run Script's task-token payload names `$.upload`, which must exist.
  if (!reason) return { ...input, upload: null };
  const upload = await openDirectUpload({
    s3: deps.s3,
    bucket: deps.bucket,
    investigationId: investigation.investigationId,
    agentId: target.agentId,
    parts: partCountFor(sizeBudgetBytes(target.script.inputParams)),
    reason,
    metadata: { 'investigation-id': investigation.investigationId, 'agent-id': target.agentId },
    legalHold:
      deps.legalHold === 'always' || (deps.legalHold === 'on-threat' && investigation.threatId !== undefined),
    nowIso: deps.nowIso,
  });
  logger.info('Collection goes straight to S3', {
    agentId: target.agentId,
    reason,
    key: upload.key,
    parts: upload.parts,
  });
  return { ...input, upload };
}
