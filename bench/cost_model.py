#!/usr/bin/env python3
"""VidStega on AWS: cost and latency model for one video.

Two modes, as the pipeline has (`--mode`, default compact):

  compact   every packet of the source copied byte for byte except a few
            carrier pictures rewritten as uncompressed I_PCM pictures
            (the default mode of the CLI and the deployment)
  lossless  every frame decoded, embedded and re-encoded losslessly

For either it works out, for one job: the plan, the Lambda seconds and
GB-seconds of every function, Step Functions transitions, S3 requests and
storage over the lifecycle days, SQS requests and DynamoDB request units;
then the cost at us-east-1 list prices and a latency estimate (median and a
p95 guess). See docs/cost.md.

    bench/cost_model.py                              # compact: 10-minute 1080p30, 6 Mbit/s, 1 MB message
    bench/cost_model.py --message-bytes 10000000 --source-bytes 2.7e9
    bench/cost_model.py --source-prep transcode --planner-memory-mb 10240
    bench/cost_model.py --mode lossless              # the lossless model below
    bench/cost_model.py --mode lossless --lambda-speed 1.0
    bench/cost_model.py --json                       # machine-readable

Flags that only one mode uses are refused in the other. Two shared flags
have a default per mode: --source-mbps (compact 6, lossless 10) and
--planner-memory-mb (compact 2048, the template's; lossless 1024, the value
its published numbers were made with). --message-bytes is --payload-bytes.

== Compact mode ==================================================================

The work (shared/pipeline/src/carriers.rs, embed_carriers.rs, splice.rs):

  planner        ffprobe over a presigned URL (a JSON probe, then a packet
                 listing that reads the whole file); the container index and
                 every access unit's NAL headers through 8 MiB ranged GETs
                 (the whole file again); plan/items/media objects; starts the
                 execution. Not MP4/MOV (MPEG-TS, Matroska, ...): first an
                 `ffmpeg -c copy` into MP4 in /tmp, uploaded, then probed and
                 scanned (--source-prep copy). Not usable H.264 (HEVC, 10-bit,
                 interlaced, ...): an x264 veryfast CRF 18 transcode instead
                 (--source-prep transcode).
  embed-segment  one per segment of at most 16 consecutive carriers:
                 per_segment = min(16, ceil(carriers / MapMaxConcurrency)).
                 Per carrier: ffmpeg over HTTPS from the carrier's keyframe
                 (a few frames), +-1 embedding, one 8 MiB ranged GET of the
                 original access unit, one PutObject of the ~W*H*1.5-byte
                 I_PCM unit.
  concat         reads every carrier (CRC), streams the source through 8 MiB
                 GETs into a multipart upload (8 MiB parts, 4 in flight) with
                 the carriers in place, then reads the output's index and
                 each carrier back through 8 MiB GETs to check it.

Carriers (docs/format.md sections 2 and 9.7): body = G*(k+m)*(L+4) bytes for a
message of p bytes (incompressible), C = p + 16, k = 16, L = min(ceil(C/k),
16384), G = ceil(C/(k*L)); per carrier floor(rate * samples) - 512 bits,
samples = W*H*1.5 (4:2:0, all planes). 1 MB => 1,311,040 B body, 1080p:
777,088 bits per carrier => 14 carriers (measured: 14).

Measured on the project machine (bench/compact.py: 2 vCPUs, warm page cache,
local files, medians of 3; clips testsrc2+noise, x264 veryfast CRF 23, AAC):

  clip          msg B      carriers source MB output MB remux s embed s GOP-decode s
  720p 30 s     100,000       3       10.61     14.75    0.083   0.769    0.267
  1080p 2 min   100,000       2       83.72     89.99    0.157   0.867    0.226
  1440p 30 s    100,000       1       35.80     41.33    0.111   0.790    0.138
  1080p 10 min  1,000,000    14      419.17    463.03    0.553   2.595    1.578
  (cold page cache, docs/performance.md: 10-minute remux 0.790 s, embed
  2.987 s, GOP decodes 4.990 s; whole-tree peak RSS of the embed 152-287 MB)

Defaults derived from it:

  --carrier-fixed-cpu-s 0.073, decode part of --carrier-cpu-s 0.037:
      GOP decode per carrier (ffmpeg start-up, seek, a few frames) =
      0.267/3 = 0.089 s (720p), 1.578/14 = 0.113 s (1080p), 0.138 s (1440p);
      fitted 0.073 s + 0.037 s x (pixels / 1080p pixels) (1080p: 0.110)
  embedding part of --carrier-cpu-s 0.054: not timed on its own. What is left
      of "embed s" after the client-side PBKDF2 (0.25 s), the remux time (a
      stand-in for the splice) and the carrier decodes (wall, 2 segments at
      once), least-squares over the 4 clips: 0.21 s + 0.99 s/GB + 0.027 s per
      1080p carrier (wall, two at once) => 0.054 CPU-s per 1080p carrier
      (4 points, 3 unknowns: a rough split)
  => --carrier-cpu-s 0.091 per 1080p carrier (scaled by pixels) + 0.073 fixed
  --planner-cpu-s-per-gb 1.0: the 0.99 s/GB of that fit (ffprobe's packet
      listing and the NAL-header scan, read from the page cache)
  --copy-cpu-s-per-gb 4.0: `ffmpeg -c copy` of the 419 MB clip from a cold
      page cache, 1.69 s in the slowest run (docs/performance.md's cold
      median: 0.790 s = 1.9 s/GB; warm 0.553 s)
  concat: the remux takes 1.3 s/GB warm and 1.9-4.0 s/GB cold here, far below
      the S3 assumption --concat-s-per-gb 10, so concat is modelled as S3-bound
  output = source + carriers x ceil(W/16)*ceil(H/16)*386 B (3,149,760 at
      1080p): 419.17 + 14 x 3.150 = 463.27 MB vs 463.03 MB measured

Not measured (flags): --lambda-speed (0.75, as in lossless mode),
--request-s (0.05 s to first byte per S3 request), --probe-mb-per-s (80 MB/s
for one sequential reader: ffprobe, ffmpeg, the 8 MiB GETs), --upload-mb-per-s
(80), --concat-s-per-gb (10), the fixed start-ups (2/2/3 s), --tail-factor
(1.3, applied to the planner too in compact mode), --ffmpeg-requests (3 per
ffmpeg/ffprobe start over HTTPS), --source-mbps (6: 10 minutes ~ 450 MB),
and for --source-prep transcode an ESTIMATE of --transcode-cpu-s-per-frame
(0.094 CPU-s per 1080p frame = 33.6 ms decode, the lossless model's stand-in,
+ 60 ms x264 veryfast CRF 18: codec.md only brackets it, 25.1 ms for lossless
ultrafast and 162.8 ms for lossless veryfast, and CRF 18 codes far fewer
bits than lossless), --transcode-size-ratio (1.0) and --efficiency (0.85).
On AWS the client seals (PBKDF2) and uploads; neither is counted.

== Lossless mode (--mode lossless) ===============================================

From per-frame and per-GB timings (measured on the project machine and scaled,
or measured by you on Lambda) it works out, for one job: the plan (segments,
Map waves), the Lambda GB-seconds and requests of every function, Step
Functions transitions, S3 requests and storage over the lifecycle days, SQS
requests and DynamoDB request units; then the cost at us-east-1 list prices
and a latency estimate (median and a p95 guess). See docs/cost.md.

    bench/cost_model.py --mode lossless                       # the 10-minute 1080p30 video, default inputs
    bench/cost_model.py --mode lossless --lambda-speed 1.0    # a Lambda vCPU as fast as the project machine's
    bench/cost_model.py --mode lossless --embed-cpu-s-per-frame 0.05 --concat-s-per-gb 12 --output-days 1

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


# =============================================================================
# Compact mode
# =============================================================================
BLOCK = 8 * MIB  # shared/pipeline/src/source.rs: ObjectReader reads 8 MiB ranged GETs
HEADER_BITS = 512  # shared/core/src/header.rs: a carrier's header copy
MAX_CARRIERS_PER_SEGMENT = 16  # shared/pipeline/src/plan.rs
TAG_LEN, SLOT_CRC_LEN, DATA_SHARDS, MAX_SHARD_LEN = 16, 4, 16, 16_384  # shared/core/src/envelope.rs
PCM_BYTES_PER_MB_420 = 384 + 2  # docs/format.md 9.7: samples per 4:2:0 macroblock + 2 bytes


def sealed_body_bytes(message_bytes: int, parity: int) -> int:
    """docs/format.md section 2: the body of an incompressible message."""
    c = message_bytes + TAG_LEN
    shard = min(max(ceil_div(c, DATA_SHARDS), 1), MAX_SHARD_LEN)
    stripes = ceil_div(c, DATA_SHARDS * shard)
    return stripes * (DATA_SHARDS + parity) * (shard + SLOT_CRC_LEN)


def carrier_samples(width: int, height: int) -> int:
    """Samples of a 4:2:0 picture, all planes (the default plane set)."""
    return width * height + 2 * ceil_div(width, 2) * ceil_div(height, 2)


def carrier_au_bytes(width: int, height: int) -> int:
    """Bytes of a 4:2:0 I_PCM carrier access unit (docs/format.md 9.7)."""
    return ceil_div(width, 16) * ceil_div(height, 16) * PCM_BYTES_PER_MB_420


def carriers_needed(body_bits: int, samples: int, max_rate: float) -> int:
    """vidstega_core::carriers_needed."""
    per = min(math.floor(max_rate * samples), samples)
    if per <= HEADER_BITS:
        raise SystemExit(f"at --max-rate {max_rate}, a carrier of {samples} samples cannot hold the 512-bit header")
    return max(1, ceil_div(body_bits, per - HEADER_BITS))


def carrier_segments(carriers: int, workers: int) -> list[int]:
    """shared/pipeline/src/carriers.rs: consecutive carriers, per_segment =
    min(16, ceil(carriers / workers)); workers = VIDSTEGA_MAP_CONCURRENCY."""
    per = min(max(ceil_div(carriers, max(workers, 1)), 1), MAX_CARRIERS_PER_SEGMENT)
    return [min(per, carriers - start) for start in range(0, carriers, per)]


@dataclass
class CompactInputs:
    # the video and the message
    frames: int = 18_000
    fps: float = 30.0
    width: int = 1920
    height: int = 1080
    source_mbps: float = 6.0  # 10 minutes = 450 MB
    source_bytes: float | None = None  # None: source_mbps x duration
    source_prep: str = "none"  # none | copy (MPEG-TS, MKV, ... into MP4) | transcode (HEVC, 10-bit, ... to H.264)
    payload_bytes: int = 1_000_000  # the message (--message-bytes), incompressible
    parity: int = 4
    max_rate: float = 0.25
    # measured on the project machine (see the docstring)
    carrier_fixed_cpu_s: float = 0.073  # ffmpeg start-up and seek per carrier
    carrier_cpu_s: float = 0.091  # decode 0.037 + embed/write 0.054 per 1080p carrier, scaled by pixels
    planner_cpu_s_per_gb: float = 1.0  # ffprobe packet listing + NAL-header scan
    copy_cpu_s_per_gb: float = 4.0  # ffmpeg -c copy, cold page cache
    # estimates and assumptions
    transcode_cpu_s_per_frame: float = 0.094  # per 1080p frame: ESTIMATE (decode 33.6 ms + x264 veryfast CRF 18 60 ms)
    transcode_size_ratio: float = 1.0  # transcoded size / source size
    concat_s_per_gb: float = 10.0
    lambda_speed: float = 0.75
    efficiency: float = 0.85  # share of the planner's vCPUs a transcode keeps busy
    request_s: float = 0.05  # S3 time to first byte, per request
    ffmpeg_requests: int = 3  # HTTPS requests per ffmpeg/ffprobe start (open, index, seek)
    upload_mb_per_s: float = 80.0
    probe_mb_per_s: float = 80.0  # one sequential reader: ffprobe, ffmpeg, 8 MiB GETs
    segment_fixed_s: float = 2.0
    planner_fixed_s: float = 2.0
    concat_fixed_s: float = 3.0
    queue_delay_s: float = 2.0
    tail_factor: float = 1.3
    # deployment settings (template.yaml)
    map_concurrency: int = 40
    inline_map_limit: int = 400
    inline_map_cap: int = 40
    embed_memory_mb: int = 4096
    embed_ephemeral_mb: int = 10240
    concat_memory_mb: int = 2048
    planner_memory_mb: int = 2048
    planner_ephemeral_mb: int = 10240
    planner_timeout_s: float = 600.0
    small_memory_mb: int = 256
    work_days: float = 2.0
    output_days: float = 14.0
    lifecycle_rounding_days: float = 0.5
    max_input_bytes: int = 5_368_709_120
    max_duration_seconds: float = 900.0
    max_pixels: int = 3_686_400
    max_frames: int = 27_000
    # usage
    status_polls: int = 20
    downloads: int = 0
    retry_rate: float = 0.0
    segment_item_bytes: int = 190


SOURCE_PREPS = ("none", "copy", "transcode")


def model_compact(inp: CompactInputs) -> Result:
    r = Result(inputs=dict(asdict(inp), mode="compact"))
    d = r.derived
    if inp.source_prep not in SOURCE_PREPS:
        raise SystemExit(f"--source-prep must be one of {', '.join(SOURCE_PREPS)}")
    pixel_scale = inp.width * inp.height / PIXELS_1080P
    duration = inp.frames / inp.fps
    upload_bytes = inp.source_bytes if inp.source_bytes is not None else inp.source_mbps * 1e6 / 8 * duration
    # the object the output is made from: the upload, or its copy / transcode
    if inp.source_prep == "transcode":
        source_bytes = upload_bytes * inp.transcode_size_ratio
    else:
        source_bytes = upload_bytes
    copy_bytes = source_bytes if inp.source_prep != "none" else 0.0

    body = sealed_body_bytes(inp.payload_bytes, inp.parity)
    samples = carrier_samples(inp.width, inp.height)
    per_bits = min(math.floor(inp.max_rate * samples), samples) - HEADER_BITS
    carriers = carriers_needed(body * 8, samples, inp.max_rate)
    au = carrier_au_bytes(inp.width, inp.height)
    carrier_total = carriers * au
    output_bytes = source_bytes + carrier_total
    lengths = carrier_segments(carriers, inp.map_concurrency)
    n = len(lengths)
    distributed = n > inp.inline_map_limit
    concurrency = inp.map_concurrency if distributed else min(inp.map_concurrency, inp.inline_map_cap)
    waves = math.ceil(n / concurrency)
    d.update(
        duration_s=duration,
        pixel_scale=pixel_scale,
        upload_bytes=upload_bytes,
        source_bytes=source_bytes,
        copy_bytes=copy_bytes,
        body_bytes=body,
        samples_per_carrier=samples,
        bits_per_carrier=per_bits,
        carriers=carriers,
        carrier_bytes=au,
        carrier_total_bytes=carrier_total,
        output_bytes=output_bytes,
        per_segment=lengths[0],
        segments=n,
        longest_segment=max(lengths),
        distributed_map=distributed,
        effective_concurrency=concurrency,
        waves=waves,
    )

    rq, rd, up = inp.request_s, inp.probe_mb_per_s * 1e6, inp.upload_mb_per_s * 1e6
    speed = inp.lambda_speed

    def whole_read(nbytes: float) -> float:  # one sequential reader
        return nbytes / rd

    def block_reads(nbytes: float) -> float:  # ObjectReader: 8 MiB GETs one after another
        return ceil_div(int(nbytes), BLOCK) * rq + nbytes / rd

    # --- planner -----------------------------------------------------------------
    p = {"fixed (start-up, uploads' HEADs, payload header, plan/items/media, StartExecution)": inp.planner_fixed_s}
    if inp.source_prep == "copy":
        p["first block of the upload (not an MP4/MOV the output can patch)"] = 2 * rq + BLOCK / rd
        p["ffmpeg -c copy: read the upload over HTTPS"] = inp.ffmpeg_requests * rq + whole_read(upload_bytes)
        p["ffmpeg -c copy: CPU"] = upload_bytes / GB * inp.copy_cpu_s_per_gb / speed
        p["upload the copy (multipart from /tmp)"] = 2 * rq + copy_bytes / up
    elif inp.source_prep == "transcode":
        vcpus_p = min(MAX_VCPUS, inp.planner_memory_mb / MB_PER_VCPU)
        p["index read of the upload (refused: not usable H.264)"] = 2 * rq + BLOCK / rd
        p["ffprobe packet listing of the upload"] = inp.ffmpeg_requests * rq + whole_read(upload_bytes)
        p["transcode: decode + x264 veryfast CRF 18 (ESTIMATE)"] = (
            inp.frames * inp.transcode_cpu_s_per_frame * pixel_scale / (speed * vcpus_p * inp.efficiency)
        )
        p["upload the transcode (multipart from /tmp)"] = 2 * rq + copy_bytes / up
        d["planner_vcpus"] = vcpus_p
    p["ffprobe: JSON probe + packet listing (whole file over HTTPS)"] = 2 * inp.ffmpeg_requests * rq + whole_read(
        source_bytes
    )
    p["index + NAL-header scan (whole file, 8 MiB GETs)"] = rq + block_reads(source_bytes)
    p["CPU: packet listing and scan"] = source_bytes / GB * inp.planner_cpu_s_per_gb / speed
    planner_s = sum(p.values())

    # --- embed-segment -----------------------------------------------------------
    ffmpeg_bytes = 20 * inp.frames + 8 * source_bytes / inp.frames  # its index, then ~8 frames from the keyframe
    per_carrier = {
        "CPU: ffmpeg start, seek, decode a few frames; +-1 embed; I_PCM unit": (
            inp.carrier_fixed_cpu_s + inp.carrier_cpu_s * pixel_scale
        )
        / speed,
        "ffmpeg over HTTPS (requests, index, GOP bytes)": inp.ffmpeg_requests * rq + ffmpeg_bytes / rd,
        "8 MiB GET of the original access unit": rq + BLOCK / rd,
        "PutObject of the carrier": rq + au / up,
    }
    carrier_s = sum(per_carrier.values())
    seg_open_s = 2 * rq + BLOCK / rd  # HEAD + the container index block

    def seg_time(k: int) -> float:
        return inp.segment_fixed_s + seg_open_s + k * carrier_s

    seg_times = [seg_time(k) for k in lengths]
    embed_seconds = sum(seg_times) * (1 + inp.retry_rate)
    longest = seg_time(max(lengths))

    # --- concat ------------------------------------------------------------------
    verify_blocks = 1 + carriers * (1 + au / BLOCK)  # the index, then each carrier (straddling blocks)
    c = {
        "fixed (start-up, plan, media, DynamoDB)": inp.concat_fixed_s,
        "carriers read once for their CRC (HEAD + GET each)": carriers * (2 * rq + au / rd),
        "source index (HEAD + 8 MiB GET)": 2 * rq + BLOCK / rd,
        "stream source + carriers into the output": output_bytes / GB * inp.concat_s_per_gb,
        "verify: output index + each carrier (8 MiB GETs)": rq + verify_blocks * (rq + BLOCK / rd),
    }
    concat_s = sum(c.values())
    d.update(
        planner_parts=p,
        carrier_parts=per_carrier,
        seconds_per_carrier=carrier_s,
        segment_seconds=longest,
        embed_lambda_seconds=embed_seconds,
        planner_seconds=planner_s,
        concat_parts=c,
        concat_seconds=concat_s,
    )

    map_median = waves * longest
    median = inp.queue_delay_s + planner_s + map_median + concat_s + 1.0
    p95 = inp.queue_delay_s + (planner_s + map_median + concat_s) * inp.tail_factor + 1.0
    r.latency.update(planner_s=planner_s, map_s=map_median, concat_s=concat_s, median_s=median, p95_s=p95)

    # --- cost lines ----------------------------------------------------------------
    P = PRICES

    def line(group, item, qty, unit, price_key):
        r.lines.append((group, item, qty, unit, price_key, qty * P[price_key]))

    gbs = lambda mb, s: mb / 1024 * s  # noqa: E731
    planner_total = planner_s + 2 * 0.3  # two early notifications find an upload missing
    line(
        "Lambda",
        f"planner {inp.planner_memory_mb} MB x {planner_total:,.1f} s (3 invocations)",
        gbs(inp.planner_memory_mb, planner_total),
        "GB-s",
        "lambda_arm_gb_s",
    )
    line(
        "Lambda",
        f"planner /tmp {inp.planner_ephemeral_mb} MB above the free 512 MB",
        gbs(max(inp.planner_ephemeral_mb - 512, 0), planner_total),
        "GB-s",
        "lambda_ephemeral_gb_s",
    )
    line(
        "Lambda",
        f"embed-segment {inp.embed_memory_mb} MB x {embed_seconds:,.1f} s ({n} segments)",
        gbs(inp.embed_memory_mb, embed_seconds),
        "GB-s",
        "lambda_arm_gb_s",
    )
    line(
        "Lambda",
        f"embed-segment /tmp {inp.embed_ephemeral_mb} MB above the free 512 MB (unused in compact mode, billed)",
        gbs(max(inp.embed_ephemeral_mb - 512, 0), embed_seconds),
        "GB-s",
        "lambda_ephemeral_gb_s",
    )
    line(
        "Lambda",
        f"concat {inp.concat_memory_mb} MB x {concat_s:,.1f} s",
        gbs(inp.concat_memory_mb, concat_s),
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

    puts = {
        "uploads (video, payload, key; presigned PUT)": 3,
        "planner: media.json, items.json, plan.json": 3,
        "carriers: one PutObject each": carriers * (1 + inp.retry_rate),
        "output: streamed multipart (8 MiB parts)": stream_put_requests(int(output_bytes)),
    }
    if copy_bytes:
        puts[f"planner: the {'transcode' if inp.source_prep == 'transcode' else 'copy'} (multipart)"] = (
            file_put_requests(int(copy_bytes))
        )
    source_blocks = ceil_div(int(source_bytes), BLOCK)
    gets = {
        "planner: HEADs on 3 notifications, payload header": 2 + 3 + 3 + 2,
        "planner: ffprobe x2": 2 * inp.ffmpeg_requests,
        "planner: HEAD + 8 MiB GETs of the scan": 1 + source_blocks,
        "embed-segment: plan, media, key, 2 payload ranges, HEAD + index": n * (5 + 2) * (1 + inp.retry_rate),
        "embed-segment: per carrier ffmpeg + 8 MiB GET": carriers * (inp.ffmpeg_requests + 1) * (1 + inp.retry_rate),
        "concat: plan, media, carriers (HEAD + GET, then GET), source": 2 + 3 * carriers + 2 + 1 + source_blocks,
        "concat: verify (HEAD + index + carriers)": 1 + math.ceil(verify_blocks),
        "Distributed Map ItemReader": 1 if distributed else 0,
        "downloads of the output": inp.downloads,
    }
    if inp.source_prep == "copy":
        gets["planner: first block of the upload, ffmpeg copy"] = 2 + inp.ffmpeg_requests
    elif inp.source_prep == "transcode":
        gets["planner: index of the upload, ffprobe + ffmpeg"] = 2 + 2 * inp.ffmpeg_requests
    for k, v in puts.items():
        line("S3 requests", k, v, "PUT", "s3_put")
    line(
        "S3 requests",
        "GET/HEAD (planner, embed-segment, concat, ItemReader, downloads)",
        sum(gets.values()),
        "GET",
        "s3_get",
    )
    d["s3_puts"], d["s3_gets"] = sum(puts.values()), sum(gets.values())

    months = lambda days: (days + inp.lifecycle_rounding_days) * 24 / HOURS_PER_MONTH  # noqa: E731
    line(
        "S3 storage",
        f"uploads/ ({upload_bytes / GB:.3f} GB video + payload, {inp.work_days:g} d rule)",
        (upload_bytes + body + 36) / GB * months(inp.work_days),
        "GB-month",
        "s3_storage_gb_month",
    )
    line(
        "S3 storage",
        f"jobs/ carriers ({carrier_total / GB:.3f} GB, {inp.work_days:g} d rule)",
        carrier_total / GB * months(inp.work_days),
        "GB-month",
        "s3_storage_gb_month",
    )
    if copy_bytes:
        line(
            "S3 storage",
            f"jobs/ {inp.source_prep} of the source ({copy_bytes / GB:.3f} GB, {inp.work_days:g} d rule)",
            copy_bytes / GB * months(inp.work_days),
            "GB-month",
            "s3_storage_gb_month",
        )
    line(
        "S3 storage",
        f"outputs/ ({output_bytes / GB:.3f} GB, {inp.output_days:g} d rule)",
        output_bytes / GB * months(inp.output_days),
        "GB-month",
        "s3_storage_gb_month",
    )

    line("SQS", "3 upload notifications x (send + receive + delete)", 9, "requests", "sqs_request")

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
    line("DynamoDB", "reads: segment Query per embed, job reads, concat, status polls", rru, "RRU", "ddb_rru")

    by_group: dict[str, float] = {}
    for g, _, _, _, _, cost in r.lines:
        by_group[g] = by_group.get(g, 0.0) + cost
    total = sum(by_group.values())
    egress = output_bytes / GB * inp.downloads * P["s3_egress_gb"]
    r.totals = {
        "by_group": by_group,
        "total": total,
        "egress_per_download": output_bytes / GB * P["s3_egress_gb"],
        "egress": egress,
        "total_with_egress": total + egress,
        "compute_and_requests": total - by_group.get("S3 storage", 0.0),
    }

    # --- limits ------------------------------------------------------------------
    if planner_s > inp.planner_timeout_s:
        r.checks.append(
            f"FAIL: the planner needs {planner_s:.0f} s, over its {inp.planner_timeout_s:.0f} s timeout: the message "
            "comes back after the queue's 3600 s visibility timeout, is planned again from the start, and after 5 "
            "receives goes to the dead-letter queue with the job left queued"
        )
    elif planner_s * inp.tail_factor > inp.planner_timeout_s:
        r.checks.append(
            f"WARN: the planner needs {planner_s:.0f} s; a run {inp.tail_factor:g}x slower would pass its "
            f"{inp.planner_timeout_s:.0f} s timeout"
        )
    if longest > 900:
        r.checks.append(f"FAIL: the longest segment needs {longest:.0f} s, over Lambda's 900 s")
    if concat_s > 900:
        r.checks.append(f"FAIL: concat needs {concat_s:.0f} s, over Lambda's 900 s timeout")
    elif concat_s * inp.tail_factor > 900:
        r.checks.append(f"WARN: concat needs {concat_s:.0f} s; {inp.tail_factor:g}x slower would pass 900 s")
    if copy_bytes > 10240e6 * 0.95:
        r.checks.append(f"FAIL: the {inp.source_prep} ({copy_bytes / GB:.1f} GB) does not fit the planner's /tmp")
    over = []
    if upload_bytes > inp.max_input_bytes:
        over.append(f"{upload_bytes / GB:.1f} GB > MaxInputBytes {inp.max_input_bytes / GB:.2f} GB")
    if duration > inp.max_duration_seconds:
        over.append(f"{duration:.0f} s > MaxDurationSeconds {inp.max_duration_seconds:.0f}")
    if inp.frames > inp.max_frames:
        over.append(f"{inp.frames} frames > MaxFrames {inp.max_frames}")
    if inp.width * inp.height > inp.max_pixels:
        over.append(f"{inp.width}x{inp.height} > MaxPixels {inp.max_pixels}")
    if over:
        r.checks.append(
            "LIMIT: over the template's default limits (" + "; ".join(over) + "): the planner rejects the job "
            "unless the parameters are raised; the numbers assume they were"
        )
    if upload_bytes > 5e9:
        r.checks.append("NOTE: over 5 GB, one presigned PUT cannot upload it (vidstega submit uses multipart)")
    return r


def report_compact(r: Result, out=sys.stdout) -> None:
    i, d, lat = r.inputs, r.derived, r.latency
    w = out.write
    w("VidStega cost model (bench/cost_model.py), COMPACT mode - us-east-1 list prices as of mid-2025: CHECK THEM\n\n")
    src = "given" if i["source_bytes"] is not None else f"{i['source_mbps']:g} Mbit/s"
    prep = {
        "none": "H.264 in MP4/MOV, used as uploaded",
        "copy": "another container: stream-copied into MP4 first",
        "transcode": "not usable H.264: transcoded once (x264 veryfast CRF 18)",
    }[i["source_prep"]]
    w(
        f"Video: {i['frames']:,} frames of {i['width']}x{i['height']} at {i['fps']:g} fps ({d['duration_s'] / 60:.1f} min), "
        f"upload {d['upload_bytes'] / 1e6:,.0f} MB ({src}); {prep}\n"
    )
    w(
        f"Message: {i['payload_bytes']:,} B (incompressible) => sealed body {d['body_bytes']:,} B "
        f"({d['body_bytes'] / i['payload_bytes']:.3f}x; parity {i['parity']})\n"
    )
    w("\nPlan:\n")
    w(
        f"  carrier: {d['samples_per_carrier']:,} samples x max rate {i['max_rate']:g} - 512 = {d['bits_per_carrier']:,} bits "
        f"({d['bits_per_carrier'] / 8e3:.1f} KB); I_PCM unit {d['carrier_bytes'] / 1e6:.3f} MB\n"
    )
    w(
        f"  => {d['carriers']} carriers; per segment min(16, ceil({d['carriers']} / MapMaxConcurrency {i['map_concurrency']})) = "
        f"{d['per_segment']} => {d['segments']} segment(s); {'Distributed' if d['distributed_map'] else 'inline'} Map, "
        f"{d['effective_concurrency']} at once => {d['waves']} wave(s)\n"
    )
    w(
        f"  output = source {d['source_bytes'] / 1e6:,.1f} MB + carriers {d['carrier_total_bytes'] / 1e6:,.1f} MB "
        f"= {d['output_bytes'] / 1e6:,.1f} MB\n"
    )
    w(
        f"\nAssumptions: Lambda vCPU {i['lambda_speed']:g}x the project machine's; S3 {i['request_s'] * 1e3:.0f} ms per request, "
        f"{i['probe_mb_per_s']:g} MB/s per reader, {i['upload_mb_per_s']:g} MB/s up; concat {i['concat_s_per_gb']:g} s/GB\n"
    )
    w("\nPlanner (one invocation):\n")
    for k, v in d["planner_parts"].items():
        w(f"  {k:<78} {v:7.2f} s\n")
    w(f"  {'total':<78} {d['planner_seconds']:7.2f} s\n")
    w("\nembed-segment, per carrier:\n")
    for k, v in d["carrier_parts"].items():
        w(f"  {k:<78} {v:7.2f} s\n")
    w(f"  {'total per carrier':<78} {d['seconds_per_carrier']:7.2f} s\n")
    w(
        f"  segment = fixed {i['segment_fixed_s']:g} s + open the source (HEAD + index) + carriers: longest "
        f"{d['segment_seconds']:.2f} s; all segments {d['embed_lambda_seconds']:.1f} Lambda-s\n"
    )
    w("\nconcat:\n")
    for k, v in d["concat_parts"].items():
        w(f"  {k:<78} {v:7.2f} s\n")
    w(f"  {'total':<78} {d['concat_seconds']:7.2f} s\n")

    w("\nLatency (from the last upload to the output stored; one job, no throttling):\n")
    w(f"  queue + planner   {i['queue_delay_s'] + lat['planner_s']:7.1f} s\n")
    w(f"  Map               {lat['map_s']:7.1f} s  ({d['waves']} x {d['segment_seconds']:.1f} s)\n")
    w(f"  concat            {lat['concat_s']:7.1f} s\n")
    w(f"  median            {lat['median_s']:7.1f} s  = {lat['median_s'] / 60:.1f} min\n")
    w(
        f"  p95 (guess)       {lat['p95_s']:7.1f} s  = {lat['p95_s'] / 60:.1f} min  (planner, Map and concat x {i['tail_factor']:g})\n"
    )
    _cost_lines(r, w)
    w(
        f"  + internet egress   {fmt_money(r.totals['egress_per_download'])} per download of the output "
        f"({d['output_bytes'] / GB:.3f} GB x $0.09/GB); {i['downloads']} download(s) counted above: {fmt_money(r.totals['egress'])}\n"
    )
    if r.checks:
        w("\nChecks against Lambda's and the template's limits:\n")
        for ch in r.checks:
            w(f"  {ch}\n")


def _cost_lines(r: Result, w) -> None:
    w("\nCost per video:\n")
    w(f"  {'item':<86} {'quantity':>14} {'cost':>10}\n")
    group = None
    for g, item, qty, unit, _, cost in r.lines:
        if g != group:
            w(f"  {g}\n")
            group = g
        q = f"{qty:>10,.1f}" if qty < 1000 else f"{qty:>10,.0f}"
        w(f"    {item[:84]:<84} {q} {unit:<9}{fmt_money(cost):>9}\n")
    t = r.totals
    w("\n")
    for g, c in t["by_group"].items():
        w(f"  {g:<20} {fmt_money(c):>10}\n")
    w(f"  {'TOTAL':<20} {fmt_money(t['total']):>10}   (without storage: {fmt_money(t['compute_and_requests'])})\n")


def compact_variants(base: CompactInputs) -> list[tuple[str, CompactInputs]]:
    from dataclasses import replace

    def at(width, height):  # the source's bit rate scaled with the pixel count
        return replace(base, width=width, height=height, source_mbps=base.source_mbps * width * height / PIXELS_1080P)

    fps = base.fps
    return [
        ("defaults", base),
        ("message 100 KB", replace(base, payload_bytes=100_000)),
        ("message 10 MB", replace(base, payload_bytes=10_000_000)),
        ("720p (2.7 Mbit/s)", at(1280, 720)),
        ("1440p (10.7 Mbit/s)", at(2560, 1440)),
        ("2-minute video", replace(base, frames=int(120 * fps))),
        ("60-minute video", replace(base, frames=int(3600 * fps))),
        ("60 min, 10 MB message", replace(base, frames=int(3600 * fps), payload_bytes=10_000_000)),
        (
            "slower S3 (25 s/GB; 40 MB/s reads, ups)",
            replace(base, concat_s_per_gb=25, probe_mb_per_s=40, upload_mb_per_s=40),
        ),
        ("S3 100 ms per request", replace(base, request_s=0.1)),
        ("Lambda vCPU 0.5x project machine", replace(base, lambda_speed=0.5)),
        ("Lambda vCPU 1.0x project machine", replace(base, lambda_speed=1.0)),
        ("MPEG-TS source (stream copy)", replace(base, source_prep="copy")),
        ("transcode-needed source", replace(base, source_prep="transcode")),
        ("transcode, 2-minute video", replace(base, source_prep="transcode", frames=int(120 * fps))),
        ("transcode, planner 10,240 MB", replace(base, source_prep="transcode", planner_memory_mb=10240)),
        ("OutputDays 1", replace(base, output_days=1)),
        ("1 download of the output", replace(base, downloads=1)),
        ("OutputDays 1 + 1 download", replace(base, output_days=1, downloads=1)),
    ]


def compact_knob_table(base: CompactInputs, out=sys.stdout) -> None:
    w = out.write
    w("\nWhat moves it (each row changes one thing from the defaults):\n")
    w(
        f"  {'variant':<40} {'carr':>4} {'segs':>4} {'median':>8} {'p95':>8} {'compute+req':>12} {'storage':>9} "
        f"{'total':>9} {'egress/dl':>9}\n"
    )
    for name, v in compact_variants(base):
        r = model_compact(v)
        t, lat, d = r.totals, r.latency, r.derived
        flag = ""
        if any(c.startswith("FAIL") for c in r.checks):
            flag += " !"
        if any(c.startswith("LIMIT") for c in r.checks):
            flag += " L"
        w(
            f"  {name:<40} {d['carriers']:>4} {d['segments']:>4} {lat['median_s'] / 60:>6.1f} m {lat['p95_s'] / 60:>6.1f} m "
            f"{fmt_money(t['compute_and_requests']):>12} {fmt_money(t['by_group'].get('S3 storage', 0)):>9} "
            f"{fmt_money(t['total_with_egress']):>9} {fmt_money(t['egress_per_download']):>9}{flag}\n"
        )
    w("  (total includes the downloads counted in that row; egress/dl = one download of the output)\n")
    w("  (! = a timeout is exceeded: the job would not finish; L = over the template's default limits)\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["compact", "lossless"], default="compact", help="default compact")
    lossless, compact = asdict(Inputs()), asdict(CompactInputs())
    names = list(compact) + [n for n in lossless if n not in compact]
    for name in names:
        flags = ["--" + name.replace("_", "-")]
        if name == "payload_bytes":
            flags = ["--message-bytes", "--payload-bytes"]
        in_l, in_c = name in lossless, name in compact
        value = compact[name] if in_c else lossless[name]
        if in_l and in_c and lossless[name] != compact[name]:
            where = f"default {compact[name]} (compact), {lossless[name]} (lossless)"
        elif in_l and in_c:
            where = f"default {value}"
        else:
            where = f"{'compact' if in_c else 'lossless'} mode only; default {value}"
        # Only the flags given reach the namespace: each mode keeps its own defaults.
        kw = dict(dest=name, default=argparse.SUPPRESS)
        if name == "codec":
            what = f"lossless codec/preset whose codec.md numbers to use ({where})"
            ap.add_argument(*flags, choices=sorted(ENCODE_CPU_1440), help=what, **kw)
        elif name == "source_prep":
            what = f"what the planner does to the upload first ({where})"
            ap.add_argument(*flags, choices=SOURCE_PREPS, help=what, **kw)
        elif isinstance(value, bool):
            ap.add_argument(*flags, action="store_true", help=f"model a code change (see docs/cost.md; {where})", **kw)
        elif value is None:
            ap.add_argument(*flags, type=float, help=f"{where}: derived (see above)", **kw)
        else:
            ap.add_argument(*flags, type=type(value), help=where, **kw)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--no-variants", action="store_true", help="skip the table of variants")
    args = vars(ap.parse_args(argv))
    mode = args.pop("mode")
    as_json, no_variants = args.pop("json"), args.pop("no_variants")
    fields = compact if mode == "compact" else lossless
    wrong = sorted(k for k in args if k not in fields)
    if wrong:
        other = "lossless" if mode == "compact" else "compact"
        ap.error(f"{', '.join('--' + k.replace('_', '-') for k in wrong)}: only for --mode {other}")
    if mode == "compact":
        inp = CompactInputs(**args)
        run, show, table, variant_list = model_compact, report_compact, compact_knob_table, compact_variants
    else:
        inp = Inputs(**args)
        run, show, table, variant_list = model, report, knob_table, variants
    r = run(inp)
    if as_json:
        out = asdict(r)
        out["mode"] = mode
        out["prices"] = PRICES
        if not no_variants:
            out["variants"] = {
                name: {"latency": run(v).latency, "totals": run(v).totals} for name, v in variant_list(inp)
            }
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    show(r)
    if not no_variants:
        table(inp)
    price_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
