/**
 * A zip writer for result files that never holds the archive in memory: the archive is a list of segments
 * (headers as small buffers, entry data as {@link ByteSource}s that can produce any byte range on demand), so
 * any range of a 2 GiB archive can be served with O(chunk) memory.
 *
 * Entries are stored (method 0, no compression) with the CRC-32 in the local header, which means each entry's
 * CRC must be known before the archive's first byte is produced (see {@link crc32Of}). Archives are capped
 * below 4 GiB so no ZIP64 records are needed.
 */
import { createCipheriv } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** Chunk size used when producing bytes. */
export const CHUNK_SIZE = 256 * 1024;

/** Largest archive this writer produces (classic zip offsets are 32-bit). */
export const MAX_ZIP_SIZE = 0xffff_ffff;

/** A source of bytes that can produce any half-open range [start, end) as a sequence of chunks. */
export interface ByteSource {
  readonly size: number;
  read(start: number, end: number): Iterable<Buffer>;
}

/** Bytes held in memory (headers, small caller-supplied entries). */
export class BufferSource implements ByteSource {
  constructor(private readonly buffer: Buffer) {}

  get size(): number {
    return this.buffer.length;
  }

  *read(start: number, end: number): Iterable<Buffer> {
    for (let pos = start; pos < end; pos += CHUNK_SIZE) {
      yield this.buffer.subarray(pos, Math.min(end, pos + CHUNK_SIZE));
    }
  }
}

/** murmur3's 32-bit finaliser: a cheap, well-mixed hash of an integer. */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Deterministic pseudo-random bytes without per-byte work: block `b` (one pool length) is the random `pool`
 * rotated by an offset hashed from `key` and `b`. Any range is produced directly from its block numbers, as
 * zero-copy views of the shared pool, so a 2 GiB result costs no memory and serving it costs no CPU beyond
 * the socket. (Not cryptographic: blocks are rotations of one pool, which is fine for test evidence.)
 */
export class PatternSource implements ByteSource {
  constructor(
    private readonly pool: Buffer,
    private readonly key: number,
    readonly size: number,
  ) {
    if (pool.length === 0) throw new RangeError('PatternSource needs a non-empty pool');
  }

  private rotation(block: number): number {
    return mix32(this.key ^ Math.imul(block + 1, 0x9e3779b1)) % this.pool.length;
  }

  *read(start: number, end: number): Iterable<Buffer> {
    const poolSize = this.pool.length;
    for (let pos = start; pos < Math.min(end, this.size); ) {
      const block = Math.floor(pos / poolSize);
      const within = pos - block * poolSize;
      const length = Math.min(poolSize - within, Math.min(end, this.size) - pos, CHUNK_SIZE);
      const from = (within + this.rotation(block)) % poolSize;
      if (from + length <= poolSize) {
        yield this.pool.subarray(from, from + length);
      } else {
        yield this.pool.subarray(from);
        yield this.pool.subarray(0, length - (poolSize - from));
      }
      pos += length;
    }
  }
}

/** `size` bytes of the AES-128-CTR keystream of `key`: the random material behind {@link PatternSource}. */
export function keystream(key: Buffer, size: number): Buffer {
  if (key.length !== 16) throw new RangeError('keystream needs a 16-byte key');
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/** CRC-32 of a whole source, yielding to the event loop now and then so a large source does not stall it. */
export async function crc32Of(source: ByteSource): Promise<number> {
  let crc = 0;
  let sinceYield = 0;
  for (const chunk of source.read(0, source.size)) {
    crc = crc32(chunk, crc);
    sinceYield += chunk.length;
    if (sinceYield >= 16 * 1024 * 1024) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return crc;
}

/** One archive entry with its data source and precomputed CRC-32. */
export interface ZipEntrySource {
  readonly name: string;
  readonly source: ByteSource;
  readonly crc32: number;
}

interface Segment {
  readonly offset: number;
  readonly source: ByteSource;
}

/** Signatures and fixed fields of the classic zip format (APPNOTE 4.3). */
const LOCAL_HEADER_SIG = 0x04034b50;
const CENTRAL_HEADER_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const VERSION_NEEDED = 10; // 1.0: stored entries only
const FLAG_UTF8 = 0x0800;

function dosDateTime(at: Date): { time: number; date: number } {
  const year = Math.max(1980, at.getUTCFullYear());
  return {
    time: (at.getUTCHours() << 11) | (at.getUTCMinutes() << 5) | Math.floor(at.getUTCSeconds() / 2),
    date: ((year - 1980) << 9) | ((at.getUTCMonth() + 1) << 5) | at.getUTCDate(),
  };
}

/** Thrown when entries cannot form a classic (non-ZIP64) archive. */
export class ZipLimitError extends Error {
  override readonly name = 'ZipLimitError';
}

/** The byte layout of a stored-entries zip archive; produces any range of it on demand. */
export class ZipArchive implements ByteSource {
  readonly size: number;
  private readonly segments: Segment[] = [];

  constructor(entries: readonly ZipEntrySource[], modifiedAt: Date) {
    if (entries.length === 0 || entries.length > 0xffff)
      throw new ZipLimitError('a zip needs 1 to 65535 entries');
    const { time, date } = dosDateTime(modifiedAt);
    const central: Buffer[] = [];
    let offset = 0;
    for (const entry of entries) {
      const name = Buffer.from(entry.name, 'utf8');
      if (
        name.length === 0 ||
        name.length > 0xffff ||
        entry.name.startsWith('/') ||
        entry.name.includes('..')
      ) {
        throw new ZipLimitError(`invalid entry name "${entry.name}"`);
      }
      const size = entry.source.size;
      const local = Buffer.alloc(30 + name.length);
      local.writeUInt32LE(LOCAL_HEADER_SIG, 0);
      local.writeUInt16LE(VERSION_NEEDED, 4);
      local.writeUInt16LE(FLAG_UTF8, 6);
      local.writeUInt16LE(0, 8); // method: stored
      local.writeUInt16LE(time, 10);
      local.writeUInt16LE(date, 12);
      local.writeUInt32LE(entry.crc32 >>> 0, 14);
      local.writeUInt32LE(size, 18);
      local.writeUInt32LE(size, 22);
      local.writeUInt16LE(name.length, 26);
      local.writeUInt16LE(0, 28);
      name.copy(local, 30);

      const header = Buffer.alloc(46 + name.length);
      header.writeUInt32LE(CENTRAL_HEADER_SIG, 0);
      header.writeUInt16LE(VERSION_NEEDED, 4); // made by: MS-DOS, 1.0
      header.writeUInt16LE(VERSION_NEEDED, 6);
      header.writeUInt16LE(FLAG_UTF8, 8);
      header.writeUInt16LE(0, 10);
      header.writeUInt16LE(time, 12);
      header.writeUInt16LE(date, 14);
      header.writeUInt32LE(entry.crc32 >>> 0, 16);
      header.writeUInt32LE(size, 20);
      header.writeUInt32LE(size, 24);
      header.writeUInt16LE(name.length, 28);
      // extra length, comment length, disk number, internal and external attributes stay 0
      header.writeUInt32LE(offset, 42);
      name.copy(header, 46);
      central.push(header);

      this.push(offset, new BufferSource(local));
      offset += local.length;
      this.push(offset, entry.source);
      offset += size;
      if (offset > MAX_ZIP_SIZE)
        throw new ZipLimitError('archive would exceed 4 GiB (ZIP64 is not supported)');
    }
    const centralStart = offset;
    const centralDirectory = Buffer.concat(central);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(EOCD_SIG, 0);
    eocd.writeUInt16LE(entries.length, 8);
    eocd.writeUInt16LE(entries.length, 10);
    eocd.writeUInt32LE(centralDirectory.length, 12);
    eocd.writeUInt32LE(centralStart, 16);
    const tail = Buffer.concat([centralDirectory, eocd]);
    if (centralStart + tail.length > MAX_ZIP_SIZE) throw new ZipLimitError('archive would exceed 4 GiB');
    this.push(centralStart, new BufferSource(tail));
    this.size = centralStart + tail.length;
  }

  private push(offset: number, source: ByteSource): void {
    if (source.size > 0) this.segments.push({ offset, source });
  }

  *read(start: number, end: number): Iterable<Buffer> {
    const to = Math.min(end, this.size);
    for (const segment of this.segments) {
      const segEnd = segment.offset + segment.source.size;
      if (segEnd <= start) continue;
      if (segment.offset >= to) break;
      yield* segment.source.read(
        Math.max(start, segment.offset) - segment.offset,
        Math.min(to, segEnd) - segment.offset,
      );
    }
  }
}
