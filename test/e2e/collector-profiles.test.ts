/**
 * The Linux collector's profiles, each run the way RemoteOps runs it (one argument string, a bare environment)
 * against a fake root: the uploaded copy of each profile (with its profile baked in), its sections, the memory
 * tool's SHA-256 check (happy path, missing, mismatched), the custom paths' checks, and the free-disk-space
 * prerequisite that never lets a collection fill the disk.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { collectorFor, type ProfileName } from '../../lambdas/collectors';

const BASH = ['/bin/bash', '/usr/bin/bash'].find((candidate) => existsSync(candidate)) ?? '/bin/bash';
const FAKE_TOOL = '#!/bin/bash\nprintf "FAKE-MEMORY-IMAGE" > "$1"\n';
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let base: string;
let root: string;
const scripts: Partial<Record<ProfileName, string>> = {};

function put(rel: string, content: string): void {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

beforeAll(() => {
  base = mkdtempSync(path.join(tmpdir(), 's1cado-profiles-'));
  root = path.join(base, 'root');
  put('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n');
  put('etc/hosts', '127.0.0.1 localhost\n');
  put('etc/app/one.conf', 'one\n');
  put('etc/app/two.conf', 'two\n');
  put('home/alice/.bash_history', 'curl http://x\n');
  put('home/alice/.mozilla/firefox/abc.default/places.sqlite', 'firefox-history');
  put('home/alice/.config/google-chrome/Default/History', 'chrome-history');
  put('var/log/nginx/access.log', 'GET /shell.php\n');
  put('var/log/dpkg.log', 'install evil\n');
  put('var/lib/dpkg/status', 'Package: evil\n');
  put('var/log/custom-app/app.log', 'app\n');
  for (const profile of ['triage', 'full', 'memory', 'custom'] as const) {
    const copy = collectorFor('linux', undefined, profile);
    const file = path.join(base, `${profile}.sh`);
    writeFileSync(file, copy?.content ?? '');
    scripts[profile] = file;
  }
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  folder?: string;
  log: string;
}

let runCounter = 0;

/** Runs one profile's uploaded copy with RemoteOps' single argument string. */
function run(profile: ProfileName, params: string, env: Record<string, string> = {}): Promise<Run> {
  runCounter += 1;
  const out = path.join(base, `out-${runCounter}`);
  mkdirSync(out);
  return new Promise((resolve, reject) => {
    const child = spawn(BASH, [scripts[profile] as string, params], {
      env: { PATH: '/nonexistent', HOME: base, S1_OUTPUT_DIR_PATH: out, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const [name] = readdirSync(out);
      const folder = name ? path.join(out, name) : undefined;
      const log =
        folder && existsSync(path.join(folder, 'collection.log'))
          ? readFileSync(path.join(folder, 'collection.log'), 'utf8')
          : '';
      resolve({ code, stdout, stderr, folder, log });
    });
  });
}

function files(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const key = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? files(dir, key) : [key];
  });
}

/** Every file but SHA256SUMS is listed in SHA256SUMS with its hash. */
function expectSums(folder: string): void {
  const lines = readFileSync(path.join(folder, 'SHA256SUMS'), 'utf8').trimEnd().split('\n');
  const listed = new Map(lines.map((l) => [l.slice(66), l.slice(0, 64)]));
  const all = files(folder).filter((f) => f !== 'SHA256SUMS');
  expect([...listed.keys()].sort()).toEqual(all.sort());
  for (const f of all) expect(listed.get(f)).toBe(sha256(readFileSync(path.join(folder, f))));
}

const COMMON = () => `--max-seconds 120 --max-mb 64 --days 7 --min-free-mb 1 --root ${root}`;

describe('linux collector profiles against a fake root', () => {
  it('triage: the default sections only', async () => {
    const r = await run('triage', `--profile triage ${COMMON()}`);
    expect(r.code).toBe(0);
    expect(r.log).toMatch(/^# profile: triage$/m);
    expect(r.log).toMatch(/^# s1cado-collector linux-triage \d+\.\d+\.\d+$/m);
    expect(r.log).not.toMatch(/START browsers|START memory|START custom/);
    expect(r.log).toMatch(/PREREQ free disk space ok/);
    expectSums(r.folder as string);
  });

  it('full: adds browser histories, execution traces, web server logs and package databases', async () => {
    const r = await run('full', `--profile full ${COMMON()}`);
    expect(r.code).toBe(0);
    const got = files(r.folder as string);
    for (const f of [
      'fs/home/alice/.mozilla/firefox/abc.default/places.sqlite',
      'fs/home/alice/.config/google-chrome/Default/History',
      'fs/var/log/nginx/access.log',
      'fs/var/log/dpkg.log',
      'fs/var/lib/dpkg/status',
      'fs/var/log/custom-app/app.log',
    ]) {
      expect(got).toContain(f);
    }
    expect(
      readFileSync(
        path.join(r.folder as string, 'fs/home/alice/.mozilla/firefox/abc.default/places.sqlite'),
        'utf8',
      ),
    ).toBe('firefox-history');
    for (const s of ['browsers', 'execution', 'full-logs', 'web-logs', 'databases'])
      expect(r.log).toMatch(new RegExp(`START ${s}\\b`));
    // A file two sections reach is copied once.
    expect(
      readFileSync(path.join(r.folder as string, 'fs-listing.tsv'), 'utf8').match(
        /\t\/var\/log\/dpkg\.log\t/g,
      ),
    ).toHaveLength(1);
    expectSums(r.folder as string);
  });

  it('the copy of one profile refuses to run another', async () => {
    const r = await run('triage', `--profile full ${COMMON()}`);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/this is the triage collector; it cannot run profile 'full'/);
  });

  describe('memory', () => {
    let pkg: string;
    beforeAll(() => {
      pkg = path.join(base, 'package');
      mkdirSync(pkg);
      writeFileSync(path.join(pkg, 'avml'), FAKE_TOOL);
      chmodSync(path.join(pkg, 'avml'), 0o755);
    });
    const args = (hash: string, name = 'avml') =>
      `--profile memory --max-seconds 120 --max-mb 1048576 --days 1 --min-free-mb 0 --tool-name ${name} --tool-sha256 ${hash}`;

    it('runs the verified tool and keeps its image', async () => {
      const r = await run('memory', args(sha256(FAKE_TOOL)), { S1_PACKAGE_DIR_PATH: pkg });
      // The fake root has no bearing on memory; the host's RAM size decides whether the image fits the disk.
      if (/not enough free disk space for a memory image/.test(r.log)) return expect(r.code).toBe(3);
      expect(r.code).toBe(0);
      expect(readFileSync(path.join(r.folder as string, 'memory/memory.img'), 'utf8')).toBe(
        'FAKE-MEMORY-IMAGE',
      );
      expect(readFileSync(path.join(r.folder as string, 'memory/acquisition.txt'), 'utf8')).toContain(
        `tool_sha256: ${sha256(FAKE_TOOL)}`,
      );
      expect(r.log).toMatch(new RegExp(`NOTE  memory tool avml verified sha256=${sha256(FAKE_TOOL)}`));
      // The private copy that ran is gone; nothing else is left beside the evidence.
      expect(files(r.folder as string).filter((f) => f.includes('acquire-'))).toEqual([]);
      expectSums(r.folder as string);
    });

    it('a tool that is not the configured one is never run: exit 3, the reason logged, the folder closed', async () => {
      const wrong = sha256('something else');
      const r = await run('memory', args(wrong), { S1_PACKAGE_DIR_PATH: pkg });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(
        new RegExp(`avml is not the configured one: sha256 ${sha256(FAKE_TOOL)}, expected ${wrong}; not run`),
      );
      expect(r.log).toMatch(/^.* FAIL {2}memory acquisition tool avml is not the configured one/m);
      expect(r.log).toMatch(/END {3}collection status=failed \(/);
      expect(existsSync(path.join(r.folder as string, 'memory/memory.img'))).toBe(false);
      expectSums(r.folder as string);
    });

    it('a missing tool fails clearly: not in the package, or no package at all', async () => {
      const absent = await run('memory', args(sha256(FAKE_TOOL), 'winpmem.exe'), {
        S1_PACKAGE_DIR_PATH: pkg,
      });
      expect(absent.code).toBe(3);
      expect(absent.stderr).toMatch(
        /memory acquisition tool winpmem\.exe missing from the S1 package directory/,
      );
      const noPackage = await run('memory', args(sha256(FAKE_TOOL)));
      expect(noPackage.code).toBe(3);
      expect(noPackage.stderr).toMatch(/no S1 package directory \(S1_PACKAGE_DIR_PATH is unset\)/);
    });

    it('refuses to start without the tool arguments', async () => {
      const r = await run('memory', '--profile memory --max-seconds 120');
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(/the memory profile needs --tool-name and --tool-sha256/);
    });
  });

  describe('custom', () => {
    it('collects the named paths and globs only, and says what matched nothing', async () => {
      const r = await run(
        'custom',
        `--profile custom ${COMMON()} --paths /etc/app/*.conf,/var/log/nginx,/etc/nothing-here`,
      );
      expect(r.code).toBe(0);
      const fsFiles = files(r.folder as string).filter((f) => f.startsWith('fs/'));
      expect(fsFiles.sort()).toEqual([
        'fs/etc/app/one.conf',
        'fs/etc/app/two.conf',
        'fs/var/log/nginx/access.log',
      ]);
      expect(r.log).toMatch(/FILE {2}custom \/etc\/app\/\*\.conf matches=2/);
      expect(r.log).toMatch(/SKIP {2}custom \/etc\/nothing-here reason="no such file"/);
      expectSums(r.folder as string);
    });

    it.each([
      ['etc/passwd', /custom path 'etc\/passwd' is relative: give an absolute path/],
      [
        '/etc/../root',
        /custom path '\/etc\/\.\.\/root' contains a \. or \.\. segment \(traversal is not allowed\)/,
      ],
      ['/var/./log', /traversal is not allowed/],
      ['/etc/$(id)', /contains a character other than/],
    ])('refuses %s with a clear error, before collecting anything', async (p, message) => {
      const r = await run('custom', `--profile custom ${COMMON()} --paths ${p}`);
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(message);
      expect(r.folder).toBeUndefined();
    });

    it('refuses more than 32 paths', async () => {
      const many = Array.from({ length: 33 }, (_, i) => `/etc/f${i}`).join(',');
      const r = await run('custom', `--profile custom ${COMMON()} --paths ${many}`);
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(/at most 32 paths, got 33/);
    });
  });

  describe('free disk space', () => {
    it('a collection that cannot leave the required space free collects nothing and says why', async () => {
      const r = await run(
        'full',
        `--profile full --max-seconds 120 --max-mb 64 --min-free-mb 999999999 --root ${root}`,
      );
      expect(r.code).toBe(0);
      expect(r.log).toMatch(
        /PREREQ not enough free disk space: \d+ MiB free on the output volume, 999999999 MiB must stay free/,
      );
      for (const s of ['system', 'processes', 'browsers', 'databases']) {
        expect(r.log).toMatch(new RegExp(`SKIP  ${s} reason="not enough free disk space`));
      }
      expect(files(r.folder as string).sort()).toEqual(['SHA256SUMS', 'collection.log', 'fs-listing.tsv']);
    });

    it('the size budget shrinks to what leaves the required space free', async () => {
      // Ask for the free space less 256 MiB to stay free: the budget drops to about 256 MiB. (The slack is for the
      // other tests writing to the same volume between the two runs; 1 MiB was not enough in a full run.)
      const probe = await run(
        'triage',
        `--profile triage --max-seconds 120 --sections system --min-free-mb 0 --root ${root}`,
      );
      const free = Number(/PREREQ free disk space ok: (\d+) MiB free/.exec(probe.log)?.[1]);
      expect(free).toBeGreaterThan(512);
      const r = await run(
        'triage',
        `--profile triage --max-seconds 120 --max-mb 4096 --sections system --min-free-mb ${free - 256} --root ${root}`,
      );
      expect(r.code).toBe(0);
      const lowered = Number(/PREREQ size budget lowered from 4096 to (\d+) MiB/.exec(r.log)?.[1]);
      expect(lowered).toBeGreaterThan(0);
      expect(lowered).toBeLessThanOrEqual(1024);
    });
  });
});
