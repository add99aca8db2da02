//! Times `read_video_track`, `plan_splice` and `Splice::write_to` on a file.
//!
//! `cargo run --release -p vidstega-container --example splice -- IN OUT [GROW_BYTES]`
//! replaces the first, middle and last video samples with themselves plus
//! GROW_BYTES (default 100000) zero bytes and writes OUT.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Cursor, Read, Seek, SeekFrom};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, rest @ ..] = &args[..] else {
        return Err("usage: splice IN OUT [GROW_BYTES]".into());
    };
    let grow: usize = rest.first().map(|g| g.parse()).transpose()?.unwrap_or(100_000);

    let t = Instant::now();
    let track = vidstega_container::read_video_track(&mut File::open(input)?)?;
    let read_time = t.elapsed();
    let n = track.samples.len();
    let mut reps = BTreeMap::new();
    let mut f = File::open(input)?;
    for i in [0, n / 2, n - 1] {
        let s = track.samples[i];
        let mut b = vec![0u8; s.size as usize];
        f.seek(SeekFrom::Start(s.offset))?;
        f.read_exact(&mut b)?;
        b.resize(b.len() + grow, 0);
        reps.insert(i, b);
    }
    let sizes = reps.iter().map(|(&i, b)| (i, b.len() as u64)).collect();

    let t = Instant::now();
    let splice = vidstega_container::plan_splice(&mut File::open(input)?, &track, &sizes)?;
    let plan_time = t.elapsed();

    let t = Instant::now();
    let out = BufWriter::new(File::create(output)?);
    let written = splice.write_to(
        File::open(input)?,
        |i| Ok(Box::new(Cursor::new(&reps[&i][..])) as Box<dyn Read>),
        out,
    )?;
    let write_time = t.elapsed();
    println!(
        "{n} samples; read {:.1} ms, plan {:.1} ms, write {written} bytes in {:.1} ms ({:.0} MB/s)",
        read_time.as_secs_f64() * 1e3,
        plan_time.as_secs_f64() * 1e3,
        write_time.as_secs_f64() * 1e3,
        written as f64 / write_time.as_secs_f64() / 1e6
    );
    Ok(())
}
