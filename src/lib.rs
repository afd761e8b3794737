//! didhub: DID number provisioning and call routing.
//!
//! Layers: `domain` (pure rules) ← `store` (SQL) ← `service` (use cases,
//! transactions) ← `http` / `cli`. Data flows one way.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod service;
pub mod sip;
pub mod store;
