/** Cancel Task (see core.ts): after a passed deadline (the checked task) or the watchdog (the execute intent). */
import * as z from 'zod';
import { now } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { CheckedTask } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { cancelAfterWatchdog, cancelTask, WatchdogState } from './core';

export const handler = stepHandler('cancel-task', z.union([CheckedTask, WatchdogState]), (input) =>
  'parentTaskId' in input.task
    ? cancelTask(input as CheckedTask, { s1: s1Client(), now })
    : cancelAfterWatchdog(input as WatchdogState, { s1: s1Client(), now, store: coordinationStore() }),
);
