/**
 * `s1cado cancel <investigationId>`: stops an investigation on purpose. The deployed cancel-investigation Lambda
 * does the work (it holds the S1 token and the Cado key; the CLI has neither): it stops the execution, asks S1 to
 * cancel the agents' tasks and Cado its running pipelines, adds a note on the S1 threat, and writes
 * `cancellation.json` once with who and why. Nothing staged is deleted or changed.
 */
import { z } from 'zod';
import { CancellationRecord } from '../../lambdas/shared/evidence/cancellation';
import { CancelInvestigationInput } from '../../lambdas/shared/schemas';
import { COMMON_OPTIONS, parseCommand, stringFlag } from './args';
import { createAwsClients } from './aws-clients';
import { defaultRequester } from './collect';
import { Deployment, deploymentOptions } from './deployment';
import { EXIT_FAILURE, EXIT_OK, UsageError } from './errors';
import { type CliIo, Output } from './io';
import { invokeFunction } from './lambda-invoke';
import { investigationIdArg } from './status';

/** The reason recorded when `--reason` is not given. */
export const DEFAULT_CANCEL_REASON = 'cancelled by an operator (no reason given)';

/** `s1cado cancel --help`. */
export const CANCEL_HELP = `Usage: s1cado cancel <investigationId> [--reason <text>] [options]

Stops a running investigation: stops its Step Functions execution (no further step starts), asks S1 to cancel
each agent's task (S1 cancels only tasks not yet delivered to the agent), asks Cado to cancel the investigation's
pipelines still running, adds a note on the S1 threat, and records who cancelled and why in
investigations/<id>/cancellation.json (written once). Evidence already staged is kept exactly as it is.

Needs: lambda:InvokeFunction on the cancel function (stack output CancelFunctionName); the function itself holds
the rights to stop the execution and talk to S1 and Cado. CloudTrail records the IAM identity that invoked it.

Options
  --reason <text>            why (recorded, and in the S1 threat note; default "${DEFAULT_CANCEL_REASON}")
  --requested-by <who>       recorded as who cancelled (default: $USER@<host name>)
  --json                     the cancellation record as JSON on stdout
  --stack <name>             CloudFormation stack to read the function from (default S1CadoForensics, or $S1CADO_STACK)
  --region <region>          AWS region (default: the SDK's, e.g. $AWS_REGION)
  --cancel-function <name>   (or $S1CADO_CANCEL_FUNCTION; default: stack output CancelFunctionName)

Exit codes: 0 cancelled (every S1 and Cado cancel that was asked for answered), 1 the investigation is not running,
the cancel failed, or some S1 task or Cado pipeline could not be cancelled (see the record), 2 usage error.`;

const CancelPayload = CancellationRecord.extend({ recordKey: z.string() });

/** Runs `s1cado cancel`; returns the exit code. */
export async function cancelCommand(args: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io);
  const { flags, positionals } = parseCommand(
    'cancel',
    args,
    {
      ...COMMON_OPTIONS,
      ...deploymentOptions('cancelFunction'),
      reason: { type: 'string' },
      'requested-by': { type: 'string' },
    },
    { min: 1, max: 1, names: 'the investigation id' },
  );
  if (flags.help) {
    out.out(CANCEL_HELP);
    return EXIT_OK;
  }
  const investigationId = investigationIdArg(positionals[0], 'cancel');
  const parsed = CancelInvestigationInput.safeParse({
    investigationId,
    reason: stringFlag(flags, 'reason') ?? DEFAULT_CANCEL_REASON,
    requestedBy: stringFlag(flags, 'requested-by') ?? defaultRequester(io),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `--${issue?.path[0] === 'reason' ? 'reason' : 'requested-by'}: ${issue?.message ?? 'invalid'}`,
      'cancel',
    );
  }

  const clients = createAwsClients(io.env, stringFlag(flags, 'region'));
  try {
    const deployment = new Deployment({ stackName: stringFlag(flags, 'stack'), flags, env: io.env, clients });
    const functionName = await deployment.get('cancelFunction');
    const record = await invokeFunction(clients.lambda, functionName, parsed.data, CancelPayload);
    const incomplete =
      record.s1Tasks.some((t) => t.outcome === 'failed') ||
      record.cadoPipelines.some((p) => p.outcome === 'failed');
    if (flags.json === true) {
      out.json(record);
      return incomplete ? EXIT_FAILURE : EXIT_OK;
    }
    out.out(`Investigation ${record.investigationId} cancelled by ${record.cancelledBy}: ${record.reason}`);
    out.out(
      record.execution.stopped
        ? `  execution: stopped (was ${record.execution.statusBefore})`
        : `  execution: already stopped (${record.execution.statusBefore}); the rest of the cancel was completed`,
    );
    if (record.s1Tasks.length === 0) out.out('  S1 tasks: none started');
    for (const task of record.s1Tasks) {
      out.out(
        `  S1 task ${task.parentTaskId} (agent ${task.agentId}): ${task.outcome.replace('_', ' ')}${task.reason ? ` — ${task.reason}` : ''}`,
      );
    }
    if (record.cadoPipelines.length === 0) out.out('  Cado pipelines: none started');
    for (const pipeline of record.cadoPipelines) {
      out.out(
        `  Cado pipeline ${pipeline.pipelineId}: ${pipeline.outcome.replace('_', ' ')}${pipeline.reason ? ` — ${pipeline.reason}` : ''}`,
      );
    }
    if (record.threatNote) {
      out.out(
        `  S1 threat ${record.threatId ?? ''}: ${record.threatNote.added ? 'note added' : `note not added (${record.threatNote.reason ?? 'unknown'})`}`,
      );
    }
    out.out(
      `  evidence: ${record.evidenceObjects} object(s) under investigations/${record.investigationId}/ kept as they were`,
    );
    out.out(`  record: ${record.recordKey}`);
    return incomplete ? EXIT_FAILURE : EXIT_OK;
  } finally {
    clients.destroy();
  }
}
