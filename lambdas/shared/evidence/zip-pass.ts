/**
 * One sequential pass over a stored zip whose layout is known (`zip-layout.ts`): every byte is handed to the
 * caller's whole-object hash as it arrives, and the entries are walked in order of their local headers, which must
 * tile the file exactly: the first at offset 0, each one's header, data and data descriptor running up to the next,
 * the last up to the central directory, and every local header agreeing with its central directory entry. Wanted
 * entries are hashed as they stream by (stored ones as they are, deflated ones through `node:zlib`, with
 * backpressure); nothing is buffered but a chunk and the headers.
 */
import { createHash } from 'node:crypto';
import { createInflateRaw } from 'node:zlib';
import { type CentralEntry, extraFields, type ZipLayout } from './zip-layout';

const SIG_LOCAL = 0x04034b50;
const SIG_DESCRIPTOR = 0x08074b50;
const U32_MAX = 0xffff_ffff;
const EMPTY = Buffer.alloc(0);
/**
 * Output buffer of the inflater. zlib's 16 KiB default makes a round trip to the thread pool per 16 KiB; 256 KiB
 * took 35 to 50% less CPU per GiB inflated (text and incompressible data alike), and one entry is open at a time.
 */
const INFLATE_CHUNK_BYTES = 256 * 1024;
/** Compressed bytes queued for the inflater before the pass waits for it. */
const INFLATE_QUEUE_BYTES = 2 * 1024 * 1024;

/**
 * The object's bytes in order, pulled one chunk at a time; each chunk goes to `onChunk` once, as it arrives.
 *
 * Memory the chunks live in may be reused by the source (a pool of receive blocks): the reader tells `release` the
 * object offset below which nobody holds a view any more. A part `stream` yields is valid until the next call on
 * the reader, unless it is pinned (`pin`) for longer, as the inflater's queued input is; `read` returns a copy.
 */
export class SequentialReader {
  private chunk: Buffer = EMPTY;
  private consumed = 0;
  private ended = false;
  /** Offset of the part handed out last (held until the next call). */
  private handedAt = 0;
  /** Offsets the caller pinned, oldest first (released in any order). */
  private readonly pins: number[] = [];
  private releasedTo = 0;

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly onChunk: (chunk: Buffer) => void,
    private readonly release: (below: number) => void = () => undefined,
  ) {}

  /** Offset of the next byte. */
  get position(): number {
    return this.consumed;
  }

  /**
   * Keeps the bytes from `offset` on (at most the current position) until the returned function is called; a pin
   * never released holds them for as long as the reader lives.
   */
  pin(offset: number): () => void {
    this.pins.push(offset);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.pins.splice(this.pins.indexOf(offset), 1);
      this.advance();
    };
  }

  private advance(): void {
    let below = this.handedAt;
    for (const offset of this.pins) below = Math.min(below, offset);
    if (below > this.releasedTo) {
      this.releasedTo = below;
      this.release(below);
    }
  }

  private async fill(): Promise<boolean> {
    while (this.chunk.length === 0) {
      if (this.ended) return false;
      this.handedAt = this.consumed;
      this.advance();
      const next = await this.source.next();
      if (next.done) {
        this.ended = true;
        return false;
      }
      this.onChunk(next.value);
      this.chunk = next.value;
    }
    return true;
  }

  private take(n: number): Buffer {
    const out = this.chunk.subarray(0, n);
    this.chunk = this.chunk.subarray(out.length);
    this.handedAt = this.consumed;
    this.consumed += out.length;
    return out;
  }

  /** The next `n` bytes in a buffer of their own (for headers); shorter only at the end of the object. */
  async read(n: number): Promise<Buffer> {
    if ((await this.fill()) && this.chunk.length >= n) return Buffer.from(this.take(n));
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n && (await this.fill())) {
      const part = Buffer.from(this.take(n - got));
      parts.push(part);
      got += part.length;
    }
    return Buffer.concat(parts, got);
  }

  /** The next `n` bytes as they arrive, without copies (each part valid until the next call); ends early at the end of the object. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0 && (await this.fill())) {
      const part = this.take(left);
      left -= part.length;
      yield part;
    }
  }

  /** Passes over the next `n` bytes; returns how many there were. */
  async skip(n: number): Promise<number> {
    let skipped = 0;
    while (skipped < n && (await this.fill())) skipped += this.take(n - skipped).length;
    return skipped;
  }

  /** Reads to the end of the object. */
  async drain(): Promise<void> {
    while (await this.fill()) this.take(this.chunk.length);
  }
}

/** A wanted entry's content: its SHA-256, or why it could not be read. */
export type EntryContent = { readonly sha256: string } | { readonly problem: string };

/** What the pass found. */
export interface PassResult {
  readonly contents: ReadonlyMap<CentralEntry, EntryContent>;
  /** The first structural problem (the walk stops there), or undefined when the entries tile the file exactly. */
  readonly structure: string | undefined;
}

/** The object ended before `what` did. */
class Truncated extends Error {}

/** Hashes the entry's content from the next `compressedSize` bytes, which it always consumes in full. */
async function content(reader: SequentialReader, entry: CentralEntry): Promise<EntryContent> {
  const size = entry.compressedSize;
  if (entry.method === 0) {
    const hash = createHash('sha256');
    let got = 0;
    for await (const chunk of reader.stream(size)) {
      hash.update(chunk);
      got += chunk.length;
    }
    if (got < size) throw new Truncated();
    if (entry.uncompressedSize !== size) return { problem: 'stored with two different sizes' };
    return { sha256: hash.digest('hex') };
  }
  if (entry.method !== 8) {
    if ((await reader.skip(size)) < size) throw new Truncated();
    return { problem: `compression method ${entry.method}, which Verify does not read` };
  }
  // The compressed bytes are written straight into the inflater, which works on libuv's thread pool while this
  // thread reads and hashes on; its output is hashed as it comes ('data' events: no stream pipeline, generator or
  // async iterator per chunk, which cost more CPU than the inflate of data that does not compress).
  const inflate = createInflateRaw({ chunkSize: INFLATE_CHUNK_BYTES });
  const hash = createHash('sha256');
  let inflated = 0;
  let problem: string | undefined;
  /** The inflater is done (its stream ended, or it failed): nothing more is written to it. */
  let stopped = false;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  inflate.on('data', (chunk: Buffer) => {
    inflated += chunk.length;
    if (inflated > entry.uncompressedSize) {
      problem ??= 'inflates to more than its recorded size';
      inflate.destroy();
      return;
    }
    hash.update(chunk);
  });
  inflate.on('drain', wakeUp);
  const done = new Promise<void>((resolve) => {
    inflate.once('end', resolve);
    inflate.once('close', resolve);
    inflate.once('error', (error) => {
      problem ??= `does not inflate: ${error.message}`;
      resolve();
    });
  }).then(() => {
    stopped = true;
    wakeUp();
  });
  let fed = 0;
  for await (const chunk of reader.stream(size)) {
    fed += chunk.length;
    // Once the inflater has stopped, the rest still belongs to the entry (read, not inflated).
    if (stopped || problem) continue;
    // The inflater reads the chunk's memory until its write is done; a write that failed (the inflater was
    // destroyed) may still be read by zlib's thread, so its memory is never released.
    const unpin = reader.pin(reader.position - chunk.length);
    inflate.write(chunk, (error) => {
      if (!error) unpin();
    });
    // A few reads stay queued (not one, as the stream's 16 KiB high-water mark would have it), so that the inflater
    // has work while this thread reads and hashes the next one.
    if (inflate.writableLength > INFLATE_QUEUE_BYTES) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }
  if (fed < size) {
    inflate.destroy();
    throw new Truncated();
  }
  if (!stopped && !problem) inflate.end();
  await done;
  if (problem) return { problem };
  if (inflate.bytesWritten !== size)
    return { problem: `${size - inflate.bytesWritten} compressed bytes after the end of its deflate stream` };
  if (inflated !== entry.uncompressedSize) return { problem: 'inflates to less than its recorded size' };
  return { sha256: hash.digest('hex') };
}

/** Local sizes, with the local zip64 extra field applied. */
function localSizes(
  header: Buffer,
  fields: readonly { id: number; data: Buffer }[],
): { crc32: number; compressed: number; uncompressed: number } | undefined {
  let uncompressed = header.readUInt32LE(22);
  let compressed = header.readUInt32LE(18);
  if (uncompressed === U32_MAX || compressed === U32_MAX) {
    const z = fields.find((f) => f.id === 0x0001)?.data;
    if (!z) return undefined;
    let at = 0;
    const next = () => {
      if (at + 8 > z.length) return Number.NaN;
      const value = Number(z.readBigUInt64LE(at));
      at += 8;
      return value;
    };
    if (uncompressed === U32_MAX) uncompressed = next();
    if (compressed === U32_MAX) compressed = next();
  }
  return { crc32: header.readUInt32LE(14), compressed, uncompressed };
}

/**
 * Walks the entries of `layout` in the object's order, hashing the `wanted` ones, then reads the central directory
 * and end records and compares them with the ones the layout was read from. Stops at the first structural
 * problem (the caller drains the rest).
 */
export async function walkZip(
  reader: SequentialReader,
  layout: ZipLayout,
  wanted: ReadonlySet<CentralEntry>,
): Promise<PassResult> {
  const contents = new Map<CentralEntry, EntryContent>();
  const stop = (structure: string): PassResult => ({ contents, structure });
  const order = [...layout.entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  try {
    for (let i = 0; i < order.length; i++) {
      const entry = order[i] as CentralEntry;
      const next = order[i + 1]?.localHeaderOffset ?? layout.centralDirectoryOffset;
      const here = reader.position;
      if (entry.localHeaderOffset > here)
        return stop(`${entry.localHeaderOffset - here} bytes at offset ${here} belong to no entry`);
      if (entry.localHeaderOffset < here) return stop(`${entry.name} overlaps the entry before it`);
      const header = await reader.read(30);
      if (header.length < 30) throw new Truncated();
      if (header.readUInt32LE(0) !== SIG_LOCAL)
        return stop(`no local header for ${entry.name} at offset ${here}`);
      const flags = header.readUInt16LE(6);
      const nameLength = header.readUInt16LE(26);
      const extraLength = header.readUInt16LE(28);
      const rest = await reader.read(nameLength + extraLength);
      if (rest.length < nameLength + extraLength) throw new Truncated();
      const disagrees = (what: string) =>
        stop(`the local header of ${entry.name} disagrees with the directory (${what})`);
      if (!rest.subarray(0, nameLength).equals(entry.rawName)) return disagrees('name');
      if (header.readUInt16LE(8) !== entry.method) return disagrees('compression method');
      if ((flags & 0x9) !== (entry.flags & 0x9)) return disagrees('flags');
      const fields = extraFields(rest.subarray(nameLength));
      if (!fields) return stop(`the local header of ${entry.name} has a malformed extra field`);
      const local = localSizes(header, fields);
      const deferred = (flags & 0x8) !== 0;
      // With a data descriptor writers leave each field 0 or fill it in (Info-ZIP streaming writes the size).
      const same = (value: number, want: number) => value === want || (deferred && value === 0);
      const agrees =
        local !== undefined &&
        same(local.crc32, entry.crc32) &&
        same(local.compressed, entry.compressedSize) &&
        same(local.uncompressed, entry.uncompressedSize);
      if (!agrees) return disagrees('sizes or CRC');
      if (reader.position + entry.compressedSize > next)
        return stop(`${entry.name} overlaps the entry after it`);
      if (wanted.has(entry)) contents.set(entry, await content(reader, entry));
      else if ((await reader.skip(entry.compressedSize)) < entry.compressedSize) throw new Truncated();
      if (!deferred) continue;
      // The data descriptor runs up to the next entry: 12 or 20 bytes (32- or 64-bit sizes), 4 more with its
      // signature; whatever it holds must be what the directory says.
      const length = next - reader.position;
      if (![12, 16, 20, 24].includes(length))
        return stop(`${length} bytes after ${entry.name} are not a data descriptor`);
      const d = await reader.read(length);
      if (d.length < length) throw new Truncated();
      const signed = length === 16 || length === 24;
      if (signed && d.readUInt32LE(0) !== SIG_DESCRIPTOR)
        return stop(`${length} bytes after ${entry.name} are not a data descriptor`);
      const s = signed ? 4 : 0;
      const wide = length >= 20;
      const crc = d.readUInt32LE(s);
      const compressed = wide ? Number(d.readBigUInt64LE(s + 4)) : d.readUInt32LE(s + 4);
      const uncompressed = wide ? Number(d.readBigUInt64LE(s + 12)) : d.readUInt32LE(s + 8);
      if (
        crc !== entry.crc32 ||
        compressed !== entry.compressedSize ||
        uncompressed !== entry.uncompressedSize
      )
        return stop(`the data descriptor of ${entry.name} disagrees with the directory`);
    }
    const here = reader.position;
    if (here < layout.centralDirectoryOffset)
      return stop(`${layout.centralDirectoryOffset - here} bytes at offset ${here} belong to no entry`);
    // The directory and end records, byte for byte as the layout was read from them.
    const tail = createHash('sha256');
    let tailBytes = 0;
    for await (const chunk of reader.stream(layout.size - here)) {
      tail.update(chunk);
      tailBytes += chunk.length;
    }
    if (
      tailBytes !== layout.tail.length ||
      !tail.digest().equals(createHash('sha256').update(layout.tail).digest())
    )
      return stop('the central directory read in the pass differs from the one read first');
    return { contents, structure: undefined };
  } catch (error) {
    if (error instanceof Truncated) return stop('the object ends inside an entry');
    throw error;
  }
}
