/** Lambda invocation timing from the local runner's execution events. */
import type { LocalEvent } from '../../local/asl/runner';

/**
 * Pairs Task entered/left events per (state, Map iteration) of the Lambda-bound states and reports each attempt's
 * duration (a retried Task is one more invocation; its retry interval counts towards the next attempt, since no
 * event marks where that attempt starts).
 */
export function invocationTimer(
  bindings: ReadonlyMap<string, string>,
  onInvocation: (step: string, ms: number) => void,
): (event: LocalEvent) => void {
  const open = new Map<string, number>();
  return (event) => {
    if (!('state' in event) || !bindings.has(event.state.name)) return;
    const key = `${event.state.name}#${event.index ?? ''}`;
    if (event.type === 'StateEntered') open.set(key, event.timestamp);
    if (event.type === 'StateExited' || event.type === 'StateFailed' || event.type === 'StateRetried') {
      const started = open.get(key);
      if (started !== undefined)
        onInvocation(bindings.get(event.state.name) as string, event.timestamp - started);
      // A retried Task runs again without a second StateEntered: its next attempt starts now.
      if (event.type === 'StateRetried') open.set(key, event.timestamp);
      else open.delete(key);
    }
  };
}
