//! Embeds into and extracts from real video files through ffmpeg pipes, for
//! `bench/robust.py`.
//!
//! ```text
//! roundtrip embed   --input SRC --output STEGO [--preset normal|strong] [--password PW]
//!                   [--rate BYTES_PER_S | --message-bytes N] [--crf 18] [--x264-preset medium]
//!                   [--message-out FILE] [--payload-out FILE] [--set key=value,...]
//! roundtrip extract --input FILE [--preset normal|strong|any] [--password PW]
//!                   [--expect MESSAGE_FILE] [--reference PAYLOAD_FILE] [--set key=value,...]
//! roundtrip capacity --width W --height H --frames N --fps F
//! roundtrip detect  --input FILE [--preset normal|strong]   (the two keyless detectors of detect.rs)
//! ```
//!
//! `embed` decodes SRC through an ffmpeg pipe, embeds into every frame's luma
//! plane and encodes with libx264 (`--crf`, `--x264-preset`, yuv420p, MP4
//! with `+faststart`), copying every audio stream of SRC.
//!
//! Each prints one JSON object on stdout. `--set` overrides preset fields
//! (`rows`, `step`, `hold`, `header_copies`, `min_repeat`, `masking`,
//! `flat_strength`, `flat_activity`, `guard`, `weight`) for experiments.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;
use vidstega_core::{seal, PlacementKey, SealParams};
use vidstega_robust::{
    capacity, robust_seal_params, Embedder, Extractor, ExtractorConfig, HoldCoherenceDetector,
    PeriodicityDetector, Preset, RobustError, RobustParams, VideoInfo,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("embed") => embed(&opts(&args[1..])),
        Some("extract") => extract(&opts(&args[1..])),
        Some("capacity") => cap(&opts(&args[1..])),
        Some("detect") => detect(&opts(&args[1..])),
        _ => Err("usage: roundtrip embed|extract|capacity [options]".into()),
    };
    if let Err(e) = result {
        println!("{{\"error\": {}}}", json_str(&e.to_string()));
        std::process::exit(1);
    }
}

fn opts(args: &[String]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let k = args[i].trim_start_matches("--").to_string();
        let v = args.get(i + 1).cloned().unwrap_or_default();
        m.insert(k, v);
        i += 2;
    }
    m
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn params(o: &HashMap<String, String>, preset: Preset) -> Res<RobustParams> {
    let mut p = preset.params();
    if let Some(set) = o.get("set") {
        for kv in set.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or("--set wants key=value")?;
            match k {
                "rows" => p.rows = v.parse()?,
                "step" => p.step = v.parse()?,
                "hold" => p.hold_seconds = v.parse()?,
                "header_copies" => p.header_copies = v.parse()?,
                "min_repeat" => p.min_repeat = v.parse()?,
                "masking" => p.texture_masking = v.parse()?,
                "flat_strength" => p.flat_strength = v.parse()?,
                "flat_activity" => p.flat_activity = v.parse()?,
                "guard" => p.guard_seconds = v.parse()?,
                "weight" => p.weight_frames = v.parse()?,
                _ => return Err(format!("unknown parameter {k}").into()),
            }
        }
    }
    Ok(p)
}

struct Probe {
    width: u32,
    height: u32,
    fps: f64,
    fps_text: String,
    frames: u64,
}

fn probe(path: &str) -> Res<Probe> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=width,height,r_frame_rate,nb_read_packets",
            "-of",
            "default=noprint_wrappers=1",
            path,
        ])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "ffprobe failed on {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = String::from_utf8(out.stdout)?;
    let get = |k: &str| -> Res<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
            .ok_or_else(|| format!("ffprobe gave no {k}").into())
    };
    let fps_text = get("r_frame_rate")?;
    let (n, d) = fps_text.split_once('/').unwrap_or((&fps_text, "1"));
    Ok(Probe {
        width: get("width")?.parse()?,
        height: get("height")?.parse()?,
        fps: n.parse::<f64>()? / d.parse::<f64>()?,
        fps_text,
        frames: get("nb_read_packets")?.parse()?,
    })
}

/// Decodes `path` to raw yuv420p frames on a pipe.
fn decoder(path: &str) -> Res<std::process::Child> {
    Ok(Command::new("ffmpeg")
        .args([
            "-v", "error", "-i", path, "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-",
        ])
        .stdout(Stdio::piped())
        .spawn()?)
}

fn read_frame(r: &mut impl Read, buf: &mut [u8]) -> Res<bool> {
    let mut got = 0;
    while got < buf.len() {
        let n = r.read(&mut buf[got..])?;
        if n == 0 {
            return if got == 0 {
                Ok(false)
            } else {
                Err("truncated frame".into())
            };
        }
        got += n;
    }
    Ok(true)
}

/// A deterministic incompressible message.
fn message(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64)
        .map(|i| vidstega_core::mix64(seed ^ (i * 0x9E37)) as u8)
        .collect()
}

fn embed(o: &HashMap<String, String>) -> Res<()> {
    let input = o.get("input").ok_or("--input")?;
    let output = o.get("output").ok_or("--output")?;
    let preset = Preset::parse(o.get("preset").map_or("normal", |s| s)).ok_or("bad --preset")?;
    let params = params(o, preset)?;
    let password = o
        .get("password")
        .map_or("robust bench", |s| s)
        .as_bytes()
        .to_vec();
    let crf = o.get("crf").map_or("18", |s| s);
    let x264_preset = o.get("x264-preset").map_or("medium", |s| s);
    let pr = probe(input)?;
    let cap = capacity(pr.width, pr.height, pr.frames, pr.fps, &params);
    let seconds = pr.frames as f64 / pr.fps;
    let len = match (o.get("message-bytes"), o.get("rate")) {
        (Some(n), _) => n.parse::<usize>()?,
        (None, Some(r)) if r == "max" => cap.message_bytes as usize,
        (None, Some(r)) => (r.parse::<f64>()? * seconds).round() as usize,
        (None, None) => cap.message_bytes as usize,
    }
    .max(1);
    let msg = message(len, 0x5eed);
    let t_seal = Instant::now();
    let sp = SealParams {
        compress: false,
        ..robust_seal_params(len as u64, 600_000)
    };
    let envelope = seal(&msg, &password, &sp)?;
    let key = PlacementKey::derive(&password);
    let seal_s = t_seal.elapsed().as_secs_f64();
    let payload = envelope.to_bytes();
    if let Some(p) = o.get("message-out") {
        std::fs::write(p, &msg)?;
    }
    if let Some(p) = o.get("payload-out") {
        std::fs::write(p, &payload)?;
    }
    let info = VideoInfo {
        width: pr.width,
        height: pr.height,
        fps: pr.fps,
        frames: pr.frames,
    };
    let mut emb = Embedder::new(&payload, &key, &params, info)?;
    let t0 = Instant::now();
    let mut dec = decoder(input)?;
    let size = format!("{}x{}", pr.width, pr.height);
    let mut enc = Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", &size,
        ])
        .args([
            "-framerate",
            &pr.fps_text,
            "-i",
            "-",
            "-i",
            input,
            "-map",
            "0:v",
            "-map",
            "1:a?",
            "-c:a",
            "copy",
            "-c:v",
            "libx264",
            "-crf",
            crf,
            "-preset",
            x264_preset,
        ])
        .args(["-pix_fmt", "yuv420p", "-movflags", "+faststart", output])
        .stdin(Stdio::piped())
        .spawn()?;
    let (w, h) = (pr.width as usize, pr.height as usize);
    let mut frame = vec![0u8; w * h * 3 / 2];
    let mut stdout = dec.stdout.take().ok_or("decoder stdout")?;
    let mut stdin = enc.stdin.take().ok_or("encoder stdin")?;
    let (mut n, mut embed_s) = (0u64, 0f64);
    let (mut sq, mut samples) = (0f64, 0f64);
    let mut before = vec![0u8; w * h];
    while read_frame(&mut stdout, &mut frame)? {
        if n < pr.frames {
            before.copy_from_slice(&frame[..w * h]);
            let t = Instant::now();
            emb.embed_frame(n, &mut frame[..w * h])?;
            embed_s += t.elapsed().as_secs_f64();
            sq += before
                .iter()
                .zip(&frame[..w * h])
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum::<f64>();
            samples += (w * h) as f64;
        }
        stdin.write_all(&frame)?;
        n += 1;
    }
    drop(stdin);
    if !dec.wait()?.success() || !enc.wait()?.success() {
        return Err("ffmpeg failed".into());
    }
    let total_s = t0.elapsed().as_secs_f64();
    let st = emb.stats();
    let embed_psnr = 10.0 * (255.0f64 * 255.0 / (sq / samples).max(1e-12)).log10();
    println!(
        "{{\"frames\": {n}, \"width\": {}, \"height\": {}, \"fps\": {}, \"grid\": [{}, {}], \
         \"capacity_message_bytes\": {}, \"capacity_bytes_per_s\": {:.1}, \"message_bytes\": {len}, \
         \"payload_bytes\": {}, \"coded_bits\": {}, \"slots\": {}, \"repeat\": {:.2}, \
         \"embed_cpu_s\": {embed_s:.2}, \"pipeline_s\": {total_s:.2}, \"seal_s\": {seal_s:.2}, \
         \"mean_abs_move\": {:.3}, \"missed_cells\": {}, \"embed_psnr_y\": {embed_psnr:.2}}}",
        pr.width,
        pr.height,
        pr.fps,
        emb.grid().0,
        emb.grid().1,
        cap.message_bytes,
        cap.message_bytes_per_second,
        payload.len(),
        emb.coded_bits(),
        cap.slots,
        cap.slots as f64 / emb.coded_bits() as f64,
        st.mean_abs_move,
        st.missed_cells
    );
    Ok(())
}

fn extract(o: &HashMap<String, String>) -> Res<()> {
    let input = o.get("input").ok_or("--input")?;
    let password = o
        .get("password")
        .map_or("robust bench", |s| s)
        .as_bytes()
        .to_vec();
    let pr = probe(input)?;
    let mut cfg = ExtractorConfig::new(pr.fps);
    match o.get("preset").map_or("any", |s| s) {
        "any" => {
            cfg.candidates = Preset::ALL.iter().map(|&p| params(o, p)).collect::<Res<_>>()?;
        }
        name => cfg.candidates = vec![params(o, Preset::parse(name).ok_or("bad --preset")?)?],
    }
    let key = PlacementKey::derive(&password);
    let mut ex = Extractor::new(&key, cfg)?;
    if let Some(p) = o.get("reference") {
        ex.set_reference(&std::fs::read(p)?);
    }
    let t0 = Instant::now();
    let mut dec = decoder(input)?;
    let (w, h) = (pr.width as usize, pr.height as usize);
    let mut frame = vec![0u8; w * h * 3 / 2];
    let mut stdout = dec.stdout.take().ok_or("decoder stdout")?;
    while read_frame(&mut stdout, &mut frame)? {
        ex.push_frame(&frame[..w * h], pr.width, pr.height)?;
    }
    dec.wait()?;
    let result = ex.finish();
    let secs = t0.elapsed().as_secs_f64();
    let expect = o.get("expect").map(std::fs::read).transpose()?;
    match result {
        Err(e) => {
            let found = !matches!(e, RobustError::NotFound { .. });
            println!(
                "{{\"found\": {found}, \"recovered\": false, \"error\": {}, \"extract_s\": {secs:.2}}}",
                json_str(&e.to_string())
            );
        }
        Ok(x) => {
            let r = &x.report;
            let opened = x.open(&password);
            let (recovered, err) = match (&opened, &expect) {
                (Ok(m), Some(e)) => (
                    m == e,
                    if m == e {
                        String::new()
                    } else {
                        "WRONG MESSAGE".into()
                    },
                ),
                (Ok(_), None) => (true, String::new()),
                (Err(e), _) => (false, e.to_string()),
            };
            println!(
                "{{\"found\": true, \"recovered\": {recovered}, \"error\": {}, \"preset\": \"{}\", \
                 \"grid\": [{}, {}], \"offset_s\": {:.3}, \"coherence\": {:.4}, \"frames\": {}, \
                 \"frames_used\": {}, \"windows\": {}, \"windows_with_header\": {}, \"codewords\": {}, \
                 \"failed_codewords\": {}, \"frame_ber\": {:.5}, \"slot_ber\": {:.5}, \"exact_ber\": {}, \
                 \"coverage\": {:.4}, \"mean_repeat\": {:.2}, \"extract_s\": {secs:.2}}}",
                json_str(&err),
                r.preset.name(),
                r.grid.0,
                r.grid.1,
                r.offset_seconds,
                r.sync_coherence,
                r.frames_read,
                r.frames_used,
                r.windows,
                r.windows_with_header,
                r.codewords,
                r.failed_codewords,
                r.frame_ber,
                r.slot_ber,
                r.ber_vs_reference,
                r.coverage,
                r.mean_repeat
            );
        }
    }
    Ok(())
}

fn cap(o: &HashMap<String, String>) -> Res<()> {
    let g = |k: &str| o.get(k).ok_or(format!("--{k}"));
    let (w, h): (u32, u32) = (g("width")?.parse()?, g("height")?.parse()?);
    let (frames, fps): (u64, f64) = (g("frames")?.parse()?, g("fps")?.parse()?);
    let mut parts = Vec::new();
    for p in Preset::ALL {
        let c = capacity(w, h, frames, fps, &params(o, p)?);
        parts.push(format!(
            "\"{}\": {{\"message_bytes\": {}, \"bytes_per_s\": {:.1}, \"payload_bytes\": {}, \"grid\": [{}, {}]}}",
            p.name(),
            c.message_bytes,
            c.message_bytes_per_second,
            c.payload_bytes,
            c.grid.0,
            c.grid.1
        ));
    }
    println!("{{{}}}", parts.join(", "));
    Ok(())
}

fn detect(o: &HashMap<String, String>) -> Res<()> {
    let input = o.get("input").ok_or("--input")?;
    let preset = Preset::parse(o.get("preset").map_or("normal", |s| s)).ok_or("bad --preset")?;
    let pr = probe(input)?;
    let mut rhythm = PeriodicityDetector::new(&params(o, preset)?, pr.fps);
    let mut hold = HoldCoherenceDetector::new(&params(o, preset)?, pr.fps);
    let mut dec = decoder(input)?;
    let (w, h) = (pr.width as usize, pr.height as usize);
    let mut frame = vec![0u8; w * h * 3 / 2];
    let mut stdout = dec.stdout.take().ok_or("decoder stdout")?;
    while read_frame(&mut stdout, &mut frame)? {
        rhythm.push_frame(&frame[..w * h], pr.width, pr.height)?;
        hold.push_frame(&frame[..w * h], pr.width, pr.height)?;
    }
    dec.wait()?;
    let (r, c) = (rhythm.score(), hold.score());
    println!(
        "{{\"ratio\": {:.3}, \"transitions\": {}, \"coherence_ratio\": {:.3}, \"coherence_max\": {:.4}, \
         \"coherence_min\": {:.4}}}",
        r.ratio, r.transitions, c.ratio, c.max_coherence, c.min_coherence
    );
    Ok(())
}
