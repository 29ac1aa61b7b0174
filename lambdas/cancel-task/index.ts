/** Cancel Task (see core.ts). */
import { now } from '../shared/clock';
import { stepHandler } from '../shared/handler';
import { CheckedTask } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { cancelTask } from './core';

export const handler = stepHandler('cancel-task', CheckedTask, (input) =>
  cancelTask(input, { s1: s1Client(), now }),
);
