//! The `vidstega` binary tested from the outside, in one test binary: the
//! lossless mode and the command line (`cli`), compact mode (`compact`),
//! robust mode (`robust`), and
//! `submit`/`status` against the local AWS-protocol servers (`cloud`).

mod common;

mod cli;
#[cfg(feature = "cloud")]
mod cloud;
mod compact;
mod robust;
