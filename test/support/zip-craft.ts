/**
 * A small zip writer for tests of the zip reader: stored or deflated entries, data descriptors with or without
 * their signature, zip64 fields, and the crafted damage a reader must refuse (bytes hidden between entries, local
 * headers that disagree with the central directory, a deflate stream padded inside its compressed size).
 * Valid output is checked against yauzl (an independent reader) in the tests.
 */
import { crc32, deflateRawSync } from 'node:zlib';

export interface CraftEntry {
  readonly name: string;
  readonly content: Buffer;
  /** 0 stored, 8 deflated (default), anything else written as is (stored bytes). */
  readonly method?: number;
  /** Sizes and CRC after the data instead of in the local header. */
  readonly descriptor?: 'signed' | 'unsigned';
  /** zip64 extra fields for this entry (sizes and offset), and 64-bit sizes in its descriptor. */
  readonly zip64?: boolean;
  /** Bytes written after the entry (after its descriptor), that no entry accounts for. */
  readonly hiddenAfter?: Buffer;
  /** Bytes appended to the compressed data and counted in the compressed size (never inflated). */
  readonly padCompressed?: Buffer;
  /** Another name in the local header than in the central directory. */
  readonly localName?: string;
  /** Another uncompressed size in the local header (or descriptor) than in the central directory. */
  readonly localSizeDelta?: number;
}

export interface CraftSpec {
  readonly entries: readonly CraftEntry[];
  /** Bytes before the first local header. */
  readonly prefix?: Buffer;
  /** zip64 end of central directory record and locator. */
  readonly zip64End?: boolean;
  /** Central directory records pointing at an existing entry's local header under another name. */
  readonly aliases?: readonly { readonly name: string; readonly of: number }[];
  readonly comment?: string;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

const MAX32 = 0xffff_ffff;

/** The zip's bytes. */
export function craftZip(spec: CraftSpec): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  if (spec.prefix) push(spec.prefix);
  const central: Buffer[] = [];
  const records: {
    name: Buffer;
    flags: number;
    method: number;
    crc: number;
    csize: number;
    usize: number;
    lho: number;
    zip64: boolean;
  }[] = [];
  for (const entry of spec.entries) {
    const method = entry.method ?? 8;
    const data = Buffer.concat([
      method === 8 ? deflateRawSync(entry.content) : entry.content,
      entry.padCompressed ?? Buffer.alloc(0),
    ]);
    const crc = crc32(entry.content);
    const name = Buffer.from(entry.name);
    const localName = Buffer.from(entry.localName ?? entry.name);
    const flags = 0x800 | (entry.descriptor ? 0x8 : 0);
    const zip64 = entry.zip64 ?? false;
    const usize = entry.content.length;
    const localUsize = usize + (entry.localSizeDelta ?? 0);
    const lho = offset;
    const inHeader = !entry.descriptor;
    const localExtra = zip64
      ? Buffer.concat([u16(1), u16(16), u64(inHeader ? localUsize : 0), u64(inHeader ? data.length : 0)])
      : Buffer.alloc(0);
    push(
      Buffer.concat([
        u32(0x04034b50),
        u16(zip64 ? 45 : 20),
        u16(flags),
        u16(method),
        u16(0),
        u16(0x21),
        u32(inHeader ? crc : 0),
        u32(zip64 ? MAX32 : inHeader ? data.length : 0),
        u32(zip64 ? MAX32 : inHeader ? localUsize : 0),
        u16(localName.length),
        u16(localExtra.length),
        localName,
        localExtra,
      ]),
    );
    push(data);
    if (entry.descriptor) {
      push(
        Buffer.concat([
          entry.descriptor === 'signed' ? u32(0x08074b50) : Buffer.alloc(0),
          u32(crc),
          zip64 ? u64(data.length) : u32(data.length),
          zip64 ? u64(localUsize) : u32(localUsize),
        ]),
      );
    }
    if (entry.hiddenAfter) push(entry.hiddenAfter);
    records.push({ name, flags, method, crc, csize: data.length, usize, lho, zip64 });
  }
  for (const alias of spec.aliases ?? []) {
    const of = records[alias.of];
    if (!of) throw new RangeError('no such entry');
    records.push({ ...of, name: Buffer.from(alias.name) });
  }
  for (const r of records) {
    const extra = r.zip64
      ? Buffer.concat([u16(1), u16(24), u64(r.usize), u64(r.csize), u64(r.lho)])
      : Buffer.alloc(0);
    central.push(
      Buffer.concat([
        u32(0x02014b50),
        u16(r.zip64 ? 45 : 20),
        u16(r.zip64 ? 45 : 20),
        u16(r.flags),
        u16(r.method),
        u16(0),
        u16(0x21),
        u32(r.crc),
        u32(r.zip64 ? MAX32 : r.csize),
        u32(r.zip64 ? MAX32 : r.usize),
        u16(r.name.length),
        u16(extra.length),
        u16(0),
        u16(0),
        u16(0),
        u32(0),
        u32(r.zip64 ? MAX32 : r.lho),
        r.name,
        extra,
      ]),
    );
  }
  const cd = Buffer.concat(central);
  const cdOffset = offset;
  push(cd);
  const count = records.length;
  if (spec.zip64End) {
    const z64 = offset;
    push(
      Buffer.concat([
        u32(0x06064b50),
        u64(44),
        u16(45),
        u16(45),
        u32(0),
        u32(0),
        u64(count),
        u64(count),
        u64(cd.length),
        u64(cdOffset),
      ]),
    );
    push(Buffer.concat([u32(0x07064b50), u32(0), u64(z64), u32(1)]));
  }
  const comment = Buffer.from(spec.comment ?? '');
  push(
    Buffer.concat([
      u32(0x06054b50),
      u16(0),
      u16(0),
      u16(spec.zip64End ? 0xffff : count),
      u16(spec.zip64End ? 0xffff : count),
      u32(spec.zip64End ? MAX32 : cd.length),
      u32(spec.zip64End ? MAX32 : cdOffset),
      u16(comment.length),
      comment,
    ]),
  );
  return Buffer.concat(parts);
}
