//! Implementations of the ports: AWS for real, in-memory for fast tests.

pub mod dynamodb;
pub mod memory;
pub mod sqs;
