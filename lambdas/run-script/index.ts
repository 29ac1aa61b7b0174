/** Run Script (see core.ts; register.ts for the task token). */
import * as z from 'zod';
import { s3Client } from '../shared/aws';
import { now } from '../shared/clock';
import { coordinationStore, openTasks } from '../shared/coordination';
import { presignSeconds, uploadArgument } from '../shared/evidence/direct-upload';
import { signerClient } from '../shared/evidence/direct-upload-signer';
import { stepHandler } from '../shared/handler';
import { AgentStart } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { directUploadSettings, evidenceBucketName, workflowSettings } from '../shared/settings';
import { runScript } from './core';
import { registerWait } from './register';

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
  });
  if (taskToken) await registerWait(running, taskToken, { openTasks: openTasks(), now });
  return running;
});
