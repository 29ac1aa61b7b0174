/**
 * Result files of completed tasks: a real zip (see {@link ZipArchive}) built from a {@link ResultSpec}, with its
 * SHA-256 computed once by streaming over the archive and cached. The SHA-256 is the task's
 * `scriptResultsSignature`, the storage key and the file name (`<sha256>.zip`), as on a real console.
 */
import { createHash } from 'node:crypto';
import type { ResultSpec } from './types';
import {
  BufferSource,
  type ByteSource,
  crc32Of,
  keystream,
  MAX_ZIP_SIZE,
  PatternSource,
  ZipArchive,
} from './zip';

/** Default name of the single entry of a generated result. */
export const GENERATED_ENTRY_NAME = 'collection.bin';

/** A result archive whose SHA-256 is known: ready to be linked and served. */
export interface PreparedResult {
  /** SHA-256 hex of the archive. */
  readonly sha256: string;
  /** `<sha256>.zip`. */
  readonly fileName: string;
  readonly size: number;
  /** The archive's bytes. */
  readonly archive: ByteSource;
}

/** Size of the random pool generated results are made of. */
const POOL_SIZE = 1024 * 1024;

/** Pools by seed: one per simulator, shared by all its results (a few seeds at most per process). */
const pools = new Map<string, Buffer>();

function poolFor(seed: string): Buffer {
  let pool = pools.get(seed);
  if (!pool) {
    if (pools.size >= 16) pools.clear();
    pool = keystream(createHash('sha256').update(`pool:${seed}`).digest().subarray(0, 16), POOL_SIZE);
    pools.set(seed, pool);
  }
  return pool;
}

/** What makes generated content reproducible: the simulator's seed and a per-result key (the task id). */
export interface ResultKey {
  readonly seed: string;
  readonly key: string;
}

/** Builds the archive for a spec. */
async function buildArchive(spec: ResultSpec, id: ResultKey, modifiedAt: Date): Promise<ZipArchive> {
  if ('run' in spec)
    throw new RangeError('a result the agent runs is resolved to entries before it is built');
  if ('entries' in spec) {
    const entries = await Promise.all(
      spec.entries.map(async (entry) => {
        const source = new BufferSource(entry.content);
        return { name: entry.name, source, crc32: await crc32Of(source) };
      }),
    );
    return new ZipArchive(entries, modifiedAt);
  }
  if (!Number.isSafeInteger(spec.size) || spec.size < 0 || spec.size > MAX_ZIP_SIZE - 1024 * 1024) {
    throw new RangeError(`result size must be an integer from 0 to just under 4 GiB, got ${spec.size}`);
  }
  const key = createHash('sha256').update(`${id.seed}:${id.key}`).digest().readUInt32LE(0);
  const source = new PatternSource(poolFor(id.seed), key, spec.size);
  if (spec.collector) return collectorArchive(source, spec.entryName ?? GENERATED_ENTRY_NAME, modifiedAt);
  return new ZipArchive(
    [{ name: spec.entryName ?? GENERATED_ENTRY_NAME, source, crc32: await crc32Of(source) }],
    modifiedAt,
  );
}

/** Folder the collector's output sits in, inside a collector-shaped result. */
export const COLLECTOR_FOLDER = 's1cado-linux-triage';

/**
 * The collector's layout around the generated data: `collection.log`, a few small command outputs, the data file,
 * and `SHA256SUMS` (sha256sum format, paths relative to the folder) covering every other file, as the collectors
 * write it last.
 */
async function collectorArchive(data: ByteSource, dataName: string, modifiedAt: Date): Promise<ZipArchive> {
  const at = modifiedAt.toISOString();
  const small: [string, string][] = [
    [
      'collection.log',
      `# s1cado-collector linux-triage simulated\n# started_utc: ${at}\n[${at}] STEP system ok\n[${at}] STEP processes ok\n[${at}] END collection status=complete\n`,
    ],
    ['system/uname.txt', 'Linux acme-app 6.1.0-simulated x86_64 GNU/Linux\n'],
    ['processes/ps.txt', 'PID PPID USER CMD\n1 0 root /sbin/init\n'],
  ];
  const files: { name: string; source: ByteSource }[] = [
    ...small.map(([name, text]) => ({ name, source: new BufferSource(Buffer.from(text)) as ByteSource })),
    { name: `files/${dataName}`, source: data },
  ];
  const sums: string[] = [];
  for (const f of files) sums.push(`${await sha256Of(f.source)}  ${f.name}`);
  files.push({ name: 'SHA256SUMS', source: new BufferSource(Buffer.from(`${sums.join('\n')}\n`)) });
  const entries = [];
  for (const f of files) {
    entries.push({ name: `${COLLECTOR_FOLDER}/${f.name}`, source: f.source, crc32: await crc32Of(f.source) });
  }
  return new ZipArchive(entries, modifiedAt);
}

async function sha256Of(source: ByteSource): Promise<string> {
  const hash = createHash('sha256');
  let sinceYield = 0;
  for (const chunk of source.read(0, source.size)) {
    hash.update(chunk);
    sinceYield += chunk.length;
    if (sinceYield >= 16 * 1024 * 1024) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return hash.digest('hex');
}

/**
 * Builds and hashes a result archive. Large generated results take two streaming passes (CRC, then SHA-256)
 * and constant memory.
 */
export async function prepareResult(
  spec: ResultSpec,
  id: ResultKey,
  modifiedAt: number,
): Promise<PreparedResult> {
  const archive = await buildArchive(spec, id, new Date(modifiedAt));
  const sha256 = await sha256Of(archive);
  return { sha256, fileName: `${sha256}.zip`, size: archive.size, archive };
}
