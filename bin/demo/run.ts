/**
 * One demo run: starts the local deployment (simulators, s3rver, AWS fake, the synthesized state machine bound to
 * the real handlers), raises a simulated threat, starts the investigation with StartExecution through the real
 * Step Functions client, shows progress, then checks what landed in S3 and summarises it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { now } from '../../lambdas/shared/clock';
import { LIMITS } from '../../lambdas/shared/contract';
import { caseReportKey } from '../../lambdas/shared/evidence/case-report';
import { caseKey } from '../../lambdas/shared/evidence/keys';
import {
  DEFAULT_DOWNLOAD_HOSTS,
  DEFAULT_S1_HOSTS,
  hostMatches,
  isLoopbackHost,
} from '../../lambdas/shared/hosts';
import { redact } from '../../lambdas/shared/redact';
import { ConfigError, type S1CadoConfigInput } from '../../lib/config';
import { walkStates } from '../../local/asl/definition';
import type { LocalExecution } from '../../local/asl/runner';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import type { Agent, Threat } from '../../local/s1-simulator';
import { rerunCanHelp } from '../cli/format';
import { main as cliMain } from '../s1cado';
import { formatBytes, formatDuration } from '../units';
import type { DemoOptions } from './args';
import { type DemoOutput, Display } from './display';
import { paint } from './format';
import { captureProcessOutput } from './output-capture';
import { ProgressReporter } from './reporter';
import { NoStagingSource, SimulatorStagingSource } from './staging-progress';
import { collectAgents, type DemoSummary, renderSummary, s3rverObjectPath } from './summary';
import { TrafficWatch } from './traffic-watch';

/** Where a run writes, and how it can be stopped. */
export interface RunIo {
  /** Progress lines (and, without `--json`, the summary). */
  readonly progress: DemoOutput;
  /** The `--json` summary. */
  readonly result: DemoOutput;
  /** Folder for the handler log and a kept S3 directory (`.local/` of the repository by default). */
  readonly workDir: string;
  /** Stops the investigation (StopExecution) when aborted, e.g. on Ctrl-C. */
  readonly signal?: AbortSignal;
}

/** What the input of StartExecution is built from. */
interface Plan {
  readonly investigationId: string;
  readonly input: {
    agentIds: string[];
    threatId?: string;
    requestedBy: string;
    reason: string;
    profile?: string;
    customPaths?: string[];
    collectionMode?: 'cado-xdr';
  };
  readonly agents: readonly Agent[];
}

/**
 * The demo's stand-in acquisition tools for `--profile memory`: the simulator does not run scripts, so only the
 * configured names and SHA-256s matter (they reach the collector's arguments).
 */
const DEMO_MEMORY_TOOLS = {
  linux: { fileName: 'avml', sha256: createHash('sha256').update('s1cado demo avml').digest('hex') },
  windows: {
    fileName: 'winpmem.exe',
    sha256: createHash('sha256').update('s1cado demo winpmem').digest('hex'),
  },
};

const REQUESTED_BY = 'threat-intake (demo)';
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

function stamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Widens the host allowlists for endpoints the user named explicitly (loopback needs no entry: allowLoopback). */
function configFor(options: DemoOptions): Partial<S1CadoConfigInput> {
  const config: Partial<S1CadoConfigInput> = { ...options.scenario.config };
  if (options.externalS1) {
    const host = new URL(options.externalS1.url).hostname;
    if (!isLoopbackHost(host) && !DEFAULT_S1_HOSTS.some((pattern) => hostMatches(host, pattern))) {
      config.s1AllowedHosts = [...DEFAULT_S1_HOSTS, host];
    }
  }
  if (options.downloadHosts.length > 0) {
    config.downloadAllowedHosts = [...DEFAULT_DOWNLOAD_HOSTS, ...options.downloadHosts];
  }
  if (options.profile === 'memory') {
    config.collectionProfiles = { ...config.collectionProfiles, memoryTool: DEMO_MEMORY_TOOLS };
  }
  // A --size beyond the default cap is what the user asked for: accept it.
  if (options.resultBytes > LIMITS.defaultMaxResultBytes) config.maxResultBytes = options.resultBytes;
  return config;
}

/** The simulated endpoints: the seeded Windows and Linux servers, then extra agents alternating OS. */
function simulatedAgents(stack: LocalStack, options: DemoOptions): Agent[] {
  const sim = stack.s1Sim;
  const tenant = stack.tenant;
  if (!sim || !tenant) return [];
  const agents: Agent[] = [tenant.agents.windows, tenant.agents.linux];
  for (let i = agents.length; i < options.agents; i++) {
    const windows = i % 2 === 0;
    const n = String(Math.floor(i / 2) + 1).padStart(2, '0');
    agents.push(
      sim.addAgent({
        siteId: tenant.sites.rso.id,
        osType: windows ? 'windows' : 'linux',
        computerName: windows ? `ACME-SRV${n}` : `acme-app-${n}`,
      }),
    );
  }
  let chosen = agents.slice(0, options.agents);
  if (options.profile === 'custom') {
    // Custom paths belong to one OS: collect from the agents that run it.
    const os = options.customPaths.some((p) => /^[A-Za-z]:\\/.test(p)) ? 'windows' : 'linux';
    chosen = agents.filter((a) => a.osType === os).slice(0, Math.max(1, Math.ceil(options.agents / 2)));
  }
  for (const agent of chosen)
    sim.setAgentBehavior(agent.id, { result: { size: options.resultBytes, collector: true } });
  return chosen;
}

/** Raises one threat per agent: a Windows dropper that moved laterally to the Linux hosts. */
function raiseThreats(stack: LocalStack, agents: readonly Agent[]): Threat[] {
  const sim = stack.s1Sim;
  if (!sim) return [];
  return agents.map((agent) =>
    sim.addThreat(
      agent.osType === 'windows'
        ? {
            agentId: agent.id,
            threatName: 'svcupdate.exe',
            classification: 'Trojan',
            confidenceLevel: 'malicious',
            filePath: '\\Device\\HarddiskVolume3\\Windows\\Temp\\svcupdate.exe',
          }
        : {
            agentId: agent.id,
            threatName: 'svcupdate',
            classification: 'Backdoor',
            confidenceLevel: 'malicious',
            filePath: '/var/tmp/.svcupdate',
          },
    ),
  );
}

function planFor(options: DemoOptions, agents: readonly Agent[], threats: readonly Threat[]): Plan {
  if (options.externalS1) {
    const threatId = options.threatId;
    const investigationId = threatId
      ? `threat-${threatId}`
      : `manual-${stamp(new Date()).replace('-', '')}-${randomBytes(3).toString('hex')}`;
    return {
      investigationId,
      agents: [],
      input: {
        agentIds: [...options.agentIds],
        ...(threatId ? { threatId } : {}),
        requestedBy: threatId ? REQUESTED_BY : 'demo (manual, external S1)',
        reason: 'npm run demo against an external S1-compatible console',
        ...profileInput(options),
        ...(options.mode === 'cado-xdr' ? { collectionMode: 'cado-xdr' as const } : {}),
      },
    };
  }
  const first = threats[0];
  const host = agents[0]?.computerName ?? '?';
  const others = agents.slice(1).map((a) => a.computerName);
  return {
    investigationId: `threat-${first?.id ?? 'unknown'}`,
    agents,
    input: {
      agentIds: agents.map((a) => a.id),
      ...(first ? { threatId: first.id } : {}),
      requestedBy: REQUESTED_BY,
      reason:
        `Simulated ${first?.classification ?? 'threat'} "${first?.threatName ?? '?'}" on ${host}${others.length ? `; lateral movement to ${others.join(', ')}` : ''}`.slice(
          0,
          1024,
        ),
      ...profileInput(options),
      ...(options.mode === 'cado-xdr' ? { collectionMode: 'cado-xdr' as const } : {}),
    },
  };
}

/** The profile fields of the execution input (none for the default, triage). */
function profileInput(options: DemoOptions): { profile?: string; customPaths?: string[] } {
  if (options.profile === 'triage') return {};
  return {
    profile: options.profile,
    ...(options.customPaths.length > 0 ? { customPaths: [...options.customPaths] } : {}),
  };
}

function maxConcurrencyOf(stack: LocalStack): number | undefined {
  for (const { state } of walkStates(stack.machine.definition)) {
    if (state.Type === 'Map' && typeof state.MaxConcurrency === 'number') return state.MaxConcurrency;
  }
  return undefined;
}

/** Moves (or, across file systems, copies) the s3rver directory out of the way of its cleanup. */
function keepDirectory(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    cpSync(from, to, { recursive: true });
  }
}

/** Runs the demo; resolves with the exit code. */
/**
 * The operator's side of a hand-off re-run: `recover` (Cado is back), then `npx s1cado handoff <id>` through the
 * CLI itself, against the local stack's outputs, its output on the display. Returns the command's exit code.
 */
async function rerunHandoff(
  local: LocalStack,
  investigationId: string,
  display: Display,
  p: ReturnType<typeof paint>,
  recover: () => unknown,
): Promise<number> {
  await recover();
  display.line(p.bold(`npx s1cado handoff ${investigationId}`));
  const sink = {
    write: (text: string) => {
      for (const line of String(text).replace(/\n$/, '').split('\n')) display.line(`  ${line}`);
    },
  };
  return cliMain(['handoff', investigationId, '--requested-by', 'demo operator'], {
    stdout: sink,
    stderr: sink,
    env: { ...local.awsEnv },
  });
}

export async function runDemo(options: DemoOptions, io: RunIo): Promise<number> {
  const startedAt = Date.now();
  const runId = stamp(new Date(startedAt));
  mkdirSync(io.workDir, { recursive: true });
  const logFile = path.join(io.workDir, `demo-${runId}.log`);
  const p = paint(options.color && io.progress.isTTY === true);
  const display = new Display(io.progress, io.progress.isTTY === true);
  const scenario = options.scenario;

  const what = options.externalS1
    ? `${options.agentIds.length} agent(s) on an external S1`
    : `${options.agents} agent(s), ${formatBytes(options.resultBytes)} each`;
  display.line(
    p.bold(
      `s1cado demo · scenario ${scenario.name} · profile ${options.profile} · ${what} · time ×${options.timeScale}`,
    ),
  );
  display.line(p.dim(scenario.story));
  display.line(p.dim(`handler logs → ${logFile}`));

  const capture = captureProcessOutput(logFile);
  const savedWarning = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  // The AWS SDK warns once per process that Node 20 support ends; noise for a local demo (and only here).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  let stack: LocalStack | undefined;
  let sfn: SFNClient | undefined;
  try {
    const startingAt = Date.now();
    try {
      stack = await startLocalStack({
        timeScale: options.timeScale,
        config: configFor(options),
        ...(options.externalS1 ? { externalS1: { ...options.externalS1 } } : {}),
        ...(options.externalCado ? { externalCado: { ...options.externalCado } } : {}),
      });
    } catch (error) {
      if (error instanceof ConfigError) {
        display.line(p.red(redact(error.message)));
        return 2;
      }
      throw error;
    }
    const local = stack;
    display.line(p.dim(`local stack up in ${formatDuration(Date.now() - startingAt)}:`));
    display.line(
      `  S1      ${local.s1Sim ? `simulator ${local.s1Sim.url} (result storage ${local.s1Sim.storageUrl})` : `external ${new URL(local.s1Url).origin}`}`,
    );
    display.line(
      `  Cado    ${local.cadoSim ? `simulator ${local.cadoSim.apiUrl}` : `external ${new URL(local.cadoUrl).origin}`}`,
    );
    display.line(`  S3      s3rver ${local.s3.endpoint}, bucket "${local.bucket}" in ${local.s3.directory}`);
    display.line(`  AWS     Secrets Manager + Step Functions fake ${local.aws.endpoint}`);
    if (options.externalS1) {
      display.line(
        p.yellow(
          '  note    the workflow uploads its collection scripts to that console and runs them on the named agents',
        ),
      );
    }

    const agents = simulatedAgents(local, options);
    const threats = raiseThreats(local, agents);
    await scenario.arrange?.({
      s1: local.s1Sim,
      cado: local.cadoSim,
      agents,
      resultBytes: options.resultBytes,
    });
    const plan = planFor(options, agents, threats);
    threats.forEach((threat, i) => {
      const agent = agents[i];
      display.line(
        `${i === 0 ? p.red('threat') : p.red('  and ')}  ${threat.id} "${threat.threatName}" (${threat.classification}, ${threat.confidenceLevel}) on ${agent?.computerName ?? '?'} (${agent?.osType ?? '?'}, agent ${agent?.id ?? '?'})`,
      );
    });

    const staging = local.s1Sim ? new SimulatorStagingSource(local.s1Sim) : new NoStagingSource();
    const reporter = new ProgressReporter({
      display,
      paint: p,
      staging,
      traffic: new TrafficWatch(local.s1Sim, local.cadoSim),
      simNow: now,
      maxConcurrency: maxConcurrencyOf(local),
    });
    let execution: LocalExecution | undefined;
    // The same binding startLocalStack registers, plus the progress hook: StartExecution runs the real definition.
    local.aws.registerStateMachine(local.stateMachineArn, (request) => {
      execution = local.machine.run(request.input, {
        executionName: request.name,
        executionId: request.executionArn,
        signal: request.signal,
        onEvent: (event) => reporter.handle(event),
      });
      return execution.result;
    });

    sfn = new SFNClient({
      endpoint: local.aws.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const client = sfn;
    display.line(
      `StartExecution ${p.bold(plan.investigationId)} (${plan.input.agentIds.length} agent(s), requestedBy "${plan.input.requestedBy}")`,
    );
    reporter.start();
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: local.stateMachineArn,
        name: plan.investigationId,
        input: JSON.stringify(plan.input),
      }),
    );
    const executionArn = started.executionArn ?? '';
    const stop = () => {
      display.line(p.yellow('interrupted: StopExecution'));
      client
        .send(new StopExecutionCommand({ executionArn, error: 'Interrupted', cause: 'Ctrl-C' }))
        .catch(() => undefined);
    };
    io.signal?.addEventListener('abort', stop, { once: true });
    if (io.signal?.aborted) stop();
    await local.aws.stepFunctions.waitFor(executionArn);
    io.signal?.removeEventListener('abort', stop);
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    reporter.stop();

    let rerunExitCode: number | null = null;
    if (scenario.handoffRerun) {
      rerunExitCode = await rerunHandoff(local, plan.investigationId, display, p, () =>
        scenario.handoffRerun?.recover({
          s1: local.s1Sim,
          cado: local.cadoSim,
          agents,
          resultBytes: options.resultBytes,
        }),
      );
    }

    const { caseFile, agents: agentSummaries } = await collectAgents({
      s3: local.s3.client,
      bucket: local.bucket,
      investigationId: plan.investigationId,
      ...(local.s1Sim
        ? {
            s1ResultSha256: async (childTaskId: string) =>
              local.s1Sim?.resultOf(childTaskId).then(
                (result) => result.sha256,
                () => undefined,
              ),
          }
        : {}),
    });
    const reportKey = caseReportKey(caseKey(plan.investigationId));
    const reportWritten = await local.s3.client
      .send(new HeadObjectCommand({ Bucket: local.bucket, Key: reportKey }))
      .then(
        () => true,
        () => false,
      );
    const status = described.status ?? 'UNKNOWN';
    const allVerified = agentSummaries.every((agent) => agent.evidence === null || agent.evidence.verified);
    const summary: DemoSummary = {
      investigationId: plan.investigationId,
      executionArn,
      executionStatus: status,
      executionError: described.error ?? null,
      executionCause: described.cause ? redact(described.cause) : null,
      caseStatus: caseFile?.status ?? null,
      caseSummary: caseFile?.summary ?? null,
      caseKey: caseKey(plan.investigationId),
      caseReportKey: reportWritten ? reportKey : null,
      // Only when a re-run can help some agent (not for evidence Cado cannot process), as s1cado status says.
      handoffRerunCommand: caseFile?.agents.some(rerunCanHelp)
        ? (caseFile.handoffRerunCommand ?? null)
        : null,
      scenario: scenario.name,
      expectedCaseStatus: scenario.expected,
      asExpected: caseFile?.status === scenario.expected,
      agents: agentSummaries,
      elapsedSeconds: reporter.elapsedMs / 1000,
      simulatedSeconds: reporter.simulatedMs / 1000,
      timeScale: options.timeScale,
      stats: execution
        ? {
            stateTransitions: execution.stats.stateTransitions,
            lambdaInvocations: execution.stats.lambdaInvocations,
          }
        : null,
      s3: { endpoint: local.s3.endpoint, bucket: local.bucket, directory: null },
      logFile,
      handoffRerunExitCode: rerunExitCode,
      // Interrupted (Ctrl-C): 130, as a shell reports it, after the summary of what was done so far. With a hand-off
      // re-run, its result counts: the investigation itself was meant to end without Cado.
      exitCode: io.signal?.aborted
        ? 130
        : (rerunExitCode === null ? status === 'SUCCEEDED' : rerunExitCode === 0) && allVerified
          ? 0
          : 1,
    };
    if (options.keep) {
      const kept = path.join(io.workDir, `demo-s3-${plan.investigationId}-${runId}`);
      keepDirectory(local.s3.directory, kept);
      summary.s3.directory = kept;
      for (const agent of summary.agents) {
        if (agent.evidence)
          agent.evidence.localPath = s3rverObjectPath(kept, agent.evidence.bucket, agent.evidence.key);
      }
    }

    await local.close();
    stack = undefined;
    capture.restore();
    if (options.json) {
      io.result.write(
        `${JSON.stringify({ ...summary, totalSeconds: (Date.now() - startedAt) / 1000 }, null, 2)}\n`,
      );
    } else {
      const lines = renderSummary(summary, p, Date.now() - startedAt);
      for (const line of lines) display.line(line);
    }
    return summary.exitCode;
  } finally {
    sfn?.destroy();
    await stack?.close();
    capture.restore();
    if (savedWarning === undefined) delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    else process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = savedWarning;
  }
}
