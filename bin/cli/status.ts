/**
 * `s1cado status <investigationId>`: the execution (DescribeExecution on the ARN built from the state machine and
 * the investigation id) and, once written, `case.json`: per agent the outcome, S3 key, size, SHA-256 and Cado status.
 */
import { CancellationRecord } from '../../lambdas/shared/evidence/cancellation';
import { cancellationKey } from '../../lambdas/shared/evidence/keys';
import { getJson } from '../../lambdas/shared/evidence/manifest';
import { InvestigationId } from '../../lambdas/shared/schemas';
import { COMMON_OPTIONS, parseCommand, shown, stringFlag } from './args';
import { createAwsClients } from './aws-clients';
import { readCase } from './case-file';
import { Deployment, deploymentOptions } from './deployment';
import { EXIT_OK, InvestigationNotFoundError, UsageError } from './errors';
import { describeInvestigation, progressText } from './execution';
import { caseLines, consoleUrl, executionLines } from './format';
import { type CliIo, Output } from './io';

/** `s1cado status --help`. */
export const STATUS_HELP = `Usage: s1cado status <investigationId> [options]

Shows where an investigation stands: its Step Functions execution and, once the investigation has ended, its
case.json: per agent the outcome, the evidence's S3 key, size and SHA-256, and the Cado status.
A cancelled investigation (s1cado cancel) also shows who cancelled it, when and why (cancellation.json).

Options
  --json                the execution, case.json and cancellation.json as one JSON document on stdout
  --stack <name>        CloudFormation stack to read the locations from (default S1CadoForensics, or $S1CADO_STACK)
  --region <region>     AWS region (default: the SDK's, e.g. $AWS_REGION)
  --state-machine-arn   the investigation state machine (or $S1CADO_STATE_MACHINE_ARN; default: stack output)
  --bucket <name>       the evidence bucket (or $S1CADO_BUCKET; default: stack output)

Exit codes: 0 found (whatever the investigation's own outcome), 1 not found or lookup failed, 2 usage error.`;

/** Parses an investigation id argument. */
export function investigationIdArg(value: string | undefined, command: string): string {
  const parsed = InvestigationId.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(
      `investigation id ${shown(value)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`,
      command,
    );
  }
  return parsed.data;
}

/** Runs `s1cado status`; returns the exit code. */
export async function statusCommand(args: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io);
  const { flags, positionals } = parseCommand(
    'status',
    args,
    { ...COMMON_OPTIONS, ...deploymentOptions('stateMachineArn', 'bucket') },
    { min: 1, max: 1, names: 'the investigation id (e.g. manual-20250101T120000Z-1a2b3c or threat-<id>)' },
  );
  if (flags.help) {
    out.out(STATUS_HELP);
    return EXIT_OK;
  }
  const investigationId = investigationIdArg(positionals[0], 'status');
  const clients = createAwsClients(io.env, stringFlag(flags, 'region'));
  try {
    const deployment = new Deployment({ stackName: stringFlag(flags, 'stack'), flags, env: io.env, clients });
    const stateMachineArn = await deployment.get('stateMachineArn');
    const bucket = await deployment.get('bucket');
    const [execution, record, cancellation] = await Promise.all([
      describeInvestigation(clients.sfn, stateMachineArn, investigationId),
      readCase(clients.s3, bucket, investigationId),
      getJson(clients.s3, bucket, cancellationKey(investigationId), CancellationRecord),
    ]);
    if (!execution && !record) {
      throw new InvestigationNotFoundError(
        `No investigation ${investigationId}: no execution of ${stateMachineArn} by that name, ` +
          `and no case.json in s3://${bucket}`,
      );
    }
    if (flags.json === true) {
      out.json({
        investigationId,
        execution: execution ? { ...execution, consoleUrl: consoleUrl(execution.executionArn) } : null,
        case: record ?? null,
        cancellation: cancellation ?? null,
      });
      return EXIT_OK;
    }
    out.out(`Investigation ${investigationId}`);
    if (execution) {
      for (const line of executionLines(execution)) out.out(line);
      out.out(`  Console     ${consoleUrl(execution.executionArn)}`);
    } else {
      out.out('  Execution   not found (expired from the history, or started on another state machine)');
    }
    if (cancellation) {
      out.out(
        `  Cancelled   by ${cancellation.cancelledBy} at ${cancellation.at}: ${cancellation.reason} ` +
          `(${cancellationKey(investigationId)})`,
      );
    }
    if (record) {
      for (const line of caseLines(record)) out.out(line);
    } else if (execution?.status === 'RUNNING') {
      const progress = await progressText(clients.s3, bucket, investigationId);
      out.out(`  Progress    ${progress ?? 'unknown'} (case.json is written when the investigation ends)`);
    } else if (!cancellation) {
      out.out('  Case        no case.json (the investigation stopped before recording its outcome)');
    }
    return EXIT_OK;
  } finally {
    clients.destroy();
  }
}
