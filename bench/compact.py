#!/usr/bin/env python3
"""Compact mode against plain ffmpeg doing the comparable job, in one run.

For each clip (H.264 High, CABAC, B-frames, AAC audio; generated once under
--work), medians of --runs runs:

* `vidstega embed` (compact mode, the default) of an incompressible
  message vs. `ffmpeg -i in -map 0 -c copy out` (a remux of the same file):
  compact mode reads the file once, decodes the carriers' GOPs and writes
  the file once, so a remux is the baseline it is held to (target: ≤ 3×);
* `vidstega extract` vs. ffmpeg decoding just the GOPs that hold the
  carriers (from each carrier's keyframe to the carrier; target: ≤ 2×);
* sizes: source, output, and the bound source + carriers·W·H·1.5·1.05 + 64 KiB;
* peak memory of the whole process tree (vidstega and its ffmpeg/ffprobe
  children, summed, sampled every 20 ms), which must stay flat in the
  video's length (target: ≤ 300 MB at 1080p).

Usage: bench/compact.py [--runs 3] [--clips 720p-30s,1080p-2m,1440p-30s,1080p-10m]
                        [--work bench/work] [--cache warm|cold]
Needs ffmpeg and a Rust toolchain; builds the CLI in release mode. Run one
benchmark at a time: the machine's cores are shared.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "vidstega-target"))
PASSWORD_ENV = "VIDSTEGA_BENCH_PASSWORD"

# name: (width, height, seconds, message bytes)
CLIPS = {
    "720p-30s": (1280, 720, 30, 100_000),
    "1080p-2m": (1920, 1080, 120, 100_000),
    "1440p-30s": (2560, 1440, 30, 100_000),
    "1080p-10m": (1920, 1080, 600, 1_000_000),
}


def tree_rss(pid):
    """Resident bytes of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def drop_caches():
    """Empties the page cache (needs root), so the next command reads from disk."""
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def can_drop_caches():
    try:
        drop_caches()
        return True
    except OSError:
        return False


COLD = False


def run(cmd, env=None, sample=False):
    """Runs a command: (seconds, stdout, peak tree RSS bytes); fails loudly.
    With COLD set, the page cache is emptied first."""
    if COLD:
        drop_caches()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.02)

    watcher = threading.Thread(target=watch) if sample else None
    if watcher:
        watcher.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    if watcher:
        watcher.join()
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}")
    return seconds, out, peak[0]


def make_clip(path, width, height, seconds):
    if path.exists():
        return
    print(f"generating {path.name} ({width}x{height}, {seconds} s)...", flush=True)
    tmp = path.with_suffix(".tmp.mp4")
    run([
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r=30,noise=alls=6:allf=t+u",
        "-f", "lavfi", "-i", "anoisesrc=r=48000:a=0.1,aformat=channel_layouts=stereo",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart", str(tmp),
    ])
    tmp.rename(path)


def probe_json(path, *args):
    _, out, _ = run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)])
    return json.loads(out)


def carrier_gops(work_dir, clip):
    """(keyframe time, frames to decode) for each carrier of the kept plan."""
    plans = list(work_dir.glob("store/jobs/*/plan.json"))
    plan = json.loads(plans[0].read_text())
    frames = probe_json(clip, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags")["packets"]
    times = sorted(float(p["pts_time"]) for p in frames)
    keys = sorted(float(p["pts_time"]) for p in frames if p["flags"].startswith("K"))
    gops = []
    for c in plan["carriers"]:
        t = times[c["display"]]
        k = max(x for x in keys if x <= t)
        gops.append((k, sum(1 for x in times if k <= x <= t)))
    return gops


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clips", default="720p-30s,1080p-2m,1440p-30s,1080p-10m")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    ap.add_argument("--cache", choices=["warm", "cold"], default="warm",
                    help="warm: files in the page cache (repeated runs); cold: the page cache emptied "
                         "before every timed command (needs root)")
    args = ap.parse_args()
    global COLD
    if args.cache == "cold" and not can_drop_caches():
        raise SystemExit("--cache cold needs to write /proc/sys/vm/drop_caches (run as root)")
    args.work.mkdir(parents=True, exist_ok=True)

    print("building vidstega (release)...", flush=True)
    subprocess.run(["cargo", "build", "--release", "-p", "vidstega", "--locked"], cwd=ROOT, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=str(TARGET)))
    exe = TARGET / "release" / "vidstega"
    env = dict(os.environ, **{PASSWORD_ENV: "benchmark password"})

    rows = []
    for name in args.clips.split(","):
        width, height, seconds, message_bytes = CLIPS[name]
        clip = args.work / f"compact-{name}.mp4"
        make_clip(clip, width, height, seconds)
        payload = args.work / f"payload-{message_bytes}.bin"
        if not payload.exists():
            payload.write_bytes(os.urandom(message_bytes))
        stego = args.work / f"compact-{name}-stego.mp4"
        remuxed = args.work / f"compact-{name}-remux.mp4"
        t = {"remux": [], "embed": [], "gop_decode": [], "extract": []}
        rss = {"embed": [], "extract": []}
        summary = None
        for i in range(args.runs):
            print(f"  {name}, run {i + 1}/{args.runs}", flush=True)
            COLD = args.cache == "cold"
            s, _, _ = run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip),
                           "-map", "0", "-c", "copy", str(remuxed)])
            t["remux"].append(s)
            keep = ["--keep-work"] if i == 0 else []
            s, out, peak = run([
                str(exe), "embed", str(clip), "-o", str(stego), "--message-file", str(payload),
                "--password-env", PASSWORD_ENV, "--force", "--json", *keep,
            ], env=env, sample=True)
            t["embed"].append(s)
            rss["embed"].append(peak)
            summary = json.loads(out)
            if i == 0:
                COLD = False
                gops = carrier_gops(args.work / f".{stego.name}.vidstega", clip)
                COLD = args.cache == "cold"
                subprocess.run(["rm", "-rf", str(args.work / f".{stego.name}.vidstega")], check=True)
            # Baseline: ffmpeg decoding each carrier's GOP up to the carrier.
            total = 0.0
            for key_time, count in gops:
                s, _, _ = run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-ss", f"{key_time:.6f}",
                               "-noaccurate_seek", "-i", str(clip), "-map", "0:v:0", "-frames:v", str(count),
                               "-f", "null", "-"])
                total += s
            t["gop_decode"].append(total)
            recovered = args.work / "recovered.bin"
            s, out, peak = run([
                str(exe), "extract", str(stego), "-o", str(recovered), "--force",
                "--password-env", PASSWORD_ENV, "--json",
            ], env=env, sample=True)
            t["extract"].append(s)
            rss["extract"].append(peak)
            if recovered.read_bytes() != payload.read_bytes():
                raise SystemExit("the extracted message differs from the payload")
        med = {k: statistics.median(v) for k, v in t.items()}
        carriers = summary["carriers"]
        coded_h = (height + 15) // 16 * 16
        bound = clip.stat().st_size + carriers * width * coded_h * 1.5 * 1.05 + 65536
        rows.append({
            "clip": name,
            "message_bytes": message_bytes,
            "carriers": carriers,
            **{k: round(v, 3) for k, v in med.items()},
            "embed_vs_remux": round(med["embed"] / med["remux"], 2),
            "extract_vs_gop_decode": round(med["extract"] / med["gop_decode"], 2),
            "source_mb": round(clip.stat().st_size / 1e6, 2),
            "output_mb": round(stego.stat().st_size / 1e6, 2),
            "size_bound_mb": round(bound / 1e6, 2),
            "within_bound": stego.stat().st_size <= bound,
            "embed_tree_peak_mb": round(max(rss["embed"]) / 1e6, 1),
            "extract_tree_peak_mb": round(max(rss["extract"]) / 1e6, 1),
        })

    print()
    print(f"machine: {os.cpu_count()} cores; medians of {args.runs} runs; {args.cache} page cache; "
          f"compact mode, default settings")
    print("| clip | message | carriers | source MB | output MB | bound MB | remux s | embed s | embed/remux "
          "| carrier-GOP decode s | extract s | extract/decode | embed peak MB | extract peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['message_bytes']} | {r['carriers']} | {r['source_mb']} | {r['output_mb']} "
              f"| {r['size_bound_mb']} | {r['remux']} | {r['embed']} | {r['embed_vs_remux']} | {r['gop_decode']} "
              f"| {r['extract']} | {r['extract_vs_gop_decode']} | {r['embed_tree_peak_mb']} "
              f"| {r['extract_tree_peak_mb']} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
