//! The client-level tests, in one binary: each module spawns the system
//! (`common::TestApp`: the same routers and workers as Lambda's, on moto
//! or LocalStack) and talks to it as a client does, or runs the deployed
//! binaries (`lambda_binaries`). One binary links the AWS SDKs and RTen
//! once instead of once a file. Two suites keep binaries of their own:
//! `ocr_quality` (the engine on rendered fixtures, no AWS: it is what the
//! emulated-CPU and arm64 lanes build and run) and `telemetry` (it owns
//! its binary's global log subscriber).

mod common;

mod acceptance;
mod account_security;
mod auth_api;
mod born_digital;
mod dev_script;
mod documents;
mod hostile_documents;
mod lambda_binaries;
mod ocr_api;
mod openapi;
mod stores;
mod web_page;
