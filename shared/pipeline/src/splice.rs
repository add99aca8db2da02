//! The `concat` step of compact mode: the source, copied byte for byte
//! except the carrier access units and the container tables that locate
//! samples, streamed in one forward pass into the output.
//!
//! Every audio, subtitle and data packet, every other video packet, all
//! timestamps, edit lists, rotation and metadata are the source's own bytes.
//! The result is checked by reading it back: the same number of video
//! samples, and each carrier where it belongs, byte for byte.

use crate::carriers::open_track;
use crate::contract::keys;
use crate::error::{PipelineError, Result};
use crate::plan::Plan;
use crate::ports::{JobStore, MediaSource, ObjectStore};
use crate::records::Stage;
use crate::source::ObjectReader;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek};
use vidstega_container::{crc32, plan_splice_with_crc, read_video_track, NewSample, Splice};

/// What a splice wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpliceReport {
    /// Bytes of the output.
    pub bytes: u64,
    /// Bytes of the source.
    pub source_bytes: u64,
    /// Carrier access units written.
    pub carriers: usize,
}

/// A planned splice: the output's layout and what to check afterwards.
pub struct PlannedSplice {
    splice: Splice,
    /// SHA-256 of each carrier, by sample index.
    digests: BTreeMap<usize, [u8; 32]>,
    samples: usize,
    source_bytes: u64,
}

impl PlannedSplice {
    /// Bytes the output will have.
    pub fn len(&self) -> u64 {
        self.splice.len()
    }

    /// Whether the output is empty (never, for a real video).
    pub fn is_empty(&self) -> bool {
        self.splice.is_empty()
    }
}

/// Checks that every segment of a compact-mode `plan` is done and its
/// carriers stored, moves the job to [`Stage::Concatenating`], and plans the
/// output.
pub fn plan_carrier_splice(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    plan: &Plan,
) -> Result<PlannedSplice> {
    let rows = jobs.segments(&plan.job_id)?;
    let missing: Vec<u32> = rows.iter().filter(|s| !s.done).map(|s| s.index).collect();
    if !missing.is_empty() || rows.len() != plan.segments.len() {
        return Err(PipelineError::Conflict(format!(
            "job {} cannot be joined yet: segments {missing:?} are not done",
            plan.job_id
        )));
    }
    jobs.set_stage(&plan.job_id, Stage::Concatenating, None)?;
    let mut new = BTreeMap::new();
    let mut digests = BTreeMap::new();
    for c in &plan.carriers {
        let key = keys::carrier(&plan.job_id, c.sample);
        if objects.size(&key)?.is_none() {
            return Err(PipelineError::Conflict(format!(
                "carrier {} of job {} is marked done but {key} is missing",
                c.rank, plan.job_id
            )));
        }
        let bytes = objects.read_all(&key)?;
        new.insert(
            c.sample as usize,
            NewSample {
                len: bytes.len() as u64,
                crc32: Some(crc32(&bytes)),
            },
        );
        digests.insert(c.sample as usize, Sha256::digest(&bytes).into());
    }
    let mut reader = ObjectReader::open(objects, plan.source())?;
    let source_bytes = reader.len();
    let track = open_track(&mut reader)?.track;
    let splice =
        plan_splice_with_crc(&mut reader, &track, &new).map_err(|e| reader_error(e.into(), &mut reader))?;
    Ok(PlannedSplice {
        splice,
        digests,
        samples: track.samples.len(),
        source_bytes,
    })
}

fn reader_error(e: PipelineError, reader: &mut ObjectReader<'_>) -> PipelineError {
    reader.take_error().unwrap_or(e)
}

/// Reads carrier `sample`'s access unit from the store, for the splice.
fn carrier_bytes<'a>(
    objects: &'a dyn ObjectStore,
    job: &'a str,
) -> impl FnMut(usize) -> std::io::Result<Box<dyn Read + 'a>> + 'a {
    move |sample| {
        let bytes = objects
            .read_all(&keys::carrier(job, sample as u64))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Box::new(Cursor::new(bytes)) as Box<dyn Read>)
    }
}

/// The output as a reader (for an upload): the source streamed from its
/// first byte, with the carriers read from the store as they come.
pub fn splice_reader<'a>(
    objects: &'a dyn ObjectStore,
    plan: &'a Plan,
    planned: &'a PlannedSplice,
) -> Result<impl Read + 'a> {
    let source = ObjectReader::open(objects, plan.source())?;
    Ok(planned
        .splice
        .reader(source, carrier_bytes(objects, &plan.job_id)))
}

/// Reads a spliced output back and checks it: as many video samples as the
/// source, each carrier at its place with the bytes embedded.
pub fn verify_splice(output: &mut (impl Read + Seek), planned: &PlannedSplice) -> Result<SpliceReport> {
    let track = read_video_track(output)?;
    if track.samples.len() != planned.samples {
        return Err(PipelineError::Mismatch(format!(
            "the output has {} video samples, the source {}",
            track.samples.len(),
            planned.samples
        )));
    }
    for (&sample, digest) in &planned.digests {
        let s = track.samples[sample];
        let mut bytes = vec![0u8; s.size as usize];
        output
            .seek(std::io::SeekFrom::Start(s.offset))
            .and_then(|_| output.read_exact(&mut bytes))
            .map_err(|e| PipelineError::io("reading a carrier back from the output", e))?;
        if Sha256::digest(&bytes).as_slice() != digest {
            return Err(PipelineError::Mismatch(format!(
                "video sample {sample} of the output is not the carrier that was embedded"
            )));
        }
    }
    Ok(SpliceReport {
        bytes: planned.len(),
        source_bytes: planned.source_bytes,
        carriers: planned.digests.len(),
    })
}

/// Splices a compact-mode job into the local file `output` and checks it.
pub fn splice_to_file(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    plan: &Plan,
    output: &std::path::Path,
) -> Result<SpliceReport> {
    let planned = plan_carrier_splice(objects, jobs, plan)?;
    let file = std::fs::File::create(output)
        .map_err(|e| PipelineError::io(format!("cannot create {}", output.display()), e))?;
    // A local source is copied by the kernel; any other through the store.
    let written = match objects.media_source(plan.source())? {
        MediaSource::Path(path) => {
            let source = std::fs::File::open(&path)
                .map_err(|e| PipelineError::io(format!("cannot read {}", path.display()), e))?;
            planned
                .splice
                .write_file_to(&source, carrier_bytes(objects, &plan.job_id), &file)?
        }
        MediaSource::Url(_) => {
            let source = ObjectReader::open(objects, plan.source())?;
            planned
                .splice
                .write_to(source, carrier_bytes(objects, &plan.job_id), file)?
        }
    };
    if written != planned.len() {
        return Err(PipelineError::Mismatch(format!(
            "wrote {written} bytes of a {}-byte output",
            planned.len()
        )));
    }
    let mut check = std::fs::File::open(output)
        .map_err(|e| PipelineError::io(format!("cannot reopen {}", output.display()), e))?;
    verify_splice(&mut check, &planned)
}
