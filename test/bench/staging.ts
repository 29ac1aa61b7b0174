/**
 * Section 1: evidence staging. The bundled stage-output Lambda runs in a child process per size, exactly as in
 * Lambda (the CompletedTask as input, fetch-files against the S1 simulator, the download from its storage host
 * streamed into a multipart upload to s3rver, the manifest written), while the S1 simulator and the AWS fake
 * (Secrets Manager) stay in this process and s3rver runs in one of its own. Beside it, on the same loopback and with
 * the same bytes, two reference rates: the raw download (GET and count) and the raw upload (the same multipart
 * upload, fed from memory).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { verificationKey } from '../../lambdas/shared/evidence/keys';
import { DEFAULT_QUEUE_SIZE, partSizeFor } from '../../lambdas/shared/evidence/stage-to-s3';
import { CompletedTask } from '../../lambdas/shared/schemas';
import { staticCredential } from '../../lambdas/shared/secrets';
import { createS1Client, type S1Client } from '../../lambdas/shared/sentinelone';
import { STAGING_NODE_OPTIONS } from '../../lib/constructs/investigation-workflow';
import { TASK_FUNCTION_NODE_FLAGS } from '../../lib/constructs/task-function';
import { type AwsFake, startAwsFake } from '../../local/aws-fake';
import { type S1Simulator, seedDemoTenant, startS1Simulator } from '../../local/s1-simulator';
import { completionTime } from '../../local/s1-simulator/tasks';
import type { Agent, Script } from '../../local/s1-simulator/types';
import { localS3ClientConfig, localS3Env } from '../../local/s3';
import type { ChildFigures } from './child-protocol';
import { runChild } from './children';
import { bundleEntry, bundleLambda, bundleScript } from './lambda-bundles';
import { processCpuSeconds } from './memory-probe';
import { median } from './stats';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** `MAX_RESULT_BYTES` of the staging Lambda in the bench: room for its largest file. */
const BENCH_MAX_RESULT_BYTES = 4 * GiB;
const BUCKET = 'evidence';
const SEED = 'bench';
/** Where the read-back object (see read-back-zip.ts) is written. */
const READ_BACK_KEY = 'bench/read-back.zip';
/** stage-output's memory size and timeout in the stack (lib/constructs/investigation-workflow.ts). */
const STAGE_MEMORY_MB = 1024;
const STAGE_TIMEOUT_SECONDS = 15 * 60;
/** stageToS3's defaults, which stage-output keeps. */
// The Lambda's own multipart settings (the part size follows the announced size).
const QUEUE_SIZE = DEFAULT_QUEUE_SIZE;

/** The issue's requirement: a 1 GiB collection staged with peak RSS under 256 MB (Lambda's MB are MiB). */
export const RSS_LIMIT_BYTES = 256 * MiB;
/** Goal: staging at ≥ 0.9 of the slower of the raw download and raw upload. */
export const THROUGHPUT_GOAL = 0.9;
/** "Flat" memory (issue 14): the peak for the largest size at most this many bytes above the smallest's (32 MB). */
export const FLAT_TOLERANCE_BYTES = 32 * 1_000_000;
/** Goal (issue 14): staging's client CPU per GiB at most this times raw download's plus raw upload's. */
export const CPU_GOAL = 1.2;

/** What to stage. */
export interface StagingPlan {
  /** Sizes staged once each through the Lambda; peak RSS is compared between the smallest and the largest. */
  readonly rssSizes: readonly number[];
  /** Size of the side-by-side rate comparison (staging, raw download, raw upload of the same bytes). */
  readonly rateSize: number;
  /** Interleaved rounds of the comparison; medians are compared (a shared machine is noisy). */
  readonly rateRounds: number;
  /** The issue's check size (PASS/FAIL when it is one of `rssSizes`). */
  readonly issueCheckSize: number;
  /** Variants staged once each at `whatIfSize` (empty: none). */
  readonly whatIf: readonly WhatIf[];
  readonly whatIfSize: number;
}

/**
 * A variant of the staging run: other multipart settings (through the bench's what-if build of the handler, see
 * stage-output-what-if.ts) and/or extra environment for the real bundle (e.g. allocator settings).
 */
export interface WhatIf {
  readonly label: string;
  readonly partSizeBytes?: number;
  readonly queueSize?: number;
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * The full plan: 100 MiB, 1 GiB and 2 GiB staged; rates compared on 256 MiB, five rounds (each round runs staging
 * and the raw transfers back to back, and the goals take the median of the rounds' own ratios, so that a round the
 * machine slowed down counts once, on both sides).
 */
export const FULL_STAGING_PLAN: StagingPlan = {
  rssSizes: [100 * MiB, 1 * GiB, 2 * GiB],
  rateSize: 256 * MiB,
  rateRounds: 5,
  issueCheckSize: 1 * GiB,
  whatIf: [{ label: '8 MiB parts x 2', partSizeBytes: 8 * MiB, queueSize: 2 }],
  whatIfSize: 1 * GiB,
};

/** A quick look (development): small sizes, one round, no issue check, no what-if. */
export const QUICK_STAGING_PLAN: StagingPlan = {
  rssSizes: [16 * MiB, 128 * MiB],
  rateSize: 64 * MiB,
  rateRounds: 1,
  issueCheckSize: 1 * GiB,
  whatIf: [],
  whatIfSize: 128 * MiB,
};

/** One measured transfer. */
export interface Transfer {
  readonly bytes: number;
  readonly seconds: number;
  /** CPU seconds the client process spent (user + system). */
  readonly cpuSeconds: number;
  /** MiB per second. */
  readonly mibPerSecond: number;
}

/** One staging run of the Lambda. */
export interface StagingRun extends Transfer {
  /** The collection size asked of the simulator (the zip adds a few hundred bytes of headers to it). */
  readonly size: number;
  /** The what-if variant, or `deployed` for the Lambda as it is. */
  readonly variant: string;
  /** Multipart settings of this run. */
  readonly partSizeBytes: number;
  readonly queueSize: number;
  /** Kernel high-water mark of the child's RSS (whole life: Node start, module init, staging). */
  readonly peakRss: number;
  /** RSS of Node and the small driver before the Lambda bundle was loaded. */
  readonly nodeRss: number;
  /** RSS after the bundle's module init, before the invocation. */
  readonly initRss: number;
  /** What the RSS was made of near its peak (polled). */
  readonly peakHeapUsed: number;
  readonly peakArrayBuffers: number;
  /** Module init time of the bundle (ms). */
  readonly initMs: number;
  /** SHA-256 the Lambda computed equals the simulator's. */
  readonly sha256Matches: boolean;
}

/** Medians of the interleaved comparison rounds. */
export interface RateComparison {
  readonly size: number;
  readonly rounds: number;
  readonly staging: Transfer;
  readonly rawDownload: Transfer;
  /** The same multipart upload as staging (part size, parts in flight and part checksums of `stageToS3`), from memory. */
  readonly rawUpload: Transfer;
  /** The same upload through lib-storage's `Upload` (the library `stageToS3` used before), for comparison. */
  readonly rawUploadLibStorage: Transfer;
  /** The slower of raw download and raw upload (MiB/s). */
  readonly slowerRaw: number;
  /** The median of the rounds' own ratios: staging / the slower raw rate of the same round. */
  readonly ratio: number;
  readonly goal: number;
  readonly pass: boolean;
  /** Every round's MiB/s, to show the spread, and every round's ratio. */
  readonly samples: {
    readonly ratio: number[];
    readonly staging: number[];
    readonly rawDownload: number[];
    readonly rawUpload: number[];
    readonly rawUploadLibStorage: number[];
  };
}

/**
 * Verify Evidence's read-back (the bundled verify-evidence Lambda) of a collector-shaped zip (see read-back-zip.ts:
 * deflated entries and `SHA256SUMS`): the tail and listing in small ranged GETs, then one sequential GET of the
 * whole object that feeds its SHA-256 while every listed entry is inflated and hashed in the same pass; against a
 * raw download of the same object from S3 (a presigned GET through the plain HTTP client, counting bytes). Medians of
 * the rounds, rates in MiB of the object per second.
 */
export interface ReadBackComparison {
  readonly verify: Transfer;
  readonly rawS3Download: Transfer;
  /** The median of the rounds' own verify / rawS3Download (MiB/s). */
  readonly ratio: number;
  readonly goal: number;
  readonly pass: boolean;
  readonly samples: { readonly ratio: number[]; readonly verify: number[]; readonly rawS3Download: number[] };
  /**
   * What this machine allows at most, from the CPU both sides need per GiB: s3rver's (the serving side, measured
   * from its process during the read-back, Linux only) and Verify's own, on `cores` cores. When the ceiling is
   * below the goal, no change to Verify alone can meet it here. Undefined where the server's CPU is not readable.
   */
  readonly ceiling:
    | {
        readonly cores: number;
        /** s3rver's CPU seconds per GiB served to the read-back, and to the raw download (medians). */
        readonly serverCpuPerGiB: number;
        readonly serverCpuPerGiBRaw: number;
        /** cores / (Verify's + s3rver's CPU per GiB), MiB/s. */
        readonly mibPerSecond: number;
        /** ceiling / raw S3 download rate. */
        readonly ratio: number;
      }
    | undefined;
}

/** Staging's client CPU against the two transfers it combines (CPU seconds per GiB, medians of the rounds). */
export interface CpuComparison {
  readonly staging: number;
  readonly rawDownload: number;
  readonly rawUpload: number;
  readonly rawUploadLibStorage: number;
  /** rawDownload + rawUpload. */
  readonly rawSum: number;
  /** staging / rawSum. */
  readonly ratio: number;
  readonly goal: number;
  readonly pass: boolean;
  /**
   * CPU seconds per extra GiB between the two largest deployed runs (what a larger file adds; the per-invocation
   * work, fetch-files, manifest, a cold process's JIT and clients, drops out). Not a goal; undefined with one size.
   */
  readonly stagingMarginal: number | undefined;
}

/** One goal of issue 14 and where it stands. */
export interface Verdict {
  readonly goal: string;
  readonly met: boolean;
  /** The measured figure, in words (e.g. "0.93"). */
  readonly figure: string;
  /** The target, in words (e.g. ">= 0.90"). */
  readonly target: string;
}

/** Section 1's figures. */
export interface StagingFigures {
  /** The Lambda as deployed, one run per size. */
  readonly runs: readonly StagingRun[];
  readonly rates: RateComparison;
  readonly cpuPerGiB: CpuComparison;
  readonly readBack: ReadBackComparison;
  readonly flat: {
    readonly smallSize: number;
    readonly smallPeak: number;
    readonly largeSize: number;
    readonly largePeak: number;
    /** largePeak / smallPeak - 1. */
    readonly growth: number;
    /** largePeak - smallPeak (bytes). */
    readonly growthBytes: number;
    readonly toleranceBytes: number;
    readonly pass: boolean;
  };
  /** One line per goal of issue 14 (rate ratio, CPU per GiB, flat memory). */
  readonly verdicts: readonly Verdict[];
  /** The issue's check; undefined when the plan does not stage that size. */
  readonly issueCheck:
    | { readonly size: number; readonly peakRss: number; readonly limit: number; readonly pass: boolean }
    | undefined;
  /** Variants at the what-if size (see {@link WhatIf}). */
  readonly whatIf: readonly StagingRun[];
  /** The staging runs of the rate rounds (more peak RSS samples, at the rate size). */
  readonly rateRuns: readonly StagingRun[];
  readonly settings: {
    readonly partSizeBytes: number;
    readonly queueSize: number;
    readonly memorySizeMb: number;
    readonly nodeFlags: string;
  };
}

function transfer(figures: ChildFigures): Transfer {
  const seconds = figures.ms / 1000;
  return {
    bytes: figures.bytes,
    seconds,
    cpuSeconds: figures.cpuMs / 1000,
    mibPerSecond: figures.bytes / MiB / seconds,
  };
}

function cpuPerGiB(t: Transfer): number {
  return t.cpuSeconds / (t.bytes / GiB);
}

/** s3rver running in a child process (see s3-child.ts). */
interface RemoteS3 {
  readonly endpoint: string;
  readonly env: Readonly<Record<string, string>>;
  readonly client: S3Client;
  /** CPU seconds (user + system) the s3rver process has used so far; undefined where /proc cannot tell. */
  cpuSeconds(): number | undefined;
  close(): Promise<void>;
}

function startRemoteS3(): Promise<RemoteS3> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 's3-child.ts'), [BUCKET], {
      execArgv: ['--import', 'tsx'],
      // Its Node-version notice from the AWS SDK is noise here; real errors still reach stderr.
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.once('error', reject);
    // Settling twice is harmless: after a successful start this rejection is ignored.
    exited.then(() => reject(new Error('s3rver exited before it was ready')));
    child.once('message', (message: { endpoint?: string; error?: string }) => {
      if (!message.endpoint) {
        reject(new Error(`s3rver did not start: ${message.error ?? 'unknown error'}`));
        return;
      }
      const client = new S3Client(localS3ClientConfig(message.endpoint));
      resolve({
        endpoint: message.endpoint,
        env: localS3Env(message.endpoint),
        client,
        cpuSeconds: () => processCpuSeconds(child.pid),
        close: async () => {
          client.destroy();
          if (child.connected) child.send('close');
          await exited;
        },
      });
    });
  });
}

interface Rig {
  readonly sim: S1Simulator;
  readonly s3: RemoteS3;
  readonly aws: AwsFake;
  readonly s1: S1Client;
  readonly agent: Agent;
  readonly script: Script;
  readonly secretArn: string;
}

async function startRig(): Promise<Rig & { close(): Promise<void> }> {
  const sim = await startS1Simulator({ seed: SEED });
  const tenant = seedDemoTenant(sim);
  const s3 = await startRemoteS3();
  const aws = await startAwsFake();
  const secretArn = aws.secrets.set('bench/s1-api', { apiToken: tenant.serviceUser.token });
  const s1 = createS1Client({
    consoleUrl: sim.url,
    credentials: staticCredential(tenant.serviceUser.token, 'ApiToken'),
    hostPolicy: { allowLoopback: true },
  });
  return {
    sim,
    s3,
    aws,
    s1,
    agent: tenant.agents.linux,
    script: tenant.builtinScript,
    secretArn,
    close: async () => {
      await aws.close();
      await s3.close();
      await sim.close();
    },
  };
}

/** Runs a collection of `size` bytes on the simulator and builds the Stage Output input for it. */
async function completedTask(
  rig: Rig,
  size: number,
  label: string,
): Promise<{ event: CompletedTask; childTaskId: string; sha256: string; modifiedAt: number }> {
  const { sim, s1, agent, script } = rig;
  sim.setAgentBehavior(agent.id, { profile: 'complete', pickupMs: 0, runMs: 0, result: { size } });
  const investigationId = `bench-staging-${label}`;
  const description = `s1cado ${investigationId} agent ${agent.id}: ${script.scriptName}`;
  const startedAt = new Date().toISOString();
  const { parentTaskId } = await s1.execute({
    agentIds: [agent.id],
    scriptId: script.id,
    taskDescription: description,
    runtimeTimeoutSeconds: script.scriptRuntimeTimeoutSeconds,
  });
  const child = sim.tasksOf(parentTaskId)[0];
  if (!child) throw new Error('the simulator started no child task');
  // The archive (CRC and SHA-256 over all of it) is prepared before the clock starts.
  const prepared = await sim.resultOf(child.id);
  const row = (await s1.getTaskStatus(parentTaskId)).find((r) => r.id === child.id);
  if (row?.status !== 'completed' || !row.scriptResultsSignature) {
    throw new Error(`the bench task did not complete (status ${row?.status ?? 'missing'})`);
  }
  const deadline = new Date(Date.now() + 3600_000).toISOString();
  const event = CompletedTask.parse({
    investigation: { investigationId, requestedBy: 'npm run bench', startedAt },
    target: {
      agentId: agent.id,
      agentUuid: agent.uuid,
      computerName: agent.computerName,
      osType: 'linux',
      siteId: agent.siteId,
      accountId: agent.accountId,
      script: {
        scriptId: script.id,
        libraryName: script.scriptName,
        name: script.scriptName,
        version: script.version,
        sha256: script.signature,
        osType: 'linux',
        scriptType: script.scriptType,
        runtimeTimeoutSeconds: script.scriptRuntimeTimeoutSeconds,
        inputParams: '',
        uploaded: false,
      },
    },
    task: {
      parentTaskId,
      description,
      startedAt,
      deadline,
      reusedExisting: false,
      phase: 'completed',
      childTaskId: child.id,
      status: row.status,
      detailedStatus: row.detailedStatus ?? undefined,
      resultSignature: row.scriptResultsSignature,
      checkedAt: new Date().toISOString(),
    },
    poll: { attempt: 1, waitSeconds: 15, deadline },
  });
  return {
    event,
    childTaskId: child.id,
    sha256: prepared.sha256,
    modifiedAt: completionTime(child),
  };
}

function childEnv(rig: Rig): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    ...rig.s3.env,
    ...rig.aws.env,
    EVIDENCE_BUCKET: BUCKET,
    // The bench stages up to 2 GiB, more than the default maxResultBytes (twice the collectors' budget).
    MAX_RESULT_BYTES: String(BENCH_MAX_RESULT_BYTES),
    S1_CONSOLE_URL: rig.sim.url,
    S1_SECRET_ARN: rig.secretArn,
    ALLOW_LOOPBACK: 'true',
    POWERTOOLS_SERVICE_NAME: 's1-cado-forensics',
    POWERTOOLS_METRICS_NAMESPACE: 'S1CadoForensics',
    POWERTOOLS_LOG_LEVEL: 'WARN',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
  };
}

/** The staging Lambda's NODE_OPTIONS (the workflow construct sets it), passed as flags to the child. */
const LAMBDA_NODE_FLAGS = STAGING_NODE_OPTIONS.split(' ');
/** Verify Evidence's flags in the stack: the TaskFunction defaults (the workflow gives it no NODE_OPTIONS of its own). */
const VERIFY_NODE_FLAGS = [...TASK_FUNCTION_NODE_FLAGS];

function label(size: number): string {
  return size >= GiB && size % GiB === 0 ? `${size / GiB}gib` : `${Math.round(size / MiB)}mib`;
}

/** Progress lines for the console (stderr), so `--json` output stays clean. */
export type Progress = (line: string) => void;

/** The transfer whose rate is the median (its time and CPU come with it). */
function medianTransfer(transfers: readonly Transfer[]): Transfer {
  const rate = median(transfers.map((t) => t.mibPerSecond));
  return [...transfers].sort(
    (a, b) => Math.abs(a.mibPerSecond - rate) - Math.abs(b.mibPerSecond - rate),
  )[0] as Transfer;
}

/** Options of {@link benchStaging} that do not change the figures. */
export interface StagingOptions {
  /** Write a CPU profile of every staging child here (`--cpu-prof` of Node). */
  readonly cpuProfDir?: string;
}

/** Runs section 1. */
export async function benchStaging(
  plan: StagingPlan,
  progress: Progress,
  options: StagingOptions = {},
): Promise<StagingFigures> {
  const profile = options.cpuProfDir
    ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(options.cpuProfDir)}`]
    : [];
  const work = mkdtempSync(path.join(tmpdir(), 's1cado-bench-staging-'));
  const rig = await startRig();
  try {
    progress('bundling stage-output (TaskFunction settings) and the bench children');
    const bundle = await bundleLambda('stage-output', path.join(work, 'lambdas'));
    const whatIfBundle = plan.whatIf.some((w) => w.partSizeBytes || w.queueSize)
      ? await bundleEntry(
          'stage-output-what-if',
          path.join(__dirname, 'stage-output-what-if.ts'),
          path.join(work, 'what-if'),
        )
      : undefined;
    const stageChild = await bundleScript(
      path.join(__dirname, 'stage-child.ts'),
      path.join(work, 'stage-child.js'),
    );
    const rawChild = await bundleScript(
      path.join(__dirname, 'raw-child.ts'),
      path.join(work, 'raw-child.js'),
    );
    const env = childEnv(rig);
    const removeObject = (key: string) =>
      rig.s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key })).catch(() => undefined);

    const verifyBundle = await bundleLambda('verify-evidence', path.join(work, 'lambdas'));
    progress(`building the read-back object (a collector-shaped zip, ${label(plan.rateSize)} of content)`);
    const readBack = (
      await runChild(
        rawChild,
        { kind: 'read-back-object', bucket: BUCKET, key: READ_BACK_KEY, size: plan.rateSize, seed: SEED },
        { env },
      )
    ).details as {
      sha256: string;
      bytes: number;
      entries: number;
      versionId: string | null;
      etag: string | null;
    };
    /**
     * Verify Evidence after a staging run: its output, with the evidence swapped for the read-back object (staged
     * objects come from the simulator, whose zips are stored, not deflated); then a raw GET of the same object.
     */
    const readBackRound = async (staged: { output: string; key: string }) => {
      const output = JSON.parse(staged.output) as {
        evidence: Record<string, unknown> & { manifestKey: string };
      };
      const event = {
        ...output,
        evidence: {
          ...output.evidence,
          key: READ_BACK_KEY,
          bytes: readBack.bytes,
          sha256: readBack.sha256,
          versionId: readBack.versionId,
          etag: readBack.etag,
        },
      };
      const serverBefore = rig.s3.cpuSeconds();
      const verified = await runChild(
        stageChild,
        {
          kind: 'stage',
          bundle: verifyBundle.file,
          event,
          timeoutSeconds: STAGE_TIMEOUT_SECONDS,
          memorySize: STAGE_MEMORY_MB,
        },
        { env, execArgv: [...VERIFY_NODE_FLAGS, ...profile] },
      );
      // The figure counts only if Verify did the whole pass: every listed entry inflated and hashed.
      const record = await rig.s3.client.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: verificationKey(output.evidence.manifestKey) }),
      );
      const listing = (
        JSON.parse(await (record.Body?.transformToString() ?? Promise.resolve('{}'))) as {
          listing?: { status?: string; verified?: number };
        }
      ).listing;
      if (listing?.status !== 'verified' || listing.verified !== readBack.entries - 1) {
        throw new Error(
          `Verify Evidence did not verify the read-back object's listing (${JSON.stringify(listing)})`,
        );
      }
      rounds.verify.push(transfer(verified));
      const serverAfter = rig.s3.cpuSeconds();
      if (serverBefore !== undefined && serverAfter !== undefined)
        rounds.serverDuringVerify.push((serverAfter - serverBefore) / (readBack.bytes / GiB));
      const url = await getSignedUrl(
        rig.s3.client,
        new GetObjectCommand({ Bucket: BUCKET, Key: READ_BACK_KEY }),
        {
          expiresIn: 3600,
        },
      );
      const rawBefore = rig.s3.cpuSeconds();
      rounds.rawS3Download.push(transfer(await runChild(rawChild, { kind: 'download', url }, { env })));
      const rawAfter = rig.s3.cpuSeconds();
      if (rawBefore !== undefined && rawAfter !== undefined)
        rounds.serverDuringRaw.push((rawAfter - rawBefore) / (readBack.bytes / GiB));
    };

    const stage = async (
      size: number,
      variant?: WhatIf,
      keep?: (staged: { output: string; key: string }) => Promise<void>,
    ): Promise<StagingRun> => {
      const name = variant?.label ?? 'deployed';
      const task = await completedTask(rig, size, `${label(size)}-${name.replace(/[^A-Za-z0-9]+/g, '-')}`);
      const multipart = variant?.partSizeBytes !== undefined || variant?.queueSize !== undefined;
      const staged = await runChild(
        stageChild,
        {
          kind: 'stage',
          bundle: multipart ? (whatIfBundle?.file as string) : bundle.file,
          event: task.event,
          timeoutSeconds: STAGE_TIMEOUT_SECONDS,
          memorySize: STAGE_MEMORY_MB,
        },
        {
          env: {
            ...env,
            ...variant?.env,
            ...(variant?.partSizeBytes ? { BENCH_PART_SIZE_BYTES: String(variant.partSizeBytes) } : {}),
            ...(variant?.queueSize ? { BENCH_QUEUE_SIZE: String(variant.queueSize) } : {}),
          },
          execArgv: [...LAMBDA_NODE_FLAGS, ...profile],
        },
      );
      await keep?.({ output: String(staged.details.output), key: String(staged.details.key) });
      await removeObject(String(staged.details.key));
      return {
        size,
        variant: name,
        partSizeBytes: variant?.partSizeBytes ?? partSizeFor(BENCH_MAX_RESULT_BYTES),
        queueSize: variant?.queueSize ?? QUEUE_SIZE,
        ...transfer(staged),
        peakRss: staged.memory.maxRssBytes,
        nodeRss: staged.startRss,
        initRss: staged.readyRss,
        peakHeapUsed: staged.memory.peakHeapUsed,
        peakArrayBuffers: staged.memory.peakArrayBuffers,
        initMs: staged.loadMs,
        sha256Matches: staged.details.sha256 === task.sha256,
      };
    };

    const runs: StagingRun[] = [];
    for (const size of [...plan.rssSizes].sort((a, b) => a - b)) {
      progress(`staging ${label(size)} through the stage-output bundle (child process)`);
      runs.push(await stage(size));
    }

    const rounds = {
      staging: [] as StagingRun[],
      rawDownload: [] as Transfer[],
      rawUpload: [] as Transfer[],
      rawUploadLibStorage: [] as Transfer[],
      verify: [] as Transfer[],
      rawS3Download: [] as Transfer[],
      /** s3rver's CPU seconds per GiB while it served the read-back, and the raw download of the same object. */
      serverDuringVerify: [] as number[],
      serverDuringRaw: [] as number[],
    };
    for (let round = 1; round <= plan.rateRounds; round++) {
      progress(
        `rates on ${label(plan.rateSize)}, round ${round}/${plan.rateRounds}: staging, raw download, raw upload`,
      );
      const run = await stage(plan.rateSize, undefined, readBackRound);
      rounds.staging.push(run);
      const task = await completedTask(rig, plan.rateSize, `${label(plan.rateSize)}-raw-${round}`);
      const link = (await rig.s1.fetchFiles([task.childTaskId])).links[0];
      if (!link) throw new Error('fetch-files returned no link for the bench task');
      rounds.rawDownload.push(
        transfer(await runChild(rawChild, { kind: 'download', url: link.downloadUrl }, { env })),
      );
      for (const writer of ['part-writer', 'lib-storage'] as const) {
        const key = `bench/raw-upload-${writer}-${label(plan.rateSize)}-${round}.zip`;
        const uploaded = await runChild(
          rawChild,
          {
            kind: 'upload',
            bucket: BUCKET,
            key,
            result: {
              size: plan.rateSize,
              seed: SEED,
              taskId: task.childTaskId,
              modifiedAt: task.modifiedAt,
              sha256: task.sha256,
            },
            partSizeBytes: partSizeFor(BENCH_MAX_RESULT_BYTES),
            queueSize: QUEUE_SIZE,
            checksum: true,
            writer,
          },
          { env },
        );
        await removeObject(key);
        (writer === 'part-writer' ? rounds.rawUpload : rounds.rawUploadLibStorage).push(transfer(uploaded));
      }
    }

    const whatIf: StagingRun[] = [];
    for (const variant of plan.whatIf) {
      progress(`what-if: staging ${label(plan.whatIfSize)}, ${variant.label}`);
      whatIf.push(await stage(plan.whatIfSize, variant));
    }

    const staging = medianTransfer(rounds.staging);
    const rawDownload = medianTransfer(rounds.rawDownload);
    const rawUpload = medianTransfer(rounds.rawUpload);
    const rawUploadLibStorage = medianTransfer(rounds.rawUploadLibStorage);
    const cpuMedian = (list: readonly Transfer[]) => median(list.map(cpuPerGiB));
    const cpu = {
      staging: cpuMedian(rounds.staging),
      rawDownload: cpuMedian(rounds.rawDownload),
      rawUpload: cpuMedian(rounds.rawUpload),
      rawUploadLibStorage: cpuMedian(rounds.rawUploadLibStorage),
    };
    const rawSum = cpu.rawDownload + cpu.rawUpload;
    const verify = medianTransfer(rounds.verify);
    const rawS3Download = medianTransfer(rounds.rawS3Download);
    const readBackRatios = rounds.verify.map(
      (t, i) => t.mibPerSecond / (rounds.rawS3Download[i] as Transfer).mibPerSecond,
    );
    const readBackRatio = median(readBackRatios);
    const cores = availableParallelism();
    const ceiling =
      rounds.serverDuringVerify.length > 0 && rounds.serverDuringRaw.length > 0
        ? (() => {
            const serverCpuPerGiB = median(rounds.serverDuringVerify);
            const mibPerSecond = (cores / (cpuMedian(rounds.verify) + serverCpuPerGiB)) * 1024;
            return {
              cores,
              serverCpuPerGiB,
              serverCpuPerGiBRaw: median(rounds.serverDuringRaw),
              mibPerSecond,
              ratio: mibPerSecond / rawS3Download.mibPerSecond,
            };
          })()
        : undefined;
    const cpuRatio = cpu.staging / rawSum;
    const bySize = [...runs].sort((a, b) => a.size - b.size);
    const [below, top] = bySize.slice(-2);
    const stagingMarginal =
      below && top && top.bytes > below.bytes
        ? (top.cpuSeconds - below.cpuSeconds) / ((top.bytes - below.bytes) / GiB)
        : undefined;
    const slowerRaw = Math.min(rawDownload.mibPerSecond, rawUpload.mibPerSecond);
    const stagingRatios = rounds.staging.map(
      (t, i) =>
        t.mibPerSecond /
        Math.min(
          (rounds.rawDownload[i] as Transfer).mibPerSecond,
          (rounds.rawUpload[i] as Transfer).mibPerSecond,
        ),
    );
    const ratio = median(stagingRatios);
    const small = runs[0] as StagingRun;
    const large = runs[runs.length - 1] as StagingRun;
    const growth = large.peakRss / small.peakRss - 1;
    const growthBytes = large.peakRss - small.peakRss;
    const checked = runs.find((run) => run.size === plan.issueCheckSize);
    const rates = (list: Transfer[]) => list.map((t) => t.mibPerSecond);
    return {
      runs,
      rates: {
        size: plan.rateSize,
        rounds: plan.rateRounds,
        staging,
        rawDownload,
        rawUpload,
        rawUploadLibStorage,
        slowerRaw,
        ratio,
        goal: THROUGHPUT_GOAL,
        pass: ratio >= THROUGHPUT_GOAL,
        samples: {
          ratio: stagingRatios,
          staging: rates(rounds.staging),
          rawDownload: rates(rounds.rawDownload),
          rawUpload: rates(rounds.rawUpload),
          rawUploadLibStorage: rates(rounds.rawUploadLibStorage),
        },
      },
      cpuPerGiB: {
        ...cpu,
        rawSum,
        ratio: cpuRatio,
        goal: CPU_GOAL,
        pass: cpuRatio <= CPU_GOAL,
        stagingMarginal,
      },
      readBack: {
        verify,
        rawS3Download,
        ratio: readBackRatio,
        goal: THROUGHPUT_GOAL,
        pass: readBackRatio >= THROUGHPUT_GOAL,
        samples: {
          ratio: readBackRatios,
          verify: rates(rounds.verify),
          rawS3Download: rates(rounds.rawS3Download),
        },
        ceiling,
      },
      flat: {
        smallSize: small.size,
        smallPeak: small.peakRss,
        largeSize: large.size,
        largePeak: large.peakRss,
        growth,
        growthBytes,
        toleranceBytes: FLAT_TOLERANCE_BYTES,
        pass: growthBytes <= FLAT_TOLERANCE_BYTES,
      },
      verdicts: [
        {
          goal: `staging rate / slower raw rate (${label(plan.rateSize)}, median of ${plan.rateRounds} rounds' ratios)`,
          met: ratio >= THROUGHPUT_GOAL,
          figure: ratio.toFixed(2),
          target: `>= ${THROUGHPUT_GOAL.toFixed(2)}`,
        },
        {
          goal: 'staging CPU per GiB / (raw download + raw upload)',
          met: cpuRatio <= CPU_GOAL,
          figure: `${cpuRatio.toFixed(2)} (${cpu.staging.toFixed(2)} vs ${rawSum.toFixed(2)} s/GiB)`,
          target: `<= ${CPU_GOAL.toFixed(2)}`,
        },
        {
          goal: 'Verify Evidence read-back rate / raw S3 download rate',
          met: readBackRatio >= THROUGHPUT_GOAL,
          figure: `${readBackRatio.toFixed(2)} (${verify.mibPerSecond.toFixed(1)} vs ${rawS3Download.mibPerSecond.toFixed(1)} MiB/s)${ceiling && ceiling.ratio < THROUGHPUT_GOAL ? `; this machine's ceiling ${ceiling.ratio.toFixed(2)} (${ceiling.cores} cores for Verify and s3rver together)` : ''}`,
          target: `>= ${THROUGHPUT_GOAL.toFixed(2)}`,
        },
        {
          goal: `peak RSS ${label(large.size)} - ${label(small.size)}`,
          met: growthBytes <= FLAT_TOLERANCE_BYTES,
          figure: `${(growthBytes / 1_000_000).toFixed(1)} MB (${(small.peakRss / 1_000_000).toFixed(0)} -> ${(large.peakRss / 1_000_000).toFixed(0)} MB)`,
          target: `<= ${FLAT_TOLERANCE_BYTES / 1_000_000} MB`,
        },
      ],
      issueCheck: checked
        ? {
            size: checked.size,
            peakRss: checked.peakRss,
            limit: RSS_LIMIT_BYTES,
            pass: checked.peakRss < RSS_LIMIT_BYTES,
          }
        : undefined,
      whatIf,
      rateRuns: rounds.staging,
      settings: {
        partSizeBytes: partSizeFor(BENCH_MAX_RESULT_BYTES),
        queueSize: QUEUE_SIZE,
        memorySizeMb: STAGE_MEMORY_MB,
        nodeFlags: LAMBDA_NODE_FLAGS.join(' '),
      },
    };
  } finally {
    await rig.close();
    rmSync(work, { recursive: true, force: true });
  }
}
