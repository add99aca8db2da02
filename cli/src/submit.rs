//! `vidstega submit`: check the input, seal the message locally, upload the
//! video, the sealed payload and the placement key, and start a cloud job.
//!
//! The password never leaves the machine: only the sealed payload (AES-GCM
//! ciphertext with Reed–Solomon parity) and the 32-byte placement key (which
//! says where the bits go, and opens nothing) are uploaded.
//!
//! Two transports:
//!
//! * `--presign-url URL`: the presign function creates the job and returns
//!   three presigned PUT URLs; the uploads' S3 notifications start the job.
//! * `--bucket B --queue-url Q`: the objects are uploaded with the caller's
//!   own AWS credentials (multipart for the video), then a job message is sent
//!   to the jobs queue.

use crate::args::{Container, SubmitArgs, UsageError};
use crate::cloud::{bytes_bar, check_job_id, jobs_url, new_job_id, wants_signing, Http, InputError, Sdk};
use crate::secrets;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use vidstega_aws::{S3Store, SqsQueue};
use vidstega_core::{
    capacity, carriers_needed, check_fits, seal, seal_for_placement, CoreError, PlacementKey, PlaneSet,
    SealParams,
};
use vidstega_media::{choose_raw_format, ensure_tools, probe, MediaInfo, OutputContainer, SegmentCodec};
use vidstega_pipeline::contract::{
    keys, ContainerName, ErrorBody, JobCreated, JobMessage, JobOptions, OutputMode, Planes, Robustness,
};
use vidstega_pipeline::{carrier_capacity, geometry_of, CarrierCapacity, ObjectStore};

/// The largest object a single presigned PUT can upload (S3's limit).
pub const PRESIGNED_PUT_LIMIT: u64 = 5 << 30;

#[derive(Serialize)]
struct Summary {
    job_id: String,
    transport: &'static str,
    container: ContainerName,
    planes: Planes,
    frames: u64,
    video_bytes: u64,
    message_bytes: usize,
    payload_bytes: usize,
    max_message_bytes: u64,
    mode: &'static str,
    seconds: f64,
}

/// Refuses a `--container` that cannot hold the source's streams, as the
/// service would later: lossless mode writes new video and copies the
/// audio into it; compact mode copies everything, into another container
/// only when the source's family differs.
fn check_container(media: &MediaInfo, container: Container, mode: OutputMode) -> Result<()> {
    let c = match container {
        Container::Mkv => OutputContainer::Matroska,
        Container::Mp4 => OutputContainer::Mp4,
        Container::Mov => OutputContainer::Mov,
    };
    if mode == OutputMode::Compact {
        let matroska = media.format_name.contains("matroska");
        let mp4 = media.format_name.contains("mp4");
        let same_family = match c {
            OutputContainer::Matroska => matroska,
            OutputContainer::Mp4 | OutputContainer::Mov => mp4,
        };
        if same_family {
            return Ok(());
        }
    } else if mode == OutputMode::Lossless && !c.holds_video(&SegmentCodec::default()) {
        return Err(InputError(format!(
            "--container {} cannot hold the lossless video the job writes; use --container mkv",
            container.name()
        ))
        .into());
    }
    for a in &media.audio {
        if !c.holds_audio(&a.codec_name) {
            return Err(InputError(format!(
                "the source's audio stream #{} is {}, which cannot be copied into {c} without re-encoding; \
                 use --container mkv",
                a.index, a.codec_name
            ))
            .into());
        }
    }
    Ok(())
}

/// What the video can carry, checked before anything is uploaded.
enum Fit {
    /// Lossless mode: every frame carries.
    Frames {
        geometry: vidstega_core::FrameGeometry,
        plane_set: PlaneSet,
        frames: u64,
    },
    /// Compact mode: carrier pictures.
    Carriers { capacity: CarrierCapacity, rate: f64 },
    /// Robust mode: hold periods of block means.
    Robust {
        capacity: vidstega_robust::Capacity,
        robustness: Robustness,
    },
}

impl Fit {
    fn max_message_bytes(&self, params: &SealParams) -> Result<u64> {
        Ok(match self {
            Fit::Frames {
                geometry,
                plane_set,
                frames,
            } => capacity(geometry, *plane_set, *frames, params)?.max_message_bytes,
            Fit::Carriers { capacity, .. } => capacity.max_message_bytes,
            Fit::Robust { capacity, .. } => capacity.message_bytes,
        })
    }

    /// Refuses a sealed payload the video cannot carry.
    fn check(&self, header: &vidstega_core::EnvelopeHeader) -> Result<()> {
        match self {
            Fit::Frames {
                geometry,
                plane_set,
                frames,
            } => {
                check_fits(header, geometry, *plane_set, *frames)?;
            }
            Fit::Carriers { capacity, rate } => {
                let needed = carriers_needed(header.body_bits(), capacity.samples_per_carrier, *rate)?;
                if needed > capacity.candidates {
                    bail!(InputError(format!(
                        "the message needs {needed} carrier pictures at --max-rate {rate} but the video has {}; \
                         about {} bytes fit",
                        capacity.candidates, capacity.max_message_bytes
                    )));
                }
            }
            Fit::Robust { capacity, robustness } => {
                let payload = vidstega_core::ENVELOPE_HEADER_LEN as u64 + header.body_len();
                if payload > capacity.payload_bytes {
                    bail!(InputError(format!(
                        "the sealed message is {payload} bytes but this video carries at most {} in robust mode \
                         (--robustness {robustness}); about {} bytes of message fit",
                        capacity.payload_bytes, capacity.message_bytes
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Where the files go, set up (and its configuration checked) before the
/// password is asked for.
enum Transport {
    /// The presign Function URL (`…/jobs`) and the client that calls it.
    Presign { url: String, http: Http },
    /// The caller's own access to the bucket and the queue.
    Direct {
        bucket: String,
        queue_url: String,
        sdk: Sdk,
    },
}

/// What is uploaded for one job.
struct Upload<'a> {
    input: &'a Path,
    video_bytes: u64,
    payload: &'a [u8],
    key: &'a PlacementKey,
    container: ContainerName,
    mode: OutputMode,
    max_rate: f64,
    robustness: Robustness,
    planes: Planes,
    quiet: bool,
}

/// Runs `vidstega submit`.
pub fn run(args: SubmitArgs) -> Result<()> {
    let started = Instant::now();
    args.layout.check()?;
    let plane_set = args.layout.plane_set();
    let mode = args.layout.mode.output_mode();
    if args.auth.sign && args.presign_url.is_none() {
        return Err(UsageError(
            "--sign is for --presign-url; --bucket and --queue-url use your AWS credentials anyway".into(),
        )
        .into());
    }
    let presign_url = args.presign_url.as_deref().map(jobs_url).transpose()?;
    let sign = match presign_url {
        Some(_) => wants_signing(args.auth.sign)?,
        None => false,
    };

    // Everything that can be checked locally fails here, before any upload.
    ensure_tools()?;
    let media = probe(&args.input)?;
    let container = args.container.unwrap_or(match mode {
        OutputMode::Lossless => Container::Mkv,
        OutputMode::Robust => Container::Mp4,
        // The source's own family, so the service patches it as it is.
        OutputMode::Compact if media.format_name.contains("matroska") => Container::Mkv,
        OutputMode::Compact => Container::Mp4,
    });
    if mode != OutputMode::Compact {
        media.require_constant_frame_rate()?;
    }
    check_container(&media, container, mode)?;
    let video_bytes = std::fs::metadata(&args.input)
        .with_context(|| format!("cannot read the input video {}", args.input.display()))?
        .len();
    if presign_url.is_some() && video_bytes > PRESIGNED_PUT_LIMIT {
        return Err(InputError(format!(
            "{} is {video_bytes} bytes; a presigned upload takes at most 5 GiB. Upload it with --bucket and \
             --queue-url (multipart) instead",
            args.input.display()
        ))
        .into());
    }
    let params = SealParams {
        kdf_iterations: args.kdf_iterations,
        parity_shards: args.layout.parity,
        ..SealParams::default()
    };
    params.validate()?;
    let frames = media.video.frame_count;
    let fit = match mode {
        OutputMode::Lossless => {
            let format = choose_raw_format(&media.video, Some(&SegmentCodec::default())).format;
            Fit::Frames {
                geometry: geometry_of(&format)?,
                plane_set,
                frames,
            }
        }
        OutputMode::Compact => Fit::Carriers {
            capacity: carrier_capacity(&args.input, plane_set, args.layout.max_rate, &params)?,
            rate: args.layout.max_rate,
        },
        OutputMode::Robust => Fit::Robust {
            capacity: crate::capacity::robust_capacity(&media, args.layout.robustness.option().preset()),
            robustness: args.layout.robustness.option(),
        },
    };
    let max_message_bytes = fit.max_message_bytes(&params)?;
    // Read no more of the message than can fit (an endless standard input
    // ends with an error, not with the memory exhausted).
    let room = secrets::Room {
        bytes: max_message_bytes,
        exact: !matches!(&fit, Fit::Carriers { capacity, .. } if capacity.estimated),
    };
    if args.message.is_some() {
        crate::output::note(secrets::MESSAGE_FLAG_WARNING);
    }
    let message = secrets::message(args.message.as_deref(), args.message_file.as_deref(), &mut || {
        Ok(room)
    })?;
    if message.is_empty() {
        return Err(CoreError::EmptyMessage.into());
    }
    let transport = match (presign_url, &args.bucket, &args.queue_url) {
        (Some(url), _, _) => Transport::Presign {
            url,
            http: Http::new(sign)?,
        },
        (None, Some(bucket), Some(queue_url)) => Transport::Direct {
            bucket: bucket.clone(),
            queue_url: queue_url.clone(),
            sdk: Sdk::load_checked()?,
        },
        _ => bail!(UsageError(
            "give --presign-url URL, or --bucket B with --queue-url Q".into()
        )),
    };

    let password = secrets::password(&args.password, true)?;
    // Robust mode's own LDPC code repairs bit errors: its envelope takes one
    // parity shard (see `robust_seal_params`).
    // Compact and lossless mode salt the placement key with the payload's
    // own salt (the service cannot attack every job with one dictionary
    // pass); robust mode uses the fixed-salt key, as its pictures keep no
    // sample exact.
    let (key, envelope) = match mode {
        OutputMode::Robust => {
            let params = vidstega_robust::robust_seal_params(message.len() as u64, args.kdf_iterations);
            let (key, envelope) = rayon::join(
                || PlacementKey::derive(&password),
                || seal(&message, &password, &params),
            );
            (key, envelope?)
        }
        OutputMode::Compact | OutputMode::Lossless => seal_for_placement(&message, &password, &params)?,
    };
    drop(password);
    fit.check(envelope.header())?;
    let payload = envelope.to_bytes();
    drop(envelope);

    let upload = Upload {
        input: &args.input,
        video_bytes,
        payload: &payload,
        key: &key,
        container: container.name(),
        mode,
        max_rate: args.layout.max_rate,
        robustness: args.layout.robustness.option(),
        planes: match plane_set {
            PlaneSet::Luma => Planes::Luma,
            PlaneSet::All => Planes::All,
        },
        quiet: args.json,
    };
    let (job_id, name) = match &transport {
        Transport::Presign { url, http } => (submit_presigned(url, http, &upload)?, "presign"),
        Transport::Direct {
            bucket,
            queue_url,
            sdk,
        } => (submit_direct(sdk, bucket, queue_url, &upload)?, "queue"),
    };
    let summary = Summary {
        job_id,
        transport: name,
        container: upload.container,
        planes: upload.planes,
        frames,
        video_bytes,
        message_bytes: message.len(),
        payload_bytes: payload.len(),
        max_message_bytes,
        mode: mode.as_str(),
        seconds: started.elapsed().as_secs_f64(),
    };
    if args.json {
        crate::output::line(serde_json::to_string_pretty(&summary)?)?;
    } else {
        crate::output::line(&summary.job_id)?;
        let how = match transport {
            Transport::Presign { .. } => "--status-url URL",
            Transport::Direct { .. } => "--table TABLE",
        };
        crate::output::note(format_args!(
            "submitted {}: {} bytes of video, {} sealed bytes ({} bytes of message), output .{}; \
             follow it with: vidstega status {} {how} --follow",
            summary.job_id,
            video_bytes,
            summary.payload_bytes,
            summary.message_bytes,
            summary.container,
            summary.job_id
        ));
    }
    Ok(())
}

/// The presign transport: create the job, then PUT the three files.
fn submit_presigned(url: &str, http: &Http, up: &Upload<'_>) -> Result<String> {
    let what = "creating the job at the presign function";
    let options = JobOptions {
        container: Some(up.container),
        planes: Some(up.planes),
        mode: Some(up.mode),
        max_rate: Some(up.max_rate),
        robustness: (up.mode == OutputMode::Robust).then_some(up.robustness),
    };
    let (status, answer) = http.call_json("POST", url, Some(&serde_json::to_value(&options)?), what)?;
    if !(200..300).contains(&status) {
        let detail = serde_json::from_value::<ErrorBody>(answer)
            .map(|b| b.error)
            .unwrap_or_else(|_| "no reason given".into());
        let hint = match status {
            401 | 403 if !http.signs() => " (if the stack's FunctionUrlAuthType is AWS_IAM, add --sign)",
            401 | 403 => " (check that your AWS credentials may invoke the function URL)",
            _ => "",
        };
        bail!("{what}: HTTP {status}: {detail}{hint}");
    }
    let created: JobCreated = serde_json::from_value(answer)
        .map_err(|e| anyhow!("{what}: the presign function's answer is not a new job: {e}"))?;
    let job_id = created.job_id;
    check_job_id(&job_id).context("the presign function returned a malformed job id")?;
    let video_url = created.uploads.video.url.as_str();
    let payload_url = created.uploads.payload.url.as_str();
    let key_url = created.uploads.placement_key.url.as_str();

    // The video first: if it fails, nothing about the message was sent.
    let file =
        std::fs::File::open(up.input).with_context(|| format!("cannot read {}", up.input.display()))?;
    let bar = bytes_bar(up.quiet, up.video_bytes, "upload");
    http.put(
        video_url,
        bar.wrap_read(file),
        up.video_bytes,
        "uploading the video",
    )?;
    bar.finish_and_clear();
    http.put(
        payload_url,
        up.payload,
        up.payload.len() as u64,
        "uploading the sealed payload",
    )?;
    http.put(key_url, &up.key.as_bytes()[..], 32, "uploading the placement key")?;
    Ok(job_id)
}

/// The queue transport: upload with `S3Store` (the video streamed from disk,
/// multipart above 8 MiB), then send a job message. On failure the uploads
/// are deleted again (best effort).
fn submit_direct(sdk: &Sdk, bucket: &str, queue_url: &str, up: &Upload<'_>) -> Result<String> {
    let clients = sdk.clients();
    let store = S3Store::new(clients.s3, bucket, sdk.handle());
    let queue = SqsQueue::new(clients.sqs, queue_url);
    let job_id = new_job_id()?;
    let upload_all = || -> Result<()> {
        // The options first, so whichever upload notification starts the job
        // starts it with them; then the video.
        let options = JobOptions {
            container: Some(up.container),
            planes: Some(up.planes),
            mode: Some(up.mode),
            max_rate: Some(up.max_rate),
            robustness: (up.mode == OutputMode::Robust).then_some(up.robustness),
        };
        store
            .write_bytes(&keys::options(&job_id), &serde_json::to_vec(&options)?)
            .context("cannot upload the job options")?;
        let file =
            std::fs::File::open(up.input).with_context(|| format!("cannot read {}", up.input.display()))?;
        let bar = bytes_bar(up.quiet, up.video_bytes, "upload");
        let mut reader = bar.wrap_read(file);
        let n = store
            .put_stream(&keys::video(&job_id), &mut reader)
            .context("cannot upload the video")?;
        bar.finish_and_clear();
        if n != up.video_bytes {
            bail!(
                "uploaded {n} bytes of {} but it has {}; did it change while uploading?",
                up.input.display(),
                up.video_bytes
            );
        }
        store
            .write_bytes(&keys::payload(&job_id), up.payload)
            .context("cannot upload the sealed payload")?;
        store
            .write_bytes(&keys::placement_key(&job_id), up.key.as_bytes())
            .context("cannot upload the placement key")?;
        Ok(())
    };
    let clean_up = || {
        for k in [
            keys::placement_key(&job_id),
            keys::payload(&job_id),
            keys::video(&job_id),
            keys::options(&job_id),
        ] {
            let _ = store.delete(&k);
        }
    };
    if let Err(e) = upload_all() {
        clean_up();
        return Err(e);
    }
    let message = JobMessage {
        job_id: job_id.clone(),
        video_key: None,
        payload_key: None,
        container: Some(up.container),
        planes: Some(up.planes),
        mode: Some(up.mode),
        max_rate: Some(up.max_rate),
        robustness: (up.mode == OutputMode::Robust).then_some(up.robustness),
    };
    if let Err(e) = sdk.rt.block_on(queue.send_json(&message)) {
        clean_up();
        return Err(
            anyhow::Error::new(e).context("uploaded, but cannot send the job message; nothing was started")
        );
    }
    Ok(job_id)
}
