/**
 * `s1cado handoff <investigationId>`: re-runs the Cado hand-off of evidence that is staged but was not processed
 * (Cado down or failing during the investigation). The deployed `hand-to-cado` / `check-cado` Lambdas do the work —
 * they hold the Cado settings and key — so the operator needs lambda:InvokeFunction and S3 access, nothing else.
 *
 * Per agent: the staged object must still exist with the manifest's size; the Hand To Cado input is rebuilt from the
 * manifest; a pipeline that the investigation (or an earlier run of this command) started and that may still be
 * running is checked first and followed rather than imported twice. Afterwards each manifest gets a new version (Cado
 * ids, hand-off status, timeline) and case.json is updated (agent outcomes, counts, status, summary).
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { caseVerdict, summarizeAgent } from '../../lambdas/record-outcome/core';
import { CADO_RETRYABLE_ERROR_NAMES } from '../../lambdas/shared/errors';
import type { AgentOutcome, CaseRecord } from '../../lambdas/shared/evidence/case-record';
import { caseKey } from '../../lambdas/shared/evidence/keys';
import {
  getJson,
  Manifest,
  putJson,
  handoffCommand as rerunCommandFor,
} from '../../lambdas/shared/evidence/manifest';
import {
  type AgentFinalState,
  type CaughtError,
  type Evidence,
  HandedOff,
  StagedEvidence,
} from '../../lambdas/shared/schemas';
import { COMMON_OPTIONS, parseCommand, parseDuration, stringFlag } from './args';
import { type AwsClients, createAwsClients } from './aws-clients';
import { bucketProgress, readCase } from './case-file';
import { defaultRequester } from './collect';
import { Deployment, deploymentOptions } from './deployment';
import {
  EXIT_FAILURE,
  EXIT_OK,
  FunctionInvocationError,
  InvestigationStateError,
  UsageError,
} from './errors';
import { backoffMs } from './execution';
import { humanDuration } from './format';
import { type CliIo, Output } from './io';
import { invokeFunction } from './lambda-invoke';
import { investigationIdArg } from './status';

/** How long `--wait` follows the pipelines unless `--timeout` says otherwise. */
export const DEFAULT_HANDOFF_TIMEOUT_MS = 2 * 3_600_000;

/** Function errors worth another try: the ones the workflow's Retry on Hand To Cado / Check Cado matches. */
const TRANSIENT_ERRORS = new Set(CADO_RETRYABLE_ERROR_NAMES);
/** Tries of one invocation on transient errors, and the pause between them (clock ms). */
const TRANSIENT_TRIES = 4;
const TRANSIENT_BACKOFF = { firstMs: 5_000, factor: 2, capMs: 60_000 };
/** Hand-offs run side by side, a few at a time (each is one Lambda invocation plus polling). */
const CONCURRENCY = 4;

/** `s1cado handoff --help`. */
export const HANDOFF_HELP = `Usage: s1cado handoff <investigationId> [options]

Re-runs the Cado hand-off for every agent whose evidence is staged but was not processed by Cado (case.json says
staged_handoff_failed, or the manifest's hand-off is not complete). For each one it checks that the staged object
still exists with the size the manifest records, then invokes the deployed hand-to-cado Lambda with the hand-off
input rebuilt from the manifest. A Cado pipeline that may still be running is followed, not imported again.
Afterwards it writes a new version of each manifest and of case.json.

Needs: lambda:InvokeFunction on the two hand-off Lambdas; s3:ListBucket on investigations/, s3:GetObject and
s3:PutObject on its objects, and use of the bucket's KMS key (kms:Decrypt, kms:GenerateDataKey).

Options
  --wait                   follow the Cado pipelines until they finish (honours the Lambdas' poll intervals)
  --timeout <duration>     with --wait: stop following after this long, e.g. 30m, 3h (default 2h)
  --requested-by <who>     recorded in the manifests' timeline (default: $USER@<host name>)
  --json                   machine-readable result on stdout (progress goes to stderr)
  --stack <name>           CloudFormation stack to read the locations from (default S1CadoForensics, or $S1CADO_STACK)
  --region <region>        AWS region (default: the SDK's, e.g. $AWS_REGION)
  --bucket <name>          the evidence bucket (or $S1CADO_BUCKET; default: stack output)
  --hand-to-cado-function  (or $S1CADO_HAND_TO_CADO_FUNCTION; default: stack output HandToCadoFunctionName)
  --check-cado-function    (or $S1CADO_CHECK_CADO_FUNCTION; default: stack output CheckCadoFunctionName)

Exit codes: 0 every hand-off requested (with --wait: processed by Cado), 1 any failed or still running at the
timeout, 2 usage error.`;

/** The `evidence` part of the workflow state, as the manifest records it. */
function evidenceOf(manifest: Manifest, manifestKey: string): Evidence {
  return {
    bucket: manifest.object.bucket,
    key: manifest.object.key,
    versionId: manifest.object.versionId,
    bytes: manifest.object.bytes,
    sha256: manifest.object.sha256,
    fileName: manifest.result.fileName,
    manifestKey,
    s1Signature: manifest.result.s1Signature,
    s1SignatureMatches: manifest.result.s1SignatureMatches,
    stagedAt: manifest.download.finishedAt,
  };
}

/** The Hand To Cado input of a staged collection, rebuilt from its manifest. */
export function stagedEvidenceFrom(manifest: Manifest, manifestKey: string): StagedEvidence {
  const at = (event: string) => manifest.timeline.find((e) => e.event === event)?.at;
  const completedAt = at('task-completed') ?? manifest.download.startedAt;
  const parsed = StagedEvidence.safeParse({
    investigation: manifest.investigation,
    target: { ...manifest.agent, script: manifest.script },
    task: {
      parentTaskId: manifest.s1Task.parentTaskId,
      childTaskId: manifest.s1Task.childTaskId,
      description: manifest.s1Task.description,
      status: manifest.s1Task.status,
      detailedStatus: manifest.s1Task.detailedStatus,
      statusCode: manifest.s1Task.statusCode,
      reusedExisting: manifest.s1Task.reusedExisting,
      resultSignature: manifest.result.s1Signature ?? undefined,
      phase: 'completed',
      startedAt: at('task-started') ?? completedAt,
      checkedAt: completedAt,
      // The manifest does not keep the S1 task's deadline; no step after Stage Output reads it.
      deadline: completedAt,
    },
    poll: { attempt: 0, waitSeconds: 1, deadline: completedAt },
    evidence: evidenceOf(manifest, manifestKey),
  });
  if (!parsed.success) {
    throw new InvestigationStateError(`${manifestKey} cannot be turned into a hand-off input`);
  }
  return parsed.data;
}

/** One staged collection to hand off. */
interface Candidate {
  readonly manifestKey: string;
  readonly manifest: Manifest;
  /** Its line in case.json. */
  readonly caseIndex: number | undefined;
}

/** What happened to one candidate. */
interface HandoffResult {
  readonly candidate: Candidate;
  /** `imported`: a new Cado import; `followed`: an earlier pipeline was checked (and followed); `none`: neither. */
  readonly action: 'imported' | 'followed' | 'none';
  readonly state?: HandedOff;
  readonly error?: CaughtError;
  /** `--wait` ran out of time with the pipeline still running. */
  readonly waitTimedOut: boolean;
}

function caught(error: unknown): CaughtError {
  if (error instanceof FunctionInvocationError) {
    // The shape Step Functions gives a Lambda error, so Record Outcome's wording applies unchanged.
    return {
      Error: error.errorType,
      Cause: JSON.stringify({ errorType: error.errorType, errorMessage: error.errorMessage }),
    };
  }
  const { name, message } = error as Error;
  return { Error: name || 'Error', Cause: message };
}

function isTransient(error: unknown): boolean {
  return error instanceof FunctionInvocationError && TRANSIENT_ERRORS.has(error.errorType);
}

/** Runs `work` on every item, at most `limit` at a time, keeping the order of results. */
async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Everything one run of the command shares. */
interface Run {
  readonly io: CliIo;
  readonly out: Output;
  readonly clients: AwsClients;
  readonly deployment: Deployment;
  readonly wait: boolean;
  /** Clock ms after which `--wait` stops following. */
  readonly deadline: number;
}

/** Invokes a hand-off Lambda, retrying the errors the workflow would retry. */
async function invokeStep(run: Run, which: 'handToCadoFunction' | 'checkCadoFunction', input: unknown) {
  const functionName = await run.deployment.get(which);
  for (let attempt = 0; ; attempt++) {
    try {
      return await invokeFunction(run.clients.lambda, functionName, input, HandedOff);
    } catch (error) {
      if (!isTransient(error) || attempt + 1 >= TRANSIENT_TRIES) throw error;
      await run.io.sleep(backoffMs(attempt, TRANSIENT_BACKOFF));
    }
  }
}

/** The staged object must still be there, with the size the manifest recorded. */
async function verifyObject(run: Run, manifest: Manifest): Promise<void> {
  const { bucket, key, versionId, bytes } = manifest.object;
  const where = `s3://${bucket}/${key}${versionId ? ` (version ${versionId})` : ''}`;
  let size: number | undefined;
  try {
    const head = await run.clients.s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
    );
    size = head.ContentLength;
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchVersion') {
      throw new InvestigationStateError(`The staged evidence ${where} no longer exists`);
    }
    throw error;
  }
  if (size !== bytes) {
    throw new InvestigationStateError(
      `The staged evidence ${where} is ${size ?? 'of unknown size'} bytes; the manifest records ${bytes}`,
    );
  }
}

function label(candidate: Candidate): string {
  const { agentId, computerName } = candidate.manifest.agent;
  return `${agentId} (${computerName})`;
}

/** Hands one collection off (or follows its pipeline), and with `--wait` follows the pipeline to its end. */
async function handOff(run: Run, candidate: Candidate): Promise<HandoffResult> {
  const { manifest, manifestKey } = candidate;
  let action: HandoffResult['action'] = 'none';
  let state: HandedOff | undefined;
  try {
    await verifyObject(run, manifest);
    const staged = stagedEvidenceFrom(manifest, manifestKey);
    const earlier = manifest.cado;
    if (earlier && (earlier.phase === 'running' || earlier.phase === 'deadline')) {
      // The pipeline may have finished (or still be running) since: importing again would process the evidence
      // twice. The check's deadline becomes this run's, so a pipeline still running is followed, not given up on.
      const deadline = new Date(Math.max(run.deadline, run.io.now() + 1000)).toISOString();
      try {
        state = await invokeStep(run, 'checkCadoFunction', {
          ...staged,
          cado: { ...earlier, phase: 'running', deadline },
          poll: { attempt: 0, waitSeconds: 1, deadline },
        });
        action = 'followed';
        run.out.err(
          `  ${label(candidate)}: Cado pipeline ${state.cado.pipelineId} from before is ${state.cado.phase}`,
        );
      } catch (error) {
        // Cado no longer knows the pipeline (deleted with its project, or a rebuilt platform): import anew.
        if (!(error instanceof FunctionInvocationError && error.errorType === 'CadoNotFoundError'))
          throw error;
        run.out.err(`  ${label(candidate)}: Cado no longer knows pipeline ${earlier.pipelineId}`);
      }
    }
    if (!state || state.cado.phase === 'failed' || state.cado.phase === 'cancelled') {
      state = await invokeStep(run, 'handToCadoFunction', staged);
      action = 'imported';
      run.out.err(
        `  ${label(candidate)}: Cado import requested (project ${state.cado.projectId}, pipeline ${state.cado.pipelineId})`,
      );
    }
    let waitTimedOut = false;
    let lastReason = state.cado.reason;
    while (run.wait && state.cado.phase === 'running') {
      const left = run.deadline - run.io.now();
      if (left <= 0) {
        waitTimedOut = true;
        break;
      }
      await run.io.sleep(Math.min(state.poll.waitSeconds * 1000, left));
      state = await invokeStep(run, 'checkCadoFunction', state);
      if (state.cado.reason !== lastReason || state.cado.phase !== 'running') {
        run.out.err(
          `  ${label(candidate)}: pipeline ${state.cado.pipelineId} ${state.cado.phase}` +
            `${state.cado.reason ? ` (${state.cado.reason})` : ''}`,
        );
        lastReason = state.cado.reason;
      }
    }
    return { candidate, action, state, waitTimedOut };
  } catch (error) {
    run.out.err(`  ${label(candidate)}: ${describeError(error)}`);
    return { candidate, action, ...(state ? { state } : {}), error: caught(error), waitTimedOut: false };
  }
}

function describeError(error: unknown): string {
  if (error instanceof FunctionInvocationError) return `${error.errorType}: ${error.errorMessage}`;
  const { name, message } = error as Error;
  return `${name}: ${message}`;
}

/** The branch's final state as Record Outcome would have seen it, for its `summarizeAgent`. */
function finalState(result: HandoffResult): AgentFinalState {
  const { manifest, manifestKey } = result.candidate;
  // Built from the manifest directly (not through StagedEvidence), so a manifest that could not be turned into a
  // hand-off input still gets its line.
  const cado = result.state?.cado ?? manifest.cado ?? undefined;
  return {
    investigation: manifest.investigation,
    target: { ...manifest.agent, script: manifest.script },
    task: {
      parentTaskId: manifest.s1Task.parentTaskId,
      childTaskId: manifest.s1Task.childTaskId,
      status: manifest.s1Task.status,
      detailedStatus: manifest.s1Task.detailedStatus,
      phase: 'completed',
    },
    evidence: evidenceOf(manifest, manifestKey),
    ...(cado ? { cado } : {}),
    ...(result.error ? { handoffError: result.error } : {}),
  };
}

/** The manifest's next version: Cado ids, hand-off status and the timeline of this run. */
function nextManifest(
  result: HandoffResult,
  outcome: AgentOutcome,
  startedAt: string,
  by: string,
  at: string,
) {
  const { manifest } = result.candidate;
  const cado = result.state?.cado ?? manifest.cado;
  const status =
    outcome.outcome === 'complete' ? 'complete' : cado?.phase === 'running' ? 'pending' : 'failed';
  const timeline = [
    ...manifest.timeline,
    { event: 'handoff-rerun', at: startedAt, detail: `s1cado handoff by ${by}` },
  ];
  if (result.action === 'imported' && result.state) {
    const c = result.state.cado;
    timeline.push({
      event: 'cado-import-requested',
      at: c.startedAt,
      detail: `Cado project ${c.projectId} (${c.projectName}), pipeline ${c.pipelineId}`,
    });
  }
  if (status === 'complete') timeline.push({ event: 'cado-complete', at: cado?.checkedAt ?? at });
  if (status === 'failed') timeline.push({ event: 'handoff-failed', at, detail: outcome.reason });
  const updated: Manifest = {
    ...manifest,
    cado: cado ?? null,
    handoff: {
      status,
      ...(status === 'complete' ? {} : { reason: outcome.reason }),
      rerunCommand: manifest.handoff.rerunCommand,
    },
    timeline,
    writtenAt: at,
    writtenBy: 's1cado handoff',
  };
  return updated;
}

/** Finds the collections to hand off: case.json's staged_handoff_failed agents and manifests not complete. */
async function findCandidates(
  run: Run,
  bucket: string,
  investigationId: string,
  record: CaseRecord,
): Promise<{ candidates: Candidate[]; problems: string[] }> {
  const problems: string[] = [];
  const indexByKey = new Map<string, number>();
  record.agents.forEach((agent, index) => {
    if (agent.evidence) indexByKey.set(agent.evidence.manifestKey, index);
  });
  const keys = new Set<string>();
  for (const agent of record.agents) {
    if (agent.outcome === 'staged_handoff_failed' && agent.evidence) keys.add(agent.evidence.manifestKey);
  }
  const listed = (await bucketProgress(run.clients.s3, bucket, investigationId)).manifestKeys;
  for (const key of listed) keys.add(key);

  const candidates: Candidate[] = [];
  for (const manifestKey of [...keys].sort()) {
    let manifest: Manifest | undefined;
    try {
      manifest = await getJson(run.clients.s3, bucket, manifestKey, Manifest);
    } catch (error) {
      problems.push(`${manifestKey}: ${describeError(error)}`);
      continue;
    }
    if (!manifest) {
      problems.push(`${manifestKey}: case.json names this manifest but it does not exist`);
      continue;
    }
    // A staged collection whose line in case.json has no evidence (its branch failed after staging) is matched by
    // agent id: its evidence is safe and worth handing off too.
    const byAgent = record.agents.findIndex((a) => a.agentId === manifest.agent.agentId && !a.evidence);
    const caseIndex = indexByKey.get(manifestKey) ?? (byAgent >= 0 ? byAgent : undefined);
    const line = caseIndex === undefined ? undefined : record.agents[caseIndex];
    if (line?.outcome === 'complete') {
      if (manifest.handoff.status !== 'complete') {
        run.out.err(`  ${manifestKey}: case.json says complete; the manifest was not finalized (left as is)`);
      }
      continue;
    }
    if (manifest.handoff.status === 'complete' && line?.outcome !== 'staged_handoff_failed') continue;
    candidates.push({ manifestKey, manifest, caseIndex });
  }
  return { candidates, problems };
}

/** Runs `s1cado handoff`; returns the exit code. */
export async function handoffCommand(args: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io);
  const { flags, positionals } = parseCommand(
    'handoff',
    args,
    {
      ...COMMON_OPTIONS,
      ...deploymentOptions('bucket', 'handToCadoFunction', 'checkCadoFunction'),
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      'requested-by': { type: 'string' },
    },
    { min: 1, max: 1, names: 'the investigation id' },
  );
  if (flags.help) {
    out.out(HANDOFF_HELP);
    return EXIT_OK;
  }
  const investigationId = investigationIdArg(positionals[0], 'handoff');
  const wait = flags.wait === true;
  const timeout = stringFlag(flags, 'timeout');
  if (timeout !== undefined && !wait) throw new UsageError('--timeout only applies with --wait', 'handoff');
  const timeoutMs = timeout ? parseDuration(timeout, '--timeout', 'handoff') : DEFAULT_HANDOFF_TIMEOUT_MS;
  const by = stringFlag(flags, 'requested-by') ?? defaultRequester(io);
  const json = flags.json === true;

  const clients = createAwsClients(io.env, stringFlag(flags, 'region'));
  try {
    const deployment = new Deployment({ stackName: stringFlag(flags, 'stack'), flags, env: io.env, clients });
    const bucket = await deployment.get('bucket');
    const startedMs = io.now();
    const run: Run = { io, out, clients, deployment, wait, deadline: startedMs + timeoutMs };

    const record = await readCase(clients.s3, bucket, investigationId);
    if (!record) {
      throw new InvestigationStateError(
        `No case.json for ${investigationId} in s3://${bucket}: the investigation has not finished (its own ` +
          `hand-off may still be running; see npx s1cado status ${investigationId}), or the id is wrong`,
      );
    }
    const { candidates, problems } = await findCandidates(run, bucket, investigationId, record);
    for (const problem of problems) out.err(`  ${problem}`);
    if (candidates.length === 0) {
      if (json) out.json({ investigationId, agents: [], problems, case: record });
      else if (problems.length === 0) {
        out.out(`Nothing to hand off: all staged evidence of ${investigationId} was processed by Cado.`);
      }
      return problems.length === 0 ? EXIT_OK : EXIT_FAILURE;
    }
    // Resolved up front, so a missing output fails before any import is requested.
    await deployment.get('handToCadoFunction');
    if (
      wait ||
      candidates.some((c) => c.manifest.cado?.phase === 'running' || c.manifest.cado?.phase === 'deadline')
    ) {
      await deployment.get('checkCadoFunction');
    }

    out.err(
      `Handing off ${candidates.length} collection(s) of ${investigationId}` +
        `${wait ? ` and following Cado (at most ${humanDuration(timeoutMs)})` : ''}...`,
    );
    const results = await inPool(candidates, CONCURRENCY, (candidate) => handOff(run, candidate));

    // New versions of the manifests, then of case.json.
    const startedAt = new Date(startedMs).toISOString();
    const at = new Date(io.now()).toISOString();
    const agents = [...record.agents];
    const report: { agentId: string; manifestKey: string; action: string; outcome: AgentOutcome }[] = [];
    for (const result of results) {
      const outcome: AgentOutcome = summarizeAgent(finalState(result));
      await putJson(
        clients.s3,
        bucket,
        result.candidate.manifestKey,
        nextManifest(result, outcome, startedAt, by, at),
      );
      if (result.candidate.caseIndex === undefined) agents.push(outcome);
      else agents[result.candidate.caseIndex] = outcome;
      report.push({
        agentId: outcome.agentId,
        manifestKey: result.candidate.manifestKey,
        action: result.action,
        outcome,
      });
    }
    const counted = caseVerdict(agents, record.error);
    const updated: CaseRecord = {
      ...record,
      ...counted,
      agents,
      handoffReruns: [
        ...(record.handoffReruns ?? []),
        {
          at: startedAt,
          by,
          agents: report.map((r) => ({
            agentId: r.agentId,
            outcome: r.outcome.outcome,
            reason: r.outcome.reason,
          })),
        },
      ],
    };
    if (counted.counts.staged_handoff_failed > 0)
      updated.handoffRerunCommand = rerunCommandFor(investigationId);
    else delete updated.handoffRerunCommand;
    await putJson(clients.s3, bucket, caseKey(investigationId), updated);

    const stillRunning = results.filter((r) => r.state?.cado.phase === 'running' && !r.error);
    if (results.some((r) => r.waitTimedOut)) {
      out.err(`Stopped following Cado after ${humanDuration(timeoutMs)}; the pipelines go on.`);
    }
    const succeeded = results.every((r) =>
      r.error ? false : r.state?.cado.phase === 'complete' || (!wait && r.state?.cado.phase === 'running'),
    );
    if (json) {
      out.json({ investigationId, agents: report, problems, case: updated });
    } else {
      out.out(`Hand-off of ${investigationId}`);
      for (const r of report) {
        const cado = r.outcome.cado;
        const line =
          cado?.phase === 'running' && r.outcome.outcome !== 'complete'
            ? `handed to Cado, pipeline ${cado.pipelineId} running (case.json keeps ${r.outcome.outcome} until it finishes)`
            : `${r.outcome.outcome}${cado ? ` (Cado pipeline ${cado.pipelineId} ${cado.phase})` : ''} — ${r.outcome.reason}`;
        out.out(`  ${r.agentId}: ${line}`);
      }
      out.out(`  Case        ${updated.status}: ${updated.summary}`);
      if (stillRunning.length > 0) {
        out.out(
          `  Next        follow the running pipeline(s) with: npx s1cado handoff ${investigationId} --wait`,
        );
      }
    }
    return succeeded && problems.length === 0 ? EXIT_OK : EXIT_FAILURE;
  } finally {
    clients.destroy();
  }
}
