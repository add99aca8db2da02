#!/usr/bin/env python3
"""VidStega on AWS: cost and latency model for one video.

From per-frame and per-GB timings (measured on the project machine and scaled,
or measured by you on Lambda) it works out, for one job: the plan (segments,
Map waves), the Lambda GB-seconds and requests of every function, Step
Functions transitions, S3 requests and storage over the lifecycle days, SQS
requests and DynamoDB request units; then the cost at us-east-1 list prices
and a latency estimate (median and a p95 guess). See docs/cost.md.

    bench/cost_model.py                       # the 10-minute 1080p30 video, default inputs
    bench/cost_model.py --lambda-speed 1.0    # a Lambda vCPU as fast as the project machine's
    bench/cost_model.py --embed-cpu-s-per-frame 0.05 --concat-s-per-gb 12 --output-days 1
    bench/cost_model.py --json                # machine-readable

Defaults and where they come from (docs/codec.md, 2560x1440 clip, 100 frames,
lossless H.264 -qp 0 -preset ultrafast, median of 3; scaled to 1920x1080 by
pixel count, 1920*1080 / (2560*1440) = 0.5625):

  encode CPU      4.46 CPU-s / 100 frames = 44.6 ms/frame  * 0.5625 = 25.1 ms
  decode CPU      5.98 CPU-s / 100 frames = 59.8 ms/frame  * 0.5625 = 33.6 ms
                  (decoding the lossless ultrafast file: the only decode codec.md
                  measured; a stand-in for decoding the source)
  showinfo        +8 % on the decode (codec.md, "Seeking")           =  2.7 ms
  embed, pipes    +20 % on the sum (see below)
  => embed-segment CPU per 1080p frame = (25.1 + 33.6 + 2.7) * 1.20 = 73.7 ms

  bytes per frame 220,629,811 B / 100 frames (mild-noise clip, "closer to real
                  camera footage") = 2,206,298 B * 0.5625 = 1,241,043 B
                  (noisy clip: 389,816,191 / 100 * 0.5625 = 2,192,716 B)

The +20 % for embedding, pipes and frame checks is a cross-check, not from
codec.md: `vidstega embed --jobs 1` of a 300-frame 1080p30 clip (testsrc2 with
noise=alls=10, x264 CRF 20, 1 KB message) on the project machine took 24.6
CPU-s for the whole run (about 75 ms/frame after ~2 s of probing, key
derivation and concat) and 14.2 s wall on 2 cores (87 % busy); decoding that
source alone took 35.7 ms CPU/frame; the output was 1.92 MB/frame.

What is NOT measured and is an assumption (each is a flag):
  --lambda-speed   a Lambda arm64 (Graviton) vCPU relative to one vCPU of the
                   project machine (2-vCPU "Intel Xeon Processor", shared, noisy)
  --efficiency     share of the function's vCPUs the decode->embed->encode
                   pipeline keeps busy (0.87 measured on 2 cores here)
  --concat-s-per-gb  concat is bound by S3 throughput, not CPU: ffmpeg reads the
                   segments over one HTTPS connection while 8-64 MiB parts upload
                   4 at a time (the remux itself took 4.6 s/GB file to file here)
  --upload-mb-per-s  embed-segment's upload of its segment file (4 parts at once)
  --probe-mb-per-s   the planner's ffprobe reading the whole source over HTTPS
  --*-fixed-s      start-up per invocation (cold start, small S3/DynamoDB calls,
                   ffmpeg start and seek)
  --tail-factor    p95 / median of a Map wave and of concat

Prices: us-east-1 list prices as known in mid-2025, without free tiers.
CHECK THEM (https://aws.amazon.com/pricing/) before relying on a number.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field, asdict

MIB = 1024 * 1024
GB = 1_000_000_000  # S3 and Lambda price decimal GB for storage/transfer; GB-s uses MB/1024

# --- us-east-1 list prices (mid-2025 as best known; check before use) --------
PRICES = {
    "lambda_arm_gb_s": 0.0000133334,  # $/GB-s, arm64, first 7.5 billion GB-s/month
    "lambda_request": 0.20 / 1e6,  # $/request
    "lambda_ephemeral_gb_s": 0.0000000309,  # $/GB-s of /tmp above the free 512 MB
    "sfn_transition": 0.025 / 1000,  # $/state transition, Standard workflows
    "s3_storage_gb_month": 0.023,  # $/GB-month, S3 Standard, first 50 TB
    "s3_put": 0.005 / 1000,  # $/request: PUT, COPY, POST, LIST (incl. UploadPart)
    "s3_get": 0.0004 / 1000,  # $/request: GET, HEAD, SELECT
    "s3_egress_gb": 0.09,  # $/GB out to the internet (first 10 TB/month)
    "sqs_request": 0.40 / 1e6,  # $/request (64 KB chunk), standard queue
    "ddb_wru": 0.625 / 1e6,  # $/write request unit, on-demand (after the Nov 2024 cut)
    "ddb_rru": 0.125 / 1e6,  # $/read request unit, on-demand
}
PRICE_NOTES = {
    "lambda_arm_gb_s": "Lambda arm64 duration, per GB-second (first tier)",
    "lambda_request": "Lambda requests, per request ($0.20 per million)",
    "lambda_ephemeral_gb_s": "Lambda ephemeral storage above 512 MB, per GB-second",
    "sfn_transition": "Step Functions Standard, per state transition ($0.025 per 1,000)",
    "s3_storage_gb_month": "S3 Standard storage, per GB-month (first 50 TB)",
    "s3_put": "S3 PUT/COPY/POST/LIST (UploadPart counts), per request ($0.005 per 1,000)",
    "s3_get": "S3 GET/HEAD, per request ($0.0004 per 1,000)",
    "s3_egress_gb": "Data transfer out to the internet, per GB (first 10 TB/month)",
    "sqs_request": "SQS standard, per request ($0.40 per million)",
    "ddb_wru": "DynamoDB on-demand write request unit ($0.625 per million)",
    "ddb_rru": "DynamoDB on-demand read request unit ($0.125 per million)",
}
HOURS_PER_MONTH = 730.0
MB_PER_VCPU = 1769  # Lambda: 1,769 MB of memory = one vCPU's worth of CPU time
MAX_VCPUS = 6

# --- docs/codec.md measurements (1440p, per 100 frames) and their scaling ------
PIXELS_1440P = 2560 * 1440
PIXELS_1080P = 1920 * 1080
SCALE_1440_TO_1080 = PIXELS_1080P / PIXELS_1440P  # 0.5625
ENCODE_CPU_1440 = {  # CPU-s per 100 frames, noisy clip (docs/codec.md, median of 3)
    "ultrafast": 4.46,
    "superfast": 27.23,
    "veryfast": 28.94,
    "ffv1": 9.75,
}
SIZE_MILD_1440 = {  # bytes per 100 frames, mild-noise clip (single run, deterministic)
    "ultrafast": 220_629_811,
    "veryfast": 178_635_115,
    "ffv1": 190_741_722,
}
SIZE_NOISY_1440 = {"ultrafast": 389_816_191, "superfast": 351_510_175, "veryfast": 351_092_823, "ffv1": 344_400_696}
DECODE_CPU_1440 = 5.98  # CPU-s per 100 frames, decoding the ultrafast lossless file
SHOWINFO_OVERHEAD = 0.08  # docs/codec.md: showinfo costs ~8 % of a decode
EMBED_OVERHEAD = 0.20  # embed + pipes + checks, from the cross-check in the docstring


def codec_defaults(codec: str) -> dict:
    enc = ENCODE_CPU_1440[codec] / 100 * SCALE_1440_TO_1080
    dec = DECODE_CPU_1440 / 100 * SCALE_1440_TO_1080
    size = (
        SIZE_MILD_1440.get(codec, SIZE_NOISY_1440[codec] * SIZE_MILD_1440["ultrafast"] / SIZE_NOISY_1440["ultrafast"])
        / 100
        * SCALE_1440_TO_1080
    )
    cpu = (enc + dec * (1 + SHOWINFO_OVERHEAD)) * (1 + EMBED_OVERHEAD)
    return {"encode": enc, "decode": dec, "cpu_per_frame": cpu, "bytes_per_frame": size}


# --- the pipeline's own rules (mirrors of the Rust code) -------------------------
def ceil_div(a: int, b: int) -> int:
    return (a + b - 1) // b


def target_frames(frame_count: int, workers: int, min_frames: int, max_frames: int) -> int:
    """shared/pipeline/src/segments.rs: about two segments per worker, clamped."""
    per_worker = ceil_div(frame_count, 2 * max(workers, 1))
    lo = max(min_frames, 1)
    return min(max(per_worker, lo), max(max_frames, lo))


def gop_segments(frame_count: int, gop: int, target: int) -> list[int]:
    """shared/pipeline/src/segments.rs with a keyframe every `gop` frames:
    whole GOPs merged until a segment holds at least `target` frames."""
    starts = list(range(0, frame_count, max(gop, 1)))
    lengths, start = [], 0
    for k in starts[1:]:
        if k - start >= max(target, 1):
            lengths.append(k - start)
            start = k
    lengths.append(frame_count - start)
    return lengths


def file_part_size(length: int, min_part: int = 8 * MIB) -> int:
    """shared/aws/src/s3.rs: parts of a stored file (>= 8 MiB, whole MiB, <= 10,000 parts)."""
    needed = ceil_div(ceil_div(length, 10_000), MIB) * MIB
    return max(needed, min_part)


def file_put_requests(length: int, min_part: int = 8 * MIB) -> int:
    """PUT-class requests to store a file: one PUT up to 8 MiB, else create + parts + complete."""
    if length <= 8 * MIB:
        return 1
    return 2 + ceil_div(length, file_part_size(length, min_part))


def stream_put_requests(length: int, min_part: int = 8 * MIB) -> int:
    """PUT-class requests of put_stream: 8 MiB parts for the first 1,000, then 16, 32, 64 MiB."""
    if length < min_part:
        return 1
    parts, left, number = 0, length, 1
    while left > 0:
        size = 8 * MIB if number <= 1000 else 16 * MIB if number <= 2000 else 32 * MIB if number <= 3000 else 64 * MIB
        left -= max(size, min_part)
        parts += 1
        number += 1
    return 2 + parts


@dataclass
class Inputs:
    # the video
    frames: int = 18_000
    fps: float = 30.0
    width: int = 1920
    height: int = 1080
    gop: int = 60
    source_mbps: float = 10.0
    payload_bytes: int = 1_000_000
    parity: int = 4
    # measured (or scaled) per-frame work
    codec: str = "ultrafast"
    embed_cpu_s_per_frame: float | None = None  # per 1080p frame, this machine; None: from codec.md
    bytes_per_frame: float | None = None  # per 1080p frame; None: from codec.md
    cpu_ns_per_payload_bit: float = 25.0
    concat_s_per_gb: float = 10.0
    # assumptions about Lambda
    lambda_speed: float = 0.75
    efficiency: float = 0.85
    upload_mb_per_s: float = 80.0
    probe_mb_per_s: float = 80.0
    segment_fixed_s: float = 2.0
    planner_fixed_s: float = 2.0
    concat_fixed_s: float = 3.0
    queue_delay_s: float = 2.0
    tail_factor: float = 1.3
    part_mib: int = 8  # smallest multipart part; 8 in the code (MIN_PART_SIZE), larger is a code change
    overlap_segment_upload: bool = False  # True models a code change: upload parts while encoding
    # deployment settings (template.yaml parameters and function memory)
    map_concurrency: int = 40
    inline_map_limit: int = 400
    inline_map_cap: int = 40
    min_segment_frames: int = 24
    max_segment_frames: int = 900
    embed_memory_mb: int = 4096
    embed_ephemeral_mb: int = 10240
    concat_memory_mb: int = 2048
    planner_memory_mb: int = 1024
    small_memory_mb: int = 256
    work_days: float = 2.0
    output_days: float = 14.0
    lifecycle_rounding_days: float = 0.5
    # usage
    status_polls: int = 20
    downloads: int = 0
    retry_rate: float = 0.0
    segment_item_bytes: int = 190
    source_gets_per_segment: int = 2
    probe_gets: int = 3


@dataclass
class Result:
    inputs: dict
    derived: dict = field(default_factory=dict)
    latency: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)  # (group, item, quantity, unit, price key, cost)
    totals: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)


def model(inp: Inputs) -> Result:
    r = Result(inputs=asdict(inp))
    d = r.derived
    pixel_scale = inp.width * inp.height / PIXELS_1080P
    cd = codec_defaults(inp.codec)
    cpu_per_frame_1080 = inp.embed_cpu_s_per_frame if inp.embed_cpu_s_per_frame is not None else cd["cpu_per_frame"]
    bytes_per_frame_1080 = inp.bytes_per_frame if inp.bytes_per_frame is not None else cd["bytes_per_frame"]
    cpu_per_frame = cpu_per_frame_1080 * pixel_scale
    bytes_per_frame = bytes_per_frame_1080 * pixel_scale
    payload_bits = inp.payload_bytes * 8 * (16 + inp.parity) / 16 * 1.02
    vcpus = min(MAX_VCPUS, inp.embed_memory_mb / MB_PER_VCPU)
    lambda_frame_s = cpu_per_frame / (inp.lambda_speed * vcpus * inp.efficiency)
    d.update(
        pixel_scale=pixel_scale,
        cpu_s_per_frame_here=cpu_per_frame,
        bytes_per_frame=bytes_per_frame,
        embed_vcpus=vcpus,
        lambda_s_per_frame=lambda_frame_s,
        lambda_fps=1 / lambda_frame_s,
        payload_bits=payload_bits,
    )

    # plan
    target = target_frames(inp.frames, inp.map_concurrency, inp.min_segment_frames, inp.max_segment_frames)
    lengths = gop_segments(inp.frames, inp.gop, target)
    n = len(lengths)
    distributed = n > inp.inline_map_limit
    concurrency = inp.map_concurrency if distributed else min(inp.map_concurrency, inp.inline_map_cap)
    waves = math.ceil(n / concurrency)
    d.update(
        target_frames=target,
        segments=n,
        longest_segment=max(lengths),
        distributed_map=distributed,
        effective_concurrency=concurrency,
        waves=waves,
    )

    source_bytes = inp.source_mbps * 1e6 / 8 * inp.frames / inp.fps
    output_bytes = bytes_per_frame * inp.frames
    d.update(source_bytes=source_bytes, output_bytes=output_bytes, duration_s=inp.frames / inp.fps)

    # times
    def seg_time(frames: int) -> float:
        encode = frames * lambda_frame_s
        bits = payload_bits * frames / inp.frames
        embed_bits = bits * inp.cpu_ns_per_payload_bit * 1e-9 / (inp.lambda_speed * vcpus * inp.efficiency)
        upload = frames * bytes_per_frame / (inp.upload_mb_per_s * 1e6)
        if inp.overlap_segment_upload:
            return inp.segment_fixed_s + max(encode + embed_bits, upload)
        return inp.segment_fixed_s + encode + embed_bits + upload

    seg_times = [seg_time(f) for f in lengths]
    embed_seconds = sum(seg_times) * (1 + inp.retry_rate)
    planner_s = inp.planner_fixed_s + source_bytes / (inp.probe_mb_per_s * 1e6)
    concat_s = inp.concat_fixed_s + output_bytes / GB * inp.concat_s_per_gb
    longest = seg_time(max(lengths))
    d.update(
        segment_seconds=longest, embed_lambda_seconds=embed_seconds, planner_seconds=planner_s, concat_seconds=concat_s
    )

    # latency: segments of (nearly) equal length run in waves of `concurrency`
    map_median = waves * longest
    median = inp.queue_delay_s + planner_s + map_median + concat_s + 1.0
    p95 = inp.queue_delay_s + planner_s + map_median * inp.tail_factor + concat_s * inp.tail_factor + 1.0
    r.latency.update(planner_s=planner_s, map_s=map_median, concat_s=concat_s, median_s=median, p95_s=p95)

    # --- cost lines ---------------------------------------------------------------
    P = PRICES

    def line(group, item, qty, unit, price_key):
        r.lines.append((group, item, qty, unit, price_key, qty * P[price_key]))

    gbs = lambda mb, s: mb / 1024 * s  # noqa: E731
    line(
        "Lambda",
        f"embed-segment {inp.embed_memory_mb} MB x {embed_seconds:,.0f} s",
        gbs(inp.embed_memory_mb, embed_seconds),
        "GB-s",
        "lambda_arm_gb_s",
    )
    line(
        "Lambda",
        f"embed-segment /tmp {inp.embed_ephemeral_mb} MB (above 512 MB)",
        max(0, inp.embed_ephemeral_mb - 512) / 1024 * embed_seconds,
        "GB-s",
        "lambda_ephemeral_gb_s",
    )
    line(
        "Lambda",
        f"concat {inp.concat_memory_mb} MB x {concat_s:,.0f} s",
        gbs(inp.concat_memory_mb, concat_s),
        "GB-s",
        "lambda_arm_gb_s",
    )
    planner_total = planner_s + 2 * 0.3  # two early notifications find an upload missing
    line(
        "Lambda",
        f"planner {inp.planner_memory_mb} MB x {planner_total:,.1f} s (3 invocations)",
        gbs(inp.planner_memory_mb, planner_total),
        "GB-s",
        "lambda_arm_gb_s",
    )
    small_s = 0.2 * (1 + inp.status_polls)
    line(
        "Lambda",
        f"presign + {inp.status_polls} status polls, {inp.small_memory_mb} MB x 0.2 s each",
        gbs(inp.small_memory_mb, small_s),
        "GB-s",
        "lambda_arm_gb_s",
    )
    invocations = 1 + 3 + n * (1 + inp.retry_rate) + 1 + inp.status_polls
    line(
        "Lambda",
        "requests (presign, planner x3, embed x segments, concat, status polls)",
        invocations,
        "requests",
        "lambda_request",
    )

    transitions = 3 + n * (1 + inp.retry_rate)
    line(
        "Step Functions",
        "transitions: ChooseMap + Map + 1 per segment + Concat",
        transitions,
        "transitions",
        "sfn_transition",
    )

    seg_bytes = [f * bytes_per_frame for f in lengths]
    puts = {
        "uploads (video, payload, key; presigned PUT)": 3,
        "planner: media.json, items.json, plan.json": 3,
        "segments: multipart create + 8 MiB parts + complete": sum(
            file_put_requests(int(b), inp.part_mib * MIB) for b in seg_bytes
        )
        * (1 + inp.retry_rate),
        "output: streamed multipart (8 MiB parts, growing after 1,000)": stream_put_requests(
            int(output_bytes), inp.part_mib * MIB
        ),
    }
    gets = {
        "planner: HEADs, payload header, ffprobe of the source": 2 + 3 + 3 + 2 + inp.probe_gets,
        "embed-segment: plan, media, key, 2 payload ranges, source": n
        * (5 + inp.source_gets_per_segment)
        * (1 + inp.retry_rate),
        "concat: plan, media, each segment, source audio": 4 + n,
        "Distributed Map ItemReader": 1 if distributed else 0,
        "downloads of the output": inp.downloads,
    }
    for k, v in puts.items():
        line("S3 requests", k, v, "PUT", "s3_put")
    line(
        "S3 requests",
        "GET/HEAD (planner, embed-segment, concat, ItemReader, downloads)",
        sum(gets.values()),
        "GET",
        "s3_get",
    )

    months = lambda days: (days + inp.lifecycle_rounding_days) * 24 / HOURS_PER_MONTH  # noqa: E731
    line(
        "S3 storage",
        f"uploads/ ({source_bytes / GB:.2f} GB, {inp.work_days:g} d rule)",
        source_bytes / GB * months(inp.work_days),
        "GB-month",
        "s3_storage_gb_month",
    )
    line(
        "S3 storage",
        f"jobs/ segments ({output_bytes / GB:.2f} GB, {inp.work_days:g} d rule)",
        output_bytes / GB * months(inp.work_days),
        "GB-month",
        "s3_storage_gb_month",
    )
    line(
        "S3 storage",
        f"outputs/ ({output_bytes / GB:.2f} GB, {inp.output_days:g} d rule)",
        output_bytes / GB * months(inp.output_days),
        "GB-month",
        "s3_storage_gb_month",
    )

    messages = 3
    line("SQS", "3 upload notifications x (send + receive + delete)", messages * 3, "requests", "sqs_request")

    seg_query_rru = math.ceil(n * inp.segment_item_bytes / 4096)
    wru = 1 + 3 + n + 1 + n * 4 * (1 + inp.retry_rate) + 2
    rru = 1 + n * (seg_query_rru + 1) * (1 + inp.retry_rate) + seg_query_rru + inp.status_polls * (1 + seg_query_rru)
    line(
        "DynamoDB",
        "writes: job, 3 conditional creates, segment rows, plan, 2 per segment transaction item, 2 stages",
        wru,
        "WRU",
        "ddb_wru",
    )
    line(
        "DynamoDB", "reads: segment Query per embed (all rows), job reads, concat, status polls", rru, "RRU", "ddb_rru"
    )

    egress = output_bytes / GB * inp.downloads
    by_group: dict[str, float] = {}
    for g, _, _, _, _, c in r.lines:
        by_group[g] = by_group.get(g, 0.0) + c
    total = sum(by_group.values())
    r.totals = {
        "by_group": by_group,
        "total": total,
        "egress_per_download": output_bytes / GB * P["s3_egress_gb"],
        "egress": egress * P["s3_egress_gb"],
        "total_with_egress": total + egress * P["s3_egress_gb"],
        "compute_and_requests": total - by_group.get("S3 storage", 0.0),
    }

    # --- limits ---------------------------------------------------------------------
    if longest > 900:
        r.checks.append(f"FAIL: the longest segment needs {longest:.0f} s, over Lambda's 900 s")
    elif longest > 600:
        r.checks.append(f"WARN: the longest segment needs {longest:.0f} s of the 900 s Lambda timeout")
    seg_disk = max(lengths) * bytes_per_frame
    if seg_disk > inp.embed_ephemeral_mb * 1e6 * 0.95:
        r.checks.append(
            f"FAIL: the longest segment file ({seg_disk / GB:.1f} GB) does not fit in /tmp ({inp.embed_ephemeral_mb} MB)"
        )
    if concat_s > 900:
        r.checks.append(f"FAIL: concat needs {concat_s:.0f} s, over Lambda's 900 s timeout: the job would fail")
    elif concat_s * inp.tail_factor > 900:
        r.checks.append(
            f"WARN: concat needs {concat_s:.0f} s; a run {inp.tail_factor:g}x slower ({concat_s * inp.tail_factor:.0f} s) would pass the 900 s timeout"
        )
    elif concat_s > 600:
        r.checks.append(f"WARN: concat needs {concat_s:.0f} s of its 900 s timeout")
    if max(lengths) > inp.max_segment_frames:
        r.checks.append(
            f"WARN: GOPs of {inp.gop} frames make segments of {max(lengths)} frames, over max_segment_frames {inp.max_segment_frames}"
        )
    if not distributed and inp.map_concurrency > inp.inline_map_cap:
        r.checks.append(
            f"NOTE: an inline Map runs at most {inp.inline_map_cap} iterations at once; MapMaxConcurrency {inp.map_concurrency} only applies to Distributed Maps (> {inp.inline_map_limit} segments)"
        )
    return r


def fmt_money(x: float) -> str:
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def report(r: Result, out=sys.stdout) -> None:
    i, d, lat = r.inputs, r.derived, r.latency
    w = out.write
    cd = codec_defaults(i["codec"])
    w("VidStega cost model (bench/cost_model.py) - us-east-1 list prices as of mid-2025: CHECK THEM\n\n")
    w(
        f"Video: {i['frames']:,} frames of {i['width']}x{i['height']} at {i['fps']:g} fps ({d['duration_s'] / 60:.1f} min), "
        f"keyframe every {i['gop']} frames, source {i['source_mbps']:g} Mbit/s = {d['source_bytes'] / GB:.2f} GB, "
        f"message {i['payload_bytes']:,} B (parity {i['parity']})\n"
    )
    w("\nPer-frame inputs (1080p; scaled by pixel count for other sizes):\n")
    if i["embed_cpu_s_per_frame"] is None:
        w(
            f"  embed-segment CPU  ({cd['encode'] * 1e3:.1f} ms encode [{i['codec']}] + {cd['decode'] * 1e3:.1f} ms decode"
            f" x {1 + SHOWINFO_OVERHEAD:.2f} showinfo) x {1 + EMBED_OVERHEAD:.2f} embed/pipes = {cd['cpu_per_frame'] * 1e3:.1f} ms CPU on the project machine\n"
        )
    else:
        w(f"  embed-segment CPU  {i['embed_cpu_s_per_frame'] * 1e3:.1f} ms per 1080p frame (given)\n")
    w(
        f"  Lambda speed       {i['lambda_speed']:g} x a project-machine vCPU (ASSUMPTION), {d['embed_vcpus']:.2f} vCPUs at {i['embed_memory_mb']} MB, "
        f"{i['efficiency']:.0%} busy\n"
    )
    w(f"  => {d['lambda_s_per_frame'] * 1e3:.1f} ms wall per frame on Lambda ({d['lambda_fps']:.1f} frames/s)\n")
    src = "given" if i["bytes_per_frame"] is not None else f"codec.md {i['codec']}, mild-noise clip, scaled"
    w(
        f"  lossless size      {d['bytes_per_frame'] / 1e6:.3f} MB per frame ({src}) => output {d['output_bytes'] / GB:.1f} GB\n"
    )
    w(f"  concat             {i['concat_s_per_gb']:g} s per GB (ASSUMPTION: S3-bound; segments read over HTTPS, 4 part uploads at once)\n")

    w("\nPlan:\n")
    w(
        f"  target {d['target_frames']} frames per segment (frames / (2 x MapMaxConcurrency {i['map_concurrency']}), clamped to "
        f"{i['min_segment_frames']}..{i['max_segment_frames']}), whole GOPs => {d['segments']} segments, longest {d['longest_segment']} frames\n"
    )
    w(
        f"  {'Distributed' if d['distributed_map'] else 'inline'} Map, {d['effective_concurrency']} at once => {d['waves']} wave(s) of "
        f"{d['segment_seconds']:.1f} s (fixed {i['segment_fixed_s']:g} s + encode + upload at {i['upload_mb_per_s']:g} MB/s)\n"
    )

    w("\nLatency (one job, nothing else running, no throttling):\n")
    w(
        f"  queue + planner   {i['queue_delay_s'] + lat['planner_s']:7.1f} s  (probe reads the source at {i['probe_mb_per_s']:g} MB/s)\n"
    )
    w(f"  Map               {lat['map_s']:7.1f} s  ({d['waves']} x {d['segment_seconds']:.1f} s)\n")
    w(
        f"  concat            {lat['concat_s']:7.1f} s  ({d['output_bytes'] / GB:.1f} GB x {i['concat_s_per_gb']:g} s/GB)\n"
    )
    w(f"  median            {lat['median_s']:7.1f} s  = {lat['median_s'] / 60:.1f} min\n")
    w(
        f"  p95 (guess)       {lat['p95_s']:7.1f} s  = {lat['p95_s'] / 60:.1f} min  (Map and concat x {i['tail_factor']:g})\n"
    )

    w("\nCost per video:\n")
    w(f"  {'item':<86} {'quantity':>14} {'cost':>10}\n")
    group = None
    for g, item, qty, unit, _, cost in r.lines:
        if g != group:
            w(f"  {g}\n")
            group = g
        w(
            f"    {item[:84]:<84} {qty:>10,.1f} {unit:<9}{fmt_money(cost):>9}\n"
            if qty < 1000
            else f"    {item[:84]:<84} {qty:>10,.0f} {unit:<9}{fmt_money(cost):>9}\n"
        )
    t = r.totals
    w("\n")
    for g, c in t["by_group"].items():
        w(f"  {g:<20} {fmt_money(c):>10}\n")
    w(f"  {'TOTAL':<20} {fmt_money(t['total']):>10}   (without storage: {fmt_money(t['compute_and_requests'])})\n")
    w(
        f"  + internet egress   {fmt_money(t['egress_per_download'])} per download of the output ({d['output_bytes'] / GB:.1f} GB x $0.09/GB); "
        f"{i['downloads']} download(s) counted above: {fmt_money(t['egress'])}\n"
    )
    if r.checks:
        w("\nChecks against Lambda's limits:\n")
        for c in r.checks:
            w(f"  {c}\n")


def variants(base: Inputs) -> list[tuple[str, Inputs]]:
    from dataclasses import replace

    return [
        ("defaults", base),
        ("OutputDays 1 (download promptly)", replace(base, output_days=1)),
        ("OutputDays 1 + WorkFileDays 1", replace(base, output_days=1, work_days=1)),
        ("Lambda vCPU 0.5x project machine", replace(base, lambda_speed=0.5)),
        ("Lambda vCPU 1.0x project machine", replace(base, lambda_speed=1.0)),
        ("embed memory 2048 MB", replace(base, embed_memory_mb=2048)),
        ("embed memory 8192 MB", replace(base, embed_memory_mb=8192)),
        ("MapMaxConcurrency 20", replace(base, map_concurrency=20)),
        ("MapMaxConcurrency 80 (inline: 40)", replace(base, map_concurrency=80)),
        ("MapMaxConcurrency 80, InlineMapLimit 0", replace(base, map_concurrency=80, inline_map_limit=0)),
        ("max segment 120 frames", replace(base, max_segment_frames=120)),
        ("preset veryfast (code change)", replace(base, codec="veryfast")),
        ("FFV1 (code change)", replace(base, codec="ffv1")),
        ("parity 16, 10 MB message", replace(base, parity=16, payload_bytes=10_000_000)),
        (
            "noisy source (2.19 MB/frame)",
            replace(base, bytes_per_frame=SIZE_NOISY_1440["ultrafast"] / 100 * SCALE_1440_TO_1080),
        ),
        ("concat 25 s/GB (slow S3 reads)", replace(base, concat_s_per_gb=25)),
        ("segment upload overlapped (code)", replace(base, overlap_segment_upload=True)),
        ("64 MiB parts (code)", replace(base, part_mib=64)),
        (
            "2 code changes above + days 1/1",
            replace(base, output_days=1, work_days=1, overlap_segment_upload=True, part_mib=64),
        ),
        (
            "same, and Lambda vCPU 1.0x",
            replace(
                base,
                output_days=1,
                work_days=1,
                overlap_segment_upload=True,
                part_mib=64,
                lambda_speed=1.0,
            ),
        ),
        ("1 download of the output", replace(base, downloads=1)),
        ("5-minute 720p video", replace(base, frames=9000, width=1280, height=720)),
    ]


def knob_table(base: Inputs, out=sys.stdout) -> None:
    w = out.write
    w("\nWhat moves it (each row changes one thing from the defaults):\n")
    w(
        f"  {'variant':<40} {'segs':>5} {'waves':>5} {'median':>8} {'p95':>8} {'compute+req':>12} {'storage':>9} {'total':>9}\n"
    )
    for name, v in variants(base):
        r = model(v)
        t, lat = r.totals, r.latency
        flag = " !" if any(c.startswith("FAIL") for c in r.checks) else ""
        w(
            f"  {name:<40} {r.derived['segments']:>5} {r.derived['waves']:>5} {lat['median_s'] / 60:>6.1f} m {lat['p95_s'] / 60:>6.1f} m "
            f"{fmt_money(t['compute_and_requests']):>12} {fmt_money(t['by_group'].get('S3 storage', 0)):>9} {fmt_money(t['total_with_egress']):>9}{flag}\n"
        )
    w("  (! = a Lambda limit is exceeded: see the checks of that variant)\n")


def price_table(out=sys.stdout) -> None:
    w = out.write
    w("\nPrices used (us-east-1, list, no free tier; believed current mid-2025 - CHECK):\n")
    for k, v in PRICES.items():
        w(f"  {PRICE_NOTES[k]:<80} {v:.10g}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Inputs()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if name == "codec":
            ap.add_argument(
                flag,
                default=value,
                choices=sorted(ENCODE_CPU_1440),
                help="lossless codec/preset whose codec.md numbers to use",
            )
        elif isinstance(value, bool):
            ap.add_argument(flag, action="store_true", help="model a code change (see docs/cost.md)")
        elif value is None:
            ap.add_argument(flag, type=float, default=None, help="default: from docs/codec.md, scaled (see above)")
        else:
            ap.add_argument(flag, type=type(value), default=value, help=f"default {value}")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--no-variants", action="store_true", help="skip the table of variants")
    args = vars(ap.parse_args(argv))
    as_json, no_variants = args.pop("json"), args.pop("no_variants")
    inp = Inputs(**args)
    r = model(inp)
    if as_json:
        out = asdict(r)
        out["prices"] = PRICES
        if not no_variants:
            out["variants"] = {
                name: {"latency": model(v).latency, "totals": model(v).totals} for name, v in variants(inp)
            }
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    report(r)
    if not no_variants:
        knob_table(inp)
    price_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
