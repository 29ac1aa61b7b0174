/**
 * Child process of the staging bench: loads a bundled Lambda (stage-output, or verify-evidence for the read-back) (as Lambda would: a CommonJS bundle
 * required once), invokes its handler with the given CompletedTask, and reports time and memory over IPC.
 * Imports nothing heavy of its own, so the RSS it reports is Node, this small driver and the Lambda.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { createLambdaContext } from '../../local/asl/lambda-context';
import { type ChildJob, type ChildReply, errorReply, type StageJob } from './child-protocol';
import { cpuTimer, startMemoryProbe } from './memory-probe';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

function contextFor(job: StageJob): Context {
  const functionName = 'bench-stage-output';
  return createLambdaContext(
    {
      logicalId: 'StageOutput',
      arn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
      functionName,
      step: 'stage-output',
      environment: {},
      unresolvedEnvironment: [],
      timeoutSeconds: job.timeoutSeconds,
      memorySize: job.memorySize,
    },
    { requestId: randomUUID(), deadline: Date.now() + job.timeoutSeconds * 1000 },
  );
}

async function stage(job: StageJob): Promise<ChildReply> {
  const startRss = process.memoryUsage.rss();
  const loadStarted = performance.now();
  // A path known only at run time: esbuild leaves this to Node's own require, which is what we want.
  const { handler } = require(job.bundle) as { handler: Handler };
  const loadMs = performance.now() - loadStarted;
  const readyRss = process.memoryUsage.rss();
  const probe = startMemoryProbe();
  const cpu = cpuTimer();
  const started = performance.now();
  const output = (await handler(job.event, contextFor(job))) as {
    evidence: { bytes: number; sha256: string; key: string };
  };
  const ms = performance.now() - started;
  const memory = probe.stop();
  return {
    ok: true,
    figures: {
      bytes: output.evidence.bytes,
      ms,
      startRss,
      readyRss,
      loadMs,
      cpuMs: cpu(),
      memory,
      // The whole output too: the bench hands staging's output to Verify Evidence (the next step) as its input.
      details: { sha256: output.evidence.sha256, key: output.evidence.key, output: JSON.stringify(output) },
    },
  };
}

process.once('message', (job: ChildJob) => {
  const run = job.kind === 'stage' ? stage(job) : Promise.reject(new Error(`not a stage job: ${job.kind}`));
  run.catch(errorReply).then((reply) => process.send?.(reply, () => process.exit(0)));
});
