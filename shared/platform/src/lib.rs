//! What every function's host needs whatever it serves: its settings, read
//! by name from the environment the template gives it (or the local
//! runner's map of the same names), and telemetry. No AWS, no HTTP.

pub mod config;
pub mod telemetry;
