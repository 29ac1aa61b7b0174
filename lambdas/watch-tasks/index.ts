/** Task Watcher (see core.ts): run by an EventBridge schedule every minute; the event carries nothing it needs. */
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { sfnClient } from '../shared/aws';
import { now, sleep } from '../shared/clock';
import { METRICS } from '../shared/contract';
import { coordinationStore, openTasks } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { metrics } from '../shared/observability';
import { s1Client } from '../shared/services';
import { type TaskResumer, watchTasks } from './core';

/** SendTaskSuccess / SendTaskFailure on the project's Step Functions client (timeouts, retries). */
function stepFunctionsResumer(): TaskResumer {
  const client = sfnClient();
  return {
    async success(taskToken, output) {
      await client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
    },
    async failure(taskToken, error, cause) {
      await client.send(new SendTaskFailureCommand({ taskToken, error, cause }));
    },
  };
}

export const handler = stepHandler('watch-tasks', z.unknown(), async (_event, context) => {
  const summary = await watchTasks({
    s1: s1Client(),
    openTasks: openTasks(),
    resume: stepFunctionsResumer(),
    lease: coordinationStore(),
    owner: context.awsRequestId,
    now,
    sleep: (ms) => sleep(ms),
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
