/** Task Watcher (see core.ts): run by an EventBridge schedule every minute; the event carries nothing it needs. */
import * as z from 'zod';
import { now, sleep } from '../shared/clock';
import { METRICS } from '../shared/contract';
import { coordinationStore, openPipelines, openTasks } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { metrics } from '../shared/observability';
import { cadoClient, s1Client } from '../shared/services';
import { cadoPass, cadoWatchIntervalSeconds, stillOpen } from './cado';
import { watchTasks } from './core';
import { stepFunctionsResumer } from './step-functions-resumer';

export const handler = stepHandler('watch-tasks', z.unknown(), async (_event, context) => {
  const summary = await watchTasks({
    s1: s1Client(),
    openTasks: openTasks(),
    resume: stepFunctionsResumer(),
    lease: coordinationStore(),
    owner: context.awsRequestId,
    now,
    sleep: (ms) => sleep(ms),
    // The open Cado pipelines, in the same loop (cado.ts).
    alsoWatch: async () =>
      stillOpen(
        await cadoPass({
          cado: cadoClient(),
          openPipelines: openPipelines(),
          resume: stepFunctionsResumer(),
          intervalSeconds: cadoWatchIntervalSeconds(),
          now,
        }),
      ),
  });
  const resumed = summary.passes.reduce((sum, pass) => sum + pass.resumed, 0);
  // Resumed executions leave `running` (the dashboard's open-task count), as Check Task counted them.
  if (resumed > 0) metrics.addMetric(METRICS.tasksClosed, 'Count', resumed);
  return {
    stopped: summary.stopped,
    passes: summary.passes.length,
    resumed,
    open: summary.passes.at(-1)?.open ?? 0,
  };
});
