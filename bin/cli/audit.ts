/**
 * `s1cado audit`: the permission audit of the S1 service user and the Cado key, on demand.
 *
 * - Deployed: `s1cado audit [--function <name>]` invokes the deployed audit Lambda (which also stores the report
 *   under `audits/`, emits the metrics and notifies the topic when needed) and prints its report. The function is
 *   found like every deployment value of the CLI: flag, `S1CADO_AUDIT_FUNCTION`, or the stack output.
 * - Local: `s1cado audit --s1-url <url> --cado-url <url>` runs the same checks from this machine with the tokens in
 *   `S1_API_TOKEN` / `CADO_API_KEY` (never from the command line, where shell history and `ps` would keep them) and
 *   prints the report; nothing is stored or sent. Either URL alone checks that service only.
 *
 * Exit codes (the CLI's): 0 no check failed, 1 a check failed or the audit could not run, 2 usage error.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type AuditDeps, runAudit } from '../../lambdas/audit-permissions/core';
import { formatReport } from '../../lambdas/audit-permissions/format';
import { loadCollectors } from '../../lambdas/collectors';
import { AuditReport } from '../../lambdas/shared/audit/report';
import { createCadoClient } from '../../lambdas/shared/cado';
import { DEFAULT_S1_HOSTS, isLoopbackHost } from '../../lambdas/shared/hosts';
import { RETRY_CHANNEL, type RetryNotice } from '../../lambdas/shared/http';
import { logger } from '../../lambdas/shared/observability';
import { registerSecret } from '../../lambdas/shared/redact';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client } from '../../lambdas/shared/sentinelone';
import { COMMON_OPTIONS, type ParsedFlags, parseCommand, stringFlag, stringList } from './args';
import { createAwsClients } from './aws-clients';
import { Deployment, deploymentOptions } from './deployment';
import { EXIT_FAILURE, EXIT_OK, UsageError } from './errors';
import { type CliIo, Output } from './io';
import { invokeFunction } from './lambda-invoke';

/** `s1cado audit --help`. */
export const AUDIT_HELP = `Usage: s1cado audit [--function <name>] [--stack <name>] [--region <region>] [--json]
       s1cado audit --s1-url <url> --cado-url <url> [options] [--json]

Checks that the SentinelOne service user and the Cado API key still have everything the forensic workflow
needs: token accepted and not about to expire, Account or Global scope, the 11 RemoteOps and Task Management
permissions, RemoteOps on every site, the collector scripts in the S1 library, the Cado key's role, and
Cado's health. Each check prints pass, warn, fail or unknown, with the reason and the fix.

Deployed audit (stores the report under audits/ in the evidence bucket and notifies as scheduled runs do):
  --function <name>      the audit Lambda (or $S1CADO_AUDIT_FUNCTION; default: the stack output AuditFunctionName)
  --stack <name>         CloudFormation stack to read it from (default S1CadoForensics, or $S1CADO_STACK)
  --region <region>      AWS region (default: the SDK's, e.g. $AWS_REGION)

Local audit (the same checks from this machine; nothing is stored or sent). Tokens come from the environment
only: S1_API_TOKEN for --s1-url, CADO_API_KEY for --cado-url.
  --s1-url <url>               S1 console root, e.g. https://usea1-acme.sentinelone.net
  --cado-url <url>             Cado platform root, e.g. https://cado.example.com
  --site <id>                  limit the RemoteOps check to this site; repeat for several (default: all in scope)
  --warning-days <n>           warn when the S1 token expires within n days (default 14)
  --cado-project-mode <mode>   per-threat (the key must create projects, default) or fixed
  --cado-ca-cert <file>        PEM certificate to trust for a self-signed Cado platform
  --s1-allowed-host <host>     host pattern the console may be on; repeat (default *.sentinelone.net)
  --allow-loopback             allow 127.0.0.1/localhost over http (local simulators)

  --json                 print the report as JSON
  -h, --help             this help

Exit codes: 0 no check failed, 1 a check failed or the audit could not run, 2 usage error.`;

const OPTIONS = {
  ...COMMON_OPTIONS,
  ...deploymentOptions('auditFunction'),
  function: { type: 'string' },
  's1-url': { type: 'string' },
  'cado-url': { type: 'string' },
  site: { type: 'string', multiple: true },
  'warning-days': { type: 'string' },
  'cado-project-mode': { type: 'string' },
  'cado-ca-cert': { type: 'string' },
  's1-allowed-host': { type: 'string', multiple: true },
  'allow-loopback': { type: 'boolean' },
} as const;

type Env = CliIo['env'];

/** The command line is wrong; the message says how. */
const usage = (message: string) => new UsageError(message, 'audit');

/** What the deployed function returns: the report, plus where it went. */
const AuditRunPayload = AuditReport.extend({
  delivery: z
    .looseObject({
      storedAt: z.object({ bucket: z.string(), key: z.string() }).nullish(),
      notification: z.string().optional(),
    })
    .optional(),
});

interface AuditResult {
  readonly report: AuditReport;
  /** What `--json` prints. */
  readonly payload: unknown;
  /** Lines printed after the table. */
  readonly notes: string[];
}

/** Runs `s1cado audit` with `args` (the words after `audit`); returns the exit code. Tokens are never printed. */
export async function auditCommand(args: readonly string[], io: CliIo): Promise<number> {
  // Registered before anything else, so that no message, not even a usage error, can show them.
  registerSecret(io.env.S1_API_TOKEN);
  registerSecret(io.env.CADO_API_KEY);
  const out = new Output(io);
  let flags: ParsedFlags;
  try {
    flags = parseCommand('audit', args, OPTIONS, { min: 0, max: 0, names: '' }).flags;
  } catch (error) {
    if (error instanceof UsageError && error.message.startsWith('unexpected argument')) {
      throw usage(`${error.message}: audit takes only flags (tokens come from S1_API_TOKEN / CADO_API_KEY)`);
    }
    throw error;
  }
  if (flags.help) {
    out.out(AUDIT_HELP);
    return EXIT_OK;
  }
  const local = stringFlag(flags, 's1-url') !== undefined || stringFlag(flags, 'cado-url') !== undefined;
  const result = local ? await auditLocally(flags, io) : await auditDeployed(flags, io);
  if (flags.json === true) out.json(result.payload);
  else {
    out.out(formatReport(result.report));
    for (const line of result.notes) out.out(line);
  }
  return result.report.counts.fail > 0 ? EXIT_FAILURE : EXIT_OK;
}

function requireToken(env: Env, name: string, flag: string): string {
  const value = env[name]?.trim();
  if (!value) throw usage(`${flag} needs the token in the environment variable ${name}`);
  return value;
}

function warningDays(flags: ParsedFlags): number {
  const raw = stringFlag(flags, 'warning-days');
  if (raw === undefined) return 14;
  const days = Number(raw);
  if (!Number.isInteger(days) || days < 1 || days > 365) {
    throw usage('--warning-days must be a whole number of days from 1 to 365');
  }
  return days;
}

function siteIds(flags: ParsedFlags): string[] | undefined {
  const sites = stringList(flags, 'site');
  for (const site of sites) {
    if (!/^\d{1,20}$/.test(site)) throw usage(`--site "${site}" is not an S1 site id (digits)`);
  }
  return sites.length > 0 ? sites : undefined;
}

/**
 * Builds a client, turning a bad URL or certificate into a usage error that names the flag. A loopback URL without
 * `--allow-loopback` is refused here, naming the flag (the clients' own message names the deployment's config key).
 */
function build<T>(flag: string, url: string, allowLoopback: boolean, make: () => T): T {
  let host: string | undefined;
  try {
    host = new URL(url).hostname;
  } catch {
    // Not a URL: the client's own check says so.
  }
  if (!allowLoopback && host !== undefined && isLoopbackHost(host)) {
    throw usage(
      `${flag} points at a loopback host (${host}); pass --allow-loopback to audit local simulators`,
    );
  }
  try {
    return make();
  } catch (error) {
    throw usage(`${flag}: ${(error as Error).message}`);
  }
}

async function auditLocally(flags: ParsedFlags, io: CliIo): Promise<AuditResult> {
  const { env } = io;
  const allowLoopback = flags['allow-loopback'] === true;
  const mode = stringFlag(flags, 'cado-project-mode') ?? 'per-threat';
  if (mode !== 'per-threat' && mode !== 'fixed') {
    throw usage('--cado-project-mode must be "per-threat" or "fixed"');
  }
  const days = warningDays(flags);
  const sites = siteIds(flags);

  let s1: AuditDeps['s1'];
  const s1Url = stringFlag(flags, 's1-url');
  if (s1Url !== undefined) {
    const token = requireToken(env, 'S1_API_TOKEN', '--s1-url');
    const client = build('--s1-url', s1Url, allowLoopback, () =>
      createS1Client({
        consoleUrl: s1Url,
        credentials: staticCredential(token, 'ApiToken'),
        hostPolicy: {
          allowedHosts: stringList(flags, 's1-allowed-host').length
            ? stringList(flags, 's1-allowed-host')
            : DEFAULT_S1_HOSTS,
          allowLoopback,
        },
      }),
    );
    s1 = { client, token: async () => token, siteIds: sites };
  }

  let cado: AuditDeps['cado'];
  const cadoUrl = stringFlag(flags, 'cado-url');
  const caFile = stringFlag(flags, 'cado-ca-cert');
  let closeCado: (() => Promise<void>) | undefined;
  if (cadoUrl !== undefined) {
    const key = requireToken(env, 'CADO_API_KEY', '--cado-url');
    let caCertificate: string | undefined;
    if (caFile !== undefined) {
      try {
        caCertificate = readFileSync(caFile, 'utf8');
      } catch (error) {
        throw usage(`--cado-ca-cert: cannot read ${caFile} (${(error as Error).name})`);
      }
    }
    const client = build('--cado-url', cadoUrl, allowLoopback, () =>
      createCadoClient({
        baseUrl: cadoUrl,
        credentials: staticCredential(key, 'Bearer'),
        allowLoopback,
        caCertificate,
      }),
    );
    closeCado = () => client.close();
    cado = { client, purpose: mode === 'fixed' ? 'import' : 'handoff' };
  }

  // The clients log for CloudWatch (JSON lines on the process's own streams); here the log is off for the audit's
  // duration and each retry is a readable line on stderr instead, through the HTTP layer's retry channel.
  const out = new Output(io);
  const onRetry = (message: unknown) => out.err(retryLine(message as RetryNotice));
  const level = logger.getLevelName();
  logger.setLogLevel('SILENT');
  subscribe(RETRY_CHANNEL, onRetry);
  try {
    const report = await runAudit({
      s1,
      cado,
      collectors: () => loadCollectors(),
      warningDays: days,
      clock: io.now,
    });
    return {
      report,
      payload: report,
      notes: ['Local audit: the report was not stored and nobody was notified.'],
    };
  } finally {
    unsubscribe(RETRY_CHANNEL, onRetry);
    logger.setLogLevel(level);
    await closeCado?.();
  }
}

/** One retry, as the operator reads it: `retrying S1 GET /sites (429 S1RateLimitedError) in 0.4s, attempt 2`. */
export function retryLine(notice: RetryNotice): string {
  const status = notice.status === undefined ? notice.error : `${notice.status} ${notice.error}`;
  const delay = `${(notice.delayMs / 1000).toFixed(1)}s`;
  return `retrying ${notice.remoteService} ${notice.operation} (${status}) in ${delay}, attempt ${notice.attempt + 1}`;
}

async function auditDeployed(flags: ParsedFlags, io: CliIo): Promise<AuditResult> {
  const clients = createAwsClients(io.env, stringFlag(flags, 'region'));
  try {
    const deployment = new Deployment({
      stackName: stringFlag(flags, 'stack'),
      // `--function` is the audit's own name for the CLI-wide `--audit-function`.
      flags: { 'audit-function': stringFlag(flags, 'function') ?? stringFlag(flags, 'audit-function') },
      env: io.env,
      clients,
    });
    const functionName = await deployment.get('auditFunction');
    const payload = await invokeFunction(
      clients.lambda,
      functionName,
      { source: 's1cado-cli' },
      AuditRunPayload,
    );
    const { delivery, ...report } = payload;
    const notes: string[] = [];
    if (delivery?.storedAt)
      notes.push(`Report stored at s3://${delivery.storedAt.bucket}/${delivery.storedAt.key}`);
    if (delivery?.notification) notes.push(`Notification: ${delivery.notification}`);
    return { report, payload, notes };
  } finally {
    clients.destroy();
  }
}
