/**
 * Catalogue of the collection scripts uploaded to the SentinelOne RemoteOps library.
 *
 * The scripts live next to this module as `linux/triage.sh` and `windows/triage.ps1`. Each carries a
 * header line `# s1cado-collector: <header name> <version>`; the version comes from there, and the
 * SHA-256 of the exact bytes identifies the script in S1 (it is part of {@link CollectorScript.libraryName}),
 * so a changed script is never mistaken for the one already in the library.
 *
 * Where the scripts are read from ({@link defaultCollectorsDir}):
 * 1. `process.env.COLLECTORS_DIR`, when set;
 * 2. the folder of this module, when it holds `linux/triage.sh` (tsx, vitest, this source tree);
 * 3. otherwise a `collectors/` folder next to it: the Lambda bundle copies `linux/` and `windows/` into
 *    `collectors/` beside the bundled handler.
 *
 * Uses `__dirname`, which exists under tsx, vitest and an esbuild CommonJS bundle alike.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LIMITS } from '../shared/contract';
import { DEFAULT_PROFILE, PROFILE_CONTENTS, PROFILE_NAMES, type ProfileName } from './profiles';

export * from './profiles';

/** Operating systems the collectors cover, spelled as S1 `osTypes`. */
export type CollectorOsType = 'windows' | 'linux';

/** One collection script, read from disk and ready to upload to the S1 script library. */
export interface CollectorScript {
  /** S1 `osTypes` value the script is uploaded for. */
  osType: CollectorOsType;
  /** The collection profile baked into this copy (see `./profiles`). */
  profile: ProfileName;
  /** Stable script name, `s1cado-<profile>-<os>`, e.g. `s1cado-triage-linux`. */
  name: string;
  /** Version from the script's header line, e.g. `1.0.0`. */
  version: string;
  /** S1 `scriptType`: the scripts collect files for retrieval. */
  scriptType: 'artifactCollection';
  /** File name for the upload's `file` part, e.g. `s1cado-triage-linux.sh`. */
  fileName: string;
  /** Absolute path the script was read from. */
  path: string;
  /** The script's exact bytes. */
  content: Buffer;
  /** Lower-case hex SHA-256 of {@link content}. */
  sha256: string;
  /** Default `inputParams` for execute (see {@link inputParamsFor}; `collectorArguments` for a profile). */
  inputParams: string;
  /** Name as stored in S1: carries version and a short hash, e.g. `s1cado-triage-linux 1.0.0 (sha256:1a2b3c4d)`. */
  libraryName: string;
  /** Default S1 `scriptRuntimeTimeoutSeconds` for upload and execute. */
  runtimeTimeoutSeconds: number;
  /** Text for the S1 `scriptDescription` field. */
  description: string;
}

/** A collector script is missing, unreadable, or lacks a valid header line. */
export class CollectorLoadError extends Error {
  override readonly name = 'CollectorLoadError';
}

/** Default S1 runtime timeout of the collectors (the S1 default is 3600 s). */
export const DEFAULT_RUNTIME_TIMEOUT_SECONDS = 1800;

interface CollectorDefinition {
  osType: CollectorOsType;
  /** Name of the triage copy; the other profiles replace `triage` with their own name. */
  name: string;
  /** Header name in the source file; a profile copy says `<os>-<profile>`. */
  headerName: string;
  relativePath: string;
  extension: string;
  description: string;
}

const DEFINITIONS: readonly CollectorDefinition[] = [
  {
    osType: 'linux',
    name: 's1cado-triage-linux',
    headerName: 'linux-triage',
    relativePath: path.join('linux', 'triage.sh'),
    extension: '.sh',
    description:
      'Read-only Linux triage (processes, network, users, persistence, logs, histories, recent files) ' +
      'with collection.log and SHA256SUMS. Managed by s1-cado-forensics; do not edit.',
  },
  {
    osType: 'windows',
    name: 's1cado-triage-windows',
    headerName: 'windows-triage',
    relativePath: path.join('windows', 'triage.ps1'),
    extension: '.ps1',
    description:
      'Read-only Windows triage (processes, network, users, services and tasks, autoruns, event logs, ' +
      'PSReadLine histories, recent files) with collection.log and SHA256SUMS. Managed by s1-cado-forensics; do not edit.',
  },
];

/** `# s1cado-collector: <name> <semver>` within the first lines of a script. */
const HEADER_PATTERN = /^#\s*s1cado-collector:\s*([a-z0-9-]+)\s+(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)\s*$/;
const HEADER_SEARCH_LINES = 5;

/** `s1cado-triage-linux 1.0.0 (sha256:1a2b3c4d)`, or a fresh copy of it: `… copy 20261202T171500Z`. */
const LIBRARY_NAME_PATTERN = /^(s1cado-[a-z0-9-]+) (\S+) \(sha256:([0-9a-f]{8})\)(?: copy \d{8}T\d{6}Z)?$/;

/**
 * The folder the scripts are read from when none is given: `COLLECTORS_DIR`, else this module's folder
 * if it holds the scripts, else `collectors/` next to this module (the Lambda bundle layout).
 */
export function defaultCollectorsDir(): string {
  const fromEnv = process.env.COLLECTORS_DIR;
  if (fromEnv) return fromEnv;
  if (existsSync(path.join(__dirname, 'linux', 'triage.sh'))) return __dirname;
  return path.join(__dirname, 'collectors');
}

/**
 * `inputParams` for one run. The script's own time budget is half the S1 runtime timeout, so it always
 * finishes (and writes its log and SHA256SUMS) well before S1 would kill it, leaving the rest for the
 * agent to pack and upload the result.
 */
export function inputParamsFor(
  runtimeTimeoutSeconds: number,
  options: { maxMb?: number; days?: number } = {},
): string {
  if (!Number.isInteger(runtimeTimeoutSeconds) || runtimeTimeoutSeconds < 60) {
    throw new RangeError(`runtimeTimeoutSeconds must be an integer >= 60, got ${runtimeTimeoutSeconds}`);
  }
  const maxMb = options.maxMb ?? LIMITS.collectorBudgetMiB;
  const days = options.days ?? 7;
  for (const [key, value] of Object.entries({ maxMb, days })) {
    if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${key} must be a positive integer`);
  }
  return `--max-seconds ${Math.floor(runtimeTimeoutSeconds / 2)} --max-mb ${maxMb} --days ${days}`;
}

/** Reads `<header name> <version>` from a script's header line. */
export function parseCollectorHeader(content: string): { headerName: string; version: string } | undefined {
  for (const line of content.split(/\r?\n/, HEADER_SEARCH_LINES)) {
    const match = HEADER_PATTERN.exec(line);
    if (match?.[1] && match[2]) return { headerName: match[1], version: match[2] };
  }
  return undefined;
}

/** Builds the S1 library name of a script version: `<name> <version> (sha256:<first 8 hex>)`. */
export function libraryNameOf(name: string, version: string, sha256: string): string {
  return `${name} ${version} (sha256:${sha256.slice(0, 8)})`;
}

/**
 * Parses a script name found in the S1 library back into its parts, or `undefined` when the script is
 * not one of ours. Lets `ensure-scripts` recognise older versions it uploaded earlier.
 */
export function parseLibraryName(
  scriptName: string,
): { name: string; version: string; sha256Prefix: string } | undefined {
  const match = LIBRARY_NAME_PATTERN.exec(scriptName);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { name: match[1], version: match[2], sha256Prefix: match[3] };
}

/**
 * The line of each script that names its profile, e.g. `S1CADO_PROFILE='triage' # s1cado-profile` (bash) or
 * `$BakedProfile = 'triage' # s1cado-profile` (PowerShell). The catalogue rewrites the quoted name per profile.
 */
const PROFILE_LINE = /^(.*=\s*')triage('\s*#\s*s1cado-profile\s*)$/m;

/**
 * The copy of a collector's source for `profile`: the profile line and the header name rewritten, nothing else.
 * @throws {CollectorLoadError} when the source has no profile line.
 */
export function bakeProfile(source: Buffer, headerName: string, profile: ProfileName, file: string): Buffer {
  const text = source.toString('utf8');
  if (!PROFILE_LINE.test(text)) {
    throw new CollectorLoadError(`${file} has no "...= 'triage' # s1cado-profile" line`);
  }
  if (profile === DEFAULT_PROFILE) return source;
  const os = headerName.replace(/-triage$/, '');
  const baked = text
    .replace(PROFILE_LINE, `$1${profile}$2`)
    .replace(new RegExp(`^(#\\s*s1cado-collector:\\s*)${headerName}(\\s)`, 'm'), `$1${os}-${profile}$2`);
  return Buffer.from(baked, 'utf8');
}

function loadOne(
  definition: CollectorDefinition,
  dir: string,
  profile: ProfileName = DEFAULT_PROFILE,
): CollectorScript {
  const file = path.resolve(dir, definition.relativePath);
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    throw new CollectorLoadError(`collector script ${definition.name} not readable at ${file}`, {
      cause: error,
    });
  }
  const header = parseCollectorHeader(content.subarray(0, 4096).toString('utf8'));
  if (!header) {
    throw new CollectorLoadError(`${file} has no "# s1cado-collector: <name> <version>" header line`);
  }
  if (header.headerName !== definition.headerName) {
    throw new CollectorLoadError(
      `${file} declares collector "${header.headerName}", expected "${definition.headerName}"`,
    );
  }
  content = bakeProfile(content, definition.headerName, profile, file);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const name = definition.name.replace('-triage-', `-${profile}-`);
  return {
    osType: definition.osType,
    profile,
    name,
    version: header.version,
    scriptType: 'artifactCollection',
    fileName: `${name}${definition.extension}`,
    path: file,
    content,
    sha256,
    inputParams: inputParamsFor(DEFAULT_RUNTIME_TIMEOUT_SECONDS),
    libraryName: libraryNameOf(name, header.version, sha256),
    runtimeTimeoutSeconds: DEFAULT_RUNTIME_TIMEOUT_SECONDS,
    description:
      profile === DEFAULT_PROFILE
        ? definition.description
        : `${definition.description} Profile ${profile}: ${PROFILE_CONTENTS[profile].summary}.`.slice(
            0,
            1000,
          ),
  };
}

/**
 * Reads and hashes the triage copy of every collector script (Linux first, then Windows): what the permission
 * audit checks. {@link loadProfileCollectors} has every profile.
 * @throws {CollectorLoadError} when a script is missing or its header is invalid: a broken bundle should
 * fail loudly rather than upload half a catalogue.
 */
export function loadCollectors(dir: string = defaultCollectorsDir()): CollectorScript[] {
  return DEFINITIONS.map((definition) => loadOne(definition, dir));
}

/**
 * Every profile's copy of every collector (for each OS: triage, full, memory, custom), each with its own hash and
 * library name. Ensure Scripts picks the one a target's profile needs.
 */
export function loadProfileCollectors(dir: string = defaultCollectorsDir()): CollectorScript[] {
  return DEFINITIONS.flatMap((definition) =>
    PROFILE_NAMES.map((profile) => loadOne(definition, dir, profile)),
  );
}

/**
 * The collector for an S1 `osType` (case-insensitive) and profile (triage by default), or `undefined` for an OS
 * without one (e.g. macos).
 */
export function collectorFor(
  osType: string,
  dir?: string,
  profile: ProfileName = DEFAULT_PROFILE,
): CollectorScript | undefined {
  const wanted = osType.toLowerCase();
  const definition = DEFINITIONS.find((d) => d.osType === wanted);
  return definition ? loadOne(definition, dir ?? defaultCollectorsDir(), profile) : undefined;
}
