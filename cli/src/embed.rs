//! `vidstega embed`: seal locally, then run the local pipeline.
//!
//! The work folder `.<output name>.vidstega/` beside the output holds the
//! folder store (sealed payload, plan, encoded segments) and the SQLite job
//! table. Running the same command again after an interruption resumes: the
//! finished segments are kept. The payload stored there is sealed
//! (encrypted); the password, key and message are never written.

use crate::args::{workers, Codec, EmbedArgs, Mode};
use crate::outfile::{check_writable, parent, partial_name};
use crate::progress::Bars;
use crate::secrets;
use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;
use vidstega_core::{seal, unseal, CoreError, Envelope, PlacementKey, SealParams};
use vidstega_local::{FolderStore, SqliteJobStore};
use vidstega_media::{check_video, ensure_tools, probe, LosslessCodec, OutputContainer, X264Preset};
use vidstega_pipeline::{run_embed, JobRecord, ObjectStore, PlanSettings};

#[derive(Serialize)]
struct Summary {
    output: PathBuf,
    output_bytes: u64,
    input_bytes: u64,
    mode: &'static str,
    frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    carriers: Option<u64>,
    segments: usize,
    segments_embedded: u32,
    segments_resumed: u32,
    message_bytes: usize,
    payload_bytes: u64,
    max_embedding_rate: f64,
    changed_samples: u64,
    audio_streams: usize,
    seconds: f64,
    peak_rss_bytes: Option<u64>,
    warnings: Vec<String>,
}

fn job_id(input: &Path, output: &Path, args: &EmbedArgs) -> Result<String> {
    let meta = std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(input.as_os_str().as_encoded_bytes());
    h.update(meta.len().to_le_bytes());
    h.update(mtime.to_le_bytes());
    h.update(output.as_os_str().as_encoded_bytes());
    h.update(format!(
        "{:?}{:?}{:?}{}{}{:?}{}",
        args.layout.mode,
        args.transcode,
        args.layout.plane_set(),
        args.layout.max_rate,
        args.layout.parity,
        args.codec,
        args.kdf_iterations
    ));
    Ok(hex::encode(&h.finalize()[..8]))
}

/// The work folder, removed if the run fails before any segment (lossless
/// mode) or carrier (compact mode) is stored — there is nothing to resume
/// from — so such failures leave nothing behind. A killed process runs no
/// destructor, so its folder stays for the rerun.
struct WorkFolder {
    path: PathBuf,
    /// Folders whose contents make a run worth resuming.
    stored: Vec<PathBuf>,
    finished: bool,
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        let resumable = self
            .stored
            .iter()
            .any(|dir| std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()));
        if !self.finished && !resumable {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs `vidstega embed`.
pub fn run(args: EmbedArgs) -> Result<()> {
    let started = Instant::now();
    let container = OutputContainer::from_path(&args.output)?;
    check_writable(&args.output, args.force)?;
    // Check the input before creating anything: its problems are then
    // reported against the user's own path (not the work folder's link to
    // it) and leave nothing behind. Compact mode copies timestamps, so a
    // variable frame rate is fine there. The quick check runs beside the
    // tool checks (both are process starts); a tool problem is still
    // reported first.
    match args.layout.mode {
        Mode::Lossless => {
            ensure_tools()?;
            probe(&args.input)?.require_constant_frame_rate()?
        }
        // The planner reads the rest (it probes the source its own way).
        Mode::Compact => {
            let (tools, video) = rayon::join(ensure_tools, || check_video(&args.input));
            tools?;
            video?
        }
    }
    let input = std::fs::canonicalize(&args.input)
        .with_context(|| format!("cannot read the input video {}", args.input.display()))?;
    let message = secrets::message(args.message.as_deref(), args.message_file.as_deref())?;
    if message.is_empty() {
        return Err(CoreError::EmptyMessage.into());
    }
    let password = secrets::password(&args.password, true)?;
    let params = SealParams {
        kdf_iterations: args.kdf_iterations,
        parity_shards: args.layout.parity,
        ..SealParams::default()
    };
    params.validate()?;
    let output_dir = std::fs::canonicalize(parent(&args.output))?;
    let output_name = args
        .output
        .file_name()
        .context("the output needs a file name")?
        .to_owned();
    let output = output_dir.join(&output_name);
    let id = job_id(&input, &output, &args)?;

    let work = output_dir.join(format!(".{}.vidstega", output_name.to_string_lossy()));
    let marker = work.join("job-id");
    let envelope_key = format!("jobs/{id}/payload.sealed");
    // Resume only with the very same message and password. Otherwise start
    // over: segments embedded for another payload must never be reused.
    let previous = (std::fs::read_to_string(&marker).ok().as_deref() == Some(id.as_str()))
        .then(|| FolderStore::open(work.join("store")).ok())
        .flatten()
        .and_then(|store| store.read_all(&envelope_key).ok())
        .and_then(|b| Envelope::parse(&b).ok())
        .filter(|env| unseal(env, &password).map(|m| m == *message).unwrap_or(false));
    if previous.is_none() && work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("cannot clear {}", work.display()))?;
    }
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    // Declared before the stores so it is dropped after them.
    let jobs_dir = work.join("store").join(format!("jobs/{id}"));
    let mut work_guard = WorkFolder {
        stored: vec![jobs_dir.join("segments"), jobs_dir.join("carriers")],
        path: work.clone(),
        finished: false,
    };
    std::fs::write(&marker, &id)?;
    let scratch = work.join("scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let store = FolderStore::open(work.join("store"))?;
    let jobs = SqliteJobStore::open(&work.join("jobs.sqlite"))?;

    let (key, envelope) = match previous {
        Some(env) => (PlacementKey::derive(&password), env),
        None => {
            let (key, env) = rayon::join(
                || PlacementKey::derive(&password),
                || seal(&message, &password, &params),
            );
            let env = env?;
            store.write_bytes(&envelope_key, &env.to_bytes())?;
            (key, env)
        }
    };
    let ext = input
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let video_key = format!("jobs/{id}/source.{ext}");
    store.link_external(&video_key, &input)?;
    let job = JobRecord::new(&id, &video_key, &envelope_key, "output");
    let settings = PlanSettings {
        mode: args.layout.mode.output_mode(),
        max_rate: args.layout.max_rate,
        transcode: args.transcode.policy(),
        container: Some(container),
        plane_set: args.layout.plane_set(),
        codec: match args.codec {
            Codec::H264 => LosslessCodec::H264 {
                preset: X264Preset::Ultrafast,
            },
            Codec::Ffv1 => LosslessCodec::Ffv1,
        },
        // Compact mode's segments are short ffmpeg runs (a few frames each)
        // and file copies: more at once than cores is fine.
        workers: match args.layout.mode {
            Mode::Compact => args
                .jobs
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)),
            Mode::Lossless => workers(args.jobs),
        },
        ..PlanSettings::default()
    };
    let bars = Bars::new(args.json);
    let partial = partial_name(&output);
    let _ = std::fs::remove_file(&partial);
    let run = run_embed(&store, &jobs, &scratch, &job, &key, &settings, &partial, &bars);
    bars.finish();
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
    };
    std::fs::rename(&partial, &output)
        .with_context(|| format!("cannot move the result to {}", output.display()))?;
    work_guard.finished = true;
    if !args.keep_work {
        let _ = std::fs::remove_dir_all(&work);
    }
    let plan = &run.planned.plan;
    let compact = plan.mode == vidstega_pipeline::contract::OutputMode::Compact;
    // Pictures the payload is spread over: carriers, or every frame.
    let pictures = if compact {
        plan.carriers.len() as u64
    } else {
        plan.frame_count
    };
    let warnings: Vec<String> = bars.warnings().into_iter().chain(run.output.warnings()).collect();
    let summary = Summary {
        output_bytes: std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0),
        input_bytes: std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0),
        output,
        mode: plan.mode.as_str(),
        frames: plan.frame_count,
        carriers: compact.then_some(pictures),
        segments: plan.segments.len(),
        segments_embedded: run.embedded,
        segments_resumed: run.skipped,
        message_bytes: message.len(),
        payload_bytes: envelope.header().body_len(),
        max_embedding_rate: {
            let g = vidstega_pipeline::geometry_of(&plan.raw_format()?)?;
            let samples = g.samples(plan.plane_set()) as f64;
            (vidstega_core::HEADER_BITS as f64 + (plan.body_bits as f64 / pictures.max(1) as f64).ceil())
                / samples
        },
        changed_samples: run.changed_samples,
        audio_streams: run.output.audio_streams(&run.planned.media),
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_bytes: crate::memory::peak_rss_bytes(),
        warnings,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for w in run.output.warnings() {
            eprintln!("warning: {w}");
        }
        let spread = if compact {
            format!(
                "{pictures} carrier picture(s) of {} frames, at most {:.1}% of a carrier's samples",
                summary.frames,
                summary.max_embedding_rate * 100.0
            )
        } else {
            format!(
                "{} frames, {} segments ({} resumed), at most {:.3}% of samples per frame",
                summary.frames,
                summary.segments,
                summary.segments_resumed,
                summary.max_embedding_rate * 100.0
            )
        };
        eprintln!(
            "embedded {} bytes ({} sealed) in {spread}",
            summary.message_bytes, summary.payload_bytes
        );
        let growth = if summary.input_bytes > 0 {
            format!(
                " ({:+.1}% on the source's {})",
                (summary.output_bytes as f64 / summary.input_bytes as f64 - 1.0) * 100.0,
                human_bytes(summary.input_bytes)
            )
        } else {
            String::new()
        };
        eprintln!(
            "wrote {}: {}{growth}, {} audio stream(s) copied, in {:.1} s",
            summary.output.display(),
            human_bytes(summary.output_bytes),
            summary.audio_streams,
            summary.seconds
        );
    }
    Ok(())
}

/// `12.3 MB`, `456 kB`, `789 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}
