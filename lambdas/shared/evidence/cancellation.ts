/**
 * `cancellation.json` (schema `s1cado/cancellation@1`): who cancelled an investigation (`s1cado cancel`), why, and
 * what the cancel did to the execution, the S1 tasks, the Cado pipelines and the S1 threat. Written once, beside
 * `case.json`, by the cancel-investigation Lambda; the evidence already staged is left exactly as it was.
 */
import * as z from 'zod';

export const CANCELLATION_SCHEMA = 's1cado/cancellation@1';

/** What became of one S1 task of the investigation. */
export const CancelledTask = z.object({
  agentId: z.string(),
  parentTaskId: z.string(),
  /** `cancelled`: S1 cancelled at least one task; `not_cancelled`: S1 cancelled none (already delivered or ended). */
  outcome: z.enum(['cancelled', 'not_cancelled', 'unsupported', 'failed']),
  affected: z.number().int().nonnegative(),
  reason: z.string().optional(),
  /** The agent's collection lease was given back (only after S1 cancelled the task), so it can be collected again. */
  leaseReleased: z.boolean().optional(),
});
export type CancelledTask = z.infer<typeof CancelledTask>;

/** What became of one Cado pipeline of the investigation. */
export const CancelledPipeline = z.object({
  key: z.string(),
  pipelineId: z.number().int(),
  outcome: z.enum(['aborted', 'already_ended', 'failed']),
  reason: z.string().optional(),
});
export type CancelledPipeline = z.infer<typeof CancelledPipeline>;

/** The record. Readers keep fields they do not know. */
export const CancellationRecord = z.looseObject({
  schema: z.literal(CANCELLATION_SCHEMA),
  investigationId: z.string(),
  /** The caller's identity as the CLI gave it (CloudTrail records the IAM principal that invoked the function). */
  cancelledBy: z.string(),
  reason: z.string(),
  at: z.string(),
  execution: z.object({
    arn: z.string(),
    /** The status the cancel found. */
    statusBefore: z.string(),
    /** Whether this cancel stopped it (false: it was already stopped, e.g. by a cancel that did not finish). */
    stopped: z.boolean(),
  }),
  threatId: z.string().optional(),
  s1Tasks: z.array(CancelledTask),
  cadoPipelines: z.array(CancelledPipeline),
  /** The note on the S1 threat; null when the investigation names no threat. */
  threatNote: z.object({ added: z.boolean(), reason: z.string().optional() }).nullable(),
  /** The objects under the investigation's prefix when the cancel ran: all kept as they were. */
  evidenceObjects: z.number().int().nonnegative(),
  tool: z.object({ name: z.string(), version: z.string() }),
});
export type CancellationRecord = z.infer<typeof CancellationRecord>;
