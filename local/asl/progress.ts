/**
 * One-line descriptions of execution events, for progress output (`npm run demo`, the bench).
 */
import type { LocalEvent } from './runner';

function where(event: LocalEvent): string {
  return 'index' in event && typeof event.index === 'number' ? ` [item ${event.index}]` : '';
}

/**
 * Describes an event in one line, or returns undefined for the noisy ones (StateExited, Map iteration successes).
 * Failure causes are shortened to their `errorMessage` when they are Lambda error documents.
 */
export function formatEvent(event: LocalEvent): string | undefined {
  switch (event.type) {
    case 'ExecutionStarted':
      return 'execution started';
    case 'ExecutionSucceeded':
      return 'execution succeeded';
    case 'ExecutionFailed':
      return `execution failed: ${event.Error} ${shortCause(event.Cause)}`.trimEnd();
    case 'ExecutionAborted':
      return 'execution aborted';
    case 'ExecutionTimeout':
      return 'execution timed out';
    case 'StateEntered':
      return `→ ${event.state.name}${where(event)}`;
    case 'StateFailed':
      return `✗ ${event.state.name}${where(event)}: ${event.Error} ${shortCause(event.Cause)}`.trimEnd();
    case 'StateRetried':
      return `↻ ${event.state.name}${where(event)} retry ${event.retry.attempt}`;
    case 'StateCaught':
      return `⤷ ${event.state.name}${where(event)} caught → ${event.catch.catcher.Next}`;
    case 'MapIterationStarted':
      return `  ${event.parentState.name} item ${event.index} started`;
    case 'MapIterationFailed':
      return `  ${event.parentState.name} item ${event.index} failed: ${event.Error}`;
    default:
      return undefined;
  }
}

function shortCause(cause: unknown): string {
  if (typeof cause !== 'string') return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return `(${parsed.errorMessage})`;
  } catch {
    // Not a Lambda error document: keep the text as it is.
  }
  return `(${cause})`;
}
