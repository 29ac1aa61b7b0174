/** Task Watcher (see core.ts): run by an EventBridge schedule every minute; the event carries nothing it needs. */
import * as z from 'zod';
import { s3Client } from '../shared/aws';
import { now, sleep } from '../shared/clock';
import { METRICS } from '../shared/contract';
import { coordinationStore, openPipelines, openTasks, queuedExecutes } from '../shared/coordination';
import { ResultLinks } from '../shared/coordination/result-links';
import { stepHandler } from '../shared/handler';
import { metrics } from '../shared/observability';
import { cadoClient, s1Client } from '../shared/services';
import { evidenceBucketName, workflowSettings } from '../shared/settings';
import { cadoPass, cadoWatchIntervalSeconds, stillOpen } from './cado';
import { watchTasks } from './core';
import { sendQueuedExecutes } from './executes';
import { prefetchResultLinks } from './links';
import { stepFunctionsResumer } from './step-functions-resumer';

/** No execute call starts with less than this left of the invocation (real milliseconds). */
const EXECUTE_TIME_MARGIN_MS = 20_000;

export const handler = stepHandler('watch-tasks', z.unknown(), async (_event, context) => {
  const summary = await watchTasks({
    s1: s1Client(),
    openTasks: openTasks(),
    resume: stepFunctionsResumer(),
    lease: coordinationStore(),
    owner: context.awsRequestId,
    now,
    sleep: (ms) => sleep(ms),
    // Result links of the tasks a pass found completed, one call for all (links.ts).
    prefetchLinks: (childTaskIds) =>
      prefetchResultLinks(childTaskIds, { s1: s1Client(), links: new ResultLinks(coordinationStore(), now) }),
    // The executes Run Script queued, batched (executes.ts).
    sendExecutes: async () =>
      (
        await sendQueuedExecutes({
          queue: queuedExecutes(),
          store: coordinationStore(),
          s1: s1Client(),
          openTasks: openTasks(),
          resume: stepFunctionsResumer(),
          s3: s3Client(),
          bucket: evidenceBucketName(),
          graceSeconds: workflowSettings().taskGraceSeconds,
          now,
          // An execute call (claim, S1, settle) takes seconds; none starts in the invocation's last 20.
          outOfTime: () => context.getRemainingTimeInMillis() < EXECUTE_TIME_MARGIN_MS,
        })
      ).left,
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
