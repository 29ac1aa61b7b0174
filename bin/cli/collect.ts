/**
 * `s1cado collect`: starts an investigation the way the console or the threat intake would, with the documented
 * execution input (validated here with the workflow's own schema), named `manual-<time>-<6 hex>`.
 */
import { randomBytes } from 'node:crypto';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  CUSTOM_PATHS_LIMITS,
  PROFILE_CONTENTS,
  PROFILE_NAMES,
  type ProfileName,
  validateCustomPaths,
} from '../../lambdas/collectors/profiles';
import { LIMITS } from '../../lambdas/shared/contract';
import { InvestigationId, WorkflowInput } from '../../lambdas/shared/schemas';
import { formatDuration } from '../units';
import { COMMON_OPTIONS, parseCommand, parseDuration, shown, stringFlag, stringList } from './args';
import { createAwsClients } from './aws-clients';
import { readCase } from './case-file';
import { Deployment, deploymentOptions } from './deployment';
import { EXIT_FAILURE, EXIT_OK, UsageError } from './errors';
import { waitForExecution } from './execution';
import { caseLines, consoleUrl, executionLines } from './format';
import { type CliIo, Output } from './io';

/** How long `--wait` waits unless `--timeout` says otherwise. */
export const DEFAULT_COLLECT_TIMEOUT_MS = 2 * 3_600_000;

/** `s1cado collect --help`. */
export const COLLECT_HELP = `Usage: s1cado collect --agent <id> [--agent <id> ...] [options]

Starts an investigation: collects forensic evidence from the SentinelOne agents through RemoteOps, stages it in
the evidence bucket with a chain-of-custody manifest and hands it to Cado. Prints the investigation id (the
execution name, manual-<time>-<id>), the execution ARN and its console page.

Options
  --agent <id>          S1 agent id (digits, not the UUID); repeat for several agents (at most ${LIMITS.maxAgents})
  --threat <id>         the S1 threat this collection is about (kept in the chain of custody)
  --reason <text>       why (kept in the chain of custody)
  --profile <name>      what to collect (default: the deployment's default, triage):
${PROFILE_NAMES.map((name) => `                          ${name.padEnd(7)} ${PROFILE_CONTENTS[name].summary}`).join('\n')}
  --path <path>         custom: an absolute path or glob (* ?) to collect, no "." or ".." segment; repeat
                        for several (at most ${CUSTOM_PATHS_LIMITS.maxCount})
  --requested-by <who>  who asks (default: $USER@<host name>)
  --mode <mode>         s1-remoteops: our collector through S1 RemoteOps, staged in the evidence bucket; cado-xdr:
                        Cado collects itself through its SentinelOne integration (default: the stack's collectionMode)
  --wait                wait for the investigation to finish, show progress and the outcome
  --timeout <duration>  with --wait: stop waiting after this long, e.g. 45m, 3h (default 2h)
  --json                machine-readable output on stdout (progress goes to stderr)
  --stack <name>        CloudFormation stack to read the locations from (default S1CadoForensics, or $S1CADO_STACK)
  --region <region>     AWS region (default: the SDK's, e.g. $AWS_REGION)
  --state-machine-arn   the investigation state machine (or $S1CADO_STATE_MACHINE_ARN; default: stack output)
  --bucket <name>       the evidence bucket, for --wait (or $S1CADO_BUCKET; default: stack output)

Exit codes: 0 started (with --wait: succeeded), 1 failed, 2 usage error.`;

const FLAG_OF: Record<string, string> = {
  agentIds: '--agent',
  threatId: '--threat',
  requestedBy: '--requested-by',
  reason: '--reason',
  profile: '--profile',
  customPaths: '--path',
  collectionMode: '--mode',
};

/** Validates the execution input with the workflow's schema; problems are reported by flag, with the bad value. */
export function buildInput(fields: {
  agentIds: string[];
  threatId?: string;
  requestedBy: string;
  reason?: string;
  profile?: string;
  customPaths?: string[];
  /** `--mode`; validated by the schema. */
  collectionMode?: string;
}): WorkflowInput {
  const paths = fields.customPaths ?? [];
  if (paths.length > 0 && fields.profile !== 'custom') {
    throw new UsageError('--path is only taken by --profile custom', 'collect');
  }
  if (fields.profile === 'custom') {
    if (paths.length === 0)
      throw new UsageError('--profile custom needs at least one --path <absolute path>', 'collect');
    try {
      validateCustomPaths(paths);
    } catch (error) {
      throw new UsageError(`--path: ${(error as Error).message}`, 'collect');
    }
  }
  const candidate = {
    agentIds: fields.agentIds,
    requestedBy: fields.requestedBy,
    ...(fields.threatId !== undefined ? { threatId: fields.threatId } : {}),
    ...(fields.reason !== undefined ? { reason: fields.reason } : {}),
    ...(fields.profile !== undefined ? { profile: fields.profile as ProfileName } : {}),
    ...(paths.length > 0 ? { customPaths: paths } : {}),
    ...(fields.collectionMode !== undefined ? { collectionMode: fields.collectionMode } : {}),
  };
  const parsed = WorkflowInput.safeParse(candidate);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const [field, index] = issue.path;
    const flag = FLAG_OF[String(field)] ?? String(field ?? 'input');
    if (field === 'agentIds' && typeof index === 'number') {
      return `${flag} ${shown(fields.agentIds[index])}: ${issue.message}`;
    }
    if (field === 'threatId') return `${flag} ${shown(fields.threatId)}: ${issue.message}`;
    if (field === 'profile') return `${flag} ${shown(fields.profile)}: ${issue.message}`;
    if (field === 'collectionMode') return `${flag} ${shown(fields.collectionMode)}: ${issue.message}`;
    return `${flag}: ${issue.message}`;
  });
  throw new UsageError(problems.join('; '), 'collect');
}

/** `manual-20250101T120000Z-1a2b3c`: sortable by time, unique by the random part. */
export function manualInvestigationId(
  nowMs: number,
  random: () => string = () => randomBytes(3).toString('hex'),
) {
  const stamp = new Date(nowMs)
    .toISOString()
    .replace(/\.\d{3}/, '')
    .replace(/[-:]/g, '');
  return InvestigationId.parse(`manual-${stamp}-${random()}`);
}

/** Who runs the CLI, for the chain of custody: `$USER@<host name>`. */
export function defaultRequester(io: CliIo): string {
  const user = io.env.USER ?? io.env.USERNAME ?? io.env.LOGNAME ?? 'unknown-user';
  return `${user}@${io.hostname()}`;
}

/** Runs `s1cado collect`; returns the exit code. */
export async function collectCommand(args: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io);
  const { flags } = parseCommand(
    'collect',
    args,
    {
      ...COMMON_OPTIONS,
      ...deploymentOptions('stateMachineArn', 'bucket'),
      agent: { type: 'string', multiple: true },
      threat: { type: 'string' },
      reason: { type: 'string' },
      profile: { type: 'string' },
      path: { type: 'string', multiple: true },
      'requested-by': { type: 'string' },
      mode: { type: 'string' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
    },
    { min: 0, max: 0, names: '' },
  );
  if (flags.help) {
    out.out(COLLECT_HELP);
    return EXIT_OK;
  }
  const agentIds = stringList(flags, 'agent');
  if (agentIds.length === 0) throw new UsageError('name at least one agent: --agent <id>', 'collect');
  const input = buildInput({
    agentIds,
    threatId: stringFlag(flags, 'threat'),
    requestedBy: stringFlag(flags, 'requested-by') ?? defaultRequester(io),
    reason: stringFlag(flags, 'reason'),
    profile: stringFlag(flags, 'profile'),
    customPaths: stringList(flags, 'path'),
    collectionMode: stringFlag(flags, 'mode'),
  });
  const wait = flags.wait === true;
  const timeout = stringFlag(flags, 'timeout');
  if (timeout !== undefined && !wait) throw new UsageError('--timeout only applies with --wait', 'collect');
  const timeoutMs = timeout ? parseDuration(timeout, '--timeout', 'collect') : DEFAULT_COLLECT_TIMEOUT_MS;
  const json = flags.json === true;

  const clients = createAwsClients(io.env, stringFlag(flags, 'region'));
  try {
    const deployment = new Deployment({
      stackName: stringFlag(flags, 'stack'),
      flags,
      env: io.env,
      clients,
    });
    const stateMachineArn = await deployment.get('stateMachineArn');
    // Found before starting anything: a wait that cannot read the outcome is better refused up front.
    const bucket = wait ? await deployment.get('bucket') : undefined;
    const investigationId = manualInvestigationId(io.now());
    const started = await clients.sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: investigationId, input: JSON.stringify(input) }),
    );
    const executionArn = started.executionArn ?? '';
    const link = consoleUrl(executionArn);
    const startedDoc = { investigationId, executionArn, consoleUrl: link, input };
    if (!json) {
      out.out(`Started investigation ${investigationId}`);
      out.out(`  Agents      ${input.agentIds.join(', ')}`);
      if (input.threatId) out.out(`  Threat      ${input.threatId}`);
      out.out(`  Profile     ${input.profile ?? 'default (triage unless configured otherwise)'}`);
      if (input.customPaths) out.out(`  Paths       ${input.customPaths.join(', ')}`);
      if (input.collectionMode) out.out(`  Mode        ${input.collectionMode}`);
      out.out(`  Requested   by ${input.requestedBy}${input.reason ? ` — ${input.reason}` : ''}`);
      out.out(`  Execution   ${executionArn}`);
      out.out(`  Console     ${link}`);
      if (!wait) out.out(`  Status      npx s1cado status ${investigationId}`);
    }
    if (!wait || bucket === undefined) {
      if (json) out.json(startedDoc);
      return EXIT_OK;
    }

    out.err(`Waiting for ${investigationId} (at most ${formatDuration(timeoutMs)})...`);
    const { view, timedOut } = await waitForExecution({
      sfn: clients.sfn,
      s3: clients.s3,
      bucket,
      stateMachineArn,
      investigationId,
      timeoutMs,
      io,
      out,
    });
    if (timedOut || !view) {
      out.err(
        `Stopped waiting after ${formatDuration(timeoutMs)}; the investigation goes on. ` +
          `Check it with: npx s1cado status ${investigationId}`,
      );
      if (json) out.json({ ...startedDoc, execution: view ?? null, case: null, waitTimedOut: true });
      return EXIT_FAILURE;
    }
    const record = await readCase(clients.s3, bucket, investigationId);
    if (json) {
      out.json({ ...startedDoc, execution: view, case: record ?? null });
    } else {
      out.out(`Investigation ${investigationId} finished`);
      for (const line of executionLines(view)) out.out(line);
      if (record) for (const line of caseLines(record)) out.out(line);
      else out.out('  Case        no case.json was written (see the execution error above)');
    }
    return view.status === 'SUCCEEDED' ? EXIT_OK : EXIT_FAILURE;
  } finally {
    clients.destroy();
  }
}
