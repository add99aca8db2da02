#!/usr/bin/env python3
"""VidStega pipeline benchmark: vidstega against plain ffmpeg doing the same work.

For a 2560x1440 H.264 clip with AAC audio (noisy texture, GOP 30) of 100
frames and one of 900 frames, in one run and side by side (medians of
--runs runs):

* `vidstega embed` of a 1 MB (incompressible) message vs. plain ffmpeg
  decoding the clip and encoding it with the same lossless codec settings
  (libx264 -qp 0 -preset ultrafast, same pixel format) with the audio copied;
* `vidstega extract` vs. plain ffmpeg decoding the stego video to raw frames;
* the peak resident memory of the vidstega process itself (its own VmHWM,
  not counting the ffmpeg children), which must not grow with the length.

Usage: bench/pipeline.py [--runs 3] [--frames 100,900] [--work bench/work]
Needs ffmpeg and a Rust toolchain; builds the CLI in release mode.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "vidstega-target"))
PASSWORD_ENV = "VIDSTEGA_BENCH_PASSWORD"


def run(cmd, **kw):
    """Runs a command, returning (seconds, stdout); fails loudly."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, **kw)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace")[-3000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}")
    return seconds, proc.stdout


def make_clip(path: Path, frames: int):
    if path.exists():
        return
    print(f"generating {path.name} ({frames} frames of 2560x1440)...", flush=True)
    tmp = path.with_suffix(".tmp.mp4")
    run([
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=s=2560x1440:r=30,noise=alls=18:allf=t+u",
        "-f", "lavfi", "-i", "anoisesrc=r=48000:a=0.1,aformat=channel_layouts=stereo",
        "-frames:v", str(frames), "-t", f"{frames / 30:.3f}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", "128k", "-shortest", str(tmp),
    ])
    tmp.rename(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--frames", default="100,900")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    ap.add_argument("--payload-bytes", type=int, default=1 << 20)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    print("building vidstega (release)...", flush=True)
    run(["cargo", "build", "--release", "-p", "vidstega", "--no-default-features", "--locked"], cwd=ROOT,
        env=dict(os.environ, CARGO_TARGET_DIR=str(TARGET)))
    exe = TARGET / "release" / "vidstega"
    payload = args.work / "payload.bin"
    if not payload.exists() or payload.stat().st_size != args.payload_bytes:
        payload.write_bytes(os.urandom(args.payload_bytes))
    env = dict(os.environ, **{PASSWORD_ENV: "benchmark password"})

    rows = []
    for frames in [int(f) for f in args.frames.split(",")]:
        clip = args.work / f"clip-1440p-{frames}.mp4"
        make_clip(clip, frames)
        stego = args.work / f"stego-{frames}.mkv"
        base_out = args.work / f"baseline-{frames}.mkv"
        t = {"ffmpeg_encode": [], "embed": [], "ffmpeg_decode": [], "extract": []}
        rss = {"embed": [], "extract": []}
        for i in range(args.runs):
            print(f"  {frames} frames, run {i + 1}/{args.runs}", flush=True)
            s, _ = run([
                "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip),
                "-map", "0:v:0", "-map", "0:a?", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
                "-pix_fmt", "yuv420p", "-c:a", "copy", str(base_out),
            ])
            t["ffmpeg_encode"].append(s)
            s, out = run([
                str(exe), "embed", str(clip), "-o", str(stego), "--message-file", str(payload),
                "--password-env", PASSWORD_ENV, "--force", "--json", "--mode", "lossless",
            ], env=env)
            t["embed"].append(s)
            rss["embed"].append(json.loads(out)["peak_rss_bytes"])
            s, _ = run([
                "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(stego), "-map", "0:v:0",
                "-f", "rawvideo", "-pix_fmt", "yuv420p", "-y", "/dev/null",
            ])
            t["ffmpeg_decode"].append(s)
            s, out = run([
                str(exe), "extract", str(stego), "-o", str(args.work / "recovered.bin"), "--force",
                "--password-env", PASSWORD_ENV, "--json",
            ], env=env)
            t["extract"].append(s)
            rss["extract"].append(json.loads(out)["peak_rss_bytes"])
            if (args.work / "recovered.bin").read_bytes() != payload.read_bytes():
                raise SystemExit("the extracted message differs from the payload")
        med = {k: statistics.median(v) for k, v in t.items()}
        rows.append({
            "frames": frames,
            **{k: round(v, 3) for k, v in med.items()},
            "embed_ratio": round(med["embed"] / med["ffmpeg_encode"], 3),
            "extract_ratio": round(med["extract"] / med["ffmpeg_decode"], 3),
            "embed_peak_rss_mb": round(max(rss["embed"]) / 2**20, 1),
            "extract_peak_rss_mb": round(max(rss["extract"]) / 2**20, 1),
            "stego_mb": round(stego.stat().st_size / 2**20, 1),
            "baseline_mb": round(base_out.stat().st_size / 2**20, 1),
        })

    print()
    print(f"machine: {os.cpu_count()} cores; medians of {args.runs} runs; 1440p; payload {args.payload_bytes} bytes")
    print("| frames | ffmpeg decode→lossless encode (s) | vidstega embed (s) | ratio | ffmpeg decode (s) "
          "| vidstega extract (s) | ratio | embed peak RSS (MB) | extract peak RSS (MB) | stego / baseline size (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['frames']} | {r['ffmpeg_encode']} | {r['embed']} | {r['embed_ratio']} | {r['ffmpeg_decode']} "
              f"| {r['extract']} | {r['extract_ratio']} | {r['embed_peak_rss_mb']} | {r['extract_peak_rss_mb']} "
              f"| {r['stego_mb']} / {r['baseline_mb']} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
