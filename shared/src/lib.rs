//! The outer layer every function shares: configuration, the AWS adapters
//! and the one place that builds AWS clients, the Lambda/SQS host loop,
//! telemetry, and the HTTP plumbing (problem+json errors, strict JSON
//! bodies, bearer tokens). The inner layers are crates of their own
//! (`domain`, `imaging`), re-exported here under the paths the functions
//! use; see ARCHITECTURE.md.

pub mod adapters;
pub mod aws;
pub mod config;
pub mod http;
pub mod sqs_batch;
pub mod telemetry;

pub use ::domain::values as domain;
pub use ::domain::{auth, clock, email, errors, jobs, markup, notify, ports, retry, user};
pub use imaging;
