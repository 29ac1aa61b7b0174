/**
 * `npm run demo`: the command line around {@link runDemo}. Exported for tests, which run it in-process with
 * their own output sinks.
 */
import path from 'node:path';
import { redact } from '../../lambdas/shared/redact';
import { REPO_ROOT } from '../../local/local-stack';
import { parseDemoArgs, scenarioHelp, usage } from './args';
import type { DemoOutput } from './display';
import { UsageError } from './errors';
import { runDemo } from './run';

/** Where the demo reads and writes. */
export interface DemoIo {
  readonly stdout: DemoOutput;
  readonly stderr: DemoOutput;
  /** Environment (tokens for external endpoints, NO_COLOR). @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Folder for the handler log and kept S3 directories. @default `<repo>/.local` */
  readonly workDir?: string;
  /** Aborting it stops the investigation (StopExecution). */
  readonly signal?: AbortSignal;
}

/** Writers bound to the real stdout/stderr now, so they keep working while the demo captures the streams. */
export function processIo(): DemoIo {
  const sink = (stream: NodeJS.WriteStream): DemoOutput => {
    const write = stream.write.bind(stream);
    return {
      write: (text: string) => write(text),
      get isTTY() {
        return stream.isTTY === true;
      },
      get columns() {
        return stream.columns;
      },
    };
  };
  return { stdout: sink(process.stdout), stderr: sink(process.stderr), env: process.env };
}

/**
 * Runs the demo with `argv` (without node and the script path). Resolves with the exit code: 0 when the
 * investigation succeeded and every staged file verified, 1 when it did not, 2 for usage errors.
 */
export async function main(argv: readonly string[], io: DemoIo = processIo()): Promise<number> {
  const env = io.env ?? process.env;
  let command: ReturnType<typeof parseDemoArgs>;
  try {
    command = parseDemoArgs(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`error: ${error.message}\n`);
    return 2;
  }
  if (command.kind === 'help') {
    io.stdout.write(`${usage()}\n\n${scenarioHelp()}\n`);
    return 0;
  }
  if (command.kind === 'list-scenarios') {
    io.stdout.write(`${scenarioHelp()}\n`);
    return 0;
  }
  const options = command.options;
  try {
    return await runDemo(options, {
      progress: options.json ? io.stderr : io.stdout,
      result: io.stdout,
      workDir: io.workDir ?? path.join(REPO_ROOT, '.local'),
      ...(io.signal ? { signal: io.signal } : {}),
    });
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    io.stderr.write(`error: the demo could not run: ${redact(message)}\n`);
    return 1;
  }
}
