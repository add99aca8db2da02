//! The AWS adapters against the local AWS-protocol servers (moto, DynamoDB
//! Local), through the real SDK clients: one test binary, one module per
//! service.

mod common;
mod dynamodb;
mod s3;
mod sqs_sfn;
