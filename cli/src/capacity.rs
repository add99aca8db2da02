//! `vidstega capacity` and `vidstega inspect`.

use crate::args::{require_video_file, workers, CapacityArgs, InspectArgs, Mode};
use crate::output::{count, line};
use anyhow::Result;
use serde_json::json;
use vidstega_core::{capacity, SealParams, PICTURE_OVERHEAD_BITS};
use vidstega_media::{choose_raw_format, ensure_tools, probe, MediaInfo, SegmentCodec};
use vidstega_pipeline::{carrier_capacity, geometry_of, gop_segments, target_frames, PlanSettings};
use vidstega_robust::Preset;

/// Runs `vidstega capacity`.
pub fn capacity_cmd(args: CapacityArgs) -> Result<()> {
    require_video_file(&args.input)?;
    ensure_tools()?;
    args.layout.check()?;
    match args.layout.mode {
        Mode::Compact => return compact_capacity(&args),
        Mode::Robust => return robust_capacity_cmd(&args),
        Mode::Lossless => {}
    }
    let media = probe(&args.input)?;
    let format = choose_raw_format(&media.video, Some(&SegmentCodec::default())).format;
    let geometry = geometry_of(&format)?;
    let set = args.layout.plane_set();
    let params = SealParams {
        parity_shards: args.layout.parity,
        ..SealParams::default()
    };
    let c = capacity(&geometry, set, media.video.frame_count, &params)?;
    if args.json {
        line(serde_json::to_string_pretty(&json!({
            "frames": c.frames,
            "width": format.width,
            "height": format.height,
            "pixel_format": format.pixel.ffmpeg_name(),
            "planes": args.layout.planes_name(),
            "samples_per_frame": c.samples_per_frame,
            "payload_bits_per_frame": c.payload_bits_per_frame,
            "max_message_bytes": c.max_message_bytes,
        }))?)?;
    } else {
        line(format!(
            "{} can carry {} of message ({} of {}x{} {}, {} planes, parity {}/16); \
             text compresses, so more text fits",
            args.input.display(),
            count(c.max_message_bytes, "byte", "bytes"),
            count(c.frames, "frame", "frames"),
            format.width,
            format.height,
            format.pixel.ffmpeg_name(),
            args.layout.planes_name(),
            args.layout.parity
        ))?;
    }
    Ok(())
}

/// Robust mode's capacity of `media`'s video with `preset`.
pub fn robust_capacity(media: &MediaInfo, preset: Preset) -> vidstega_robust::Capacity {
    let v = &media.video;
    vidstega_robust::capacity(
        v.width,
        v.height,
        v.frame_count,
        v.frame_rate().as_f64(),
        &preset.params(),
    )
}

/// What each preset survives, as measured (`docs/robust.md` §11).
fn survives(preset: Preset) -> &'static str {
    match preset {
        Preset::Normal => "survives H.264 CRF 23 and a downscale to 720p at CRF 23",
        Preset::Strong => "survives a downscale to 480p at CRF 28",
    }
}

/// `vidstega capacity --mode robust`: every preset's capacity.
fn robust_capacity_cmd(args: &CapacityArgs) -> Result<()> {
    let media = probe(&args.input)?;
    let rows: Vec<(Preset, vidstega_robust::Capacity)> = Preset::ALL
        .iter()
        .map(|&p| (p, robust_capacity(&media, p)))
        .collect();
    if args.json {
        line(serde_json::to_string_pretty(&json!({
            "mode": "robust",
            "width": media.video.width,
            "height": media.video.height,
            "frames": media.video.frame_count,
            "presets": rows.iter().map(|(p, c)| json!({
                "robustness": p.name(),
                "max_message_bytes": c.message_bytes,
                "max_payload_bytes": c.payload_bytes,
                "message_bytes_per_second": c.message_bytes_per_second,
                "grid": [c.grid.0, c.grid.1],
                "hold_periods": c.periods,
            })).collect::<Vec<_>>(),
        }))?)?;
        return Ok(());
    }
    line(format!(
        "{} can carry, in robust mode ({} of {}x{}):",
        args.input.display(),
        count(media.video.frame_count, "frame", "frames"),
        media.video.width,
        media.video.height
    ))?;
    for (p, c) in &rows {
        line(format!(
            "  --robustness {:6}  {} of message ({:.0} bytes per second of video); {}",
            p.name(),
            count(c.message_bytes, "byte", "bytes"),
            c.message_bytes_per_second,
            survives(*p)
        ))?;
    }
    line("text compresses, so more text fits; the presets were measured on 1080p video (smaller videos survive less)")?;
    Ok(())
}

/// `vidstega capacity --mode compact`: every picture that can carry used at
/// the rate asked.
fn compact_capacity(args: &CapacityArgs) -> Result<()> {
    let params = SealParams {
        parity_shards: args.layout.parity,
        ..SealParams::default()
    };
    let c = carrier_capacity(
        &args.input,
        args.layout.plane_set(),
        args.layout.max_rate,
        &params,
    )?;
    if args.json {
        line(serde_json::to_string_pretty(&json!({
            "mode": "compact",
            "candidates": c.candidates,
            "width": c.format.width,
            "height": c.format.height,
            "pixel_format": c.format.pixel.ffmpeg_name(),
            "planes": args.layout.planes_name(),
            "max_rate": args.layout.max_rate,
            "samples_per_carrier": c.samples_per_carrier,
            "bytes_per_carrier": c.carrier_bytes,
            "max_message_bytes": c.max_message_bytes,
            "estimated": c.estimated,
        }))?)?;
    } else {
        line(format!(
            "{} can carry {} of message in compact mode: {} carry, {} bits each at \
             --max-rate {} ({}x{} {}, {} planes, parity {}/16). Each carrier used adds about {} to the \
             file; text compresses, so more text fits",
            args.input.display(),
            count(c.max_message_bytes, "byte", "bytes"),
            if c.candidates == 1 {
                "1 picture can".to_string()
            } else {
                format!("{} pictures can", c.candidates)
            },
            ((args.layout.max_rate * c.samples_per_carrier as f64) as u64)
                .saturating_sub(PICTURE_OVERHEAD_BITS),
            args.layout.max_rate,
            c.format.width,
            c.format.height,
            c.format.pixel.ffmpeg_name(),
            args.layout.planes_name(),
            args.layout.parity,
            crate::embed::human_bytes(c.carrier_bytes)
        ))?;
        if c.estimated {
            line(
                "(an estimate: this video cannot hold carrier pictures as it is, so embed transcodes it to \
                 H.264 first; --transcode never refuses instead)",
            )?;
        }
    }
    Ok(())
}

/// Runs `vidstega inspect`.
pub fn inspect_cmd(args: InspectArgs) -> Result<()> {
    require_video_file(&args.input)?;
    ensure_tools()?;
    let media = probe(&args.input)?;
    let v = &media.video;
    let settings = PlanSettings::default();
    let target = target_frames(
        v.frame_count,
        workers(args.jobs),
        settings.min_segment_frames,
        settings.max_segment_frames,
    );
    let segments = gop_segments(v.frame_count, &v.keyframes, target)?;
    let choice = choose_raw_format(v, Some(&settings.codec));
    let report = json!({
        "file": args.input,
        "format": media.format_name,
        "size_bytes": media.size_bytes,
        "duration_seconds": media.duration_seconds,
        "video": {
            "codec": v.codec_name,
            "width": v.width,
            "height": v.height,
            "pix_fmt": v.pix_fmt,
            "frame_rate": v.frame_rate().to_string(),
            "frame_count": v.frame_count,
            "keyframes": v.keyframes.len(),
            "rotation_degrees": v.rotation_degrees,
            "variable_frame_rate": v.is_variable_frame_rate,
        },
        "audio": media.audio.iter().map(|a| json!({"index": a.index, "codec": a.codec_name, "channels": a.channels, "sample_rate": a.sample_rate})).collect::<Vec<_>>(),
        "subtitles": media.subtitles.len(),
        "raw_format": choice.format.to_string(),
        "warnings": choice.warnings,
        "segments": segments.iter().map(|r| json!({"start": r.start, "end": r.end})).collect::<Vec<_>>(),
    });
    if args.json {
        line(serde_json::to_string_pretty(&report)?)?;
    } else {
        line(format!(
            "{}: {} {}x{} {} at {} fps, {}, {}, {}, {}",
            args.input.display(),
            v.codec_name,
            v.width,
            v.height,
            v.pix_fmt.as_deref().unwrap_or("?"),
            v.frame_rate(),
            count(v.frame_count, "frame", "frames"),
            count(v.keyframes.len() as u64, "keyframe", "keyframes"),
            count(media.audio.len() as u64, "audio stream", "audio streams"),
            count(
                media.subtitles.len() as u64,
                "subtitle stream",
                "subtitle streams"
            )
        ))?;
        if v.is_variable_frame_rate {
            line(format!("variable frame rate: {}", v.variable_frame_rate_detail))?;
        }
        for w in &choice.warnings {
            line(format!("warning: {w}"))?;
        }
        line(format!("segments ({}):", segments.len()))?;
        for (i, r) in segments.iter().enumerate() {
            line(format!("  {i:4}: frames {}..{}", r.start, r.end))?;
        }
    }
    Ok(())
}
