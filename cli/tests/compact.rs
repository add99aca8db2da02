//! Compact mode through the `vidstega` binary, on x264 streams made here:
//! every packet of every stream but the carriers is the source's own (same
//! bytes, same timestamps), the carriers decode to the cover picture ±1,
//! the message comes back, and bad inputs are refused clearly.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One packet as ffprobe lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    stream: u64,
    pts: Option<i64>,
    dts: Option<i64>,
    duration: Option<i64>,
    flags: String,
    hash: String,
    pos: Option<u64>,
    size: u64,
}

/// Every packet of every stream, in file order, with a SHA-256 of its data.
/// A large probe window: a huge first carrier must not change which early
/// packets ffprobe inspects to guess missing timestamps.
fn packets(path: &Path) -> Vec<Packet> {
    let v = ffprobe_json(
        path,
        &[
            "-probesize",
            "2000M",
            "-analyzeduration",
            "2000M",
            "-show_entries",
            "packet=stream_index,pts,dts,duration,flags,pos,size,data_hash",
            "-show_data_hash",
            "sha256",
        ],
    );
    let num = |p: &Value, k: &str| {
        p[k].as_i64()
            .or_else(|| p[k].as_str().and_then(|s| s.parse().ok()))
    };
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Packet {
            stream: p["stream_index"].as_u64().unwrap(),
            pts: num(p, "pts"),
            dts: num(p, "dts"),
            duration: num(p, "duration"),
            flags: p["flags"].as_str().unwrap_or_default().to_string(),
            hash: p["data_hash"].as_str().unwrap().to_string(),
            pos: num(p, "pos").map(|x| x as u64),
            size: num(p, "size").unwrap() as u64,
        })
        .collect()
}

/// The stream and format report, without what a changed size changes.
fn streams_and_format(path: &Path) -> Value {
    let mut v = ffprobe_json(path, &["-show_streams", "-show_format"]);
    for s in v["streams"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("bit_rate");
        // MP4 stores the largest sample's bitrate in the sample entry
        // (btrt), which ffprobe does not report; Matroska's per-stream
        // statistics tags (mkvmerge) are copied as they were.
    }
    let f = v["format"].as_object_mut().unwrap();
    for k in ["size", "bit_rate", "filename"] {
        f.remove(k);
    }
    v
}

/// What a compact embed must keep and change, checked against real ffmpeg:
/// packets, timestamps, streams and container identical but the carriers;
/// frame count equal; exactly the carriers' pictures differ, each by at
/// most 1 per sample, in `changed_samples` samples; decoding is error-free.
/// Returns the stego's video packets that are carriers.
fn assert_compact_faithful(cover: &Path, stego: &Path, summary: &Value, pix_fmt: &str) -> Vec<Packet> {
    assert_eq!(summary["mode"], "compact");
    let carriers = summary["carriers"].as_u64().unwrap() as usize;
    assert!(carriers >= 1);
    let before = packets(cover);
    let after = packets(stego);
    assert_eq!(before.len(), after.len(), "packet count changed");
    let mut replaced = Vec::new();
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            (a.stream, a.pts, a.dts, a.duration),
            (b.stream, b.pts, b.dts, b.duration),
            "a packet's stream or timestamps changed"
        );
        if a.hash == b.hash {
            assert_eq!(a.flags, b.flags, "an unchanged packet's flags changed");
        } else {
            assert_eq!(b.stream, 0, "a packet of stream {} changed", b.stream);
            // The container's sync-sample tables are untouched, but FFmpeg's
            // parser flags an intra picture that others may reference (the
            // last picture of a GOP) as a keyframe on its own.
            assert!(
                a.flags == b.flags || (a.flags == "__" && b.flags == "K_"),
                "a carrier's flags changed from {} to {}",
                a.flags,
                b.flags
            );
            replaced.push(b.clone());
        }
    }
    assert_eq!(replaced.len(), carriers, "replaced video packets");
    assert_eq!(streams_and_format(cover), streams_and_format(stego));

    // Decoding: error-free, same frames but the carriers, each ±1.
    ffmpeg(&[
        "-err_detect",
        "explode",
        "-xerror",
        "-i",
        stego.to_str().unwrap(),
        "-f",
        "null",
        "-",
    ]);
    let facts = video_facts(stego);
    let planes = plane_lens(facts.width as usize, facts.height as usize, pix_fmt);
    let frame_len: usize = planes.iter().sum();
    let a = decode_raw(cover, pix_fmt);
    let b = decode_raw(stego, pix_fmt);
    assert_eq!(a.len(), b.len(), "cover and stego decode to different lengths");
    let (mut differing, mut changed, mut worst) = (0, 0u64, 0u8);
    for (fa, fb) in a.chunks_exact(frame_len).zip(b.chunks_exact(frame_len)) {
        if fa == fb {
            continue;
        }
        differing += 1;
        for (x, y) in fa.iter().zip(fb) {
            let d = x.abs_diff(*y);
            changed += (d != 0) as u64;
            worst = worst.max(d);
        }
    }
    assert_eq!(differing, carriers, "decoded frames that differ");
    assert!(worst <= 1, "a sample changed by {worst}");
    assert_eq!(changed, summary["changed_samples"].as_u64().unwrap());
    assert_eq!(summary["frames"].as_u64(), Some(facts.frames));
    assert_eq!(
        summary["audio_streams"].as_u64(),
        Some(audio_codecs(cover).len() as u64)
    );
    replaced
}

/// Embeds in compact mode (the default) and checks the round trip.
fn round_trip(
    cover: &Path,
    out_name: &str,
    message_len: usize,
    pix_fmt: &str,
    extra: &[&str],
) -> (Value, Vec<Packet>) {
    let stego = cover.with_file_name(out_name);
    let message = random_bytes(message_len, out_name);
    let mut args = vec!["--mode", "compact"];
    args.extend_from_slice(extra);
    let summary = embed_ok(cover, &stego, &message, &args);
    let replaced = assert_compact_faithful(cover, &stego, &summary, pix_fmt);
    assert_eq!(extract_ok(&stego), message);
    (summary, replaced)
}

fn x264(params: &str) -> Vec<&str> {
    vec!["-c:v", "libx264", "-preset", "veryfast", "-x264-params", params]
}

fn clip(
    dir: &Path,
    name: &str,
    size: &str,
    seconds: f64,
    video: &[&str],
    audio: &[&str],
) -> std::path::PathBuf {
    let mut opts: Vec<&str> = video.to_vec();
    opts.extend_from_slice(audio);
    let pic = picture(size, 25, seconds);
    let sound = tone(440, seconds);
    let sources: Vec<&str> = if audio.is_empty() {
        vec![&pic]
    } else {
        vec![&pic, &sound]
    };
    make_video(dir, name, &sources, &opts)
}

/// Names the picture types of the first video stream, so a test named for
/// B-frames can check it has them.
fn picture_types(path: &Path) -> String {
    ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=pict_type",
        "-of",
        "csv=p=0",
        path.to_str().unwrap(),
    ])
    .lines()
    .map(|l| l.trim().to_string())
    .collect()
}

#[test]
fn mp4_cabac_b_pyramid_with_aac_keeps_every_other_packet() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "640x360",
        4.0,
        &x264("bframes=3:b-pyramid=normal:keyint=50"),
        &["-c:a", "aac", "-pix_fmt", "yuv420p"],
    );
    assert!(picture_types(&cover).contains('B'), "the cover has B-frames");
    let (summary, _) = round_trip(&cover, "stego.mp4", 30_000, "yuv420p", &[]);
    assert!(summary["carriers"].as_u64().unwrap() >= 3, "{summary}");
    // About the source's size: the carriers cost about one raw picture each.
    let raw_picture = 640 * 368 * 3 / 2;
    let grew = summary["output_bytes"].as_u64().unwrap() - summary["input_bytes"].as_u64().unwrap();
    assert!(
        grew <= summary["carriers"].as_u64().unwrap() * raw_picture * 105 / 100 + 65536,
        "{summary}"
    );
}

#[test]
fn carriers_of_several_gops_are_decoded_by_one_ffmpeg() {
    // One segment (--jobs 1) whose carriers lie in several closed GOPs: one
    // ffmpeg decodes them all from the GOPs' packets piped to it, and the
    // covers are the pictures a decode of the file gives (checked ±1).
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "640x360",
        4.0,
        &x264("bframes=2:keyint=25:open-gop=0"),
        &["-c:a", "aac", "-pix_fmt", "yuv420p"],
    );
    // An ffmpeg that notes how it is run.
    let log = dir.path().join("ffmpeg.log");
    let noting = dir.path().join("ffmpeg");
    std::fs::write(
        &noting,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec ffmpeg \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&noting, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let stego = dir.path().join("stego.mp4");
    let message = random_bytes(30_000, "several gops");
    let file = dir.path().join("message.bin");
    std::fs::write(&file, &message).unwrap();
    let mut args = embed_args(&cover, &stego, &["--mode", "compact", "--jobs", "1"]);
    args.extend_from_slice(&["--message-file", file.to_str().unwrap()]);
    let mut c = command(&args);
    c.env("VIDSTEGA_FFMPEG", &noting);
    let summary = run_command(c, None).ok().json();
    assert!(summary["carriers"].as_u64().unwrap() >= 3, "{summary}");
    assert_compact_faithful(&cover, &stego, &summary, "yuv420p");
    assert_eq!(extract_ok(&stego), message);
    let runs = std::fs::read_to_string(&log).unwrap();
    let decodes: Vec<&str> = runs.lines().filter(|l| l.contains("rawvideo")).collect();
    assert_eq!(decodes.len(), 1, "{runs}");
    assert!(decodes[0].contains("pipe:0"), "{runs}");
}

#[test]
fn mkv_cavlc_without_b_frames_uses_the_last_picture_of_each_gop() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mkv",
        "320x240",
        6.0,
        &x264("cabac=0:bframes=0:keyint=25:min-keyint=25:scenecut=0"),
        &["-c:a", "libopus", "-pix_fmt", "yuv420p"],
    );
    assert!(!picture_types(&cover).contains('B'));
    // Six GOPs: six pictures can carry.
    let cap = vidstega(&["capacity", cover.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(cap["candidates"].as_u64(), Some(6), "{cap}");
    let (summary, _) = round_trip(&cover, "stego.mkv", 20_000, "yuv420p", &["--max-rate", "0.5"]);
    assert!(summary["carriers"].as_u64().unwrap() >= 2, "{summary}");
}

#[test]
fn mov_open_gop_with_several_slices_per_picture() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mov",
        "320x240",
        4.0,
        &x264("open-gop=1:slices=4:bframes=2:b-pyramid=0:keyint=20:min-keyint=20:scenecut=0"),
        &["-c:a", "pcm_s16le", "-pix_fmt", "yuv420p"],
    );
    let types = picture_types(&cover);
    let intra = types.matches('I').count();
    assert!(
        intra > 1 && types.contains('B'),
        "open GOPs with B-frames: {types}"
    );
    round_trip(&cover, "stego.mov", 8_000, "yuv420p", &[]);
}

#[test]
fn odd_size_with_cropping() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "322x242",
        3.0,
        &x264("bframes=2"),
        &["-pix_fmt", "yuv420p"],
    );
    let (summary, _) = round_trip(&cover, "stego.mp4", 5_000, "yuv420p", &[]);
    assert_eq!(summary["frames"].as_u64(), Some(75));
}

#[test]
fn high_444_cabac_and_high_422_cavlc() {
    let dir = tempdir();
    let c444 = clip(
        dir.path(),
        "c444.mp4",
        "320x240",
        2.0,
        &x264("bframes=2"),
        &["-pix_fmt", "yuv444p"],
    );
    assert_eq!(pix_fmt(&c444), "yuv444p");
    round_trip(&c444, "s444.mp4", 6_000, "yuv444p", &[]);
    let c422 = clip(
        dir.path(),
        "c422.mkv",
        "320x240",
        2.0,
        &x264("cabac=0:bframes=2"),
        &["-pix_fmt", "yuv422p"],
    );
    assert_eq!(pix_fmt(&c422), "yuv422p");
    round_trip(&c422, "s422.mkv", 6_000, "yuv422p", &["--planes", "luma"]);
}

#[test]
fn full_range_source_keeps_its_range() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "320x240",
        2.0,
        &x264("bframes=2"),
        &["-pix_fmt", "yuvj420p"],
    );
    assert_eq!(pix_fmt(&cover), "yuvj420p");
    round_trip(&cover, "stego.mp4", 4_000, "yuvj420p", &[]);
}

#[test]
fn container_changes_and_mpeg_ts_input_are_stream_copied_first() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.ts",
        "320x240",
        3.0,
        &x264("bframes=2"),
        &["-c:a", "aac", "-pix_fmt", "yuv420p"],
    );
    // MPEG-TS into MP4: a stream copy first, then the carriers.
    let stego = dir.path().join("stego.mp4");
    let message = random_bytes(5_000, "ts");
    let summary = embed_ok(&cover, &stego, &message, &["--mode", "compact"]);
    assert!(
        summary["warnings"]
            .to_string()
            .contains("copied into the .mp4 container"),
        "{summary}"
    );
    assert_eq!(extract_ok(&stego), message);
    let cap = vidstega(&["capacity", cover.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(cap["estimated"], false, "{cap}");
    // A fragmented MP4 into MP4: copied (defragmented) first.
    let fragmented = dir.path().join("fragmented.mp4");
    ffmpeg(&[
        "-i",
        stego.to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov",
        fragmented.to_str().unwrap(),
    ]);
    let stego_frag = dir.path().join("from-fragments.mp4");
    embed_ok(
        &fragmented,
        &stego_frag,
        b"from fragments",
        &["--mode", "compact"],
    );
    assert_eq!(extract_ok(&stego_frag), b"from fragments");
    // (MPEG-TS carries AAC with ADTS headers, MP4 without: those packets
    // change with the container.)
    assert_eq!(video_facts(&cover).frames, video_facts(&stego).frames);
    // MP4 into Matroska: the audio packets are the same bytes.
    let stego_mkv = dir.path().join("again.mkv");
    let summary = embed_ok(&stego, &stego_mkv, b"second", &["--mode", "compact"]);
    assert_eq!(summary["mode"], "compact");
    assert_eq!(extract_ok(&stego_mkv), b"second");
    assert_eq!(audio_hashes(&stego), audio_hashes(&stego_mkv));
}

#[test]
fn rotation_and_metadata_are_copied_byte_for_byte() {
    let dir = tempdir();
    let plain = clip(
        dir.path(),
        "plain.mp4",
        "320x240",
        2.0,
        &x264("bframes=2"),
        &["-c:a", "aac", "-pix_fmt", "yuv420p"],
    );
    // FFmpeg 5.1 writes a display matrix from the `rotate` tag when copying.
    let cover = dir.path().join("cover.mp4");
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v",
        "rotate=90",
        "-metadata",
        "title=Holiday",
        cover.to_str().unwrap(),
    ]);
    assert_eq!(rotation(&cover), 90);
    round_trip(&cover, "stego.mp4", 3_000, "yuv420p", &[]);
    assert_eq!(rotation(&dir.path().join("stego.mp4")), 90);
}

#[test]
fn capacity_is_exact_and_a_larger_message_says_how_much_fits() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "160x120",
        2.0,
        &x264("bframes=0:keyint=10:min-keyint=10"),
        &["-pix_fmt", "yuv420p"],
    );
    let cap = vidstega(&["capacity", cover.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(cap["mode"], "compact");
    assert_eq!(cap["candidates"].as_u64(), Some(5), "{cap}");
    let max = cap["max_message_bytes"].as_u64().unwrap();
    let text = String::from_utf8(
        vidstega(&["capacity", cover.to_str().unwrap()])
            .ok()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(text.contains(&format!("can carry {max} bytes")), "{text}");
    // Exactly the capacity fits (every candidate a carrier)...
    let (summary, _) = round_trip(&cover, "full.mp4", max as usize, "yuv420p", &[]);
    assert_eq!(summary["carriers"].as_u64(), Some(5));
    // ...one byte more does not, and the refusal says how much fits.
    let over = dir.path().join("over.bin");
    std::fs::write(&over, random_bytes(max as usize + 1, "full.mp4")).unwrap();
    let refused = dir.path().join("refused.mp4");
    let mut args = embed_args(&cover, &refused, &["--mode", "compact"]);
    args.extend_from_slice(&["--message-file", over.to_str().unwrap()]);
    vidstega(&args)
        .expect_code(3)
        .stderr_mentions(&[&format!("about {max} bytes"), "--max-rate"]);
    assert!(!refused.exists());
}

/// Overwrites bytes `range` of a file.
fn damage(path: &Path, at: u64, len: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&vec![0x5a; len]).unwrap();
}

#[test]
fn a_damaged_carrier_is_repaired_and_too_many_are_exit_5_with_counts() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "320x240",
        6.0,
        &x264("bframes=3:b-pyramid=0"),
        &["-pix_fmt", "yuv420p"],
    );
    // A low rate spreads the message over many carriers.
    let (summary, carriers) = round_trip(
        &cover,
        "stego.mp4",
        12_000,
        "yuv420p",
        &["--max-rate", "0.08", "--parity", "6"],
    );
    let count = summary["carriers"].as_u64().unwrap() as usize;
    assert!(count >= 8, "{summary}");
    let stego = dir.path().join("stego.mp4");
    let message = random_bytes(12_000, "stego.mp4");

    // One carrier's samples overwritten in the middle: its shards fail their
    // checksums and the parity rebuilds them.
    let one = dir.path().join("one.mp4");
    std::fs::copy(&stego, &one).unwrap();
    let c = &carriers[count / 2];
    damage(&one, c.pos.unwrap() + c.size / 3, (c.size / 3) as usize);
    let out = extract(&one, &["--json"]).ok().json();
    assert_eq!(out["damaged_frames"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(extract_ok(&one), message);

    // Half the carriers destroyed: beyond repair, said with counts.
    let half = dir.path().join("half.mp4");
    std::fs::copy(&stego, &half).unwrap();
    for c in carriers.iter().skip(1).step_by(2) {
        damage(&half, c.pos.unwrap() + 16, (c.size - 32) as usize);
    }
    extract(&half, &[])
        .expect_code(5)
        .stderr_mentions(&["damaged beyond repair", "shards"]);
}

#[test]
fn wrong_password_and_clean_video_find_no_message() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "320x240",
        2.0,
        &x264("bframes=2"),
        &["-pix_fmt", "yuv420p"],
    );
    let (_, _) = round_trip(&cover, "stego.mp4", 2_000, "yuv420p", &[]);
    let stego = dir.path().join("stego.mp4");
    let mut c = command(&["extract", stego.to_str().unwrap(), "--password-env", PW_VAR]);
    c.env(PW_VAR, "not the password");
    run_command(c, None)
        .expect_code(4)
        .stderr_mentions(&["no hidden message"]);
    extract(&cover, &[])
        .expect_code(4)
        .stderr_mentions(&["no hidden message"]);
}

#[test]
fn carriers_are_read_without_ffmpeg_and_a_lossless_file_then_asks_for_it() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "320x240",
        2.0,
        &x264("bframes=2"),
        &["-pix_fmt", "yuv420p"],
    );
    let message = random_bytes(1_500, "no ffmpeg");
    let stego = dir.path().join("stego.mp4");
    let summary = embed_ok(&cover, &stego, &message, &["--mode", "compact"]);
    assert_eq!(summary["mode"], "compact");
    let lossless = dir.path().join("lossless.mkv");
    embed_ok(&cover, &lossless, &message, &["--mode", "lossless"]);
    let without_tools = |file: &Path, password: &str| {
        let mut c = command(&["extract", file.to_str().unwrap(), "--password-env", PW_VAR]);
        c.env(PW_VAR, password)
            .env("VIDSTEGA_FFMPEG", "/nonexistent/ffmpeg")
            .env("VIDSTEGA_FFPROBE", "/nonexistent/ffprobe");
        run_command(c, None)
    };
    // Compact mode's carriers are I_PCM samples read straight from the file.
    let run = without_tools(&stego, PASSWORD);
    run.ok();
    assert_eq!(run.stdout, message);
    // A wrong password falls through to the every-frame reader, which needs
    // the tools: the missing tool is what is reported, not a wrong answer.
    without_tools(&stego, "not the password")
        .expect_code(6)
        .stderr_mentions(&["was not found", "install ffmpeg"]);
    // A lossless-mode file needs ffmpeg to decode its frames.
    without_tools(&lossless, PASSWORD)
        .expect_code(6)
        .stderr_mentions(&["was not found", "install ffmpeg"]);
}

#[test]
fn an_ffmpeg_too_old_is_exit_6_once_it_refuses_an_option() {
    // Compact mode locates the tools without running them; an FFmpeg
    // before 5.1 (no -fps_mode) is named when its first decode refuses.
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "160x120",
        1.0,
        &x264("bframes=2"),
        &["-pix_fmt", "yuv420p"],
    );
    let old = dir.path().join("old-ffmpeg");
    std::fs::write(
        &old,
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in\n  -version) echo 'ffmpeg version 4.4.2 Copyright (c) 2000-2021'; exit 0;;\n  \
         -fps_mode) echo \"Unrecognized option 'fps_mode'.\" >&2; exit 1;;\nesac; done\nexec ffmpeg \"$@\"\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let stego = dir.path().join("stego.mp4");
    let mut args = embed_args(&cover, &stego, &["--mode", "compact"]);
    args.extend_from_slice(&["--message", "hi"]);
    let mut c = command(&args);
    c.env("VIDSTEGA_FFMPEG", &old);
    run_command(c, None).expect_code(6).stderr_mentions(&[
        "version 4.4.2",
        "5.1 or newer",
        "VIDSTEGA_FFMPEG",
    ]);
    assert_only(dir.path(), &["cover.mp4", "old-ffmpeg"]);
}

#[test]
fn streams_that_cannot_hold_carriers_are_transcoded_or_refused_with_the_reason() {
    let dir = tempdir();
    // Interlaced (field-coded) H.264.
    let mut video = x264("bframes=2:interlaced=1");
    video.extend_from_slice(&["-flags", "+ildct+ilme"]);
    let cover = clip(
        dir.path(),
        "interlaced.mp4",
        "320x240",
        1.0,
        &video,
        &["-pix_fmt", "yuv420p"],
    );
    let out = dir.path().join("out.mp4");
    let mut args = embed_args(&cover, &out, &["--mode", "compact", "--transcode", "never"]);
    args.extend_from_slice(&["--message", "hi"]);
    vidstega(&args)
        .expect_code(3)
        .stderr_mentions(&["interlaced", "--mode lossless", "--transcode never"]);
    assert!(!out.exists());
    // Allowed (the default): transcoded once, then carriers as usual.
    let summary = embed_ok(&cover, &out, b"through a transcode", &["--mode", "compact"]);
    assert!(
        summary["warnings"].to_string().contains("transcoded"),
        "{summary}"
    );
    assert_eq!(extract_ok(&out), b"through a transcode");
}

#[test]
fn hevc_source_goes_through_the_transcode_path() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mkv",
        "320x240",
        2.0,
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
        ],
        &["-c:a", "libopus", "-pix_fmt", "yuv420p"],
    );
    let stego = dir.path().join("stego.mkv");
    let message = random_bytes(4_000, "hevc");
    let summary = embed_ok(&cover, &stego, &message, &["--mode", "compact"]);
    assert!(
        summary["warnings"].to_string().contains("transcoded"),
        "{summary}"
    );
    let v = ffprobe_json(&stego, &["-select_streams", "v:0", "-show_streams"]);
    assert_eq!(v["streams"][0]["codec_name"], "h264");
    // capacity says what the transcode will hold, as an estimate.
    let cap = vidstega(&["capacity", cover.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(cap["estimated"], true, "{cap}");
    assert!(cap["max_message_bytes"].as_u64().unwrap() > 4_000, "{cap}");
    assert_eq!(
        audio_hashes(&cover),
        audio_hashes(&stego),
        "audio copied through the transcode"
    );
    assert_eq!(video_facts(&cover).frames, video_facts(&stego).frames);
    assert_eq!(extract_ok(&stego), message);
}

#[test]
fn compact_output_is_a_normal_h264_stream_of_the_source_profile() {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        "640x360",
        2.0,
        &x264("bframes=2"),
        &["-pix_fmt", "yuv420p"],
    );
    round_trip(&cover, "stego.mp4", 10_000, "yuv420p", &[]);
    let probe = |p: &Path| -> BTreeMap<String, Value> {
        let v = ffprobe_json(p, &["-select_streams", "v:0", "-show_streams"]);
        let s = v["streams"][0].as_object().unwrap().clone();
        [
            "codec_name",
            "profile",
            "level",
            "pix_fmt",
            "codec_tag_string",
            "has_b_frames",
            "refs",
        ]
        .iter()
        .map(|k| (k.to_string(), s.get(*k).cloned().unwrap_or(Value::Null)))
        .collect()
    };
    let before = probe(&cover);
    assert_eq!(before["profile"], "High");
    assert_eq!(before, probe(&dir.path().join("stego.mp4")));
}

/// A second player: headless Chromium plays the output in a `<video>`,
/// seeks to every carrier and two ordinary pictures and draws them to a
/// canvas; each equals FFmpeg's decode (converted as Chromium converts)
/// exactly. A corrupt carrier and one with wrong pixels fail the same
/// check, so it can fail.
fn assert_plays_in_chromium(size: &str, message_len: usize) {
    let dir = tempdir();
    let cover = clip(
        dir.path(),
        "cover.mp4",
        size,
        2.0,
        &x264("bframes=2:keyint=25"),
        &["-c:a", "aac", "-pix_fmt", "yuv420p"],
    );
    let stego = dir.path().join("stego.mp4");
    let summary = embed_ok(
        &cover,
        &stego,
        &random_bytes(message_len, "browser"),
        &["--mode", "compact"],
    );
    let check = browser::check_carriers_play_in_chromium(&cover, &stego);
    eprintln!("{check}");
    assert_eq!(check.carriers.len() as u64, summary["carriers"].as_u64().unwrap());
    assert!(check.frames.iter().filter(|f| f.carrier).count() >= 1);
    assert!(check.frames.iter().any(|f| !f.carrier));
    eprintln!("{}", browser::broken_carrier_is_caught(&cover, &stego));
    eprintln!("{}", browser::altered_carrier_is_caught(&cover, &stego));
}

#[test]
fn carriers_play_in_headless_chromium_odd_size() {
    assert_plays_in_chromium("322x242", 6_000);
}

#[test]
fn carriers_play_in_headless_chromium_720p() {
    assert_plays_in_chromium("1280x720", 20_000);
}
