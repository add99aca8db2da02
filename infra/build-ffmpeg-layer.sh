#!/usr/bin/env bash
# Builds the ffmpeg Lambda layer: infra/layers/ffmpeg/bin/{ffmpeg,ffprobe},
# static arm64 (aarch64) binaries for Lambda's provided.al2023 arm64 runtime.
# template.yaml's FfmpegLayer zips infra/layers/ffmpeg/ as it is; Lambda
# mounts it at /opt, so the functions find /opt/bin/ffmpeg and /opt/bin/ffprobe
# (VIDSTEGA_FFMPEG / VIDSTEGA_FFPROBE). infra/layers/ is build output: keep it
# out of git.
#
#   infra/build-ffmpeg-layer.sh             # download (cached), verify, install, check
#   infra/build-ffmpeg-layer.sh --dry-run   # say what would happen; download and write nothing
#   infra/build-ffmpeg-layer.sh --check     # only check the layer already built
#   infra/build-ffmpeg-layer.sh --force     # rebuild even if the layer is up to date
#
# Source (default): John Van Sickle's static release build for arm64,
#   https://johnvansickle.com/ffmpeg/releases/ffmpeg-release-arm64-static.tar.xz
# verified against the MD5 published beside it (…tar.xz.md5). That URL always
# serves the *current* release, so two builds on different days can differ;
# the script prints the tarball's SHA-256 so you can pin it (below).
#
# Environment:
#   FFMPEG_TARBALL=path   use this tarball (.tar.xz, .tar.gz, .tar) instead of
#                         downloading: offline or pinned builds
#   FFMPEG_URL=url        download this tarball instead of the default
#   FFMPEG_SHA256=hex     the tarball must have this SHA-256 (recommended pin)
#   FFMPEG_MD5=hex        the tarball must have this MD5 (otherwise, for a
#                         download, the MD5 is fetched from "$FFMPEG_URL.md5")
#   FFMPEG_ALLOW_GLIBC=1  also accept binaries that link only glibc dynamically
#                         (libc/libm/libpthread/libdl/librt/libmvec), such as
#                         BtbN's linuxarm64 builds; Lambda's AL2023 has glibc 2.34
#   FFMPEG_LAYER_DIR      output folder (default: infra/layers/ffmpeg)
#   FFMPEG_CACHE_DIR      download cache (default: ${XDG_CACHE_HOME:-~/.cache}/vidstega-ffmpeg-layer)
#   FFMPEG_RUNNER         command that runs aarch64 Linux binaries (default: run
#                         them directly on an aarch64 Linux host, else
#                         qemu-aarch64 / qemu-aarch64-static if installed)
#
# Checks: each binary is a 64-bit ELF for aarch64 with no program interpreter
# and no shared-library dependencies (static); then, if they can be run here
# (natively or under qemu-user), ffmpeg is 5.1 or newer (git snapshots
# "N-…" are accepted as new, as vidstega-media does), `-encoders` lists
# libx264 and ffv1, `-protocols` lists https (functions read S3 through
# presigned URLs), ffprobe reports itself as ffprobe, and a 3-frame lossless
# H.264 encode and FFV1 encode are probed back with 3 frames each. Without a
# way to run aarch64 binaries those checks are skipped with a warning.
#
# Idempotent: the layer records the tarball's SHA-256 in
# share/doc/ffmpeg-static/BUILD-INFO; when it matches, nothing is rewritten
# (the checks still run). The layer is replaced atomically.
#
# Needs: bash, tar (with xz), python3 (ELF inspection), and for downloads curl
# or wget, plus sha256sum/shasum and md5sum/md5.
set -euo pipefail

DEFAULT_URL="https://johnvansickle.com/ffmpeg/releases/ffmpeg-release-arm64-static.tar.xz"
# The unzipped size of a function plus all its layers must stay under 250 MB.
LAMBDA_UNZIPPED_LIMIT=$((250 * 1000 * 1000))
LAYER_WARN_BYTES=$((200 * 1000 * 1000))

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAYER_DIR="${FFMPEG_LAYER_DIR:-$ROOT/infra/layers/ffmpeg}"
CACHE_DIR="${FFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vidstega-ffmpeg-layer}"
URL="${FFMPEG_URL:-$DEFAULT_URL}"

MODE=build
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) MODE=dry-run ;;
    --check) MODE=check ;;
    --force) FORCE=1 ;;
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

WORK=""
cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

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

md5_of() {
  if command -v md5sum >/dev/null 2>&1; then
    md5sum "$1" | cut -d' ' -f1
  elif command -v md5 >/dev/null 2>&1; then
    md5 -q "$1"
  else
    python3 -c 'import hashlib,sys;print(hashlib.md5(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
  fi
}

bytes_of() { wc -c <"$1" | tr -d ' '; }

human() {
  awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'
}

fetch() { # fetch URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 --retry-delay 2 --connect-timeout 20 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q --tries=3 -O "$2" "$1"
  else
    die "need curl or wget to download $1 (or set FFMPEG_TARBALL to a local tarball)"
  fi
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
    RUNNER_NAME="FFMPEG_RUNNER ($FFMPEG_RUNNER)"
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
      RUNNER_NAME="$q"
      return 0
    fi
  done
  return 1
}

run_a64() { # run_a64 BINARY ARGS... (stdin closed)
  if [ "${#RUNNER[@]}" -gt 0 ]; then
    "${RUNNER[@]}" "$@" </dev/null
  else
    "$@" </dev/null
  fi
}

# version_ok "7.0.2-static" -> 0 if >= 5.1 or a git snapshot (N-...)
version_ok() {
  local v="${1#n}"
  case "$v" in
    N-* | git-*) return 0 ;;
  esac
  local major minor
  major="$(printf '%s' "$v" | sed -n 's/^\([0-9][0-9]*\).*/\1/p')"
  minor="$(printf '%s' "$v" | sed -n 's/^[0-9][0-9]*[^0-9]\([0-9][0-9]*\).*/\1/p')"
  [ -n "$major" ] || return 0
  minor="${minor:-0}"
  [ "$major" -gt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -ge 1 ]; }
}

# check_binaries DIR: DIR/ffmpeg and DIR/ffprobe must pass every check.
check_binaries() {
  local dir="$1" b verdict
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
    warn "cannot run aarch64 binaries here (not an aarch64 Linux host, no qemu-aarch64):"
    warn "the version, encoder, protocol and encode checks were SKIPPED."
    warn "Install qemu-user (Debian/Ubuntu: apt-get install qemu-user) and run: $0 --check"
    return 0
  fi
  say "running them $RUNNER_NAME"
  local out version
  out="$(run_a64 "$dir/ffmpeg" -hide_banner -version 2>&1)" || die "ffmpeg -version failed: $(printf '%s' "$out" | head -3)"
  version="$(printf '%s\n' "$out" | sed -n '1s/^ffmpeg version \([^ ]*\).*/\1/p')"
  [ -n "$version" ] || die "ffmpeg -version printed no version line: $(printf '%s' "$out" | head -1)"
  version_ok "$version" || die "ffmpeg $version is older than 5.1"
  case "$version" in N-* | git-*) warn "ffmpeg $version is a git snapshot: accepted as new (as vidstega-media does)" ;; esac
  printf '    ffmpeg version %s\n' "$version"

  out="$(run_a64 "$dir/ffmpeg" -hide_banner -encoders 2>/dev/null)" || die "ffmpeg -encoders failed"
  local enc
  for enc in libx264 ffv1; do
    printf '%s\n' "$out" | awk -v e="$enc" '$2 == e { found = 1 } END { exit !found }' ||
      die "ffmpeg has no $enc encoder (vidstega needs libx264 and ffv1: use a GPL build)"
  done
  printf '    encoders: libx264, ffv1\n'

  out="$(run_a64 "$dir/ffmpeg" -hide_banner -protocols 2>/dev/null)" || die "ffmpeg -protocols failed"
  printf '%s\n' "$out" | awk '/^Input:/ { i = 1; next } /^Output:/ { i = 0 } i && $1 == "https" { f = 1 } END { exit !f }' ||
    die "ffmpeg cannot read https:// URLs (no TLS support); the functions read S3 through presigned URLs"
  printf '    protocols: https (input)\n'

  out="$(run_a64 "$dir/ffprobe" -hide_banner -version 2>&1)" || die "ffprobe -version failed: $(printf '%s' "$out" | head -3)"
  local pversion
  pversion="$(printf '%s\n' "$out" | sed -n '1s/^ffprobe version \([^ ]*\).*/\1/p')"
  [ -n "$pversion" ] || die "$dir/ffprobe does not report itself as ffprobe: $(printf '%s' "$out" | head -1)"
  version_ok "$pversion" || die "ffprobe $pversion is older than 5.1"
  printf '    ffprobe version %s\n' "$pversion"

  # A tiny lossless encode with each codec, probed back.
  local smoke codec frames
  smoke="$(mktemp -d "${TMPDIR:-/tmp}/ffmpeg-layer-smoke.XXXXXX")"
  for codec in "libx264 -qp 0 -preset ultrafast" "ffv1 -level 3"; do
    # shellcheck disable=SC2086 # the codec options are meant to split
    run_a64 "$dir/ffmpeg" -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=64x48:r=30 \
      -frames:v 3 -pix_fmt yuv420p -c:v $codec -f nut "$smoke/out.nut" ||
      { rm -rf "$smoke"; die "a 3-frame ${codec%% *} encode failed"; }
    frames="$(run_a64 "$dir/ffprobe" -v error -count_frames -select_streams v:0 \
      -show_entries stream=nb_read_frames -of default=nw=1:nk=1 "$smoke/out.nut")" ||
      { rm -rf "$smoke"; die "ffprobe could not read the ${codec%% *} test file"; }
    [ "$frames" = 3 ] || { rm -rf "$smoke"; die "the ${codec%% *} test file has $frames frames, not 3"; }
  done
  rm -rf "$smoke"
  printf '    3-frame lossless encodes (libx264 -qp 0, ffv1) read back by ffprobe\n'
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

layer_built_from() { # prints the tarball SHA-256 the current layer was built from
  local info="$LAYER_DIR/share/doc/ffmpeg-static/BUILD-INFO"
  [ -f "$info" ] && sed -n 's/^tarball_sha256: //p' "$info"
  return 0
}

command -v python3 >/dev/null 2>&1 || die "python3 is needed to inspect the binaries"

if [ "$MODE" = check ]; then
  say "checking the layer in $LAYER_DIR"
  check_binaries "$LAYER_DIR/bin"
  print_sizes "$LAYER_DIR"
  say "layer ok"
  exit 0
fi

# --- 1. the tarball ------------------------------------------------------------
if [ -n "${FFMPEG_TARBALL:-}" ]; then
  TARBALL="$FFMPEG_TARBALL"
  SOURCE="local file $TARBALL"
  [ "$MODE" = dry-run ] || [ -f "$TARBALL" ] || die "FFMPEG_TARBALL=$TARBALL does not exist"
else
  TARBALL="$CACHE_DIR/$(basename "${URL%%\?*}")"
  SOURCE="$URL"
fi

if [ "$MODE" = dry-run ]; then
  say "dry run: nothing is downloaded or written"
  printf '    source:      %s\n' "$SOURCE"
  if [ -z "${FFMPEG_TARBALL:-}" ]; then
    printf '    cache:       %s\n' "$TARBALL"
  fi
  if [ -n "${FFMPEG_SHA256:-}" ]; then
    printf '    verify:      SHA-256 %s\n' "$FFMPEG_SHA256"
  elif [ -n "${FFMPEG_MD5:-}" ]; then
    printf '    verify:      MD5 %s\n' "$FFMPEG_MD5"
  elif [ -z "${FFMPEG_TARBALL:-}" ]; then
    printf '    verify:      MD5 published at %s.md5\n' "$URL"
  else
    printf '    verify:      no checksum given (set FFMPEG_SHA256 to pin)\n'
  fi
  printf '    output:      %s/bin/{ffmpeg,ffprobe}\n' "$LAYER_DIR"
  built="$(layer_built_from)"
  printf '    current:     %s\n' "${built:+layer built from tarball SHA-256 $built}${built:-no layer built yet}"
  if find_runner; then
    printf '    run checks:  %s\n' "$RUNNER_NAME"
  else
    printf '    run checks:  SKIPPED (no aarch64 host or qemu-aarch64 here; apt-get install qemu-user)\n'
  fi
  for tool in tar xz python3 curl wget file; do
    if command -v "$tool" >/dev/null 2>&1; then
      printf '    %-12s %s\n' "$tool:" "$(command -v "$tool")"
    else
      printf '    %-12s %s\n' "$tool:" "not found"
    fi
  done
  exit 0
fi

if [ -z "${FFMPEG_TARBALL:-}" ]; then
  mkdir -p "$CACHE_DIR"
  expected_md5="${FFMPEG_MD5:-}"
  if [ -z "${FFMPEG_SHA256:-}" ] && [ -z "$expected_md5" ]; then
    say "fetching the published MD5: $URL.md5"
    fetch "$URL.md5" "$TARBALL.md5.tmp" || die "cannot fetch $URL.md5; set FFMPEG_SHA256 or FFMPEG_MD5, or FFMPEG_TARBALL"
    expected_md5="$(cut -d' ' -f1 <"$TARBALL.md5.tmp" | lower)"
    rm -f "$TARBALL.md5.tmp"
    printf '%s' "$expected_md5" | grep -Eq '^[0-9a-f]{32}$' || die "$URL.md5 does not hold an MD5 sum"
  fi
  cached_ok=0
  if [ -f "$TARBALL" ]; then
    if [ -n "${FFMPEG_SHA256:-}" ]; then
      [ "$(sha256_of "$TARBALL")" = "$(printf '%s' "$FFMPEG_SHA256" | lower)" ] && cached_ok=1
    elif [ "$(md5_of "$TARBALL")" = "$expected_md5" ]; then
      cached_ok=1
    fi
  fi
  if [ "$cached_ok" = 1 ]; then
    say "using the cached download $TARBALL"
  else
    say "downloading $URL"
    fetch "$URL" "$TARBALL.part"
    mv -f "$TARBALL.part" "$TARBALL"
  fi
  FFMPEG_MD5="$expected_md5"
fi

if [ -n "${FFMPEG_MD5:-}" ]; then
  got="$(md5_of "$TARBALL")"
  [ "$got" = "$(printf '%s' "$FFMPEG_MD5" | lower)" ] || die "MD5 mismatch for $TARBALL: got $got, expected $FFMPEG_MD5"
  say "MD5 verified: $got"
fi
TARBALL_SHA256="$(sha256_of "$TARBALL")"
if [ -n "${FFMPEG_SHA256:-}" ]; then
  [ "$TARBALL_SHA256" = "$(printf '%s' "$FFMPEG_SHA256" | lower)" ] ||
    die "SHA-256 mismatch for $TARBALL: got $TARBALL_SHA256, expected $FFMPEG_SHA256"
  say "SHA-256 verified: $TARBALL_SHA256"
else
  say "tarball SHA-256: $TARBALL_SHA256 (pin it: FFMPEG_SHA256=$TARBALL_SHA256)"
fi

# --- 2. up to date? --------------------------------------------------------------
if [ "$FORCE" = 0 ] && [ "$(layer_built_from)" = "$TARBALL_SHA256" ] &&
  [ -f "$LAYER_DIR/bin/ffmpeg" ] && [ -f "$LAYER_DIR/bin/ffprobe" ]; then
  say "the layer in $LAYER_DIR is already built from this tarball; checking it"
  check_binaries "$LAYER_DIR/bin"
  print_sizes "$LAYER_DIR"
  say "layer up to date"
  exit 0
fi

# --- 3. unpack and check ----------------------------------------------------------
mkdir -p "$(dirname "$LAYER_DIR")"
WORK="$(mktemp -d "$(dirname "$LAYER_DIR")/.ffmpeg-layer.XXXXXX")"
say "unpacking"
case "$TARBALL" in
  *.tar.xz | *.txz) tar -xJf "$TARBALL" -C "$WORK" ;;
  *.tar.gz | *.tgz) tar -xzf "$TARBALL" -C "$WORK" ;;
  *) tar -xf "$TARBALL" -C "$WORK" ;;
esac

pick() { # pick NAME: the one regular file called NAME in the unpacked tree
  local found
  found="$(find "$WORK" -type f -name "$1" ! -path "$WORK/layer/*")"
  [ -n "$found" ] || die "the tarball has no file named $1"
  [ "$(printf '%s\n' "$found" | wc -l | tr -d ' ')" = 1 ] || die "the tarball has several files named $1: $found"
  printf '%s\n' "$found"
}
ffmpeg_src="$(pick ffmpeg)"
ffprobe_src="$(pick ffprobe)"

NEW="$WORK/layer"
mkdir -p "$NEW/bin" "$NEW/share/doc/ffmpeg-static"
cp "$ffmpeg_src" "$NEW/bin/ffmpeg"
cp "$ffprobe_src" "$NEW/bin/ffprobe"
chmod 0755 "$NEW/bin/ffmpeg" "$NEW/bin/ffprobe"
# Keep the build's licence and notes with the binaries (GPL: libx264).
src_dir="$(dirname "$ffmpeg_src")"
for doc in GPLv3.txt COPYING.GPLv3 LICENSE LICENSE.txt readme.txt README.txt; do
  if [ -f "$src_dir/$doc" ]; then cp "$src_dir/$doc" "$NEW/share/doc/ffmpeg-static/"; fi
done

say "checking the binaries"
check_binaries "$NEW/bin"

{
  printf 'source: %s\n' "$SOURCE"
  printf 'tarball_sha256: %s\n' "$TARBALL_SHA256"
  printf 'built_utc: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'built_by: infra/build-ffmpeg-layer.sh\n'
} >"$NEW/share/doc/ffmpeg-static/BUILD-INFO"

# --- 4. install atomically --------------------------------------------------------
OLD="$WORK/old"
if [ -e "$LAYER_DIR" ]; then mv "$LAYER_DIR" "$OLD"; fi
mv "$NEW" "$LAYER_DIR"
say "installed $LAYER_DIR/bin/ffmpeg and ffprobe"
print_sizes "$LAYER_DIR"
say "done: sam build picks the layer up from infra/layers/ffmpeg/ (template.yaml FfmpegLayer)"
