#!/usr/bin/env python3
"""Robust mode through the real command: `vidstega embed --mode robust`
against plain ffmpeg doing the comparable job, in the same run.

For each clip (1080p30 H.264 with AAC audio, --seconds long; `testsrc` is
ffmpeg's testsrc2 pattern with temporal noise, `camera` a zooming
Mandelbrot blended with moving gradients, grain and blur: bench/robust.py's
clips, made by its code), medians of --runs runs of:

* `vidstega embed --mode robust` of a random (incompressible) message at
  --rate bytes per second of video, vs. the baseline: plain ffmpeg decoding
  the clip and encoding it with the output's settings (libx264 -preset
  medium -crf 18, yuv420p, audio copied). The embed includes what the
  baseline does not: the closed loop's two decodes of the output (every
  segment read back, then the joined output extracted);
* `vidstega extract` of the stego vs. plain ffmpeg decoding it to raw frames;
* the stego's size vs. the baseline's output, and the raw bit error rate the
  output reads back at (the closed loop's margin, from `embed --json`);
* the peak resident memory of the vidstega process (its own VmHWM);
* with --channels, the last run's stego re-encoded through each channel and
  read back by `vidstega extract --json`, as a recipient would: message
  recovered (exact) or the error's first line, and the raw bit error rate
  the extractor measured before error correction.

Usage: bench/robust_pipeline.py [--runs 3] [--seconds 10] [--clips testsrc,camera]
                                [--rate 40] [--robustness normal] [--work bench/work/robust-pipeline]
                                [--channels crf23,720p-crf23,480p-crf28,x265-crf28,trim2s-crf23,fps25-crf23]
Builds the CLI in release mode. Run one benchmark at a time: the cores are shared.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "vidstega-target"))
PASSWORD_ENV = "VIDSTEGA_BENCH_PASSWORD"

# The clips and the channels of bench/robust.py's channel table (docs/robust.md §11).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import run  # noqa: E402
from robust import CHANNELS, make_clip as make_bench_clip  # noqa: E402


def channel(exe, env, stego: Path, name: str, message: bytes, work: Path) -> dict:
    out = work / f"channel-{name}.mp4"
    opts = CHANNELS[name]
    if opts is None:  # the stego itself
        out = stego
    else:
        audio = [] if "-an" in opts or "-c" in opts else ["-c:a", "copy"]
        run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(stego), *opts, *audio, str(out)])
    proc = subprocess.run([str(exe), "extract", str(out), "--password-env", PASSWORD_ENV, "--json",
                           "-o", str(work / "channel.bin"), "--force"], capture_output=True, env=env)
    if proc.returncode == 0:
        summary = json.loads(proc.stdout)
        exact = (work / "channel.bin").read_bytes() == message
        ber = (summary.get("robust") or {}).get("raw_bit_error_rate")
        return {"channel": name, "recovered": "exact" if exact else "WRONG MESSAGE", "raw_ber": ber}
    first = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
    return {"channel": name, "recovered": f"no (exit {proc.returncode}): {first[0][:90]}", "raw_ber": None}


def peak_rss(summary: dict) -> float:
    return (summary.get("peak_rss_bytes") or 0) / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clips", default="testsrc,camera")
    ap.add_argument("--rate", type=float, default=40.0, help="message bytes per second of video")
    ap.add_argument("--robustness", default="normal")
    ap.add_argument("--work", default=str(ROOT / "bench" / "work" / "robust-pipeline"))
    ap.add_argument("--channels", default="", help="comma-separated names of bench/robust.py's CHANNELS, or 'all'")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not args.no_build:
        print("building vidstega (release)...", flush=True)
        run(["cargo", "build", "--release", "-q", "-p", "vidstega"], cwd=ROOT)
    exe = TARGET / "release" / "vidstega"
    env = dict(os.environ, **{PASSWORD_ENV: "bench password"})
    rows = []
    for kind in args.clips.split(","):
        src = make_bench_clip(work, kind, "1080p", args.seconds)
        message = work / f"message-{kind}.bin"
        message.write_bytes(os.urandom(int(args.rate * args.seconds)))
        plain, stego = work / f"plain-{kind}.mp4", work / f"stego-{kind}.mp4"
        t_plain, t_embed, t_decode, t_extract, rss_e, rss_x = [], [], [], [], [], []
        summary = {}
        for i in range(args.runs):
            print(f"{kind}: run {i + 1}/{args.runs}", flush=True)
            t, _ = run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-map", "0:v:0",
                        "-map", "0:a?", "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt",
                        "yuv420p", "-c:a", "copy", str(plain)])
            t_plain.append(t)
            t, out = run([str(exe), "embed", str(src), "-o", str(stego), "--mode", "robust", "--robustness",
                          args.robustness, "--message-file", str(message), "--password-env", PASSWORD_ENV,
                          "--force", "--json"], env=env)
            t_embed.append(t)
            summary = json.loads(out)
            rss_e.append(peak_rss(summary))
            t, _ = run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(stego), "-map", "0:v:0",
                        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-y", "/dev/null"])
            t_decode.append(t)
            t, out = run([str(exe), "extract", str(stego), "--password-env", PASSWORD_ENV, "--json",
                          "-o", str(work / "extracted.bin"), "--force"], env=env)
            t_extract.append(t)
            rss_x.append(peak_rss(json.loads(out)))
            if (work / "extracted.bin").read_bytes() != message.read_bytes():
                raise SystemExit(f"{kind}: the extracted message differs")
        m = statistics.median
        row = {
            "clip": kind,
            "seconds": args.seconds,
            "message_bytes": message.stat().st_size,
            "plain_encode_s": m(t_plain),
            "embed_s": m(t_embed),
            "embed_ratio": m(t_embed) / m(t_plain),
            "decode_s": m(t_decode),
            "extract_s": m(t_extract),
            "extract_ratio": m(t_extract) / m(t_decode),
            "plain_bytes": plain.stat().st_size,
            "stego_bytes": stego.stat().st_size,
            "size_ratio": stego.stat().st_size / plain.stat().st_size,
            "read_back_error_rate": summary.get("robust_read_back_error_rate"),
            "embed_peak_rss_mb": max(rss_e),
            "extract_peak_rss_mb": max(rss_x),
        }
        names = list(CHANNELS) if args.channels == "all" else [c for c in args.channels.split(",") if c]
        row["channels"] = [channel(exe, env, stego, n, message.read_bytes(), work) for n in names]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(f"robust mode ({args.robustness}, {args.rate:g} B/s of message), medians of {args.runs} runs")
    print(f"{'clip':8} {'plain enc s':>11} {'embed s':>8} {'ratio':>6} {'decode s':>9} {'extract s':>9} "
          f"{'ratio':>6} {'size vs plain':>13} {'read-back BER':>13} {'RSS MB':>7}")
    for r in rows:
        print(f"{r['clip']:8} {r['plain_encode_s']:11.2f} {r['embed_s']:8.2f} {r['embed_ratio']:6.2f} "
              f"{r['decode_s']:9.2f} {r['extract_s']:9.2f} {r['extract_ratio']:6.2f} {r['size_ratio']:13.3f} "
              f"{(r['read_back_error_rate'] or 0) * 100:12.3f}% {r['embed_peak_rss_mb']:7.1f}")
    for r in rows:
        for c in r.get("channels", []):
            ber = "" if c["raw_ber"] is None else f"{c['raw_ber'] * 100:.2f}%"
            print(f"  {r['clip']:8} {c['channel']:12} {ber:>8}  {c['recovered']}")
    (work / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
