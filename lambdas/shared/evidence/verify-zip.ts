/**
 * Read-back verification of a staged object (DESIGN §9 "Closed-loop integrity"): the exact stored version is read
 * from S3 once, start to end, for its SHA-256 and size; then the zip is opened over ranged reads of that same
 * version (`yauzl`, central directory first, one entry streamed at a time) and every entry is checked against the
 * collector's `SHA256SUMS`. Memory stays bounded whatever the size: nothing is buffered but a window of each stream
 * and the listing itself (capped).
 */
import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type GetObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import yauzl from 'yauzl';
import type { ChainStatus, ListingCheck, ReadBackCheck } from './chain';

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

/** Reads the stored version once and hashes it; compares with the staged hash and size. */
export async function readBack(
  s3: S3Client,
  version: StoredVersion,
  expected: { sha256: string; bytes: number },
): Promise<ReadBackCheck> {
  const out = await s3.send(new GetObjectCommand(pinned(version)));
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(out.Body as Readable, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  });
  const sha256 = hash.digest('hex');
  const status: ChainStatus =
    sha256 === expected.sha256 && bytes === expected.bytes ? 'verified' : 'mismatch';
  return { status, sha256, bytes, versionId: out.VersionId ?? version.versionId };
}

/** yauzl's random access over ranged GETs of one pinned version. */
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

async function hashOf(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
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

/**
 * Opens the zip over ranged reads and checks every file against the collector's `SHA256SUMS` (the shallowest one
 * in the archive; paths in it are relative to its folder). No listing, or an encrypted archive, is "not available"
 * (said so, never guessed); a file listed but absent, present but not listed, or with another hash is a mismatch.
 */
export async function checkListing(
  s3: S3Client,
  version: StoredVersion,
  size: number,
): Promise<ListingCheck> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(new S3RangeReader(s3, version), size);
  } catch (error) {
    return notAvailable(`not a readable zip: ${(error as Error).message}`.slice(0, 300));
  }
  try {
    const all = await entriesOf(zip);
    const files = all.filter((e) => !e.fileName.endsWith('/'));
    if (files.some((e) => e.isEncrypted())) return notAvailable('the zip is encrypted', true);
    const listings = files
      .filter((e) => e.fileName === LISTING_NAME || e.fileName.endsWith(`/${LISTING_NAME}`))
      .sort((a, b) => a.fileName.split('/').length - b.fileName.split('/').length);
    const listingEntry = listings[0];
    if (!listingEntry) return notAvailable(`the zip has no ${LISTING_NAME} (not our collector's output)`);
    const base = listingEntry.fileName.slice(0, listingEntry.fileName.length - LISTING_NAME.length);
    const text = await textOf(await entryStream(zip, listingEntry), MAX_LISTING_BYTES);
    if (text === undefined) return notAvailable(`${LISTING_NAME} is larger than ${MAX_LISTING_BYTES} bytes`);
    const { entries: listed, malformed } = parseListing(text);
    const problems: string[] = [];
    const note = (p: string) => {
      if (problems.length < MAX_NAMED_PROBLEMS) problems.push(p);
    };
    if (malformed > 0) note(`${malformed} malformed line(s) in ${LISTING_NAME}`);
    let verified = 0;
    let mismatched = 0;
    let extra = 0;
    const seen = new Set<string>();
    for (const entry of files) {
      if (entry === listingEntry) continue;
      if (!entry.fileName.startsWith(base)) {
        extra++;
        note(`extra: ${entry.fileName}`);
        continue;
      }
      const rel = entry.fileName.slice(base.length);
      const want = listed.get(rel);
      if (want === undefined) {
        extra++;
        note(`extra: ${rel}`);
        continue;
      }
      seen.add(rel);
      const got = await hashOf(await entryStream(zip, entry));
      if (got === want) verified++;
      else {
        mismatched++;
        note(`mismatch: ${rel}`);
      }
    }
    const missingNames = [...listed.keys()].filter((p) => !seen.has(p));
    for (const p of missingNames) note(`missing: ${p}`);
    const ok = mismatched === 0 && missingNames.length === 0 && extra === 0 && malformed === 0;
    return {
      status: ok ? 'verified' : 'mismatch',
      encrypted: false,
      listingPath: listingEntry.fileName,
      filesListed: listed.size,
      verified,
      mismatched,
      missing: missingNames.length,
      extra,
      problems,
    };
  } finally {
    zip.close();
  }
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
