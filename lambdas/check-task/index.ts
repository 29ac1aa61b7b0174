/** Check Task (see core.ts). */
import { z } from 'zod';
import { now } from '../shared/clock';
import { stepHandler } from '../shared/handler';
import { CheckedTask, RunningTask } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { checkTask } from './core';

export const handler = stepHandler('check-task', z.union([CheckedTask, RunningTask]), (input) =>
  checkTask(input, { s1: s1Client(), now }),
);
