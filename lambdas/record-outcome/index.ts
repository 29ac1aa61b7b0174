/**
 * Record Outcome (see core.ts and rerun.ts). The state machine passes the whole state (`state`), whatever shape it
 * has by then (a failure before Resolve Targets leaves only the raw input and the caught error), plus the
 * execution's facts. The HandOffRerun state machine adds `mode: "rerun"`.
 */
import * as z from 'zod';
import { eventBridgeClient, kmsClient, s3Client } from '../shared/aws';
import { nowIso } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { kmsSigner } from '../shared/evidence/signature';
import { parseInput, stepHandler } from '../shared/handler';
import { ExecutionContext, OutcomeInput } from '../shared/schemas';
import { s1Client } from '../shared/services';
import {
  evidenceBucketName,
  manifestSigningKeyArn,
  outcomeBusName,
  threatNotesEnabled,
  threatUpdateSettings,
  workflowSettings,
} from '../shared/settings';
import { TOOL_VERSION } from '../shared/version';
import { recordOutcome } from './core';
import { RerunOutcomeInput, recordRerun } from './rerun';

const Event = z.object({
  state: z.record(z.string(), z.unknown()),
  execution: ExecutionContext,
  mode: z.enum(['investigation', 'rerun']).default('investigation'),
});

export const handler = stepHandler('record-outcome', Event, (event) => {
  const signingKey = manifestSigningKeyArn();
  const busName = outcomeBusName();
  const threatUpdate = threatUpdateSettings();
  const deps = {
    s3: s3Client(),
    bucket: evidenceBucketName(),
    nowIso,
    version: TOOL_VERSION,
    signer: signingKey ? kmsSigner(kmsClient(), signingKey) : undefined,
    events: busName ? { client: eventBridgeClient(), busName } : undefined,
    retries: coordinationStore(),
  };
  if (event.mode === 'rerun') {
    return recordRerun(parseInput(RerunOutcomeInput, event.state, 'Record Outcome (re-run) state'), deps);
  }
  const input = parseInput(
    OutcomeInput,
    { ...event.state, execution: event.execution },
    'Record Outcome state',
  );
  return recordOutcome(input, {
    ...deps,
    s1: threatNotesEnabled() || threatUpdate ? s1Client() : undefined,
    threatNotes: threatNotesEnabled(),
    threatUpdate,
    cooldownMinutes: workflowSettings().agentCooldownMinutes,
  });
});
