/**
 * Verify's one-pass read of a stored zip against s3rver: the layouts collectors write (stored and deflated
 * entries, data descriptors, zip64) verify, every GET is pinned and only one reads the whole object, and crafted
 * zips whose bytes are not all accounted for by their entries do not verify, whatever their hashes say.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type GetObjectCommandInput, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { verifyStoredZip } from '../../lambdas/shared/evidence/verify-zip';
import { TAIL_READ_BYTES } from '../../lambdas/shared/evidence/zip-layout';
import type { StagedEvidence } from '../../lambdas/shared/schemas';
import { verifyEvidence } from '../../lambdas/verify-evidence/core';
import { type LocalS3, startLocalS3 } from '../../local/s3';
import { type CraftEntry, type CraftSpec, craftZip } from '../support/zip-craft';

let s3: LocalS3;
/** Every GetObject the code under test sent. */
const gets: GetObjectCommandInput[] = [];
beforeAll(async () => {
  s3 = await startLocalS3({ buckets: ['evidence'] });
  s3.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand') gets.push({ ...(args.input as GetObjectCommandInput) });
      return next(args);
    },
    { step: 'initialize', name: 'recordGets' },
  );
});
afterAll(async () => {
  await s3?.close();
});

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The collector's layout: files under a folder, then SHA256SUMS listing them (written last). */
function collector(
  files: readonly (Omit<CraftEntry, 'name'> & { name: string })[],
  opts: Partial<CraftSpec> & { listing?: Omit<CraftEntry, 'name' | 'content'> } = {},
): Buffer {
  const sums = files.map((f) => `${sha(f.content)}  ${f.name}\n`).join('');
  return craftZip({
    ...opts,
    entries: [
      ...files.map((f) => ({ ...f, name: `s1cado-linux-triage/${f.name}` })),
      { ...opts.listing, name: 's1cado-linux-triage/SHA256SUMS', content: Buffer.from(sums) },
    ],
  });
}

const text = (n: number, seed: string) =>
  Buffer.from(Array.from({ length: n }, (_, i) => `${seed} line ${i}\n`).join(''));

let n = 0;
async function store(zip: Buffer) {
  n++;
  const key = `zips/${n}.zip`;
  await s3.client.send(new PutObjectCommand({ Bucket: 'evidence', Key: key, Body: zip }));
  const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'evidence', Key: key }));
  return { bucket: 'evidence', key, versionId: null, etag: head.ETag ?? null };
}

async function check(zip: Buffer, staged: Buffer = zip) {
  const version = await store(zip);
  gets.length = 0;
  return verifyStoredZip(s3.client, version, { sha256: sha(staged), bytes: staged.length });
}

/** What yauzl (an independent reader) makes of a zip: name -> content. */
async function yauzlRead(zip: Buffer): Promise<Map<string, Buffer>> {
  const zf = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(zip, { lazyEntries: true }, (e, z) => (e || !z ? reject(e) : resolve(z))),
  );
  const out = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zf.on('entry', (entry: yauzl.Entry) => {
      zf.openReadStream(entry, async (e, stream) => {
        if (e || !stream) return reject(e);
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(c as Buffer);
        out.set(entry.fileName, Buffer.concat(chunks));
        zf.readEntry();
      });
    });
    zf.once('end', resolve);
    zf.once('error', reject);
    zf.readEntry();
  });
  return out;
}

const big = text(40_000, 'big');
const layouts: [string, Buffer][] = [
  [
    'stored',
    collector([
      { name: 'a.txt', content: text(10, 'a'), method: 0 },
      { name: 'b.bin', content: big, method: 0 },
    ]),
  ],
  [
    'deflated',
    collector([
      { name: 'a.txt', content: text(10, 'a') },
      { name: 'b.bin', content: big },
    ]),
  ],
  [
    'data descriptors, with and without signature',
    collector(
      [
        { name: 'a.txt', content: text(10, 'a'), descriptor: 'signed' },
        { name: 'b.bin', content: big, descriptor: 'unsigned', method: 0 },
        { name: 'c.txt', content: Buffer.alloc(0), descriptor: 'unsigned' },
      ],
      { listing: { descriptor: 'signed' } },
    ),
  ],
  [
    'zip64 entries and end records',
    collector(
      [
        { name: 'a.txt', content: text(10, 'a'), zip64: true },
        { name: 'b.bin', content: big, zip64: true, descriptor: 'signed' },
      ],
      { zip64End: true, listing: { zip64: true } },
    ),
  ],
];

describe('verifyStoredZip on the layouts collectors write', () => {
  it.each(layouts)('%s: read back and every listed file verified', async (_name, zip) => {
    // The writer is right: an independent reader sees the same files.
    expect([...(await yauzlRead(zip)).keys()]).toContain('s1cado-linux-triage/SHA256SUMS');
    const { readBack, listing } = await check(zip);
    expect(readBack).toMatchObject({ status: 'verified', sha256: sha(zip), bytes: zip.length });
    expect(listing).toMatchObject({ status: 'verified', mismatched: 0, missing: 0, extra: 0, problems: [] });
    expect(listing.verified).toBe(listing.filesListed);
  });

  it('reads the whole object once; the other GETs are of the tail, and every GET is pinned', async () => {
    const filler = Buffer.from(Array.from({ length: 2 * TAIL_READ_BYTES }, (_, i) => i % 251));
    const zip = collector([
      { name: 'filler.bin', content: filler, method: 0 },
      { name: 'a.txt', content: text(5, 'a') },
    ]);
    const { listing } = await check(zip);
    expect(listing.status).toBe('verified');
    const whole = gets.filter((g) => g.Range === undefined);
    expect(whole).toHaveLength(1);
    for (const g of gets.filter((g) => g.Range !== undefined)) {
      const [, from] = /^bytes=(\d+)-(\d+)$/.exec(g.Range as string) ?? [];
      expect(Number(from)).toBeGreaterThanOrEqual(zip.length - TAIL_READ_BYTES);
    }
    expect(gets.every((g) => typeof g.IfMatch === 'string' && g.VersionId === undefined)).toBe(true);
  });

  it("fails with S3's error code when the whole-version GET is refused (the object is gone)", async () => {
    const zip = collector([{ name: 'a.txt', content: text(5, 'a') }]);
    const version = { ...(await store(zip)), key: 'zips/never-written.zip' };
    await expect(
      verifyStoredZip(s3.client, version, { sha256: sha(zip), bytes: zip.length }),
    ).rejects.toMatchObject({
      name: 'NoSuchKey',
      $metadata: { httpStatusCode: 404 },
      message: expect.stringContaining('404 (NoSuchKey'),
    });
  });

  it('pins every GET to the version id when the bucket keeps versions', async () => {
    const zip = collector([{ name: 'a.txt', content: text(5, 'a') }]);
    const version = { ...(await store(zip)), versionId: 'null' };
    gets.length = 0;
    await verifyStoredZip(s3.client, version, { sha256: sha(zip), bytes: zip.length }).catch(() => undefined);
    expect(gets.length).toBeGreaterThan(0);
    expect(gets.every((g) => g.VersionId === 'null' && g.IfMatch === undefined)).toBe(true);
  });

  it('names a deflated file whose content differs from its listed hash', async () => {
    const files = [
      { name: 'a.txt', content: text(10, 'a') },
      { name: 'b.txt', content: text(10, 'b') },
    ];
    const sums = `${sha(files[0]?.content as Buffer)}  a.txt\n${'0'.repeat(64)}  b.txt\n`;
    const zip = craftZip({
      entries: [
        ...files.map((f) => ({ ...f, name: `s1cado-linux-triage/${f.name}` })),
        { name: 's1cado-linux-triage/SHA256SUMS', content: Buffer.from(sums) },
      ],
    });
    const { listing } = await check(zip);
    expect(listing).toMatchObject({
      status: 'mismatch',
      verified: 1,
      mismatched: 1,
      problems: ['mismatch: b.txt'],
    });
  });

  it('counts files listed but absent, and files present but not listed', async () => {
    const sums = `${sha('a')}  a.txt\n${sha('gone')}  gone.txt\n`;
    const zip = craftZip({
      entries: [
        { name: 's1cado-linux-triage/a.txt', content: Buffer.from('a') },
        { name: 's1cado-linux-triage/planted.bin', content: Buffer.from('x') },
        { name: 's1cado-linux-triage/SHA256SUMS', content: Buffer.from(sums) },
      ],
    });
    const { listing } = await check(zip);
    expect(listing).toMatchObject({ status: 'mismatch', verified: 1, missing: 1, extra: 1 });
    expect(listing.problems).toEqual(expect.arrayContaining(['missing: gone.txt', 'extra: planted.bin']));
  });

  it('a listed file in a compression method it cannot read is a mismatch, not a pass', async () => {
    const zip = collector([{ name: 'a.txt', content: text(10, 'a'), method: 12 }]);
    const { listing } = await check(zip);
    expect(listing.status).toBe('mismatch');
    expect(listing.problems).toEqual([expect.stringMatching(/^mismatch: a\.txt \(compression method 12/)]);
  });
});

describe('verifyStoredZip reuses its receive memory without mixing bytes up', () => {
  // Tens of MiB in many entries: the pass recycles its 1 MiB receive blocks many times over, while the inflater
  // still holds queued input. A block reused too early would change some entry's bytes, and its hash.
  const MIB = 1024 * 1024;
  const files = Array.from({ length: 12 }, (_, i) => {
    const kind = i % 3;
    const content = kind === 0 ? text(60_000 + i, `t${i}`) : randomBytes(3 * MIB + i * 4099);
    return { name: `f${i}.${kind === 0 ? 'txt' : 'bin'}`, content, method: kind === 2 ? 0 : 8 };
  });

  it('a zip of many MiB, deflated and stored entries: every listed file verifies', async () => {
    const zip = collector(files);
    expect(zip.length).toBeGreaterThan(24 * MIB);
    const { readBack, listing } = await check(zip);
    expect(readBack.status).toBe('verified');
    expect(listing).toMatchObject({ status: 'verified', verified: files.length, problems: [] });
  });

  it('an entry that fails to inflate half-way leaves the entries after it verified', async () => {
    const zip = collector(files);
    // f4.bin's deflate stream (deflated, 3 MiB), broken in its middle; its local header's name comes first.
    const name = zip.indexOf(Buffer.from('s1cado-linux-triage/f4.bin'));
    expect(name).toBeGreaterThan(0);
    zip.fill(0xff, name + MIB, name + MIB + 4096);
    const { readBack, listing } = await check(zip);
    expect(readBack.status).toBe('verified');
    expect(listing).toMatchObject({ status: 'mismatch', verified: files.length - 1, mismatched: 1 });
    expect(listing.problems).toEqual([expect.stringMatching(/^mismatch: f4\.bin \(does not inflate: /)]);
  });
});

describe('verifyStoredZip on zips from real writers', () => {
  const has = (tool: string, arg: string) => spawnSync(tool, [arg], { stdio: 'ignore' }).status === 0;
  /** A collector folder on disk: a few files and SHA256SUMS; returns the folder and its parent. */
  function folder(): { parent: string; name: string } {
    const parent = mkdtempSync(path.join(tmpdir(), 'verify-zip-'));
    const name = 's1cado-linux-triage';
    mkdirSync(path.join(parent, name, 'system'), { recursive: true });
    const files: [string, Buffer][] = [
      ['collection.log', text(20, 'log')],
      ['system/uname.txt', Buffer.from('Linux host 6.1.0\n')],
      ['files/big.bin', big],
      ['files/empty.txt', Buffer.alloc(0)],
    ];
    mkdirSync(path.join(parent, name, 'files'));
    for (const [file, content] of files) writeFileSync(path.join(parent, name, file), content);
    writeFileSync(
      path.join(parent, name, 'SHA256SUMS'),
      files.map(([file, content]) => `${sha(content)}  ${file}\n`).join(''),
    );
    return { parent, name };
  }

  it.skipIf(!has('zip', '-v'))(
    'Info-ZIP, as the Linux collector zips (and streamed, with data descriptors)',
    async () => {
      const { parent, name } = folder();
      try {
        execFileSync('zip', ['-q', '-r', '-X', 'a.zip', name], { cwd: parent });
        const streamed = execFileSync('zip', ['-q', '-r', '-X', '-', name], { cwd: parent });
        for (const zip of [readFileSync(path.join(parent, 'a.zip')), streamed]) {
          const { listing } = await check(zip);
          expect(listing).toMatchObject({ status: 'verified', filesListed: 4, verified: 4 });
        }
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    },
  );

  it.skipIf(!has('python3', '--version'))('Python zipfile, deflated and forced zip64', async () => {
    const { parent, name } = folder();
    try {
      const script = [
        'import os, sys, zipfile',
        'root, name, out = sys.argv[1:4]',
        'with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:',
        '  for d, _, fs in os.walk(os.path.join(root, name)):',
        '    for f in sorted(fs):',
        '      p = os.path.join(d, f)',
        '      with open(p, "rb") as src, z.open(os.path.relpath(p, root), "w", force_zip64=True) as dst:',
        '        dst.write(src.read())',
      ].join('\n');
      execFileSync('python3', ['-c', script, parent, name, path.join(parent, 'p.zip')]);
      const { listing } = await check(readFileSync(path.join(parent, 'p.zip')));
      expect(listing).toMatchObject({ status: 'verified', filesListed: 4, verified: 4 });
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('verifyStoredZip refuses bytes its entries do not account for', () => {
  const files = [
    { name: 'a.txt', content: text(10, 'a') },
    { name: 'b.txt', content: text(10, 'b') },
  ];
  const crafted: [string, Buffer, RegExp][] = [
    [
      'bytes hidden between two entries',
      collector([
        { ...files[0], hiddenAfter: Buffer.from('hidden payload') } as CraftEntry,
        files[1] as CraftEntry,
      ]),
      /^structure: 14 bytes at offset \d+ belong to no entry$/,
    ],
    [
      'bytes before the first entry',
      collector(files, { prefix: Buffer.from('MZ prefix') }),
      /^structure: 9 bytes at offset 0 belong to no entry$/,
    ],
    [
      'bytes between the last entry and the central directory',
      collector(files, { listing: { hiddenAfter: Buffer.from('tail payload') } }),
      /^structure: 12 bytes at offset \d+ belong to no entry$/,
    ],
    [
      'a deflate stream padded inside its compressed size',
      collector([
        { ...files[0], padCompressed: Buffer.from('never inflated') } as CraftEntry,
        files[1] as CraftEntry,
      ]),
      /^mismatch: a\.txt \(14 compressed bytes after the end of its deflate stream\)$/,
    ],
    [
      'a local header naming another file than the directory',
      collector([
        { ...files[0], localName: 's1cado-linux-triage/x.txt' } as CraftEntry,
        files[1] as CraftEntry,
      ]),
      /^structure: the local header of s1cado-linux-triage\/a\.txt disagrees with the directory \(name\)$/,
    ],
    [
      'a local header with another size than the directory',
      collector([{ ...files[0], localSizeDelta: 1 } as CraftEntry, files[1] as CraftEntry]),
      /disagrees with the directory \(sizes or CRC\)$/,
    ],
    [
      'a data descriptor with another size than the directory',
      collector([
        { ...files[0], descriptor: 'signed', localSizeDelta: -1 } as CraftEntry,
        files[1] as CraftEntry,
      ]),
      /^structure: the data descriptor of s1cado-linux-triage\/a\.txt disagrees with the directory$/,
    ],
    [
      'two directory records sharing one local header',
      collector(files, { aliases: [{ name: 's1cado-linux-triage/c.txt', of: 0 }] }),
      /^structure: s1cado-linux-triage\/(a|c)\.txt overlaps the entry (before|after) it$/,
    ],
  ];

  it.each(crafted)('%s', async (_name, zip, problem) => {
    const { readBack, listing } = await check(zip);
    expect(readBack.status).toBe('verified');
    expect(listing.status).toBe('mismatch');
    expect(listing.problems[0]).toMatch(problem);
  });

  it('the old reader (central directory only) let hidden bytes through: yauzl reads the same files', async () => {
    const zip = crafted[0]?.[1] as Buffer;
    const read = await yauzlRead(zip);
    expect(read.get('s1cado-linux-triage/a.txt')).toEqual(files[0]?.content);
  });

  it('an object cut short is a read-back mismatch (the listing is not judged)', async () => {
    const zip = collector(files);
    const { readBack, listing } = await check(zip.subarray(0, zip.length - 100), zip);
    expect(readBack.status).toBe('mismatch');
    expect(listing).toMatchObject({ status: 'not_available', reason: expect.stringMatching(/differ/) });
  });

  it('a zip staged cut short (no end record) has no listing to compare with', async () => {
    const zip = collector(files).subarray(0, 200);
    const { readBack, listing } = await check(Buffer.from(zip));
    expect(readBack.status).toBe('verified');
    expect(listing).toMatchObject({
      status: 'not_available',
      reason: expect.stringMatching(/^not a readable zip/),
    });
  });

  it('bytes after the end record make it unreadable, not verified', async () => {
    const zip = Buffer.concat([collector(files), Buffer.from('appended')]);
    const { listing } = await check(zip);
    expect(listing.status).toBe('not_available');
  });
});

describe('Verify Evidence on a crafted zip', () => {
  it('fails the integrity with EvidenceIntegrityError naming the structural problem', async () => {
    const zip = collector([
      { name: 'a.txt', content: text(10, 'a'), hiddenAfter: Buffer.from('hidden') },
      { name: 'b.txt', content: text(10, 'b') },
    ]);
    const version = await store(zip);
    const input = {
      evidence: {
        ...version,
        bytes: zip.length,
        sha256: sha(zip),
        fileName: 'result.zip',
        manifestKey: `${version.key}.manifest.json`,
        s1Signature: null,
        s1SignatureMatches: null,
        stagedAt: '2026-01-01T00:00:00.000Z',
      },
    } as StagedEvidence;
    await expect(
      verifyEvidence(input, { s3: s3.client, nowIso: () => '2026-01-01T00:01:00.000Z' }),
    ).rejects.toMatchObject({
      name: 'EvidenceIntegrityError',
      message: expect.stringContaining('structure: 6 bytes at offset'),
    });
  });
});
