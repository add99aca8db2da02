#!/usr/bin/env bash
# Builds the ffmpeg Lambda layer: infra/layers/ffmpeg/bin/{ffmpeg,ffprobe},
# static arm64 (aarch64) binaries for Lambda's provided.al2023 arm64 runtime.
# template.yaml's FfmpegLayer zips infra/layers/ffmpeg/ as it is; Lambda
# mounts it at /opt, so the functions find /opt/bin/ffmpeg and /opt/bin/ffprobe
# (VIDSTEGA_FFMPEG / VIDSTEGA_FFPROBE). infra/layers/ is build output: keep it
# out of git.
#
#   infra/build-ffmpeg-layer.sh                   # download (cached), verify, install, check
#   infra/build-ffmpeg-layer.sh --dry-run         # say what would happen; download and write nothing
#   infra/build-ffmpeg-layer.sh --check           # only check the layer already built
#   infra/build-ffmpeg-layer.sh --force           # rebuild even if the layer is up to date
#   infra/build-ffmpeg-layer.sh --require-checks  # fail (not warn) when the binaries cannot be run
#                                                 # here (same as FFMPEG_REQUIRE_CHECKS=1; CI sets it)
#
# Source (default): the pins in infra/ffmpeg-layer.lock, John Van Sickle's
# static aarch64 builds as published, unchanged, in package registries:
#   ffmpeg  7.0.2-static                from the PyPI wheel imageio-ffmpeg 0.7.0
#   ffprobe N-66595-gc2b38619c0-static  from the npm package @ffprobe-installer/linux-arm64 5.2.0
# Each archive is fetched with its registry's client (pip download, npm pack;
# they honour the machine's index/registry settings) or, failing that, from
# the pinned URL with curl/wget, cached under the cache folder, and refused
# unless its SHA-256 and the extracted binary's SHA-256 equal the ones in the
# lock file. No checksum is taken from the download site.
#
# Environment:
#   FFMPEG_TARBALL=path   build from this tarball (.tar.xz, .tar.gz, .tar) holding
#                         one file called ffmpeg and one called ffprobe, instead of
#                         the pins; needs FFMPEG_SHA256
#   FFMPEG_URL=url        the same, downloaded from url (cached); needs FFMPEG_SHA256
#   FFMPEG_SHA256=hex     the SHA-256 that FFMPEG_TARBALL / FFMPEG_URL must have
#   FFMPEG_ALLOW_GLIBC=1  also accept binaries that link only glibc dynamically
#                         (libc/libm/libpthread/libdl/librt/libmvec), such as
#                         BtbN's linuxarm64 builds; Lambda's AL2023 has glibc 2.34
#   FFMPEG_REQUIRE_CHECKS=1  fail when the run-time checks cannot run (no aarch64
#                         host, no qemu-aarch64) instead of skipping them
#   FFMPEG_LAYER_DIR      output folder (default: infra/layers/ffmpeg)
#   FFMPEG_LAYER_LOCK     pin file (default: infra/ffmpeg-layer.lock)
#   FFMPEG_CACHE_DIR      download cache (default: ${XDG_CACHE_HOME:-~/.cache}/vidstega-ffmpeg-layer)
#   FFMPEG_RUNNER         command that runs aarch64 Linux binaries (default: run
#                         them directly on an aarch64 Linux host, else
#                         qemu-aarch64 / qemu-aarch64-static if installed)
#
# Checks: each binary is a 64-bit ELF for aarch64 with no program interpreter
# and no shared-library dependencies (static); then, if they can be run here
# (natively or under qemu-user): ffmpeg and ffprobe are FFmpeg 5.1 or newer (a
# git snapshot "N-…" by its libavformat version, at least 5.1's 59.27), and
# the versions in the lock file; `-encoders` lists libx264 and ffv1; both
# list the `http` input protocol (the functions hand ffmpeg
# http://127.0.0.1:<port>/… URLs of their loopback S3 server: no https, no
# DNS); 3-frame lossless H.264, FFV1 and CRF 18 H.264 encodes are probed back with 3 frames
# each; ffprobe counts the 30 frames of an MP4 (index at the end, so it has
# to seek) read from a local HTTP server at 127.0.0.1 with Range requests, and
# ffmpeg reads it too. Finally, for information only, ffprobe reads the same
# file addressed by host name (localhost): a static glibc binary has no NSS
# to resolve names with, which is why the functions never give ffmpeg a host
# name; the result is printed and never fails the build. Without a way to run
# aarch64 binaries the run-time checks are skipped with a warning (an error
# with FFMPEG_REQUIRE_CHECKS=1).
#
# Idempotent: the layer records what it was built from (pins or tarball
# SHA-256, binary SHA-256s, versions) in share/doc/ffmpeg-static/BUILD-INFO;
# when that matches and the binaries are unchanged, nothing is downloaded or
# rewritten (the checks still run). The layer is replaced atomically.
#
# Needs: bash, python3 (ELF inspection, wheel extraction, the test HTTP
# server), tar with gzip, sha256sum or shasum; for downloads pip or curl/wget
# (ffmpeg) and npm or curl/wget (ffprobe); xz for .tar.xz tarballs.
set -euo pipefail

# The unzipped size of a function plus all its layers must stay under 250 MB.
LAMBDA_UNZIPPED_LIMIT=$((250 * 1000 * 1000))
LAYER_WARN_BYTES=$((200 * 1000 * 1000))
# Frames in the file the HTTP checks read.
HTTP_FRAMES=30

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAYER_DIR="${FFMPEG_LAYER_DIR:-$ROOT/infra/layers/ffmpeg}"
LOCK_FILE="${FFMPEG_LAYER_LOCK:-$ROOT/infra/ffmpeg-layer.lock}"
CACHE_DIR="${FFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vidstega-ffmpeg-layer}"
REQUIRE_CHECKS="${FFMPEG_REQUIRE_CHECKS:-0}"
INFO_REL="share/doc/ffmpeg-static/BUILD-INFO"

MODE=build
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) MODE=dry-run ;;
    --check) MODE=check ;;
    --force) FORCE=1 ;;
    --require-checks) REQUIRE_CHECKS=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Paths removed and the test HTTP server stopped however the script ends.
WORK=""
SMOKE=""
DOWNLOAD_TMP=""
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  local d
  for d in "$WORK" "$SMOKE" "$DOWNLOAD_TMP"; do
    if [ -n "$d" ]; then rm -rf "$d"; fi
  done
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap cleans up.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

lower() { tr '[:upper:]' '[:lower:]'; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    python3 -c 'import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
  fi
}

is_sha256() { printf '%s' "$1" | grep -Eq '^[0-9a-f]{64}$'; }

bytes_of() { wc -c <"$1" | tr -d ' '; }

human() {
  awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'
}

fetch_url() { # fetch_url URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q --tries=3 -O "$2" "$1"
  else
    warn "neither curl nor wget is installed: cannot download $1"
    return 1
  fi
}

# --- the pins -------------------------------------------------------------------
pin() { # pin KEY: its value in the lock file (empty when absent)
  sed -n "s/^$1=//p" "$LOCK_FILE" | tail -n 1 | sed 's/[[:space:]]*$//'
}

read_lock() {
  [ -f "$LOCK_FILE" ] || die "the pin file $LOCK_FILE is missing"
  local b k v
  for b in ffmpeg ffprobe; do
    for k in version registry package url archive_sha256 member sha256; do
      [ -n "$(pin "${b}_$k")" ] || die "$LOCK_FILE has no ${b}_$k"
    done
    for k in archive_sha256 sha256; do
      v="$(pin "${b}_$k")"
      is_sha256 "$v" || die "$LOCK_FILE: ${b}_$k is not a lowercase hex SHA-256: $v"
    done
    case "$(pin "${b}_registry")" in
      pypi) [ -n "$(pin "${b}_platform")" ] || die "$LOCK_FILE has no ${b}_platform (needed for pypi)" ;;
      npm) ;;
      *) die "$LOCK_FILE: ${b}_registry must be pypi or npm, not $(pin "${b}_registry")" ;;
    esac
  done
}

registry_name() { case "$1" in pypi) echo PyPI ;; npm) echo npm ;; *) echo "$1" ;; esac; }

archive_cache_path() { # archive_cache_path ffmpeg|ffprobe
  local url
  url="$(pin "$1_url")"
  printf '%s/%s/%s\n' "$CACHE_DIR" "$(pin "$1_registry")" "$(basename "${url%%\?*}")"
}

# Downloads with the registry's own client into DIR; prints the file it made.
client_download() { # client_download ffmpeg|ffprobe DIR
  local b="$1" dir="$2" package got
  package="$(pin "${b}_package")"
  case "$(pin "${b}_registry")" in
    pypi)
      python3 -m pip --version >/dev/null 2>&1 || {
        warn "pip is not available (python3 -m pip)"
        return 1
      }
      python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --platform "$(pin "${b}_platform")" --python-version 3.12 \
        --dest "$dir" "$package" >"$dir/.client.log" 2>&1 || {
        warn "pip download $package failed: $(tail -n 3 "$dir/.client.log" | tr '\n' ' ')"
        return 1
      }
      got="$(find "$dir" -maxdepth 1 -type f -name '*.whl' | head -n 1)"
      ;;
    npm)
      command -v npm >/dev/null 2>&1 || {
        warn "npm is not installed"
        return 1
      }
      (cd "$dir" && npm pack --loglevel=error "$package") >"$dir/.client.log" 2>&1 || {
        warn "npm pack $package failed: $(tail -n 3 "$dir/.client.log" | tr '\n' ' ')"
        return 1
      }
      got="$(find "$dir" -maxdepth 1 -type f -name '*.tgz' | head -n 1)"
      ;;
  esac
  [ -n "$got" ] || {
    warn "$(pin "${b}_registry") client left no archive in $dir"
    return 1
  }
  printf '%s\n' "$got"
}

# Puts the pinned archive of ffmpeg|ffprobe in the cache, verified.
fetch_pinned() { # fetch_pinned ffmpeg|ffprobe
  local b="$1" dest want url got method sum
  dest="$(archive_cache_path "$b")"
  want="$(pin "${b}_archive_sha256")"
  url="$(pin "${b}_url")"
  if [ -f "$dest" ]; then
    if [ "$(sha256_of "$dest")" = "$want" ]; then
      say "$b: cached $dest (SHA-256 verified)"
      return 0
    fi
    warn "the cached $dest does not have the pinned SHA-256; downloading it again"
    rm -f "$dest"
  fi
  mkdir -p "$(dirname "$dest")"
  for method in client url; do
    DOWNLOAD_TMP="$(mktemp -d "$(dirname "$dest")/.download.XXXXXX")"
    got=""
    case "$method" in
      client)
        say "$b: downloading $(pin "${b}_package") from $(registry_name "$(pin "${b}_registry")")"
        got="$(client_download "$b" "$DOWNLOAD_TMP")" || got=""
        ;;
      url)
        say "$b: downloading $url"
        if fetch_url "$url" "$DOWNLOAD_TMP/archive"; then got="$DOWNLOAD_TMP/archive"; fi
        ;;
    esac
    if [ -n "$got" ]; then
      sum="$(sha256_of "$got")"
      if [ "$sum" = "$want" ]; then
        mv -f "$got" "$dest"
        rm -rf "$DOWNLOAD_TMP"
        DOWNLOAD_TMP=""
        say "$b: SHA-256 verified against $(basename "$LOCK_FILE"): $sum"
        return 0
      fi
      warn "$b: the downloaded $(basename "$got") has SHA-256 $sum, not the pinned $want"
    fi
    rm -rf "$DOWNLOAD_TMP"
    DOWNLOAD_TMP=""
  done
  die "could not get $(pin "${b}_package") with the SHA-256 pinned in $LOCK_FILE (tried the $(pin "${b}_registry") client and $url)"
}

extract_member() { # extract_member ARCHIVE MEMBER OUT
  case "$1" in
    *.whl | *.zip)
      python3 - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
archive, member, out = sys.argv[1:4]
with zipfile.ZipFile(archive) as z:
    try:
        src = z.open(member)
    except KeyError:
        sys.exit(f"{archive} has no {member}")
    with src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
      ;;
    *.tgz | *.tar.gz) tar -xzOf "$1" "$2" >"$3" ;;
    *.tar.xz | *.txz) tar -xJOf "$1" "$2" >"$3" ;;
    *) tar -xOf "$1" "$2" >"$3" ;;
  esac
}

# --- ELF inspection (python3, so it works the same on Linux and macOS) ------
# Prints "ok" or a reason the file is not a usable static aarch64 executable.
elf_check() { # elf_check FILE ALLOW_GLIBC
  python3 - "$1" "$2" <<'PY'
import struct, sys
path, allow_glibc = sys.argv[1], sys.argv[2] == "1"
data = open(path, "rb").read()
if data[:4] != b"\x7fELF":
    print("not an ELF file"); sys.exit()
if data[4] != 2 or data[5] != 1:
    print("not a 64-bit little-endian ELF file"); sys.exit()
e_type, e_machine = struct.unpack_from("<HH", data, 16)
if e_machine != 183:
    print(f"built for ELF machine {e_machine}, not aarch64 (183)"); sys.exit()
if e_type not in (2, 3):
    print(f"ELF type {e_type} is not an executable"); sys.exit()
phoff, = struct.unpack_from("<Q", data, 32)
phentsize, phnum = struct.unpack_from("<HH", data, 54)
loads, dynamic, interp = [], None, None
for i in range(phnum):
    p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
    if p_type == 1:
        loads.append((p_vaddr, p_offset, p_filesz))
    elif p_type == 2:
        dynamic = (p_offset, p_filesz)
    elif p_type == 3:
        interp = data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode(errors="replace")
needed = []
if dynamic:
    entries, strtab = [], None
    off, end = dynamic[0], dynamic[0] + dynamic[1]
    while off + 16 <= end:
        tag, val = struct.unpack_from("<qQ", data, off)
        off += 16
        if tag == 0:
            break
        if tag == 5:
            strtab = val
        entries.append((tag, val))
    def file_offset(vaddr):
        for v, o, size in loads:
            if v <= vaddr < v + size:
                return o + (vaddr - v)
        return None
    base = file_offset(strtab) if strtab is not None else None
    for tag, val in entries:
        if tag == 1 and base is not None:
            s = data[base + val:data.index(b"\0", base + val)].decode(errors="replace")
            needed.append(s)
if not interp and not needed:
    print("ok"); sys.exit()
glibc = ("libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "libmvec.so", "ld-linux-aarch64.so")
if allow_glibc and interp and all(n.startswith(glibc) for n in needed):
    print("ok"); sys.exit()
print(f"not static: interpreter {interp or 'none'}, needs {', '.join(needed) or 'nothing'}"
      + ("" if allow_glibc else " (FFMPEG_ALLOW_GLIBC=1 accepts glibc-only dynamic builds)"))
PY
}

# --- how to run aarch64 binaries here ----------------------------------------
RUNNER=()
RUNNER_NAME=""
find_runner() {
  if [ -n "${FFMPEG_RUNNER:-}" ]; then
    read -r -a RUNNER <<<"$FFMPEG_RUNNER"
    RUNNER_NAME="under FFMPEG_RUNNER ($FFMPEG_RUNNER)"
    return 0
  fi
  local os arch
  os="$(uname -s)"
  arch="$(uname -m)"
  if [ "$os" = Linux ] && { [ "$arch" = aarch64 ] || [ "$arch" = arm64 ]; }; then
    RUNNER=()
    RUNNER_NAME="natively ($os $arch)"
    return 0
  fi
  local q
  for q in qemu-aarch64 qemu-aarch64-static; do
    if command -v "$q" >/dev/null 2>&1; then
      RUNNER=("$q")
      RUNNER_NAME="under $q"
      return 0
    fi
  done
  return 1
}

# Nothing the checks run may hang a CI job.
TIMEOUT=()
if command -v timeout >/dev/null 2>&1; then TIMEOUT=(timeout 120); fi

run_a64() { # run_a64 BINARY ARGS... (stdin closed)
  ${TIMEOUT[@]+"${TIMEOUT[@]}"} ${RUNNER[@]+"${RUNNER[@]}"} "$@" </dev/null
}

# "60.10" from the libavformat line of `-version` output.
lavf_of() {
  printf '%s\n' "$1" | sed -n 's/^libavformat *\([0-9][0-9]*\)\. *\([0-9][0-9]*\)\..*/\1.\2/p' | head -n 1
}

# new_enough NAME VERSION VERSION_OUTPUT: dies unless it is FFmpeg 5.1 or
# newer. Releases ("7.0.2-static", "n6.1") by their number; git snapshots
# ("N-66595-g…") by their libavformat, which FFmpeg 5.1 released as 59.27.
new_enough() {
  local name="$1" v="${2#n}" out="$3" major minor lavf
  major="$(printf '%s' "$v" | sed -n 's/^\([0-9][0-9]*\).*/\1/p')"
  if [ -n "$major" ]; then
    minor="$(printf '%s' "$v" | sed -n 's/^[0-9][0-9]*[^0-9]\([0-9][0-9]*\).*/\1/p')"
    minor="${minor:-0}"
    [ "$major" -gt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -ge 1 ]; } || die "$name $2 is older than FFmpeg 5.1"
    return 0
  fi
  lavf="$(lavf_of "$out")"
  [ -n "$lavf" ] || die "$name $2 is not a release number and reports no libavformat version"
  major="${lavf%%.*}"
  minor="${lavf#*.}"
  [ "$major" -gt 59 ] || { [ "$major" -eq 59 ] && [ "$minor" -ge 27 ]; } ||
    die "$name $2 has libavformat $lavf, older than FFmpeg 5.1's 59.27"
  printf '    %s %s is a git snapshot with libavformat %s (5.1 has 59.27): new enough\n' "$name" "$2" "$lavf"
}

has_input_protocol() { # has_input_protocol PROTOCOLS_OUTPUT NAME
  printf '%s\n' "$1" | awk -v p="$2" '/^Input:/ { i = 1; next } /^Output:/ { i = 0 } i && $1 == p { f = 1 } END { exit !f }'
}

# A small HTTP/1.1 file server with Range support on 127.0.0.1, like the
# functions' loopback S3 server; it logs each request line and Range header.
write_http_server() { # write_http_server FILE
  cat >"$1" <<'PY'
import http.server, os, re, sys

root = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        rng = self.headers.get("Range", "")
        sys.stderr.write(f"GET {self.path} Range: {rng or '-'}\n")
        sys.stderr.flush()
        path = os.path.join(root, os.path.basename(self.path.split("?")[0]))
        if not os.path.isfile(path):
            self.send_error(404)
            return
        size = os.path.getsize(path)
        start, end, status = 0, size - 1, 200
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2) or size - 1), size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            try:
                self.wfile.write(f.read(end - start + 1))
            except (BrokenPipeError, ConnectionResetError):
                pass  # ffprobe closes a connection to seek elsewhere

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
PY
}

count_frames() { # count_frames FFPROBE INPUT [ffprobe options...]: prints the video frame count
  local probe="$1" input="$2"
  shift 2
  run_a64 "$probe" -v error "$@" -count_frames -select_streams v:0 \
    -show_entries stream=nb_read_frames -of default=nw=1:nk=1 "$input"
}

# Set by check_binaries: the versions the binaries report (empty: not run).
FFMPEG_REPORTED=""
FFPROBE_REPORTED=""
CHECKS_RAN=""

# check_binaries DIR: DIR/ffmpeg and DIR/ffprobe must pass every check.
check_binaries() {
  local dir="$1" b verdict
  FFMPEG_REPORTED=""
  FFPROBE_REPORTED=""
  for b in ffmpeg ffprobe; do
    [ -f "$dir/$b" ] || die "$dir/$b is missing"
    [ -x "$dir/$b" ] || die "$dir/$b is not executable"
    verdict="$(elf_check "$dir/$b" "${FFMPEG_ALLOW_GLIBC:-0}")" || die "python3 could not inspect $dir/$b"
    [ "$verdict" = ok ] || die "$dir/$b: $verdict"
    if command -v file >/dev/null 2>&1; then
      printf '    %s: %s\n' "$b" "$(file -b "$dir/$b" | cut -c1-110)"
    fi
  done
  say "both are aarch64 ELF executables with no shared-library dependencies"

  if ! find_runner; then
    CHECKS_RAN="skipped (no aarch64 host, no qemu-aarch64)"
    if [ "$REQUIRE_CHECKS" = 1 ]; then
      die "cannot run aarch64 binaries here (not an aarch64 Linux host, and neither qemu-aarch64 nor qemu-aarch64-static is on PATH), and FFMPEG_REQUIRE_CHECKS=1 (or --require-checks) demands the run-time checks. Install qemu-user-static (Debian/Ubuntu: apt-get install qemu-user-static; scripts/ensure-tools.sh does) or set FFMPEG_RUNNER."
    fi
    warn "cannot run aarch64 binaries here (not an aarch64 Linux host, no qemu-aarch64):"
    warn "the version, encoder, protocol, encode and HTTP checks were SKIPPED."
    warn "Install qemu-user-static (Debian/Ubuntu: apt-get install qemu-user-static) and run: $0 --check"
    return 0
  fi
  CHECKS_RAN="ran $RUNNER_NAME"
  say "running them $RUNNER_NAME"
  local out version
  out="$(run_a64 "$dir/ffmpeg" -hide_banner -version 2>&1)" || die "ffmpeg -version failed: $(printf '%s' "$out" | head -3)"
  version="$(printf '%s\n' "$out" | sed -n '1s/^ffmpeg version \([^ ]*\).*/\1/p')"
  [ -n "$version" ] || die "$dir/ffmpeg does not report itself as ffmpeg: $(printf '%s' "$out" | head -1)"
  new_enough ffmpeg "$version" "$out"
  printf '    ffmpeg version %s (libavformat %s)\n' "$version" "$(lavf_of "$out")"
  FFMPEG_REPORTED="$version"

  out="$(run_a64 "$dir/ffprobe" -hide_banner -version 2>&1)" || die "ffprobe -version failed: $(printf '%s' "$out" | head -3)"
  version="$(printf '%s\n' "$out" | sed -n '1s/^ffprobe version \([^ ]*\).*/\1/p')"
  [ -n "$version" ] || die "$dir/ffprobe does not report itself as ffprobe: $(printf '%s' "$out" | head -1)"
  new_enough ffprobe "$version" "$out"
  printf '    ffprobe version %s (libavformat %s)\n' "$version" "$(lavf_of "$out")"
  FFPROBE_REPORTED="$version"

  out="$(run_a64 "$dir/ffmpeg" -hide_banner -encoders 2>/dev/null)" || die "ffmpeg -encoders failed"
  local enc
  for enc in libx264 ffv1; do
    printf '%s\n' "$out" | awk -v e="$enc" '$2 == e { found = 1 } END { exit !found }' ||
      die "ffmpeg has no $enc encoder (vidstega needs libx264 and ffv1: use a GPL build)"
  done
  printf '    encoders: libx264, ffv1\n'

  for b in ffmpeg ffprobe; do
    out="$(run_a64 "$dir/$b" -hide_banner -protocols 2>/dev/null)" || die "$b -protocols failed"
    has_input_protocol "$out" http ||
      die "$b cannot read http:// URLs; the functions hand it http://127.0.0.1:<port>/… URLs of their loopback S3 server"
  done
  printf '    protocols: http (input) in ffmpeg and ffprobe; https is not needed (the functions never give ffmpeg an https URL)\n'

  # A tiny encode with each codec setting the pipeline uses (lossless mode's
  # two, robust mode's stitchable CRF encode), probed back.
  local codec frames
  SMOKE="$(mktemp -d "${TMPDIR:-/tmp}/ffmpeg-layer-smoke.XXXXXX")"
  for codec in "libx264 -qp 0 -preset ultrafast" "ffv1 -level 3" \
    "libx264 -preset medium -crf 18 -x264-params stitchable=1"; do
    # shellcheck disable=SC2086 # the codec options are meant to split
    run_a64 "$dir/ffmpeg" -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=64x48:r=30 \
      -frames:v 3 -pix_fmt yuv420p -c:v $codec -f nut "$SMOKE/out.nut" ||
      die "a 3-frame ${codec%% *} encode failed"
    frames="$(count_frames "$dir/ffprobe" "$SMOKE/out.nut")" ||
      die "ffprobe could not read the ${codec%% *} test file"
    [ "$frames" = 3 ] || die "the ${codec%% *} test file has $frames frames, not 3"
  done
  printf '    3-frame encodes (libx264 -qp 0, ffv1, libx264 CRF 18 stitchable) read back by ffprobe\n'

  check_http "$dir"
  rm -rf "$SMOKE"
  SMOKE=""
}

# check_http DIR: ffprobe and ffmpeg read a file over HTTP from 127.0.0.1,
# as the functions read S3 objects from their loopback server; then, for
# information, ffprobe tries the same by host name.
check_http() {
  local dir="$1" www="$SMOKE/www" port="" tries=0 frames ranged reason
  mkdir -p "$www"
  # Lossless, so the file is big enough that ffprobe cannot keep it all in its
  # buffer; MP4 without faststart, so the index is at the end: ffprobe has to
  # seek there and back with Range requests.
  run_a64 "$dir/ffmpeg" -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=320x240:r=30 \
    -frames:v "$HTTP_FRAMES" -pix_fmt yuv420p -c:v libx264 -qp 0 -preset ultrafast \
    "$www/clip.mp4" || die "could not encode the MP4 for the HTTP check"
  write_http_server "$SMOKE/serve.py"
  python3 "$SMOKE/serve.py" "$www" >"$SMOKE/port" 2>"$SMOKE/requests" &
  SERVER_PID=$!
  while [ "$tries" -lt 100 ]; do # up to 10 s
    port="$(head -n 1 "$SMOKE/port" 2>/dev/null || true)"
    [ -n "$port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
    tries=$((tries + 1))
  done
  [ -n "$port" ] || die "the test HTTP server did not start: $(tail -n 3 "$SMOKE/requests" 2>/dev/null)"

  local url="http://127.0.0.1:$port/clip.mp4"
  say "HTTP read by address: $url (a local server with Range support, like the functions' loopback S3 server)"
  # ffmpeg sends http:// requests through $http_proxy when it is set (a CI
  # machine's proxy cannot reach this host's loopback); Lambda sets none.
  if [ -n "${http_proxy:-}" ]; then
    printf '    http_proxy is set here; the HTTP checks run without it\n'
  fi
  local -x http_proxy=""
  frames="$(count_frames "$dir/ffprobe" "$url" -rw_timeout 30000000 2>"$SMOKE/probe.err")" ||
    die "the layer's ffprobe could not read $url: $(head -n 3 "$SMOKE/probe.err")"
  [ "$frames" = "$HTTP_FRAMES" ] || die "the layer's ffprobe counted $frames frames over HTTP, not $HTTP_FRAMES"
  ranged="$(awk '$1 == "GET" && $3 == "Range:" && $4 ~ /^bytes=[1-9]/' "$SMOKE/requests" | wc -l | tr -d ' ')"
  [ "$ranged" -ge 1 ] ||
    die "ffprobe read $url without seeking (no Range request past byte 0); the functions' reads depend on Range requests"
  printf '    ffprobe counted %s frames; it made %s requests, %s of them Range requests past byte 0\n' \
    "$frames" "$(grep -c '^GET ' "$SMOKE/requests")" "$ranged"
  run_a64 "$dir/ffmpeg" -hide_banner -loglevel error -rw_timeout 30000000 -i "$url" \
    -map 0:v -c copy -f null - 2>"$SMOKE/ffmpeg.err" ||
    die "the layer's ffmpeg could not read $url: $(head -n 3 "$SMOKE/ffmpeg.err")"
  printf '    ffmpeg read it too\n'

  url="http://localhost:$port/clip.mp4"
  say "HTTP read by host name: $url (information only; never fails the build)"
  if python3 -c 'import socket; socket.getaddrinfo("localhost", 80)' >/dev/null 2>&1; then
    printf '    this host resolves localhost (python3 getaddrinfo)\n'
  else
    printf '    this host itself does not resolve localhost (python3 getaddrinfo fails)\n'
  fi
  if frames="$(count_frames "$dir/ffprobe" "$url" -rw_timeout 30000000 2>"$SMOKE/dns.err")" &&
    [ "$frames" = "$HTTP_FRAMES" ]; then
    printf '    the layer'"'"'s ffprobe (%s) resolved localhost and counted %s frames\n' "${RUNNER_NAME}" "$frames"
    printf '    (a static glibc binary can resolve names only where the host'"'"'s NSS modules happen to load into it; the functions do not rely on that)\n'
  else
    reason="$(sed -e 's/^\[[a-z_]* @ 0x[0-9a-f]*\] //' "$SMOKE/dns.err" | head -n 1)"
    printf '    the layer'"'"'s ffprobe (%s) could NOT read it: %s\n' "${RUNNER_NAME}" "${reason:-got ${frames:-no} frames}"
    printf '    expected: a static glibc binary has no NSS to resolve host names with. This is why the\n'
    printf '    functions hand ffmpeg http://127.0.0.1:<port>/… URLs of their loopback S3 server, never a host name.\n'
  fi

  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

print_sizes() {
  local dir="$1" f total=0 n
  for f in "$dir/bin/ffmpeg" "$dir/bin/ffprobe"; do
    n="$(bytes_of "$f")"
    printf '    %-8s %s\n' "$(basename "$f")" "$(human "$n")"
  done
  # Everything Lambda unpacks under /opt from this layer.
  while IFS= read -r -d '' f; do
    n="$(bytes_of "$f")"
    total=$((total + n))
  done < <(find "$dir" -type f -print0)
  say "layer size (unzipped, all files): $(human "$total") ($total bytes)"
  if [ "$total" -gt "$LAMBDA_UNZIPPED_LIMIT" ]; then
    die "over Lambda's 250 MB unzipped limit for a function and its layers"
  elif [ "$total" -gt "$LAYER_WARN_BYTES" ]; then
    warn "close to Lambda's 250 MB unzipped limit (function + layers); the function binaries need room too"
  else
    printf '    Lambda allows 250 MB unzipped for a function and all its layers together.\n'
  fi
}

info_field() { # info_field KEY [LAYER]: a field of the layer's BUILD-INFO
  local info="${2:-$LAYER_DIR}/$INFO_REL"
  if [ -f "$info" ]; then sed -n "s/^$1: //p" "$info" | head -n 1; fi
  return 0
}

# 0 when the installed layer says it was built from $BUILT_FROM and its
# binaries still have the SHA-256s it recorded.
layer_current() {
  [ -f "$LAYER_DIR/bin/ffmpeg" ] && [ -f "$LAYER_DIR/bin/ffprobe" ] || return 1
  [ "$(info_field built_from)" = "$BUILT_FROM" ] || return 1
  [ "$(sha256_of "$LAYER_DIR/bin/ffmpeg")" = "$(info_field ffmpeg_sha256)" ] || return 1
  [ "$(sha256_of "$LAYER_DIR/bin/ffprobe")" = "$(info_field ffprobe_sha256)" ] || return 1
}

# In pinned builds, the versions the binaries report must be the pinned ones.
check_pinned_versions() {
  [ "$SOURCE_KIND" = pinned ] || return 0
  if [ -n "$FFMPEG_REPORTED" ] && [ "$FFMPEG_REPORTED" != "$(pin ffmpeg_version)" ]; then
    die "ffmpeg reports version $FFMPEG_REPORTED, but $LOCK_FILE says ffmpeg_version=$(pin ffmpeg_version)"
  fi
  if [ -n "$FFPROBE_REPORTED" ] && [ "$FFPROBE_REPORTED" != "$(pin ffprobe_version)" ]; then
    die "ffprobe reports version $FFPROBE_REPORTED, but $LOCK_FILE says ffprobe_version=$(pin ffprobe_version)"
  fi
}

# The versions the layer holds, as the binaries report them (or as recorded).
print_versions() { # print_versions LAYER
  local fv pv
  fv="${FFMPEG_REPORTED:-$(info_field ffmpeg_version "$1")}"
  pv="${FFPROBE_REPORTED:-$(info_field ffprobe_version "$1")}"
  say "the layer holds ffmpeg ${fv:-unknown} and ffprobe ${pv:-unknown}"
  if [ -n "$fv" ] && [ -n "$pv" ] && [ "$fv" != "$pv" ]; then
    printf '    two different builds (each pinned package ships one binary: infra/ffmpeg-layer.lock);\n'
    if [ -n "$FFMPEG_REPORTED" ]; then
      printf '    both are FFmpeg 5.1 or newer and passed the checks above together (docs/deploy.md, section 2)\n'
    else
      printf '    the run-time checks did not run here (docs/deploy.md, section 2)\n'
    fi
  fi
}

command -v python3 >/dev/null 2>&1 || die "python3 is needed to inspect the binaries"

if [ "$MODE" = check ]; then
  say "checking the layer in $LAYER_DIR"
  if [ -f "$LAYER_DIR/$INFO_REL" ]; then
    printf '    built from: %s\n' "$(info_field source)"
    for b in ffmpeg ffprobe; do
      want="$(info_field "${b}_sha256")"
      [ -f "$LAYER_DIR/bin/$b" ] || die "$LAYER_DIR/bin/$b is missing"
      got="$(sha256_of "$LAYER_DIR/bin/$b")"
      [ -z "$want" ] || [ "$got" = "$want" ] ||
        die "$LAYER_DIR/bin/$b has SHA-256 $got, but BUILD-INFO recorded $want: rebuild the layer"
    done
    printf '    binaries unchanged since the build (SHA-256 as in BUILD-INFO)\n'
  else
    warn "$LAYER_DIR/$INFO_REL is missing: the layer was not built by this script"
  fi
  check_binaries "$LAYER_DIR/bin"
  if [ -n "$FFMPEG_REPORTED" ] && [ -n "$(info_field ffmpeg_version)" ] &&
    [ "$FFMPEG_REPORTED" != "$(info_field ffmpeg_version)" ]; then
    die "ffmpeg reports $FFMPEG_REPORTED, BUILD-INFO says $(info_field ffmpeg_version)"
  fi
  if [ -n "$FFPROBE_REPORTED" ] && [ -n "$(info_field ffprobe_version)" ] &&
    [ "$FFPROBE_REPORTED" != "$(info_field ffprobe_version)" ]; then
    die "ffprobe reports $FFPROBE_REPORTED, BUILD-INFO says $(info_field ffprobe_version)"
  fi
  print_versions "$LAYER_DIR"
  print_sizes "$LAYER_DIR"
  say "layer ok"
  exit 0
fi

# --- 1. what to build from ------------------------------------------------------
if [ -n "${FFMPEG_MD5:-}" ]; then
  die "FFMPEG_MD5 is no longer supported: pin the tarball with FFMPEG_SHA256"
fi
FFMPEG_SHA256="$(printf '%s' "${FFMPEG_SHA256:-}" | lower)"
if [ -n "${FFMPEG_TARBALL:-}" ] || [ -n "${FFMPEG_URL:-}" ]; then
  SOURCE_KIND=tarball
  [ -n "$FFMPEG_SHA256" ] ||
    die "FFMPEG_TARBALL / FFMPEG_URL need FFMPEG_SHA256 (the tarball's SHA-256, from a source you trust: not a checksum fetched beside the download)"
  is_sha256 "$FFMPEG_SHA256" || die "FFMPEG_SHA256 is not a hex SHA-256: $FFMPEG_SHA256"
  if [ -n "${FFMPEG_TARBALL:-}" ]; then
    TARBALL="$FFMPEG_TARBALL"
    SOURCE="local file $TARBALL"
    [ "$MODE" = dry-run ] || [ -f "$TARBALL" ] || die "FFMPEG_TARBALL=$TARBALL does not exist"
  else
    TARBALL="$CACHE_DIR/url/$(basename "${FFMPEG_URL%%\?*}")"
    SOURCE="$FFMPEG_URL"
  fi
  BUILT_FROM="tarball $FFMPEG_SHA256"
else
  SOURCE_KIND=pinned
  read_lock
  SOURCE="pinned in infra/ffmpeg-layer.lock"
  if [ "$LOCK_FILE" != "$ROOT/infra/ffmpeg-layer.lock" ]; then SOURCE="pinned in $LOCK_FILE"; fi
  BUILT_FROM="pinned ffmpeg $(pin ffmpeg_sha256) ffprobe $(pin ffprobe_sha256)"
fi

if [ "$MODE" = dry-run ]; then
  say "dry run: nothing is downloaded or written"
  printf '    source:      %s\n' "$SOURCE"
  if [ "$SOURCE_KIND" = pinned ]; then
    for b in ffmpeg ffprobe; do
      cached="$(archive_cache_path "$b")"
      if [ -f "$cached" ] && [ "$(sha256_of "$cached")" = "$(pin "${b}_archive_sha256")" ]; then
        state="cached, verified"
      elif [ -f "$cached" ]; then
        state="cached but not the pinned SHA-256: would download again"
      else
        state="not cached: would download"
      fi
      printf '    %-12s %s from %s %s (%s)\n' "$b:" "$(pin "${b}_version")" \
        "$(registry_name "$(pin "${b}_registry")")" "$(pin "${b}_package")" "$(pin "${b}_member")"
      printf '    %-12s %s\n' "" "$(pin "${b}_url")"
      printf '    %-12s archive SHA-256 %s, binary SHA-256 %s\n' "" "$(pin "${b}_archive_sha256")" "$(pin "${b}_sha256")"
      printf '    %-12s %s: %s\n' "" "$cached" "$state"
    done
  else
    if [ -n "${FFMPEG_URL:-}" ] && [ -z "${FFMPEG_TARBALL:-}" ]; then
      printf '    cache:       %s\n' "$TARBALL"
    fi
    printf '    verify:      SHA-256 %s\n' "$FFMPEG_SHA256"
  fi
  printf '    output:      %s/bin/{ffmpeg,ffprobe}\n' "$LAYER_DIR"
  if layer_current; then
    printf '    current:     up to date (built from the same source, binaries unchanged): nothing to rebuild%s\n' \
      "$([ "$FORCE" = 1 ] && echo ', but --force rebuilds it')"
  elif [ -f "$LAYER_DIR/$INFO_REL" ]; then
    printf '    current:     built from %s: would be rebuilt\n' "$(info_field source)"
  else
    printf '    current:     no layer built yet\n'
  fi
  if find_runner; then
    printf '    run checks:  %s\n' "$RUNNER_NAME"
  elif [ "$REQUIRE_CHECKS" = 1 ]; then
    printf '    run checks:  would FAIL: no aarch64 host or qemu-aarch64 here, and FFMPEG_REQUIRE_CHECKS=1\n'
  else
    printf '    run checks:  SKIPPED (no aarch64 host or qemu-aarch64 here; apt-get install qemu-user-static)\n'
  fi
  for tool in python3 tar curl wget npm file; do
    if command -v "$tool" >/dev/null 2>&1; then
      printf '    %-12s %s\n' "$tool:" "$(command -v "$tool")"
    else
      printf '    %-12s %s\n' "$tool:" "not found"
    fi
  done
  if python3 -m pip --version >/dev/null 2>&1; then
    printf '    %-12s %s\n' "pip:" "python3 -m pip"
  else
    printf '    %-12s %s\n' "pip:" "not found"
  fi
  exit 0
fi

# --- 2. up to date? --------------------------------------------------------------
if [ "$FORCE" = 0 ] && layer_current; then
  say "the layer in $LAYER_DIR is already built from this source and unchanged; checking it"
  check_binaries "$LAYER_DIR/bin"
  check_pinned_versions
  print_versions "$LAYER_DIR"
  print_sizes "$LAYER_DIR"
  say "layer up to date"
  exit 0
fi

# --- 3. fetch, verify, unpack -------------------------------------------------------
mkdir -p "$(dirname "$LAYER_DIR")"
WORK="$(mktemp -d "$(dirname "$LAYER_DIR")/.ffmpeg-layer.XXXXXX")"
NEW="$WORK/layer"
DOC="$NEW/share/doc/ffmpeg-static"
mkdir -p "$NEW/bin" "$DOC"

if [ "$SOURCE_KIND" = pinned ]; then
  for b in ffmpeg ffprobe; do
    fetch_pinned "$b"
    extract_member "$(archive_cache_path "$b")" "$(pin "${b}_member")" "$NEW/bin/$b" ||
      die "cannot extract $(pin "${b}_member") from $(archive_cache_path "$b")"
    got="$(sha256_of "$NEW/bin/$b")"
    [ "$got" = "$(pin "${b}_sha256")" ] ||
      die "$(pin "${b}_member") has SHA-256 $got, but $LOCK_FILE pins ${b}_sha256=$(pin "${b}_sha256")"
    say "$b: extracted $(pin "${b}_member"), SHA-256 verified: $got"
  done
else
  if [ -z "${FFMPEG_TARBALL:-}" ]; then
    mkdir -p "$(dirname "$TARBALL")"
    if [ -f "$TARBALL" ] && [ "$(sha256_of "$TARBALL")" = "$FFMPEG_SHA256" ]; then
      say "using the cached download $TARBALL"
    else
      say "downloading $FFMPEG_URL"
      fetch_url "$FFMPEG_URL" "$TARBALL.part" || die "cannot download $FFMPEG_URL"
      mv -f "$TARBALL.part" "$TARBALL"
    fi
  fi
  TARBALL_SHA256="$(sha256_of "$TARBALL")"
  [ "$TARBALL_SHA256" = "$FFMPEG_SHA256" ] ||
    die "SHA-256 mismatch for $TARBALL: got $TARBALL_SHA256, expected FFMPEG_SHA256=$FFMPEG_SHA256"
  say "SHA-256 verified: $TARBALL_SHA256"
  say "unpacking"
  mkdir -p "$WORK/src"
  case "$TARBALL" in
    *.tar.xz | *.txz) tar -xJf "$TARBALL" -C "$WORK/src" ;;
    *.tar.gz | *.tgz) tar -xzf "$TARBALL" -C "$WORK/src" ;;
    *) tar -xf "$TARBALL" -C "$WORK/src" ;;
  esac
  pick() { # pick NAME: the one regular file called NAME in the unpacked tree
    local found
    found="$(find "$WORK/src" -type f -name "$1")"
    [ -n "$found" ] || die "the tarball has no file named $1"
    [ "$(printf '%s\n' "$found" | wc -l | tr -d ' ')" = 1 ] || die "the tarball has several files named $1: $found"
    printf '%s\n' "$found"
  }
  ffmpeg_src="$(pick ffmpeg)"
  ffprobe_src="$(pick ffprobe)"
  cp "$ffmpeg_src" "$NEW/bin/ffmpeg"
  cp "$ffprobe_src" "$NEW/bin/ffprobe"
  # Keep the build's licence and notes with the binaries (GPL: libx264).
  src_dir="$(dirname "$ffmpeg_src")"
  for doc in GPLv3.txt COPYING.GPLv3 LICENSE LICENSE.txt readme.txt README.txt; do
    if [ -f "$src_dir/$doc" ]; then cp "$src_dir/$doc" "$DOC/"; fi
  done
fi
chmod 0755 "$NEW/bin/ffmpeg" "$NEW/bin/ffprobe"

say "checking the binaries"
check_binaries "$NEW/bin"
check_pinned_versions

# --- 4. licence notes and BUILD-INFO ------------------------------------------------
if [ "$SOURCE_KIND" = pinned ]; then
  {
    printf 'ffmpeg and ffprobe in bin/ are John Van Sickle'"'"'s static aarch64 builds of\n'
    printf 'FFmpeg (https://johnvansickle.com/ffmpeg/), configured with --enable-gpl\n'
    printf -- '--enable-version3 (libx264 and other GPL components): they are licensed\n'
    printf 'under the GNU General Public License, version 3 or later (see ffmpeg -L).\n'
    printf 'The FFmpeg source code: https://ffmpeg.org/download.html\n\n'
    for b in ffmpeg ffprobe; do
      printf '%s %s: %s file %s from the %s package %s\n' "$b" "$(pin "${b}_version")" \
        "$(pin "${b}_member")" "$(basename "$(pin "${b}_url")")" \
        "$(registry_name "$(pin "${b}_registry")")" "$(pin "${b}_package")"
    done
    printf '\nSee BUILD-INFO for checksums; the GPL text is in GPL-3 when the build host had it\n'
    printf '(else https://www.gnu.org/licenses/gpl-3.0.txt).\n'
  } >"$DOC/NOTICE"
  if [ -f /usr/share/common-licenses/GPL-3 ]; then
    cp /usr/share/common-licenses/GPL-3 "$DOC/GPL-3"
  else
    warn "no /usr/share/common-licenses/GPL-3 on this host: the layer's NOTICE links the GPL instead"
  fi
fi

{
  printf 'source: %s\n' "$SOURCE"
  printf 'built_from: %s\n' "$BUILT_FROM"
  if [ "$SOURCE_KIND" = tarball ]; then
    printf 'tarball_sha256: %s\n' "$TARBALL_SHA256"
  fi
  for b in ffmpeg ffprobe; do
    if [ "$b" = ffmpeg ]; then v="$FFMPEG_REPORTED"; else v="$FFPROBE_REPORTED"; fi
    if [ -z "$v" ] && [ "$SOURCE_KIND" = pinned ]; then v="$(pin "${b}_version")"; fi
    printf '%s_version: %s\n' "$b" "${v:-unknown (not run)}"
    printf '%s_sha256: %s\n' "$b" "$(sha256_of "$NEW/bin/$b")"
    if [ "$SOURCE_KIND" = pinned ]; then
      printf '%s_origin: %s %s, %s\n' "$b" "$(registry_name "$(pin "${b}_registry")")" \
        "$(pin "${b}_package")" "$(pin "${b}_member")"
      printf '%s_archive: %s\n' "$b" "$(pin "${b}_url")"
      printf '%s_archive_sha256: %s\n' "$b" "$(pin "${b}_archive_sha256")"
    fi
  done
  printf 'checks: %s\n' "$CHECKS_RAN"
  printf 'built_utc: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'built_by: infra/build-ffmpeg-layer.sh\n'
} >"$DOC/BUILD-INFO"

# --- 5. install atomically --------------------------------------------------------
OLD="$WORK/old"
if [ -e "$LAYER_DIR" ]; then mv "$LAYER_DIR" "$OLD"; fi
mv "$NEW" "$LAYER_DIR"
say "installed $LAYER_DIR/bin/ffmpeg and ffprobe"
print_versions "$LAYER_DIR"
print_sizes "$LAYER_DIR"
if [ "$LAYER_DIR" = "$ROOT/infra/layers/ffmpeg" ]; then
  say "done: sam build picks the layer up from infra/layers/ffmpeg/ (template.yaml FfmpegLayer)"
else
  say "done: template.yaml's FfmpegLayer zips infra/layers/ffmpeg/, not $LAYER_DIR"
fi
