/**
 * The layout of a stored zip, read from its tail (end of central directory record, zip64 records where present,
 * central directory) and nothing else, so that the entries can then be read in one sequential pass over the whole
 * object (see `zip-pass.ts`). Strict where a lenient reader would hide bytes: the end record must end the file
 * (its comment included), the central directory must run exactly up to the end records, single disk only.
 */
import { crc32 } from 'node:zlib';

const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_END = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const END_BYTES = 22;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_END_BYTES = 56;
const MAX_COMMENT = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;

/** Largest central directory read (a collector writes a few thousand entries, well under 1 MiB). */
export const MAX_CENTRAL_DIRECTORY_BYTES = 16 * 1024 * 1024;
/** What the first read of the tail asks for: the end records and, for a collector's zip, the whole directory. */
export const TAIL_READ_BYTES = 256 * 1024;

/** The object is not a zip this reader can read (no comparison is possible; never a verdict on the evidence). */
export class ZipFormatError extends Error {
  override readonly name = 'ZipFormatError';
}

/** One central directory entry, with zip64 values applied. */
export interface CentralEntry {
  /** Decoded as unzip tools do (UTF-8 flag, Info-ZIP Unicode path, else CP437), backslashes as slashes. */
  readonly name: string;
  readonly rawName: Buffer;
  readonly flags: number;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  /** The entry needed zip64 fields (sizes or offset beyond 32 bits). */
  readonly zip64: boolean;
}

/** Where everything is. */
export interface ZipLayout {
  readonly size: number;
  /** Central directory order. */
  readonly entries: readonly CentralEntry[];
  readonly centralDirectoryOffset: number;
  /** The bytes from the central directory to the end of the file, as the tail read found them. */
  readonly tail: Buffer;
  /** Everything the tail reads brought (from `start` to the end of the file), for small entries near the end. */
  readonly buffered: { readonly start: number; readonly bytes: Buffer };
}

/** Reads `[start, end)` of the object. */
export type RangeReader = (start: number, end: number) => Promise<Buffer>;

const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function cp437(raw: Buffer): string {
  let out = '';
  for (const byte of raw) out += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80];
  return out;
}

/** The `(id, data)` records of an extra field; undefined when they do not exactly fill it. */
export function extraFields(extra: Buffer): { id: number; data: Buffer }[] | undefined {
  const fields: { id: number; data: Buffer }[] = [];
  let at = 0;
  while (at < extra.length) {
    if (at + 4 > extra.length) return undefined;
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (at + 4 + length > extra.length) return undefined;
    fields.push({ id, data: extra.subarray(at + 4, at + 4 + length) });
    at += 4 + length;
  }
  return fields;
}

function decodeName(raw: Buffer, flags: number, fields: readonly { id: number; data: Buffer }[]): string {
  let name: string | undefined;
  const unicode = fields.find((f) => f.id === 0x7075);
  if (
    unicode &&
    unicode.data.length >= 6 &&
    unicode.data[0] === 1 &&
    unicode.data.readUInt32LE(1) === crc32(raw)
  )
    name = unicode.data.subarray(5).toString('utf8');
  name ??= flags & 0x800 ? raw.toString('utf8') : cp437(raw);
  return name.replace(/\\/g, '/');
}

function u64(buf: Buffer, at: number): number {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('a zip64 field is beyond 2^53');
  return Number(value);
}

function parseCentralDirectory(cd: Buffer, count: number, size: number): CentralEntry[] {
  const entries: CentralEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cd.length || cd.readUInt32LE(at) !== SIG_CENTRAL)
      throw new ZipFormatError(`central directory entry ${i} is not where the directory says`);
    const flags = cd.readUInt16LE(at + 8);
    const method = cd.readUInt16LE(at + 10);
    const crc = cd.readUInt32LE(at + 16);
    let compressedSize = cd.readUInt32LE(at + 20);
    let uncompressedSize = cd.readUInt32LE(at + 24);
    const nameLength = cd.readUInt16LE(at + 28);
    const extraLength = cd.readUInt16LE(at + 30);
    const commentLength = cd.readUInt16LE(at + 32);
    const disk = cd.readUInt16LE(at + 34);
    let localHeaderOffset = cd.readUInt32LE(at + 42);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > cd.length) throw new ZipFormatError(`central directory entry ${i} runs past the directory`);
    const rawName = cd.subarray(at + 46, at + 46 + nameLength);
    const fields = extraFields(cd.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength));
    if (!fields) throw new ZipFormatError(`central directory entry ${i} has a malformed extra field`);
    let zip64 = false;
    if (uncompressedSize === U32_MAX || compressedSize === U32_MAX || localHeaderOffset === U32_MAX) {
      const z = fields.find((f) => f.id === 0x0001);
      if (!z) throw new ZipFormatError(`central directory entry ${i} lacks its zip64 extra field`);
      let zat = 0;
      const next = () => {
        if (zat + 8 > z.data.length) throw new ZipFormatError(`entry ${i}'s zip64 extra field is short`);
        const value = u64(z.data, zat);
        zat += 8;
        return value;
      };
      if (uncompressedSize === U32_MAX) uncompressedSize = next();
      if (compressedSize === U32_MAX) compressedSize = next();
      if (localHeaderOffset === U32_MAX) localHeaderOffset = next();
      zip64 = true;
    }
    if (disk !== 0 && disk !== U16_MAX) throw new ZipFormatError('multi-disk zips are not supported');
    if (localHeaderOffset + 30 + compressedSize > size)
      throw new ZipFormatError(`central directory entry ${i} points past the end of the file`);
    entries.push({
      name: decodeName(rawName, flags, fields),
      rawName,
      flags,
      method,
      crc32: crc,
      compressedSize,
      uncompressedSize,
      localHeaderOffset,
      zip64,
    });
    at = end;
  }
  if (at !== cd.length)
    throw new ZipFormatError(`${cd.length - at} bytes in the central directory belong to no entry`);
  return entries;
}

/**
 * Reads the layout of a zip of `size` bytes: one ranged read of the tail, another only when the central directory
 * (or a zip64 end record) starts before it.
 */
export async function readZipLayout(read: RangeReader, size: number): Promise<ZipLayout> {
  if (size < END_BYTES) throw new ZipFormatError('too short for a zip');
  let tailStart = Math.max(0, size - TAIL_READ_BYTES);
  let tail = await read(tailStart, size);
  if (tail.length !== size - tailStart) throw new ZipFormatError('the tail read came back short');
  const ensure = async (from: number) => {
    if (from >= tailStart) return;
    if (size - from > MAX_CENTRAL_DIRECTORY_BYTES + TAIL_READ_BYTES)
      throw new ZipFormatError(`the central directory is larger than ${MAX_CENTRAL_DIRECTORY_BYTES} bytes`);
    const more = await read(from, tailStart);
    if (more.length !== tailStart - from) throw new ZipFormatError('a read of the directory came back short');
    tail = Buffer.concat([more, tail]);
    tailStart = from;
  };
  const at = (offset: number) => offset - tailStart;

  // The end record: its comment must run exactly to the end of the file (nothing after it).
  let end = -1;
  for (let i = size - END_BYTES; i >= Math.max(0, size - END_BYTES - MAX_COMMENT); i--) {
    if (tail.readUInt32LE(at(i)) === SIG_END && tail.readUInt16LE(at(i) + 20) === size - i - END_BYTES) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new ZipFormatError('no end of central directory record');
  const e = at(end);
  if (tail.readUInt16LE(e + 4) !== 0 || tail.readUInt16LE(e + 6) !== 0)
    throw new ZipFormatError('multi-disk zips are not supported');
  let count = tail.readUInt16LE(e + 10);
  let cdSize = tail.readUInt32LE(e + 12);
  let cdOffset = tail.readUInt32LE(e + 16);
  let recordsStart = end;

  const locator = end - ZIP64_LOCATOR_BYTES;
  if (locator >= 0 && tail.readUInt32LE(at(locator)) === SIG_ZIP64_LOCATOR) {
    const l = at(locator);
    if (tail.readUInt32LE(l + 4) !== 0 || tail.readUInt32LE(l + 16) > 1)
      throw new ZipFormatError('multi-disk zips are not supported');
    const z64 = u64(tail, l + 8);
    if (z64 + ZIP64_END_BYTES > locator) throw new ZipFormatError('the zip64 end record is out of place');
    await ensure(z64);
    const z = at(z64);
    if (tail.readUInt32LE(z) !== SIG_ZIP64_END)
      throw new ZipFormatError('no zip64 end of central directory record');
    if (z64 + 12 + u64(tail, z + 4) !== locator)
      throw new ZipFormatError('bytes between the zip64 end record and its locator');
    if (tail.readUInt32LE(z + 16) !== 0 || tail.readUInt32LE(z + 20) !== 0)
      throw new ZipFormatError('multi-disk zips are not supported');
    count = u64(tail, z + 32);
    cdSize = u64(tail, z + 40);
    cdOffset = u64(tail, z + 48);
    recordsStart = z64;
  } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    throw new ZipFormatError('zip64 values without a zip64 end record');
  }
  if (cdOffset + cdSize !== recordsStart)
    throw new ZipFormatError('the central directory does not end where the end record starts');
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES)
    throw new ZipFormatError(`the central directory is larger than ${MAX_CENTRAL_DIRECTORY_BYTES} bytes`);
  await ensure(cdOffset);
  const entries = parseCentralDirectory(tail.subarray(at(cdOffset), at(cdOffset + cdSize)), count, size);
  return {
    size,
    entries,
    centralDirectoryOffset: cdOffset,
    tail: tail.subarray(at(cdOffset)),
    buffered: { start: tailStart, bytes: tail },
  };
}
