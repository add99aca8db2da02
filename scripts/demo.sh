#!/usr/bin/env bash
# VidStega's main job on one machine: build, take a video (yours, or a sample
# made with ffmpeg), hide a message in it, get the message back out, compare.
#
#   scripts/demo.sh                 # with a generated 720p sample with audio
#   scripts/demo.sh my-video.mp4    # with your own video
#
# Outputs go to ./demo-output/. Installs ffmpeg and build tools if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vidstega-target}"

scripts/ensure-tools.sh
echo "==> building vidstega (release; the first build takes a few minutes)"
cargo build --release --locked -p vidstega --no-default-features
vidstega="$CARGO_TARGET_DIR/release/vidstega"

out=demo-output
mkdir -p "$out"
if [ $# -ge 1 ]; then
  video="$1"
else
  video="$out/sample.mp4"
  if [ ! -f "$video" ]; then
    echo "==> making a sample video: 30 s of 1280x720 at 30 fps with stereo AAC audio"
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i "testsrc2=s=1280x720:r=30,noise=alls=6:allf=t" \
      -f lavfi -i "sine=f=330:r=48000,aformat=channel_layouts=stereo" \
      -t 30 -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p -c:a aac -b:a 128k -shortest \
      -movflags +faststart "$video"
  fi
fi

message="$out/message.txt"
printf 'The meeting moved to Thursday, 09:30, at the north entrance.\nSent %s\n' "$(date -u +%FT%TZ)" > "$message"
# A throwaway password for the demo, passed through the environment (never on the command line).
VIDSTEGA_DEMO_PASSWORD="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export VIDSTEGA_DEMO_PASSWORD

# The stego video keeps the source's container (MP4 for other containers).
case "${video,,}" in
  *.mkv | *.webm) stego="$out/stego.mkv" ;;
  *.mov) stego="$out/stego.mov" ;;
  *) stego="$out/stego.mp4" ;;
esac

echo "==> what the video can carry (compact mode: a few pictures stored uncompressed, the rest copied)"
"$vidstega" capacity "$video"
echo "==> embedding $(wc -c < "$message") bytes"
"$vidstega" embed "$video" -o "$stego" --message-file "$message" --password-env VIDSTEGA_DEMO_PASSWORD --force
echo "==> extracting"
"$vidstega" extract "$stego" -o "$out/recovered.txt" --password-env VIDSTEGA_DEMO_PASSWORD --force
echo "==> the recovered message:"
cat "$out/recovered.txt"
cmp "$message" "$out/recovered.txt"
src_bytes=$(wc -c < "$video")
out_bytes=$(wc -c < "$stego")
printf '==> identical. sizes: source %s bytes, stego %s bytes (%+.1f%%); every other packet, the audio included, copied bit-exact\n' \
  "$src_bytes" "$out_bytes" "$(awk -v a="$out_bytes" -v b="$src_bytes" 'BEGIN { print (a / b - 1) * 100 }')"
echo "==> a wrong password is refused:"
VIDSTEGA_WRONG=not-the-password "$vidstega" extract "$stego" --password-env VIDSTEGA_WRONG || echo "(exit code $?)"
