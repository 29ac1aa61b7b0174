# s1cado-collector: windows-triage 1.1.0
#
# Read-only collector for Windows endpoints (profiles triage, full, memory, custom), uploaded to the SentinelOne RemoteOps library as
# an artifactCollection script and run there as SYSTEM (Windows PowerShell 5.1 compatible). Everything it
# produces goes below
#     $env:S1_OUTPUT_DIR_PATH (fallback C:\ProgramData\Sentinel\RSO) \ <host>_<yyyymmddThhmmssZ> \
# which the agent zips into the evidence. It fetches nothing from the network, adds no software and changes
# nothing outside that folder: event logs are exported (never cleared), files are opened read-only with
# full sharing, no process is stopped other than a helper it started itself that overran its timeout, and
# (best effort) the PowerShell module analysis cache is pointed into the folder. Unloaded user registry
# hives are not loaded. It stops cleanly when its time or size budget is spent.
#
# Profiles (the catalogue uploads one copy per profile, each with the profile line below rewritten):
#   triage  quick first response (the sections listed under --sections)
#   full    triage plus browser histories, prefetch, amcache, shimcache (AppCompatCache), all event logs
#           in full, IIS and other web server logs
#   memory  a memory image taken by the acquisition tool shipped as the script's S1 package
#           ($env:S1_PACKAGE_DIR_PATH\<--tool-name>), run as `<tool> <output file>` after its SHA-256 is
#           checked against --tool-sha256; missing or mismatched tool: exit 3, nothing run
#   custom  only the absolute paths and wildcards of --paths
#
# Arguments (RemoteOps passes them as one string; --max-seconds and -MaxSeconds are both accepted):
#   --profile NAME    must name this copy's profile (a guard against running the wrong copy)
#   --max-seconds N   total runtime budget, checked between steps and items (900)
#   --max-mb N        total size budget for collected data, in MiB (512)
#   --days N          look-back window for event logs and recent files (7)
#   --max-file-mb N   cap for any single copied file, command output or event log export, in MiB (64)
#   --hash-max-mb N   largest file hashed in listings, in MiB (256)
#   --sections LIST   comma-separated subset of the profile's sections (all of them)
#   --min-free-mb N   free space left on the output volume in any case; the size budget shrinks to fit
#                     and a collection that cannot fit is skipped, with the reason in collection.log (1024)
#   --paths LIST      custom: comma-separated absolute paths or wildcards (* ?), at most 32, no . or ..
#   --tool-name F     memory: file name of the acquisition tool in the package folder
#   --tool-sha256 H   memory: its expected SHA-256 (64 hex digits)
#   --upload-parts B,S1,...,SN
#                     send the collection straight to S3 (see "Direct upload" at the end): B is a presigned
#                     UploadPart URL without partNumber and X-Amz-Signature, S1..SN the signatures of parts 1..N
#
# Output (paths relative to the collection folder):
#   collection.log    each step with start and end time, exit status, skip and truncation reasons
#   SHA256SUMS        sha256sum-compatible hashes of every other file, computed last
#   fs\<drive>\<path> copies of history files, scheduled task definitions and startup items (mtime kept)
#   system\ processes\ network\ users\ persistence\ eventlogs\ files\   outputs and listings
#
# Exit status: 0 collection finished (possibly partial: see collection.log), 2 output directory missing or
# unwritable, 3 a prerequisite of the profile failed (memory tool missing or not the expected one, no free
# disk space for a memory image; collection.log and SHA256SUMS are still written), 64 invalid arguments.
#
# No param() block on purpose: GNU-style options (--max-seconds) are not valid PowerShell parameter
# names, so the arguments are parsed from $args.

$ErrorActionPreference = 'Continue'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Off

$BakedProfile = 'triage' # s1cado-profile
$Collector = 'windows-' + $BakedProfile
$Version = '1.1.0'
$ScriptArgs = @($args)
# Sizes in plain numbers rather than the $MiB literal suffix, which the grammar the tests parse with lacks.
$MiB = [int64]1048576

# Upper bound for any single helper process, so one hung tool cannot eat the whole budget.
$CmdTimeout = 120
# Recent files in temp folders up to this size are copied, not only listed.
$SmallCopyBytes = 524288
$SmallCopyMax = 200
$CustomMaxPaths = 32
$CustomMaxMatches = 1000
$UsageText = 'usage: triage.ps1 [--profile NAME] [--max-seconds N] [--max-mb N] [--days N] [--max-file-mb N] [--hash-max-mb N] [--sections LIST] [--min-free-mb N] [--paths LIST] [--tool-name F] [--tool-sha256 H]'

function Exit-Usage([string]$Message) {
    [Console]::Error.WriteLine("triage.ps1: $Message")
    [Console]::Error.WriteLine($UsageText)
    exit 64
}

# ---------------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------------

$TriageSections = @('system', 'processes', 'network', 'users', 'persistence', 'histories', 'eventlogs', 'recent-files')
switch ($BakedProfile) {
    'triage' { $AllSections = $TriageSections }
    'full' { $AllSections = $TriageSections + @('browsers', 'execution', 'full-eventlogs', 'web-logs') }
    'memory' { $AllSections = @('system', 'memory') }
    'custom' { $AllSections = @('system', 'custom') }
    default {
        [Console]::Error.WriteLine("triage.ps1: unknown baked profile $BakedProfile")
        exit 64
    }
}
$Sections = $AllSections
$Options = @{ maxseconds = 900; maxmb = 512; days = 7; maxfilemb = 64; hashmaxmb = 256; minfreemb = 1024 }
$CustomPaths = @()
$ToolName = ''
$ToolSha256 = ''
$UploadParts = ''
$Tokens = @()
foreach ($a in $ScriptArgs) {
    # RemoteOps may hand everything over as a single string: split it on whitespace.
    $Tokens += @(([string]$a) -split '\s+' | Where-Object { $_ -ne '' })
}
$i = 0
while ($i -lt $Tokens.Count) {
    $token = $Tokens[$i]
    $key = $null
    $value = $null
    if ($token -match '^-{1,2}([A-Za-z][A-Za-z-]*)=(.*)$') {
        $key = $Matches[1]
        $value = $Matches[2]
        $i += 1
    } elseif ($token -match '^-{1,2}([A-Za-z][A-Za-z-]*)$') {
        $key = $Matches[1]
        if ($key -eq 'h' -or $key -eq 'help') {
            [Console]::Out.WriteLine($UsageText)
            [Console]::Out.WriteLine("profile of this copy: $BakedProfile (sections: $($AllSections -join ','))")
            exit 0
        }
        if ($i + 1 -ge $Tokens.Count) { Exit-Usage "$token needs a value" }
        $value = $Tokens[$i + 1]
        $i += 2
    } else {
        Exit-Usage "unexpected argument '$token'"
    }
    $key = $key.ToLowerInvariant().Replace('-', '')
    if ($key -eq 'profile') {
        if ($value -ne $BakedProfile) { Exit-Usage "this is the $BakedProfile collector; it cannot run profile '$value'" }
        continue
    }
    if ($key -eq 'paths') {
        if ($BakedProfile -ne 'custom') { Exit-Usage '--paths is only taken by the custom profile' }
        $CustomPaths = @($value.Split(',') | Where-Object { $_ -ne '' })
        continue
    }
    if ($key -eq 'toolname') {
        if ($BakedProfile -ne 'memory') { Exit-Usage '--tool-name is only taken by the memory profile' }
        if ($value -notmatch '^[A-Za-z0-9][A-Za-z0-9._-]*$') { Exit-Usage "--tool-name must be a plain file name, got '$value'" }
        $ToolName = $value
        continue
    }
    if ($key -eq 'toolsha256') {
        if ($BakedProfile -ne 'memory') { Exit-Usage '--tool-sha256 is only taken by the memory profile' }
        if ($value -notmatch '^[0-9A-Fa-f]{64}$') { Exit-Usage '--tool-sha256 must be 64 hex digits' }
        $ToolSha256 = $value.ToLowerInvariant()
        continue
    }
    if ($key -eq 'minfreemb') {
        $free = 0
        if (-not [int]::TryParse($value, [ref]$free) -or $free -lt 0) { Exit-Usage "--min-free-mb needs a non-negative integer, got '$value'" }
        $Options.minfreemb = $free
        continue
    }
    if ($key -eq 'sections') {
        $Sections = @($value.ToLowerInvariant().Split(',') | Where-Object { $_ -ne '' })
        foreach ($name in $Sections) {
            if ($AllSections -notcontains $name) { Exit-Usage "unknown section '$name' (known: $($AllSections -join ','))" }
        }
        continue
    }
    if ($key -eq 'uploadparts') {
        $UploadParts = $value
        continue
    }
    if (-not $Options.ContainsKey($key)) { Exit-Usage "unknown option '$token'" }
    $number = 0
    if (-not [int]::TryParse($value, [ref]$number) -or $number -le 0) {
        Exit-Usage "$token needs a positive integer, got '$value'"
    }
    $Options[$key] = $number
}

# The custom paths: the same rules as the workflow's validation, again on the endpoint.
if ($BakedProfile -eq 'custom') {
    if ($CustomPaths.Count -eq 0) { Exit-Usage 'the custom profile needs --paths' }
    if ($CustomPaths.Count -gt $CustomMaxPaths) { Exit-Usage "the custom profile takes at most $CustomMaxPaths paths, got $($CustomPaths.Count)" }
    foreach ($p in $CustomPaths) {
        if ($p -notmatch '^[A-Za-z]:\\') { Exit-Usage "custom path '$p' is relative: give an absolute path (C:\...)" }
        if (@($p -split '[\\/]' | Where-Object { $_ -eq '..' -or $_ -eq '.' }).Count -gt 0) {
            Exit-Usage "custom path '$p' contains a . or .. segment (traversal is not allowed)"
        }
        if ($p -notmatch '^[A-Za-z0-9\\/._*?:@+=%~-]+$') { Exit-Usage "custom path '$p' contains a character other than letters, digits, \ . _ - * ?" }
    }
}
if ($BakedProfile -eq 'memory' -and (-not $ToolName -or -not $ToolSha256)) {
    Exit-Usage 'the memory profile needs --tool-name and --tool-sha256'
}

$MaxSeconds = [int]$Options.maxseconds
$MinFreeMb = [int64]$Options.minfreemb
$Days = [int]$Options.days
$MaxBytes = [int64]$Options.maxmb * $MiB
$MaxFileBytes = [int64]$Options.maxfilemb * $MiB
$HashMaxBytes = [int64]$Options.hashmaxmb * $MiB
# Time kept back for writing the log and SHA256SUMS at the end.
$Reserve = [int]($MaxSeconds / 20)

# ---------------------------------------------------------------------------------------------------
# Output folder
# ---------------------------------------------------------------------------------------------------

$OutBase = $env:S1_OUTPUT_DIR_PATH
if ([string]::IsNullOrEmpty($OutBase)) { $OutBase = 'C:\ProgramData\Sentinel\RSO' }
if (-not (Test-Path -LiteralPath $OutBase -PathType Container)) {
    [Console]::Error.WriteLine("triage.ps1: output directory $OutBase is missing; nothing collected")
    exit 2
}
$OutBase = [IO.Path]::GetFullPath($OutBase)
$HostName = [string]$env:COMPUTERNAME
if ([string]::IsNullOrEmpty($HostName)) { $HostName = 'unknown-host' }
$HostSafe = $HostName -replace '[^A-Za-z0-9._-]', '_'
$StartedUtc = (Get-Date).ToUniversalTime()
$Stamp = $StartedUtc.ToString("yyyyMMdd'T'HHmmss'Z'")
$Work = Join-Path $OutBase ($HostSafe + '_' + $Stamp)
if (Test-Path -LiteralPath $Work) { $Work = $Work + '_' + $PID }
try {
    [void][IO.Directory]::CreateDirectory($Work)
    $LogPath = Join-Path $Work 'collection.log'
    $Utf8 = New-Object System.Text.UTF8Encoding($false)
    [IO.File]::WriteAllText($LogPath, '', $Utf8)
} catch {
    [Console]::Error.WriteLine("triage.ps1: output directory $OutBase is not writable; nothing collected")
    exit 2
}
# Scratch space lives inside the collection folder and is removed before SHA256SUMS is written.
$Scratch = Join-Path $Work '.scratch'
[void][IO.Directory]::CreateDirectory($Scratch)
# Module auto-loading would otherwise update SYSTEM's module analysis cache outside the folder (best
# effort: a cache PowerShell already opened at start-up keeps its place).
$env:PSModuleAnalysisCachePath = Join-Path $Scratch 'ModuleAnalysisCache'

# 32-bit PowerShell on 64-bit Windows sees a redirected System32; Sysnative reaches the real one.
$SystemDir = Join-Path $env:SystemRoot 'System32'
if ([Environment]::Is64BitOperatingSystem -and -not [Environment]::Is64BitProcess) {
    $SystemDir = Join-Path $env:SystemRoot 'Sysnative'
}

$Clock = [Diagnostics.Stopwatch]::StartNew()
$script:UsedBytes = [int64]0
$script:Stopped = ''
$script:PrereqFailed = ''
$script:FreeNoted = $false
$script:SectionFailures = 0

# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------

function Write-Log([string]$Text) {
    $line = (Get-Date).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'") + ' ' + $Text + "`n"
    [IO.File]::AppendAllText($LogPath, $line, $Utf8)
}

function Format-Utc($Date) {
    if ($null -eq $Date) { return '' }
    return ([datetime]$Date).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'")
}

function Get-Elapsed { return [int]$Clock.Elapsed.TotalSeconds }

# True while time and size budgets leave room; logs the first stop once.
function Test-Budget {
    if ($script:Stopped) { return $false }
    if ($Clock.Elapsed.TotalSeconds -ge ($MaxSeconds - $Reserve)) {
        $script:Stopped = "time budget of ${MaxSeconds}s spent"
    } elseif ($script:UsedBytes -ge $MaxBytes) {
        $script:Stopped = "size budget of $($Options.maxmb) MB spent"
    } else {
        return $true
    }
    Write-Log "BUDGET $($script:Stopped) after $(Get-Elapsed)s and $($script:UsedBytes) bytes; remaining steps are skipped"
    return $false
}

# Bytes one output may still take: the per-file cap or what is left of the size budget.
function Get-Cap {
    $left = $MaxBytes - $script:UsedBytes
    if ($left -gt $MaxFileBytes) { $left = $MaxFileBytes }
    if ($left -lt 0) { $left = 0 }
    return [int64]$left
}

function Get-StepSeconds {
    $s = [int]($MaxSeconds - $Reserve - $Clock.Elapsed.TotalSeconds)
    if ($s -gt $CmdTimeout) { $s = $CmdTimeout }
    if ($s -lt 1) { $s = 1 }
    return $s
}

function New-Dir([string]$Path) {
    if (-not [IO.Directory]::Exists($Path)) { [void][IO.Directory]::CreateDirectory($Path) }
}

function Get-FileLength([string]$Path) {
    if ([IO.File]::Exists($Path)) { return (New-Object IO.FileInfo($Path)).Length }
    return [int64]0
}

# Cuts an output file to the bytes left for it, keeping its beginning, and says so in the log.
function Limit-File([string]$Rel, [int64]$Cap) {
    $path = Join-Path $Work $Rel
    $length = Get-FileLength $path
    if ($length -gt $Cap) {
        $stream = [IO.File]::Open($path, [IO.FileMode]::Open, [IO.FileAccess]::ReadWrite)
        try { $stream.SetLength($Cap) } finally { $stream.Dispose() }
        Write-Log "NOTE  $Rel cut at $Cap of $length bytes (per-file cap or size budget)"
        return $Cap
    }
    return $length
}

function Save-Text([string]$Rel, [string]$Text) {
    $path = Join-Path $Work $Rel
    New-Dir (Split-Path -Parent $path)
    [IO.File]::WriteAllText($path, $Text, $Utf8)
}

function Save-Csv([string]$Rel, $Rows) {
    $path = Join-Path $Work $Rel
    New-Dir (Split-Path -Parent $path)
    $list = @($Rows | Where-Object { $null -ne $_ })
    if ($list.Count -eq 0) {
        [IO.File]::WriteAllText($path, '', $Utf8)
    } else {
        $list | Export-Csv -LiteralPath $path -NoTypeInformation -Encoding UTF8
    }
}

# Invoke-Section <name> <body>: one logged group of related steps.
function Invoke-Section([string]$Name, [scriptblock]$Body) {
    # Sections of other profiles are not part of this collector's plan.
    if ($AllSections -notcontains $Name) { return }
    if ($Sections -notcontains $Name) {
        Write-Log "SKIP  $Name reason=`"not selected by --sections`""
        return
    }
    if (-not (Test-Budget)) {
        Write-Log "SKIP  $Name reason=`"$($script:Stopped)`""
        return
    }
    Test-FreeSpace
    if (-not (Test-Budget)) {
        Write-Log "SKIP  $Name reason=`"$($script:Stopped)`""
        return
    }
    Write-Log "START $Name"
    [Console]::Out.WriteLine("[$Collector] $Name")
    $t0 = Get-Elapsed
    $b0 = $script:UsedBytes
    $script:SectionFailures = 0
    try {
        $null = & $Body
    } catch {
        $script:SectionFailures += 1
        Write-Log "ERROR $Name $($_.Exception.Message)"
    }
    $status = 'ok'
    if ($script:SectionFailures -gt 0) { $status = "failures=$($script:SectionFailures)" }
    if ($script:Stopped) { $status = "stopped ($($script:Stopped))" }
    Write-Log "END   $Name status=$status seconds=$((Get-Elapsed) - $t0) bytes=$($script:UsedBytes - $b0)"
}

# Invoke-Step <output rel> <body>: runs PowerShell code that writes one output file; logs status, time
# and size, and caps the file. CIM calls inside take -OperationTimeoutSec from Get-StepSeconds.
function Invoke-Step([string]$Rel, [scriptblock]$Body) {
    if (-not (Test-Budget)) { return }
    $t0 = Get-Elapsed
    $status = 'ok'
    $message = ''
    $cap = Get-Cap
    try {
        $null = & $Body
    } catch {
        $status = 'failed'
        $message = $_.Exception.Message
        $script:SectionFailures += 1
    }
    $size = Limit-File $Rel $cap
    $script:UsedBytes += $size
    Write-Log "STEP  $Rel status=$status seconds=$((Get-Elapsed) - $t0) bytes=$size"
    if ($message) { Write-Log "      error: $message" }
}

# Invoke-Native <output rel> <exe path> <arguments> [cut]: runs a helper program with a timeout, its
# stdout redirected into the collection folder; a helper that overruns is stopped (only ever our own
# child). The output is cut to the bytes left for it unless cut is $false (the caller then decides).
# Returns $true on success; the status is also left in $script:LastStatus.
function Invoke-Native([string]$Rel, [string]$Exe, [string]$Arguments, [bool]$Cut = $true) {
    $script:LastStatus = 'skipped'
    if (-not (Test-Path -LiteralPath $Exe -PathType Leaf)) {
        Write-Log "SKIP  $Rel reason=`"$Exe not present`""
        return $false
    }
    if (-not (Test-Budget)) { return $false }
    $out = Join-Path $Work $Rel
    New-Dir (Split-Path -Parent $out)
    $err = Join-Path $Scratch 'stderr.txt'
    $cap = Get-Cap
    $secs = Get-StepSeconds
    $t0 = Get-Elapsed
    $status = 'ok'
    $rc = ''
    try {
        $start = @{
            FilePath = $Exe; NoNewWindow = $true; PassThru = $true
            RedirectStandardOutput = $out; RedirectStandardError = $err; ErrorAction = 'Stop'
        }
        if ($Arguments) { $start.ArgumentList = $Arguments }
        $process = Start-Process @start
        # Touching Handle keeps ExitCode readable after the process ends (a Start-Process quirk).
        $null = $process.Handle
        if ($process.WaitForExit($secs * 1000)) {
            $process.WaitForExit()
            $rc = $process.ExitCode
            if ($rc -ne 0) { $status = 'failed' }
        } else {
            try { $process.Kill() } catch { }
            $status = 'timeout'
        }
    } catch {
        $status = 'failed'
        Write-Log "      error: $($_.Exception.Message)"
    }
    if ($Cut) { $size = Limit-File $Rel $cap } else { $size = Get-FileLength $out }
    $script:UsedBytes += $size
    $script:LastStatus = $status
    if ($status -ne 'ok') { $script:SectionFailures += 1 }
    Write-Log "CMD   $Rel status=$status rc=$rc seconds=$((Get-Elapsed) - $t0) bytes=$size cmd=`"$Exe $Arguments`""
    if ((Get-FileLength $err) -gt 0) {
        $lines = @(Get-Content -LiteralPath $err -TotalCount 5 -ErrorAction SilentlyContinue)
        foreach ($line in $lines) { Write-Log "      stderr: $line" }
    }
    return ($status -eq 'ok')
}

# Where a host file is copied to: C:\Users\x\f.txt -> fs\C\Users\x\f.txt
function Get-FsRel([string]$Path) {
    return 'fs\' + ($Path -replace '^([A-Za-z]):', '$1').TrimStart('\')
}

# Copy-Bounded <host path> [head|tail]: copies one file opened read-only with full sharing (logs and
# histories stay writable for their owners), bounded by the per-file cap and the size budget; `tail`
# keeps the newest bytes. The copy keeps the original last-write time.
function Copy-Bounded([string]$Source, [string]$Keep = 'head') {
    if (-not [IO.File]::Exists($Source)) { return }
    if (-not (Test-Budget)) { return }
    $rel = Get-FsRel $Source
    $dest = Join-Path $Work $rel
    # Sections overlap (full-eventlogs after eventlogs): copy each file once.
    if ([IO.File]::Exists($dest)) { return }
    $cap = Get-Cap
    $in = $null
    $outStream = $null
    try {
        $in = New-Object IO.FileStream($Source, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]'ReadWrite, Delete')
        $length = $in.Length
        $take = $length
        if ($take -gt $cap) {
            $take = $cap
            if ($Keep -eq 'tail') { [void]$in.Seek($length - $cap, [IO.SeekOrigin]::Begin) }
            Write-Log "NOTE  $rel truncated: kept the $Keep $cap of $length bytes (per-file cap or size budget)"
        }
        New-Dir (Split-Path -Parent $dest)
        $outStream = New-Object IO.FileStream($dest, [IO.FileMode]::Create, [IO.FileAccess]::Write, [IO.FileShare]::None)
        $buffer = New-Object byte[] 65536
        $left = [int64]$take
        while ($left -gt 0) {
            $want = [int][Math]::Min([int64]$buffer.Length, $left)
            $n = $in.Read($buffer, 0, $want)
            if ($n -le 0) { break }
            $outStream.Write($buffer, 0, $n)
            $left -= $n
        }
    } catch {
        Write-Log "SKIP  $rel reason=`"$($_.Exception.Message)`""
        $script:SectionFailures += 1
    } finally {
        if ($null -ne $outStream) { $outStream.Dispose() }
        if ($null -ne $in) { $in.Dispose() }
    }
    if ([IO.File]::Exists($dest)) {
        try { [IO.File]::SetLastWriteTimeUtc($dest, [IO.File]::GetLastWriteTimeUtc($Source)) } catch { }
        $script:UsedBytes += Get-FileLength $dest
        $script:CopiedFiles += 1
    }
}

# Copy-Tree <dir> [depth]: copies the files below a folder (no reparse points followed).
function Copy-Tree([string]$Dir, [int]$Depth = 4) {
    if (-not [IO.Directory]::Exists($Dir)) { return }
    foreach ($file in @(Get-TreeFiles $Dir $Depth)) {
        if (-not (Test-Budget)) { return }
        Copy-Bounded $file.FullName
    }
}

# Get-TreeFiles <dir> <depth> [exclude] [since]: files below a folder, walked by hand so that access-denied
# folders are skipped individually, junctions (e.g. "Application Data") are never followed, and only
# files written or created after <since> are emitted (memory stays proportional to the matches).
function Get-TreeFiles([string]$Dir, [int]$Depth, [string]$Exclude = '', [datetime]$Since = [datetime]::MinValue) {
    $stack = New-Object System.Collections.Stack
    $stack.Push(@((New-Object IO.DirectoryInfo($Dir)), 0))
    while ($stack.Count -gt 0) {
        if ($Clock.Elapsed.TotalSeconds -ge ($MaxSeconds - $Reserve)) { return }
        $entry = $stack.Pop()
        $current = $entry[0]
        $level = $entry[1]
        try {
            foreach ($file in $current.GetFiles()) {
                if ($file.LastWriteTimeUtc -ge $Since -or $file.CreationTimeUtc -ge $Since) { $file }
            }
            if ($level -lt $Depth) {
                foreach ($sub in $current.GetDirectories()) {
                    if ($sub.Attributes -band [IO.FileAttributes]::ReparsePoint) { continue }
                    if ($Exclude -and $sub.FullName.StartsWith($Exclude, [StringComparison]::OrdinalIgnoreCase)) { continue }
                    $stack.Push(@($sub, ($level + 1)))
                }
            }
        } catch {
            continue
        }
    }
}

function Get-Sha256([string]$Path) {
    try {
        return (Get-FileHash -LiteralPath $Path -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant()
    } catch {
        return '-'
    }
}

# Registry access through explicit 64-bit (and 32-bit) views, independent of this process's bitness.
# With -Names, only those values are read (Winlogon also holds DefaultPassword, which must not be copied).
function Get-RegistryValues([string]$HiveName, [string]$View, [string]$SubKey, [string[]]$Names = @()) {
    $hive = [Microsoft.Win32.RegistryHive]$HiveName
    $base = $null
    $key = $null
    try {
        $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey($hive, [Microsoft.Win32.RegistryView]$View)
        $key = $base.OpenSubKey($SubKey)
        if ($null -eq $key) { return }
        foreach ($name in $key.GetValueNames()) {
            if ($Names.Count -gt 0 -and $Names -notcontains $name) { continue }
            $data = $key.GetValue($name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
            if ($data -is [array]) { $data = ($data | ForEach-Object { [string]$_ }) -join ' | ' }
            [pscustomobject]@{
                Hive = $HiveName; View = $View; Key = $SubKey; Name = $name
                Kind = [string]$key.GetValueKind($name); Data = [string]$data
            }
        }
    } catch {
        Write-Log "NOTE  registry $HiveName\$SubKey ($View) unreadable: $($_.Exception.Message)"
    } finally {
        if ($null -ne $key) { $key.Dispose() }
        if ($null -ne $base) { $base.Dispose() }
    }
}

# Split-Names 'key|a,b' -> @('a', 'b'); 'key' -> @()
function Split-Names([string]$Entry) {
    $parts = $Entry.Split('|')
    if ($parts.Count -lt 2) { return ,@() }
    return ,@($parts[1].Split(','))
}

function Get-RegistryViews {
    if ([Environment]::Is64BitOperatingSystem) { return @('Registry64', 'Registry32') }
    return @('Registry32')
}

# Profiles: every local profile folder (SYSTEM and service profiles included).
function Get-ProfilePaths {
    $paths = @()
    try {
        foreach ($p in Get-CimInstance -ClassName Win32_UserProfile -ErrorAction Stop) {
            if ($p.LocalPath -and [IO.Directory]::Exists($p.LocalPath)) { $paths += $p.LocalPath }
        }
    } catch {
        Write-Log "NOTE  Win32_UserProfile unavailable: $($_.Exception.Message)"
    }
    $usersDir = Join-Path $env:SystemDrive 'Users'
    if ([IO.Directory]::Exists($usersDir)) {
        foreach ($d in [IO.Directory]::GetDirectories($usersDir)) { $paths += $d }
    }
    return @($paths | Sort-Object -Unique)
}

# ---------------------------------------------------------------------------------------------------
# Collection steps
# ---------------------------------------------------------------------------------------------------

function Collect-System {
    Invoke-Step 'system\summary.txt' {
        $os = Get-CimInstance -ClassName Win32_OperatingSystem -OperationTimeoutSec (Get-StepSeconds) -ErrorAction Stop
        $cs = Get-CimInstance -ClassName Win32_ComputerSystem -OperationTimeoutSec (Get-StepSeconds) -ErrorAction SilentlyContinue
        $tz = [TimeZoneInfo]::Local
        $ips = @()
        foreach ($nic in Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled = True' -ErrorAction SilentlyContinue) {
            $ips += ($nic.Description + ': ' + (@($nic.IPAddress) -join ', '))
        }
        $lines = @(
            "collector: $Collector $Version"
            "hostname: $HostName"
            "domain: $($cs.Domain)"
            "os: $($os.Caption) $($os.Version) build $($os.BuildNumber) $($os.OSArchitecture)"
            "install_date_utc: $(Format-Utc $os.InstallDate)"
            "last_boot_utc: $(Format-Utc $os.LastBootUpTime)"
            "uptime_seconds: $([int]((Get-Date) - $os.LastBootUpTime).TotalSeconds)"
            "collected_at_utc: $(Format-Utc (Get-Date))"
            "time_zone: $($tz.Id) (UTC offset $($tz.BaseUtcOffset))"
            "powershell: $($PSVersionTable.PSVersion)"
            "addresses: $($ips -join '; ')"
        )
        Save-Text 'system\summary.txt' (($lines -join "`n") + "`n")
    }
    $null = Invoke-Native 'system\ipconfig.txt' (Join-Path $SystemDir 'ipconfig.exe') '/all'
    $null = Invoke-Native 'system\systeminfo.txt' (Join-Path $SystemDir 'systeminfo.exe') ''
    Invoke-Step 'system\hotfixes.csv' {
        Save-Csv 'system\hotfixes.csv' (Get-CimInstance -ClassName Win32_QuickFixEngineering -OperationTimeoutSec (Get-StepSeconds) -ErrorAction Stop |
            Select-Object 'HotFixID', 'Description', 'InstalledOn', 'InstalledBy')
    }
}

function Collect-Processes {
    $script:ProcessNames = @{}
    Invoke-Step 'processes\processes.csv' {
        $all = @(Get-CimInstance -ClassName Win32_Process -OperationTimeoutSec (Get-StepSeconds) -ErrorAction Stop)
        foreach ($p in $all) { $script:ProcessNames[[string]$p.ProcessId] = $p.Name }
        $rows = foreach ($p in $all) {
            if ($Clock.Elapsed.TotalSeconds -ge ($MaxSeconds - $Reserve)) { break }
            $owner = ''
            try {
                $o = Invoke-CimMethod -InputObject $p -MethodName GetOwner -OperationTimeoutSec 10 -ErrorAction Stop
                if ($o.User) { $owner = "$($o.Domain)\$($o.User)" }
            } catch { }
            [pscustomobject]@{
                ProcessId = $p.ProcessId; ParentProcessId = $p.ParentProcessId
                ParentName = $script:ProcessNames[[string]$p.ParentProcessId]; Name = $p.Name; Owner = $owner
                SessionId = $p.SessionId; CreationUtc = Format-Utc $p.CreationDate
                ExecutablePath = $p.ExecutablePath; CommandLine = $p.CommandLine
            }
        }
        Save-Csv 'processes\processes.csv' $rows
        $script:ProcessPaths = @($all | Where-Object { $_.ExecutablePath } | ForEach-Object { $_.ExecutablePath } | Sort-Object -Unique)
    }
    # Hash and signature of every running binary: unsigned or oddly placed executables stand out.
    Invoke-Step 'processes\executables.csv' {
        $rows = foreach ($path in @($script:ProcessPaths)) {
            if ($Clock.Elapsed.TotalSeconds -ge ($MaxSeconds - $Reserve)) { break }
            if (-not [IO.File]::Exists($path)) { continue }
            $info = New-Object IO.FileInfo($path)
            $hash = '-'
            if ($info.Length -le $HashMaxBytes) { $hash = Get-Sha256 $path }
            $signature = ''
            try { $signature = [string](Get-AuthenticodeSignature -LiteralPath $path -ErrorAction Stop).Status } catch { }
            [pscustomobject]@{
                Path = $path; Size = $info.Length; LastWriteUtc = Format-Utc $info.LastWriteTimeUtc
                CreationUtc = Format-Utc $info.CreationTimeUtc; Sha256 = $hash; Signature = $signature
            }
        }
        Save-Csv 'processes\executables.csv' $rows
    }
    $null = Invoke-Native 'processes\tasklist-services.txt' (Join-Path $SystemDir 'tasklist.exe') '/svc'
}

function Collect-Network {
    $names = $script:ProcessNames
    if ($null -eq $names) { $names = @{} }
    if (Get-Command -Name Get-NetTCPConnection -ErrorAction SilentlyContinue) {
        Invoke-Step 'network\tcp.csv' {
            Save-Csv 'network\tcp.csv' (Get-NetTCPConnection -ErrorAction Stop | ForEach-Object {
                    [pscustomobject]@{
                        LocalAddress = $_.LocalAddress; LocalPort = $_.LocalPort; RemoteAddress = $_.RemoteAddress
                        RemotePort = $_.RemotePort; State = [string]$_.State; OwningProcess = $_.OwningProcess
                        ProcessName = $names[[string]$_.OwningProcess]
                    }
                })
        }
        Invoke-Step 'network\udp.csv' {
            Save-Csv 'network\udp.csv' (Get-NetUDPEndpoint -ErrorAction Stop | ForEach-Object {
                    [pscustomobject]@{
                        LocalAddress = $_.LocalAddress; LocalPort = $_.LocalPort; OwningProcess = $_.OwningProcess
                        ProcessName = $names[[string]$_.OwningProcess]
                    }
                })
        }
    } else {
        Write-Log 'SKIP  network\tcp.csv reason="Get-NetTCPConnection not available; see netstat.txt"'
    }
    $null = Invoke-Native 'network\netstat.txt' (Join-Path $SystemDir 'netstat.exe') '-ano'
    $null = Invoke-Native 'network\routes.txt' (Join-Path $SystemDir 'route.exe') 'print'
    $null = Invoke-Native 'network\arp.txt' (Join-Path $SystemDir 'arp.exe') '-a'
    $null = Invoke-Native 'network\dns-cache.txt' (Join-Path $SystemDir 'ipconfig.exe') '/displaydns'
    Copy-Bounded (Join-Path $SystemDir 'drivers\etc\hosts')
}

function Collect-Users {
    $null = Invoke-Native 'users\quser.txt' (Join-Path $SystemDir 'quser.exe') ''
    Invoke-Step 'users\logon-sessions.csv' {
        $rows = foreach ($s in Get-CimInstance -ClassName Win32_LogonSession -OperationTimeoutSec (Get-StepSeconds) -ErrorAction Stop) {
            $accounts = @()
            try {
                foreach ($u in Get-CimAssociatedInstance -InputObject $s -Association Win32_LoggedOnUser -ErrorAction Stop) {
                    $accounts += "$($u.Domain)\$($u.Name)"
                }
            } catch { }
            [pscustomobject]@{
                LogonId = $s.LogonId; LogonType = $s.LogonType; StartUtc = Format-Utc $s.StartTime
                AuthenticationPackage = $s.AuthenticationPackage; Accounts = ($accounts -join '; ')
            }
        }
        Save-Csv 'users\logon-sessions.csv' $rows
    }
    Invoke-Step 'users\local-accounts.csv' {
        Save-Csv 'users\local-accounts.csv' (Get-CimInstance -ClassName Win32_UserAccount -Filter 'LocalAccount = True' -OperationTimeoutSec (Get-StepSeconds) -ErrorAction Stop |
            Select-Object 'Name', 'SID', 'Disabled', 'Lockout', 'PasswordRequired', 'PasswordExpires', 'Description')
    }
    Invoke-Step 'users\administrators.csv' {
        # By SID, so the group is found whatever the system language calls it.
        $group = Get-CimInstance -ClassName Win32_Group -Filter "LocalAccount = True AND SID = 'S-1-5-32-544'" -ErrorAction Stop
        Save-Csv 'users\administrators.csv' (Get-CimAssociatedInstance -InputObject $group -Association Win32_GroupUser -ErrorAction Stop |
            Select-Object 'Domain', 'Name', 'SID', @{ Name = 'Class'; Expression = { $_.CimClass.CimClassName } })
    }
    Invoke-Step 'users\profiles.csv' {
        Save-Csv 'users\profiles.csv' (Get-CimInstance -ClassName Win32_UserProfile -ErrorAction Stop | ForEach-Object {
                [pscustomobject]@{ SID = $_.SID; LocalPath = $_.LocalPath; Loaded = $_.Loaded; LastUseUtc = Format-Utc $_.LastUseTime }
            })
    }
    # A readable digest of recent logons; the full record is in eventlogs\Security.evtx.
    Invoke-Step 'users\recent-logons.csv' {
        $filter = @{ LogName = 'Security'; Id = @(4624, 4625, 4648, 4672, 4720, 4732); StartTime = (Get-Date).AddDays(-$Days) }
        $events = @()
        try {
            $events = @(Get-WinEvent -FilterHashtable $filter -MaxEvents 5000 -ErrorAction Stop)
        } catch {
            if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw }
        }
        $rows = foreach ($e in $events) {
            if ($Clock.Elapsed.TotalSeconds -ge ($MaxSeconds - $Reserve)) { break }
            $data = @{}
            foreach ($d in ([xml]$e.ToXml()).Event.EventData.Data) { $data[[string]$d.Name] = [string]$d.'#text' }
            [pscustomobject]@{
                TimeUtc = Format-Utc $e.TimeCreated; EventId = $e.Id
                TargetUser = ($data['TargetDomainName'] + '\' + $data['TargetUserName']); LogonType = $data['LogonType']
                SourceAddress = $data['IpAddress']; Workstation = $data['WorkstationName']
                SubjectUser = ($data['SubjectDomainName'] + '\' + $data['SubjectUserName']); Process = $data['ProcessName']
            }
        }
        Save-Csv 'users\recent-logons.csv' $rows
    }
}

function Collect-Persistence {
    Invoke-Step 'persistence\services.csv' {
        Save-Csv 'persistence\services.csv' (Get-CimInstance -ClassName Win32_Service -OperationTimeoutSec (Get-StepSeconds) -ErrorAction Stop |
            Select-Object 'Name', 'DisplayName', 'State', 'StartMode', 'StartName', 'ProcessId', 'PathName', 'Description')
    }
    Invoke-Step 'persistence\drivers.csv' {
        Save-Csv 'persistence\drivers.csv' (Get-CimInstance -ClassName Win32_SystemDriver -OperationTimeoutSec (Get-StepSeconds) -ErrorAction Stop |
            Select-Object 'Name', 'DisplayName', 'State', 'StartMode', 'PathName')
    }
    $null = Invoke-Native 'persistence\scheduled-tasks.csv' (Join-Path $SystemDir 'schtasks.exe') '/query /fo csv /v'
    Copy-Tree (Join-Path $SystemDir 'Tasks') 6

    Invoke-Step 'persistence\registry-autoruns.csv' {
        # "key|value,value" reads only the named values; a bare key reads them all.
        $machineKeys = @(
            'SOFTWARE\Microsoft\Windows\CurrentVersion\Run'
            'SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnce'
            'SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnceEx'
            'SOFTWARE\Microsoft\Windows\CurrentVersion\RunServices'
            'SOFTWARE\Microsoft\Windows\CurrentVersion\RunServicesOnce'
            'SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer\Run'
            'SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon|Shell,Userinit,Taskman,AppSetup,GinaDLL,System,VMApplet'
            'SOFTWARE\Microsoft\Windows NT\CurrentVersion\Windows|AppInit_DLLs,LoadAppInit_DLLs,Load,Run,IconServiceLib'
            'SYSTEM\CurrentControlSet\Control\Session Manager|BootExecute,SetupExecute,Execute,S0InitialCommand,PendingFileRenameOperations'
        )
        $userKeys = @(
            'Software\Microsoft\Windows\CurrentVersion\Run'
            'Software\Microsoft\Windows\CurrentVersion\RunOnce'
            'Software\Microsoft\Windows\CurrentVersion\Policies\Explorer\Run'
            'Software\Microsoft\Windows NT\CurrentVersion\Winlogon|Shell,Userinit,Taskman'
            'Software\Microsoft\Windows NT\CurrentVersion\Windows|Load,Run'
        )
        $rows = @()
        foreach ($view in Get-RegistryViews) {
            foreach ($entry in $machineKeys) {
                $parts = $entry.Split('|')
                $rows += @(Get-RegistryValues 'LocalMachine' $view $parts[0] (Split-Names $entry))
            }
            # Image File Execution Options: a Debugger value hijacks the named program.
            $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]$view)
            try {
                $ifeo = $base.OpenSubKey('SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options')
                if ($null -ne $ifeo) {
                    foreach ($name in $ifeo.GetSubKeyNames()) {
                        $rows += @(Get-RegistryValues 'LocalMachine' $view ("SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options\$name") @('Debugger', 'GlobalFlag'))
                    }
                    $ifeo.Dispose()
                }
            } finally {
                $base.Dispose()
            }
        }
        # Only hives already loaded (logged-on users); loading others would modify the system state.
        $users = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::Users, [Microsoft.Win32.RegistryView]::Default)
        try {
            foreach ($sid in $users.GetSubKeyNames()) {
                if ($sid -like '*_Classes') { continue }
                foreach ($entry in $userKeys) {
                    $parts = $entry.Split('|')
                    $rows += @(Get-RegistryValues 'Users' 'Default' ($sid + '\' + $parts[0]) (Split-Names $entry))
                }
            }
        } finally {
            $users.Dispose()
        }
        Save-Csv 'persistence\registry-autoruns.csv' $rows
    }

    # Startup folders: listed with hashes and copied (shortcuts and scripts are small).
    $startupDirs = @(Join-Path $env:ProgramData 'Microsoft\Windows\Start Menu\Programs\StartUp')
    foreach ($profilePath in Get-ProfilePaths) {
        $startupDirs += (Join-Path $profilePath 'AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup')
    }
    Invoke-Step 'persistence\startup-folders.csv' {
        $rows = foreach ($dir in $startupDirs) {
            foreach ($file in @(Get-TreeFiles $dir 2)) {
                [pscustomobject]@{
                    Path = $file.FullName; Size = $file.Length; LastWriteUtc = Format-Utc $file.LastWriteTimeUtc
                    CreationUtc = Format-Utc $file.CreationTimeUtc; Sha256 = Get-Sha256 $file.FullName
                }
            }
        }
        Save-Csv 'persistence\startup-folders.csv' $rows
    }
    foreach ($dir in $startupDirs) { Copy-Tree $dir 2 }

    # WMI event subscriptions: a classic fileless persistence mechanism, and cheap to read.
    Invoke-Step 'persistence\wmi-subscriptions.txt' {
        $text = ''
        foreach ($class in @('__EventFilter', '__EventConsumer', '__FilterToConsumerBinding')) {
            $items = @(Get-CimInstance -Namespace 'root/subscription' -ClassName $class -OperationTimeoutSec (Get-StepSeconds) -ErrorAction SilentlyContinue)
            $text += "===== $class ($($items.Count))`n"
            $text += ($items | Format-List -Property * | Out-String -Width 4096)
        }
        Save-Text 'persistence\wmi-subscriptions.txt' $text
    }
}

# Export-EventLog <channel>: wevtutil epl of the last $Days days. An export that does not fit the bytes
# left for one file, or that overruns the step timeout, is deleted (it is our own file; a cut .evtx would
# be unreadable) and retried with half the window.
function Export-EventLog([string]$Channel) {
    if (-not (Test-Budget)) { return }
    $rel = 'eventlogs\' + ($Channel -replace '/', '%4') + '.evtx'
    $exists = Get-WinEvent -ListLog $Channel -ErrorAction SilentlyContinue
    if ($null -eq $exists) {
        Write-Log "SKIP  $rel reason=`"channel not present`""
        return
    }
    $wevtutil = Join-Path $SystemDir 'wevtutil.exe'
    $out = Join-Path $Work $rel
    $windowMs = [int64]$Days * 86400000
    for ($attempt = 1; $attempt -le 4; $attempt++) {
        if (-not (Test-Budget)) { return }
        $cap = Get-Cap
        $hours = [int]($windowMs / 3600000)
        $query = "*[System[TimeCreated[timediff(@SystemTime) <= $windowMs]]]"
        $ok = Invoke-Native $rel $wevtutil "epl `"$Channel`" `"$out`" `"/q:$query`" /ow:true" $false
        $length = Get-FileLength $out
        if ($ok -and $length -le $cap) {
            Write-Log "NOTE  $rel holds the last $hours hours"
            return
        }
        if ([IO.File]::Exists($out)) {
            $script:UsedBytes -= $length
            [IO.File]::Delete($out)
        }
        if ($script:LastStatus -ne 'ok' -and $script:LastStatus -ne 'timeout') { return }
        Write-Log "NOTE  $rel for $hours hours did not fit ($($script:LastStatus), $length of $cap bytes); retrying with half the window"
        $windowMs = [int64]($windowMs / 2)
    }
    Write-Log "SKIP  $rel reason=`"still too large or too slow after 4 attempts`""
}

function Collect-EventLogs {
    foreach ($channel in @(
            'Security'
            'System'
            'Microsoft-Windows-PowerShell/Operational'
            'Windows PowerShell'
            'Application'
            'Microsoft-Windows-TaskScheduler/Operational'
            'Microsoft-Windows-TerminalServices-LocalSessionManager/Operational'
            'Microsoft-Windows-Windows Defender/Operational'
            'Microsoft-Windows-Sysmon/Operational'
        )) {
        Export-EventLog $channel
    }
}

function Collect-Histories {
    foreach ($profilePath in Get-ProfilePaths) {
        $dir = Join-Path $profilePath 'AppData\Roaming\Microsoft\Windows\PowerShell\PSReadLine'
        if (-not [IO.Directory]::Exists($dir)) { continue }
        foreach ($file in [IO.Directory]::GetFiles($dir, '*_history.txt')) {
            if (-not (Test-Budget)) { return }
            Copy-Bounded $file 'tail'
        }
    }
}

function Collect-RecentFiles {
    $cutoff = (Get-Date).ToUniversalTime().AddDays(-$Days)
    $roots = @(Get-ProfilePaths) + @((Join-Path $env:SystemRoot 'Temp'), $env:ProgramData)
    $rel = 'files\recent-files.tsv'
    $path = Join-Path $Work $rel
    New-Dir (Split-Path -Parent $path)
    $writer = New-Object IO.StreamWriter($path, $false, $Utf8)
    $listed = 0
    $hashed = 0
    $small = @()
    $t0 = Get-Elapsed
    try {
        $writer.Write("sha256`tsize`tcreated_utc`tmodified_utc`tpath`n")
        foreach ($root in ($roots | Sort-Object -Unique)) {
            if (-not [IO.Directory]::Exists($root)) { continue }
            # The collection itself is never listed.
            foreach ($file in Get-TreeFiles $root 64 $OutBase $cutoff) {
                if (-not (Test-Budget)) { break }
                $hash = '-'
                if ($file.Length -le $HashMaxBytes) {
                    $hash = Get-Sha256 $file.FullName
                    $hashed += 1
                }
                $writer.Write("$hash`t$($file.Length)`t$(Format-Utc $file.CreationTimeUtc)`t$(Format-Utc $file.LastWriteTimeUtc)`t$($file.FullName)`n")
                $listed += 1
                if ($writer.BaseStream.Length -ge (Get-Cap)) {
                    Write-Log "NOTE  $rel stopped at the per-file cap or size budget"
                    break
                }
                if ($file.Length -le $SmallCopyBytes -and $file.FullName -match '\\(Windows\\Temp|AppData\\Local\\Temp)\\') {
                    $small += $file.FullName
                }
            }
        }
    } finally {
        $writer.Dispose()
    }
    $size = Get-FileLength $path
    $script:UsedBytes += $size
    Write-Log "STEP  $rel status=ok seconds=$((Get-Elapsed) - $t0) bytes=$size files=$listed hashed=$hashed"
    $copied = 0
    foreach ($f in $small) {
        if ($copied -ge $SmallCopyMax) {
            Write-Log "NOTE  files: stopped copying small recent temp files after $SmallCopyMax"
            break
        }
        if (-not (Test-Budget)) { break }
        Copy-Bounded $f
        $copied += 1
    }
    Write-Log "FILE  files: copied $copied small recent files from temp folders into fs\"
}

# ---------------------------------------------------------------------------------------------------
# Prerequisites: free disk space (all profiles)
# ---------------------------------------------------------------------------------------------------

# MiB available to us on the output volume, or -1 when the volume cannot be read.
function Get-FreeMb {
    try {
        $drive = New-Object IO.DriveInfo([IO.Path]::GetPathRoot($Work))
        return [int64]($drive.AvailableFreeSpace / $MiB)
    } catch {
        return [int64]-1
    }
}

# Keeps --min-free-mb free on the output volume: the size budget shrinks to what fits; when nothing fits
# the collection stops (every further step is skipped, with the reason logged). Run before each section.
function Test-FreeSpace {
    if ($script:Stopped) { return }
    $free = Get-FreeMb
    if ($free -lt 0) {
        if (-not $script:FreeNoted) { Write-Log 'NOTE  free disk space unknown; size budget unchanged' }
        $script:FreeNoted = $true
        return
    }
    $room = $free - $MinFreeMb
    if ($room -le 0) {
        $script:Stopped = "not enough free disk space: $free MiB free on the output volume, $MinFreeMb MiB must stay free"
        Write-Log "PREREQ $($script:Stopped); remaining steps are skipped"
        return
    }
    $allowed = $script:UsedBytes + ($room * $MiB)
    if ($allowed -lt $script:MaxBytes) {
        Write-Log "PREREQ size budget lowered from $([int64]($script:MaxBytes / $MiB)) to $([int64]($allowed / $MiB)) MiB: $free MiB free, $MinFreeMb MiB must stay free"
        $script:MaxBytes = $allowed
    } elseif (-not $script:FreeNoted) {
        Write-Log "PREREQ free disk space ok: $free MiB free, $MinFreeMb MiB kept free, budget $($Options.maxmb) MiB"
    }
    $script:FreeNoted = $true
}

# ---------------------------------------------------------------------------------------------------
# Profile full: browsers, execution artefacts, all event logs, web server logs
# ---------------------------------------------------------------------------------------------------

function Collect-Browsers {
    foreach ($profilePath in Get-ProfilePaths) {
        $local = Join-Path $profilePath 'AppData\Local'
        foreach ($base in @('Google\Chrome\User Data', 'Microsoft\Edge\User Data', 'BraveSoftware\Brave-Browser\User Data', 'Chromium\User Data')) {
            $dir = Join-Path $local $base
            if (-not [IO.Directory]::Exists($dir)) { continue }
            foreach ($sub in [IO.Directory]::GetDirectories($dir)) {
                Copy-Bounded (Join-Path $sub 'History')
                Copy-Bounded (Join-Path $sub 'History-journal')
            }
        }
        $firefox = Join-Path $profilePath 'AppData\Roaming\Mozilla\Firefox\Profiles'
        if ([IO.Directory]::Exists($firefox)) {
            foreach ($sub in [IO.Directory]::GetDirectories($firefox)) {
                foreach ($name in @('places.sqlite', 'places.sqlite-wal', 'formhistory.sqlite')) { Copy-Bounded (Join-Path $sub $name) }
            }
        }
    }
}

# Prefetch, Amcache and the shimcache (AppCompatCache value of the SYSTEM hive): what ran, and when.
function Collect-Execution {
    Copy-Tree (Join-Path $env:SystemRoot 'Prefetch') 1
    $amcache = Join-Path $env:SystemRoot 'AppCompat\Programs\Amcache.hve'
    # A loaded hive is locked for reading; reg.exe save makes a consistent copy into our own folder.
    $reg = Join-Path $SystemDir 'reg.exe'
    if ([IO.File]::Exists($amcache)) { Copy-Bounded $amcache }
    New-Dir (Join-Path $Work 'execution')
    Invoke-Native 'execution\shimcache.reg.txt' $reg 'query "HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\AppCompatCache" /v AppCompatCache' | Out-Null
    Copy-Tree (Join-Path $env:SystemRoot 'AppCompat\Programs') 1
}

function Collect-FullEventLogs {
    $wevtutil = Join-Path $SystemDir 'wevtutil.exe'
    $logs = @(Get-WinEvent -ListLog * -ErrorAction SilentlyContinue | Where-Object { $_.RecordCount -gt 0 } | Sort-Object -Property FileSize)
    foreach ($log in $logs) {
        if (-not (Test-Budget)) { return }
        $rel = 'eventlogs-full\' + ($log.LogName -replace '/', '%4') + '.evtx'
        $out = Join-Path $Work $rel
        $cap = Get-Cap
        $null = Invoke-Native $rel $wevtutil "epl `"$($log.LogName)`" `"$out`" /ow:true" $false
        $length = Get-FileLength $out
        if ($length -gt $cap) {
            # A cut .evtx is unreadable: the export (our own file) is removed and the log says so.
            $script:UsedBytes -= $length
            [IO.File]::Delete($out)
            Write-Log "SKIP  $rel reason=`"export of $length bytes exceeds the $cap bytes left for one file`""
        }
    }
}

function Collect-WebLogs {
    foreach ($dir in @((Join-Path $env:SystemDrive 'inetpub\logs\LogFiles'), (Join-Path $env:SystemRoot 'System32\LogFiles\HTTPERR'), 'C:\nginx\logs', 'C:\Apache24\logs', 'C:\xampp\apache\logs')) {
        Copy-Tree $dir 3
    }
    Copy-Bounded (Join-Path $env:SystemRoot 'System32\inetsrv\config\applicationHost.config')
}

# ---------------------------------------------------------------------------------------------------
# Profile memory: an image taken by the operator's acquisition tool, after its SHA-256 is checked
# ---------------------------------------------------------------------------------------------------

function Set-PrereqFailed([string]$Reason) {
    $script:PrereqFailed = $Reason
    $script:SectionFailures += 1
    Write-Log "FAIL  $Reason"
    [Console]::Error.WriteLine("triage.ps1: $Reason")
}

function Collect-Memory {
    $pkg = [string]$env:S1_PACKAGE_DIR_PATH
    if ([string]::IsNullOrEmpty($pkg)) {
        Set-PrereqFailed "memory acquisition tool $ToolName missing: no S1 package folder (S1_PACKAGE_DIR_PATH is unset); attach the tool as the script's package"
        return
    }
    $tool = Join-Path $pkg $ToolName
    if (-not [IO.File]::Exists($tool)) {
        Set-PrereqFailed "memory acquisition tool $ToolName missing from the S1 package folder $pkg"
        return
    }
    # Run a private copy whose hash was checked, so the file that runs is the file that was verified.
    $copy = Join-Path $Scratch ('acquire-' + $ToolName)
    [IO.File]::Copy($tool, $copy, $true)
    $actual = Get-Sha256 $copy
    if ($actual -ne $ToolSha256) {
        [IO.File]::Delete($Scratch + '\acquire-' + $ToolName)
        Set-PrereqFailed "memory acquisition tool $ToolName is not the configured one: sha256 $actual, expected $ToolSha256; not run"
        return
    }
    Write-Log "NOTE  memory tool $ToolName verified sha256=$actual"
    $memBytes = [int64]0
    try { $memBytes = [int64](Get-CimInstance -ClassName Win32_ComputerSystem -OperationTimeoutSec 30 -ErrorAction Stop).TotalPhysicalMemory } catch { }
    $needMb = [int64]($memBytes / $MiB * 1.1)
    $free = Get-FreeMb
    if ($free -ge 0 -and ($free - $MinFreeMb) -lt $needMb) {
        Set-PrereqFailed "not enough free disk space for a memory image: $free MiB free, $needMb MiB needed plus $MinFreeMb MiB kept free"
        return
    }
    if ($needMb -gt [int64](($script:MaxBytes - $script:UsedBytes) / $MiB)) {
        Set-PrereqFailed "the memory image (about $needMb MiB) exceeds the size budget of $($Options.maxmb) MiB"
        return
    }
    New-Dir (Join-Path $Work 'memory')
    $image = Join-Path $Work 'memory\memory.img'
    $saved = $CmdTimeout
    $script:CmdTimeout = $MaxSeconds
    $ok = Invoke-Native 'memory\acquisition-output.txt' $copy "`"$image`"" $false
    $script:CmdTimeout = $saved
    try { [IO.File]::Delete($Scratch + '\acquire-' + $ToolName) } catch { }
    $size = Get-FileLength $image
    $script:UsedBytes += $size
    if (-not $ok -or $size -eq 0) {
        Set-PrereqFailed "memory acquisition tool $ToolName failed ($($script:LastStatus), $size bytes written)"
        return
    }
    Save-Text 'memory\acquisition.txt' "tool: $ToolName`ntool_sha256: $ToolSha256`nmem_total_bytes: $memBytes`nimage: memory/memory.img`nimage_bytes: $size`n"
}

# ---------------------------------------------------------------------------------------------------
# Profile custom: the named paths and wildcards
# ---------------------------------------------------------------------------------------------------

function Collect-Custom {
    $total = 0
    foreach ($p in $CustomPaths) {
        if (-not (Test-Budget)) { break }
        $items = @(Get-Item -Path $p -Force -ErrorAction SilentlyContinue)
        if ($items.Count -eq 0) {
            Write-Log "SKIP  custom $p reason=`"no such file`""
            continue
        }
        $n = 0
        foreach ($item in $items) {
            if (-not (Test-Budget)) { break }
            if ($n -ge $CustomMaxMatches) {
                Write-Log "NOTE  custom ${p}: stopped after $CustomMaxMatches matches"
                break
            }
            if ($item.PSIsContainer) { Copy-Tree $item.FullName 8 } else { Copy-Bounded $item.FullName }
            $n += 1
        }
        $total += $n
        Write-Log "FILE  custom $p matches=$n"
    }
    Write-Log "FILE  custom: $($CustomPaths.Count) paths, $total matches"
}

# ---------------------------------------------------------------------------------------------------
# Finish: the log is closed first, then SHA256SUMS covers everything else in the folder.
# ---------------------------------------------------------------------------------------------------

function Write-Sums {
    $sumsPath = Join-Path $Work 'SHA256SUMS'
    $builder = New-Object System.Text.StringBuilder
    $files = [IO.Directory]::GetFiles($Work, '*', [IO.SearchOption]::AllDirectories) | Sort-Object
    foreach ($file in $files) {
        if ($file -eq $sumsPath) { continue }
        $relPath = $file.Substring($Work.Length + 1).Replace('\', '/')
        [void]$builder.Append((Get-Sha256 $file)).Append('  ').Append($relPath).Append("`n")
    }
    [IO.File]::WriteAllText($sumsPath, $builder.ToString(), $Utf8)
}

# ---------------------------------------------------------------------------------------------------
# Direct upload (only with --upload-parts): after the collection is closed (log and SHA256SUMS written), zip
# the folder next to it, send the zip to S3 in parts through the presigned URLs (System.Net.Http PUT, each
# part with its Content-MD5, which S3 checks), and leave s1cado-direct-upload.json in the output folder:
# what was sent (package size and SHA-256, each part's number, size, MD5, SHA-256 and S3's answer). On
# success the folder and the zip are removed, so the S1 result carries only the report; on any failure the
# zip is removed and the folder stays, with the report inside it (SHA256SUMS rewritten), so S1 uploads it.
# Part n goes to "<base>&partNumber=n&X-Amz-Signature=<sn>". One part at a time is staged to a file beside the zip (the
# HTTP body must have a known length), so memory stays at one 1 MiB buffer.
# ---------------------------------------------------------------------------------------------------

function Write-UploadReport([string]$Status, [string]$Reason, [string]$Name, [int64]$Bytes, [string]$Sha, [string]$Parts) {
    if (-not $Sha) { $Sha = '0' * 64 }
    $why = $Reason.Replace('\', '/').Replace('"', "'")
    $json = '{"schema":"s1cado/direct-upload@1","status":"' + $Status + '","reason":"' + $why + '","package":"' + $Name +
        '","bytes":' + $Bytes + ',"sha256":"' + $Sha + '","parts":[' + $Parts + ']}'
    # A failure report goes into the folder (S1 then carries it) and SHA256SUMS is written again to cover it.
    $dir = $Work
    if ($Status -eq 'uploaded') { $dir = $OutBase }
    [IO.File]::WriteAllText((Join-Path $dir 's1cado-direct-upload.json'), $json + "`n", $Utf8)
    if ($Status -ne 'uploaded') { Write-Sums }
}

function Invoke-DirectUpload([string]$Spec) {
    $fields = @($Spec.Split(','))
    $base = $fields[0]
    $sigs = @($fields | Select-Object -Skip 1)
    $name = (Split-Path -Leaf $Work) + '.zip'
    $pkg = Join-Path $OutBase ".s1cado-package-$PID.zip"
    $partPath = "$pkg.part"
    if ($sigs.Count -lt 1) { Write-UploadReport 'failed' 'no part signatures given' $name 0 '' ''; return }
    if (-not ($base -match '^https://' -or $base -match '^http://(127\.0\.0\.1|localhost):')) {
        Write-UploadReport 'failed' 'the upload URL is not https' $name 0 '' ''
        return
    }
    try {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        Add-Type -AssemblyName System.Net.Http
        [IO.Compression.ZipFile]::CreateFromDirectory($Work, $pkg, [IO.Compression.CompressionLevel]::Optimal, $true)
    } catch {
        try { [IO.File]::Delete($pkg) } catch { }
        Write-UploadReport 'failed' "zip failed: $($_.Exception.Message)" $name 0 '' ''
        [Console]::Out.WriteLine("[$Collector] direct upload failed: zip failed; the collection stays for S1")
        return
    }
    $size = [int64](Get-Item -LiteralPath $pkg).Length
    $sha = Get-Sha256 $pkg
    $mib = [int64]1048576
    $part = [int64][Math]::Ceiling($size / $sigs.Count)
    $part = [int64]([Math]::Ceiling($part / $mib) * $mib)
    if ($part -lt 5 * $mib) { $part = 5 * $mib }
    $count = [int][Math]::Max(1, [Math]::Ceiling($size / $part))
    $fail = ''
    if ($part -gt 5120 * $mib) { $fail = "the package ($size bytes) needs more than $($sigs.Count) parts of 5 GiB" }
    $parts = @()
    $client = $null
    $in = $null
    try {
        $client = New-Object System.Net.Http.HttpClient
        $client.Timeout = [TimeSpan]::FromSeconds([Math]::Max(60, $MaxSeconds))
        $in = [IO.File]::OpenRead($pkg)
        $buffer = New-Object byte[] $mib
        for ($i = 1; $i -le $count -and -not $fail; $i++) {
            $off = ($i - 1) * $part
            $len = [int64][Math]::Min($part, $size - $off)
            $md5 = [Security.Cryptography.MD5]::Create()
            $sha2 = [Security.Cryptography.SHA256]::Create()
            $outPart = New-Object IO.FileStream($partPath, [IO.FileMode]::Create, [IO.FileAccess]::Write, [IO.FileShare]::None)
            try {
                $in.Position = $off
                $left = $len
                while ($left -gt 0) {
                    $read = $in.Read($buffer, 0, [int][Math]::Min([int64]$buffer.Length, $left))
                    if ($read -le 0) { break }
                    [void]$md5.TransformBlock($buffer, 0, $read, $null, 0)
                    [void]$sha2.TransformBlock($buffer, 0, $read, $null, 0)
                    $outPart.Write($buffer, 0, $read)
                    $left -= $read
                }
            } finally {
                $outPart.Dispose()
            }
            [void]$md5.TransformFinalBlock($buffer, 0, 0)
            [void]$sha2.TransformFinalBlock($buffer, 0, 0)
            $md5b64 = [Convert]::ToBase64String($md5.Hash)
            $psha = ([BitConverter]::ToString($sha2.Hash) -replace '-', '').ToLowerInvariant()
            $code = 0
            for ($attempt = 1; $attempt -le 3; $attempt++) {
                $body = [IO.File]::OpenRead($partPath)
                try {
                    $content = New-Object System.Net.Http.StreamContent($body)
                    $content.Headers.ContentLength = $len
                    $content.Headers.ContentMD5 = $md5.Hash
                    $url = $base + '&partNumber=' + $i + '&X-Amz-Signature=' + $sigs[$i - 1]
                    $response = $client.PutAsync($url, $content).GetAwaiter().GetResult()
                    $code = [int]$response.StatusCode
                    $response.Dispose()
                } catch {
                    $code = 0
                } finally {
                    $body.Dispose()
                }
                # 2xx: done; 4xx (expired, signature, digest): another try gets the same answer.
                if ($code -ge 200 -and $code -lt 500) { break }
                Start-Sleep -Seconds $attempt
            }
            $parts += '{"partNumber":' + $i + ',"bytes":' + $len + ',"md5":"' + $md5b64 + '","sha256":"' + $psha + '","status":' + $code + '}'
            if ($code -lt 200 -or $code -ge 300) { $fail = "part $i of ${count}: S3 answered HTTP $code" }
        }
    } catch {
        $fail = "upload failed: $($_.Exception.Message)"
    } finally {
        if ($in) { $in.Dispose() }
        if ($client) { $client.Dispose() }
        try { [IO.File]::Delete($partPath) } catch { }
        try { [IO.File]::Delete($pkg) } catch { }
    }
    if ($fail) {
        Write-UploadReport 'failed' $fail $name $size $sha ($parts -join ',')
        [Console]::Out.WriteLine("[$Collector] direct upload failed: $fail; the collection stays for S1")
        return
    }
    Write-UploadReport 'uploaded' '' $name $size $sha ($parts -join ',')
    try { [IO.Directory]::Delete($Work, $true) } catch { }
    [Console]::Out.WriteLine("[$Collector] direct upload: $size bytes in $count parts, sha256 $sha")
}

$script:CopiedFiles = 0
$header = @(
    "# s1cado-collector $Collector $Version"
    "# started_utc: $(Format-Utc $StartedUtc)"
    "# host: $HostName"
    "# run_as: $([Security.Principal.WindowsIdentity]::GetCurrent().Name)"
    "# script: $($MyInvocation.MyCommand.Path) sha256=$(Get-Sha256 ([string]$MyInvocation.MyCommand.Path))"
    "# arguments: $($ScriptArgs -join ' ')"
    "# output: $Work"
    "# budgets: max_seconds=$MaxSeconds max_mb=$($Options.maxmb) max_file_mb=$($Options.maxfilemb) hash_max_mb=$($Options.hashmaxmb) days=$Days"
    "# profile: $BakedProfile"
    "# sections: $($Sections -join ',')"
    "# min_free_mb: $MinFreeMb"
    "# powershell: $($PSVersionTable.PSVersion) 64bit_process=$([Environment]::Is64BitProcess)"
    '# times are UTC; fs\ copies keep the original last-write time'
)
[IO.File]::AppendAllText($LogPath, (($header -join "`n") + "`n"), $Utf8)

# Most volatile first.
Invoke-Section 'system' { Collect-System }
Invoke-Section 'processes' { Collect-Processes }
Invoke-Section 'network' { Collect-Network }
Invoke-Section 'users' { Collect-Users }
Invoke-Section 'persistence' { Collect-Persistence }
Invoke-Section 'histories' { Collect-Histories }
Invoke-Section 'eventlogs' { Collect-EventLogs }
Invoke-Section 'recent-files' { Collect-RecentFiles }
Invoke-Section 'browsers' { Collect-Browsers }
Invoke-Section 'execution' { Collect-Execution }
Invoke-Section 'full-eventlogs' { Collect-FullEventLogs }
Invoke-Section 'web-logs' { Collect-WebLogs }
Invoke-Section 'memory' { Collect-Memory }
Invoke-Section 'custom' { Collect-Custom }

try { [IO.Directory]::Delete($Scratch, $true) } catch { Write-Log "NOTE  scratch folder not removed: $($_.Exception.Message)" }
$final = $script:Stopped
if (-not $final) { $final = 'complete' }
if ($script:PrereqFailed) { $final = "failed ($($script:PrereqFailed))" }
Write-Log "END   collection status=$final seconds=$(Get-Elapsed) bytes=$($script:UsedBytes) copied_files=$($script:CopiedFiles)"
Write-Sums
[Console]::Out.WriteLine("[$Collector] done: $Work ($($script:UsedBytes) bytes, $(Get-Elapsed)s, $final)")
if ($script:PrereqFailed) { exit 3 }
if ($UploadParts) { Invoke-DirectUpload $UploadParts }
exit 0
