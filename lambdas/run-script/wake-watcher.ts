/**
 * After queuing an execute, Run Script wakes the Task Watcher (an asynchronous invoke) unless one is running, so a
 * lone investigation's execute goes out within seconds instead of at the schedule's next minute. A watcher already
 * running (its lease held for a while yet) takes the queue at its next pass; a failed wake-up is only logged, the
 * schedule starts the watcher within a minute anyway.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { ItemKey, Lease } from '../shared/coordination/store';
import { logger } from '../shared/observability';

/** A watcher whose lease lapses sooner than this may be on its last pass: wake another. */
export const WAKE_IF_LEASE_ENDS_WITHIN_MS = 20_000;

/** Dependencies of {@link wakeWatcher}. */
export interface WakeDeps {
  readonly lambda: Pick<LambdaClient, 'send'>;
  /** The Task Watcher's function name; undefined: do not wake it. */
  readonly functionName: string | undefined;
  readonly lease: { leaseHolder(key: ItemKey): Promise<Lease | undefined> };
  readonly leaseKey: ItemKey;
  readonly now: () => number;
}

/** What {@link wakeWatcher} did. */
export type WakeOutcome = 'woken' | 'running' | 'not-configured' | 'failed';

/** Wakes the Task Watcher unless one holds its lease for a while yet. Never throws. */
export async function wakeWatcher(deps: WakeDeps): Promise<WakeOutcome> {
  if (!deps.functionName) return 'not-configured';
  try {
    const holder = await deps.lease.leaseHolder(deps.leaseKey);
    if (holder && holder.expiresAt - deps.now() > WAKE_IF_LEASE_ENDS_WITHIN_MS) return 'running';
    await deps.lambda.send(
      new InvokeCommand({
        FunctionName: deps.functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify({ source: 'run-script' })),
      }),
    );
    return 'woken';
  } catch (error) {
    logger.warn('Could not wake the Task Watcher; its schedule starts it within a minute', {
      errorName: error instanceof Error ? error.name : 'Error',
    });
    return 'failed';
  }
}
