//! Matroska / WebM fixtures.

use std::collections::BTreeMap;
use std::fs::{self, File};

use vidstega_container::{plan_splice, read_video_track, ContainerError, ContainerKind};

use crate::common::*;

/// ffmpeg's writer: CRC-32 in every level-1 element, subtitles in BlockGroups,
/// Cues after the Clusters.
#[test]
fn mkv_ffmpeg_with_opus_and_subtitles() {
    full_check("ffmpeg.mkv");
}

/// Cues written into reserved space at the front: their growth comes out of
/// the following Void, so the Clusters do not move.
#[test]
fn mkv_cues_in_front() {
    let src = fixture("cues-front.mkv");
    let (_, kids) = level1(&fs::read(&src).unwrap());
    let cues = kids.iter().position(|e| e.id == 0x1C53BB6B).unwrap();
    let first_cluster = kids.iter().position(|e| e.id == 0x1F43B675).unwrap();
    assert!(cues < first_cluster, "fixture should have its Cues in front");
    assert_eq!(kids[cues + 1].id, 0xEC, "a Void follows the Cues");
    let dir = full_check("cues-front.mkv");
    let out = dir.path().join("out-cues-front.mkv");
    let (_, out_kids) = level1(&fs::read(out).unwrap());
    let start = |k: &[El]| k.iter().find(|e| e.id == 0x1F43B675).unwrap().start;
    assert_eq!(start(&kids), start(&out_kids), "the first Cluster did not move");
}

/// Written to a pipe: unknown Segment size.
#[test]
fn mkv_live_unknown_segment_size() {
    let d = fs::read(fixture("live.mkv")).unwrap();
    let (seg, _) = level1(&d);
    assert!(seg.unknown, "fixture should have an unknown-size Segment");
    full_check("live.mkv");
}

/// Clusters with unknown sizes (as live streams write them).
#[test]
fn mkv_unknown_size_clusters() {
    full_check("unknown-size-clusters.mkv");
}

/// mkvmerge's writer: laced audio, a Void after the SeekHead, no CRC-32,
/// two audio tracks and chapters.
#[test]
fn mkvmerge_two_audio_tracks_and_chapters() {
    full_check("mkvmerge.mkv");
}

/// Video in BlockGroups (keyframe = no ReferenceBlock).
#[test]
fn mkvmerge_blockgroups() {
    let d = fs::read(fixture("mkvmerge-blockgroups.mkv")).unwrap();
    let (_, kids) = level1(&d);
    let cluster = kids.iter().find(|e| e.id == 0x1F43B675).unwrap();
    assert!(
        children(&d, cluster).iter().any(|e| e.id == 0xA0),
        "fixture should use BlockGroups"
    );
    full_check("mkvmerge-blockgroups.mkv");
}

#[test]
fn webm_vp9_reads_and_copies() {
    let src = fixture("vp9.webm");
    let track = check_samples_match_ffprobe(&src);
    assert_eq!(track.codec, "V_VP9");
    check_identity(&src, &track);
}

#[test]
fn mkv_video_track_fields() {
    let t = read_video_track(&mut File::open(fixture("ffmpeg.mkv")).unwrap()).unwrap();
    assert_eq!(t.kind, ContainerKind::Matroska);
    assert_eq!(t.track_id, 1);
    assert_eq!(t.codec, "V_MPEG4/ISO/AVC");
    assert_eq!((t.width, t.height), (320, 240));
    assert_eq!(t.codec_private.first(), Some(&1), "avcC configurationVersion");
    assert_eq!(t.samples.len(), 100);
}

#[test]
fn compressed_video_track_is_unsupported() {
    match read_video_track(&mut File::open(fixture("mkvmerge-zlib.mkv")).unwrap()) {
        Err(ContainerError::Unsupported { what }) => assert!(what.contains("ContentEncodings"), "{what}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn mkv_sample_index_out_of_range() {
    let src = fixture("ffmpeg.mkv");
    let track = read_video_track(&mut File::open(&src).unwrap()).unwrap();
    let e = plan_splice(
        &mut File::open(&src).unwrap(),
        &track,
        &BTreeMap::from([(1000, 5)]),
    )
    .unwrap_err();
    assert!(matches!(e, ContainerError::InvalidRequest { .. }), "{e}");
}
