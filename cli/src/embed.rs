//! `vidstega embed`: seal locally, then run the local pipeline.
//!
//! The work folder `.<output name>.vidstega/` beside the output holds the
//! folder store (sealed payload, plan, encoded segments) and the SQLite job
//! table. Running the same command again after an interruption resumes: the
//! finished segments are kept. The payload stored there is sealed
//! (encrypted); the password, key and message are never written. The folder
//! is locked (`lock`, an advisory file lock holding the process id) for the
//! whole run, so a second embed to the same output refuses at once.

use crate::args::{require_video_file, workers, Codec, EmbedArgs, Mode};
use crate::disk::{self, DiskError, Needs};
use crate::outfile::{
    check_writable, parent, partial_name, refuse_folder, refuse_same_file, OutputError, WorkLock, LOCK_NAME,
};
use crate::output::{count, note};
use crate::progress::Bars;
use crate::secrets::{self, Room, MESSAGE_FLAG_WARNING};
use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;
use vidstega_core::{
    capacity, carriers_needed, max_message_len, seal, seal_for_placement, unseal, CoreError, Envelope,
    PlacementKey, SealParams, PICTURE_OVERHEAD_BITS,
};
use vidstega_local::{FolderStore, SqliteJobStore};
use vidstega_media::{
    choose_raw_format, ensure_tools, joins_in_one_pass, locate_tools, probe, probe_header_report, MediaError,
    MediaInfo, OutputContainer, ProbeOptions, SegmentCodec, StreamReport, VideoHeader, X264Preset,
};
use vidstega_pipeline::{
    analyse_local_source, carrier_capacity, geometry_of, gop_segments, run_embed, target_frames, JobRecord,
    ObjectStore, PlanSettings, SourceAnalysis,
};

/// Above this share of a picture's samples carrying a bit, the embedding is
/// easier to detect by steganalysis, and the summary says so.
pub const DETECTABLE_RATE: f64 = 0.5;

#[derive(Serialize)]
struct Summary {
    output: PathBuf,
    output_bytes: u64,
    input_bytes: u64,
    mode: &'static str,
    frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    carriers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    robustness: Option<&'static str>,
    /// Robust mode: the raw bit error rate the output itself reads back
    /// at (before error correction): the margin left for re-encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    robust_read_back_error_rate: Option<f64>,
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
        "{:?}{:?}{:?}{:?}{}{}{:?}{}",
        args.layout.mode,
        args.layout.robustness,
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
    finished: bool,
}

/// Whether a job in the work folder `path` has finished work worth
/// resuming (an embedded segment or carrier).
fn holds_finished_work(path: &Path) -> bool {
    std::fs::read_dir(path.join("store/jobs"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|job| {
            ["segments", "carriers"]
                .iter()
                .any(|dir| std::fs::read_dir(job.path().join(dir)).is_ok_and(|mut d| d.next().is_some()))
        })
}

impl WorkFolder {
    /// Whether a job in the folder has finished work worth resuming.
    fn resumable(&self) -> bool {
        holds_finished_work(&self.path)
    }

    /// Removes everything but the lock file (held by this run).
    fn clear(&self) -> Result<()> {
        let cannot = || format!("cannot clear {}", self.path.display());
        for entry in std::fs::read_dir(&self.path).with_context(cannot)? {
            let entry = entry.with_context(cannot)?;
            if entry.file_name() == LOCK_NAME {
                continue;
            }
            let path = entry.path();
            if entry.file_type().with_context(cannot)?.is_dir() {
                std::fs::remove_dir_all(&path).with_context(cannot)?;
            } else {
                std::fs::remove_file(&path).with_context(cannot)?;
            }
        }
        Ok(())
    }
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        // Interrupted (Ctrl-C): the handler keeps the folder for the rerun.
        if !self.finished && !crate::interrupt::interrupted() && !self.resumable() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The largest message (compressed) that fits in compact mode: what
/// `vidstega capacity` reports, or, for a video that must be transcoded
/// first (whose capacity is an estimate), what every frame carrying would
/// hold.
fn compact_room(args: &EmbedArgs, params: &SealParams) -> Result<Room> {
    let c = carrier_capacity(&args.input, args.layout.plane_set(), args.layout.max_rate, params)?;
    if !c.estimated {
        return Ok(Room {
            bytes: c.max_message_bytes,
            exact: true,
        });
    }
    // The estimate counts ⌊frames × 7/10⌋ candidates.
    let frames = (c.candidates + 1) * 10 / 7 + 1;
    let per_carrier = ((args.layout.max_rate * c.samples_per_carrier as f64).floor() as u64)
        .saturating_sub(PICTURE_OVERHEAD_BITS);
    Ok(Room {
        bytes: max_message_len(params, per_carrier.saturating_mul(frames))?,
        exact: false,
    })
}

/// Lossless mode's disk needs: the plan's estimate of the output and, unless
/// its one segment is written straight into the output, the segments.
fn lossless_needs(media: &MediaInfo, settings: &PlanSettings, container: OutputContainer) -> Result<Needs> {
    let frames = media.video.frame_count;
    let target = target_frames(
        frames,
        settings.workers,
        settings.min_segment_frames,
        settings.max_segment_frames,
    );
    let segments = gop_segments(frames, &media.video.keyframes, target)?.len();
    let one_pass = segments == 1 && joins_in_one_pass(media, container);
    Ok(Needs::lossless(
        frames,
        media.video.width,
        media.video.height,
        one_pass,
    ))
}

/// Compact mode's disk needs: the source and the carriers the payload
/// needs at `max_rate` of their luma samples (a 4:2:2 or 4:4:4 source, or
/// one embedding in every plane, needs fewer), and a copy of the source
/// when its container family is not the output's.
fn compact_needs(
    header: &VideoHeader,
    input: &Path,
    container: OutputContainer,
    envelope: &Envelope,
    max_rate: f64,
) -> Needs {
    let samples = u64::from(header.width) * u64::from(header.height);
    let body_bits = envelope.header().body_len().saturating_mul(8);
    let carriers = carriers_needed(body_bits, samples, max_rate).unwrap_or(1);
    let same_family = matches!(
        (OutputContainer::from_path(input), container),
        (Ok(OutputContainer::Matroska), OutputContainer::Matroska)
            | (
                Ok(OutputContainer::Mp4 | OutputContainer::Mov),
                OutputContainer::Mp4 | OutputContainer::Mov
            )
    );
    Needs::compact(
        header.size_bytes,
        carriers,
        disk::carrier_bytes_420(header.width, header.height),
        !same_family,
    )
}

/// Refuses an embed whose output and work cannot fit on the disk holding
/// the output (and its work folder, beside it).
fn check_disk(output_given: &Path, output_dir: &Path, work: &Path, needs: Needs, mode: Mode) -> Result<()> {
    let free = disk::free_bytes(output_dir)
        .with_context(|| format!("cannot read the free space of {}", output_dir.display()))?;
    let kept = disk::tree_size(work);
    tracing::debug!(output = needs.output, work = needs.work, free, kept, "disk space");
    if disk::shortfall(needs, free, kept).is_none() {
        return Ok(());
    }
    Err(DiskError::TooSmall {
        output: output_given.to_path_buf(),
        work: work.to_path_buf(),
        needs,
        free,
        kept,
        hint: match mode {
            Mode::Lossless => "; compact mode (the default) writes an output about the size of the source",
            Mode::Compact | Mode::Robust => "",
        },
    }
    .into())
}

/// The input check running in the background (compact mode's stream
/// report), if any.
type HeaderCheck = std::thread::JoinHandle<Result<CheckedInput, MediaError>>;

/// What the input check in the background found: the header, ffprobe's
/// stream report, and, when the video can be used as it is, the plan's
/// analysis of it (a read of the whole file, done while the payload is
/// sealed).
type CheckedInput = (VideoHeader, StreamReport, Option<SourceAnalysis>);

/// Waits for the input check's verdict.
fn join_check(check: HeaderCheck) -> Result<CheckedInput, MediaError> {
    check
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `result`, unless the input check in the background finds a problem
/// with the input video: that is reported first, as if it had been checked
/// before. On an error the check is waited for; on success it keeps
/// running.
fn input_first<T>(check: &mut Option<HeaderCheck>, result: Result<T>) -> Result<T> {
    if result.is_ok() {
        return result;
    }
    match check.take().map(join_check) {
        Some(Err(input)) => Err(input.into()),
        Some(Ok(done)) => {
            // Not needed any more: the run ends with `result`'s error.
            drop(done);
            result
        }
        None => result,
    }
}

/// Runs `vidstega embed`.
pub fn run(args: EmbedArgs) -> Result<()> {
    let started = Instant::now();
    refuse_folder(&args.output)?;
    refuse_same_file(&args.input, &args.output)?;
    let container = OutputContainer::from_path(&args.output)?;
    check_writable(&args.output, args.force)?;
    let output_dir = std::fs::canonicalize(parent(&args.output))?;
    let output_name = args
        .output
        .file_name()
        .context("the output needs a file name")?
        .to_owned();
    let output = output_dir.join(&output_name);
    // One run at a time per output: the work folder is locked before
    // anything else is done, and the lock is held to the end (it is declared
    // before the folder's guard, so it is released after the guard's cleanup).
    let work = output_dir.join(format!(".{}.vidstega", output_name.to_string_lossy()));
    let _lock = WorkLock::acquire(&work, &args.output)?;
    let mut work_guard = WorkFolder {
        path: work.clone(),
        finished: false,
    };
    // A run that held the lock until now may have written the output.
    if output.exists() && !args.force {
        return Err(OutputError::Exists(args.output.clone()).into());
    }
    require_video_file(&args.input)?;
    args.layout.check()?;
    let params = SealParams {
        kdf_iterations: args.kdf_iterations,
        parity_shards: args.layout.parity,
        ..SealParams::default()
    };
    params.validate()?;
    let codec = match args.codec {
        Codec::H264 => SegmentCodec::H264Lossless {
            preset: X264Preset::Ultrafast,
        },
        Codec::Ffv1 => SegmentCodec::Ffv1,
    };
    // Check the input before anything is stored: its problems are then
    // reported against the user's own path (not the work folder's link to
    // it) and leave nothing behind (the guard removes the folder holding
    // only the lock). Compact mode copies timestamps, so a
    // variable frame rate is fine there. A tool problem is reported first.
    let (media, mut header_check) = match args.layout.mode {
        Mode::Lossless | Mode::Robust => {
            ensure_tools()?;
            let media = probe(&args.input)?;
            media.require_constant_frame_rate()?;
            (Some(media), None)
        }
        // The planner reads the rest. Compact mode needs no encoder (a
        // transcode reports a missing libx264 itself): the tools are only
        // located here, not run, and an FFmpeg too old is reported when it
        // first refuses an option. The header is read the way the planner
        // probes the source (edit lists ignored), so the planner can use
        // this stream report instead of running ffprobe again. That ffprobe
        // (a process start, ~0.1 s) runs while the message is read and
        // sealed; its verdict is still given before any other problem and
        // before anything in the work folder changes (`input_first`).
        Mode::Compact => {
            locate_tools()?;
            let path = args.input.clone();
            let check = std::thread::Builder::new()
                .name("input-check".into())
                .spawn(move || {
                    let (header, report) = probe_header_report(&path, ProbeOptions { raw_timeline: true })?;
                    let analysis = analyse_local_source(&path, Some(container), Some(&report));
                    Ok((header, report, analysis))
                })
                .context("cannot start a thread")?;
            (None, Some(check))
        }
    };
    let input = input_first(
        &mut header_check,
        std::fs::canonicalize(&args.input)
            .with_context(|| format!("cannot read the input video {}", args.input.display())),
    )?;
    let partial = partial_name(&output);
    crate::report::name_paths(&work, &partial, &input, &args.input, &args.output);
    crate::interrupt::watch(work.clone(), holds_finished_work);
    let mut room = || -> Result<Room> {
        match &media {
            Some(media) if args.layout.mode == Mode::Robust => Ok(Room {
                bytes: crate::capacity::robust_capacity(media, args.layout.robustness.option().preset())
                    .message_bytes,
                exact: true,
            }),
            Some(media) => {
                let format = choose_raw_format(&media.video, Some(&codec)).format;
                let c = capacity(
                    &geometry_of(&format)?,
                    args.layout.plane_set(),
                    media.video.frame_count,
                    &params,
                )?;
                Ok(Room {
                    bytes: c.max_message_bytes,
                    exact: true,
                })
            }
            None => compact_room(&args, &params),
        }
    };
    if args.message.is_some() {
        note(MESSAGE_FLAG_WARNING);
    }
    let message = input_first(
        &mut header_check,
        secrets::message(args.message.as_deref(), args.message_file.as_deref(), &mut room),
    )?;
    if message.is_empty() {
        return input_first(&mut header_check, Err(CoreError::EmptyMessage.into()));
    }
    // A prompt waits for the user: say what is wrong with the input first.
    let checked = match header_check.take() {
        Some(check) if !secrets::password_is_given(&args.password) => Some(join_check(check)?),
        pending => {
            header_check = pending;
            None
        }
    };
    let password = input_first(&mut header_check, secrets::password(&args.password, true))?;
    // From here on, Ctrl-C says what is kept and how to resume (before,
    // there is nothing to keep: the default action applies).
    crate::interrupt::install();
    let id = input_first(&mut header_check, job_id(&input, &output, &args))?;

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
    let resuming = previous.is_some();
    // Compact and lossless mode salt the placement key with the payload's
    // own salt, which every carrying picture holds; robust mode's pictures
    // keep no sample exact, so it uses the fixed-salt key.
    let sealed = match (previous, args.layout.mode) {
        (Some(env), Mode::Robust) => Ok((PlacementKey::derive(&password), env, false)),
        (Some(env), Mode::Compact | Mode::Lossless) => {
            Ok((PlacementKey::derive_for(&password, env.header()), env, false))
        }
        (None, Mode::Robust) => {
            // Robust mode's own LDPC code repairs bit errors: its envelope
            // takes one parity shard (see `robust_seal_params`).
            let params = vidstega_robust::robust_seal_params(message.len() as u64, args.kdf_iterations);
            let (key, env) = rayon::join(
                || PlacementKey::derive(&password),
                || seal(&message, &password, &params),
            );
            env.map(|env| (key, env, true))
        }
        (None, Mode::Compact | Mode::Lossless) => {
            seal_for_placement(&message, &password, &params).map(|(key, env)| (key, env, true))
        }
    };
    let (key, envelope, sealed_now) = input_first(&mut header_check, sealed.map_err(anyhow::Error::from))?;
    let (header, source_report, source_analysis) =
        match header_check.take().map(join_check).transpose()?.or(checked) {
            Some((header, report, analysis)) => (Some(header), Some(report), analysis),
            None => (None, None, None),
        };
    if !resuming {
        work_guard.clear()?;
    }
    let settings = PlanSettings {
        mode: args.layout.mode.output_mode(),
        max_rate: args.layout.max_rate,
        robustness: args.layout.robustness.option(),
        transcode: args.transcode.policy(),
        container: Some(container),
        plane_set: args.layout.plane_set(),
        codec,
        // Compact mode's segments are short ffmpeg runs (a few frames each)
        // and file copies: more at once than cores is fine.
        workers: match args.layout.mode {
            Mode::Compact => args
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)),
            Mode::Lossless | Mode::Robust => workers(args.jobs),
        },
        source_report,
        source_analysis,
        ..PlanSettings::default()
    };
    // Nothing is written to the work folder before the disk is known to
    // hold the output and the work (the lock file is all there is).
    let needs = match (&media, &header) {
        (Some(media), _) if args.layout.mode == Mode::Robust => {
            Needs::robust(media.video.frame_count, media.video.width, media.video.height)
        }
        (Some(media), _) => lossless_needs(media, &settings, container)?,
        (None, Some(header)) => compact_needs(header, &input, container, &envelope, args.layout.max_rate),
        (None, None) => unreachable!("each mode reads the input's header or probes it"),
    };
    check_disk(&args.output, &output_dir, &work, needs, args.layout.mode)?;
    std::fs::write(&marker, &id)?;
    let scratch = work.join("scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let store = FolderStore::open(work.join("store"))?;
    let jobs = SqliteJobStore::open(&work.join("jobs.sqlite"))?;
    if sealed_now {
        store.write_bytes(&envelope_key, &envelope.to_bytes())?;
    }
    let ext = input
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let video_key = format!("jobs/{id}/source.{ext}");
    store.link_external(&video_key, &input)?;
    let job = JobRecord::new(&id, &video_key, &envelope_key, "output");
    let _ = std::fs::remove_file(&partial);
    let bars = Bars::new(args.json);
    let run = run_embed(&store, &jobs, &scratch, &job, &key, &settings, &partial, &bars);
    bars.finish();
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            let e = anyhow::Error::from(e);
            if disk::full(&e) {
                let full = DiskError::Full {
                    output: args.output.clone(),
                    work: work.clone(),
                    resumable: work_guard.resumable(),
                };
                return Err(e.context(full));
            }
            return Err(e);
        }
    };
    if output.exists() && !args.force {
        let _ = std::fs::remove_file(&partial);
        return Err(OutputError::Exists(args.output.clone()).into());
    }
    std::fs::rename(&partial, &output)
        .with_context(|| format!("cannot move the result to {}", output.display()))?;
    work_guard.finished = true;
    if !args.keep_work {
        let _ = std::fs::remove_dir_all(&work);
    }
    let plan = &run.planned.plan;
    let compact = plan.mode == vidstega_pipeline::contract::OutputMode::Compact;
    let robust = plan.mode == vidstega_pipeline::contract::OutputMode::Robust;
    // Pictures the payload is spread over: carriers, or every frame.
    let pictures = if compact {
        plan.carriers.len() as u64
    } else {
        plan.frame_count
    };
    let max_embedding_rate = {
        let g = vidstega_pipeline::geometry_of(&plan.raw_format()?)?;
        let samples = g.samples(plan.plane_set()) as f64;
        (PICTURE_OVERHEAD_BITS as f64 + (plan.body_bits as f64 / pictures.max(1) as f64).ceil()) / samples
    };
    // Said after the run (the conversions were said as they happened).
    let mut late_warnings = run.output.warnings();
    if max_embedding_rate > DETECTABLE_RATE && !robust {
        late_warnings.push(detectable_warning(max_embedding_rate, compact));
    }
    let warnings: Vec<String> = bars
        .warnings()
        .into_iter()
        .chain(late_warnings.iter().cloned())
        .collect();
    let summary = Summary {
        output_bytes: std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0),
        input_bytes: std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0),
        output,
        mode: plan.mode.as_str(),
        frames: plan.frame_count,
        carriers: compact.then_some(pictures),
        robustness: plan.robustness.filter(|_| robust).map(|r| r.as_str()),
        robust_read_back_error_rate: run.robust.as_ref().map(|r| r.slot_ber),
        segments: plan.segments.len(),
        segments_embedded: run.embedded,
        segments_resumed: run.skipped,
        message_bytes: message.len(),
        payload_bytes: envelope.header().body_len(),
        max_embedding_rate,
        changed_samples: run.changed_samples,
        audio_streams: run.output.audio_streams(&run.planned.media),
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_bytes: crate::memory::peak_rss_bytes(),
        warnings,
    };
    if args.json {
        crate::output::line(serde_json::to_string_pretty(&summary)?)?;
    } else {
        for w in &late_warnings {
            note(format!("warning: {w}"));
        }
        let spread = if robust {
            format!(
                "{} in robust mode ({} preset; its own output reads back at a {:.2}% raw bit error rate \
                 before error correction)",
                count(summary.frames, "frame", "frames"),
                summary.robustness.unwrap_or("normal"),
                summary.robust_read_back_error_rate.unwrap_or(0.0) * 100.0
            )
        } else if compact {
            format!(
                "{} of {}, at most {:.1}% of a carrier's samples",
                count(pictures, "carrier picture", "carrier pictures"),
                count(summary.frames, "frame", "frames"),
                summary.max_embedding_rate * 100.0
            )
        } else {
            format!(
                "{}, {} ({} resumed), at most {:.3}% of samples per frame",
                count(summary.frames, "frame", "frames"),
                count(summary.segments as u64, "segment", "segments"),
                summary.segments_resumed,
                summary.max_embedding_rate * 100.0
            )
        };
        note(format!(
            "embedded {} ({} sealed) in {spread}",
            count(summary.message_bytes as u64, "byte", "bytes"),
            summary.payload_bytes
        ));
        let growth = if summary.input_bytes > 0 {
            format!(
                " ({:+.1}% on the source's {})",
                (summary.output_bytes as f64 / summary.input_bytes as f64 - 1.0) * 100.0,
                human_bytes(summary.input_bytes)
            )
        } else {
            String::new()
        };
        note(format!(
            "wrote {}: {}{growth}, {} copied, in {:.1} s",
            summary.output.display(),
            human_bytes(summary.output_bytes),
            count(summary.audio_streams as u64, "audio stream", "audio streams"),
            summary.seconds
        ));
    }
    Ok(())
}

/// The warning for an embedding rate above [`DETECTABLE_RATE`], and what
/// lowers it.
fn detectable_warning(rate: f64, compact: bool) -> String {
    let lower = if compact {
        "a lower --max-rate spreads it over more carrier pictures"
    } else {
        "a shorter message or a longer video lowers it"
    };
    format!(
        "up to {:.0}% of a picture's samples carry a bit of the message; above {:.0}% steganalysis finds the \
         change more easily ({lower})",
        rate * 100.0,
        DETECTABLE_RATE * 100.0
    )
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
        count(bytes, "byte", "bytes")
    }
}
