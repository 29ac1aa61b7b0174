/**
 * Task lifecycle over simulated time. A task's state is a pure function of its record and the clock: nothing
 * runs in the background, so a manual clock in a test moves tasks exactly as far as the test advances it.
 *
 * created ─► pending ─► in_progress ─► completed | failed            (profile decides, see {@link AgentProfile})
 *               └──────────────────────► expired | canceled
 */
import type { AgentProfile, ChildTask, TaskStatus } from './types';

/** Timing defaults for new tasks (agents may override pickup/run time through their behaviour). */
export interface TaskTiming {
  /** How long a task stays `created` before it is `pending` (queued to the agent). Default 1 s. */
  createdMs: number;
  /** Time from creation until the agent starts the script. Default 5 s. */
  pickupMs: number;
  /** Time the script runs. Default 20 s. */
  runMs: number;
  /** How long an undelivered task waits for an offline agent before it `expired`. Default 4 h. */
  expiryMs: number;
  /** Size of a generated result when the agent sets none. Default 64 KiB. */
  resultSize: number;
  /** How long a result stays downloadable after completion (fetch-files then reports it expired). Default 3 days. */
  resultRetentionMs: number;
}

/** Default {@link TaskTiming}. */
export const DEFAULT_TASK_TIMING: TaskTiming = {
  createdMs: 1_000,
  pickupMs: 5_000,
  runMs: 20_000,
  expiryMs: 4 * 3_600_000,
  resultSize: 64 * 1024,
  resultRetentionMs: 3 * 86_400_000,
};

/** What `GET /remote-scripts/status` shows for a task at a point in time. */
export interface TaskView {
  status: TaskStatus;
  detailedStatus: string;
  statusCode: string | null;
  /** When the task last changed state. */
  updatedAt: number;
  /** Whether a result file exists (only after a successful completion with output). */
  hasResult: boolean;
  /** Whether the state will never change again. */
  terminal: boolean;
}

/** Statuses from which `cancel-task` can still cancel (the agent has not received the task). */
export const UNDELIVERED: ReadonlySet<TaskStatus> = new Set(['created', 'pending', 'scheduled']);

/** detailedStatus texts (the success and terminated-in-failure texts are the ones seen on real consoles). */
export const DETAILED_STATUS = {
  created: 'Task created',
  pending: 'Pending - waiting for the endpoint to receive the task',
  inProgress: 'Execution in progress',
  success: 'Execution completed successfully',
  terminatedInFailure: 'The execution terminated in failure',
  failed: 'The execution failed',
  timedOut: 'Script execution timed out',
  canceled: 'Execution canceled by user',
  expired: 'Task expired - the endpoint did not receive it in time',
} as const;

function view(
  status: TaskStatus,
  detailedStatus: string,
  updatedAt: number,
  terminal: boolean,
  hasResult = false,
): TaskView {
  return { status, detailedStatus, statusCode: null, updatedAt, hasResult, terminal };
}

function finalState(profile: AgentProfile, at: number): TaskView {
  switch (profile) {
    case 'fail':
      return view('failed', DETAILED_STATUS.failed, at, true);
    case 'completedWithFailure':
      return view('completed', DETAILED_STATUS.terminatedInFailure, at, true);
    case 'completedWithFailureAndResult':
      return view('completed', DETAILED_STATUS.terminatedInFailure, at, true, true);
    case 'noResultFile':
      return view('completed', DETAILED_STATUS.success, at, true);
    default:
      return view('completed', DETAILED_STATUS.success, at, true, true);
  }
}

/** The state of a task at time `now`. */
export function taskView(
  task: ChildTask,
  now: number,
  timing: Pick<TaskTiming, 'createdMs' | 'expiryMs'>,
): TaskView {
  const t0 = task.createdAt;
  const pendingAt = t0 + Math.min(timing.createdMs, task.pickupMs);
  const startAt = t0 + task.pickupMs;
  if (task.canceledAt !== null && now >= task.canceledAt) {
    return view('canceled', DETAILED_STATUS.canceled, task.canceledAt, true);
  }
  if (now < pendingAt) return view('created', DETAILED_STATUS.created, t0, false);
  if (task.profile === 'expire') {
    const expiresAt = t0 + timing.expiryMs;
    if (now >= expiresAt) return view('expired', DETAILED_STATUS.expired, expiresAt, true);
    return view('pending', DETAILED_STATUS.pending, pendingAt, false);
  }
  if (now < startAt) return view('pending', DETAILED_STATUS.pending, pendingAt, false);
  if (task.profile === 'cancel') return view('canceled', DETAILED_STATUS.canceled, startAt, true);
  if (task.profile === 'hang') return view('in_progress', DETAILED_STATUS.inProgress, startAt, false);
  const timeoutAt = startAt + task.runtimeTimeoutSeconds * 1000;
  const endAt = startAt + task.runMs;
  if (timeoutAt < endAt && now >= timeoutAt) return view('failed', DETAILED_STATUS.timedOut, timeoutAt, true);
  if (now < endAt) return view('in_progress', DETAILED_STATUS.inProgress, startAt, false);
  return finalState(task.profile, endAt);
}

/** Time at which the task's result (if any) came into existence: its completion time. */
export function completionTime(task: ChildTask): number {
  return task.createdAt + task.pickupMs + task.runMs;
}
