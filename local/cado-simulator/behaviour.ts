/**
 * Switches that model differences between Cado platform releases and between runs: how `file_name` must be
 * typed, whether pipelines report `status`, whether an import spawns child pipelines, how long pipelines
 * take, how they end, and what `system/status` says. All of it lives in one mutable object (`sim.behaviour`)
 * that tests may change at any time; a pipeline's timing and outcome are fixed when it is created.
 */
import type { EvidenceRecord, PipelineOutcome } from './model';

/** Release the simulator claims to be unless told otherwise (the spec version the reference describes). */
export const DEFAULT_PLATFORM_VERSION = '2.324.0';

/**
 * How `POST /api/v3/import/aws/s3` types `file_name`: an array of strings from 2.230.0, a single string before.
 * The wrong type is a 400 validation error.
 */
export type FileNameMode = 'array' | 'string';

/**
 * How the platform reads `file_name` next to `prefix` (the spec does not say): `either` accepts a full key or a name
 * under `prefix`; `full-key` takes each entry as the whole object key and ignores `prefix` for it; `name-under-prefix`
 * takes each entry as a name inside `prefix` (as the object browser lists them, without folders), so a full key
 * without `prefix` finds nothing. An entry that finds nothing fails the acquisition with "object not found" (when the
 * simulator reads S3).
 */
export type FileNameResolution = 'either' | 'full-key' | 'name-under-prefix';

/** Simulated durations, in ms of clock time. */
export interface PipelineTiming {
  /** Time a pipeline waits in `queued` before running. */
  queuedMs: number;
  /** Running time of an acquisition pipeline. */
  acquisitionMs: number;
  /** Running time of a processing pipeline. */
  processingMs: number;
  /** Gap between an acquisition completing and its processing child appearing. */
  childSpawnDelayMs: number;
}

/** `data` of `GET /api/v3/system/status`. */
export interface SystemHealth {
  status: string;
  status_message: string;
  is_installing: boolean;
  setup_complete: boolean;
}

/** What an `outcomeFor` hook learns about an import. */
export interface ImportContext {
  readonly projectId: number;
  readonly bucket: string;
  /** Object keys the import names (empty for a whole-bucket import). */
  readonly keys: readonly string[];
}

/** Outcomes chosen for one import; missing ones fall back to the behaviour defaults. */
export interface ImportOutcomes {
  readonly acquisition?: PipelineOutcome;
  readonly processing?: PipelineOutcome;
}

/** The simulator's switches (see the module comment). */
export interface CadoBehaviour {
  /** `array` (≥ 2.230.0) or `string` (older). */
  fileNameMode: FileNameMode;
  /** Full keys, names under `prefix`, or both. */
  fileNameResolution: FileNameResolution;
  /** Leave `status` out of pipelines, as platforms before 2.269.0 do. */
  legacyStatus: boolean;
  /** An import creates an acquisition pipeline that spawns a processing child; off: one processing pipeline. */
  childPipelines: boolean;
  timing: PipelineTiming;
  /** How acquisition pipelines end (a missing S3 object overrides this with a failure). */
  acquisitionOutcome: PipelineOutcome;
  /** How processing pipelines end. */
  processingOutcome: PipelineOutcome;
  /** Per-import outcomes, e.g. to fail only one agent's evidence; wins over the two defaults above. */
  outcomeFor?: (context: ImportContext) => ImportOutcomes | undefined;
  /** Refuse every call except whoami (403 `eula_not_agreed`) for keys whose user has not accepted the EULA. */
  enforceEula: boolean;
  health: SystemHealth;
  /**
   * What `details.disk_hash` of an evidence record holds. Cado's API names the field ("Hash of the disk") but not
   * its algorithm or what it covers for a file import, so by default it is absent (`none`); `sha256` / `md5` report
   * the digest of the bytes the import read from S3; a function chooses per evidence (e.g. to report other bytes).
   */
  evidenceHash: 'none' | 'sha256' | 'md5' | ((evidence: EvidenceRecord) => string | undefined);
}

/** Behaviour overrides accepted by `startCadoSimulator` (nested objects may be partial). */
export type CadoBehaviourOptions = Partial<Omit<CadoBehaviour, 'timing' | 'health'>> & {
  readonly timing?: Partial<PipelineTiming>;
  readonly health?: Partial<SystemHealth>;
};

/** Compares dotted numeric versions: negative when `a < b`, 0 when equal, positive when `a > b`. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Behaviour for a platform release: version-dependent switches follow the version unless overridden. */
export function behaviourFor(version: string, overrides: CadoBehaviourOptions = {}): CadoBehaviour {
  const { timing, health, ...rest } = overrides;
  return {
    fileNameMode: compareVersions(version, '2.230.0') >= 0 ? 'array' : 'string',
    legacyStatus: compareVersions(version, '2.269.0') < 0,
    fileNameResolution: 'either',
    childPipelines: true,
    acquisitionOutcome: 'complete',
    processingOutcome: 'complete',
    enforceEula: false,
    evidenceHash: 'none',
    ...rest,
    timing: { queuedMs: 5_000, acquisitionMs: 30_000, processingMs: 90_000, childSpawnDelayMs: 0, ...timing },
    health: { status: 'running', status_message: '', is_installing: false, setup_complete: true, ...health },
  };
}
