//! Everything the functions share: the domain (newtypes, users, auth), the
//! ports it needs and their adapters, configuration, telemetry, and the HTTP
//! plumbing (problem+json errors, strict JSON bodies, bearer tokens).

pub mod adapters;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod domain;
pub mod email;
pub mod errors;
pub mod http;
pub mod imaging;
pub mod jobs;
pub mod markup;
pub mod notify;
pub mod ports;
pub mod retry;
pub mod sqs_batch;
pub mod telemetry;
pub mod user;
