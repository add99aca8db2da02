//! Broken inputs give errors, never panics.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Cursor, Read};

use vidstega_container::{plan_splice, read_video_track, ContainerError};

use crate::common::*;

/// Reads `data` and, if that works, plans and writes a splice; any error is
/// fine, a panic is not. Returns whether reading succeeded.
fn exercise(data: &[u8]) -> bool {
    let Ok(track) = read_video_track(&mut Cursor::new(data)) else {
        return false;
    };
    if let Ok(s) = plan_splice(&mut Cursor::new(data), &track, &BTreeMap::new()) {
        let _ = s.write_to(data, |_| Err(io::Error::other("none")), io::sink());
    }
    if let Some(first) = track.samples.iter().position(|s| s.size > 0) {
        let reps = BTreeMap::from([(first, 100u64)]);
        if let Ok(s) = plan_splice(&mut Cursor::new(data), &track, &reps) {
            let _ = s.write_to(
                data,
                |_| Ok(Box::new(&[7u8; 100][..]) as Box<dyn Read>),
                io::sink(),
            );
        }
    }
    true
}

const FIXTURES: [&str; 5] = [
    "moov-at-end.mp4",
    "faststart.mp4",
    "ffmpeg.mkv",
    "mkvmerge.mkv",
    "live.mkv",
];

#[test]
fn truncated_files_give_errors() {
    for name in FIXTURES {
        let d = fs::read(fixture(name)).unwrap();
        let len = d.len();
        let mut cuts = vec![
            0,
            1,
            4,
            7,
            8,
            12,
            16,
            31,
            40,
            64,
            100,
            200,
            500,
            1000,
            4000,
            len / 4,
            len / 2,
            len - 1000,
        ];
        cuts.extend([len - 100, len - 9, len - 1]);
        for cut in cuts {
            let ok = exercise(&d[..cut]);
            // The headers and indexes of these files span both ends, so a cut
            // file must not read as valid, except a live stream cut early enough.
            assert!(!ok || name == "live.mkv", "{name} cut at {cut} should not read");
        }
        // Every error is a proper error value.
        let e = read_video_track(&mut Cursor::new(&d[..len / 2])).unwrap_err();
        assert!(matches!(e, ContainerError::Malformed { .. }), "{name}: {e}");
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_bytes_give_errors() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let prefixes: [&[u8]; 4] = [
        b"",
        &[
            0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 2, 0, b'i', b's', b'o',
            b'm', b'a', b'v', b'c', b'1',
        ],
        &[0x1A, 0x45, 0xDF, 0xA3],
        &[
            0x1A, 0x45, 0xDF, 0xA3, 0x80, 0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF,
        ],
    ];
    for round in 0..400 {
        let len = (rng.next() % 3000) as usize;
        let mut d = prefixes[round % prefixes.len()].to_vec();
        d.extend((0..len).map(|_| rng.next() as u8));
        assert!(!exercise(&d), "random input {round} should not read");
    }
}

#[test]
fn boxes_and_elements_larger_than_the_file_are_malformed() {
    let mut d = fs::read(fixture("moov-at-end.mp4")).unwrap();
    let mdat = *boxes(&d, 0, d.len()).iter().find(|b| &b.0 == b"mdat").unwrap();
    d[mdat.1..mdat.1 + 4].copy_from_slice(&0x7FFF_FFF0u32.to_be_bytes());
    let e = read_video_track(&mut Cursor::new(&d)).unwrap_err();
    assert!(matches!(e, ContainerError::Malformed { .. }), "{e}");

    let mut d = fs::read(fixture("mkvmerge.mkv")).unwrap();
    let (_, kids) = level1(&d);
    let c = kids.iter().find(|e| e.id == 0x1F43B675).unwrap();
    d[c.size_at] = 0x01; // 8-byte size field
    d[c.size_at + 1..c.size_at + 8].copy_from_slice(&[0, 0, 0x10, 0, 0, 0, 0]);
    let e = read_video_track(&mut Cursor::new(&d)).unwrap_err();
    assert!(matches!(e, ContainerError::Malformed { .. }), "{e}");
}

/// Random byte changes in the structures (not the sample data) never panic.
#[test]
fn corrupted_headers_do_not_panic() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for name in FIXTURES {
        let orig = fs::read(fixture(name)).unwrap();
        // Where the structures are: the start, and for moov-at-end the moov.
        let regions: Vec<(usize, usize)> = if name.ends_with(".mp4") {
            boxes(&orig, 0, orig.len())
                .iter()
                .filter(|b| &b.0 == b"moov")
                .map(|b| (b.1, b.3))
                .collect()
        } else {
            let (_, kids) = level1(&orig);
            let mut r = vec![(0, kids.iter().find(|e| e.id == 0x1F43B675).unwrap().start)];
            r.extend(
                kids.iter()
                    .filter(|e| e.id == 0x1C53BB6B)
                    .map(|e| (e.start, e.end)),
            );
            r.extend(
                kids.iter()
                    .filter(|e| e.id == 0x1F43B675)
                    .take(1)
                    .map(|e| (e.start, e.start + 64)),
            );
            r
        };
        for _ in 0..150 {
            let mut d = orig.clone();
            for _ in 0..1 + rng.next() % 4 {
                let (a, b) = regions[(rng.next() as usize) % regions.len()];
                let at = a + (rng.next() as usize) % (b - a);
                d[at] = rng.next() as u8;
            }
            exercise(&d);
        }
    }
}
