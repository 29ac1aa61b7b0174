/** Run Script (see core.ts). */
import { s3Client } from '../shared/aws';
import { now } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { presignSeconds, uploadArgument } from '../shared/evidence/direct-upload';
import { signerClient } from '../shared/evidence/direct-upload-signer';
import { stepHandler } from '../shared/handler';
import { AgentStart } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { directUploadSettings, evidenceBucketName, workflowSettings } from '../shared/settings';
import { runScript } from './core';

export const handler = stepHandler('run-script', AgentStart, (input) => {
  const settings = workflowSettings();
  return runScript(input, {
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
});
