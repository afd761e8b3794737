//! Integration tests: every test drives a real server over HTTP.
//! One binary so the suite links once.

// A failed test step panics, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Amounts in minor units are written dollars_cents (10_00 is 10.00).
#![allow(clippy::inconsistent_digit_grouping)]

#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod admin;
mod assign;
mod auth;
mod available;
mod billing;
mod browser;
mod call_records;
mod calls;
mod connections;
mod console;
mod contract;
mod events;
mod failover;
mod freeswitch;
mod holds;
mod input;
mod metrics;
mod numbers;
mod orders;
mod routing;
mod seed_flow;
mod webhooks;
