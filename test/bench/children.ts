/**
 * Runs one bench job in a fresh Node process (a bundled child script, plain `node`, no tsx loader) and waits for
 * its reply. The child's environment is exactly what the caller passes (plus PATH): nothing leaks in from the
 * bench's own process.
 */
import { fork } from 'node:child_process';
import type { ChildFigures, ChildJob, ChildReply } from './child-protocol';

/** A child failed, timed out or exited without a reply. */
export class BenchChildError extends Error {
  override readonly name = 'BenchChildError';
}

/** Options of {@link runChild}. */
export interface RunChildOptions {
  /** Environment of the child (PATH is added). */
  readonly env: Readonly<Record<string, string>>;
  /** Real milliseconds before the child is killed. @default 15 minutes */
  readonly timeoutMs?: number;
  /** Extra Node flags (e.g. `--enable-source-maps`, as Lambda's NODE_OPTIONS sets). */
  readonly execArgv?: readonly string[];
}

const TAIL_BYTES = 2000;

/** Forks `script`, sends it `job`, and resolves with what it measured. */
export function runChild(script: string, job: ChildJob, options: RunChildOptions): Promise<ChildFigures> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [], {
      env: { PATH: process.env.PATH ?? '', ...options.env },
      execArgv: [...(options.execArgv ?? [])],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let reply: ChildReply | undefined;
    const timer = setTimeout(
      () => {
        if (child.pid !== undefined) child.kill('SIGKILL');
      },
      options.timeoutMs ?? 15 * 60_000,
    );
    child.on('message', (message: ChildReply) => {
      reply = message;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (reply?.ok) resolve(reply.figures);
      else if (reply) reject(new BenchChildError(`${job.kind}: ${reply.error.name}: ${reply.error.message}`));
      else {
        reject(
          new BenchChildError(
            `${job.kind} child exited (${signal ?? code}) without a reply; last output: ${output.trim().slice(-500)}`,
          ),
        );
      }
    });
    child.send(job);
  });
}
