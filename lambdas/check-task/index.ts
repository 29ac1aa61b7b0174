/** Check Task (see core.ts). */
import * as z from 'zod';
import { now } from '../shared/clock';
import { METRICS } from '../shared/contract';
import { stepHandler } from '../shared/handler';
import { metrics } from '../shared/observability';
import { CheckedTask, RunningTask } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { checkTask } from './core';

export const handler = stepHandler('check-task', z.union([CheckedTask, RunningTask]), async (input) => {
  const checked = await checkTask(input, { s1: s1Client(), now });
  // Completed, failed or past its deadline: the task is no longer open (the dashboard's open-task count).
  if (checked.task.phase !== 'running') metrics.addMetric(METRICS.tasksClosed, 'Count', 1);
  return checked;
});
