//! Meridian's storage plane: one embedded crash-safe engine ([`engine`], redb) under the
//! DynamoDB-compatible API ([`dynamo`]), with SigV4 request signing ([`sigv4`]) checked
//! against the access keys kept in the state directory ([`keys`]), and the S3-compatible API
//! ([`s3`]) on the same engine, keys and signatures, with object bytes as files beside it.
//! Later the cross-region replication log shares them too.
//!
//! In the data flow it is a plane: `meridian up` opens the engine under the state
//! directory, creates the tables a SAM template declares, and serves the endpoint that
//! functions reach through `AWS_ENDPOINT_URL_DYNAMODB`.

pub mod dynamo;
pub mod engine;
pub mod iam;
pub mod journal;
pub mod keys;
pub mod plane;
pub mod s3;
mod s3client;
pub mod server;
pub mod sigv4;
mod sts;
mod writeback;
