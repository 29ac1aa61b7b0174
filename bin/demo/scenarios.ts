/**
 * The demo's scenarios: each sets up the simulators (agent behaviour, faults) before the investigation starts,
 * and says what the investigation should end as. The workflow itself is never told about the scenario: whatever
 * happens, happens to the real state machine and handlers through the simulators, as it would in production.
 */
import type { S1CadoConfigInput } from '../../lib/config';
import type { CadoSimulator } from '../../local/cado-simulator';
import type { Agent, S1Simulator } from '../../local/s1-simulator';

/** How an investigation ends (`case.json` status). */
export type CaseStatus = 'complete' | 'partial' | 'staged_handoff_failed' | 'failed';

/** What a scenario may touch. */
export interface ScenarioContext {
  /** The S1 simulator (undefined with `--s1-url`). */
  readonly s1: S1Simulator | undefined;
  /** The Cado simulator (undefined with `--cado-url`). */
  readonly cado: CadoSimulator | undefined;
  /** The simulated agents of the investigation, in input order (empty with `--s1-url`). */
  readonly agents: readonly Agent[];
  /** Size of each agent's result file, in bytes (the zip is slightly larger). */
  readonly resultBytes: number;
}

/** One scenario. */
export interface Scenario {
  readonly name: string;
  /** One line for `--scenario list`. */
  readonly summary: string;
  /** What the run should show, printed before it starts. */
  readonly story: string;
  /** The `case.json` status the scenario should end with. */
  readonly expected: CaseStatus;
  /** Which simulator the scenario needs (so it cannot run against that external endpoint). */
  readonly needs?: 's1' | 'cado';
  /** Configuration overrides (e.g. a short script runtime so a deadline passes in seconds). */
  readonly config?: Partial<S1CadoConfigInput>;
  /** Sets up the simulators; runs after the agents and threats exist, before StartExecution. */
  arrange?(context: ScenarioContext): void | Promise<void>;
  /**
   * Re-runs the hand-off after the investigation, the way an operator would: `recover` changes the simulators (e.g.
   * Cado is back), then `npx s1cado handoff <investigationId>` starts the HandOffRerun state machine and follows it.
   * `expected` is then the case status after the re-run.
   */
  readonly handoffRerun?: { recover(context: ScenarioContext): void | Promise<void> };
}

function s1Of(context: ScenarioContext): S1Simulator {
  if (!context.s1) throw new Error('This scenario needs the S1 simulator');
  return context.s1;
}

function cadoOf(context: ScenarioContext): CadoSimulator {
  if (!context.cado) throw new Error('This scenario needs the Cado simulator');
  return context.cado;
}

/** Zip overhead of a one-entry result (headers, central directory): small, so faults aim safely inside the body. */
const approximateZipSize = (context: ScenarioContext) => context.resultBytes + 256;

const SCENARIO_LIST: readonly Scenario[] = [
  {
    name: 'happy',
    summary: 'every agent collects; evidence staged, verified and processed by Cado',
    story: 'Every agent runs the collector, the results are staged in S3 and Cado processes them.',
    expected: 'complete',
  },
  {
    name: 'offline-agent',
    summary: 'the first agent is offline: its task expires, the others still complete (partial)',
    story:
      'The first agent went offline after the detection: its task waits for it and expires; the other agents are collected anyway.',
    expected: 'partial',
    needs: 's1',
    arrange(context) {
      const s1 = s1Of(context);
      const first = context.agents[0];
      if (!first) return;
      // Simulator records are mutable on purpose: this is how an agent drops off the network.
      first.isActive = false;
      first.networkStatus = 'disconnected';
      s1.setAgentBehavior(first.id, { profile: 'expire' });
      // Undelivered tasks expire after 5 simulated minutes, well before the workflow's own deadline.
      s1.config.taskTiming.expiryMs = 5 * 60_000;
    },
  },
  {
    name: 'task-failed',
    summary: 'the collection script fails on every agent; nothing is staged (failed)',
    story: 'The collection script fails on every endpoint; S1 reports the tasks as failed.',
    expected: 'failed',
    needs: 's1',
    arrange(context) {
      for (const agent of context.agents) s1Of(context).setAgentBehavior(agent.id, { profile: 'fail' });
    },
  },
  {
    name: 'completed-with-failure',
    summary:
      'S1 says "completed" with a failure detailedStatus but has the result file: staged and handed off (partial)',
    story:
      'S1 reports every task as completed, but its detailedStatus says the execution terminated in failure; the collector still left its output. The evidence is staged and handed to Cado, and each agent ends partial with the reason.',
    expected: 'partial',
    needs: 's1',
    arrange(context) {
      for (const agent of context.agents) {
        s1Of(context).setAgentBehavior(agent.id, { profile: 'completedWithFailureAndResult' });
      }
    },
  },
  {
    name: 'completed-with-failure-no-file',
    summary: 'S1 says "completed" with a failure detailedStatus and no file; treated as failed',
    story:
      'S1 reports every task as completed, but its detailedStatus says the execution terminated in failure and there is no result file.',
    expected: 'failed',
    needs: 's1',
    arrange(context) {
      for (const agent of context.agents) {
        s1Of(context).setAgentBehavior(agent.id, { profile: 'completedWithFailure' });
      }
    },
  },
  {
    name: 'deadline',
    summary: 'the script hangs past its deadline (runtime 60 s + grace 60 s): cancelled, timed out',
    story:
      'The collector hangs on every endpoint. Once the deadline (script runtime 60 s + grace 60 s) passes, the workflow cancels the S1 task (best effort) and records a timeout.',
    expected: 'failed',
    needs: 's1',
    config: { scriptRuntimeTimeoutSeconds: 60, taskGraceSeconds: 60 },
    arrange(context) {
      for (const agent of context.agents) s1Of(context).setAgentBehavior(agent.id, { profile: 'hang' });
    },
  },
  {
    name: 'download-reset',
    summary:
      'the first N storage GETs (N = agents) are reset at 40 %; resumed with Range, hash still verified',
    story:
      "The storage host resets the first N download requests (N = the number of agents) at about 40 %, whichever agent makes them: a resumed request counts too, so one agent may be reset twice and another not at all. Stage Output resumes with a Range request and the staged bytes still hash to S1's result.",
    expected: 'complete',
    needs: 's1',
    arrange(context) {
      s1Of(context).faults.add({
        match: { host: 'storage', method: 'GET' },
        times: context.agents.length,
        action: { type: 'reset', afterBytes: Math.floor(approximateZipSize(context) * 0.4) },
      });
    },
  },
  {
    name: 'truncated-download',
    summary: 'every download ends short of its Content-Length; detected, never staged (failed)',
    story:
      'The storage host ends every response after about 10 % of the file although it announced the full length. Stage Output resumes, runs out of resumes, is retried, and finally records the failure: a short file is never reported as evidence.',
    expected: 'failed',
    needs: 's1',
    arrange(context) {
      s1Of(context).faults.add({
        match: { host: 'storage', method: 'GET' },
        action: { type: 'truncate', afterBytes: Math.max(1, Math.floor(approximateZipSize(context) * 0.1)) },
      });
    },
  },
  {
    name: 'expired-link',
    summary: 'the first N storage GETs (N = agents) are refused (403); a fresh link is fetched',
    story:
      'The storage host refuses the first N download requests (N = the number of agents) with 403, as it does for an expired presigned link, whichever agent makes them: a retried request counts too, so one agent may be refused twice. Stage Output asks S1 for a fresh link and carries on.',
    expected: 'complete',
    needs: 's1',
    arrange(context) {
      // A status fault rather than `faults.expireLinks`: it refuses exactly N requests, deterministically.
      s1Of(context).faults.respond(403, {
        match: { host: 'storage', method: 'GET' },
        times: context.agents.length,
      });
    },
  },
  {
    name: 'cado-down',
    summary: 'Cado answers 503 to everything: evidence kept in S3, hand-off failed (re-run command)',
    story:
      'The Cado platform is down (503 to every request). The evidence is already safe in S3; the investigation ends as "staged, hand-off failed" with the command that re-runs the hand-off.',
    expected: 'staged_handoff_failed',
    needs: 'cado',
    async arrange(context) {
      await cadoOf(context).faults.down('unavailable');
    },
  },
  {
    name: 'cado-down-rerun',
    summary:
      'Cado is down during the investigation, then back: s1cado handoff re-runs the hand-off (HandOffRerun)',
    story:
      'The Cado platform is down while the investigation runs, so it ends "staged, hand-off failed". Then Cado is back and the operator runs npx s1cado handoff <id>: the HandOffRerun state machine finds the staged evidence from its manifests, hands it to Cado, waits for the pipelines, and Record Outcome updates the manifests and case.json.',
    expected: 'complete',
    needs: 'cado',
    async arrange(context) {
      await cadoOf(context).faults.down('unavailable');
    },
    handoffRerun: {
      async recover(context) {
        await cadoOf(context).faults.up();
      },
    },
  },
  {
    name: 'cado-pipeline-failed',
    summary: "Cado's acquisition pipeline fails; the reason is recorded, evidence kept",
    story:
      "Cado accepts the import but its acquisition pipeline fails; the failure reason from Cado's progress text ends up in case.json and the manifest.",
    expected: 'staged_handoff_failed',
    needs: 'cado',
    arrange(context) {
      cadoOf(context).behaviour.acquisitionOutcome = {
        kind: 'failed',
        progressText: 'Unable to extract the archive: unsupported compression method',
      };
    },
  },
  {
    name: 'rate-limit-storm',
    summary: 'S1 answers 429 to a burst of status polls; retried with backoff, still complete',
    story:
      'S1 answers a burst of task-status polls with 429 Too Many Requests; the client and the state machine back off and retry, and the investigation completes.',
    expected: 'complete',
    needs: 's1',
    arrange(context) {
      s1Of(context).faults.respond(429, {
        match: { path: '/remote-scripts/status' },
        times: 6 * Math.max(1, context.agents.length),
        retryAfter: 5,
      });
    },
  },
];

/** Every scenario, by name. */
export const SCENARIOS: ReadonlyMap<string, Scenario> = new Map(SCENARIO_LIST.map((s) => [s.name, s]));

/** The scenario names, in display order. */
export const SCENARIO_NAMES: readonly string[] = SCENARIO_LIST.map((s) => s.name);

/** `--scenario list`: one line per scenario. */
export function scenarioList(): string {
  const width = Math.max(...SCENARIO_NAMES.map((name) => name.length));
  return SCENARIO_LIST.map(
    (s) =>
      `  ${s.name.padEnd(width)}  ${s.summary} [expect: ${s.expected}${s.needs ? `; needs the ${s.needs === 's1' ? 'S1' : 'Cado'} simulator` : ''}]`,
  ).join('\n');
}
