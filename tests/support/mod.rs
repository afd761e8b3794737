//! Shared by the test binaries.
#![allow(dead_code)] // each binary uses a different part

pub mod backends;
pub mod database;
pub mod dns;
pub mod receiver;
pub mod sip_client;
