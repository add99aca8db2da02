//! # vidstega-pipeline
//!
//! VidStega's pipeline steps — `plan`, `embed-segment`, `concat`, `extract` —
//! written once against two small ports ([`ObjectStore`], [`JobStore`]) so
//! the same steps run on one machine (a folder and SQLite, driven by
//! [`run_embed`]) and on AWS (S3 and DynamoDB, driven by Step Functions).
//!
//! Dependencies point one way: the hidden-data core and the ffmpeg layer
//! below, adapters and entry points above.
#![deny(missing_docs)]

mod carriers;
mod concat;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod contract;
mod embed;
mod embed_carriers;
mod error;
mod extract;
mod plan;
mod pool;
mod ports;
mod progress;
mod records;
mod redact;
mod robust;
mod runner;
mod segments;
mod source;
mod splice;
mod track;

pub use carriers::{
    analyse_local_source, carrier_capacity, carrier_format, open_track, probe_source, CarrierCapacity,
    SourceAnalysis,
};
pub use concat::{concat_segments, joinable_segments};
pub use embed::{embed_in_one_pass, embed_segment, SegmentOutcome, FRAME_BUFFERS};
pub use embed_carriers::{decoder_threads_per_segment, embed_carriers};
pub use error::{media_class, PipelineError, Result};
pub use extract::{extract_file, Extracted, HEADER_SEARCH_CARRIERS, HEADER_SEARCH_FRAMES};
pub use plan::{
    envelope_header, geometry_of, plan_job, source_path, Limits, Plan, PlanSettings, Planned,
    TranscodePolicy, DEFAULT_MAX_RATE, LOSSLESS_BYTES_PER_PIXEL, MAX_CARRIERS_PER_SEGMENT,
};
pub use ports::{
    Created, ExecutionState, Finished, JobStore, MediaSource, ObjectStat, ObjectStore, Workflow,
};
pub use progress::{NoProgress, Progress};
pub use records::{now_ms, CarrierRecord, JobRecord, OutputRecord, SegmentRecord, Stage};
pub use redact::redact_urls;
pub use robust::{
    robust_codec, verify_robust_output, MAX_SEGMENT_SLOT_ERRORS, ROBUST_BYTES_PER_PIXEL, ROBUST_CRF,
    ROBUST_CRF_RETRIES, ROBUST_LOCK_SECONDS,
};
pub use runner::{run_embed, EmbedRun, OutputReport};
pub use segments::{gop_segments, target_frames};
pub use source::ObjectReader;
pub use splice::{
    plan_carrier_splice, splice_reader, splice_to_file, verify_splice, PlannedSplice, SpliceReport,
};
pub use track::{H264Track, Scan};
