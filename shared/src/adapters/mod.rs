//! Implementations of the ports: AWS for real, in-memory for fast tests.

pub mod account_content;
pub mod dynamodb;
pub mod dynamodb_deliveries;
pub mod dynamodb_jobs;
pub mod memory;
pub mod s3;
pub mod ses;
pub mod sqs;
