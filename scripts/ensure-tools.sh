#!/usr/bin/env bash
# Installs what VidStega's build and tests need on a Debian/Ubuntu machine,
# skipping whatever is already present. Safe to run repeatedly.
set -euo pipefail

need_apt=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# The container tests make Matroska fixtures the way mkvmerge writes them.
command -v mkvmerge >/dev/null 2>&1 || need_apt+=(mkvtoolnix)
# infra/build-ffmpeg-layer.sh runs the Lambda layer's arm64 ffmpeg/ffprobe
# (its checks, required in CI) and the tests use them: qemu-user on x86.
case "$(uname -m)" in
  aarch64 | arm64) ;;
  *) command -v qemu-aarch64-static >/dev/null 2>&1 || command -v qemu-aarch64 >/dev/null 2>&1 ||
    need_apt+=(qemu-user-static) ;;
esac

if ((${#need_apt[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${need_apt[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "==> installing ${need_apt[*]} (Debian packages)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is missing; install Rust from https://rustup.rs and rerun" >&2
  exit 1
fi

# --- Browser playback test (cli/tests/common/browser.rs) -------------------
# Headless Chromium driven by selenium plays the stego MP4s; see
# cli/tests/browser/grab_frames.py. Debian's chromium + chromium-driver, and
# a venv with a pinned selenium (4.52+ need a certifi newer than PyPI has).
need_browser_apt=()
command -v chromium >/dev/null 2>&1 || need_browser_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_browser_apt+=(chromium-driver)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_browser_apt+=(python3-venv)
if ((${#need_browser_apt[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${need_browser_apt[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "==> installing ${need_browser_apt[*]} (Debian packages)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_browser_apt[@]}" >/dev/null
fi
SELENIUM_VERSION=4.51.0
BROWSER_VENV="$HOME/.cache/vidstega-tools/browser-venv"
if ! "$BROWSER_VENV/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$SELENIUM_VERSION')" >/dev/null 2>&1; then
  echo "==> creating $BROWSER_VENV with selenium==$SELENIUM_VERSION"
  python3 -m venv "$BROWSER_VENV"
  "$BROWSER_VENV/bin/pip" install -q "selenium==$SELENIUM_VERSION"
fi
