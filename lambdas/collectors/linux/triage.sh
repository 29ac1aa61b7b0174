#!/bin/bash
# s1cado-collector: linux-triage 1.1.0
#
# Read-only collector for Linux endpoints (profiles triage, full, memory, custom), uploaded to the SentinelOne RemoteOps library as
# an artifactCollection script and run there as root with a minimal environment. Everything it produces
# goes below
#     ${S1_OUTPUT_DIR_PATH:-/opt/sentinelone/rso/}/<host>_<yyyymmddThhmmssZ>/
# which the agent zips into the evidence. It downloads nothing, installs nothing and changes nothing on
# the host outside that folder: no temp files elsewhere (TMPDIR points into the folder), no log rotation,
# no signals to other processes. It lowers its own CPU and I/O priority, reads only regular files (a
# history replaced by a FIFO or a link to /dev/zero cannot hang it), and stops cleanly when its time or
# size budget is spent.
#
# Profiles (the catalogue uploads one copy per profile, each with the profile line below rewritten):
#   triage  quick first response (the sections listed under --sections)
#   full    triage plus browsers, execution traces, full logs, web server logs, package and account
#           databases
#   memory  a memory image taken by the acquisition tool shipped as the script's S1 package
#           ($S1_PACKAGE_DIR_PATH/<--tool-name>), run as `<tool> <output file>` after its SHA-256 is
#           checked against --tool-sha256; missing or mismatched tool: exit 3, nothing run
#   custom  only the absolute paths and globs of --paths
#
# Arguments (RemoteOps passes them as one string; values cannot contain spaces):
#   --profile NAME    must name this copy's profile (a guard against running the wrong copy)
#   --max-seconds N   total runtime budget, checked between steps and used as the per-step timeout (900)
#   --max-mb N        total size budget for collected data, in MiB (512)
#   --days N          look-back window for rotated logs, the journal and recent files (7)
#   --max-file-mb N   cap for any single copied file or command output, in MiB; logs keep their newest
#                     bytes (64)
#   --hash-max-mb N   largest file hashed in the recent-files listing, in MiB (256)
#   --root DIR        read file-system artifacts below DIR instead of / (tests, mounted images); live
#                     state (ps, ss, who, systemctl, /proc) still comes from the running system
#   --sections LIST   comma-separated subset of the profile's sections (all of them)
#   --min-free-mb N   free space left on the output volume in any case; the size budget shrinks to fit
#                     and a collection that cannot fit is skipped, with the reason in collection.log (1024)
#   --paths LIST      custom: comma-separated absolute paths or globs (* ?), at most 32, no . or ..
#   --tool-name F     memory: file name of the acquisition tool in the package directory
#   --tool-sha256 H   memory: its expected SHA-256 (64 hex digits)
#   --upload-parts B,S1,...,SN
#                     send the collection straight to S3 (see "Direct upload" at the end): B is a presigned
#                     UploadPart URL without partNumber and X-Amz-Signature, S1..SN the signatures of parts 1..N
#
# Output (paths relative to the collection folder):
#   collection.log    each step with start and end time, exit status, skip and truncation reasons
#   SHA256SUMS        `sha256sum -c` compatible hashes of every other file, computed last
#   fs/<host path>    copies of configuration, persistence, history and log files (mtime kept)
#   fs-listing.tsv    original size, mtime, ctime, owner, mode and type of every file looked at in fs/
#   system/ processes/ network/ users/ persistence/ logs/ files/   command outputs and listings
#
# Exit status: 0 collection finished (possibly partial: see collection.log), 2 output directory missing
# or unwritable, 3 a prerequisite of the profile failed (memory tool missing or not the expected one, no
# free disk space for a memory image; the folder still holds collection.log and SHA256SUMS), 64 invalid
# arguments.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
HOST_TZ=${TZ-}
TZ=UTC
LC_ALL=C
export TZ LC_ALL
umask 077

S1CADO_PROFILE='triage' # s1cado-profile
readonly PROFILE=$S1CADO_PROFILE
readonly COLLECTOR="linux-$PROFILE"
readonly VERSION='1.1.0'

MAX_SECONDS=900
MAX_MB=512
DAYS=7
MAX_FILE_MB=64
HASH_MAX_MB=256
ROOT=''
MIN_FREE_MB=1024
CUSTOM_PATHS=''
TOOL_NAME=''
TOOL_SHA256=''
readonly TRIAGE_SECTIONS='system,processes,network,users,persistence,histories,logs,recent-files'
case "$PROFILE" in
  triage) ALL_SECTIONS=$TRIAGE_SECTIONS ;;
  full) ALL_SECTIONS="$TRIAGE_SECTIONS,browsers,execution,full-logs,web-logs,databases" ;;
  memory) ALL_SECTIONS='system,memory' ;;
  custom) ALL_SECTIONS='system,custom' ;;
  *)
    printf 'triage.sh: unknown baked profile %s\n' "$PROFILE" >&2
    exit 64
    ;;
esac
readonly ALL_SECTIONS
UPLOAD_PARTS=''
SECTIONS=$ALL_SECTIONS
readonly CUSTOM_MAX_PATHS=32
readonly CUSTOM_MAX_MATCHES=1000
# Upper bound for any single live command, so one hung tool cannot eat the whole budget.
readonly CMD_TIMEOUT=120
# Recent files in world-writable temp dirs up to this size are copied, not only listed: dropped
# scripts and small implants are exactly what responders want to look at.
readonly SMALL_COPY_BYTES=524288
readonly SMALL_COPY_MAX=200
readonly META_FMT=$'%s\t%y\t%z\t%u\t%g\t%a\t%F'
readonly HISTORY_FILES='.bash_history .zsh_history .zhistory .sh_history .ash_history .history
  .python_history .mysql_history .psql_history'
readonly STARTUP_FILES='.bashrc .bash_profile .bash_login .bash_logout .profile .zshrc .zshenv .zprofile
  .zlogin .zlogout .ssh/authorized_keys .ssh/authorized_keys2 .ssh/rc .ssh/config .ssh/known_hosts'

usage() {
  printf '%s\n' 'usage: triage.sh [--profile NAME] [--max-seconds N] [--max-mb N] [--days N]' \
    '                 [--max-file-mb N] [--hash-max-mb N] [--root DIR] [--sections LIST]' \
    '                 [--min-free-mb N] [--paths LIST] [--tool-name F] [--tool-sha256 H]' \
    "profile of this copy: $PROFILE (sections: $ALL_SECTIONS)"
}

bad_usage() {
  printf 'triage.sh: %s\n' "$1" >&2
  usage >&2
  exit 64
}

# set_int <variable> <option> <value>: validates a positive decimal (leading zeros are not octal).
set_int() {
  case "$3" in
    '' | *[!0-9]*) bad_usage "$2 needs a positive integer, got '$3'" ;;
  esac
  [ "${#3}" -le 9 ] || bad_usage "$2 is too large: $3"
  [ "$((10#$3))" -gt 0 ] || bad_usage "$2 must be greater than 0"
  printf -v "$1" '%d' "$((10#$3))"
}

ARGS_TEXT="$*"
if [ "$#" -eq 1 ]; then
  # RemoteOps delivers inputParams as a single string: split it on whitespace, never glob.
  set -f
  # shellcheck disable=SC2086
  set -- $1
  set +f
fi
while [ "$#" -gt 0 ]; do
  opt=$1
  case "$opt" in
    -h | --help)
      usage
      exit 0
      ;;
    --*=*)
      val=${opt#*=}
      opt=${opt%%=*}
      shift
      ;;
    --*)
      [ "$#" -ge 2 ] || bad_usage "$opt needs a value"
      val=$2
      shift 2
      ;;
    *) bad_usage "unexpected argument '$opt'" ;;
  esac
  case "$opt" in
    --max-seconds) set_int MAX_SECONDS "$opt" "$val" ;;
    --max-mb) set_int MAX_MB "$opt" "$val" ;;
    --days) set_int DAYS "$opt" "$val" ;;
    --max-file-mb) set_int MAX_FILE_MB "$opt" "$val" ;;
    --hash-max-mb) set_int HASH_MAX_MB "$opt" "$val" ;;
    --root) ROOT=$val ;;
    --profile)
      [ "$val" = "$PROFILE" ] || bad_usage "this is the $PROFILE collector; it cannot run profile '$val'"
      ;;
    --min-free-mb)
      case "$val" in
        '' | *[!0-9]*) bad_usage "--min-free-mb needs a non-negative integer, got '$val'" ;;
      esac
      [ "${#val}" -le 9 ] || bad_usage "--min-free-mb is too large: $val"
      MIN_FREE_MB=$((10#$val))
      ;;
    --paths)
      [ "$PROFILE" = custom ] || bad_usage "--paths is only taken by the custom profile"
      CUSTOM_PATHS=$val
      ;;
    --tool-name)
      [ "$PROFILE" = memory ] || bad_usage "--tool-name is only taken by the memory profile"
      case "$val" in
        '' | .* | */* | *[!A-Za-z0-9._-]*) bad_usage "--tool-name must be a plain file name, got '$val'" ;;
      esac
      TOOL_NAME=$val
      ;;
    --tool-sha256)
      [ "$PROFILE" = memory ] || bad_usage "--tool-sha256 is only taken by the memory profile"
      case "$val" in
        *[!0-9a-fA-F]*) bad_usage "--tool-sha256 must be 64 hex digits" ;;
      esac
      [ "${#val}" -eq 64 ] || bad_usage "--tool-sha256 must be 64 hex digits"
      TOOL_SHA256=$(printf '%s' "$val" | tr 'A-F' 'a-f')
      ;;
    --upload-parts) UPLOAD_PARTS=$val ;;
    --sections)
      SECTIONS=$val
      set -f
      for name in ${val//,/ }; do
        case ",$ALL_SECTIONS," in
          *",$name,"*) ;;
          *) bad_usage "unknown section '$name' (known: $ALL_SECTIONS)" ;;
        esac
      done
      set +f
      ;;
    *) bad_usage "unknown option '$opt'" ;;
  esac
done

# check_custom_paths: the same rules as the workflow's validation, again on the endpoint.
CUSTOM_LIST=()
check_custom_paths() {
  local p
  [ -n "$CUSTOM_PATHS" ] || bad_usage "the custom profile needs --paths"
  set -f
  for p in ${CUSTOM_PATHS//,/ }; do
    case "$p" in
      /*) ;;
      *) bad_usage "custom path '$p' is relative: give an absolute path" ;;
    esac
    case "/$p/" in
      */../* | */./*) bad_usage "custom path '$p' contains a . or .. segment (traversal is not allowed)" ;;
    esac
    case "$p" in
      *[!A-Za-z0-9/._*?:@+=%~-]*) bad_usage "custom path '$p' contains a character other than letters, digits, / . _ - * ?" ;;
    esac
    CUSTOM_LIST+=("$p")
  done
  set +f
  [ "${#CUSTOM_LIST[@]}" -le "$CUSTOM_MAX_PATHS" ] ||
    bad_usage "the custom profile takes at most $CUSTOM_MAX_PATHS paths, got ${#CUSTOM_LIST[@]}"
}
[ "$PROFILE" != custom ] || check_custom_paths
if [ "$PROFILE" = memory ] && { [ -z "$TOOL_NAME" ] || [ -z "$TOOL_SHA256" ]; }; then
  bad_usage "the memory profile needs --tool-name and --tool-sha256"
fi

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || bad_usage "--root '$ROOT' is not a directory"
  ROOT=$(cd -- "$ROOT" && pwd -P) || bad_usage "--root '$ROOT' cannot be resolved"
  # "/" means the live file system, which is the empty prefix.
  ROOT=${ROOT%/}
fi

OUT_BASE=${S1_OUTPUT_DIR_PATH:-/opt/sentinelone/rso/}
if [ ! -d "$OUT_BASE" ] || [ ! -w "$OUT_BASE" ]; then
  printf 'triage.sh: output directory %s is missing or not writable; nothing collected\n' "$OUT_BASE" >&2
  exit 2
fi

# Absolute, because some steps read their file lists from inside a subshell that changed directory.
OUT_BASE=$(cd -- "$OUT_BASE" && pwd -P) || exit 2

HOST_NAME=$(uname -n 2>/dev/null)
[ -n "$HOST_NAME" ] || HOST_NAME=unknown-host
HOST_SAFE=$(printf '%s' "$HOST_NAME" | tr -c 'A-Za-z0-9._-' '_')
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
STARTED="${STAMP:0:4}-${STAMP:4:2}-${STAMP:6:2}T${STAMP:9:2}:${STAMP:11:2}:${STAMP:13:2}Z"
WORK="${OUT_BASE%/}/${HOST_SAFE}_${STAMP}"
if ! mkdir -- "$WORK" 2>/dev/null; then
  WORK="${WORK}_$$"
  if ! mkdir -- "$WORK" 2>/dev/null; then
    printf 'triage.sh: cannot create %s; nothing collected\n' "$WORK" >&2
    exit 2
  fi
fi
readonly WORK
readonly LOG="$WORK/collection.log"
readonly LISTING="$WORK/fs-listing.tsv"
# Scratch space for file lists and stderr captures lives inside the collection folder and is removed
# before SHA256SUMS is written; TMPDIR points there so no tool writes temp files elsewhere on the host.
readonly SCRATCH="$WORK/.scratch"
mkdir -- "$SCRATCH" || exit 2
TMPDIR=$SCRATCH
export TMPDIR

# Not readonly: the free-space check (check_free_space) may lower the size budget.
MAX_BYTES=$((MAX_MB * 1048576))
readonly MAX_FILE_BYTES=$((MAX_FILE_MB * 1048576))
# Time kept back for writing the log and SHA256SUMS at the end.
readonly RESERVE_SECONDS=$((MAX_SECONDS / 20))
USED_BYTES=0
STOPPED=''
PREREQ_FAILED=''
SECTION_FAILURES=0
LIST_N=0
CAP=0
STEP_SECS=1

# bash >= 4.2 formats time itself; older shells pay one date(1) per log line.
if printf '%(%s)T' -1 >/dev/null 2>&1; then
  log() {
    printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*" >>"$LOG"
  }
else
  log() {
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$LOG"
  }
fi

# Probe optional tool features once, so every step can rely on the result.
TIMEOUT_MODE=none
if command -v timeout >/dev/null 2>&1; then
  if timeout -k 1 5 true 2>/dev/null; then
    TIMEOUT_MODE=kill
  elif timeout 5 true 2>/dev/null; then
    TIMEOUT_MODE=plain
  fi
fi
FIND_GNU=0
find / -maxdepth 0 -printf '' >/dev/null 2>&1 && FIND_GNU=1
HAVE_SHA256=0
command -v sha256sum >/dev/null 2>&1 && HAVE_SHA256=1

# set_timeout <seconds>: TMO becomes the prefix that bounds one external command ("${TMO[@]}" cmd ...);
# empty when timeout is unavailable. An array rather than a wrapper function saves a fork per command.
TMO=()
set_timeout() {
  case "$TIMEOUT_MODE" in
    kill) TMO=(timeout -k 2 "$1") ;;
    plain) TMO=(timeout "$1") ;;
    *) TMO=() ;;
  esac
}

# budget_ok: true while time and size budgets leave room; logs the first stop once.
budget_ok() {
  [ -z "$STOPPED" ] || return 1
  if [ "$SECONDS" -ge "$((MAX_SECONDS - RESERVE_SECONDS))" ]; then
    STOPPED="time budget of ${MAX_SECONDS}s spent"
  elif [ "$USED_BYTES" -ge "$MAX_BYTES" ]; then
    STOPPED="size budget of ${MAX_MB} MB spent"
  else
    return 0
  fi
  log "BUDGET $STOPPED after ${SECONDS}s and $USED_BYTES bytes; remaining steps are skipped"
  return 1
}

# limits: sets CAP (bytes one output may still take) and STEP_SECS (timeout for one command).
limits() {
  CAP=$((MAX_BYTES - USED_BYTES))
  [ "$CAP" -le "$MAX_FILE_BYTES" ] || CAP=$MAX_FILE_BYTES
  STEP_SECS=$((MAX_SECONDS - RESERVE_SECONDS - SECONDS))
  [ "$STEP_SECS" -le "$CMD_TIMEOUT" ] || STEP_SECS=$CMD_TIMEOUT
  [ "$STEP_SECS" -ge 1 ] || STEP_SECS=1
  set_timeout "$STEP_SECS"
}

file_size() {
  local n
  n=$(wc -c <"$1" 2>/dev/null)
  n=${n//[!0-9]/}
  printf '%s' "${n:-0}"
}

log_stderr() {
  local line
  [ -s "$SCRATCH/stderr" ] || return 0
  head -n 5 -- "$SCRATCH/stderr" | head -c 1000 | while IFS= read -r line || [ -n "$line" ]; do
    printf '      stderr: %s\n' "$line"
  done >>"$LOG"
}

# section <name> <function>: one logged group of related steps.
section() {
  local name=$1 fn=$2 t0=$SECONDS b0=$USED_BYTES status=ok
  # Sections of other profiles are not part of this collector's plan.
  case ",$ALL_SECTIONS," in
    *",$name,"*) ;;
    *) return 0 ;;
  esac
  case ",$SECTIONS," in
    *",$name,"*) ;;
    *)
      log "SKIP  $name reason=\"not selected by --sections\""
      return 0
      ;;
  esac
  if ! budget_ok; then
    log "SKIP  $name reason=\"$STOPPED\""
    return 0
  fi
  check_free_space
  if ! budget_ok; then
    log "SKIP  $name reason=\"$STOPPED\""
    return 0
  fi
  log "START $name"
  printf '[%s] %s\n' "$COLLECTOR" "$name"
  SECTION_FAILURES=0
  "$fn"
  [ "$SECTION_FAILURES" -eq 0 ] || status="failures=$SECTION_FAILURES"
  [ -z "$STOPPED" ] || status="stopped ($STOPPED)"
  log "END   $name status=$status seconds=$((SECONDS - t0)) bytes=$((USED_BYTES - b0))"
}

# run_cmd <output path relative to the collection folder> <command> [args...]
# Runs one live command under the step timeout with its output capped by the per-file cap and the size
# left in the budget; logs exit status, duration and size. Returns 0 when it produced a usable result.
run_cmd() {
  local rel=$1 out="$WORK/$1" t0=$SECONDS size rc status cmd result
  shift
  cmd="$*"
  [ "${#cmd}" -le 200 ] || cmd="${cmd:0:200}..."
  if ! command -v "$1" >/dev/null 2>&1; then
    log "SKIP  $rel reason=\"$1 not installed\""
    return 127
  fi
  budget_ok || return 125
  limits
  [ -d "${out%/*}" ] || mkdir -p -- "${out%/*}"
  "${TMO[@]}" "$@" </dev/null 2>"$SCRATCH/stderr" | head -c "$CAP" >"$out"
  rc=${PIPESTATUS[0]}
  result=$rc
  size=$(file_size "$out")
  USED_BYTES=$((USED_BYTES + size))
  if [ "$size" -ge "$CAP" ]; then
    # The command was cut off by the cap (usually SIGPIPE): what it wrote is still a usable result.
    status=truncated
    result=0
  elif [ "$rc" -eq 0 ]; then
    status=ok
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    status=timeout
  elif [ "$size" -gt 0 ]; then
    status=partial
  else
    status=failed
  fi
  log "CMD   $rel status=$status rc=$rc seconds=$((SECONDS - t0)) bytes=$size cmd=\"$cmd\""
  [ "$status" != truncated ] || log "NOTE  $rel cut at $CAP bytes (per-file cap or size budget)"
  log_stderr
  if [ "$status" = failed ] || [ "$status" = timeout ]; then
    SECTION_FAILURES=$((SECTION_FAILURES + 1))
    [ "$size" -gt 0 ] || rm -f -- "$out"
  fi
  return "$result"
}

# record_meta <host path>: appends the original metadata of a file to fs-listing.tsv and leaves it in
# META (first field: size).
META=''
record_meta() {
  local target=''
  local row
  META=$(stat -c "$META_FMT" -- "$ROOT$1" 2>/dev/null) || META=$'-\t-\t-\t-\t-\t-\t-'
  [ ! -L "$ROOT$1" ] || target=$(readlink -- "$ROOT$1" 2>/dev/null)
  printf -v row '%s\t%s\t%s\n' "$META" "$1" "$target"
  printf '%s' "$row" >>"$LISTING"
  USED_BYTES=$((USED_BYTES + ${#row}))
}

# copy_file <host path> [head|tail]
# Copies $ROOT<host path> to fs/<host path>, bounded by the per-file cap and the size budget; `tail`
# keeps the newest bytes of a log. Only regular files (or links to them) are read. Returns 1 when the
# path does not exist.
copy_file() {
  local hp=$1 keep=${2:-head} src="$ROOT$1" dst="$WORK/fs$1" size written rc
  [ -e "$src" ] || [ -L "$src" ] || return 1
  # Sections overlap (full-logs walks /var/log after logs took the main files): copy each file once.
  [ ! -e "$dst" ] || return 0
  budget_ok || return 0
  record_meta "$hp"
  if [ ! -f "$src" ]; then
    if [ -L "$src" ]; then
      log "SKIP  fs$hp reason=\"symbolic link to '$(readlink -- "$src")', not a regular file\""
    else
      log "SKIP  fs$hp reason=\"not a regular file\""
    fi
    return 0
  fi
  if [ ! -r "$src" ]; then
    log "SKIP  fs$hp reason=\"not readable\""
    return 0
  fi
  limits
  size=${META%%$'\t'*}
  if [ -L "$src" ] || [ "$size" = - ]; then
    size=$(stat -L -c %s -- "$src" 2>/dev/null) || size=$(file_size "$src")
  fi
  [ -d "${dst%/*}" ] || mkdir -p -- "${dst%/*}"
  if [ "$size" -gt "$CAP" ]; then
    case "$hp" in
      *.gz | *.xz | *.bz2 | *.zst | *.lz4 | *.Z)
        # A cut compressed stream is unreadable, so it is skipped rather than truncated.
        log "SKIP  fs$hp reason=\"compressed file of $size bytes exceeds the $CAP bytes left for one file\""
        return 0
        ;;
    esac
    if [ "$keep" = tail ]; then
      "${TMO[@]}" tail -c "$CAP" -- "$src" >"$dst" 2>/dev/null
    else
      "${TMO[@]}" head -c "$CAP" -- "$src" >"$dst" 2>/dev/null
    fi
    rc=$?
    log "NOTE  fs$hp truncated: kept the $keep $CAP of $size bytes (per-file cap or size budget)"
  else
    # head -c even here: a log growing while it is copied must not overshoot the cap.
    "${TMO[@]}" head -c "$CAP" -- "$src" >"$dst" 2>/dev/null
    rc=$?
  fi
  touch -r "$src" -- "$dst" 2>/dev/null
  written=$(file_size "$dst")
  USED_BYTES=$((USED_BYTES + written))
  if [ "$rc" -ne 0 ]; then
    log "NOTE  fs$hp copy ended with rc=$rc after $written bytes"
    SECTION_FAILURES=$((SECTION_FAILURES + 1))
  fi
  return 0
}

# copy_known <host path> [head|tail]: copy_file that also logs when the file is absent, for fixed
# system paths where "not present" is itself worth knowing (e.g. /etc/ld.so.preload).
copy_known() {
  copy_file "$@" || log "SKIP  fs$1 reason=\"not present\""
}

# copy_dir <host dir> [max depth]: copies the regular files (and links) below a directory.
copy_dir() {
  local hd=$1 depth=${2:-4} list f
  [ -d "$ROOT$hd" ] || return 1
  budget_ok || return 0
  limits
  LIST_N=$((LIST_N + 1))
  list="$SCRATCH/list.$LIST_N"
  "${TMO[@]}" find "$ROOT$hd" -xdev -maxdepth "$depth" \( -type f -o -type l \) -print0 \
    >"$list" 2>/dev/null
  while IFS= read -r -d '' f <&3; do
    budget_ok || break
    copy_file "${f#"$ROOT"}"
  done 3<"$list"
  return 0
}

# ---------------------------------------------------------------------------------------------------
# Collection steps
# ---------------------------------------------------------------------------------------------------

HOMES=()

add_home() {
  local h=$1 x
  while [ "${h%/}" != "$h" ]; do h=${h%/}; done
  # System accounts whose "home" is a binary directory add nothing but noise.
  case "$h" in
    '' | /dev | /dev/* | /proc | /proc/* | /sys | /sys/* | /nonexistent*) return 0 ;;
    /bin | /sbin | /usr/bin | /usr/sbin | /usr/games) return 0 ;;
  esac
  [ -d "$ROOT$h" ] || return 0
  for x in "${HOMES[@]}"; do
    [ "$x" != "$h" ] || return 0
  done
  HOMES+=("$h")
}

# find_homes: /root, /home/* and every home directory named in /etc/passwd (service accounts such as
# www-data are where web shells leave their traces).
find_homes() {
  local user pw uid gid gecos home shell h
  add_home /root
  for h in "$ROOT"/home/*; do
    [ -d "$h" ] && add_home "${h#"$ROOT"}"
  done
  if [ -f "$ROOT/etc/passwd" ]; then
    while IFS=: read -r user pw uid gid gecos home shell <&3; do
      add_home "$home"
    done 3<"$ROOT/etc/passwd"
  fi
}

read_small() {
  [ -f "$ROOT$1" ] && head -c 4096 -- "$ROOT$1" 2>/dev/null
}

write_summary() {
  local out="$WORK/system/summary.txt" os localtime ips
  mkdir -p -- "$WORK/system"
  os=$(read_small /etc/os-release | grep -m1 '^PRETTY_NAME=' | cut -d= -f2- | tr -d '"')
  localtime=$(readlink -- "$ROOT/etc/localtime" 2>/dev/null) || localtime='(not a symbolic link)'
  if command -v ip >/dev/null 2>&1; then
    set_timeout 10
    ips=$("${TMO[@]}" ip -o addr show 2>/dev/null | awk '{ printf "%s %s %s; ", $2, $3, $4 }')
  else
    set_timeout 10
    ips=$("${TMO[@]}" hostname -I 2>/dev/null)
  fi
  {
    printf 'collector: %s %s\n' "$COLLECTOR" "$VERSION"
    printf 'hostname: %s\n' "$HOST_NAME"
    printf 'os: %s\n' "${os:-unknown}"
    printf 'kernel: %s\n' "$(uname -srvm 2>/dev/null)"
    printf 'uptime_seconds: %s\n' "$(cut -d' ' -f1 /proc/uptime 2>/dev/null)"
    printf 'collected_at_utc: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'tz_environment: %s\n' "${HOST_TZ:-(unset)}"
    printf 'etc_timezone: %s\n' "$(read_small /etc/timezone | head -n 1)"
    printf 'etc_localtime: %s\n' "$localtime"
    printf 'addresses: %s\n' "${ips:-unknown}"
    printf 'file_system_root: %s\n' "${ROOT:-/}"
  } >"$out"
  USED_BYTES=$((USED_BYTES + $(file_size "$out")))
  log "FILE  system/summary.txt bytes=$(file_size "$out")"
}

collect_system() {
  write_summary
  run_cmd system/uname.txt uname -a
  run_cmd system/uptime.txt uptime
  run_cmd system/timedatectl.txt timedatectl
  run_cmd system/ip-addr.txt ip addr show || run_cmd system/ifconfig.txt ifconfig -a
  run_cmd system/mounts.txt cat /proc/mounts
  run_cmd system/df.txt df -P -l
  run_cmd system/lsmod.txt lsmod
  copy_known /etc/os-release
  copy_known /etc/hostname
  copy_file /etc/timezone
  copy_file /etc/machine-id
  copy_known /etc/fstab
}

collect_processes() {
  run_cmd processes/ps.txt ps -eww -o pid,ppid,pgid,sid,uid,user,stat,tty,lstart,etime,args ||
    run_cmd processes/ps-ef.txt ps -ef || run_cmd processes/ps-plain.txt ps
  run_cmd processes/pstree.txt pstree -alp
  # The binary and working directory each process really runs from; "(deleted)" marks a binary
  # removed after start. /proc is live state, so --root does not apply here.
  run_cmd processes/proc-exe.txt ls -l /proc/[0-9]*/exe
  run_cmd processes/proc-cwd.txt ls -l /proc/[0-9]*/cwd
}

collect_network() {
  run_cmd network/sockets.txt ss -tunap || run_cmd network/netstat.txt netstat -tunap
  run_cmd network/routes.txt ip route show table all || run_cmd network/route.txt route -n
  run_cmd network/neighbours.txt ip neigh show || run_cmd network/arp.txt arp -an
  copy_known /etc/hosts
  copy_known /etc/resolv.conf
  copy_file /etc/hosts.allow
  copy_file /etc/hosts.deny
  copy_file /etc/nsswitch.conf
}

collect_users() {
  run_cmd users/who.txt who -a
  run_cmd users/w.txt w
  run_cmd users/loginctl-sessions.txt loginctl list-sessions --no-pager
  if [ -f "$ROOT/var/log/wtmp" ]; then
    run_cmd users/last.txt last -F -w -x -f "$ROOT/var/log/wtmp" ||
      run_cmd users/last-plain.txt last -f "$ROOT/var/log/wtmp"
  else
    log "SKIP  users/last.txt reason=\"no /var/log/wtmp\""
  fi
  if [ -f "$ROOT/var/log/btmp" ]; then
    run_cmd users/lastb.txt lastb -F -w -f "$ROOT/var/log/btmp" ||
      run_cmd users/lastb-plain.txt lastb -f "$ROOT/var/log/btmp"
  else
    log "SKIP  users/lastb.txt reason=\"no /var/log/btmp\""
  fi
  if [ -z "$ROOT" ]; then
    run_cmd users/lastlog.txt lastlog
  else
    log "SKIP  users/lastlog.txt reason=\"lastlog reads the live /var/log/lastlog; --root is set\""
  fi
  copy_known /etc/passwd
  copy_known /etc/group
  copy_shadow
  copy_file /etc/sudoers
  copy_dir /etc/sudoers.d 1
}

# copy_shadow: /etc/shadow with password hashes replaced. Responders need account state, lock flags and
# change dates; crackable hashes do not belong in an evidence bundle that leaves the host.
copy_shadow() {
  local src="$ROOT/etc/shadow" dst="$WORK/fs/etc/shadow"
  [ -e "$src" ] || {
    log "SKIP  fs/etc/shadow reason=\"not present\""
    return 0
  }
  budget_ok || return 0
  record_meta /etc/shadow
  [ -f "$src" ] && [ -r "$src" ] || {
    log "SKIP  fs/etc/shadow reason=\"not a readable regular file\""
    return 0
  }
  limits
  mkdir -p -- "$WORK/fs/etc"
  "${TMO[@]}" awk -F: 'BEGIN { OFS = ":" }
    {
      p = $2; lock = ""
      while (substr(p, 1, 1) == "!") { lock = lock "!"; p = substr(p, 2) }
      if (length(p) > 2) $2 = lock "<hash-redacted>"
      print
    }' "$src" 2>/dev/null | head -c "$CAP" >"$dst"
  touch -r "$src" -- "$dst" 2>/dev/null
  USED_BYTES=$((USED_BYTES + $(file_size "$dst")))
  log "NOTE  fs/etc/shadow copied with password hashes redacted"
}

collect_persistence() {
  local d h f
  run_cmd persistence/systemd-units.txt systemctl list-units --all --no-pager --plain
  run_cmd persistence/systemd-unit-files.txt systemctl list-unit-files --no-pager
  run_cmd persistence/systemd-timers.txt systemctl list-timers --all --no-pager
  # cron and at
  copy_known /etc/crontab
  copy_file /etc/anacrontab
  copy_file /etc/cron.allow
  copy_file /etc/cron.deny
  for d in /etc/cron.d /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly \
    /var/spool/cron /var/spool/at /var/spool/anacron; do
    copy_dir "$d" 3
  done
  # systemd: admin and runtime units are copied; vendor units are listed with hashes
  for d in /etc/systemd/system /etc/systemd/user /run/systemd/system /usr/local/lib/systemd/system; do
    copy_dir "$d" 4
  done
  if [ -d "$ROOT/lib/systemd/system" ] && ! [ "$ROOT/lib/systemd/system" -ef "$ROOT/usr/lib/systemd/system" ]; then
    list_files persistence/systemd-vendor-units.tsv 0 /lib/systemd/system /usr/lib/systemd/system
  else
    list_files persistence/systemd-vendor-units.tsv 0 /usr/lib/systemd/system
  fi
  # init scripts, shell start-up and loader hooks
  copy_known /etc/rc.local
  copy_file /etc/rc.d/rc.local
  copy_file /etc/inittab
  copy_dir /etc/init.d 1
  copy_known /etc/profile
  copy_dir /etc/profile.d 1
  copy_file /etc/bash.bashrc
  copy_file /etc/bashrc
  copy_file /etc/environment
  copy_file /etc/zshrc
  copy_file /etc/zprofile
  copy_file /etc/zshenv
  copy_dir /etc/zsh 1
  copy_known /etc/ld.so.preload
  copy_file /etc/ld.so.conf
  copy_dir /etc/ld.so.conf.d 1
  copy_dir /etc/xdg/autostart 1
  copy_dir /etc/udev/rules.d 1
  copy_file /etc/modules
  copy_dir /etc/modules-load.d 1
  copy_dir /etc/update-motd.d 1
  copy_dir /etc/pam.d 1
  copy_known /etc/ssh/sshd_config
  copy_dir /etc/ssh/sshd_config.d 1
  # per-user start-up files, SSH keys and desktop/systemd user autostarts
  for h in "${HOMES[@]}"; do
    for f in $STARTUP_FILES; do
      copy_file "$h/$f"
    done
    copy_dir "$h/.config/autostart" 1
    copy_dir "$h/.config/systemd/user" 3
  done
}

collect_histories() {
  local h f
  for h in "${HOMES[@]}"; do
    for f in $HISTORY_FILES; do
      copy_file "$h/$f" tail
    done
  done
}

# copy_rotated <host path of a log> <epoch>: copies rotations of a log (name.1, name.2.gz, name-20240101)
# last written after <epoch>, newest first, so a tight size budget keeps the most recent ones.
copy_rotated() {
  local hp=$1 since=$2 f m list
  LIST_N=$((LIST_N + 1))
  list="$SCRATCH/list.$LIST_N"
  : >"$list"
  for f in "$ROOT$hp".[0-9]* "$ROOT$hp"-[0-9]*; do
    [ -f "$f" ] || continue
    m=$(stat -c %Y -- "$f" 2>/dev/null) || continue
    if [ "$m" -ge "$since" ]; then
      printf '%s\t%s\n' "$m" "${f#"$ROOT"}" >>"$list"
    else
      log "SKIP  fs${f#"$ROOT"} reason=\"rotated before the ${DAYS}-day window\""
    fi
  done
  sort -rn -- "$list" >"$list.sorted"
  while IFS=$'\t' read -r m f <&3; do
    budget_ok || break
    copy_file "$f" tail
  done 3<"$list.sorted"
}

collect_logs() {
  local base since fmt=short-iso-precise
  since=$(($(date +%s) - DAYS * 86400))
  for base in auth.log secure syslog messages kern.log audit/audit.log cron; do
    copy_file "/var/log/$base" tail
    copy_rotated "/var/log/$base" "$since"
  done
  copy_file /var/log/wtmp tail
  copy_file /var/log/btmp tail
  if ! command -v journalctl >/dev/null 2>&1; then
    log "SKIP  logs/journal.txt reason=\"journalctl not installed\""
    return 0
  fi
  # short-iso-precise needs systemd 234; older hosts (e.g. RHEL 7) get short-iso.
  set_timeout 10
  "${TMO[@]}" journalctl -o short-iso-precise -n 0 --no-pager >/dev/null 2>&1 || fmt=short-iso
  # Newest first (-r): if the size cap cuts the export, the oldest entries are the ones lost.
  if [ -z "$ROOT" ]; then
    run_cmd logs/journal.txt journalctl --no-pager -r -o "$fmt" --since "-${DAYS}d"
  elif [ -d "$ROOT/var/log/journal" ]; then
    run_cmd logs/journal.txt journalctl --no-pager -r -o "$fmt" --since "-${DAYS}d" -D "$ROOT/var/log/journal"
  else
    log "SKIP  logs/journal.txt reason=\"no /var/log/journal below --root\""
  fi
}

# list_files <output rel> <days, 0 for all> <host dirs...>
# Writes a TSV listing (sha256, size, mtime, ctime, uid, gid, mode, type, path) of regular files below
# the directories, restricted to files modified or changed within <days> when given. Files larger than
# --hash-max-mb, or not reached before the time budget ran out, get "-" as their hash.
list_files() {
  local rel=$1 days=$2 out="$WORK/$1" d rc starts=() window=() prune=() n_listed n_hashed
  local all="$SCRATCH/files.lst0" hashable="$SCRATCH/hash.lst0" meta="$SCRATCH/files.meta"
  local sums="$SCRATCH/files.sha256"
  shift 2
  for d in "$@"; do
    [ -d "$ROOT$d" ] && starts+=("${d#/}")
  done
  if [ "${#starts[@]}" -eq 0 ]; then
    log "SKIP  $rel reason=\"none of $* present\""
    return 0
  fi
  budget_ok || return 0
  [ "$days" -eq 0 ] || window=(\( -mtime "-$days" -o -ctime "-$days" \))
  # Never list (or copy) the collection itself when the output folder lies below a scanned directory.
  case "$WORK/" in
    "$ROOT"/*) prune=(-path "${WORK#"$ROOT"/}" -prune -o) ;;
  esac
  mkdir -p -- "${out%/*}"
  limits
  # Paths are found relative to the root so that listings show host paths (/home/...), not --root ones.
  (cd -- "${ROOT:-/}" && "${TMO[@]}" find "${starts[@]}" -xdev "${prune[@]}" -type f \
    "${window[@]}" -print0) >"$all" 2>"$SCRATCH/stderr"
  rc=$?
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || log "NOTE  $rel file search stopped by the step timeout"
  limits
  (cd -- "${ROOT:-/}" && "${TMO[@]}" xargs -0 -r stat -c "$META_FMT"$'\t/%n' -- <"$all") \
    >"$meta" 2>/dev/null
  : >"$sums"
  if [ "$HAVE_SHA256" = 1 ]; then
    (cd -- "${ROOT:-/}" && "${TMO[@]}" find "${starts[@]}" -xdev "${prune[@]}" -type f \
      "${window[@]}" -size "-$((HASH_MAX_MB * 1024 + 1))k" -print0) >"$hashable" 2>/dev/null
    # Hashing may use all the time that is left, not only one step's share.
    limits
    STEP_SECS=$((MAX_SECONDS - RESERVE_SECONDS - SECONDS))
    [ "$STEP_SECS" -ge 1 ] || STEP_SECS=1
    set_timeout "$STEP_SECS"
    (cd -- "${ROOT:-/}" && "${TMO[@]}" xargs -0 -r sha256sum -- <"$hashable") >"$sums" 2>/dev/null
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      log "NOTE  $rel hashing stopped by the time budget; unhashed files show '-'"
      budget_ok
    fi
  fi
  limits
  {
    printf 'sha256\tsize\tmtime\tctime\tuid\tgid\tmode\ttype\tpath\n'
    awk -F'\t' -v sums="$sums" '
      FILENAME == sums { if (length($0) > 66) hash[substr($0, 67)] = substr($0, 1, 64); next }
      { p = $8; sub(/^\//, "", p); print ((p in hash) ? hash[p] : "-") "\t" $0 }' "$sums" "$meta"
  } | head -c "$CAP" >"$out"
  [ "$(file_size "$out")" -lt "$CAP" ] || log "NOTE  $rel cut at $CAP bytes (per-file cap or size budget)"
  n_listed=$(tr -cd '\0' <"$all" | wc -c)
  n_hashed=$(wc -l <"$sums")
  USED_BYTES=$((USED_BYTES + $(file_size "$out")))
  log "FILE  $rel files=${n_listed//[!0-9]/} hashed=${n_hashed//[!0-9]/} bytes=$(file_size "$out")"
}

collect_recent_files() {
  local d f n=0 starts=() prune=() list="$SCRATCH/small.lst0"
  list_files files/recent-files.tsv "$DAYS" /root /home /tmp /var/tmp /dev/shm
  budget_ok || return 0
  for d in /tmp /var/tmp /dev/shm; do
    [ -d "$ROOT$d" ] && starts+=("${d#/}")
  done
  [ "${#starts[@]}" -gt 0 ] || return 0
  case "$WORK/" in
    "$ROOT"/*) prune=(-path "${WORK#"$ROOT"/}" -prune -o) ;;
  esac
  limits
  (cd -- "${ROOT:-/}" && "${TMO[@]}" find "${starts[@]}" -xdev "${prune[@]}" -type f \
    \( -mtime "-$DAYS" -o -ctime "-$DAYS" \) -size "-$((SMALL_COPY_BYTES / 1024 + 1))k" -print0) \
    >"$list" 2>/dev/null
  while IFS= read -r -d '' f <&3; do
    budget_ok || break
    if [ "$n" -ge "$SMALL_COPY_MAX" ]; then
      log "NOTE  files: stopped copying small recent temp files after $SMALL_COPY_MAX"
      break
    fi
    copy_file "/$f"
    n=$((n + 1))
  done 3<"$list"
  log "FILE  files: copied $n small recent files from temp directories into fs/"
}

# ---------------------------------------------------------------------------------------------------
# Prerequisites: free disk space (all profiles)
# ---------------------------------------------------------------------------------------------------

# free_mb: MiB available to us on the output volume, or empty when df cannot say.
free_mb() {
  local kb
  set_timeout 10
  kb=$("${TMO[@]}" df -P -k -- "$WORK" 2>/dev/null | awk 'NR == 2 { print $4 }')
  case "$kb" in
    '' | *[!0-9]*) return 0 ;;
  esac
  printf '%s' "$((kb / 1024))"
}

# check_free_space: keeps --min-free-mb free on the output volume. The size budget shrinks to what fits;
# when nothing fits the collection stops (every further step is skipped, with the reason logged). Run
# before each section, so another writer filling the disk meanwhile is noticed too.
FREE_NOTED=''
check_free_space() {
  local free room allowed
  [ -z "$STOPPED" ] || return 0
  free=$(free_mb)
  if [ -z "$free" ]; then
    [ -n "$FREE_NOTED" ] || log "NOTE  free disk space unknown (df gave no answer); size budget unchanged"
    FREE_NOTED=1
    return 0
  fi
  room=$((free - MIN_FREE_MB))
  if [ "$room" -le 0 ]; then
    STOPPED="not enough free disk space: ${free} MiB free on the output volume, ${MIN_FREE_MB} MiB must stay free"
    log "PREREQ $STOPPED; remaining steps are skipped"
    return 0
  fi
  allowed=$((USED_BYTES + room * 1048576))
  if [ "$allowed" -lt "$MAX_BYTES" ]; then
    log "PREREQ size budget lowered from $((MAX_BYTES / 1048576)) to $((allowed / 1048576)) MiB: ${free} MiB free, ${MIN_FREE_MB} MiB must stay free"
    MAX_BYTES=$allowed
  elif [ -z "$FREE_NOTED" ]; then
    log "PREREQ free disk space ok: ${free} MiB free, ${MIN_FREE_MB} MiB kept free, budget ${MAX_MB} MiB"
  fi
  FREE_NOTED=1
}

# ---------------------------------------------------------------------------------------------------
# Profile full: browsers, execution traces, all logs, web server logs, package and account databases
# ---------------------------------------------------------------------------------------------------

collect_browsers() {
  local h d
  for h in "${HOMES[@]}"; do
    for d in "$ROOT$h"/.mozilla/firefox/* "$ROOT$h"/snap/firefox/common/.mozilla/firefox/*; do
      [ -d "$d" ] || continue
      copy_file "${d#"$ROOT"}/places.sqlite"
      copy_file "${d#"$ROOT"}/places.sqlite-wal"
      copy_file "${d#"$ROOT"}/downloads.sqlite"
      copy_file "${d#"$ROOT"}/formhistory.sqlite"
    done
    for d in "$ROOT$h"/.config/google-chrome/* "$ROOT$h"/.config/chromium/* \
      "$ROOT$h"/.config/microsoft-edge/* "$ROOT$h"/.config/BraveSoftware/Brave-Browser/*; do
      [ -d "$d" ] || continue
      copy_file "${d#"$ROOT"}/History"
      copy_file "${d#"$ROOT"}/History-journal"
    done
  done
}

# The Linux counterparts of prefetch / amcache / shimcache: what ran, and what was installed when.
collect_execution() {
  local h f
  copy_file /var/log/apt/history.log tail
  copy_file /var/log/apt/term.log tail
  copy_file /var/log/dpkg.log tail
  copy_rotated /var/log/dpkg.log "$(($(date +%s) - DAYS * 86400))"
  copy_file /var/log/yum.log tail
  copy_file /var/log/dnf.log tail
  copy_file /var/log/dnf.rpm.log tail
  copy_file /var/log/pacman.log tail
  copy_dir /var/log/audit 1
  for h in "${HOMES[@]}"; do
    for f in .viminfo .lesshst .local/share/recently-used.xbel; do
      copy_file "$h/$f" tail
    done
  done
  list_files files/executables-recent.tsv "$DAYS" /usr/bin /usr/sbin /usr/local/bin /usr/local/sbin /bin /sbin /opt
}

collect_full_logs() {
  copy_dir /var/log 3
}

collect_web_logs() {
  local d
  for d in /var/log/nginx /var/log/apache2 /var/log/httpd /var/log/lighttpd /var/log/tomcat* /var/log/caddy; do
    copy_dir "$d" 2
  done
  copy_dir /etc/nginx 3
  copy_dir /etc/apache2 3
  copy_dir /etc/httpd 3
}

collect_databases() {
  copy_file /var/lib/dpkg/status
  copy_dir /var/lib/dpkg/info 1 >/dev/null
  copy_dir /var/lib/rpm 1
  copy_dir /var/lib/pacman/local 2
  copy_dir /var/lib/AccountsService/users 1
  copy_file /etc/subuid
  copy_file /etc/subgid
  copy_file /etc/login.defs
  copy_file /var/log/lastlog
  copy_file /var/log/faillog
  run_cmd users/packages-dpkg.txt dpkg-query -W -f '${Package}\t${Version}\t${Status}\n' ||
    run_cmd users/packages-rpm.txt rpm -qa --queryformat '%{NAME}\t%{VERSION}-%{RELEASE}\t%{INSTALLTIME:date}\n'
}

# ---------------------------------------------------------------------------------------------------
# Profile memory: an image taken by the operator's acquisition tool, after its SHA-256 is checked
# ---------------------------------------------------------------------------------------------------

# prereq_fail <reason>: the profile cannot do its job. Logged, printed, and the run exits 3 after
# closing the collection (collection.log and SHA256SUMS are still written).
prereq_fail() {
  PREREQ_FAILED=$1
  log "FAIL  $1"
  printf 'triage.sh: %s\n' "$1" >&2
  SECTION_FAILURES=$((SECTION_FAILURES + 1))
}

collect_memory() {
  local pkg=${S1_PACKAGE_DIR_PATH:-} tool copy actual mem_kb need_mb free out rc t0=$SECONDS size
  if [ -z "$pkg" ]; then
    prereq_fail "memory acquisition tool $TOOL_NAME missing: no S1 package directory (S1_PACKAGE_DIR_PATH is unset); attach the tool as the script's package"
    return 0
  fi
  tool="${pkg%/}/$TOOL_NAME"
  if [ ! -f "$tool" ]; then
    prereq_fail "memory acquisition tool $TOOL_NAME missing from the S1 package directory $pkg"
    return 0
  fi
  if [ "$HAVE_SHA256" != 1 ]; then
    prereq_fail "sha256sum not installed: the memory acquisition tool cannot be verified, so it is not run"
    return 0
  fi
  # Run a private copy whose hash was checked, so the file that runs is the file that was verified.
  copy="$SCRATCH/acquire-$TOOL_NAME"
  cp -- "$tool" "$copy" 2>/dev/null && chmod 700 -- "$copy" 2>/dev/null
  actual=$(sha256sum -- "$copy" 2>/dev/null | cut -d' ' -f1)
  if [ "$actual" != "$TOOL_SHA256" ]; then
    rm -f -- "$SCRATCH/acquire-$TOOL_NAME"
    prereq_fail "memory acquisition tool $TOOL_NAME is not the configured one: sha256 $actual, expected $TOOL_SHA256; not run"
    return 0
  fi
  log "NOTE  memory tool $TOOL_NAME verified sha256=$actual"
  mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null)
  case "$mem_kb" in '' | *[!0-9]*) mem_kb=0 ;; esac
  need_mb=$((mem_kb / 1024 + mem_kb / 10240))
  free=$(free_mb)
  if [ -n "$free" ] && [ "$((free - MIN_FREE_MB))" -lt "$need_mb" ]; then
    prereq_fail "not enough free disk space for a memory image: ${free} MiB free, ${need_mb} MiB needed plus ${MIN_FREE_MB} MiB kept free"
    return 0
  fi
  if [ "$need_mb" -gt "$(((MAX_BYTES - USED_BYTES) / 1048576))" ]; then
    prereq_fail "the memory image (about ${need_mb} MiB) exceeds the size budget of ${MAX_MB} MiB"
    return 0
  fi
  mkdir -p -- "$WORK/memory"
  out="$WORK/memory/memory.img"
  limits
  STEP_SECS=$((MAX_SECONDS - RESERVE_SECONDS - SECONDS))
  [ "$STEP_SECS" -ge 1 ] || STEP_SECS=1
  set_timeout "$STEP_SECS"
  (cd -- "$SCRATCH" && "${TMO[@]}" "$copy" "$out") </dev/null >"$SCRATCH/stdout" 2>"$SCRATCH/stderr"
  rc=$?
  rm -f -- "$SCRATCH/acquire-$TOOL_NAME"
  size=0
  [ ! -f "$out" ] || size=$(file_size "$out")
  USED_BYTES=$((USED_BYTES + size))
  log "CMD   memory/memory.img status=$([ "$rc" -eq 0 ] && echo ok || echo failed) rc=$rc seconds=$((SECONDS - t0)) bytes=$size tool=$TOOL_NAME"
  log_stderr
  if [ "$rc" -ne 0 ] || [ "$size" -eq 0 ]; then
    prereq_fail "memory acquisition tool $TOOL_NAME failed (rc=$rc, $size bytes written)"
    return 0
  fi
  printf 'tool: %s\ntool_sha256: %s\nmem_total_kb: %s\nimage: memory/memory.img\nimage_bytes: %s\n' \
    "$TOOL_NAME" "$TOOL_SHA256" "$mem_kb" "$size" >"$WORK/memory/acquisition.txt"
}

# ---------------------------------------------------------------------------------------------------
# Profile custom: the named paths and globs, below --root when set
# ---------------------------------------------------------------------------------------------------

collect_custom() {
  local p m matches n total=0
  for p in "${CUSTOM_LIST[@]}"; do
    budget_ok || break
    # Globs expand below the root only; no match is worth saying.
    shopt -s nullglob
    # shellcheck disable=SC2206
    matches=()
    for m in "$ROOT"$p; do
      # A pattern without wildcards comes back as itself, whether or not it exists.
      [ -e "$m" ] || [ -L "$m" ] && matches+=("$m")
    done
    shopt -u nullglob
    if [ "${#matches[@]}" -eq 0 ]; then
      log "SKIP  custom $p reason=\"no such file\""
      continue
    fi
    n=0
    for m in "${matches[@]}"; do
      budget_ok || break
      if [ "$n" -ge "$CUSTOM_MAX_MATCHES" ]; then
        log "NOTE  custom $p: stopped after $CUSTOM_MAX_MATCHES matches"
        break
      fi
      if [ -d "$m" ] && [ ! -L "$m" ]; then
        copy_dir "${m#"$ROOT"}" 8
      else
        copy_file "${m#"$ROOT"}"
      fi
      n=$((n + 1))
    done
    total=$((total + n))
    log "FILE  custom $p matches=$n"
  done
  log "FILE  custom: ${#CUSTOM_LIST[@]} paths, $total matches"
}

# ---------------------------------------------------------------------------------------------------
# Finish: the log is closed first, then SHA256SUMS covers everything else in the folder.
# ---------------------------------------------------------------------------------------------------

write_sums() {
  if [ "$HAVE_SHA256" != 1 ]; then
    return 0
  fi
  if [ "$FIND_GNU" = 1 ]; then
    (cd -- "$WORK" && find . -type f ! -path ./SHA256SUMS -printf '%P\0' | sort -z | xargs -0 -r sha256sum --) \
      >"$WORK/SHA256SUMS"
  else
    (cd -- "$WORK" && find . -type f ! -path ./SHA256SUMS -print0 | xargs -0 -r sha256sum --) >"$WORK/SHA256SUMS"
  fi
}

# ---------------------------------------------------------------------------------------------------
# Direct upload (only with --upload-parts): after the collection is closed (log and SHA256SUMS written), zip
# the folder next to it, send the zip to S3 in parts through the presigned URLs (each part with its
# Content-MD5, which S3 checks), and leave s1cado-direct-upload.json in the output directory: what was sent
# (package size and SHA-256, each part's number, size, MD5, SHA-256 and S3's answer). On success the folder
# and the zip are removed, so the S1 result carries only the report; on any failure the zip is removed and the
# folder stays, with the report inside it (SHA256SUMS rewritten to cover it), so S1 uploads the collection.
# Part n goes to "<base>&partNumber=n&X-Amz-Signature=<sn>".
# ---------------------------------------------------------------------------------------------------

readonly DU_REPORT_NAME='s1cado-direct-upload.json'
readonly DU_MIN_PART=5242880
readonly DU_MAX_PART=5368709120

# du_report <status> <reason> <package> <bytes> <sha256> <parts-json>: writes the report. A failure report goes
# into the folder (which S1 then carries) and SHA256SUMS is written again to cover it; a success report goes
# beside the folder, which is removed.
du_report() {
  local dir=$WORK
  [ "$1" != uploaded ] || dir=$OUT_BASE
  printf '{"schema":"s1cado/direct-upload@1","status":"%s","reason":"%s","package":"%s","bytes":%s,"sha256":"%s","parts":[%s]}\n' \
    "$1" "${2//\"/\'}" "$3" "${4:-0}" "${5:-0000000000000000000000000000000000000000000000000000000000000000}" "$6" \
    >"$dir/$DU_REPORT_NAME"
  [ "$1" = uploaded ] || write_sums
}

# du_hex_b64 <hex>: base64 of the bytes a hex digest stands for (no xxd or openssl needed).
du_hex_b64() {
  local hex=$1 esc=''
  while [ -n "$hex" ]; do
    esc="$esc\\x${hex:0:2}"
    hex=${hex:2}
  done
  printf '%b' "$esc" | base64 | tr -d '\n'
}

# du_range <file> <offset> <length>: the bytes of one part, streamed (never held in memory).
du_range() {
  tail -c +"$(($2 + 1))" -- "$1" | head -c "$3"
}

direct_upload() {
  local base sigs n pkg name size part count i off len md5 sha code parts='' attempt tool
  local fail_reason=''
  base=${UPLOAD_PARTS%%,*}
  sigs=${UPLOAD_PARTS#*,}
  name="$(basename -- "$WORK").zip"
  pkg="$OUT_BASE/.s1cado-package-$$.zip"
  for tool in curl zip sha256sum md5sum base64 tail head; do
    command -v "$tool" >/dev/null 2>&1 || fail_reason="$tool is not installed"
  done
  case "$base" in
    https://* | http://127.0.0.1:* | http://localhost:*) ;;
    *) fail_reason='the upload URL is not https' ;;
  esac
  [ "$base" != "$UPLOAD_PARTS" ] || fail_reason='no part signatures given'
  if [ -n "$fail_reason" ]; then
    du_report failed "$fail_reason" "$name" 0 '' ''
    printf '[%s] direct upload not attempted: %s; the collection stays for S1\n' "$COLLECTOR" "$fail_reason"
    return 0
  fi
  IFS=, read -r -a DU_SIGS <<<"$sigs"
  n=${#DU_SIGS[@]}
  if ! (cd -- "$OUT_BASE" && zip -q -r -X "$pkg" "$(basename -- "$WORK")") 2>/dev/null; then
    rm -f -- "$pkg"
    du_report failed 'zip failed' "$name" 0 '' ''
    printf '[%s] direct upload failed: zip failed; the collection stays for S1\n' "$COLLECTOR"
    return 0
  fi
  size=$(file_size "$pkg")
  sha=$(sha256sum -- "$pkg" | cut -d' ' -f1)
  # Few, large parts: the size over the URLs given, whole MiB, at least S3's 5 MiB, at most its 5 GiB.
  part=$(((size + n - 1) / n))
  part=$(((part + 1048575) / 1048576 * 1048576))
  [ "$part" -ge "$DU_MIN_PART" ] || part=$DU_MIN_PART
  count=$(((size + part - 1) / part))
  [ "$count" -ge 1 ] || count=1
  if [ "$part" -gt "$DU_MAX_PART" ]; then
    fail_reason="the package ($size bytes) needs more than $n parts of 5 GiB"
  fi
  i=1
  while [ -z "$fail_reason" ] && [ "$i" -le "$count" ]; do
    off=$(((i - 1) * part))
    len=$((size - off))
    [ "$len" -le "$part" ] || len=$part
    md5=$(du_range "$pkg" "$off" "$len" | md5sum | cut -d' ' -f1)
    md5=$(du_hex_b64 "$md5")
    local psha
    psha=$(du_range "$pkg" "$off" "$len" | sha256sum | cut -d' ' -f1)
    code=000
    for attempt in 1 2 3; do
      # -T - with an explicit Content-Length: streamed from the file, not chunked (S3 wants the length).
      code=$(du_range "$pkg" "$off" "$len" | curl -sS -o /dev/null -w '%{http_code}' --connect-timeout 30 \
        --max-time "$MAX_SECONDS" -X PUT -T - -H "Content-Length: $len" -H "Content-MD5: $md5" \
        -H 'Transfer-Encoding:' -H 'Expect:' "${base}&partNumber=${i}&X-Amz-Signature=${DU_SIGS[$((i - 1))]}" \
        2>/dev/null) || code=${code:-000}
      case "$code" in
        2??) break ;;
        4??) break ;; # refused (expired, signature, digest): another try gets the same answer
      esac
      sleep "$attempt"
    done
    parts="${parts:+$parts,}{\"partNumber\":$i,\"bytes\":$len,\"md5\":\"$md5\",\"sha256\":\"$psha\",\"status\":$((10#$code))}"
    case "$code" in
      2??) ;;
      *) fail_reason="part $i of $count: S3 answered HTTP $code" ;;
    esac
    i=$((i + 1))
  done
  rm -f -- "$pkg"
  if [ -n "$fail_reason" ]; then
    du_report failed "$fail_reason" "$name" "$size" "$sha" "$parts"
    printf '[%s] direct upload failed: %s; the collection stays for S1\n' "$COLLECTOR" "$fail_reason"
    return 0
  fi
  du_report uploaded '' "$name" "$size" "$sha" "$parts"
  rm -rf -- "$WORK"
  printf '[%s] direct upload: %s bytes in %s parts, sha256 %s\n' "$COLLECTOR" "$size" "$count" "$sha"
}

FINISHED=0
finish() {
  [ "$FINISHED" = 0 ] || return 0
  FINISHED=1
  rm -rf -- "$SCRATCH"
  [ "$HAVE_SHA256" = 1 ] || log "NOTE  sha256sum not installed: no SHA256SUMS written"
  local status=${STOPPED:-complete}
  [ -z "$PREREQ_FAILED" ] || status="failed ($PREREQ_FAILED)"
  log "END   collection status=$status seconds=$SECONDS bytes=$USED_BYTES"
  write_sums
  printf '[%s] done: %s (%s bytes, %ss, %s)\n' "$COLLECTOR" "$WORK" "$USED_BYTES" "$SECONDS" "$status"
}

on_signal() {
  trap '' TERM INT HUP
  STOPPED="interrupted by signal $1"
  log "BUDGET $STOPPED after ${SECONDS}s; closing the collection with what was gathered"
  finish
  exit 143
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal HUP' HUP

# Be a quiet guest on a host that may be serving production traffic; this changes only our own process.
command -v renice >/dev/null 2>&1 && renice -n 10 -p "$$" >/dev/null 2>&1
command -v ionice >/dev/null 2>&1 && ionice -c 2 -n 7 -p "$$" >/dev/null 2>&1

{
  printf '# s1cado-collector %s %s\n' "$COLLECTOR" "$VERSION"
  printf '# started_utc: %s\n' "$STARTED"
  printf '# host: %s\n' "$HOST_NAME"
  printf '# run_as_uid: %s\n' "$(id -u 2>/dev/null)"
  if [ -f "$0" ] && [ "$HAVE_SHA256" = 1 ]; then
    printf '# script: %s sha256=%s\n' "$0" "$(sha256sum -- "$0" 2>/dev/null | cut -d' ' -f1)"
  fi
  printf '# arguments: %s\n' "$ARGS_TEXT"
  printf '# output: %s\n' "$WORK"
  printf '# file_system_root: %s\n' "${ROOT:-/}"
  printf '# budgets: max_seconds=%s max_mb=%s max_file_mb=%s hash_max_mb=%s days=%s\n' \
    "$MAX_SECONDS" "$MAX_MB" "$MAX_FILE_MB" "$HASH_MAX_MB" "$DAYS"
  printf '# profile: %s\n' "$PROFILE"
  printf '# sections: %s\n' "$SECTIONS"
  printf '# min_free_mb: %s\n' "$MIN_FREE_MB"
  printf '# tools: timeout=%s gnu_find=%s sha256sum=%s\n' "$TIMEOUT_MODE" "$FIND_GNU" "$HAVE_SHA256"
  printf '# times are UTC; fs/ copies keep the original mtime, fs-listing.tsv has the original metadata\n'
} >>"$LOG"
printf 'size\tmtime\tctime\tuid\tgid\tmode\ttype\tpath\tlink_target\n' >"$LISTING"
USED_BYTES=$(file_size "$LISTING")
[ "$(id -u 2>/dev/null)" = 0 ] || log "NOTE  not running as root: some artifacts will be unreadable"
[ "$TIMEOUT_MODE" != none ] || log "NOTE  timeout not available: steps are bounded only between commands"

find_homes
log "NOTE  home directories examined: ${HOMES[*]}"

# Most volatile first; the profile's own sections last.
section system collect_system
section processes collect_processes
section network collect_network
section users collect_users
section persistence collect_persistence
section histories collect_histories
section logs collect_logs
section recent-files collect_recent_files
section browsers collect_browsers
section execution collect_execution
section full-logs collect_full_logs
section web-logs collect_web_logs
section databases collect_databases
section memory collect_memory
section custom collect_custom

finish
[ -z "$PREREQ_FAILED" ] || exit 3
[ -z "$UPLOAD_PARTS" ] || direct_upload
exit 0
