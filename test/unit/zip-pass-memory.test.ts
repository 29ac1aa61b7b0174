/**
 * The pass's contract with memory it does not own (verify-zip.ts reuses its receive blocks): a source that scribbles
 * over every byte as soon as the reader releases it must not change what the pass finds. If the reader released a
 * part the caller still holds, or the inflater's queued input, some entry would hash other bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readZipLayout } from '../../lambdas/shared/evidence/zip-layout';
import { SequentialReader, walkZip } from '../../lambdas/shared/evidence/zip-pass';
import { craftZip } from '../support/zip-craft';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** `zip` in fresh 64 KiB chunks; each chunk is overwritten with 0xAA once the reader releases all of it. */
function scribblingSource(zip: Buffer) {
  const handed: { start: number; chunk: Buffer }[] = [];
  let at = 0;
  let releasedBelow = 0;
  const source: AsyncIterator<Buffer> = {
    next: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      if (at >= zip.length) return { done: true, value: undefined };
      const chunk = Buffer.from(zip.subarray(at, at + 64 * 1024));
      handed.push({ start: at, chunk });
      at += chunk.length;
      return { done: false, value: chunk };
    },
  };
  const release = (below: number) => {
    expect(below).toBeGreaterThanOrEqual(releasedBelow);
    releasedBelow = below;
    while (handed.length > 0 && (handed[0] as { start: number; chunk: Buffer }).start + 64 * 1024 <= below)
      handed.shift()?.chunk.fill(0xaa);
  };
  return { source, release, releasedBelow: () => releasedBelow };
}

describe('the sequential pass over memory that is reused once released', () => {
  const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `line ${i} of the log\n`).join(''));
  const entries = [
    { name: 'a/text.log', content: text },
    { name: 'a/random.bin', content: randomBytes(2 * 1024 * 1024) },
    { name: 'a/stored.bin', content: randomBytes(700 * 1024), method: 0 },
    { name: 'a/tail.txt', content: text.subarray(0, 5000) },
  ];
  const zip = craftZip({ entries });

  it('hashes every entry as written while the source scribbles over what it released', async () => {
    const layout = await readZipLayout(async (s, e) => Buffer.from(zip.subarray(s, e)), zip.length);
    const { source, release, releasedBelow } = scribblingSource(zip);
    const whole = createHash('sha256');
    const reader = new SequentialReader(source, (chunk) => whole.update(chunk), release);
    const pass = await walkZip(reader, layout, new Set(layout.entries));
    await reader.drain();
    expect(pass.structure).toBeUndefined();
    expect(whole.digest('hex')).toBe(sha(zip));
    const byName = new Map(layout.entries.map((e) => [e.name, pass.contents.get(e)]));
    for (const entry of entries) expect(byName.get(entry.name)).toEqual({ sha256: sha(entry.content) });
    // It released as it went (most of the object), not only at the end.
    expect(releasedBelow()).toBeGreaterThan(zip.length - 128 * 1024);
  });

  it('read() hands out a copy: the header bytes survive the release of their chunk', async () => {
    const { source, release } = scribblingSource(zip);
    const reader = new SequentialReader(source, () => undefined, release);
    const header = await reader.read(30);
    await reader.skip(200 * 1024);
    expect(header.readUInt32LE(0)).toBe(0x04034b50);
  });
});
