/**
 * The outcome event: Record Outcome puts one `Investigation <Outcome>` event on the project's bus when an
 * investigation ends (and when a hand-off re-run changes it), so other tools can act on it and a rule can notify
 * the operators. The detail is the evidence record in short: ids, the outcome, per agent its outcome, S3 URI and
 * version, SHA-256 and Cado project and pipeline, where the case file and report are, and the commands that follow.
 * Never a credential; bounded well under EventBridge's 256 KB entry (at most 50 agents, reasons cut).
 */
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { OUTCOME_EVENT } from '../contract';
import type { CaseRecord } from './case-record';
import { caseReportKey } from './case-report';
import { caseKeyForExecution } from './keys';

/** The `detail` of an outcome event (schema `s1cado/outcome-event@1`). */
export interface OutcomeEventDetail {
  readonly schema: 's1cado/outcome-event@1';
  readonly investigationId: string;
  readonly threatId: string | null;
  readonly status: CaseRecord['status'];
  readonly summary: string;
  readonly counts: CaseRecord['counts'];
  readonly requestedBy: string | null;
  readonly agents: readonly {
    readonly agentId: string;
    readonly computerName: string | null;
    readonly outcome: string;
    readonly reason: string;
    readonly evidence: {
      readonly s3Uri: string;
      readonly versionId: string | null;
      readonly sha256: string;
      readonly bytes: number;
    } | null;
    readonly cado: { readonly projectId: number; readonly pipelineId: number; readonly phase: string } | null;
  }[];
  readonly caseUri: string;
  readonly reportUri: string;
  readonly verifyCommand: string;
  readonly rerunCommand: string | null;
  /** What to do next, in words (the re-run command, or that nothing is needed): the notification shows it. */
  readonly nextStep: string;
}

/** The event detail for a case. */
export function outcomeEventDetail(record: CaseRecord, bucket: string): OutcomeEventDetail {
  const key = caseKeyForExecution(record.investigationId);
  return {
    schema: 's1cado/outcome-event@1',
    investigationId: record.investigationId,
    threatId: record.threatId ?? null,
    status: record.status,
    summary: record.summary.slice(0, 1000),
    counts: record.counts,
    requestedBy: record.requestedBy ?? null,
    agents: record.agents.slice(0, 50).map((a) => ({
      agentId: a.agentId,
      computerName: a.computerName ?? null,
      outcome: a.outcome,
      reason: a.reason.slice(0, 500),
      evidence: a.evidence
        ? {
            s3Uri: `s3://${a.evidence.bucket}/${a.evidence.key}`,
            versionId: a.evidence.versionId,
            sha256: a.evidence.sha256,
            bytes: a.evidence.bytes,
          }
        : null,
      cado: a.cado
        ? { projectId: a.cado.projectId, pipelineId: a.cado.pipelineId, phase: a.cado.phase }
        : null,
    })),
    caseUri: `s3://${bucket}/${key}`,
    reportUri: `s3://${bucket}/${caseReportKey(key)}`,
    verifyCommand: `npx s1cado verify ${record.investigationId}`,
    rerunCommand: record.handoffRerunCommand ?? null,
    nextStep: record.handoffRerunCommand
      ? `re-run the Cado hand-off once Cado is back: ${record.handoffRerunCommand}`
      : record.status === 'not_attempted'
        ? 'none: intake retries it'
        : 'none',
  };
}

/** Puts the case's outcome event on `busName`; throws when EventBridge refuses the entry. */
export async function putOutcomeEvent(
  client: EventBridgeClient,
  busName: string,
  record: CaseRecord,
  bucket: string,
): Promise<void> {
  const out = await client.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: busName,
          Source: OUTCOME_EVENT.source,
          DetailType: OUTCOME_EVENT.detailTypes[record.status],
          Detail: JSON.stringify(outcomeEventDetail(record, bucket)),
          Resources: record.executionArn ? [record.executionArn] : [],
        },
      ],
    }),
  );
  const failed = out.Entries?.[0];
  if ((out.FailedEntryCount ?? 0) > 0 || failed?.ErrorCode) {
    throw new Error(
      `EventBridge refused the outcome event: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim(),
    );
  }
}
