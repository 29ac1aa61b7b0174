/** Run Script (see core.ts; register.ts for the task token). */
import * as z from 'zod';
import { lambdaClient, s3Client } from '../shared/aws';
import { now } from '../shared/clock';
import { ENV } from '../shared/contract';
import { coordinationStore, openTasks, queuedExecutes, WATCHER_LEASE_KEY } from '../shared/coordination';
import { presignSeconds, uploadArgument } from '../shared/evidence/direct-upload';
import { signerClient } from '../shared/evidence/direct-upload-signer';
import { stepHandler } from '../shared/handler';
import { AgentStart } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { directUploadSettings, evidenceBucketName, workflowSettings } from '../shared/settings';
import { runScript, taskDeadline } from './core';
import { registerWait } from './register';
import { wakeWatcher } from './wake-watcher';

/** The agent's state, and the task token of the waiting state (`$$.Task.Token`). */
const RunScriptInput = AgentStart.extend({ taskToken: z.string().min(1).optional() });

export const handler = stepHandler('run-script', RunScriptInput, async ({ taskToken, ...input }) => {
  const settings = workflowSettings();
  const running = await runScript(input, {
    s1: s1Client(),
    s3: s3Client(),
    bucket: evidenceBucketName(),
    store: coordinationStore(),
    graceSeconds: settings.taskGraceSeconds,
    cooldownMinutes: settings.agentCooldownMinutes,
    now,
    directUploadArgument: async ({ upload, target }) => {
      if (!upload) throw new Error('no upload');
      const seconds = presignSeconds(target.script.runtimeTimeoutSeconds, settings.taskGraceSeconds);
      const signer = signerClient(upload, directUploadSettings().roleArn, seconds);
      try {
        return await uploadArgument(signer, upload, seconds);
      } finally {
        signer.destroy();
      }
    },
    // With a task token, the execute goes through the Task Watcher's batches (queued-executes.ts).
    ...(taskToken
      ? {
          queueExecute: (start, inputParams) =>
            queuedExecutes().queue({
              start,
              inputParams,
              taskToken,
              queuedAt: new Date(now()).toISOString(),
              // Runtime + grace: well inside the watchdog (longest runtime + grace + 10 minutes).
              sendBy: taskDeadline(
                now(),
                start.target.script.runtimeTimeoutSeconds,
                settings.taskGraceSeconds,
              ),
            }),
        }
      : {}),
  });
  if ('queued' in running) {
    await wakeWatcher({
      lambda: lambdaClient(),
      functionName: process.env[ENV.taskWatcherFunction] || undefined,
      lease: coordinationStore(),
      leaseKey: WATCHER_LEASE_KEY,
      now,
    });
    return { queued: true };
  }
  if (taskToken) await registerWait(running, taskToken, { openTasks: openTasks(), now });
  return running;
});
