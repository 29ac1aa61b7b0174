/**
 * `s1cado`: manual use of the deployed stack — start a collection, see where an investigation stands, re-run a
 * Cado hand-off, audit permissions, cancel an investigation, backfill missed threats. Every command finds the deployment through the CloudFormation stack's outputs
 * (or flags / variables), uses the caller's AWS credentials, and never sees an S1 token or a Cado key.
 *
 * Run with `npx s1cado <command>` (through the `bin/s1cado.cjs` launcher) or `npx tsx bin/s1cado.ts <command>`.
 * Tests call {@link main} in-process with their own streams and environment.
 */
import path from 'node:path';
import { redact } from '../lambdas/shared/redact';
import { TOOL_VERSION } from '../lambdas/shared/version';
import { auditCommand } from './cli/audit';
import { backfillCommand } from './cli/backfill';
import { cancelCommand } from './cli/cancel';
import { collectCommand } from './cli/collect';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './cli/errors';
import { handoffCommand } from './cli/handoff';
import { type CliIo, cliIo } from './cli/io';
import { statusCommand } from './cli/status';
import { verifyCommand } from './cli/verify';

/** `s1cado --help`. */
export const HELP = `Usage: s1cado <command> [options]

Manual use of the deployed s1-cado-forensics stack (your AWS credentials; no S1 token or Cado key needed).

Commands
  collect --agent <id> [...]   start an investigation on one or more S1 agents (--wait to follow it)
  status <investigationId>     the execution and the case: per agent outcome, S3 key, size, SHA-256, Cado status
  handoff <investigationId>    re-run the Cado hand-off of staged evidence Cado did not process (HandOffRerun)
  verify <investigationId>     check the chain of custody: signature, manifest, Object Lock, SHA-256, zip listing
  audit                        check that the S1 service user and the Cado key have what the workflow needs
  cancel <investigationId>     stop an investigation: execution, S1 tasks, Cado pipelines; note and record who and why
  backfill --since <time>      replay the S1 threats of a window through the intake (--dry-run to list only)

Run "s1cado <command> --help" for its options. Locations come from the CloudFormation stack's outputs
(--stack, default S1CadoForensics), or from flags and S1CADO_* variables.

AWS permissions: cloudformation:DescribeStacks on the stack (unless the locations are given); collect:
states:StartExecution, and for --wait states:DescribeExecution, s3:ListBucket and s3:GetObject on investigations/;
status: the same read permissions; reading the bucket also needs kms:Decrypt on its key. handoff:
states:StartExecution on the HandOffRerun state machine, DescribeExecution and GetExecutionHistory (no S3 write).
verify: the read permissions on investigations/ (object versions included) and kms:GetPublicKey on the signing key.
audit, cancel, backfill: lambda:InvokeFunction on the function (stack outputs AuditFunctionName,
CancelFunctionName, BackfillFunctionName); the functions hold the S1 and Cado rights.

Exit codes: 0 ok, 1 failure, 2 usage error. With --json, an error is one JSON document on stderr,
{"command", "error": {"name", "message", "exitCode", "hint"}}; stdout holds only results.`;

/** What to do when the AWS SDK found no region. */
export const REGION_HINT =
  'No AWS region set: pass --region <region>, set AWS_REGION, or use a profile that has one ' +
  '(AWS_PROFILE=<name>; aws configure set region <region>).';

type Command = (args: readonly string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  collect: collectCommand,
  status: statusCommand,
  handoff: handoffCommand,
  audit: auditCommand,
  verify: verifyCommand,
  cancel: cancelCommand,
  backfill: backfillCommand,
};

/** Runs the CLI with `argv` (without the node and script paths); returns the exit code. */
export async function main(argv: readonly string[], overrides: Partial<CliIo> = {}): Promise<number> {
  const io = cliIo(overrides);
  const write = (sink: CliIo['stdout'], text: string) => sink.write(`${redact(text)}\n`);
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    write(name === undefined ? io.stderr : io.stdout, HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version') {
    write(io.stdout, TOOL_VERSION);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    write(io.stderr, `s1cado: unknown command "${name}". Commands: ${Object.keys(COMMANDS).join(', ')}`);
    write(io.stderr, 'Run "s1cado --help" for usage.');
    return EXIT_USAGE;
  }
  // With --json, a failure is one JSON document on stderr (stdout only ever holds a result), else readable lines.
  const json = args.includes('--json');
  const fail = (exitCode: number, errorName: string, message: string, hints: string[]): number => {
    if (json) {
      const error = {
        name: errorName,
        message,
        exitCode,
        ...(hints.length ? { hint: hints.join(' ') } : {}),
      };
      write(io.stderr, JSON.stringify({ command: name, error }));
    } else {
      write(io.stderr, `s1cado ${name}: ${message}`);
      for (const hint of hints) write(io.stderr, hint);
    }
    return exitCode;
  };
  try {
    return await command(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      return fail(EXIT_USAGE, error.name, error.message, [
        `Run "s1cado ${error.command ?? name} --help" for usage.`,
      ]);
    }
    const { name: errorName, message } = error as Error;
    // Our own errors speak for themselves; AWS and other errors keep their name, which often is the clue.
    const text = error instanceof CliError || json ? message : `${errorName}: ${message}`;
    const hints: string[] = [];
    if (/Region is missing/i.test(message)) hints.push(REGION_HINT);
    else if (errorName === 'CredentialsProviderError' || /credential/i.test(message)) {
      hints.push('Check your AWS credentials (aws sts get-caller-identity) and region.');
    }
    return fail(EXIT_FAILURE, errorName, text, hints);
  }
}

/** Runs the CLI on this process's arguments and sets the exit code. */
export async function runCli(): Promise<void> {
  quietSdkNodeWarning();
  process.exitCode = await main(process.argv.slice(2));
}

/** The Node major version from which the AWS SDK's releases after early January 2027 run (its own notice says so). */
const SDK_NODE_MAJOR = 22;

/**
 * The AWS SDK prints an 8-line NodeVersionSupportWarning on Node < 22 when a command creates its first client. The
 * SDK's documented switch (`AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true`, read by @aws-sdk/core) turns off
 * that one warning only; every other Node warning still prints. The fact stays visible as one line instead, and an
 * operator who sets the variable to anything keeps the SDK's own behaviour.
 */
function quietSdkNodeWarning(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (!(major < SDK_NODE_MAJOR) || process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED !== undefined)
    return;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.stderr.write(
    `s1cado: note: Node ${process.version} runs the AWS SDK version installed here; SDK releases after early January 2027 ` +
      `need Node ${SDK_NODE_MAJOR}+ (README: Node versions)\n`,
  );
}

// Run directly (`npx tsx bin/s1cado.ts ...`); the `bin/s1cado.cjs` launcher calls runCli itself. Compared by path
// because test runners that transform this module do not keep `require.main === module` meaningful.
if (process.argv[1] && path.resolve(process.argv[1]) === __filename) void runCli();
