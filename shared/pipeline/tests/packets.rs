//! Compact mode reads the source's packet timestamps from its container's
//! tables instead of ffprobe's packet listing: the probe must come out
//! exactly as with the listing (the decoder checks every frame's timestamp
//! against it), and anything the tables cannot vouch for falls back to it.
//! A source analysed ahead of the plan is used for that file only.

use std::fs::File;
use std::path::{Path, PathBuf};
use vidstega_media::{probe_with, probe_with_known_packets, KnownPackets, ProbeOptions, Rational};
use vidstega_pipeline::H264Track;
use vidstega_test_support::{ffmpeg, make_video, picture, tone};

const RAW: ProbeOptions = ProbeOptions { raw_timeline: true };

/// A 3 s clip with audio, x264 with `params`, in `name`'s container.
fn clip(dir: &Path, name: &str, rate: &str, params: &str, extra: &[&str]) -> PathBuf {
    let mut options = vec![
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-x264-params",
        params,
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
    ];
    options.extend_from_slice(extra);
    make_video(
        dir,
        name,
        &[&picture("128x96", rate, 3.0), &tone(440, 3.0)],
        &options,
    )
}

fn track(path: &Path) -> H264Track {
    H264Track::open(&mut File::open(path).unwrap()).unwrap()
}

#[test]
fn container_packets_probe_exactly_as_ffprobe_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bframes = clip(
        d,
        "b-pyramid.mp4",
        "25",
        "bframes=3:b-pyramid=normal:keyint=30",
        &[],
    );
    let cut = d.join("cut.mp4");
    ffmpeg(&[
        "-ss",
        "1.3",
        "-i",
        bframes.to_str().unwrap(),
        "-c",
        "copy",
        cut.to_str().unwrap(),
    ]);
    let files = [
        bframes,
        cut,
        clip(d, "open-gop.mov", "25", "bframes=2:open-gop=1:keyint=20", &[]),
        clip(d, "no-b.mp4", "25", "bframes=0:keyint=25", &[]),
        clip(
            d,
            "ntsc.mp4",
            "30000/1001",
            "bframes=2:keyint=40",
            &["-video_track_timescale", "90000"],
        ),
        clip(
            d,
            "negative-cts.mp4",
            "25",
            "bframes=3:keyint=30",
            &["-movflags", "+negative_cts_offsets"],
        ),
        clip(
            d,
            "offset.mp4",
            "25",
            "bframes=2:keyint=30",
            &["-output_ts_offset", "1.5"],
        ),
    ];
    for file in &files {
        let known = track(file)
            .container_packets()
            .unwrap_or_else(|| panic!("{}: no container packets", file.display()));
        let from_tables = probe_with_known_packets(file, RAW, None, Some(&known)).unwrap();
        let listed = probe_with(file, RAW).unwrap();
        assert_eq!(from_tables, listed, "{}", file.display());
        assert!(listed.video.frame_count > 30, "{}", file.display());
    }
}

#[test]
fn packets_the_tables_cannot_vouch_for_are_listed_by_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = clip(dir.path(), "b.mp4", "25", "bframes=2:keyint=30", &[]);
    let listed = probe_with(&mp4, RAW).unwrap();
    let known = track(&mp4).container_packets().unwrap();
    // Another stream's id, another time base, or timestamps shifted: the
    // probe does not take them, and lists the packets instead.
    let wrong_id = KnownPackets {
        stream_id: known.stream_id + 1,
        ..known.clone()
    };
    let wrong_base = KnownPackets {
        time_base: Rational::new(1, 1000),
        ..known.clone()
    };
    for wrong in [&wrong_id, &wrong_base] {
        assert_eq!(
            probe_with_known_packets(&mp4, RAW, None, Some(wrong)).unwrap(),
            listed
        );
    }
    // Edit lists applied (the default options): the tables do not apply
    // them, so they are not used either.
    assert_eq!(
        probe_with_known_packets(&mp4, ProbeOptions::default(), None, Some(&known)).unwrap(),
        probe_with(&mp4, ProbeOptions::default()).unwrap()
    );
    // The check is real: timestamps the probe does take change the result.
    let shifted = KnownPackets {
        packets: known.packets.iter().map(|&(pts, key)| (pts + 1, key)).collect(),
        ..known
    };
    assert_ne!(
        probe_with_known_packets(&mp4, RAW, None, Some(&shifted)).unwrap(),
        listed
    );
    // Matroska: block timestamps are not read from the tables (yet).
    let mkv = clip(dir.path(), "b.mkv", "25", "bframes=2:keyint=30", &[]);
    assert!(track(&mkv).container_packets().is_none());
}

#[test]
fn a_source_analysed_ahead_is_used_only_for_the_same_file() {
    use crate::job::{settings, LocalJob};
    use vidstega_pipeline::contract::OutputMode;
    use vidstega_pipeline::{
        analyse_local_source, plan_job, MediaSource, NoProgress, ObjectStore, PlanSettings,
    };

    let job = LocalJob::new("ahead", b"analysed while sealing");
    let upload = match job.store.media_source(&job.job.video_key).unwrap() {
        MediaSource::Path(path) => path,
        MediaSource::Url(_) => unreachable!("a folder store gives paths"),
    };
    let dir = tempfile::tempdir().unwrap();
    let other = clip(dir.path(), "other.mp4", "25", "bframes=2:keyint=25", &[]);
    // Another file's analysis is not taken for the upload's.
    let elsewhere = analyse_local_source(&other, None, None).expect("an MP4 usable as it is");
    let planned = plan_job(
        &job.store,
        &job.jobs,
        &job.scratch,
        &job.job,
        &job.key,
        &PlanSettings {
            source_analysis: Some(elsewhere),
            ..settings(OutputMode::Compact)
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!((planned.plan.width, planned.plan.height), (160, 120));
    assert_eq!(planned.media.path, upload);
    // A job's own upload analysed ahead: the plan is made from it.
    let second = LocalJob::new("ahead-2", b"analysed while sealing");
    let upload = match second.store.media_source(&second.job.video_key).unwrap() {
        MediaSource::Path(path) => path,
        MediaSource::Url(_) => unreachable!("a folder store gives paths"),
    };
    let ahead = analyse_local_source(&upload, None, None).expect("the upload is usable as it is");
    let planned = plan_job(
        &second.store,
        &second.jobs,
        &second.scratch,
        &second.job,
        &second.key,
        &PlanSettings {
            source_analysis: Some(ahead),
            ..settings(OutputMode::Compact)
        },
        &NoProgress,
    )
    .unwrap();
    let fresh = vidstega_pipeline::carrier_capacity(
        &upload,
        vidstega_core::PlaneSet::All,
        0.25,
        &vidstega_core::SealParams::default(),
    )
    .unwrap();
    assert_eq!(planned.plan.candidates, fresh.candidates);
    assert_eq!(planned.media.path, upload);
}
