//! The service without its infrastructure: newtypes that parse, users and
//! their authentication, OCR jobs and their processing, e-mail and its
//! delivery, each use case with the ports it needs (traits), and in-memory
//! adapters of every port for tests. No AWS SDK, no HTTP framework, no
//! Lambda runtime: Cargo keeps them out (see ARCHITECTURE.md).

pub mod account_content;
pub mod auth;
pub mod clock;
pub mod email;
pub mod errors;
pub mod jobs;
pub mod markup;
// Test doubles: compiled into tests and the local runner, never into a
// deployed function (`test-util`).
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod notify;
pub mod ports;
pub mod retry;
pub mod user;
pub mod values;
