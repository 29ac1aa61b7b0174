/**
 * `s1cado backfill --since <time>`: replays the S1 threats created in a window through the intake, so the threats
 * the intake missed are investigated once, as if the poller had seen them. The deployed backfill-threats Lambda
 * lists them from S1 (it holds the token; the CLI does not), skips those already investigated and those outside
 * the threat filter, and puts one intake event per remaining threat on the bus; start-investigation starts each.
 */
import { z } from 'zod';
import { BackfillInput } from '../../lambdas/shared/schemas';
import { COMMON_OPTIONS, parseCommand, parseDuration, stringFlag } from './args';
import { createAwsClients } from './aws-clients';
import { defaultRequester } from './collect';
import { Deployment, deploymentOptions } from './deployment';
import { EXIT_FAILURE, EXIT_OK, UsageError } from './errors';
import { type CliIo, Output } from './io';
import { invokeFunction } from './lambda-invoke';

/** `s1cado backfill --help`. */
export const BACKFILL_HELP = `Usage: s1cado backfill --since <time> [--until <time>] [--dry-run] [options]

Replays the S1 threats created in (since, until] through the threat intake: each threat that passes the threat
filter, names an agent and was never investigated is put on the intake bus, and start-investigation starts its
investigation (threat-<id>) as for a polled threat. Threats already investigated (records in the evidence bucket,
or an execution of that name) are skipped, so running the same backfill twice starts nothing new. At most 500
threats are read per run; the output says when the window held more (narrow it and run again).

Needs: lambda:InvokeFunction on the backfill function (stack output BackfillFunctionName); the function itself
reads S1 and puts the events (the bus accepts threat events from the intake functions only).

Options
  --since <time>               start of the window (exclusive): an ISO 8601 time (2026-11-30T08:00:00Z, or a date,
                               read as midnight UTC) or a duration back from now (90m, 12h, 7d; at most 7 days)
  --until <time>               end of the window (inclusive), the same forms (default: now)
  --dry-run                    list what would be started; put no event, change nothing
  --requested-by <who>         logged by the function (default: $USER@<host name>)
  --json                       the result as JSON on stdout
  --stack <name>               CloudFormation stack to read the function from (default S1CadoForensics, or $S1CADO_STACK)
  --region <region>            AWS region (default: the SDK's, e.g. $AWS_REGION)
  --backfill-function <name>   (or $S1CADO_BACKFILL_FUNCTION; default: stack output BackfillFunctionName)

Exit codes: 0 done (or, with --dry-run, listed), 1 some events could not be put on the bus or the backfill failed,
2 usage error.`;

const BackfillPayload = z.looseObject({
  since: z.string(),
  until: z.string(),
  dryRun: z.boolean(),
  queued: z.array(
    z.looseObject({
      threatId: z.string(),
      investigationId: z.string(),
      agentId: z.string(),
      computerName: z.string().nullable(),
    }),
  ),
  skipped: z.array(z.looseObject({ threatId: z.string(), reason: z.string(), detail: z.string() })),
  failed: z.array(z.looseObject({ threatId: z.string(), errorCode: z.string() })),
  listed: z.number(),
  truncated: z.boolean(),
});

/** `--since`/`--until`: an ISO 8601 time or date, or a duration (`7d` too) back from `nowMs`. */
export function parseWindowTime(text: string, flag: string, nowMs: number): string {
  const trimmed = text.trim();
  const days = /^(\d+(?:\.\d+)?)d$/.exec(trimmed);
  if (days) {
    const ms = Number(days[1]) * 86_400_000;
    if (!(ms > 0) || ms > 7 * 86_400_000) throw new UsageError(`${flag}: at most 7 days back`, 'backfill');
    return new Date(nowMs - ms).toISOString();
  }
  if (/^\d+(?:\.\d+)?[smh]?$/.test(trimmed)) {
    return new Date(nowMs - parseDuration(trimmed, flag, 'backfill')).toISOString();
  }
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed;
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(iso) ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms) || !/(Z|[+-]\d{2}:?\d{2})$/.test(iso)) {
    throw new UsageError(
      `${flag} must be an ISO 8601 time with a zone (2026-11-30T08:00:00Z), a date, or a duration such as 12h or 7d`,
      'backfill',
    );
  }
  return new Date(ms).toISOString();
}

/** Runs `s1cado backfill`; returns the exit code. */
export async function backfillCommand(args: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io);
  const { flags } = parseCommand(
    'backfill',
    args,
    {
      ...COMMON_OPTIONS,
      ...deploymentOptions('backfillFunction'),
      since: { type: 'string' },
      until: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'requested-by': { type: 'string' },
    },
    { min: 0, max: 0, names: '' },
  );
  if (flags.help) {
    out.out(BACKFILL_HELP);
    return EXIT_OK;
  }
  const nowMs = io.now();
  const sinceText = stringFlag(flags, 'since');
  if (sinceText === undefined) throw new UsageError('--since is required (e.g. --since 24h)', 'backfill');
  const untilText = stringFlag(flags, 'until');
  const parsed = BackfillInput.safeParse({
    since: parseWindowTime(sinceText, '--since', nowMs),
    until:
      untilText === undefined ? new Date(nowMs).toISOString() : parseWindowTime(untilText, '--until', nowMs),
    dryRun: flags['dry-run'] === true,
    requestedBy: stringFlag(flags, 'requested-by') ?? defaultRequester(io),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `${issue?.path[0] === 'requestedBy' ? '--requested-by' : '--since'}: ${issue?.message ?? 'invalid'}`,
      'backfill',
    );
  }

  const clients = createAwsClients(io.env, stringFlag(flags, 'region'));
  try {
    const deployment = new Deployment({ stackName: stringFlag(flags, 'stack'), flags, env: io.env, clients });
    const functionName = await deployment.get('backfillFunction');
    const result = await invokeFunction(clients.lambda, functionName, parsed.data, BackfillPayload);
    const code = result.failed.length > 0 ? EXIT_FAILURE : EXIT_OK;
    if (flags.json === true) {
      out.json(result);
      return code;
    }
    const verb = result.dryRun ? 'would start' : 'started';
    out.out(
      `Backfill ${result.since} .. ${result.until}${result.dryRun ? ' (dry run: nothing was put on the bus)' : ''}: ` +
        `${result.listed} threat(s) listed, ${result.queued.length} ${verb}, ${result.skipped.length} skipped` +
        (result.failed.length ? `, ${result.failed.length} failed` : ''),
    );
    for (const q of result.queued) {
      out.out(
        `  ${verb}: threat ${q.threatId} → ${q.investigationId} (agent ${q.computerName ?? q.agentId})`,
      );
    }
    for (const s of result.skipped) out.out(`  skipped: threat ${s.threatId} (${s.reason}: ${s.detail})`);
    for (const f of result.failed)
      out.out(`  failed: threat ${f.threatId} (${f.errorCode}); run the backfill again`);
    if (result.truncated) {
      out.out('  The window held more threats than one run reads; narrow it (--until) and run again.');
    }
    if (!result.dryRun && result.queued.length > 0) {
      out.out(
        '  start-investigation starts each from the bus; follow them with "s1cado status <investigationId>".',
      );
    }
    return code;
  } finally {
    clients.destroy();
  }
}
