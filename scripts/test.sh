#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings as errors, the
# ffmpeg Lambda layer build with its checks, and the whole test suite against
# real ffmpeg and local AWS-protocol servers (moto for S3/SQS/Step Functions,
# DynamoDB Local; see infra/local/README.md). Installs missing tools first.
#
# The layer (infra/build-ffmpeg-layer.sh: pinned static arm64 ffmpeg/ffprobe,
# downloads cached under ~/.cache/vidstega-ffmpeg-layer) is built with
# FFMPEG_REQUIRE_CHECKS=1, so a machine that cannot run arm64 binaries fails
# instead of skipping its checks; VIDSTEGA_LAYER_DIR (absolute) points the
# tests at it: $VIDSTEGA_LAYER_DIR/bin/{ffmpeg,ffprobe}.
#
# The servers are started (or reused) right before `cargo test`, and their env
# (AWS_ENDPOINT_URL_<SERVICE>, dummy credentials, region) is exported for it.
# Servers this run started are stopped when it ends, however it ends; servers
# that were already running are left running. VIDSTEGA_KEEP_SERVERS=1 keeps
# the ones this run started, too.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vidstega-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scripts/ensure-tools.sh
echo "==> local AWS-protocol test tools (infra/local/install.sh)"
infra/local/install.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> infra/lint.sh (sam validate --lint, cfn-lint with the state machine inlined)"
infra/lint.sh

echo "==> ffmpeg Lambda layer (infra/build-ffmpeg-layer.sh, run-time checks required)"
export VIDSTEGA_LAYER_DIR="$PWD/infra/layers/ffmpeg"
FFMPEG_REQUIRE_CHECKS=1 FFMPEG_LAYER_DIR="$VIDSTEGA_LAYER_DIR" infra/build-ffmpeg-layer.sh

echo "==> local AWS-protocol servers (infra/local/start.sh)"
if infra/local/start.sh --check 2>/dev/null; then
  echo "    reusing the servers already running; they stay up afterwards"
elif [ "${VIDSTEGA_KEEP_SERVERS:-0}" = 1 ]; then
  echo "    starting them; VIDSTEGA_KEEP_SERVERS=1: they stay up afterwards"
else
  # Set before starting, so a half-finished start is cleaned up as well.
  trap 'echo "==> stopping the local AWS-protocol servers"; infra/local/stop.sh || true' EXIT
fi
AWS_ENV_FILE="$(infra/local/start.sh --print-env-path)"
# shellcheck disable=SC1090
source "$AWS_ENV_FILE"

echo "==> cargo test"
cargo test --workspace --locked
