//! Implementations of the ports in AWS (the in-memory ones live beside the
//! ports, in the `domain` crate, and are re-exported here).

pub use ::domain::account_content;
#[cfg(any(test, feature = "test-util"))]
pub use ::domain::memory;

pub mod dynamodb;
pub mod dynamodb_deliveries;
pub mod dynamodb_jobs;
pub mod s3;
pub mod ses;
pub mod sqs;
