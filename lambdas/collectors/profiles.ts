/**
 * Collection profiles: what a collector run gathers, with which budget. One script per OS carries all four; the
 * catalogue ({@link loadCollectors} in `./index`) bakes the profile into each uploaded copy, so every profile is its
 * own script version in the S1 library (`s1cado-<profile>-<os> <version> (sha256:…)`).
 *
 * - `triage` (default): the quick first-response collection of every alert.
 * - `full`: triage plus browser histories, execution artefacts (prefetch / amcache / shimcache on Windows; package
 *   and account databases, audit and web-server logs on Linux), full event logs and older logs.
 * - `memory`: a memory image taken by an acquisition tool the operator supplies (AVML, WinPmem …) as the script's S1
 *   package; the collector verifies its SHA-256 against the configured one before running it.
 * - `custom`: a bounded list of absolute paths and globs, validated here and again on the endpoint.
 *
 * The argument interface every collector accepts (one string, RemoteOps style, no value contains whitespace) is
 * {@link collectorArguments}; {@link PROFILE_CONTENTS} says, per profile and OS, what is collected (the Cado XDR
 * mapping reads it).
 */
import * as z from 'zod';
import {
  COLLECTION_PROFILES,
  CUSTOM_PATHS_LIMITS,
  PROFILE_DEFAULT_RUNTIME_SECONDS,
} from '../shared/contract';
import { ConfigError, InputValidationError } from '../shared/errors';

export { CUSTOM_PATHS_LIMITS };

/** The profile names, in the order the CLI and the demo list them. */
export const PROFILE_NAMES = COLLECTION_PROFILES;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** The profile used when nothing chooses one. */
export const DEFAULT_PROFILE: ProfileName = 'triage';

/** A profile name, validated with a message listing the four. */
export const ProfileNameSchema = z.enum(PROFILE_NAMES, {
  error: `must be one of ${PROFILE_NAMES.join(', ')}`,
});

/** The time and size budget of one profile's run. */
export interface ProfileBudget {
  /** S1 `scriptRuntimeTimeoutSeconds`; the collector's own budget is half of it. */
  readonly runtimeTimeoutSeconds: number;
  /** Size budget of the collected data, in MiB. */
  readonly maxMb: number;
  /** Look-back window for logs and recent files, in days. */
  readonly days: number;
  /** Free space (MiB) the collector leaves on the output volume, whatever its size budget says. */
  readonly minFreeMb: number;
}

/** Default budgets per profile (`triage` takes its runtime from `scriptRuntimeTimeoutSeconds`). */
export const DEFAULT_BUDGETS: Readonly<Record<ProfileName, ProfileBudget>> = {
  triage: {
    runtimeTimeoutSeconds: PROFILE_DEFAULT_RUNTIME_SECONDS.triage,
    maxMb: 512,
    days: 7,
    minFreeMb: 1024,
  },
  full: {
    runtimeTimeoutSeconds: PROFILE_DEFAULT_RUNTIME_SECONDS.full,
    maxMb: 4096,
    days: 30,
    minFreeMb: 2048,
  },
  memory: {
    runtimeTimeoutSeconds: PROFILE_DEFAULT_RUNTIME_SECONDS.memory,
    maxMb: 65_536,
    days: 1,
    minFreeMb: 2048,
  },
  custom: {
    runtimeTimeoutSeconds: PROFILE_DEFAULT_RUNTIME_SECONDS.custom,
    maxMb: 1024,
    days: 7,
    minFreeMb: 1024,
  },
};

/** What one profile collects on one OS: the sections the collector runs and a short description of each. */
export interface ProfileContents {
  /** One line for `--help`, the demo and the README. */
  readonly summary: string;
  /** Collector sections (`--sections` names of the script). */
  readonly sections: Readonly<Record<'linux' | 'windows', readonly string[]>>;
  /** Artefact kinds, for mapping to other collection formats (e.g. Cado's collection_type). */
  readonly artefacts: readonly string[];
}

const TRIAGE_LINUX = [
  'system',
  'processes',
  'network',
  'users',
  'persistence',
  'histories',
  'logs',
  'recent-files',
];
const TRIAGE_WINDOWS = [
  'system',
  'processes',
  'network',
  'users',
  'persistence',
  'eventlogs',
  'histories',
  'recent-files',
];
const TRIAGE_ARTEFACTS = [
  'system-info',
  'processes',
  'network',
  'accounts',
  'persistence',
  'shell-histories',
  'logs',
  'recent-files',
];

/** Per profile and OS, what the collector gathers. */
export const PROFILE_CONTENTS: Readonly<Record<ProfileName, ProfileContents>> = {
  triage: {
    summary:
      'quick first response: processes, network, accounts, persistence, recent logs and files (default)',
    sections: { linux: TRIAGE_LINUX, windows: TRIAGE_WINDOWS },
    artefacts: TRIAGE_ARTEFACTS,
  },
  full: {
    summary: 'triage + browser history, execution traces, all logs, web server logs, package/account DBs',
    sections: {
      linux: [...TRIAGE_LINUX, 'browsers', 'execution', 'full-logs', 'web-logs', 'databases'],
      windows: [...TRIAGE_WINDOWS, 'browsers', 'execution', 'full-eventlogs', 'web-logs'],
    },
    artefacts: [
      ...TRIAGE_ARTEFACTS,
      'browser-histories',
      'execution-artefacts',
      'full-event-logs',
      'web-server-logs',
      'package-databases',
      'account-databases',
    ],
  },
  memory: {
    summary: "a memory image by the operator's acquisition tool (S1 script package, SHA-256 checked)",
    sections: { linux: ['system', 'memory'], windows: ['system', 'memory'] },
    artefacts: ['system-info', 'memory-image'],
  },
  custom: {
    summary: 'only the absolute paths and globs given with --path (at most 32)',
    sections: { linux: ['system', 'custom'], windows: ['system', 'custom'] },
    artefacts: ['system-info', 'named-files'],
  },
};

const WINDOWS_ABSOLUTE = /^[A-Za-z]:\\/;

/**
 * Checks the paths of a `custom` collection: 1 to {@link CUSTOM_PATHS_LIMITS.maxCount} entries, each absolute for
 * its OS (`/…` on Linux, `C:\…` on Windows), with no `.` / `..` segment, no whitespace, comma or control character
 * (the arguments reach the endpoint as one whitespace-split string, the list comma-separated), globs `*` `?` only.
 * @throws {InputValidationError} naming the first bad entry.
 */
export function validateCustomPaths(paths: readonly string[], osType?: 'linux' | 'windows'): string[] {
  if (paths.length === 0) throw new InputValidationError('the custom profile needs at least one path');
  if (paths.length > CUSTOM_PATHS_LIMITS.maxCount) {
    throw new InputValidationError(
      `the custom profile takes at most ${CUSTOM_PATHS_LIMITS.maxCount} paths, got ${paths.length}`,
    );
  }
  const seen = new Set<string>();
  for (const p of paths) {
    const shown = JSON.stringify(p.length > 80 ? `${p.slice(0, 80)}…` : p);
    if (p.length > CUSTOM_PATHS_LIMITS.maxLength) {
      throw new InputValidationError(
        `path ${shown} is longer than ${CUSTOM_PATHS_LIMITS.maxLength} characters`,
      );
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    if (/[\s,\u0000-\u001f\u007f]/.test(p)) {
      throw new InputValidationError(`path ${shown} contains whitespace, a comma or a control character`);
    }
    const linux = p.startsWith('/');
    const windows = WINDOWS_ABSOLUTE.test(p);
    if (!linux && !windows) {
      throw new InputValidationError(`path ${shown} is relative: give an absolute path (/… or C:\\…)`);
    }
    if (osType === 'linux' && !linux) throw new InputValidationError(`path ${shown} is not a Linux path`);
    if (osType === 'windows' && !windows)
      throw new InputValidationError(`path ${shown} is not a Windows path`);
    const segments = p.split(/[\\/]/);
    if (segments.some((s) => s === '..' || s === '.')) {
      throw new InputValidationError(
        `path ${shown} contains a "." or ".." segment (traversal is not allowed)`,
      );
    }
    // The collectors accept the same characters (and check again on the endpoint).
    if (!/^[A-Za-z0-9/\\._*?:@+=%~-]+$/.test(p)) {
      throw new InputValidationError(
        `path ${shown} contains a character other than letters, digits, / \\ : . _ - * ?`,
      );
    }
    if (seen.has(p)) throw new InputValidationError(`path ${shown} is listed twice`);
    seen.add(p);
  }
  return [...paths];
}

/** The custom path list as the workflow input carries it. */
export const CustomPathsSchema = z.array(z.string()).superRefine((paths, ctx) => {
  try {
    validateCustomPaths(paths);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

/** The acquisition tool of the `memory` profile, per OS: the file name in the S1 package and its SHA-256. */
export interface MemoryTool {
  readonly fileName: string;
  readonly sha256: string;
}

/** One intake rule: threats matching every given list are collected with `profile`. */
export interface ProfileRule {
  readonly confidenceLevels?: readonly string[];
  readonly classifications?: readonly string[];
  readonly profile: ProfileName;
}

/** Profile settings as config hands them to the Lambdas (the `COLLECTION_PROFILES` JSON variable). */
export const ProfileSettingsSchema = z.strictObject({
  defaultProfile: ProfileNameSchema.default(DEFAULT_PROFILE),
  budgets: z
    .partialRecord(
      ProfileNameSchema,
      z.strictObject({
        runtimeTimeoutSeconds: z.number().int().min(60).max(172_800).optional(),
        maxMb: z.number().int().min(1).max(1_048_576).optional(),
        days: z.number().int().min(1).max(3650).optional(),
        minFreeMb: z.number().int().min(0).max(1_048_576).optional(),
      }),
    )
    .default({}),
  memoryTool: z
    .partialRecord(
      z.enum(['linux', 'windows']),
      z.strictObject({
        fileName: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be a plain file name (letters, digits, . _ -)'),
        sha256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits')
          .transform((s) => s.toLowerCase()),
      }),
    )
    .default({}),
  rules: z
    .array(
      z.strictObject({
        confidenceLevels: z.array(z.string().min(1)).min(1).optional(),
        classifications: z.array(z.string().min(1)).min(1).optional(),
        profile: ProfileNameSchema.refine(
          (p) => p !== 'custom',
          'custom needs paths; intake cannot choose it',
        ),
      }),
    )
    .max(20)
    .default([]),
});
export type ProfileSettings = z.infer<typeof ProfileSettingsSchema>;

/**
 * The profile settings of a Lambda, from `COLLECTION_PROFILES` (JSON, set by the stack); the defaults when unset.
 * @throws {ConfigError} naming the variable when it is not valid.
 */
export function profileSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ProfileSettings {
  const raw = env.COLLECTION_PROFILES;
  if (raw === undefined || raw === '') return ProfileSettingsSchema.parse({});
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError('COLLECTION_PROFILES is not valid JSON');
  }
  const result = ProfileSettingsSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`Invalid COLLECTION_PROFILES (${issues})`);
  }
  return result.data;
}

/** The settings when nothing is configured. */
export const DEFAULT_PROFILE_SETTINGS: ProfileSettings = ProfileSettingsSchema.parse({});

/** The budget of `profile` under `settings`; `triageRuntimeSeconds` is `scriptRuntimeTimeoutSeconds`. */
export function budgetOf(
  profile: ProfileName,
  settings: ProfileSettings = DEFAULT_PROFILE_SETTINGS,
  triageRuntimeSeconds?: number,
): ProfileBudget {
  const base = DEFAULT_BUDGETS[profile];
  const configured = settings.budgets[profile] ?? {};
  const runtime =
    configured.runtimeTimeoutSeconds ??
    (profile === 'triage' && triageRuntimeSeconds !== undefined
      ? triageRuntimeSeconds
      : base.runtimeTimeoutSeconds);
  return {
    runtimeTimeoutSeconds: runtime,
    maxMb: configured.maxMb ?? base.maxMb,
    days: configured.days ?? base.days,
    minFreeMb: configured.minFreeMb ?? base.minFreeMb,
  };
}

/**
 * The profile intake uses for a threat: the first rule whose lists all match (case-insensitive), else the default.
 */
export function profileForThreat(
  threat: { confidenceLevel?: string | null; classification?: string | null },
  settings: ProfileSettings = DEFAULT_PROFILE_SETTINGS,
): ProfileName {
  const has = (list: readonly string[] | undefined, value: string | null | undefined) =>
    list === undefined ||
    (typeof value === 'string' && list.some((v) => v.toLowerCase() === value.toLowerCase()));
  const rule = settings.rules.find(
    (r) => has(r.confidenceLevels, threat.confidenceLevel) && has(r.classifications, threat.classification),
  );
  return rule?.profile ?? settings.defaultProfile;
}

/** What {@link collectorArguments} needs. */
export interface CollectorArgumentsInput {
  readonly profile: ProfileName;
  readonly osType: 'linux' | 'windows';
  readonly budget: ProfileBudget;
  readonly customPaths?: readonly string[];
  readonly memoryTool?: MemoryTool;
}

/** Longest `inputParams` we send (S1 documents no limit; this keeps the task record readable). */
export const MAX_INPUT_PARAMS_LENGTH = 8192;

/**
 * The collector's `inputParams`: the one place the argument interface is written. Both collectors accept
 * `--profile P --max-seconds N --max-mb N --days N --min-free-mb N`, plus `--paths a,b` (custom) and
 * `--tool-name F --tool-sha256 H` (memory). The script's own time budget is half the S1 runtime timeout, so it
 * always finishes (log and SHA256SUMS written) well before S1 would kill it.
 * @throws {InputValidationError} for a bad custom path list; {@link ConfigError} for memory without a tool.
 */
export function collectorArguments(input: CollectorArgumentsInput): string {
  const { profile, budget } = input;
  const args = [
    `--profile ${profile}`,
    `--max-seconds ${Math.floor(budget.runtimeTimeoutSeconds / 2)}`,
    `--max-mb ${budget.maxMb}`,
    `--days ${budget.days}`,
    `--min-free-mb ${budget.minFreeMb}`,
  ];
  if (profile === 'custom') {
    const paths = validateCustomPaths(input.customPaths ?? [], input.osType);
    args.push(`--paths ${paths.join(',')}`);
  } else if (input.customPaths && input.customPaths.length > 0) {
    throw new InputValidationError(`paths are only taken by the custom profile, not by ${profile}`);
  }
  if (profile === 'memory') {
    const tool = input.memoryTool;
    if (!tool) {
      throw new ConfigError(
        `the memory profile needs an acquisition tool for ${input.osType}: set collectionProfiles.memoryTool.${input.osType} (fileName, sha256) in the config`,
      );
    }
    args.push(`--tool-name ${tool.fileName}`, `--tool-sha256 ${tool.sha256}`);
  }
  const text = args.join(' ');
  if (text.length > MAX_INPUT_PARAMS_LENGTH) {
    throw new InputValidationError(`the collector arguments exceed ${MAX_INPUT_PARAMS_LENGTH} characters`);
  }
  return text;
}
