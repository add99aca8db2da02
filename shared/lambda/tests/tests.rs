//! The functions against the local AWS-protocol servers, in one test
//! binary: the handlers in-process with real SDK clients (`aws_e2e`), every
//! AWS call checked against each function's policy in `template.yaml`
//! (`iam_conformance`), and the real Lambda binaries under moto's Step
//! Functions engine (`real_binaries`). (`layer.rs` is a binary of its own:
//! it points the process-wide ffmpeg variables at the Lambda layer's
//! binaries.)

mod common;
mod iam;
mod lambda_local;

mod aws_e2e;
mod iam_conformance;
mod real_binaries;
