//! Large files stream through a fixed buffer.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Cursor, Read};

use vidstega_container::{plan_splice, read_video_track, Piece};

use crate::common::*;

fn large(name: &'static str) {
    let src = fixture(name);
    let size = fs::metadata(&src).unwrap().len();
    assert!(size > 50_000_000, "{name} is only {size} bytes");
    let track = read_video_track(&mut File::open(&src).unwrap()).unwrap();
    let n = track.samples.len();
    let data_of = |i: usize| {
        let s = track.samples[i];
        let mut f = File::open(&src).unwrap();
        let mut b = vec![0u8; s.size as usize];
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(s.offset)).unwrap();
        f.read_exact(&mut b).unwrap();
        b
    };
    let mut reps = BTreeMap::new();
    reps.insert(0, grow(&data_of(0), 3_000_000));
    reps.insert(n / 2, shrink(&data_of(n / 2)));
    reps.insert(n - 1, grow(&data_of(n - 1), 500_000));
    let splice = plan_splice(&mut File::open(&src).unwrap(), &track, &sizes_of(&reps)).unwrap();

    // The plan itself is small: new bytes are index structures only.
    let new_bytes: u64 = splice
        .pieces()
        .iter()
        .filter(|p| matches!(p, Piece::Bytes(_)))
        .map(Piece::len)
        .sum();
    assert!(new_bytes < 1_000_000, "{new_bytes} bytes of rewritten structures");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(name);
    let asked = RefCell::new(Vec::new());
    let written = splice
        .write_to(
            File::open(&src).unwrap(),
            |i| {
                asked.borrow_mut().push(i);
                Ok(Box::new(Cursor::new(reps[&i].clone())) as Box<dyn Read>)
            },
            BufWriter::new(File::create(&out).unwrap()),
        )
        .unwrap();
    assert_eq!(written, splice.len());
    assert_eq!(
        asked.into_inner(),
        reps.keys().copied().collect::<Vec<_>>(),
        "each replacement asked once, in order"
    );
    check_spliced(&src, &out, &reps);
}

#[test]
fn large_mp4_streams() {
    large("large.mp4");
}

#[test]
fn large_mkv_streams() {
    large("large.mkv");
}
