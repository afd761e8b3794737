//! Integration tests: every test drives a real server over HTTP.
//! One binary so the suite links once.

// Amounts in minor units are written dollars_cents (10_00 is 10.00).
#![allow(clippy::inconsistent_digit_grouping)]

#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod admin;
mod assign;
mod auth;
mod available;
mod browser;
mod calls;
mod connections;
mod console;
mod contract;
mod input;
mod metrics;
mod numbers;
mod routing;
mod seed_flow;
