//! # vidstega-local
//!
//! The adapters that let VidStega's pipeline run on one machine with no cloud
//! account: [`FolderStore`] is a folder standing in for the S3 bucket, and
//! [`SqliteJobStore`] is an SQLite file standing in for the DynamoDB table.
//! Both pass the same conformance suite as the AWS adapters
//! (`vidstega_pipeline::conformance`).
#![deny(missing_docs)]

mod folder;
mod sqlite;

pub use folder::FolderStore;
pub use sqlite::SqliteJobStore;
