/**
 * Turns the runner's execution events into short progress lines, state by state and per agent (host name, S1
 * task ids, Cado pipeline ids), with elapsed real time and the simulated clock, and keeps the per-agent staging
 * bars up to date. It only reads events and the simulators' logs: the workflow runs exactly as it would without it.
 */

import { summarizeAgent } from '../../lambdas/record-outcome/core';
import { redact } from '../../lambdas/shared/redact';
import { AgentFinalState } from '../../lambdas/shared/schemas';
import type { LocalEvent } from '../../local/asl/runner';
import { formatBytes, formatDuration } from '../units';
import type { Display } from './display';
import { formatClock, type Paint, percent, progressBar, short } from './format';
import type { StagingSource } from './staging-progress';
import { type ErrorAnswers, statusText, type TrafficWatch } from './traffic-watch';

/** Dependencies of {@link ProgressReporter}. */
export interface ReporterOptions {
  readonly display: Display;
  readonly paint: Paint;
  readonly staging: StagingSource;
  readonly traffic?: TrafficWatch;
  /** The (dilated) workflow clock. */
  readonly simNow: () => number;
  /** Map MaxConcurrency of the definition, for the "at most N at a time" line. */
  readonly maxConcurrency?: number;
  /** Real milliseconds between bar refreshes. @default 100 */
  readonly refreshMs?: number;
}

interface Staging {
  readonly startedAt: number;
  milestone: number;
  done: boolean;
  /** 1 for the first Stage Output attempt. */
  readonly attempt: number;
}

interface AgentTrack {
  readonly index: number;
  label: string;
  taskStatus?: string;
  childTaskId?: string;
  cadoPhase?: string;
  cadoReason?: string;
  staging?: Staging;
  /** Download notes already shown: each kind once per agent (the failure line counts repeats). */
  readonly notesShown: Set<string>;
}

type Json = Record<string, unknown>;

function rec(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function at(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) current = rec(current)?.[key];
  return current;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/** The message of a Lambda error document (or the plain cause), redacted and kept short. */
export function causeMessage(cause: unknown): string {
  let message = typeof cause === 'string' ? cause : '';
  try {
    const parsed = rec(JSON.parse(message));
    if (typeof parsed?.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // Not a Lambda error document: keep the text as it is.
  }
  // Hashes in messages (result file names, storage paths) are long and already shown elsewhere.
  const clean = redact(message)
    .replace(/\b([0-9a-f]{12})[0-9a-f]{52}\b/g, '$1…')
    .replace(/\s+/g, ' ')
    .trim();
  return clean.length > 200 ? `${clean.slice(0, 199)}…` : clean;
}

const MILESTONES = [0.25, 0.5, 0.75];
/** Real milliseconds between two notes about the same kind of error answers. */
const ERROR_NOTE_MS = 2000;

/** An agent's (or a case's) outcome in words. */
export function outcomeWords(outcome: string): string {
  switch (outcome) {
    case 'staged_handoff_failed':
      return 'staged, hand-off failed';
    case 'timed_out':
      return 'timed out';
    default:
      return outcome;
  }
}

/** Per-agent Tasks whose results get their own lines. */
const KNOWN_AGENT_TASKS = new Set([
  'Run Script',
  'Check Task',
  'Stage Output',
  'Hand To Cado',
  'Wait For Cado',
  'Check Cado',
  'Cancel Task',
]);

/** Pass states that end an agent's branch. */
const AGENT_END_STATES = new Set([
  'Collection Failed',
  'Collection Timed Out',
  'Hand-Off Failed',
  'Agent Finished',
]);

/** Prints progress for one execution. */
export class ProgressReporter {
  private readonly agents = new Map<number, AgentTrack>();
  private labelWidth = 10;
  private startedReal = Date.now();
  private startedSim: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly failures = new Map<string, string>();
  /** States whose failure was caught: their exit carries the error, not a result. */
  private readonly caught = new Set<string>();
  private caseSummary: string | undefined;
  /** Error answers from the simulators, gathered and printed at most every {@link ERROR_NOTE_MS}. */
  private readonly pendingErrors = new Map<string, { answers: ErrorAnswers; since: number }>();

  constructor(private readonly opts: ReporterOptions) {
    this.startedSim = opts.simNow();
  }

  /** Starts the clock of the progress lines and the bar refresh. */
  start(): void {
    this.startedReal = Date.now();
    this.startedSim = this.opts.simNow();
    this.timer = setInterval(() => this.tick(), this.opts.refreshMs ?? 100);
    this.timer.unref();
  }

  /** Stops refreshing and removes the live footer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.tick();
    this.flushErrors(true);
    this.opts.display.clearFooter();
  }

  /** Real milliseconds since {@link start}. */
  get elapsedMs(): number {
    return Date.now() - this.startedReal;
  }

  /** Simulated milliseconds since {@link start}. */
  get simulatedMs(): number {
    return this.opts.simNow() - this.startedSim;
  }

  /** Handles one execution event. */
  handle(event: LocalEvent): void {
    switch (event.type) {
      case 'StateEntered':
        this.entered(event.state.name, event.state.type, event.state.input, event.index);
        break;
      case 'StateExited':
        this.exited(event.state.name, event.state.output, event.index);
        break;
      case 'StateFailed': {
        // A Fail state "fails" by design; the execution's own failure line says it once.
        if (event.state.type === 'Fail') break;
        const message = causeMessage(event.Cause);
        this.failures.set(`${event.index ?? ''}:${event.state.name}`, event.Error);
        this.say(
          event.index,
          this.opts.paint.yellow(
            `⚠ ${event.state.name} failed: ${event.Error}${message ? ` — ${message}` : ''}`,
          ),
        );
        break;
      }
      case 'StateRetried':
        if (event.state.name === 'Stage Output' && event.index !== undefined) this.restartStaging(event);
        this.say(event.index, this.opts.paint.yellow(`↻ ${event.state.name}: retry ${event.retry.attempt}`));
        break;
      case 'StateCaught': {
        this.caught.add(`${event.index ?? ''}:${event.state.name}`);
        const error = this.failures.get(`${event.index ?? ''}:${event.state.name}`) ?? 'error';
        this.endStaging(event.index, event.state.name, false);
        this.say(
          event.index,
          this.opts.paint.yellow(`⤷ ${event.state.name}: ${error} caught → ${event.catch.catcher.Next}`),
        );
        break;
      }
      case 'MapIterationFailed':
        this.say(
          event.index,
          this.opts.paint.red(`✗ branch failed: ${event.Error} ${causeMessage(event.Cause)}`),
        );
        break;
      case 'ExecutionSucceeded':
        this.say(undefined, this.opts.paint.green('✓ execution succeeded'));
        break;
      case 'ExecutionFailed': {
        // The Fail state's cause is the case summary, printed just before.
        const cause = causeMessage(event.Cause);
        const shown = cause && cause !== this.caseSummary ? ` — ${cause}` : '';
        this.say(undefined, this.opts.paint.red(`✗ execution failed: ${event.Error}${shown}`));
        break;
      }
      case 'ExecutionAborted':
        this.say(undefined, this.opts.paint.red('✗ execution aborted'));
        break;
      case 'ExecutionTimeout':
        this.say(undefined, this.opts.paint.red('✗ execution timed out'));
        break;
      default:
        break;
    }
  }

  private entered(state: string, type: string, input: unknown, index: number | undefined): void {
    if (index !== undefined) this.noteTarget(index, at(input, 'target'));
    const p = this.opts.paint;
    if (index === undefined) {
      switch (state) {
        case 'Resolve Targets': {
          const ids = at(input, 'input', 'agentIds');
          this.say(
            undefined,
            `▸ ${p.bold('Resolve Targets')}: deciding on ${Array.isArray(ids) ? ids.length : '?'} agent(s)`,
          );
          break;
        }
        case 'Check Permissions':
          this.say(undefined, `▸ ${p.bold('Check Permissions')}: preflight of the S1 service user's rights`);
          break;
        case 'Ensure Scripts':
          this.say(undefined, `▸ ${p.bold('Ensure Scripts')}: the collectors in the S1 script library`);
          break;
        case 'Collect From Each Agent': {
          const targets = at(input, 'targets');
          const n = Array.isArray(targets) ? targets.length : 0;
          const limit = this.opts.maxConcurrency ? `, at most ${this.opts.maxConcurrency} at a time` : '';
          this.say(undefined, `▸ ${p.bold('Collect From Each Agent')}: ${n} agent(s) in parallel${limit}`);
          break;
        }
        case 'Record Outcome':
          this.say(undefined, `▸ ${p.bold('Record Outcome')}: final manifests and case.json`);
          break;
        default:
          // A step this reporter does not know yet (the workflow grows): still worth a line.
          if (type === 'Task') this.say(undefined, `▸ ${p.bold(state)}`);
          break;
      }
      return;
    }
    const track = this.track(index);
    switch (state) {
      case 'Stage Output': {
        const child = text(at(input, 'task', 'childTaskId'));
        if (child) this.opts.staging.follow(index, child);
        track.staging = { startedAt: Date.now(), milestone: 0, done: false, attempt: 1 };
        this.say(index, `${p.bold('Stage Output')}: streaming the result of S1 task ${child ?? '?'} into S3`);
        break;
      }
      case 'Cancel Task':
        this.say(
          index,
          `${p.bold('Cancel Task')}: deadline passed, cancelling S1 task ${text(at(input, 'task', 'parentTaskId')) ?? '?'}`,
        );
        break;
      default:
        if (AGENT_END_STATES.has(state)) this.agentFinished(index, input);
        else if (type === 'Task' && !KNOWN_AGENT_TASKS.has(state)) this.say(index, p.bold(state));
        break;
    }
  }

  private exited(state: string, output: unknown, index: number | undefined): void {
    const p = this.opts.paint;
    if (this.caught.delete(`${index ?? ''}:${state}`)) return;
    if (index === undefined) {
      switch (state) {
        case 'Resolve Targets':
          this.resolved(output);
          break;
        case 'Ensure Scripts':
          this.scriptsEnsured(output);
          break;
        case 'Record Outcome': {
          const status = text(at(output, 'outcome', 'status')) ?? '?';
          const summary = text(at(output, 'outcome', 'summary')) ?? '';
          this.caseSummary = causeMessage(summary);
          const colour = status === 'complete' ? p.green : status === 'partial' ? p.yellow : p.red;
          this.say(undefined, colour(`▸ case ${status}: ${summary}`));
          break;
        }
        default:
          break;
      }
      return;
    }
    const track = this.track(index);
    switch (state) {
      case 'Run Script': {
        const parent = text(at(output, 'task', 'parentTaskId')) ?? '?';
        const script = [at(output, 'target', 'script', 'name'), at(output, 'target', 'script', 'version')]
          .map(text)
          .filter(Boolean)
          .join(' ');
        const reused =
          at(output, 'task', 'reusedExisting') === true ? ' (found the task an earlier attempt started)' : '';
        this.say(
          index,
          `${p.bold('Run Script')}: S1 task ${parent} started${script ? ` — ${script}` : ''}${reused}`,
        );
        // Run Script waits until the Task Watcher resumes it: its output is the checked task.
        if (at(output, 'task', 'phase') !== undefined) this.taskChecked(track, output);
        break;
      }
      case 'Check Task':
        this.taskChecked(track, output);
        break;
      case 'Stage Output': {
        const bytes = Number(at(output, 'evidence', 'bytes') ?? 0);
        const sha = text(at(output, 'evidence', 'sha256')) ?? '';
        this.endStaging(index, state, true, bytes);
        this.say(index, p.green(`✓ staged ${formatBytes(bytes)}, sha256 ${short(sha, 16)}`));
        break;
      }
      case 'Hand To Cado':
        this.say(
          index,
          `${p.bold('Hand To Cado')}: project ${text(at(output, 'cado', 'projectId')) ?? '?'} "${text(at(output, 'cado', 'projectName')) ?? ''}", import pipeline ${text(at(output, 'cado', 'pipelineId')) ?? '?'}`,
        );
        break;
      // Wait For Cado waits until the Task Watcher (or a Cado webhook) resumes it: its output is Check Cado's.
      case 'Wait For Cado':
      case 'Check Cado':
        this.cadoChecked(track, output);
        break;
      case 'Cancel Task': {
        const affected = Number(at(output, 'cancel', 'affected') ?? 0);
        const reason = text(at(output, 'cancel', 'reason'));
        this.say(
          index,
          affected > 0
            ? `Cancel Task: S1 cancelled ${affected} task(s)`
            : `Cancel Task: nothing was cancelled${reason ? ` (${reason})` : ''}`,
        );
        break;
      }
      default:
        break;
    }
  }

  private resolved(output: unknown): void {
    const targets = at(output, 'targets');
    const rejected = at(output, 'rejected');
    const p = this.opts.paint;
    if (Array.isArray(targets)) {
      targets.forEach((target) => {
        this.labelWidth = Math.max(this.labelWidth, (text(at(target, 'computerName')) ?? '').length);
      });
      for (const target of targets) {
        const details = [
          at(target, 'osType'),
          at(target, 'osName'),
          `site ${text(at(target, 'siteName')) ?? '?'}`,
        ]
          .map(text)
          .filter(Boolean)
          .join(' · ');
        this.say(
          undefined,
          `  ${p.green('✓')} ${p.cyan((text(at(target, 'computerName')) ?? '?').padEnd(this.labelWidth))}  ${details} · agent ${text(at(target, 'agentId')) ?? '?'}`,
        );
      }
    }
    if (Array.isArray(rejected)) {
      for (const agent of rejected) {
        const name = text(at(agent, 'computerName')) ?? text(at(agent, 'agentId')) ?? '?';
        this.say(
          undefined,
          `  ${p.red('✗')} ${name.padEnd(this.labelWidth)}  rejected: ${text(at(agent, 'reason')) ?? ''}`,
        );
      }
    }
  }

  private scriptsEnsured(output: unknown): void {
    const scripts = at(output, 'scripts');
    if (!Array.isArray(scripts)) return;
    for (const script of scripts) {
      const where = at(script, 'uploaded') === true ? 'uploaded to the library' : 'already in the library';
      this.say(
        undefined,
        `  ${(text(at(script, 'osType')) ?? '?').padEnd(7)} ${text(at(script, 'name')) ?? '?'} ${text(at(script, 'version')) ?? ''} (sha256 ${short(text(at(script, 'sha256')) ?? '', 8)}) ${where}, script ${text(at(script, 'scriptId')) ?? '?'}`,
      );
    }
  }

  private taskChecked(track: AgentTrack, output: unknown): void {
    const p = this.opts.paint;
    const phase = text(at(output, 'task', 'phase'));
    const status = text(at(output, 'task', 'status')) ?? 'unknown';
    const detailed = text(at(output, 'task', 'detailedStatus'));
    const child = text(at(output, 'task', 'childTaskId'));
    const childNote = child && child !== track.childTaskId ? ` (child task ${child})` : '';
    if (child) track.childTaskId = child;
    const detail = detailed ? ` — ${detailed}` : '';
    if (phase === 'running') {
      if (status === track.taskStatus && !childNote) return;
      track.taskStatus = status;
      const wait = text(at(output, 'poll', 'waitSeconds'));
      this.say(
        track.index,
        `S1 task ${status}${detail}${childNote}${wait ? p.dim(`; next check in ${wait} s`) : ''}`,
      );
    } else if (phase === 'completed') {
      track.taskStatus = status;
      this.say(track.index, p.green(`✓ S1 task ${status}${detail}${childNote}`));
    } else if (phase === 'deadline') {
      this.say(
        track.index,
        p.red(
          `✗ deadline ${text(at(output, 'task', 'deadline')) ?? ''} passed; the S1 task is still ${status}`,
        ),
      );
    } else {
      const reason = text(at(output, 'task', 'reason'));
      this.say(
        track.index,
        p.red(`✗ S1 task ${status}${childNote}: ${reason ?? detailed ?? 'no reason given'}`),
      );
    }
  }

  private cadoChecked(track: AgentTrack, output: unknown): void {
    const p = this.opts.paint;
    const phase = text(at(output, 'cado', 'phase')) ?? '?';
    const reason = text(at(output, 'cado', 'reason'));
    if (phase === track.cadoPhase && reason === track.cadoReason) return;
    track.cadoPhase = phase;
    track.cadoReason = reason;
    const pipeline = text(at(output, 'cado', 'pipelineId')) ?? '?';
    const line = `Cado pipeline ${pipeline} ${phase}${reason ? ` — ${reason}` : ''}`;
    this.say(
      track.index,
      phase === 'complete' ? p.green(`✓ ${line}`) : phase === 'running' ? line : p.red(`✗ ${line}`),
    );
  }

  private agentFinished(index: number, input: unknown): void {
    const p = this.opts.paint;
    const parsed = AgentFinalState.safeParse(input);
    if (!parsed.success) {
      this.say(index, p.red('✗ agent finished (state not understood)'));
      return;
    }
    const outcome = summarizeAgent(parsed.data);
    const mark = outcome.outcome === 'complete' ? '✓' : outcome.outcome === 'partial' ? '~' : '✗';
    const line = `${mark} agent ${outcomeWords(outcome.outcome)}: ${outcome.reason}`;
    const colour =
      outcome.outcome === 'complete' ? p.green : outcome.outcome === 'partial' ? p.yellow : p.red;
    this.say(index, colour(line));
  }

  private restartStaging(event: LocalEvent & { type: 'StateRetried' }): void {
    const index = event.index as number;
    const child = text(at(event.state.input, 'task', 'childTaskId'));
    if (child) this.opts.staging.follow(index, child);
    const track = this.track(index);
    track.staging = {
      startedAt: Date.now(),
      milestone: 0,
      done: false,
      attempt: (track.staging?.attempt ?? 1) + 1,
    };
  }

  private endStaging(index: number | undefined, state: string, staged: boolean, bytes?: number): void {
    if (index === undefined || state !== 'Stage Output') return;
    const track = this.track(index);
    const staging = track.staging;
    if (!staging || staging.done) return;
    staging.done = true;
    const p = this.opts.paint;
    const took = formatDuration(Date.now() - staging.startedAt);
    if (staged && bytes !== undefined) {
      this.say(index, `${p.green(progressBar(1))} 100%  ${formatBytes(bytes)} staged in ${took}`);
    } else {
      const reading = this.opts.staging.read(index);
      const fraction = reading?.total ? reading.bytes / reading.total : 0;
      this.say(
        index,
        `${p.red(progressBar(fraction))} ${percent(fraction)}  not staged${reading ? ` (got ${formatBytes(reading.bytes)} before giving up)` : ''}`,
      );
    }
  }

  private tick(): void {
    for (const note of this.opts.traffic?.poll() ?? []) {
      if (note.kind === 'errors') {
        this.gatherErrors(note);
        continue;
      }
      const index = note.resultSha256 ? this.opts.staging.agentOf(note.resultSha256) : undefined;
      if (index !== undefined) {
        const shown = this.track(index).notesShown;
        if (shown.has(note.kind)) continue;
        shown.add(note.kind);
      }
      this.say(index, this.opts.paint.yellow(`! ${note.text}`));
    }
    const footer: string[] = [];
    for (const track of this.agents.values()) {
      const staging = track.staging;
      if (!staging || staging.done) continue;
      const reading = this.opts.staging.read(track.index);
      const fraction = reading?.total ? reading.bytes / reading.total : 0;
      const amount = reading
        ? `${formatBytes(reading.bytes)}${reading.total ? ` of ${formatBytes(reading.total)}` : ''}`
        : 'waiting for the link';
      const bar = `${progressBar(fraction)} ${percent(fraction)}  ${amount}`;
      if (this.opts.display.live) {
        // A narrower bar: the footer must fit one terminal row per agent.
        footer.push(
          `${this.prefix()}   ${this.opts.paint.cyan(track.label.padEnd(this.labelWidth))} ${progressBar(fraction, 16)} ${percent(fraction)} ${amount}`,
        );
      } else {
        // Off a terminal, the bar is printed at each quarter it passes (first attempt only: retries say enough).
        const next = MILESTONES[staging.milestone];
        if (staging.attempt === 1 && next !== undefined && fraction >= next) {
          while ((MILESTONES[staging.milestone] ?? 2) <= fraction) staging.milestone++;
          this.say(track.index, bar);
        }
      }
    }
    this.opts.display.setFooter(footer);
    this.flushErrors(false);
  }

  /** Error answers come in bursts: one line per burst, with the count, instead of one per request. */
  private gatherErrors(answers: ErrorAnswers): void {
    const key = `${answers.source} ${answers.status} ${answers.route ?? ''}`;
    const pending = this.pendingErrors.get(key);
    this.pendingErrors.set(key, {
      answers: { ...answers, count: answers.count + (pending?.answers.count ?? 0) },
      since: pending?.since ?? Date.now(),
    });
  }

  private flushErrors(all: boolean): void {
    for (const [key, { answers, since }] of this.pendingErrors) {
      if (!all && Date.now() - since < ERROR_NOTE_MS) continue;
      this.pendingErrors.delete(key);
      this.say(
        undefined,
        this.opts.paint.yellow(
          `! ${answers.source} answered ${statusText(answers.status)} to ${answers.count} request(s)${answers.route ? ` on ${answers.route}` : ''}: the client backs off and retries`,
        ),
      );
    }
  }

  private noteTarget(index: number, target: unknown): void {
    const name = text(at(target, 'computerName'));
    if (!name) return;
    const track = this.track(index);
    track.label = name;
    this.labelWidth = Math.max(this.labelWidth, name.length);
  }

  private track(index: number): AgentTrack {
    let track = this.agents.get(index);
    if (!track) {
      track = { index, label: `item ${index}`, notesShown: new Set() };
      this.agents.set(index, track);
    }
    return track;
  }

  private prefix(): string {
    const real = `${(this.elapsedMs / 1000).toFixed(1).padStart(5)}s`;
    return `${real} ${this.opts.paint.dim(`T+${formatClock(this.simulatedMs)}`)}`;
  }

  private say(index: number | undefined, line: string): void {
    if (index === undefined) {
      this.opts.display.line(`${this.prefix()} ${line}`);
      return;
    }
    const who = this.opts.paint.cyan(
      (this.agents.get(index)?.label ?? `item ${index}`).padEnd(this.labelWidth),
    );
    this.opts.display.line(`${this.prefix()}   ${who} ${line}`);
  }
}
