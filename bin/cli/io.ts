/**
 * What a CLI command needs from the outside world, injectable so tests run commands in-process: output streams,
 * the environment (AWS settings, defaults), time and the host name.
 */
import { hostname } from 'node:os';
import { now, sleep } from '../../lambdas/shared/clock';
import { redact } from '../../lambdas/shared/redact';

/** Anything with `write(text)`, e.g. `process.stdout`. */
export interface TextSink {
  write(text: string): unknown;
}

/** The CLI's view of its process. */
export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Environment: AWS settings (`AWS_REGION`, `AWS_ENDPOINT_URL_*`, credentials), `S1CADO_*` defaults, `USER`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Epoch ms. @default `now` from lambdas/shared/clock (dilated in local runs) */
  readonly now: () => number;
  /** Sleeps clock time. @default `sleep` from lambdas/shared/clock */
  readonly sleep: (ms: number) => Promise<void>;
  /** @default os.hostname */
  readonly hostname: () => string;
}

/** The process's own streams, environment and clock, overridden by `overrides`. */
export function cliIo(overrides: Partial<CliIo> = {}): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    now,
    sleep: (ms) => sleep(ms),
    hostname,
    ...overrides,
  };
}

/** Line-oriented output: results on stdout, progress and errors on stderr; every line redacted. */
export class Output {
  constructor(private readonly io: CliIo) {}

  /** A line of the command's result. */
  out(line = ''): void {
    this.io.stdout.write(`${redact(line)}\n`);
  }

  /** A line of progress or diagnostics (stderr, so `--json` output stays parseable). */
  err(line = ''): void {
    this.io.stderr.write(`${redact(line)}\n`);
  }

  /** A JSON document on stdout. */
  json(value: unknown): void {
    this.io.stdout.write(`${redact(JSON.stringify(value, null, 2))}\n`);
  }
}
