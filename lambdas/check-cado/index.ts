/**
 * Check Cado (see core.ts) and Wait For Cado (register.ts): given a task token, the Lambda registers the pipeline for
 * the Task Watcher and returns (the state's result is the watcher's SendTaskSuccess); without one, it checks once.
 */
import * as z from 'zod';
import { now } from '../shared/clock';
import { openPipelines } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { CadoFollowed } from '../shared/schemas';
import { cadoClient } from '../shared/services';
import { checkCado } from './core';
import { registerCadoWait } from './register';

/** Wait For Cado's payload: the state, the execution's name and the task token (`$$.Task.Token`). */
const WaitForCadoInput = z.object({
  followed: CadoFollowed,
  executionName: z.string().min(1),
  taskToken: z.string().min(1),
});

export const handler = stepHandler(
  'check-cado',
  z.union([WaitForCadoInput, CadoFollowed]),
  async (input): Promise<CadoFollowed | { registered: true }> => {
    if ('taskToken' in input) {
      await registerCadoWait(input.followed, input.taskToken, input.executionName, {
        openPipelines: openPipelines(),
        now,
      });
      return { registered: true };
    }
    return checkCado(input, { cado: cadoClient(), now });
  },
);
