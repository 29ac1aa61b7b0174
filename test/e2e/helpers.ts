/**
 * Shared pieces of the end-to-end tests: one local stack per test file (the synthesized state machine run
 * in-process against the S1 and Cado simulators, s3rver and the AWS fake), a way to run one investigation and
 * collect everything it produced, readers for the evidence bucket, and a reset of every simulator switch a test
 * may have changed, so tests in a file stay independent.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, assert, beforeAll, beforeEach } from 'vitest';
import { main as cliMain } from '../../bin/s1cado';
import type { AgentOutcome, CaseRecord, OutcomeResult } from '../../lambdas/record-outcome/core';
import { caseKey } from '../../lambdas/shared/evidence/keys';
import type { Manifest } from '../../lambdas/shared/evidence/manifest';
import type { AgentFinalState, ScriptRef } from '../../lambdas/shared/schemas';
import { LocalExecutionFailedError } from '../../local/asl/errors';
import type { LocalEvent, LocalRunOptions, LocalRunStats } from '../../local/asl/runner';
import type { CadoBehaviour, CadoSimulator } from '../../local/cado-simulator';
import { type LocalStack, type LocalStackOptions, REPO_ROOT, startLocalStack } from '../../local/local-stack';
import type { DemoTenant, S1Simulator, TaskTiming } from '../../local/s1-simulator';

/** Simulated seconds per real second in the end-to-end tests: a whole investigation takes about a second. */
export const E2E_TIME_SCALE = 300;

/** The final state of a successful execution (what the state machine's last state outputs). */
export interface FinalState {
  readonly outcome: OutcomeResult;
  readonly results: AgentFinalState[];
  readonly rejected: { agentId: string; reason: string }[];
  readonly scripts: ScriptRef[];
}

/** Everything one investigation produced. */
export interface InvestigationRun {
  readonly investigationId: string;
  /** The execution output, when it succeeded. */
  readonly output: FinalState | undefined;
  /** The execution failure (`error`, `cause` as DescribeExecution reports them), when it failed. */
  readonly failure: LocalExecutionFailedError | undefined;
  /** Every event of the execution, in order. */
  readonly events: LocalEvent[];
  readonly stats: LocalRunStats;
  /** `case.json` as Record Outcome wrote it. */
  readonly caseRecord: CaseRecord;
}

/** A local stack whose simulators are present (the end-to-end tests never use external endpoints). */
export interface E2eStack extends LocalStack {
  readonly s1Sim: S1Simulator;
  readonly tenant: DemoTenant;
  readonly cadoSim: CadoSimulator;
  /** Puts every simulator switch back to how the stack started (faults, behaviours, timings). */
  reset(): Promise<void>;
}

/** Starts a local stack with the end-to-end time scale and remembers its simulators' initial switches. */
export async function startE2eStack(options: LocalStackOptions = {}): Promise<E2eStack> {
  // Tests investigate the same demo agents over and over: no cooldown unless a test asks for one.
  const stack = await startLocalStack({
    timeScale: E2E_TIME_SCALE,
    ...options,
    config: { agentCooldownMinutes: 0, ...options.config },
  });
  const { s1Sim, tenant, cadoSim } = stack;
  if (!s1Sim || !tenant || !cadoSim) {
    await stack.close();
    assert.fail('The end-to-end tests need both simulators');
  }
  const s1Config = { ...s1Sim.config, taskTiming: { ...s1Sim.config.taskTiming } };
  const cadoBehaviour: CadoBehaviour = {
    ...cadoSim.behaviour,
    timing: { ...cadoSim.behaviour.timing },
    health: { ...cadoSim.behaviour.health },
  };
  const reset = async () => {
    s1Sim.faults.clear();
    const taskTiming: TaskTiming = { ...s1Config.taskTiming };
    Object.assign(s1Sim.config, { ...s1Config, taskTiming });
    for (const agent of s1Sim.state.agents.values()) agent.behavior = {};
    await cadoSim.faults.clear();
    for (const key of Object.keys(cadoSim.behaviour) as (keyof CadoBehaviour)[]) {
      if (!(key in cadoBehaviour)) delete cadoSim.behaviour[key];
    }
    Object.assign(cadoSim.behaviour, {
      ...cadoBehaviour,
      timing: { ...cadoBehaviour.timing },
      health: { ...cadoBehaviour.health },
    });
  };
  return Object.assign(stack, { s1Sim, tenant, cadoSim, reset });
}

/**
 * Removes our collectors from the S1 simulator's library behind the workflow's back, and the shared library cache
 * with them (its entries would otherwise name the removed scripts for their TTL).
 */
export async function clearCollectorLibrary(stack: E2eStack): Promise<void> {
  for (const script of [...stack.s1Sim.state.scripts.values()]) {
    if (script.scriptName.startsWith('s1cado-')) stack.s1Sim.state.scripts.delete(script.id);
  }
  await clearScriptCache(stack);
}

/** Deletes every entry of the shared script library cache (and upload claims) from the coordination table. */
export async function clearScriptCache(stack: LocalStack): Promise<void> {
  const { Items = [] } = await stack.dynamo.client.send(
    new ScanCommand({
      TableName: stack.coordinationTable,
      FilterExpression: 'begins_with(pk, :p)',
      ExpressionAttributeValues: { ':p': { S: 'scriptlib#' } },
    }),
  );
  for (const item of Items) {
    if (!item.pk || !item.sk) continue;
    await stack.dynamo.client.send(
      new DeleteItemCommand({ TableName: stack.coordinationTable, Key: { pk: item.pk, sk: item.sk } }),
    );
  }
}

/**
 * The lifecycle most end-to-end files share: one stack for the file (started before its tests, closed after them),
 * its simulators put back before each test. `set` receives the stack once it runs.
 */
export function useE2eStack(set: (stack: E2eStack) => void, options: LocalStackOptions = {}): void {
  let stack: E2eStack | undefined;
  beforeAll(async () => {
    stack = await startE2eStack(options);
    set(stack);
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => stack?.reset());
}

/**
 * Runs `s1cado` in-process against a local stack, as an operator `analyst` on host `workstation` with the stack's
 * AWS variables; returns the exit code and what it printed.
 */
export async function runCli(
  stack: LocalStack,
  argv: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await cliMain(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { ...stack.awsEnv, USER: 'analyst' },
    hostname: () => 'workstation',
  });
  return { code, stdout, stderr };
}

let threatCounter = 0;

/** A fresh S1-style threat id (digits), unique within the test file, so every investigation has its own id. */
export function nextThreatId(): string {
  threatCounter += 1;
  return String(4_200_000_000_000_000_000n + BigInt(threatCounter));
}

/** Options of {@link investigate}. */
export interface InvestigateOptions {
  /** The execution name (investigation id). @default `threat-<input.threatId>` or a fresh threat id */
  readonly name?: string;
  /** Passed to the runner (fault injection on the Lambda response path). */
  readonly lostLambdaResponses?: LocalRunOptions['lostLambdaResponses'];
}

/**
 * Runs one investigation to its end and reads its `case.json`. Never throws for a failed execution: the failure
 * is part of the returned record, so a test can assert on it.
 */
export async function investigate(
  stack: LocalStack,
  input: unknown,
  options: InvestigateOptions = {},
): Promise<InvestigationRun> {
  const threatId =
    typeof input === 'object' && input !== null && 'threatId' in input
      ? String((input as { threatId: unknown }).threatId)
      : nextThreatId();
  const investigationId = options.name ?? `threat-${threatId}`;
  const events: LocalEvent[] = [];
  const run = stack.machine.run(input, {
    executionName: investigationId,
    onEvent: (event) => events.push(event),
    ...(options.lostLambdaResponses ? { lostLambdaResponses: options.lostLambdaResponses } : {}),
  });
  let output: FinalState | undefined;
  let failure: LocalExecutionFailedError | undefined;
  try {
    output = (await run.result) as FinalState;
  } catch (error) {
    if (!(error instanceof LocalExecutionFailedError)) throw error;
    failure = error;
  }
  const caseRecord = await readJson<CaseRecord>(stack, caseKey(investigationId));
  return { investigationId, output, failure, events, stats: run.stats, caseRecord };
}

/** The bytes of an object in the local evidence bucket. */
export async function readObject(stack: LocalStack, key: string): Promise<Buffer> {
  const out = await stack.s3.client.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
}

/** A JSON object of the local evidence bucket. */
export async function readJson<T>(stack: LocalStack, key: string): Promise<T> {
  return JSON.parse((await readObject(stack, key)).toString('utf8')) as T;
}

/** Every key under `prefix` in the local evidence bucket, sorted. */
export async function listKeys(stack: LocalStack, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await stack.s3.client.send(
      new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** Lower-case hex SHA-256. */
export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 and header version of a collector script as it is on disk (what S1 must have been given). */
export function collectorOnDisk(osType: 'windows' | 'linux'): { sha256: string; version: string } {
  const file = path.join(
    REPO_ROOT,
    'lambdas',
    'collectors',
    osType,
    osType === 'linux' ? 'triage.sh' : 'triage.ps1',
  );
  const content = readFileSync(file);
  const version = /#\s*s1cado-collector:\s*\S+\s+(\S+)/.exec(content.toString('utf8'))?.[1] ?? 'missing';
  return { sha256: sha256Hex(content), version };
}

/** The `case.json` line of one agent. */
export function agentLine(run: InvestigationRun, agentId: string): AgentOutcome {
  const line = run.caseRecord.agents.find((agent) => agent.agentId === agentId);
  if (!line) assert.fail(`case.json of ${run.investigationId} has no line for agent ${agentId}`);
  return line;
}

/** The branch result of one agent in a successful execution's output. */
export function agentResult(run: InvestigationRun, agentId: string): AgentFinalState {
  const result = run.output?.results.find((r) => r.target?.agentId === agentId);
  if (!result) assert.fail(`the output of ${run.investigationId} has no result for agent ${agentId}`);
  return result;
}

/**
 * Checks staged evidence end to end: re-reads the object from s3rver, hashes it, and compares it with the manifest
 * and with the file the S1 simulator served for that child task. Returns the manifest for further assertions.
 */
export async function verifiedEvidence(
  stack: E2eStack,
  evidenceKey: string,
  manifestKey: string,
): Promise<{ manifest: Manifest; bytes: Buffer; served: { sha256: string; size: number } }> {
  const manifest = await readJson<Manifest>(stack, manifestKey);
  const bytes = await readObject(stack, evidenceKey);
  const served = await stack.s1Sim.resultOf(manifest.s1Task.childTaskId);
  return { manifest, bytes, served: { sha256: served.sha256, size: served.size } };
}

/** Request-log entries of the S1 simulator for one API route since `since` (an index into the log). */
export function s1Requests(stack: E2eStack, route: string, since = 0) {
  return stack.s1Sim.requests.slice(since).filter((r) => r.host === 'api' && r.route === route);
}

/**
 * With the stack's watcher schedule off: runs the Task Watcher (one invocation at a time, as its schedule would)
 * until `condition` holds, e.g. until Run Script no longer waits (its queued execute sent, its task ended and the
 * execution resumed). Fails naming `what` after `maxRuns` invocations.
 */
export async function runWatcherUntil(
  stack: E2eStack,
  condition: () => boolean,
  what: string,
  maxRuns = 10,
): Promise<void> {
  for (let run = 0; !condition(); run += 1) {
    if (run >= maxRuns) assert.fail(`${what} did not happen in ${maxRuns} watcher runs`);
    await stack.taskWatcher.runOnce();
  }
}
