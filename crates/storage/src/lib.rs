//! The embedded durable store behind the DynamoDB- and S3-compatible APIs, and the
//! cross-region replication log.
