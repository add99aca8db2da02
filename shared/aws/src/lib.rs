//! # vidstega-aws
//!
//! The adapters that run VidStega's pipeline on AWS: [`S3Store`] is the
//! object store and [`DynamoJobStore`] the job table (the two ports of
//! `vidstega_pipeline`), [`SqsQueue`] carries job messages and
//! [`StepFunctions`] starts and describes a job's execution. [`AwsClients`]
//! builds the SDK clients once from the standard configuration chain.
//!
//! Both stores pass the same conformance suite as the local adapters
//! (`vidstega_pipeline::conformance`), run against local AWS-protocol servers
//! (moto for S3/SQS/Step Functions, DynamoDB Local): see `infra/local/`.
//!
//! ## Threads
//!
//! The ports are synchronous, the SDK is async. [`S3Store`] and
//! [`DynamoJobStore`] own a [`tokio::runtime::Handle`] of a multi-thread
//! runtime and block the calling thread on it. Call them from threads that are
//! not runtime workers: the pipeline's own threads, or from async code through
//! [`run_blocking`] (`tokio::task::spawn_blocking`). [`SqsQueue`] and
//! [`StepFunctions`] are async.
//!
//! ## Endpoints
//!
//! [`load_sdk_config`] uses `aws_config::defaults(BehaviorVersion::latest())`,
//! which honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`
//! (`_S3`, `_DYNAMODB`, `_SQS`, `_SFN`); the tests rely on exactly that. When
//! an S3 endpoint URL is configured the S3 client uses path-style addressing.
//!
//! ## Recording calls (tests)
//!
//! With the `call-recorder` feature, `recorder::CallRecorder` is an SDK
//! interceptor that records every operation a client sends or presigns and
//! maps it to the IAM permissions it needs; [`AwsClients::with_interceptor`]
//! attaches it to all four clients. The IAM conformance test
//! (`shared/lambda/tests/iam_conformance.rs`) checks those permissions
//! against `template.yaml`. The functions build their clients with
//! [`AwsClients::new`] and are compiled without the feature.
//!
//! ## The job table
//!
//! One table, partition key `pk` (S) and sort key `sk` (S), on-demand
//! billing ([`create_table`]). A job and its segments share a partition, so
//! one Query reads all segments.
//!
//! Job item — `pk = "JOB#<job id>"`, `sk = "JOB"`:
//!
//! | attribute        | type | meaning |
//! | ---------------- | ---- | ------- |
//! | `job_id`         | S    | the job id (also the execution name) |
//! | `stage`          | S    | `queued`, `embedding`, `concatenating`, `done`, `failed` |
//! | `video_key`      | S    | source video object |
//! | `envelope_key`   | S    | sealed payload object |
//! | `output_key`     | S    | output object |
//! | `segments_total` | N    | segments in the plan (0 until planned) |
//! | `segments_done`  | N    | segments finished (`ADD 1` per segment, once) |
//! | `error`          | S    | why it failed; absent otherwise |
//! | `created_ms`     | N    | creation, ms since the Unix epoch |
//! | `updated_ms`     | N    | last change, ms since the Unix epoch |
//! | `expires_at`     | N    | TTL: epoch seconds after which DynamoDB may delete it (segments too) |
//!
//! Segment item — `pk = "JOB#<job id>"`, `sk = "SEG#<index, 5 digits>"`
//! (e.g. `SEG#00042`; indexes past 99,999 get more digits and are sorted by
//! `index` when read):
//!
//! | attribute     | type | meaning |
//! | ------------- | ---- | ------- |
//! | `job_id`      | S    | the job id |
//! | `index`       | N    | position in the plan |
//! | `frame_start` | N    | first frame (display order) |
//! | `frame_end`   | N    | one past the last frame |
//! | `bit_start`   | N    | first payload bit |
//! | `bit_end`     | N    | one past the last payload bit |
//! | `done`        | BOOL | whether the segment's encoded file is stored |
//! | `millis`      | N    | embedding time; absent until done |
//!
//! Quota item — `pk = "QUOTA#<caller>"`, `sk = "WINDOW#<hour start, ms>"`:
//! `count` (N, jobs the caller created in that hour) and `expires_at`
//! (two hours after the window starts); written only by
//! [`vidstega_pipeline::JobStore::take_quota`].
//!
//! Writes: the job is created with `attribute_not_exists(pk)`; segments are
//! put with `attribute_not_exists(pk)` (an existing equal segment is fine, a
//! different one a conflict); finishing a segment is one TransactWriteItems
//! (`done = false → true` on the segment, `ADD segments_done 1` on the job);
//! stage changes are conditioned on the job existing and not being `done` or
//! `failed`.
#![deny(missing_docs)]

mod config;
mod dynamo;
mod error;
mod loopback;
#[cfg(feature = "call-recorder")]
pub mod recorder;
mod runtime;
mod s3;
mod sfn;
mod sqs;
mod workflow;

pub use config::{load_sdk_config, s3_client, AwsClients};
pub use dynamo::{
    create_table, job_pk, segment_sk, DynamoJobStore, DEFAULT_RECORD_TTL, EXPIRES_AT, JOB_SK, PK, SK,
};
pub use error::AwsError;
pub use runtime::run_blocking;
pub use s3::{
    file_part_size, stream_part_size, PresignedPut, S3Store, DEFAULT_PRESIGN_TTL, MAX_PARTS, MAX_PART_SIZE,
    MAX_PRESIGN_TTL, MIN_PART_SIZE, MULTIPART_THRESHOLD,
};
pub use sfn::{Execution, ExecutionStatus, Started, StepFunctions};
pub use sqs::{ReceivedMessage, SqsQueue};
pub use workflow::SfnWorkflow;
