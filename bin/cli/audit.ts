/**
 * `s1cado audit`: the permission audit of the S1 service user and the Cado key, on demand.
 *
 * - Deployed: `s1cado audit [--function <name>]` invokes the deployed audit Lambda (which also stores the report
 *   under `audits/`, emits the metrics and notifies the topic when needed) and prints its report.
 * - Local: `s1cado audit --s1-url <url> --cado-url <url>` runs the same checks from this machine with the tokens in
 *   `S1_API_TOKEN` / `CADO_API_KEY` (never from the command line, where shell history and `ps` would keep them) and
 *   prints the report; nothing is stored or sent. Either URL alone checks that service only.
 *
 * Exit codes: 0 no check failed, 1 a check failed or the audit could not run, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { z } from 'zod';
import { type AuditDeps, runAudit } from '../../lambdas/audit-permissions/core';
import { formatReport } from '../../lambdas/audit-permissions/format';
import { loadCollectors } from '../../lambdas/collectors';
import { AuditReport } from '../../lambdas/shared/audit/report';
import { createCadoClient } from '../../lambdas/shared/cado';
import { DEFAULT_S1_HOSTS } from '../../lambdas/shared/hosts';
import { redact, registerSecret } from '../../lambdas/shared/redact';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client } from '../../lambdas/shared/sentinelone';

/** Exit code: no check failed. */
export const AUDIT_EXIT_OK = 0;
/** Exit code: a check failed, or the audit could not run. */
export const AUDIT_EXIT_FAILED = 1;
/** Exit code: the command line (or the token variables) is wrong. */
export const AUDIT_EXIT_USAGE = 2;

/** `s1cado audit --help`. */
export const AUDIT_HELP = `Usage: s1cado audit [--function <name>] [--region <region>] [--json]
       s1cado audit --s1-url <url> --cado-url <url> [options] [--json]

Checks that the SentinelOne service user and the Cado API key still have everything the forensic workflow
needs: token accepted and not about to expire, Account or Global scope, the 11 RemoteOps and Task Management
permissions, RemoteOps on every site, the collector scripts in the S1 library, the Cado key's role, and
Cado's health. Each check prints pass, warn, fail or unknown, with the reason and the fix.

Deployed audit (stores the report under audits/ in the evidence bucket and notifies as scheduled runs do):
  --function <name>      the audit Lambda (or $S1CADO_AUDIT_FUNCTION)
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

/** Anything with `write(text)`, e.g. `process.stdout`. */
export interface TextSink {
  write(text: string): unknown;
}

/** What the command needs from its process; injectable so tests run it in-process. */
export interface AuditCommandIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Tokens (`S1_API_TOKEN`, `CADO_API_KEY`), `S1CADO_AUDIT_FUNCTION`, AWS settings. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The Lambda client for the deployed audit. @default one built from `env` and `--region` */
  readonly lambda?: Pick<LambdaClient, 'send'>;
  /** Time source of the local audit. @default the shared clock */
  readonly now?: () => number;
  /**
   * Finds the audit function when neither `--function` nor `S1CADO_AUDIT_FUNCTION` names it, e.g. from the stack
   * output `AuditFunctionName`. @default none: the command asks for `--function`
   */
  readonly findFunction?: () => Promise<string>;
}

/** The command line is wrong; the message says how. */
class AuditUsageError extends Error {
  override readonly name = 'AuditUsageError';
}

const OPTIONS = {
  function: { type: 'string' },
  'audit-function': { type: 'string' },
  region: { type: 'string' },
  's1-url': { type: 'string' },
  'cado-url': { type: 'string' },
  site: { type: 'string', multiple: true },
  'warning-days': { type: 'string' },
  'cado-project-mode': { type: 'string' },
  'cado-ca-cert': { type: 'string' },
  's1-allowed-host': { type: 'string', multiple: true },
  'allow-loopback': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseFlags>;

function parseFlags(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // Node echoes a stray argument; that could be a token pasted by mistake, so only the flag errors are shown.
    const message = (error as Error).message.split('\n')[0] ?? '';
    throw new AuditUsageError(
      /^Unexpected argument/.test(message)
        ? 'audit takes no arguments, only flags (tokens come from S1_API_TOKEN / CADO_API_KEY)'
        : message,
    );
  }
}

/** What the deployed function returns: the report, plus where it went. */
const AuditRunPayload = AuditReport.extend({
  delivery: z
    .looseObject({
      storedAt: z.object({ bucket: z.string(), key: z.string() }).nullish(),
      notification: z.string().optional(),
    })
    .optional(),
});

/**
 * Runs `s1cado audit` with `args` (the words after `audit`). Returns the exit code; never throws.
 * Tokens are read from `io.env` and never printed.
 */
export async function auditCommand(args: string[], io: Partial<AuditCommandIo> = {}): Promise<number> {
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  // Registered before anything else, so that no message below can show them.
  registerSecret(env.S1_API_TOKEN);
  registerSecret(env.CADO_API_KEY);
  const say = (sink: TextSink, text: string) => sink.write(`${redact(text)}\n`);
  try {
    const flags = parseFlags(args);
    if (flags.help) {
      say(stdout, AUDIT_HELP);
      return AUDIT_EXIT_OK;
    }
    const local = flags['s1-url'] !== undefined || flags['cado-url'] !== undefined;
    const result = local ? await auditLocally(flags, env, io.now) : await auditDeployed(flags, env, io);
    if (flags.json) say(stdout, JSON.stringify(result.payload, null, 2));
    else {
      say(stdout, formatReport(result.report));
      for (const line of result.notes) say(stdout, line);
    }
    return result.report.counts.fail > 0 ? AUDIT_EXIT_FAILED : AUDIT_EXIT_OK;
  } catch (error) {
    if (error instanceof AuditUsageError) {
      say(stderr, `s1cado audit: ${error.message}`);
      say(stderr, 'Run `s1cado audit --help` for usage.');
      return AUDIT_EXIT_USAGE;
    }
    say(
      stderr,
      `s1cado audit: the audit could not run: ${(error as Error).name}: ${(error as Error).message}`,
    );
    return AUDIT_EXIT_FAILED;
  }
}

interface AuditResult {
  readonly report: AuditReport;
  /** What `--json` prints. */
  readonly payload: unknown;
  /** Lines printed after the table. */
  readonly notes: string[];
}

function requireToken(env: Readonly<Record<string, string | undefined>>, name: string, flag: string): string {
  const value = env[name]?.trim();
  if (!value) throw new AuditUsageError(`${flag} needs the token in the environment variable ${name}`);
  return value;
}

function warningDays(flags: Flags): number {
  const raw = flags['warning-days'];
  if (raw === undefined) return 14;
  const days = Number(raw);
  if (!Number.isInteger(days) || days < 1 || days > 365) {
    throw new AuditUsageError('--warning-days must be a whole number of days from 1 to 365');
  }
  return days;
}

function siteIds(flags: Flags): string[] | undefined {
  const sites = flags.site ?? [];
  for (const site of sites) {
    if (!/^\d{1,20}$/.test(site)) throw new AuditUsageError(`--site "${site}" is not an S1 site id (digits)`);
  }
  return sites.length > 0 ? sites : undefined;
}

/** Builds a client, turning a bad URL or certificate into a usage error that names the flag. */
function build<T>(flag: string, make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw new AuditUsageError(`${flag}: ${(error as Error).message}`);
  }
}

async function auditLocally(
  flags: Flags,
  env: Readonly<Record<string, string | undefined>>,
  now: (() => number) | undefined,
): Promise<AuditResult> {
  const allowLoopback = flags['allow-loopback'] === true;
  const mode = flags['cado-project-mode'] ?? 'per-threat';
  if (mode !== 'per-threat' && mode !== 'fixed') {
    throw new AuditUsageError('--cado-project-mode must be "per-threat" or "fixed"');
  }
  const days = warningDays(flags);
  const sites = siteIds(flags);

  let s1: AuditDeps['s1'];
  const s1Url = flags['s1-url'];
  if (s1Url !== undefined) {
    const token = requireToken(env, 'S1_API_TOKEN', '--s1-url');
    const client = build('--s1-url', () =>
      createS1Client({
        consoleUrl: s1Url,
        credentials: staticCredential(token, 'ApiToken'),
        hostPolicy: { allowedHosts: flags['s1-allowed-host'] ?? DEFAULT_S1_HOSTS, allowLoopback },
      }),
    );
    s1 = { client, token: async () => token, siteIds: sites };
  }

  let cado: AuditDeps['cado'];
  const cadoUrl = flags['cado-url'];
  const caFile = flags['cado-ca-cert'];
  let closeCado: (() => Promise<void>) | undefined;
  if (cadoUrl !== undefined) {
    const key = requireToken(env, 'CADO_API_KEY', '--cado-url');
    let caCertificate: string | undefined;
    if (caFile !== undefined) {
      try {
        caCertificate = readFileSync(caFile, 'utf8');
      } catch (error) {
        throw new AuditUsageError(`--cado-ca-cert: cannot read ${caFile} (${(error as Error).name})`);
      }
    }
    const client = build('--cado-url', () =>
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

  try {
    const report = await runAudit({
      s1,
      cado,
      collectors: () => loadCollectors(),
      warningDays: days,
      ...(now ? { clock: now } : {}),
    });
    return {
      report,
      payload: report,
      notes: ['Local audit: the report was not stored and nobody was notified.'],
    };
  } finally {
    await closeCado?.();
  }
}

async function auditDeployed(
  flags: Flags,
  env: Readonly<Record<string, string | undefined>>,
  io: Partial<AuditCommandIo>,
): Promise<AuditResult> {
  const injected = io.lambda;
  const named = (flags.function ?? flags['audit-function'] ?? env.S1CADO_AUDIT_FUNCTION)?.trim();
  const functionName = named || (io.findFunction ? (await io.findFunction()).trim() : undefined);
  if (!functionName) {
    throw new AuditUsageError(
      'name the audit Lambda with --function <name> (or S1CADO_AUDIT_FUNCTION), or run the checks locally with --s1-url/--cado-url',
    );
  }
  const lambda = injected ?? lambdaClient(env, flags.region);
  try {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        Payload: Buffer.from(JSON.stringify({ source: 's1cado-cli' })),
      }),
    );
    const text = Buffer.from(out.Payload ?? []).toString('utf8');
    if (out.FunctionError) {
      const failure = z
        .looseObject({ errorType: z.string(), errorMessage: z.string() })
        .safeParse(safeJson(text));
      const what = failure.success
        ? `${failure.data.errorType}: ${failure.data.errorMessage}`
        : out.FunctionError;
      throw new Error(`${functionName} failed with ${what}`);
    }
    const parsed = AuditRunPayload.safeParse(safeJson(text));
    if (!parsed.success)
      throw new Error(`${functionName} did not return an audit report (${parsed.error.issues[0]?.message})`);
    const { delivery, ...report } = parsed.data;
    const notes: string[] = [];
    if (delivery?.storedAt)
      notes.push(`Report stored at s3://${delivery.storedAt.bucket}/${delivery.storedAt.key}`);
    if (delivery?.notification) notes.push(`Notification: ${delivery.notification}`);
    return { report, payload: parsed.data, notes };
  } finally {
    if (!injected) (lambda as LambdaClient).destroy();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A Lambda client from the command's environment (region, `AWS_ENDPOINT_URL_LAMBDA` for local runs, keys). */
function lambdaClient(
  env: Readonly<Record<string, string | undefined>>,
  region: string | undefined,
): LambdaClient {
  const endpoint = env.AWS_ENDPOINT_URL_LAMBDA ?? env.AWS_ENDPOINT_URL;
  const resolvedRegion = region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  return new LambdaClient({
    ...(resolvedRegion ? { region: resolvedRegion } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN } }
      : {}),
    // One audit takes up to a few minutes; a second attempt would only run another audit.
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 5 * 60_000 },
  });
}

// Runnable on its own (`npx tsx bin/cli/audit.ts ...`) until the `s1cado` entry point dispatches to it.
if (require.main === module) {
  void auditCommand(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
