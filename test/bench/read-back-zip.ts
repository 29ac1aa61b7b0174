/**
 * The object the bench's read-back verifies: shaped like a collector's output (`zip -r` of an `s1cado-linux-triage/`
 * folder, every entry deflated, `SHA256SUMS` of every other file), so that Verify Evidence does its whole pass: the
 * object's SHA-256, and every entry inflated and hashed against the listing. The S1 simulator serves stored
 * (uncompressed) zips, which would leave the inflate out, so the bench writes this one to S3 itself.
 *
 * Its content is a plausible mix: about a fifth of the data is text (syslog-like lines, deflating about 5:1), the
 * rest binary that does not compress (already-compressed logs, executables), as a triage collection is.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { type CraftEntry, craftZip } from '../support/zip-craft';

/** The zip and what staging would have computed for it. */
export interface ReadBackObject {
  readonly bytes: Buffer;
  readonly sha256: string;
  /** Bytes of content (inflated). */
  readonly contentBytes: number;
  readonly entries: number;
}

const FOLDER = 's1cado-linux-triage';

/** `n` bytes that do not compress (AES-CTR keystream of `seed`). */
function binary(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(`read-back:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return cipher.update(Buffer.alloc(n));
}

/** `n` bytes of syslog-like text from a small seeded generator. */
function text(seed: string, n: number): Buffer {
  let state = createHash('sha256').update(`text:${seed}`).digest().readUInt32LE(0) || 1;
  const next = (m: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % m;
  };
  const daemons = ['sshd', 'systemd', 'kernel', 'cron', 'sudo', 'dockerd', 'nginx', 'auditd'];
  const words = [
    'Accepted',
    'publickey',
    'for',
    'session',
    'opened',
    'closed',
    'user',
    'from',
    'port',
    'connection',
  ];
  // 1 MiB of varied lines, repeated (farther apart than deflate's 32 KiB window, so it deflates as fresh text).
  const lines: string[] = [];
  let size = 0;
  while (size < 1024 * 1024) {
    const said = Array.from({ length: 3 + next(6) }, () => words[next(words.length)]).join(' ');
    const line = `Dec  4 ${String(next(24)).padStart(2, '0')}:${String(next(60)).padStart(2, '0')}:${String(next(60)).padStart(2, '0')} acme-app ${daemons[next(daemons.length)]}[${1000 + next(60000)}]: ${said} 10.${next(256)}.${next(256)}.${next(256)} ${next(65536)}\n`;
    lines.push(line);
    size += line.length;
  }
  const pool = Buffer.from(lines.join(''), 'latin1');
  const out = Buffer.allocUnsafe(n);
  for (let at = 0; at < n; at += pool.length) pool.copy(out, at, 0, Math.min(pool.length, n - at));
  return out;
}

/** A collector-shaped zip whose content totals about `size` bytes. */
export function readBackObject(size: number, seed: string): ReadBackObject {
  const textBytes = Math.round(size * 0.2);
  const at = new Date(0).toISOString();
  const files: [string, Buffer][] = [
    [
      'collection.log',
      Buffer.from(`# s1cado-collector linux-triage bench\n[${at}] END collection status=complete\n`),
    ],
    ['system/uname.txt', Buffer.from('Linux acme-app 6.1.0 x86_64 GNU/Linux\n')],
    ['processes/ps.txt', text(`${seed}:ps`, 64 * 1024)],
    ['logs/syslog', text(`${seed}:syslog`, Math.round(textBytes * 0.75))],
    ['logs/auth.log', text(`${seed}:auth`, Math.round(textBytes * 0.25))],
    ['logs/journal.tar.gz', binary(`${seed}:journal`, Math.round(size * 0.3))],
    ['files/collection.bin', binary(`${seed}:files`, Math.round(size * 0.5))],
  ];
  const sums = files.map(
    ([name, content]) => `${createHash('sha256').update(content).digest('hex')}  ${name}`,
  );
  files.push(['SHA256SUMS', Buffer.from(`${sums.join('\n')}\n`)]);
  // Every entry deflated at zlib's default level, as `zip -r` does (data that does not compress becomes stored blocks).
  const entries: CraftEntry[] = files.map(([name, content]) => ({ name: `${FOLDER}/${name}`, content }));
  const bytes = craftZip({ entries });
  return {
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    contentBytes: files.reduce((sum, [, content]) => sum + content.length, 0),
    entries: files.length,
  };
}
