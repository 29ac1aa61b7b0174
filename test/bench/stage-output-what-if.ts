/**
 * A what-if build of the stage-output Lambda for the staging bench: the staging step of `lambdas/stage-output`
 * (fetch-files for the link, then the real `stageToS3` with the same download options and a fresh link on expiry),
 * with the multipart part size and queue taken from `BENCH_PART_SIZE_BYTES` / `BENCH_QUEUE_SIZE`. The manifest write
 * (one small PUT) is left out. Bundled with the same settings as the real function, it shows what other multipart
 * settings would do to peak memory and throughput before anyone changes the Lambda.
 */
import { s3Client } from '../../lambdas/shared/aws';
import { now, timeScale } from '../../lambdas/shared/clock';
import { ResultNotAvailableError } from '../../lambdas/shared/errors';
import { evidenceKey } from '../../lambdas/shared/evidence/keys';
import { stageToS3 } from '../../lambdas/shared/evidence/stage-to-s3';
import { stepHandler } from '../../lambdas/shared/handler';
import { CompletedTask } from '../../lambdas/shared/schemas';
import { s1Client } from '../../lambdas/shared/services';
import { evidenceBucketName, maxResultBytes, s1Settings } from '../../lambdas/shared/settings';

/** Same margin as the real handler. */
const SAFETY_MARGIN_MS = 60_000;

function positive(name: string): number | undefined {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** Stages the result of a CompletedTask with the multipart settings from the environment. */
export const handler = stepHandler('stage-output', CompletedTask, async (input, context) => {
  const s1 = s1Client();
  const { investigation, target, task } = input;
  const link = async () => {
    const { links } = await s1.fetchFiles([task.childTaskId]);
    const found = links.find((l) => l.taskId === task.childTaskId);
    if (!found) throw new ResultNotAvailableError(`S1 offers no result file for task ${task.childTaskId}`);
    return found;
  };
  const first = await link();
  let usedFirst = false;
  const staged = await stageToS3({
    s3: s3Client(),
    bucket: evidenceBucketName(),
    key: evidenceKey(investigation.investigationId, target.agentId, task.childTaskId, first.fileName),
    partSizeBytes: positive('BENCH_PART_SIZE_BYTES'),
    queueSize: positive('BENCH_QUEUE_SIZE'),
    download: {
      policy: s1Settings().downloadPolicy,
      maxBytes: maxResultBytes(),
      deadline: now() + Math.max(0, context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS) * timeScale(),
      getUrl: async () => {
        if (!usedFirst) {
          usedFirst = true;
          return first.downloadUrl;
        }
        return (await link()).downloadUrl;
      },
    },
  });
  return { ...input, evidence: { bytes: staged.bytes, sha256: staged.sha256, key: staged.key } };
});
