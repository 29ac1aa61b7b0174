/**
 * The Windows collector, read by a real PowerShell grammar (tree-sitter-powershell): every `.ps1` and every
 * profile's uploaded copy parses without an ERROR or MISSING node, and its syntax tree shows that it writes only
 * below `$env:S1_OUTPUT_DIR_PATH`, downloads nothing and calls no cmdlet of the deny list.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectorFor, PROFILE_NAMES } from '../../lambdas/collectors';
import { scriptFacts, syntaxProblems } from '../support/powershell-syntax';

const COLLECTORS = path.resolve(__dirname, '..', '..', 'lambdas', 'collectors');
const BROKEN = path.resolve(__dirname, '..', 'fixtures', 'powershell', 'missing-brace.ps1');

function ps1Files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return ps1Files(full);
    return entry.name.endsWith('.ps1') ? [full] : [];
  });
}

const SOURCES = ps1Files(COLLECTORS);
const WINDOWS_SOURCE = readFileSync(path.join(COLLECTORS, 'windows', 'triage.ps1'), 'utf8');

/**
 * The collector split into everything else and its direct-upload stage (from its banner to the line after its
 * functions): the stage is the one place that sends bytes out (an HTTP PUT of the zip to presigned S3 URLs), so it
 * is checked on its own terms below, and the rest must not reach the network at all.
 */
function splitDirectUpload(source: string): [string, string] {
  const start = source.indexOf('# Direct upload (only with');
  const stop = source.indexOf('\n$script:CopiedFiles = 0');
  if (start < 0 || stop < start)
    throw new Error('the Windows collector has no delimited direct-upload stage');
  return [source.slice(0, start) + source.slice(stop), source.slice(start, stop)];
}
const [WINDOWS, DIRECT_UPLOAD] = splitDirectUpload(WINDOWS_SOURCE);

/** Cmdlets and aliases a read-only collector has no business calling. */
const DENIED_COMMANDS = [
  'invoke-webrequest',
  'iwr',
  'invoke-restmethod',
  'irm',
  'curl',
  'wget',
  'start-bitstransfer',
  'bitsadmin',
  'certutil',
  'set-mppreference',
  'add-mppreference',
  'remove-mppreference',
  'set-executionpolicy',
  'invoke-expression',
  'iex',
  'add-type',
  'remove-item',
  'ri',
  'del',
  'rm',
  'rmdir',
  'set-itemproperty',
  'new-itemproperty',
  'remove-itemproperty',
  'clear-eventlog',
  'remove-eventlog',
  'limit-eventlog',
  'stop-process',
  'stop-service',
  'set-service',
  'new-service',
  'restart-service',
  'restart-computer',
  'stop-computer',
  'install-module',
  'install-package',
  'register-scheduledtask',
  'unregister-scheduledtask',
  'invoke-command',
  'new-pssession',
  'enter-pssession',
  'enable-psremoting',
  'new-netfirewallrule',
  'set-netfirewallprofile',
  'send-mailmessage',
];
/** .NET types that reach the network. */
const NETWORK_TYPES = /^(net\.(webclient|webrequest|httpwebrequest|http\.|sockets\.|ftpwebrequest)|uri$)/;
const DOWNLOAD_MEMBERS = [
  'downloadfile',
  'downloadstring',
  'downloaddata',
  'uploadfile',
  'uploadstring',
  'openread',
];
const DOWNLOAD_TOOLS =
  /\b(bitsadmin|certutil|curl|wget|mshta|regsvr32|rundll32)\b|reg(\.exe)?\s+(add|delete|import|load|restore)\b/i;

describe('Windows collector: PowerShell grammar', () => {
  it('finds the scripts', () => {
    expect(SOURCES.map((f) => path.relative(COLLECTORS, f))).toContain(path.join('windows', 'triage.ps1'));
  });

  it.each(SOURCES.map((f) => [path.relative(COLLECTORS, f), f]))(
    '%s parses without ERROR or MISSING nodes',
    async (_, file) => {
      expect(await syntaxProblems(readFileSync(file, 'utf8'))).toEqual([]);
    },
  );

  it.each(PROFILE_NAMES)('the uploaded %s copy parses without ERROR or MISSING nodes', async (profile) => {
    const collector = collectorFor('windows', undefined, profile);
    expect(collector?.profile).toBe(profile);
    expect(await syntaxProblems(collector?.content.toString('utf8') ?? '')).toEqual([]);
  });

  it('rejects a deliberately broken script (missing brace)', async () => {
    const problems = await syntaxProblems(readFileSync(BROKEN, 'utf8'));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((p) => p.kind)).toEqual(
      expect.arrayContaining([expect.stringMatching(/ERROR|MISSING/)]),
    );
  });

  it('rejects the real collector with one closing brace removed', async () => {
    const at = WINDOWS.indexOf('\n}\n', WINDOWS.indexOf('function Copy-Bounded'));
    const broken = `${WINDOWS.slice(0, at)}\n${WINDOWS.slice(at + 3)}`;
    expect(await syntaxProblems(broken)).not.toEqual([]);
  });
});

describe('Windows collector: what the syntax tree says it does', () => {
  it('writes only below $env:S1_OUTPUT_DIR_PATH', async () => {
    const facts = await scriptFacts(WINDOWS);
    expect(facts.unprovenWrites).toEqual([]);
    // The analysis did see the writes: log, copies, exports, CSVs, deletions of its own files, SHA256SUMS.
    expect(facts.writesChecked).toBeGreaterThanOrEqual(15);
    for (const v of ['outbase', 'work', 'logpath', 'scratch', 'env:psmoduleanalysiscachepath']) {
      expect(facts.outputVariables).toContain(v);
    }
  });

  it('downloads nothing and calls nothing from the deny list', async () => {
    const facts = await scriptFacts(WINDOWS);
    expect(DENIED_COMMANDS.filter((c) => facts.commands.has(c))).toEqual([]);
    expect([...facts.types].filter((t) => NETWORK_TYPES.test(t))).toEqual([]);
    expect(DOWNLOAD_MEMBERS.filter((m) => facts.members.has(m))).toEqual([]);
    expect(facts.strings.filter((s) => DOWNLOAD_TOOLS.test(s))).toEqual([]);
  });

  it.each([
    [
      'a write outside the folder',
      "[IO.File]::WriteAllText('C:\\Windows\\Temp\\x.txt', 'x')",
      'unprovenWrites',
    ],
    ['a redirection outside the folder', 'Get-Process > C:\\x.txt', 'unprovenWrites'],
    ['a CSV outside the folder', "$rows | Export-Csv -LiteralPath 'C:\\x.csv'", 'unprovenWrites'],
    ['the work folder pointed elsewhere', "$Work = 'C:\\Windows'", 'unprovenWrites'],
    ['Set-MpPreference', 'Set-MpPreference -DisableRealtimeMonitoring $true', 'commands'],
    [
      'Invoke-WebRequest',
      "Invoke-WebRequest -Uri 'https://example.com/x' -OutFile (Join-Path $Work 'x')",
      'commands',
    ],
    ['Start-BitsTransfer', "Start-BitsTransfer -Source 'https://example.com/x'", 'commands'],
    [
      'a WebClient download',
      "(New-Object Net.WebClient).DownloadFile('https://example.com/x', (Join-Path $Work 'x'))",
      'types',
    ],
  ])('the checks catch %s', async (_, line, what) => {
    const facts = await scriptFacts(`${WINDOWS}\n${line}\n`);
    if (what === 'unprovenWrites') expect(facts.unprovenWrites.length).toBeGreaterThan(0);
    if (what === 'commands')
      expect(DENIED_COMMANDS.filter((c) => facts.commands.has(c)).length).toBeGreaterThan(0);
    if (what === 'types') {
      expect([...facts.types].filter((t) => NETWORK_TYPES.test(t))).toEqual(['net.webclient']);
      expect(facts.members.has('downloadfile')).toBe(true);
    }
  });
});

describe('Windows collector: the direct-upload stage', () => {
  it('only PUTs over System.Net.Http, loads assemblies without compiling code, and downloads nothing', async () => {
    const facts = await scriptFacts(DIRECT_UPLOAD);
    const network = [...facts.types].filter((t) => NETWORK_TYPES.test(t));
    expect(network.length).toBeGreaterThan(0);
    for (const t of network) expect(t).toMatch(/^net\.http\.(httpclient|streamcontent)$/);
    expect(facts.members.has('putasync')).toBe(true);
    for (const m of [
      'getasync',
      'getstreamasync',
      'getbytearrayasync',
      'getstringasync',
      'sendasync',
      'postasync',
    ])
      expect(facts.members.has(m)).toBe(false);
    expect(DOWNLOAD_MEMBERS.filter((m) => facts.members.has(m) && m !== 'openread')).toEqual([]);
    // Add-Type only ever names an assembly (-AssemblyName), never C# source to compile.
    const addTypes = DIRECT_UPLOAD.split('\n').filter((l) => /\badd-type\b/i.test(l));
    expect(addTypes.length).toBeGreaterThan(0);
    for (const l of addTypes) expect(l).toMatch(/Add-Type -AssemblyName System\.[A-Za-z.]+\s*$/);
    expect(DENIED_COMMANDS.filter((c) => c !== 'add-type' && facts.commands.has(c))).toEqual([]);
    expect(facts.strings.filter((s) => DOWNLOAD_TOOLS.test(s))).toEqual([]);
  });

  it('is called only when part URLs were given', () => {
    const calls = WINDOWS.split('\n').filter((l) => /Invoke-DirectUpload\b/.test(l));
    expect(calls).toEqual(['if ($UploadParts) { Invoke-DirectUpload $UploadParts }']);
  });
});
