use crate::support::{access_units, annex_b, decode, encode, noise, planes};
use vidstega_h264::nal::{nal_ref_idc, slice_type};
use vidstega_h264::{
    eligible_carriers, read_carrier, write_carrier, AccessUnitKind, CarrierRead, ParameterSets, PictureShape,
};

/// Which picture kinds a test stream must contain, so that a test named for
/// B-frames really has them.
#[derive(Clone, Copy, Default)]
struct Expect {
    b_slices: bool,
    referenced_b: bool,
    non_idr_i: bool,
    several_slices: bool,
}

struct Stream {
    units: Vec<Vec<Vec<u8>>>,
    sets: ParameterSets,
    shape: PictureShape,
    pix_fmt: &'static str,
}

fn stream(
    dir: &std::path::Path,
    name: &str,
    size: &str,
    pix_fmt: &'static str,
    frames: u32,
    x264: &str,
) -> Stream {
    let bytes = encode(dir, name, size, pix_fmt, frames, x264);
    let units: Vec<Vec<Vec<u8>>> = access_units(&bytes)
        .into_iter()
        .map(|u| u.into_iter().map(|n| n.to_vec()).collect())
        .collect();
    let mut sets = ParameterSets::in_band();
    for nal in units.iter().flatten() {
        sets.add(nal).unwrap();
    }
    let shape = sets.carrier_shape().unwrap();
    Stream {
        units,
        sets,
        shape,
        pix_fmt,
    }
}

fn kinds(units: &[Vec<Vec<u8>>]) -> Vec<AccessUnitKind> {
    units.iter().map(|u| AccessUnitKind::from_nal_units(u)).collect()
}

fn check_expectations(s: &Stream, expect: Expect) {
    let slices: Vec<(u32, u8, usize)> = s
        .units
        .iter()
        .filter_map(|u| {
            let vcl: Vec<&Vec<u8>> = u.iter().filter(|n| slice_type(n).is_some()).collect();
            vcl.first()
                .map(|n| (slice_type(n).unwrap() % 5, nal_ref_idc(n), vcl.len()))
        })
        .collect();
    if expect.b_slices {
        assert!(slices.iter().any(|&(t, _, _)| t == 1), "the stream has B slices");
    }
    if expect.referenced_b {
        assert!(
            slices.iter().any(|&(t, r, _)| t == 1 && r != 0),
            "the stream has reference B pictures"
        );
    }
    if expect.non_idr_i {
        let idr = kinds(&s.units).iter().filter(|k| k.is_idr).count();
        let i = slices.iter().filter(|&&(t, _, _)| t == 2).count();
        assert!(i > idr, "the stream has non-IDR I pictures ({i} I, {idr} IDR)");
    }
    if expect.several_slices {
        assert!(
            slices.iter().all(|&(_, _, n)| n > 1),
            "every picture has several slices"
        );
    }
}

fn frame_len(shape: &PictureShape) -> usize {
    shape
        .display_planes()
        .iter()
        .map(|&(w, h)| (w * h) as usize)
        .sum()
}

/// The planes a carrier for access unit `unit` is filled with in these tests.
fn carrier_planes(shape: &PictureShape, unit: usize) -> Vec<Vec<u8>> {
    shape
        .display_planes()
        .iter()
        .enumerate()
        .map(|(p, &(w, h))| noise((unit * 3 + p) as u64 + 1, (w * h) as usize))
        .collect()
}

fn replace(s: &Stream, which: &[usize]) -> Vec<Vec<Vec<u8>>> {
    let mut units = s.units.clone();
    for &i in which {
        let p = carrier_planes(&s.shape, i);
        let refs: Vec<&[u8]> = p.iter().map(|v| v.as_slice()).collect();
        units[i] = write_carrier(&s.sets, &s.units[i], &refs).unwrap();
    }
    units
}

/// Replaces `which` (together) and checks FFmpeg's decode: the same number
/// of frames, the replaced pictures decode to exactly their planes, every
/// other frame is unchanged; and the carriers read back.
fn check_replacement(dir: &std::path::Path, s: &Stream, which: &[usize]) {
    let len = frame_len(&s.shape);
    let original = decode(dir, &annex_b(&s.units), s.pix_fmt, len);
    let units = replace(s, which);
    let decoded = decode(dir, &annex_b(&units), s.pix_fmt, len);
    assert_eq!(
        decoded.len(),
        original.len(),
        "frame count after replacing {which:?}"
    );
    let mut expected: Vec<Vec<u8>> = which
        .iter()
        .map(|&i| carrier_planes(&s.shape, i).concat())
        .collect();
    for (f, (a, b)) in original.iter().zip(&decoded).enumerate() {
        if a == b {
            continue;
        }
        let k = expected
            .iter()
            .position(|e| e == b)
            .unwrap_or_else(|| panic!("frame {f} changed but is not one of the carriers {which:?}"));
        expected.remove(k);
    }
    assert!(
        expected.is_empty(),
        "{} carrier(s) of {which:?} were not decoded as written",
        expected.len()
    );
    for (i, unit) in units.iter().enumerate() {
        match read_carrier(&s.sets, unit).unwrap() {
            CarrierRead::Carrier(p) => {
                assert!(which.contains(&i), "access unit {i} read as a carrier");
                assert_eq!(p, carrier_planes(&s.shape, i), "access unit {i} reads back");
            }
            CarrierRead::NotCarrier(_) => assert!(!which.contains(&i), "carrier {i} not recognised"),
            CarrierRead::Damaged(why) => panic!("access unit {i} reads as a damaged carrier: {why}"),
        }
    }
    let dims = s.shape.display_planes();
    assert_eq!(planes(&decoded[0], &dims).len(), dims.len());
}

fn run(name: &str, size: &str, pix_fmt: &'static str, frames: u32, x264: &str, expect: Expect) {
    let dir = tempfile::tempdir().unwrap();
    let s = stream(dir.path(), name, size, pix_fmt, frames, x264);
    check_expectations(&s, expect);
    let eligible = eligible_carriers(&kinds(&s.units));
    assert!(!eligible.is_empty(), "{name}: no eligible picture");
    // One at a time: each carrier alone changes exactly its own picture.
    for &i in &eligible {
        check_replacement(dir.path(), &s, &[i]);
    }
    // All at once.
    check_replacement(dir.path(), &s, &eligible);
}

const GOP: &str = "keyint=12:min-keyint=12:scenecut=0";

#[test]
fn cavlc_with_non_reference_b_frames() {
    run(
        "cavlc-b",
        "320x240",
        "yuv420p",
        30,
        &format!("cabac=0:bframes=3:b-pyramid=0:{GOP}"),
        Expect {
            b_slices: true,
            ..Expect::default()
        },
    );
}

#[test]
fn cabac_with_non_reference_b_frames() {
    run(
        "cabac-b",
        "320x240",
        "yuv420p",
        30,
        &format!("bframes=3:b-pyramid=0:{GOP}"),
        Expect {
            b_slices: true,
            ..Expect::default()
        },
    );
}

#[test]
fn cabac_with_referenced_b_frames_b_pyramid() {
    run(
        "cabac-pyramid",
        "320x240",
        "yuv420p",
        30,
        &format!("bframes=3:b-pyramid=2:{GOP}"),
        Expect {
            b_slices: true,
            referenced_b: true,
            ..Expect::default()
        },
    );
}

#[test]
fn p_only_stream_uses_the_picture_before_each_idr() {
    // No B-frames: every picture is a reference; only the last picture of
    // each GOP (and of the stream) can carry. x264 uses POC type 2 here.
    let dir = tempfile::tempdir().unwrap();
    let s = stream(
        dir.path(),
        "p-only",
        "320x240",
        "yuv420p",
        26,
        "bframes=0:keyint=8:min-keyint=8:scenecut=0",
    );
    let eligible = eligible_carriers(&kinds(&s.units));
    assert_eq!(eligible, vec![7, 15, 23, 25]);
    check_replacement(dir.path(), &s, &eligible);
}

#[test]
fn open_gop_with_non_idr_keyframes() {
    run(
        "open-gop",
        "320x240",
        "yuv420p",
        30,
        "bframes=2:b-pyramid=0:open-gop=1:keyint=10:min-keyint=10:scenecut=0",
        Expect {
            b_slices: true,
            non_idr_i: true,
            ..Expect::default()
        },
    );
}

#[test]
fn several_slices_per_picture_become_one() {
    run(
        "slices",
        "320x240",
        "yuv420p",
        20,
        &format!("slices=4:bframes=2:b-pyramid=0:{GOP}"),
        Expect {
            b_slices: true,
            several_slices: true,
            ..Expect::default()
        },
    );
}

#[test]
fn cropped_odd_size_with_weighted_prediction() {
    run(
        "odd",
        "322x242",
        "yuv420p",
        20,
        &format!("bframes=2:b-pyramid=0:weightp=2:{GOP}"),
        Expect {
            b_slices: true,
            ..Expect::default()
        },
    );
}

#[test]
fn high_444_cabac_and_cavlc() {
    for (name, coder) in [("444-cabac", "cabac=1"), ("444-cavlc", "cabac=0")] {
        run(
            name,
            "176x144",
            "yuv444p",
            14,
            &format!("{coder}:bframes=2:b-pyramid=0:{GOP}"),
            Expect {
                b_slices: true,
                ..Expect::default()
            },
        );
    }
}

#[test]
fn high_422() {
    run(
        "422",
        "176x144",
        "yuv422p",
        14,
        &format!("bframes=2:b-pyramid=0:{GOP}"),
        Expect {
            b_slices: true,
            ..Expect::default()
        },
    );
}

#[test]
fn full_hd_8x8_transform() {
    let dir = tempfile::tempdir().unwrap();
    let s = stream(
        dir.path(),
        "1080p",
        "1920x1080",
        "yuv420p",
        5,
        "bframes=2:b-pyramid=0:8x8dct=1:keyint=12",
    );
    assert_eq!((s.shape.width(), s.shape.height()), (1920, 1080));
    assert_eq!(s.shape.coded_height(), 1088);
    let eligible = eligible_carriers(&kinds(&s.units));
    check_replacement(dir.path(), &s, &eligible[..1]);
}

#[test]
fn ordinary_pictures_are_not_carriers_and_damage_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = stream(
        dir.path(),
        "plain",
        "320x240",
        "yuv420p",
        12,
        &format!("bframes=2:{GOP}"),
    );
    for unit in &s.units {
        assert!(matches!(
            read_carrier(&s.sets, unit).unwrap(),
            CarrierRead::NotCarrier(_)
        ));
    }
    let eligible = eligible_carriers(&kinds(&s.units));
    let units = replace(&s, &eligible[..1]);
    let mut cut = units[eligible[0]].clone();
    let slice = cut.iter_mut().find(|n| slice_type(n).is_some()).unwrap();
    let half = slice.len() / 2;
    slice.truncate(half);
    assert!(
        read_carrier(&s.sets, &cut).is_err(),
        "a truncated carrier is an error"
    );
    // Overwritten in the middle (the size kept): a damaged carrier.
    let mut hit = units[eligible[0]].clone();
    let slice = hit.iter_mut().find(|n| slice_type(n).is_some()).unwrap();
    let len = slice.len();
    slice[len / 3..2 * len / 3].fill(0x5a);
    assert!(matches!(
        read_carrier(&s.sets, &hit).unwrap(),
        CarrierRead::Damaged(_)
    ));
}
