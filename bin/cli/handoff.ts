/**
 * `s1cado handoff <investigationId>`: re-runs the Cado hand-off of evidence that is staged but was not processed
 * (Cado down or failing during the investigation), by starting the deployed HandOffRerun state machine and
 * following its execution. The state machine does the work with the workflow's own steps: it finds the staged
 * evidence from the manifests, hands each collection to Cado (or follows a pipeline started earlier), waits for
 * Cado, and Record Outcome updates the manifests and case.json. The CLI writes nothing and retries nothing.
 */
import { randomBytes } from 'node:crypto';
import { ListExecutionsCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { CaseRecord, HandoffRerun } from '../../lambdas/shared/evidence/case-record';
import { HandoffRerunInput } from '../../lambdas/shared/schemas';
import { formatDuration } from '../units';
import { COMMON_OPTIONS, parseCommand, parseDuration, stringFlag } from './args';
import { createAwsClients } from './aws-clients';
import { readCase } from './case-file';
import { defaultRequester } from './collect';
import { Deployment, deploymentOptions } from './deployment';
import { EXIT_FAILURE, EXIT_OK, InvestigationStateError, UsageError } from './errors';
import { followExecution } from './execution';
import { consoleUrl, executionLines, nextLines } from './format';
import { type CliIo, Output } from './io';
import { investigationIdArg } from './status';

/** How long the command follows the re-run unless `--timeout` says otherwise (the Cado deadline is hours). */
export const DEFAULT_HANDOFF_TIMEOUT_MS = 8 * 3_600_000;

/** `s1cado handoff --help`. */
export const HANDOFF_HELP = `Usage: s1cado handoff <investigationId> [options]

Re-runs the Cado hand-off for every agent whose evidence is staged but was not processed by Cado (case.json says
staged_handoff_failed, or the manifest's hand-off is not complete). Starts the HandOffRerun state machine and
follows its execution with live progress: it checks that each staged object still exists with the size its
manifest records, hands it to Cado (a pipeline that may still be running is followed, not imported again), waits
for Cado, and records the outcome in new versions of the manifests and of case.json.

Refuses to start while a re-run of the same investigation is still running (both would import the same evidence).

Needs: states:StartExecution and states:ListExecutions on the HandOffRerun state machine, states:DescribeExecution
and states:GetExecutionHistory on its executions; to print the outcome, read access to case.json (as status). No
S3 write: only the state machine writes evidence records.

Options
  --no-wait                    return once the re-run has started
  --timeout <duration>         stop following after this long, e.g. 30m, 3h (default 8h); the re-run goes on
  --requested-by <who>         recorded in the manifests' timeline and case.json (default: $USER@<host name>)
  --json                       machine-readable result on stdout (progress goes to stderr)
  --stack <name>               CloudFormation stack to read the locations from (default S1CadoForensics, or $S1CADO_STACK)
  --region <region>            AWS region (default: the SDK's, e.g. $AWS_REGION)
  --handoff-state-machine-arn  (or $S1CADO_HANDOFF_STATE_MACHINE_ARN; default: stack output HandOffRerunStateMachineArn)
  --bucket <name>              the evidence bucket, to print the outcome (or $S1CADO_BUCKET; default: stack output)

Exit codes: 0 every staged collection processed by Cado (with --no-wait: started), 1 any not processed, the re-run
failed or is still running at the timeout, 2 usage error.`;

/**
 * The re-run's execution name: `<investigationId>-handoff-<time>-<random>`, so the console lists it next to the
 * investigation; `handoff-<time>-<random>` when that would pass the 80 characters Step Functions allows.
 */
export function rerunExecutionName(
  investigationId: string,
  nowMs: number,
  random: () => string = () => randomBytes(3).toString('hex'),
): string {
  const stamp = new Date(nowMs)
    .toISOString()
    .replace(/\.\d{3}/, '')
    .replace(/[-:]/g, '');
  // The random tail keeps two starts within the same second apart (names must be unique per state machine).
  const tail = random();
  const named = `${investigationId}-handoff-${stamp}-${tail}`;
  return named.length <= 80 ? named : `handoff-${stamp}-${tail}`;
}

/**
 * A re-run of the same investigation still running, if any: two at once would import the same evidence twice. A
 * check, not a lock (Step Functions has none across executions), against the common case of running the command
 * again while the first one is still following Cado.
 */
export async function runningRerun(
  sfn: SFNClient,
  stateMachineArn: string,
  investigationId: string,
): Promise<string | undefined> {
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING', maxResults: 100, nextToken }),
    );
    const found = (page.executions ?? []).find((e) => e.name?.startsWith(`${investigationId}-handoff-`));
    if (found) return found.executionArn;
    nextToken = page.nextToken;
  } while (nextToken);
  return undefined;
}

/** One line per collection of this re-run. */
function rerunLines(entry: HandoffRerun): string[] {
  return entry.agents.map((a) => {
    const how =
      a.action === 'refused'
        ? 'not handed off'
        : `${a.action === 'followed' ? 'earlier Cado pipeline followed' : 'imported'}${a.pipelineId !== undefined ? `, pipeline ${a.pipelineId}` : ''}`;
    return `  ${a.agentId}: ${a.outcome} (${how}) — ${a.reason}`;
  });
}

/** Runs `s1cado handoff`; returns the exit code. */
export async function handoffCommand(args: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io);
  const { flags, positionals } = parseCommand(
    'handoff',
    args,
    {
      ...COMMON_OPTIONS,
      ...deploymentOptions('handoffStateMachineArn', 'bucket'),
      'no-wait': { type: 'boolean' },
      timeout: { type: 'string' },
      'requested-by': { type: 'string' },
    },
    { min: 1, max: 1, names: 'the investigation id' },
  );
  if (flags.help) {
    out.out(HANDOFF_HELP);
    return EXIT_OK;
  }
  const investigationId = investigationIdArg(positionals[0], 'handoff');
  const wait = flags['no-wait'] !== true;
  const timeout = stringFlag(flags, 'timeout');
  if (timeout !== undefined && !wait)
    throw new UsageError('--timeout does not apply with --no-wait', 'handoff');
  const timeoutMs = timeout ? parseDuration(timeout, '--timeout', 'handoff') : DEFAULT_HANDOFF_TIMEOUT_MS;
  const parsed = HandoffRerunInput.safeParse({
    investigationId,
    requestedBy: stringFlag(flags, 'requested-by') ?? defaultRequester(io),
  });
  if (!parsed.success) {
    throw new UsageError(`--requested-by: ${parsed.error.issues[0]?.message ?? 'invalid'}`, 'handoff');
  }
  const input = parsed.data;
  const json = flags.json === true;

  const clients = createAwsClients(io.env, stringFlag(flags, 'region'));
  try {
    const deployment = new Deployment({ stackName: stringFlag(flags, 'stack'), flags, env: io.env, clients });
    const stateMachineArn = await deployment.get('handoffStateMachineArn');
    // Found before starting anything: a follow that cannot read the outcome is better refused up front.
    const bucket = wait ? await deployment.get('bucket') : undefined;
    const running = await runningRerun(clients.sfn, stateMachineArn, investigationId);
    if (running) {
      throw new InvestigationStateError(
        `A hand-off re-run of ${investigationId} is still running (${running}); wait for it to finish ` +
          `(npx s1cado status ${investigationId}) before starting another`,
      );
    }
    const name = rerunExecutionName(investigationId, io.now());
    const started = await clients.sfn.send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    );
    const executionArn = started.executionArn ?? '';
    const link = consoleUrl(executionArn);
    const startedDoc = { investigationId, executionArn, consoleUrl: link, input };
    if (!json) {
      out.out(`Started the hand-off re-run of ${investigationId}`);
      out.out(`  Requested   by ${input.requestedBy}`);
      out.out(`  Execution   ${executionArn}`);
      out.out(`  Console     ${link}`);
      if (!wait)
        out.out(`  Outcome     recorded in case.json when it ends: npx s1cado status ${investigationId}`);
    }
    if (!wait || bucket === undefined) {
      if (json) out.json(startedDoc);
      return EXIT_OK;
    }

    out.err(`Following ${name} (at most ${formatDuration(timeoutMs)})...`);
    const { view, output, timedOut } = await followExecution({
      sfn: clients.sfn,
      executionArn,
      timeoutMs,
      io,
      out,
    });
    if (timedOut || !view) {
      out.err(
        `Stopped following after ${formatDuration(timeoutMs)}; the re-run goes on and records its outcome in ` +
          `case.json (npx s1cado status ${investigationId}).`,
      );
      if (json)
        out.json({ ...startedDoc, execution: view ?? null, rerun: null, case: null, waitTimedOut: true });
      return EXIT_FAILURE;
    }
    // The "Nothing To Hand Off" end: Find Staged Evidence found nothing, and nothing was written.
    const nothing =
      view.status === 'SUCCEEDED' &&
      (output as { staged?: unknown[]; outcome?: unknown } | undefined)?.outcome === undefined;
    let record: CaseRecord | undefined;
    let entry: HandoffRerun | undefined;
    if (!nothing) {
      record = await readCase(clients.s3, bucket, investigationId);
      entry = record?.handoffReruns?.findLast((r) => r.executionName === name);
    }
    if (json) {
      out.json({
        ...startedDoc,
        execution: view,
        nothingToHandOff: nothing,
        rerun: entry ?? null,
        case: record ?? null,
      });
    } else if (nothing) {
      out.out(`Nothing to hand off: all staged evidence of ${investigationId} was processed by Cado.`);
    } else {
      out.out(`Hand-off re-run of ${investigationId} finished`);
      for (const line of executionLines(view)) out.out(line);
      if (entry) for (const line of rerunLines(entry)) out.out(line);
      if (record) out.out(`  Case        ${record.status}: ${record.summary}`);
      if (record) for (const line of nextLines(record, true)) out.out(line);
    }
    return view.status === 'SUCCEEDED' ? EXIT_OK : EXIT_FAILURE;
  } finally {
    clients.destroy();
  }
}
