//! End-to-end tests of the core on synthetic frames: seal → place → embed →
//! locate → extract → open, including segment independence and damage.

use std::sync::OnceLock;
use vidstega_core::*;

const PASSWORD: &[u8] = b"correct horse battery staple";

/// The tests seal every message with this one salt, so the salted placement
/// keys are derived once (a writer takes a fresh salt per message:
/// `seal_for_placement`).
const TEST_SALT: [u8; 16] = [0x5a; 16];

/// [`seal_with_salt`] with [`TEST_SALT`].
fn seal(message: &[u8], password: &[u8], params: &SealParams) -> Result<Envelope> {
    seal_with_salt(message, password, params, TEST_SALT)
}

fn key() -> &'static PlacementKey {
    static KEY: OnceLock<PlacementKey> = OnceLock::new();
    KEY.get_or_init(|| PlacementKey::derive_salted(PASSWORD, &TEST_SALT))
}

/// What a reader with another password derives from the same salt slot.
fn other_key() -> &'static PlacementKey {
    static KEY: OnceLock<PlacementKey> = OnceLock::new();
    KEY.get_or_init(|| PlacementKey::derive_salted(b"Tr0ub4dor&3", &TEST_SALT))
}

fn fast() -> SealParams {
    SealParams {
        kdf_iterations: 1000,
        ..SealParams::default()
    }
}

fn noise(seed: u64, n: usize) -> Vec<u8> {
    (0..n as u64)
        .map(|i| mix64(seed.wrapping_mul(0x1_0000_0001) ^ i) as u8)
        .collect()
}

/// A video: frames of planes.
type Video = Vec<Vec<Vec<u8>>>;

fn video(geometry: &FrameGeometry, frames: usize, seed: u64) -> Video {
    (0..frames)
        .map(|f| {
            geometry
                .planes()
                .iter()
                .enumerate()
                .map(|(k, p)| noise(seed * 1000 + f as u64 * 10 + k as u64, p.samples() as usize))
                .collect()
        })
        .collect()
}

fn planes_mut(frame: &mut [Vec<u8>]) -> Vec<&mut [u8]> {
    frame.iter_mut().map(|p| p.as_mut_slice()).collect()
}

fn planes(frame: &[Vec<u8>]) -> Vec<&[u8]> {
    frame.iter().map(|p| p.as_slice()).collect()
}

fn embed_all(layout: &Layout, env: &Envelope, v: &mut Video) -> Vec<FrameStats> {
    let body = BodyBits::whole(env.body().to_vec());
    v.iter_mut()
        .enumerate()
        .map(|(f, frame)| {
            layout
                .embed_frame(f as u64, &body, &mut planes_mut(frame))
                .unwrap()
        })
        .collect()
}

fn extract_all(key: &PlacementKey, geometry: &FrameGeometry, v: &Video, password: &[u8]) -> Result<Vec<u8>> {
    let layout = Layout::locate(key, geometry, 0, &planes(&v[0]))?;
    let mut assembly = BodyAssembly::new(layout.envelope_header().body_bits());
    for (f, frame) in v.iter().enumerate() {
        let mut part = BodyBits::zeroed(layout.frame_bits(f as u64));
        layout.extract_frame(f as u64, &planes(frame), &mut part)?;
        assembly.add(&part)?;
    }
    layout.open(&assembly, password)
}

#[test]
fn round_trip_for_many_message_sizes() {
    let g = FrameGeometry::yuv420(64, 48).unwrap();
    let frames = 12;
    let params = SealParams {
        compress: false,
        ..fast()
    };
    let cap = capacity(&g, PlaneSet::Luma, frames, &params).unwrap();
    assert!(cap.max_message_bytes > 1000, "{cap:?}");
    for len in [
        1usize,
        2,
        3,
        17,
        255,
        1001,
        cap.max_message_bytes as usize - 1,
        cap.max_message_bytes as usize,
    ] {
        let msg = noise(len as u64, len);
        let env = seal(&msg, PASSWORD, &params).unwrap();
        let layout = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, frames).unwrap();
        let mut v = video(&g, frames as usize, 7);
        embed_all(&layout, &env, &mut v);
        assert_eq!(extract_all(key(), &g, &v, PASSWORD).unwrap(), msg, "len {len}");
    }
    // One byte more than capacity is refused, saying by how much.
    let msg = noise(1, cap.max_message_bytes as usize + 1);
    let env = seal(&msg, PASSWORD, &params).unwrap();
    let e = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, frames).unwrap_err();
    assert!(matches!(e, CoreError::CapacityExceeded { .. }), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("about {} bytes", cap.max_message_bytes)),
        "{e}"
    );
}

#[test]
fn round_trip_for_many_frame_shapes() {
    let shapes = [
        FrameGeometry::gray(32, 32).unwrap(),
        FrameGeometry::gray(45, 23).unwrap(),
        FrameGeometry::gray(2, 600).unwrap(),
        FrameGeometry::yuv420(65, 49).unwrap(),
        FrameGeometry::yuv420(33, 33).unwrap(),
        FrameGeometry::yuv(71, 37, 1, 1).unwrap(),
        FrameGeometry::yuv(99, 17, 2, 1).unwrap(),
    ];
    let msg = b"meet at the usual place, 9pm".to_vec();
    for g in &shapes {
        for set in [PlaneSet::Luma, PlaneSet::All] {
            let env = seal(&msg, PASSWORD, &fast()).unwrap();
            let layout = match Layout::for_embedding(key(), env.header(), g, set, 9) {
                Ok(l) => l,
                Err(e) => panic!("{g:?} {set:?}: {e}"),
            };
            let mut v = video(g, 9, 3);
            embed_all(&layout, &env, &mut v);
            let found = match Layout::locate(key(), g, 0, &planes(&v[0])) {
                Ok(l) => l,
                Err(e) => panic!("{g:?} {set:?}: {e}"),
            };
            let expect = if g.planes().len() == 1 {
                PlaneSet::Luma
            } else {
                set
            };
            assert_eq!(found.plane_set(), expect);
            assert_eq!(extract_all(key(), g, &v, PASSWORD).unwrap(), msg, "{g:?} {set:?}");
        }
    }
}

#[test]
fn frames_too_small_are_rejected_clearly() {
    let env = seal(b"x", PASSWORD, &fast()).unwrap();
    for (w, h) in [(1, 1), (31, 33), (1, 1023)] {
        let g = FrameGeometry::gray(w, h).unwrap();
        let e = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, 10).unwrap_err();
        assert!(matches!(e, CoreError::FrameTooSmall { .. }), "{e}");
        assert!(e.to_string().contains(&format!("{w}x{h}")), "{e}");
    }
    assert!(FrameGeometry::gray(0, 10).is_err());
}

#[test]
fn wrong_password_and_clean_video_say_no_message() {
    let g = FrameGeometry::yuv420(64, 48).unwrap();
    let env = seal(b"hidden", PASSWORD, &fast()).unwrap();
    let layout = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, 4).unwrap();
    let mut v = video(&g, 4, 1);
    let clean = v.clone();
    embed_all(&layout, &env, &mut v);
    let e = extract_all(other_key(), &g, &v, b"Tr0ub4dor&3").unwrap_err();
    assert!(matches!(e, CoreError::NoMessage), "{e}");
    let e = extract_all(key(), &g, &clean, PASSWORD).unwrap_err();
    assert!(matches!(e, CoreError::NoMessage), "{e}");
    assert!(e.to_string().contains("password is wrong"));
}

#[test]
fn segments_embed_independently_in_any_order() {
    let g = FrameGeometry::yuv420(80, 64).unwrap();
    let frames = 40u64;
    let msg = noise(99, 6000);
    let env = seal(&msg, PASSWORD, &fast()).unwrap();
    let bytes = env.to_bytes();
    let cover = video(&g, frames as usize, 5);

    // One pass over the whole video.
    let layout = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, frames).unwrap();
    let mut one_pass = cover.clone();
    embed_all(&layout, &env, &mut one_pass);

    // Segments in shuffled order, each with its own layout (as on another
    // machine) and only its own byte span of the body (as from a range read).
    let cuts = [0u64, 7, 8, 19, 30, 40];
    let mut order: Vec<usize> = (0..cuts.len() - 1).collect();
    order.reverse();
    order.swap(0, 2);
    let mut segmented = cover.clone();
    for s in order {
        let frames_range = cuts[s]..cuts[s + 1];
        let header = Envelope::parse_header(&bytes).unwrap();
        let layout = Layout::for_embedding(key(), &header, &g, PlaneSet::Luma, frames).unwrap();
        let bits = layout.segment_bits(frames_range.clone());
        let span = byte_span(&bits);
        let window = bytes
            [ENVELOPE_HEADER_LEN + span.start as usize..ENVELOPE_HEADER_LEN + span.end as usize]
            .to_vec();
        let window = BodyBits::new(bits, window).unwrap();
        for f in frames_range {
            layout
                .embed_frame(f, &window, &mut planes_mut(&mut segmented[f as usize]))
                .unwrap();
        }
    }
    assert_eq!(segmented, one_pass);

    // Extract segment by segment, in another order, each locating the header
    // in its own first frame.
    let mut assembly = None;
    for s in [3usize, 0, 4, 2, 1] {
        let frames_range = cuts[s]..cuts[s + 1];
        let first = frames_range.start;
        let layout = Layout::locate(key(), &g, first, &planes(&one_pass[first as usize])).unwrap();
        let asm = assembly.get_or_insert_with(|| BodyAssembly::new(layout.envelope_header().body_bits()));
        let mut part = BodyBits::zeroed(layout.segment_bits(frames_range.clone()));
        for f in frames_range {
            let check = layout
                .extract_frame(f, &planes(&one_pass[f as usize]), &mut part)
                .unwrap();
            assert!(check.header_intact);
        }
        asm.add(&part).unwrap();
    }
    let layout = Layout::locate(key(), &g, 0, &planes(&one_pass[0])).unwrap();
    assert_eq!(layout.open(&assembly.unwrap(), PASSWORD).unwrap(), msg);
}

fn extract_without(v: &Video, g: &FrameGeometry, lost: std::ops::Range<u64>) -> Result<Vec<u8>> {
    let layout = Layout::locate(key(), g, 0, &planes(&v[0]))?;
    let mut assembly = BodyAssembly::new(layout.envelope_header().body_bits());
    for f in (0..v.len() as u64).filter(|f| !lost.contains(f)) {
        let mut part = BodyBits::zeroed(layout.frame_bits(f));
        layout.extract_frame(f, &planes(&v[f as usize]), &mut part)?;
        assembly.add(&part)?;
    }
    layout.open(&assembly, PASSWORD)
}

#[test]
fn losing_a_whole_segment_is_repaired() {
    let g = FrameGeometry::yuv420(96, 64).unwrap();
    let frames = 64u64;
    for len in [40usize, 5_000, 30_000] {
        let msg = noise(len as u64, len);
        let env = seal(&msg, PASSWORD, &fast()).unwrap();
        let layout = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, frames).unwrap();
        let mut v = video(&g, frames as usize, 11);
        embed_all(&layout, &env, &mut v);
        // A segment of 1/8 of the video, anywhere, is lost.
        for start in [0u64, 8, 29, 56] {
            assert_eq!(
                extract_without(&v, &g, start..start + 8).unwrap(),
                msg,
                "len {len} lost {start}.."
            );
        }
        // A third of the video is more than the default parity can rebuild.
        match extract_without(&v, &g, 10..32) {
            Err(CoreError::Damaged {
                stripe_lost,
                stripe_parity,
                lost_shards,
                total_shards,
                ..
            }) => {
                assert!(stripe_lost > stripe_parity);
                assert_eq!(stripe_parity, 4);
                assert!(lost_shards > 0 && lost_shards < total_shards);
            }
            other => panic!("expected Damaged, got {other:?}"),
        }
    }
}

#[test]
fn damaged_frames_are_repaired_and_reported() {
    let g = FrameGeometry::yuv420(96, 64).unwrap();
    let frames = 48u64;
    let msg = noise(3, 20_000);
    let env = seal(&msg, PASSWORD, &fast()).unwrap();
    let layout = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, frames).unwrap();
    let mut v = video(&g, frames as usize, 13);
    embed_all(&layout, &env, &mut v);
    // Re-noise the luma of three scattered frames (including frame 0, so the
    // header must be found in another frame).
    for f in [0usize, 17, 40] {
        v[f][0] = noise(5000 + f as u64, v[f][0].len());
    }
    assert!(matches!(
        Layout::locate(key(), &g, 0, &planes(&v[0])),
        Err(CoreError::NoMessage)
    ));
    let layout = Layout::locate(key(), &g, 1, &planes(&v[1])).unwrap();
    let mut assembly = BodyAssembly::new(layout.envelope_header().body_bits());
    let mut damaged = Vec::new();
    for f in 0..frames {
        let mut part = BodyBits::zeroed(layout.frame_bits(f));
        if !layout
            .extract_frame(f, &planes(&v[f as usize]), &mut part)
            .unwrap()
            .header_intact
        {
            damaged.push(f);
        }
        assembly.add(&part).unwrap();
    }
    assert_eq!(damaged, vec![0, 17, 40]);
    assert_eq!(layout.open(&assembly, PASSWORD).unwrap(), msg);
}

#[test]
fn tampered_ciphertext_with_valid_checksums_is_detected() {
    let g = FrameGeometry::yuv420(64, 48).unwrap();
    let env = seal(
        &noise(8, 1000),
        PASSWORD,
        &SealParams {
            compress: false,
            ..fast()
        },
    )
    .unwrap();
    let h = env.header().clone();
    let mut bytes = env.to_bytes();
    // Rewrite one data shard and fix up its checksum, as an attacker could.
    let l = h.shard_len as usize;
    let slot = ENVELOPE_HEADER_LEN;
    bytes[slot] ^= 1;
    let sum = slot_checksum(0, &bytes[slot..slot + l]).to_le_bytes();
    bytes[slot + l..slot + l + 4].copy_from_slice(&sum);
    let forged = Envelope::parse(&bytes).unwrap();
    let layout = Layout::for_embedding(key(), forged.header(), &g, PlaneSet::Luma, 6).unwrap();
    let mut v = video(&g, 6, 2);
    embed_all(&layout, &forged, &mut v);
    let e = extract_all(key(), &g, &v, PASSWORD).unwrap_err();
    assert!(matches!(e, CoreError::Tampered), "{e}");
}

#[test]
fn embedding_changes_only_carrying_samples_by_one() {
    let g = FrameGeometry::yuv420(160, 120).unwrap();
    let frames = 6u64;
    for len in [10usize, 3000, 7000] {
        let msg = noise(len as u64, len);
        let env = seal(
            &msg,
            PASSWORD,
            &SealParams {
                compress: false,
                ..fast()
            },
        )
        .unwrap();
        let layout = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, frames).unwrap();
        let cover = video(&g, frames as usize, 21);
        let mut stego = cover.clone();
        let stats = embed_all(&layout, &env, &mut stego);
        let luma = g.samples(PlaneSet::Luma);
        for f in 0..frames as usize {
            // The keyed positions, then the salt slot (the last 128 luma samples).
            let carrying: std::collections::HashSet<u64> = layout
                .positions(f as u64, stats[f].carried_bits - SALT_SLOT_BITS)
                .into_iter()
                .chain(luma - SALT_SLOT_BITS..luma)
                .collect();
            assert_eq!(salt_slot(&stego[f][0]), Some(TEST_SALT), "frame {f}");
            let mut changed = 0;
            for (i, (a, b)) in cover[f][0].iter().zip(&stego[f][0]).enumerate() {
                let d = (*a as i16 - *b as i16).abs();
                assert!(d <= 1, "frame {f} sample {i} moved by {d}");
                if d == 1 {
                    changed += 1;
                    assert!(
                        carrying.contains(&(i as u64)),
                        "frame {f} sample {i} changed but carries nothing"
                    );
                }
            }
            assert_eq!(changed, stats[f].changed_samples);
            // About half the carrying samples already hold the right bit.
            let carried = stats[f].carried_bits as f64;
            assert!((changed as f64 - carried / 2.0).abs() < 4.0 * carried.sqrt() + 4.0);
            // Chroma untouched in luma mode.
            assert_eq!(cover[f][1], stego[f][1]);
            assert_eq!(cover[f][2], stego[f][2]);
        }
        assert_eq!(extract_all(key(), &g, &stego, PASSWORD).unwrap(), msg);
    }
}

#[test]
fn saturated_frames_never_wrap() {
    let g = FrameGeometry::gray(64, 64).unwrap();
    let msg = noise(4, 2000);
    let env = seal(
        &msg,
        PASSWORD,
        &SealParams {
            compress: false,
            ..fast()
        },
    )
    .unwrap();
    let layout = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, 8).unwrap();
    let mut v: Video = (0..8)
        .map(|f| vec![vec![if f % 2 == 0 { 0u8 } else { 255 }; 4096]])
        .collect();
    embed_all(&layout, &env, &mut v);
    for (f, frame) in v.iter().enumerate() {
        let allowed: &[u8] = if f % 2 == 0 { &[0, 1] } else { &[254, 255] };
        assert!(frame[0].iter().all(|s| allowed.contains(s)), "frame {f}");
    }
    assert_eq!(extract_all(key(), &g, &v, PASSWORD).unwrap(), msg);
}

#[test]
fn full_rate_round_trip() {
    // A frame using every sample takes the dense walk in both directions.
    let g = FrameGeometry::gray(128, 96).unwrap();
    let frames = 3u64;
    let params = SealParams {
        compress: false,
        ..fast()
    };
    let cap = capacity(&g, PlaneSet::Luma, frames, &params).unwrap();
    let msg = noise(77, cap.max_message_bytes as usize);
    let env = seal(&msg, PASSWORD, &params).unwrap();
    let layout = Layout::for_embedding(key(), env.header(), &g, PlaneSet::Luma, frames).unwrap();
    assert!(layout.max_rate() > 0.95, "{}", layout.max_rate());
    let mut v = video(&g, frames as usize, 8);
    embed_all(&layout, &env, &mut v);
    assert_eq!(extract_all(key(), &g, &v, PASSWORD).unwrap(), msg);
}

#[test]
fn positions_never_repeat_within_a_frame() {
    let g = FrameGeometry::yuv420(50, 40).unwrap();
    let env = seal(b"abc", PASSWORD, &fast()).unwrap();
    for set in [PlaneSet::Luma, PlaneSet::All] {
        let layout = Layout::for_embedding(key(), env.header(), &g, set, 3).unwrap();
        // Every keyed position once: the selected samples without the salt slot.
        let n = g.samples(set) - SALT_SLOT_BITS;
        for f in 0..3 {
            let mut p = layout.positions(f, n);
            p.sort();
            assert_eq!(p, (0..n).collect::<Vec<_>>());
        }
        assert_ne!(layout.positions(0, 64), layout.positions(1, 64));
    }
}

#[test]
fn placement_keys_are_salted_per_message_and_a_reader_finds_the_salt_without_a_key() {
    // Two seals of the same message get different salts, hence different
    // ciphertexts and different placement keys: a dictionary pass against
    // one job's key does not attack another's.
    let (ka, a) = seal_for_placement(b"same", PASSWORD, &fast()).unwrap();
    let (kb, b) = seal_for_placement(b"same", PASSWORD, &fast()).unwrap();
    assert_ne!(a.header().salt, b.header().salt);
    assert_ne!(a.body(), b.body());
    assert_ne!(ka.as_bytes(), kb.as_bytes());
    assert_eq!(ka.origin(), KeyOrigin::Salted(a.header().salt));
    let fixed = PlacementKey::derive(PASSWORD);
    assert_ne!(ka.as_bytes(), fixed.as_bytes());
    assert_eq!(
        PlacementKey::derive_for(PASSWORD, a.header()).as_bytes(),
        ka.as_bytes()
    );
    // The salt is in every frame; the key derived from it finds the header,
    // the fixed-salt key does not.
    let g = FrameGeometry::yuv420(64, 48).unwrap();
    let layout = Layout::for_embedding(&ka, a.header(), &g, PlaneSet::Luma, 3).unwrap();
    let mut v = video(&g, 3, 5);
    embed_all(&layout, &a, &mut v);
    for frame in &v {
        assert_eq!(salt_slot(&frame[0]), Some(a.header().salt));
    }
    let reader = PlacementKey::derive_salted(PASSWORD, &salt_slot(&v[1][0]).unwrap());
    assert_eq!(extract_all(&reader, &g, &v, PASSWORD).unwrap(), b"same");
    assert!(matches!(
        Layout::locate(&fixed, &g, 0, &planes(&v[0])),
        Err(CoreError::NoMessage)
    ));
    // A received key (a service's) places by the payload's version.
    let received = PlacementKey::from_bytes(*ka.as_bytes());
    let again = Layout::for_embedding(&received, a.header(), &g, PlaneSet::Luma, 3).unwrap();
    let mut w = video(&g, 3, 5);
    embed_all(&again, &a, &mut w);
    assert_eq!(w, v);
}

#[test]
fn a_payload_and_a_key_of_different_salting_are_refused() {
    let g = FrameGeometry::yuv420(64, 48).unwrap();
    let env = seal(b"x", PASSWORD, &fast()).unwrap();
    // The fixed-salt key cannot place a version-3 payload ...
    let e = Layout::for_embedding(
        &PlacementKey::derive(PASSWORD),
        env.header(),
        &g,
        PlaneSet::Luma,
        2,
    )
    .unwrap_err();
    assert!(e.to_string().contains("derive_for"), "{e}");
    // ... nor a key salted for another payload.
    let other = seal_with_salt(b"x", PASSWORD, &fast(), [1; 16]).unwrap();
    let e = Layout::for_embedding(key(), other.header(), &g, PlaneSet::Luma, 2).unwrap_err();
    assert!(e.to_string().contains("another payload"), "{e}");
}
