/**
 * The demo's command line. Tokens never come from argv (shell history, `ps`, CI logs): they come from
 * `S1_API_TOKEN` / `CADO_API_KEY`, and an argument that looks like one is refused without being echoed.
 */
import { parseArgs } from 'node:util';
import {
  PROFILE_CONTENTS,
  PROFILE_NAMES,
  type ProfileName,
  validateCustomPaths,
} from '../../lambdas/collectors/profiles';
import {
  COLLECTION_MODES,
  type CollectionMode,
  DEFAULT_COLLECTION_MODE,
  LIMITS,
} from '../../lambdas/shared/contract';
import { UsageError } from './errors';
import { SCENARIO_NAMES, SCENARIOS, type Scenario, scenarioList } from './scenarios';

/** Everything a run needs, validated. */
export interface DemoOptions {
  /** Simulated agents (alternating Windows/Linux). */
  readonly agents: number;
  /** Result size per agent, in bytes. */
  readonly resultBytes: number;
  readonly scenario: Scenario;
  /** Simulated seconds per real second. */
  readonly timeScale: number;
  /** External S1-compatible console, with its token (from the environment). */
  readonly externalS1?: { readonly url: string; readonly token: string };
  /** External Cado-compatible platform, with its key (from the environment). */
  readonly externalCado?: { readonly url: string; readonly key: string };
  /** Agent ids on the external S1. */
  readonly agentIds: readonly string[];
  /** Threat id on the external S1 (names the investigation). */
  readonly threatId?: string;
  /** Extra allowed hosts for result downloads (external S1). */
  readonly downloadHosts: readonly string[];
  /** Machine-readable summary on stdout (progress goes to stderr). */
  readonly json: boolean;
  /** Keep the local S3 directory. */
  readonly keep: boolean;
  /** Colours in the progress output. */
  readonly color: boolean;
  /** Collection profile. */
  readonly profile: ProfileName;
  /** The custom profile's paths (empty for the others). */
  readonly customPaths: readonly string[];
  /** `--mode`: how evidence is collected (cado-xdr: Cado collects through its SentinelOne integration). */
  readonly mode: CollectionMode;
}

/** Paths the demo collects with `--profile custom` when no `--path` is given (Linux: the demo picks Linux agents). */
export const DEMO_CUSTOM_PATHS = ['/etc/passwd', '/var/log/auth.log*'] as const;

/** What the command line asks for. */
export type DemoCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'list-scenarios' }
  | { readonly kind: 'run'; readonly options: DemoOptions };

/** Default result size per agent. */
export const DEFAULT_SIZE_MIB = 8;
/** Default time dilation. */
export const DEFAULT_TIME_SCALE = 60;
/** The simulator's generated results must stay under 4 GiB (zip32). */
const MAX_SIZE_MIB = 4000;
/** The workflow input's limit. */
const MAX_AGENTS = LIMITS.maxAgents;

/** `--help`. */
export function usage(): string {
  return `Usage: npm run demo -- [options]

Runs one whole investigation on this machine: the synthesized Step Functions workflow with every Lambda handler
in-process, against the S1 and Cado simulators, s3rver and a local AWS fake. A simulated threat on a Windows and a
Linux agent starts it through StartExecution, as in production.

Options
  --agents N           agents to collect from, alternating Windows/Linux (default 2, at most ${MAX_AGENTS})
  --size MiB           result size per agent (default ${DEFAULT_SIZE_MIB})
  --scenario NAME      a fault scenario (default happy); --scenario list shows them all
  --profile NAME       what the collector gathers (default triage):
${PROFILE_NAMES.map((name) => `                         ${name.padEnd(7)} ${PROFILE_CONTENTS[name].summary}`).join('\n')}
  --path P             custom: an absolute path or glob (repeatable; default ${DEMO_CUSTOM_PATHS.join(' ')}); the
                       demo collects from the agents of the OS the paths belong to
  --mode MODE          s1-remoteops (default): our collector through S1 RemoteOps, staged in S3; cado-xdr: Cado
                       collects itself through its SentinelOne integration (POST /api/v3/import/xdr)
  --time-scale X       simulated seconds per real second (default ${DEFAULT_TIME_SCALE}; 1 with an external endpoint)
  --keep               keep the local S3 directory (the evidence on disk) and print its path
  --json               print a machine-readable summary on stdout (progress goes to stderr)
  --no-color           plain output
  --help               this text

External endpoints (the same workflow against S1-/Cado-compatible servers)
  --s1-url URL         an S1 console; token from S1_API_TOKEN
  --agent ID           an agent id on that console (repeat for more; required with --s1-url)
  --threat ID          the threat that names the investigation (optional; else manual-<time>-<id>)
  --download-host H    also allow result downloads from host H (repeatable; S1's results bucket and loopback are allowed)
  --cado-url URL       a Cado platform; key from CADO_API_KEY
  Tokens are read from the environment only: never pass them as arguments.

Exit code: 0 when the investigation succeeded and every staged file verified, 1 otherwise, 2 for usage errors.`;
}

/** `--scenario list`. */
export function scenarioHelp(): string {
  return `Scenarios (--scenario NAME):\n${scenarioList()}`;
}

// Option names that would carry a credential: refused whatever their spelling.
const CREDENTIAL_OPTION = /(token|api-?key|secret|password|passwd|credential|auth)/i;

function refuseCredentialsOnArgv(argv: readonly string[], env: Readonly<Record<string, string | undefined>>) {
  const secrets = [env.S1_API_TOKEN, env.CADO_API_KEY].filter((s): s is string => !!s && s.length >= 4);
  argv.forEach((arg, index) => {
    if (arg.startsWith('-')) {
      const name = arg.replace(/^-+/, '').split('=')[0] ?? '';
      if (CREDENTIAL_OPTION.test(name)) {
        throw new UsageError(
          `Refusing --${name}: tokens must not be passed on the command line (they end up in shell history, ps and logs). Set S1_API_TOKEN and CADO_API_KEY in the environment instead.`,
        );
      }
    }
    if (secrets.some((secret) => arg.includes(secret))) {
      throw new UsageError(
        `Argument #${index + 1} contains the value of S1_API_TOKEN or CADO_API_KEY; tokens are read from the environment only.`,
      );
    }
  });
}

function positiveNumber(raw: string, option: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`--${option} must be a positive number, got "${raw}"`);
  }
  return value;
}

function integerIn(raw: string, option: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
    throw new UsageError(`--${option} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** Checks an endpoint URL without ever echoing it (it might hold credentials). */
function endpointUrl(raw: string, option: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--${option} is not a valid URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--${option} must be an http(s) URL`);
  }
  if (url.username || url.password) {
    throw new UsageError(`--${option} must not carry credentials; use the environment variable`);
  }
  if ([...url.searchParams.keys()].some((key) => CREDENTIAL_OPTION.test(key))) {
    throw new UsageError(`--${option} must not carry a token in its query; use the environment variable`);
  }
  return raw.replace(/\/+$/, '');
}

function requiredSecret(
  env: Readonly<Record<string, string | undefined>>,
  name: 'S1_API_TOKEN' | 'CADO_API_KEY',
  option: string,
): string {
  const value = env[name]?.trim();
  if (!value) throw new UsageError(`--${option} needs ${name} set in the environment`);
  return value;
}

/**
 * Parses and validates the command line.
 *
 * @throws UsageError naming the problem (never echoing a credential)
 */
export function parseDemoArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): DemoCommand {
  refuseCredentialsOnArgv(argv, env);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError('Unexpected argument: the demo takes options only (see --help)');
    }
    throw new UsageError(`${(error as Error).message} (see --help)`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 0)
    throw new UsageError('Unexpected argument: the demo takes options only (see --help)');
  if (values.help) return { kind: 'help' };
  if (values.scenario === 'list') return { kind: 'list-scenarios' };

  const scenarioName = values.scenario ?? 'happy';
  const scenario = SCENARIOS.get(scenarioName);
  if (!scenario) {
    throw new UsageError(
      `Unknown scenario "${scenarioName}". Scenarios: ${SCENARIO_NAMES.join(', ')} (--scenario list describes them)`,
    );
  }

  const externalS1 =
    values['s1-url'] !== undefined
      ? {
          url: endpointUrl(values['s1-url'], 's1-url'),
          token: requiredSecret(env, 'S1_API_TOKEN', 's1-url'),
        }
      : undefined;
  const externalCado =
    values['cado-url'] !== undefined
      ? {
          url: endpointUrl(values['cado-url'], 'cado-url'),
          key: requiredSecret(env, 'CADO_API_KEY', 'cado-url'),
        }
      : undefined;

  const agentIds = values.agent ?? [];
  for (const id of agentIds) {
    if (!/^\d{1,20}$/.test(id)) throw new UsageError(`--agent must be an S1 agent id (digits), got "${id}"`);
  }
  if (new Set(agentIds).size !== agentIds.length) throw new UsageError('--agent ids must not repeat');
  if (values.threat !== undefined && !/^\d{1,20}$/.test(values.threat)) {
    throw new UsageError(`--threat must be an S1 threat id (digits), got "${values.threat}"`);
  }
  if (externalS1) {
    if (agentIds.length === 0) throw new UsageError('--s1-url needs at least one --agent <id>');
    if (agentIds.length > MAX_AGENTS) throw new UsageError(`at most ${MAX_AGENTS} --agent ids`);
    if (values.agents !== undefined)
      throw new UsageError('--agents applies to the simulator; use --agent <id>');
    if (values.size !== undefined) throw new UsageError('--size applies to the simulator only');
  } else {
    if (agentIds.length > 0) throw new UsageError('--agent picks agents on an external S1 (--s1-url)');
    if (values.threat !== undefined) throw new UsageError('--threat applies with --s1-url only');
    if (values['download-host'] !== undefined)
      throw new UsageError('--download-host applies with --s1-url only');
  }
  if (scenario.needs === 's1' && externalS1) {
    throw new UsageError(`Scenario "${scenario.name}" needs the S1 simulator; drop --s1-url`);
  }
  if (scenario.needs === 'cado' && externalCado) {
    throw new UsageError(`Scenario "${scenario.name}" needs the Cado simulator; drop --cado-url`);
  }
  const downloadHosts = values['download-host'] ?? [];
  for (const host of downloadHosts) {
    if (!/^(\*\.)?[A-Za-z0-9.-]+$/.test(host)) {
      throw new UsageError(`--download-host must be a host name or *.domain, got "${host}"`);
    }
  }

  const profile = (values.profile ?? 'triage') as ProfileName;
  if (!(PROFILE_NAMES as readonly string[]).includes(profile)) {
    throw new UsageError(`Unknown profile "${values.profile}". Profiles: ${PROFILE_NAMES.join(', ')}`);
  }
  const paths = values.path ?? [];
  if (paths.length > 0 && profile !== 'custom')
    throw new UsageError('--path applies with --profile custom only');
  const customPaths = profile === 'custom' ? (paths.length > 0 ? paths : [...DEMO_CUSTOM_PATHS]) : [];
  if (profile === 'custom') {
    try {
      validateCustomPaths(customPaths);
    } catch (error) {
      throw new UsageError(`--path: ${(error as Error).message}`);
    }
    const windows = customPaths.filter((p) => /^[A-Za-z]:\\/.test(p)).length;
    if (windows !== 0 && windows !== customPaths.length) {
      throw new UsageError('--path: give Linux paths or Windows paths, not both (each agent runs one OS)');
    }
  }

  const mode = (values.mode ?? DEFAULT_COLLECTION_MODE) as CollectionMode;
  if (!COLLECTION_MODES.includes(mode)) {
    throw new UsageError(`--mode must be one of ${COLLECTION_MODES.join(', ')}, got "${values.mode}"`);
  }
  if (mode === 'cado-xdr' && externalCado && !externalS1) {
    // The external platform's SentinelOne account cannot reach the local S1 simulator.
    throw new UsageError(
      '--mode cado-xdr with --cado-url needs --s1-url: that Cado collects from a real console',
    );
  }
  const sizeMiB = values.size === undefined ? DEFAULT_SIZE_MIB : positiveNumber(values.size, 'size');
  if (sizeMiB > MAX_SIZE_MIB) throw new UsageError(`--size must be at most ${MAX_SIZE_MIB} MiB`);

  return {
    kind: 'run',
    options: {
      agents: values.agents === undefined ? 2 : integerIn(values.agents, 'agents', 1, MAX_AGENTS),
      resultBytes: Math.max(1, Math.round(sizeMiB * 1024 * 1024)),
      scenario,
      // Real endpoints run in real time: a dilated clock would poll them many times faster than designed.
      timeScale:
        values['time-scale'] !== undefined
          ? positiveNumber(values['time-scale'], 'time-scale')
          : externalS1 || externalCado
            ? 1
            : DEFAULT_TIME_SCALE,
      ...(externalS1 ? { externalS1 } : {}),
      ...(externalCado ? { externalCado } : {}),
      agentIds,
      ...(values.threat !== undefined ? { threatId: values.threat } : {}),
      downloadHosts,
      json: values.json ?? false,
      keep: values.keep ?? false,
      color: !(values['no-color'] ?? false) && !env.NO_COLOR,
      profile,
      customPaths,
      mode,
    },
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      agents: { type: 'string' },
      size: { type: 'string' },
      scenario: { type: 'string' },
      profile: { type: 'string' },
      path: { type: 'string', multiple: true },
      mode: { type: 'string' },
      'time-scale': { type: 'string' },
      's1-url': { type: 'string' },
      'cado-url': { type: 'string' },
      agent: { type: 'string', multiple: true },
      threat: { type: 'string' },
      'download-host': { type: 'string', multiple: true },
      json: { type: 'boolean' },
      keep: { type: 'boolean' },
      'no-color': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
