/**
 * Read-back verification of a staged object (DESIGN §9 "Closed-loop integrity"): the zip's tail (end records,
 * central directory) and the collector's `SHA256SUMS` are read first in small ranged GETs of the exact stored
 * version; then that version is read once, start to end, for its SHA-256 and size, and every listed entry is hashed
 * as it streams by in the same pass (`zip-pass.ts`). Memory stays bounded whatever the size: nothing is buffered
 * but a chunk, the directory and the listing (both capped).
 */
import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { inflateRawSync } from 'node:zlib';
import { GetObjectCommand, type GetObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import yauzl from 'yauzl';
import { type ReceivedResponse, receive } from '../http-receive';
import type { ChainStatus, ListingCheck, ReadBackCheck } from './chain';
import { type CentralEntry, readZipLayout, ZipFormatError, type ZipLayout } from './zip-layout';
import { type PassResult, SequentialReader, walkZip } from './zip-pass';

/** The object version to verify. */
export interface StoredVersion {
  readonly bucket: string;
  readonly key: string;
  /** Pins the reads to this version where the bucket keeps versions. */
  readonly versionId: string | null;
  /** Pins the reads to this write where it does not (`If-Match`). */
  readonly etag?: string | null;
}

/** The name of the collector's listing. */
export const LISTING_NAME = 'SHA256SUMS';
/** Largest listing read (a collector lists a few thousand files; a bigger "listing" is not ours). */
export const MAX_LISTING_BYTES = 16 * 1024 * 1024;
/** Names of problem entries kept in the record (the counts are always complete). */
export const MAX_NAMED_PROBLEMS = 20;

function pinned(
  version: StoredVersion,
): Pick<GetObjectCommandInput, 'Bucket' | 'Key' | 'VersionId' | 'IfMatch'> {
  return {
    Bucket: version.bucket,
    Key: version.key,
    ...(version.versionId ? { VersionId: version.versionId } : version.etag ? { IfMatch: version.etag } : {}),
  };
}

/** yauzl's random access over ranged GETs of one pinned version (for {@link readZipText}). */
class S3RangeReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly s3: S3Client,
    private readonly version: StoredVersion,
  ) {
    super();
  }
  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough();
    if (end <= start) {
      out.end();
      return out;
    }
    this.s3
      .send(new GetObjectCommand({ ...pinned(this.version), Range: `bytes=${start}-${end - 1}` }))
      .then((res) => {
        const body = res.Body as Readable;
        body.on('error', (error) => out.destroy(error));
        body.pipe(out);
      })
      .catch((error: unknown) => out.destroy(error as Error));
    return out;
  }
}

/** `[start, end)` of the pinned version in one ranged GET (callers bound the length). */
async function readRange(s3: S3Client, version: StoredVersion, start: number, end: number): Promise<Buffer> {
  if (end <= start) return Buffer.alloc(0);
  const out = await s3.send(new GetObjectCommand({ ...pinned(version), Range: `bytes=${start}-${end - 1}` }));
  const bytes = await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One `sha256sum` line: hash, text or binary marker, path; a leading `\` escapes `\\` and `\n` in the path. */
export function parseListing(text: string): { entries: Map<string, string>; malformed: number } {
  const entries = new Map<string, string>();
  let malformed = 0;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line) continue;
    const escaped = line.startsWith('\\');
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(escaped ? line.slice(1) : line);
    if (!m?.[1] || !m[2]) {
      malformed++;
      continue;
    }
    let path = m[2];
    if (escaped) path = path.replace(/\\(\\|n)/g, (_s, c: string) => (c === 'n' ? '\n' : '\\'));
    entries.set(path.replace(/^\.\//, ''), m[1].toLowerCase());
  }
  return { entries, malformed };
}

function openZip(reader: S3RangeReader, size: number): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.fromRandomAccessReader(
      reader,
      size,
      { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false },
      (error, zip) => (error || !zip ? reject(error ?? new Error('no zip')) : resolve(zip)),
    ),
  );
}

function entryStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, (error, stream) => (error || !stream ? reject(error) : resolve(stream))),
  );
}

async function textOf(stream: Readable, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Every entry of the zip (central directory), read lazily. */
async function entriesOf(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  const entries: yauzl.Entry[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.once('end', () => resolve());
    zip.once('error', reject);
    zip.readEntry();
  });
  return entries;
}

const notAvailable = (reason: string, encrypted = false): ListingCheck => ({
  status: 'not_available',
  reason,
  encrypted,
  filesListed: 0,
  verified: 0,
  mismatched: 0,
  missing: 0,
  extra: 0,
  problems: [],
});

/** The listing, read before the pass, and what the pass is to hash. */
interface ListingPlan {
  readonly layout: ZipLayout;
  readonly files: readonly CentralEntry[];
  readonly listingEntry: CentralEntry;
  /** SHA-256 of the listing's bytes as read first; the pass must find the same. */
  readonly listingSha256: string;
  /** The listing's folder (`a/b/`); listed paths are relative to it. */
  readonly base: string;
  readonly listed: ReadonlyMap<string, string>;
  readonly malformed: number;
}

/** The listing entry's content, from its local header onwards (`extent`); a reason when it cannot be read. */
function listingContent(extent: Buffer, entry: CentralEntry): Buffer | string {
  if (extent.length < 30 || extent.readUInt32LE(0) !== 0x04034b50) return 'no local header';
  const start = 30 + extent.readUInt16LE(26) + extent.readUInt16LE(28);
  const data = extent.subarray(start, start + entry.compressedSize);
  if (data.length < entry.compressedSize) return 'the entry is cut short';
  if (entry.method === 0) return data;
  if (entry.method !== 8) return `compression method ${entry.method}`;
  try {
    return inflateRawSync(data, { maxOutputLength: MAX_LISTING_BYTES });
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Reads the zip's layout from its tail, finds the collector's `SHA256SUMS` (the shallowest one; paths in it are
 * relative to its folder) and reads it, so that the pass knows what to hash. No listing, an encrypted archive or
 * no zip at all is "not available" (said so, never guessed).
 */
async function planListing(
  s3: S3Client,
  version: StoredVersion,
  size: number,
): Promise<{ plan: ListingPlan } | { check: ListingCheck }> {
  let layout: ZipLayout;
  try {
    layout = await readZipLayout((start, end) => readRange(s3, version, start, end), size);
  } catch (error) {
    if (error instanceof ZipFormatError)
      return { check: notAvailable(`not a readable zip: ${error.message}`.slice(0, 300)) };
    throw error;
  }
  const files = layout.entries.filter((e) => !e.name.endsWith('/'));
  if (files.some((e) => (e.flags & 0x1) !== 0)) return { check: notAvailable('the zip is encrypted', true) };
  const listingEntry = files
    .filter((e) => e.name === LISTING_NAME || e.name.endsWith(`/${LISTING_NAME}`))
    .sort((a, b) => a.name.split('/').length - b.name.split('/').length)[0];
  if (!listingEntry)
    return { check: notAvailable(`the zip has no ${LISTING_NAME} (not our collector's output)`) };
  if (listingEntry.uncompressedSize > MAX_LISTING_BYTES || listingEntry.compressedSize > MAX_LISTING_BYTES)
    return { check: notAvailable(`${LISTING_NAME} is larger than ${MAX_LISTING_BYTES} bytes`) };
  // Its local header and data: up to the next entry, or less when something else fills the gap (the pass will
  // refuse that anyway).
  const start = listingEntry.localHeaderOffset;
  const next = Math.min(
    layout.centralDirectoryOffset,
    ...layout.entries.map((e) => e.localHeaderOffset).filter((offset) => offset > start),
  );
  const end = Math.min(next, start + 30 + 2 * 0xffff + listingEntry.compressedSize);
  const extent =
    start >= layout.buffered.start
      ? layout.buffered.bytes.subarray(start - layout.buffered.start, end - layout.buffered.start)
      : await readRange(s3, version, start, end);
  const bytes = listingContent(extent, listingEntry);
  if (typeof bytes === 'string') {
    return {
      check: {
        ...notAvailable(''),
        reason: undefined,
        status: 'mismatch',
        listingPath: listingEntry.name,
        problems: [`unreadable: ${LISTING_NAME} (${bytes})`.slice(0, 300)],
      },
    };
  }
  const { entries: listed, malformed } = parseListing(bytes.toString('utf8'));
  return {
    plan: {
      layout,
      files,
      listingEntry,
      listingSha256: createHash('sha256').update(bytes).digest('hex'),
      base: listingEntry.name.slice(0, listingEntry.name.length - LISTING_NAME.length),
      listed,
      malformed,
    },
  };
}

/** The entries the pass hashes: the listing and every listed file. */
function wantedBy(plan: ListingPlan): Set<CentralEntry> {
  const wanted = new Set<CentralEntry>([plan.listingEntry]);
  for (const entry of plan.files) {
    if (entry.name.startsWith(plan.base) && plan.listed.has(entry.name.slice(plan.base.length)))
      wanted.add(entry);
  }
  return wanted;
}

/**
 * Every file against the listing: a file listed but absent, present but not listed, or with another hash is a
 * mismatch; so is a zip whose entries do not tile it exactly (bytes no entry accounts for, headers disagreeing with
 * the directory), whatever the hashes say.
 */
function judgeListing(plan: ListingPlan, pass: PassResult): ListingCheck {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < MAX_NAMED_PROBLEMS) problems.push(p);
  };
  if (pass.structure) note(`structure: ${pass.structure}`.slice(0, 300));
  const own = pass.contents.get(plan.listingEntry);
  const listingDiffers = own !== undefined && !('sha256' in own && own.sha256 === plan.listingSha256);
  if (listingDiffers) note(`mismatch: ${LISTING_NAME} (the pass read other bytes than the first read)`);
  if (plan.malformed > 0) note(`${plan.malformed} malformed line(s) in ${LISTING_NAME}`);
  let verified = 0;
  let mismatched = 0;
  let extra = 0;
  const present = new Set<string>();
  for (const entry of plan.files) {
    if (entry === plan.listingEntry) continue;
    if (!entry.name.startsWith(plan.base)) {
      extra++;
      note(`extra: ${entry.name}`);
      continue;
    }
    const rel = entry.name.slice(plan.base.length);
    const want = plan.listed.get(rel);
    if (want === undefined) {
      extra++;
      note(`extra: ${rel}`);
      continue;
    }
    present.add(rel);
    const got = pass.contents.get(entry);
    // Not reached: the walk stopped at a structural problem, already noted.
    if (got === undefined) continue;
    if ('sha256' in got && got.sha256 === want) verified++;
    else {
      mismatched++;
      note('problem' in got ? `mismatch: ${rel} (${got.problem})` : `mismatch: ${rel}`);
    }
  }
  const missingNames = [...plan.listed.keys()].filter((p) => !present.has(p));
  for (const p of missingNames) note(`missing: ${p}`);
  const ok =
    !pass.structure &&
    !listingDiffers &&
    mismatched === 0 &&
    missingNames.length === 0 &&
    extra === 0 &&
    plan.malformed === 0;
  return {
    status: ok ? 'verified' : 'mismatch',
    encrypted: false,
    listingPath: plan.listingEntry.name,
    filesListed: plan.listed.size,
    verified,
    mismatched,
    missing: missingNames.length,
    extra,
    problems,
  };
}

/** S3 refused the whole-version GET; `name` is S3's error code (as the SDK names its errors), e.g. `NoSuchVersion`. */
export class StoredReadError extends Error {
  readonly $metadata: { readonly httpStatusCode: number };
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

/** Chunks of the whole-version body waiting for the pass; the socket pauses beyond this many. */
const QUEUED_CHUNKS = 8;
/** Memory the body's reads land in is carved out of blocks this large (one allocation per block, not per read). */
const BLOCK_BYTES = 1024 * 1024;
/** A block with less room than this left is retired (reads then land in another one). */
const MIN_READ_BYTES = 64 * 1024;
/**
 * Retired blocks kept for reuse once the pass is done with them. Reuse is what keeps a read-back of gigabytes from
 * allocating gigabytes: every fresh block is external memory V8 answers with a full garbage collection every few
 * dozen MiB (about a fifth of the pass's CPU before). The pass holds a few MiB at a time (the queue below, the
 * inflater's input); a block still held when this many are waiting is left to the garbage collector.
 */
const POOLED_BLOCKS = 16;
/** Attempts at the whole-version GET before its body starts (the SDK's `maxAttempts`); a broken body is not retried. */
const WHOLE_ATTEMPTS = 4;
/** Longest wait for S3's response head, and longest silence in the body (the S3 client's `requestTimeout`). */
const WHOLE_TIMEOUT_MS = 120_000;

/** The pinned version's bytes, in order, from one GET; `destroy` stops reading. */
interface WholeVersion {
  readonly chunks: AsyncIterator<Buffer>;
  readonly versionId: string | undefined;
  /** The reader holds no view of the bytes before object offset `below` any more: their memory may be reused. */
  release(below: number): void;
  destroy(): void;
}

/** A block of receive memory and the object offset just past its last byte (once it is retired). */
interface Block {
  readonly memory: Buffer;
  end: number;
}

/**
 * One GET of the whole pinned version, read with the low-copy receiver (`../http-receive.ts`: socket reads land in
 * blocks of memory that are handed to the pass as they are, no Buffer and no stream per read), from a URL the S3
 * client presigns with the function's own credentials (the SDK would read the body through Node's HTTP client
 * and a stream: about 1 CPU-second more per GiB read back, measured in the staging bench). Refusals (404, 412 when
 * the write is gone, 403) fail with a {@link StoredReadError}; throttling, 5xx and connection failures before the
 * body are retried a few times, as the SDK would.
 */
async function openWholeVersion(s3: S3Client, version: StoredVersion): Promise<WholeVersion> {
  const input = pinned(version);
  const headers: Record<string, string> = input.IfMatch ? { 'if-match': input.IfMatch } : {};
  let response: ReceivedResponse | undefined;
  for (let attempt = 1; ; attempt++) {
    const url = await getSignedUrl(s3, new GetObjectCommand(input), { expiresIn: 900 });
    let failure: unknown;
    try {
      response = await receive(url, {
        headers,
        headersTimeout: WHOLE_TIMEOUT_MS,
        bodyTimeout: WHOLE_TIMEOUT_MS,
      });
      if (response.statusCode === 200) break;
      const text = (await response.body.text(16 * 1024).catch(() => undefined)) ?? '';
      const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1] ?? `Http${response.statusCode}`;
      const message = /<Message>([^<]{1,300})<\/Message>/.exec(text)?.[1] ?? 'no message';
      failure = new StoredReadError(
        code,
        response.statusCode,
        `S3 answered ${response.statusCode} (${code}: ${message}) to the read-back of ${version.key}`,
      );
      if (response.statusCode < 500 && response.statusCode !== 429) throw failure;
    } catch (error) {
      if (error === failure) throw error;
      failure = error;
    }
    if (attempt >= WHOLE_ATTEMPTS) throw failure;
    await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt * Math.random()));
  }
  const body = response.body;
  const versionHeader = response.headers['x-amz-version-id'];
  const queue: Buffer[] = [];
  let waiting: { resolve: (r: IteratorResult<Buffer>) => void; reject: (e: unknown) => void } | undefined;
  let room: (() => void) | undefined;
  let end: { error?: unknown } | undefined;
  let block: Block | undefined;
  let used = 0;
  /** Offset of the next byte of the body. */
  let received = 0;
  /** Blocks the reads are done with, oldest first, waiting for the reader to release them; then free. */
  const retired: Block[] = [];
  const free: Buffer[] = [];
  let releasedBelow = 0;
  const recycle = () => {
    while (retired.length > 0 && (retired[0] as Block).end <= releasedBelow)
      free.push((retired.shift() as Block).memory);
  };
  const finish = (error?: unknown) => {
    end ??= error === undefined ? {} : { error };
    const w = waiting;
    waiting = undefined;
    if (!w) return;
    if (end.error !== undefined) w.reject(end.error);
    else w.resolve({ done: true, value: undefined });
  };
  body
    .pipeTo({
      region: () => {
        if (!block || block.memory.length - used < MIN_READ_BYTES) {
          if (block) {
            block.end = received;
            retired.push(block);
            // Still held when the pool is full: no longer tracked (the garbage collector takes it when it is free).
            if (retired.length > POOLED_BLOCKS) retired.shift();
          }
          recycle();
          block = {
            memory: free.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES),
            end: Number.POSITIVE_INFINITY,
          };
          used = 0;
        }
        return block.memory.subarray(used);
      },
      write: (chunk) => {
        let owned: Buffer;
        const memory = block?.memory;
        if (memory && chunk.buffer === memory.buffer && chunk.byteOffset === memory.byteOffset + used) {
          owned = chunk;
          used += chunk.length;
        } else {
          // The reader's scratch memory (the bytes that came with the head): reused, so copied.
          owned = Buffer.from(chunk);
        }
        received += owned.length;
        const w = waiting;
        if (w) {
          waiting = undefined;
          w.resolve({ done: false, value: owned });
          return undefined;
        }
        queue.push(owned);
        if (queue.length < QUEUED_CHUNKS) return undefined;
        return new Promise<void>((resolve) => {
          room = resolve;
        });
      },
    })
    .then(
      () => finish(),
      (error: unknown) => finish(error),
    );
  const chunks: AsyncIterator<Buffer> = {
    next: () => {
      const chunk = queue.shift();
      if (chunk) {
        if (queue.length < QUEUED_CHUNKS && room) {
          const r = room;
          room = undefined;
          r();
        }
        return Promise.resolve({ done: false, value: chunk });
      }
      if (end)
        return end.error !== undefined
          ? Promise.reject(end.error)
          : Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
      });
    },
  };
  return {
    chunks,
    versionId: typeof versionHeader === 'string' ? versionHeader : undefined,
    release: (below) => {
      releasedBelow = Math.max(releasedBelow, below);
      recycle();
    },
    destroy: () => body.destroy(),
  };
}

/** What {@link verifyStoredZip} found. */
export interface StoredZipCheck {
  readonly readBack: ReadBackCheck;
  /** "Not available" without a comparison when the read-back did not verify (the listing is then not judged). */
  readonly listing: ListingCheck;
}

const DISCARDED: ListingCheck = notAvailable(
  'the stored bytes differ from the staged ones; the listing was not read',
);

/**
 * Reads the stored version back and checks it in one sequential pass (DESIGN §9): first the zip's tail (end
 * records, central directory) and the collector's listing, in small ranged GETs, then ONE GET of the whole version,
 * whose every byte goes into the object's SHA-256 while the entries are walked in order, each listed file hashed
 * (inflated where deflated) as it streams by. The read-back compares the SHA-256 and size with what staging
 * computed; only when they are equal is the listing judged (otherwise it is discarded, and any failure to read it
 * with it).
 */
export async function verifyStoredZip(
  s3: S3Client,
  version: StoredVersion,
  expected: { sha256: string; bytes: number },
): Promise<StoredZipCheck> {
  // The whole-version GET is sent at once; its body waits (the socket is paused) while the tail is read.
  const whole = openWholeVersion(s3, version).then(
    (out) => ({ out }),
    (error: unknown) => ({ error }),
  );
  const planned = await planListing(s3, version, expected.bytes).then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  const got = await whole;
  if ('error' in got) throw got.error;
  const hash = createHash('sha256');
  let bytes = 0;
  const reader = new SequentialReader(
    got.out.chunks,
    (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
    },
    (below) => got.out.release(below),
  );
  let pass: PassResult | undefined;
  try {
    if ('result' in planned && 'plan' in planned.result)
      pass = await walkZip(reader, planned.result.plan.layout, wantedBy(planned.result.plan));
    await reader.drain();
  } catch (error) {
    got.out.destroy();
    throw error;
  }
  const sha256 = hash.digest('hex');
  const status: ChainStatus =
    sha256 === expected.sha256 && bytes === expected.bytes ? 'verified' : 'mismatch';
  const readBack: ReadBackCheck = {
    status,
    sha256,
    bytes,
    versionId: got.out.versionId ?? version.versionId,
  };
  if (status !== 'verified') return { readBack, listing: DISCARDED };
  if ('error' in planned) throw planned.error;
  if ('check' in planned.result) return { readBack, listing: planned.result.check };
  return { readBack, listing: judgeListing(planned.result.plan, pass as PassResult) };
}

/**
 * The text of the shallowest entry whose base name is `baseName` in a stored zip (ranged reads of the pinned
 * version), or undefined when there is none, it is encrypted, or it exceeds `limit` bytes. Used for small records a
 * collector leaves beside its data (the direct-upload report).
 */
export async function readZipText(
  s3: S3Client,
  version: StoredVersion,
  size: number,
  baseName: string,
  limit: number,
): Promise<string | undefined> {
  const zip = await openZip(new S3RangeReader(s3, version), size);
  try {
    const depth = (name: string) => name.split('/').length;
    const match = (await entriesOf(zip))
      .filter((e) => e.fileName.split('/').pop() === baseName && !e.fileName.endsWith('/'))
      .sort((a, b) => depth(a.fileName) - depth(b.fileName))[0];
    if (!match || (match.generalPurposeBitFlag & 0x1) !== 0 || match.uncompressedSize > limit)
      return undefined;
    return await textOf(await entryStream(zip, match), limit);
  } finally {
    zip.close();
  }
}
