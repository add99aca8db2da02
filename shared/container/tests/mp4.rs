//! MP4 / MOV fixtures.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Cursor, Read};

use vidstega_container::{
    plan_splice, plan_splice_with_limits, read_video_track, ContainerError, ContainerKind, Limits, NewSample,
};

use crate::common::*;

#[test]
fn mp4_moov_at_end() {
    full_check("moov-at-end.mp4");
}

#[test]
fn mp4_faststart() {
    full_check("faststart.mp4");
}

#[test]
fn mov_quicktime() {
    full_check("quicktime.mov");
}

#[test]
fn mp4_rotation_two_audio_tracks_and_chapters() {
    let src = fixture("rotated-two-audio-chapters.mp4");
    let probe = ffprobe_json(&["-show_streams", src.to_str().unwrap()]);
    let streams = probe["streams"].as_array().unwrap();
    assert!(streams.iter().filter(|s| s["codec_type"] == "audio").count() >= 2);
    assert!(
        probe.to_string().contains("rotation"),
        "fixture should carry a display matrix"
    );
    full_check("rotated-two-audio-chapters.mp4");
}

#[test]
fn mp4_two_mdat_boxes() {
    let src = fixture("two-mdat.mp4");
    let d = fs::read(&src).unwrap();
    assert_eq!(
        boxes(&d, 0, d.len()).iter().filter(|b| &b.0 == b"mdat").count(),
        2
    );
    full_check("two-mdat.mp4");
}

#[test]
fn mp4_compact_sample_sizes_become_stsz() {
    let dir = full_check("stz2.mp4");
    let d = fs::read(dir.path().join("out-stz2.mp4")).unwrap();
    let all = all_boxes(&d);
    assert!(all.iter().any(|b| &b.0 == b"stsz") && !all.iter().any(|b| &b.0 == b"stz2"));
}

#[test]
fn mp4_video_track_fields() {
    let t = read_video_track(&mut File::open(fixture("moov-at-end.mp4")).unwrap()).unwrap();
    assert_eq!(t.kind, ContainerKind::Mp4);
    assert_eq!(t.track_id, 1);
    assert_eq!(t.codec, "avc1");
    assert_eq!((t.width, t.height), (320, 240));
    assert_eq!(t.codec_private.first(), Some(&1), "avcC configurationVersion");
    assert_eq!(t.samples.len(), 100);
    assert!(t.samples[0].keyframe && t.samples[25].keyframe && !t.samples[1].keyframe);
}

/// Small thresholds force `co64` chunk offsets and 64-bit `mdat` sizes on
/// small files: moov before the data (its growth moves every chunk, fixed
/// point), after it, with the 8-byte `free`/`wide` placeholder before `mdat`
/// and without (second mdat of the two-mdat file).
#[test]
fn mp4_co64_and_64bit_mdat_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "moov-at-end.mp4",
        "faststart.mp4",
        "quicktime.mov",
        "two-mdat.mp4",
    ] {
        let src = fixture(name);
        let track = read_video_track(&mut File::open(&src).unwrap()).unwrap();
        let reps = h264_replacements(&src, &track);
        let new: BTreeMap<usize, NewSample> = reps
            .iter()
            .map(|(&i, r)| {
                (
                    i,
                    NewSample {
                        len: r.len() as u64,
                        crc32: None,
                    },
                )
            })
            .collect();
        let limits = Limits {
            offset32_max: 1000,
            size32_max: 1000,
        };
        let splice = plan_splice_with_limits(&mut File::open(&src).unwrap(), &track, &new, limits).unwrap();
        let out = dir.path().join(name);
        write_splice(&splice, &src, &reps, &out);
        let d = fs::read(&out).unwrap();
        let all = all_boxes(&d);
        assert!(all.iter().any(|b| &b.0 == b"co64"), "{name}: co64 expected");
        assert!(!all.iter().any(|b| &b.0 == b"stco"), "{name}: no stco expected");
        for m in boxes(&d, 0, d.len()).iter().filter(|b| &b.0 == b"mdat") {
            assert_eq!(m.2, 16, "{name}: every mdat that changed size uses largesize");
        }
        check_spliced(&src, &out, &reps);
    }
}

#[test]
fn mov_constant_sample_size_is_expanded() {
    let src = fixture("raw-constant-size.mov");
    let d = fs::read(&src).unwrap();
    let stsz = *all_boxes(&d).iter().find(|b| &b.0 == b"stsz").unwrap();
    assert_ne!(
        &d[stsz.1 + 12..stsz.1 + 16],
        &[0, 0, 0, 0],
        "fixture should have a constant sample size"
    );
    let track = check_samples_match_ffprobe(&src);
    check_identity(&src, &track);
    let n = track.samples.len();
    let bytes = |i: usize| {
        let s = track.samples[i];
        d[s.offset as usize..(s.offset + s.size) as usize].to_vec()
    };
    let mut reps = BTreeMap::new();
    for i in [0, 1, n / 2, n - 1] {
        let mut r = bytes(i);
        r.extend(std::iter::repeat_n(0x55, 1000 * (i + 1)));
        reps.insert(i, r);
    }
    let mut same = bytes(3);
    same.reverse();
    reps.insert(3, same);
    let splice = plan_splice(&mut File::open(&src).unwrap(), &track, &sizes_of(&reps)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("raw.mov");
    write_splice(&splice, &src, &reps, &out);
    let o = fs::read(&out).unwrap();
    let stsz = *all_boxes(&o).iter().find(|b| &b.0 == b"stsz").unwrap();
    assert_eq!(
        &o[stsz.1 + 12..stsz.1 + 16],
        &[0, 0, 0, 0],
        "stsz becomes a per-sample table"
    );
    let again = read_video_track(&mut File::open(&out).unwrap()).unwrap();
    for (i, r) in &reps {
        assert_eq!(again.samples[*i].size, r.len() as u64);
        let s = again.samples[*i];
        assert_eq!(&o[s.offset as usize..(s.offset + s.size) as usize], &r[..]);
    }
    let a = strip_pos(&packets(&src));
    let b = strip_pos(&packets(&out));
    assert_eq!(a.len(), b.len());
    let video = video_stream_index(&src);
    let mut vi = 0;
    for (pa, pb) in a.iter().zip(&b) {
        if pa["stream_index"].as_u64() == Some(video) {
            if let Some(r) = reps.get(&vi) {
                assert_eq!(
                    pb["data_hash"].as_str().unwrap(),
                    format!("SHA256:{}", sha256_hex(r))
                );
            } else {
                assert_eq!(pa, pb);
            }
            vi += 1;
        } else {
            assert_eq!(pa, pb, "audio packets unchanged");
        }
    }
}

#[test]
fn mp4_hevc_reads_and_copies() {
    let src = fixture("hevc.mp4");
    let track = check_samples_match_ffprobe(&src);
    assert_eq!(track.codec, "hvc1");
    assert!(!track.codec_private.is_empty(), "hvcC payload");
    check_identity(&src, &track);
}

fn unsupported(data: Vec<u8>) -> String {
    match read_video_track(&mut Cursor::new(data)) {
        Err(ContainerError::Unsupported { what }) => what,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn fragmented_mp4_is_unsupported() {
    let what = unsupported(fs::read(fixture("fragmented.mp4")).unwrap());
    assert!(what.contains("fragmented"), "{what}");
}

#[test]
fn external_data_reference_is_unsupported() {
    let mut d = fs::read(fixture("moov-at-end.mp4")).unwrap();
    let dref = *all_boxes(&d).iter().find(|b| &b.0 == b"dinf").unwrap();
    // dinf { dref { version/flags, count, url { version/flags } } }: clear the self-contained flag.
    let url = dref.1 + 8 + 16;
    assert_eq!(&d[url + 4..url + 8], b"url ");
    d[url + 11] = 0;
    let what = unsupported(d);
    assert!(what.contains("another file"), "{what}");
}

#[test]
fn encrypted_video_is_unsupported() {
    let mut d = fs::read(fixture("moov-at-end.mp4")).unwrap();
    let stsd = *all_boxes(&d).iter().find(|b| &b.0 == b"stsd").unwrap();
    let entry = stsd.1 + 16;
    assert_eq!(&d[entry + 4..entry + 8], b"avc1");
    d[entry + 4..entry + 8].copy_from_slice(b"encv");
    let what = unsupported(d);
    assert!(what.contains("encrypted"), "{what}");
}

#[test]
fn invalid_requests_are_rejected() {
    let src = fixture("moov-at-end.mp4");
    let track = read_video_track(&mut File::open(&src).unwrap()).unwrap();
    let out_of_range = BTreeMap::from([(track.samples.len(), 10u64)]);
    let e = plan_splice(&mut File::open(&src).unwrap(), &track, &out_of_range).unwrap_err();
    assert!(matches!(e, ContainerError::InvalidRequest { .. }), "{e}");
    let other = read_video_track(&mut File::open(fixture("faststart.mp4")).unwrap()).unwrap();
    let e = plan_splice(&mut File::open(&src).unwrap(), &other, &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, ContainerError::InvalidRequest { .. }), "{e}");
}

/// `reader()` yields the same bytes as `write_to()`, and a replacement of the
/// wrong length is an error, not a corrupt file.
#[test]
fn reader_matches_write_to_and_checks_lengths() {
    let src = fixture("faststart.mp4");
    let track = read_video_track(&mut File::open(&src).unwrap()).unwrap();
    let reps = h264_replacements(&src, &track);
    let splice = plan_splice(&mut File::open(&src).unwrap(), &track, &sizes_of(&reps)).unwrap();
    let mut a = Vec::new();
    splice
        .write_to(
            File::open(&src).unwrap(),
            |i| Ok(Box::new(&reps[&i][..]) as Box<dyn Read>),
            &mut a,
        )
        .unwrap();
    let mut b = Vec::new();
    let mut r = splice.reader(File::open(&src).unwrap(), |i| {
        Ok(Box::new(&reps[&i][..]) as Box<dyn Read>)
    });
    io::copy(&mut r, &mut b).unwrap();
    assert!(a == b);
    assert_eq!(a.len() as u64, splice.len());

    let short = |i: usize| Ok(Box::new(&reps[&i][1..]) as Box<dyn Read>);
    let e = splice
        .write_to(File::open(&src).unwrap(), short, io::sink())
        .unwrap_err();
    assert!(matches!(e, ContainerError::Replacement { sample: 0, .. }), "{e}");
    let long = |i: usize| Ok(Box::new(Cursor::new([&reps[&i][..], b"x"].concat())) as Box<dyn Read>);
    let e = splice
        .write_to(File::open(&src).unwrap(), long, io::sink())
        .unwrap_err();
    assert!(matches!(e, ContainerError::Replacement { sample: 0, .. }), "{e}");
}

#[test]
fn file_to_file_splice_matches_write_to_and_checks_lengths() {
    for name in ["faststart.mp4", "ffmpeg.mkv"] {
        let src = fixture(name);
        let track = read_video_track(&mut File::open(&src).unwrap()).unwrap();
        let reps = h264_replacements(&src, &track);
        let splice = plan_splice(&mut File::open(&src).unwrap(), &track, &sizes_of(&reps)).unwrap();
        let mut a = Vec::new();
        splice
            .write_to(
                File::open(&src).unwrap(),
                |i| Ok(Box::new(&reps[&i][..]) as Box<dyn Read>),
                &mut a,
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let written = splice
            .write_file_to(
                &File::open(&src).unwrap(),
                |i| Ok(Box::new(&reps[&i][..]) as Box<dyn Read>),
                &File::create(&out).unwrap(),
            )
            .unwrap();
        assert_eq!(written, splice.len());
        assert!(fs::read(&out).unwrap() == a, "{name}: the outputs differ");
        let first = *reps.keys().next().unwrap();
        let short = |i: usize| Ok(Box::new(&reps[&i][1..]) as Box<dyn Read>);
        let e = splice
            .write_file_to(&File::open(&src).unwrap(), short, &File::create(&out).unwrap())
            .unwrap_err();
        assert!(
            matches!(e, ContainerError::Replacement { sample, .. } if sample == first),
            "{e}"
        );
        let long = |i: usize| Ok(Box::new(Cursor::new([&reps[&i][..], b"x"].concat())) as Box<dyn Read>);
        let e = splice
            .write_file_to(&File::open(&src).unwrap(), long, &File::create(&out).unwrap())
            .unwrap_err();
        assert!(
            matches!(e, ContainerError::Replacement { sample, .. } if sample == first),
            "{e}"
        );
    }
}

/// The timestamps read from the MP4 tables equal ffprobe's packet
/// timestamps with edit lists ignored (`-ignore_editlist 1`, as compact
/// mode reads a source): every sample's pts and the time base, on the
/// kinds of file compact mode meets.
#[test]
fn mp4_timestamps_match_ffprobe_with_edit_lists_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let src = |name: &str, rate: &str, x264: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            &*Box::leak(format!("testsrc2=size=128x96:rate={rate}:duration=3").into_boxed_str()),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=3",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-x264-params",
            x264,
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ];
        args.extend_from_slice(extra);
        args.push(out.to_str().unwrap());
        ffmpeg(&args);
        out
    };
    // B-pyramid: an edit list that skips the reordering delay.
    let bframes = src("bframes.mp4", "25", "bframes=3:b-pyramid=normal:keyint=30", &[]);
    let mut files = vec![
        bframes.clone(),
        // Open GOPs in QuickTime.
        src("open-gop.mov", "25", "bframes=2:open-gop=1:keyint=20", &[]),
        // No B-frames, so no ctts.
        src("no-b.mp4", "25", "bframes=0:keyint=25", &[]),
        // An NTSC rate in a 90 kHz timescale.
        src(
            "ntsc.mp4",
            "30000/1001",
            "bframes=2:keyint=40",
            &["-video_track_timescale", "90000"],
        ),
        // Negative composition offsets (ctts version 1).
        src(
            "negative-cts.mp4",
            "25",
            "bframes=3:keyint=30",
            &["-movflags", "+negative_cts_offsets"],
        ),
        // A start offset: an empty edit first.
        src(
            "offset.mp4",
            "25",
            "bframes=2:keyint=30",
            &["-output_ts_offset", "1.5"],
        ),
    ];
    // A stream-copied cut: the edit list hides the pictures before the cut.
    let cut = dir.path().join("cut.mp4");
    ffmpeg(&[
        "-ss",
        "1.3",
        "-i",
        bframes.to_str().unwrap(),
        "-c",
        "copy",
        cut.to_str().unwrap(),
    ]);
    files.push(cut);
    let mut with_edit_lists = 0;
    for file in &files {
        let track = read_video_track(&mut File::open(file).unwrap()).unwrap();
        let timing = track
            .timing
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no timing", file.display()));
        with_edit_lists += usize::from(timing.edit_list);
        let v = ffprobe_json(&[
            "-ignore_editlist",
            "1",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=time_base:packet=pts,flags",
            file.to_str().unwrap(),
        ]);
        assert_eq!(
            v["streams"][0]["time_base"].as_str().unwrap(),
            format!("1/{}", timing.timescale),
            "{}: time base",
            file.display()
        );
        let probed: Vec<(i64, bool)> = v["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["pts"].as_i64().expect("every packet has a pts"),
                    p["flags"].as_str().unwrap().contains('K'),
                )
            })
            .collect();
        let read: Vec<(i64, bool)> = timing
            .pts
            .iter()
            .zip(&track.samples)
            .map(|(&pts, s)| (pts, s.keyframe))
            .collect();
        assert_eq!(read, probed, "{}: pts and keyframes", file.display());
    }
    assert!(with_edit_lists >= 3, "the fixtures should carry edit lists");
}
