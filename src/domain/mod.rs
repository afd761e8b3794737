//! Pure types and rules: numbers, money, forwarding targets. No I/O.

pub mod billing;
pub mod call;
pub mod catalogue;
pub mod deny;
pub mod did_type;
pub mod event;
pub mod failover;
pub mod forward;
pub mod money;
pub mod number_gen;
pub mod operator;
pub mod phone;
pub mod renewal;
pub mod routing;
pub mod text;
pub mod webhook;

pub use did_type::DidType;
pub use forward::{ForwardPolicy, ForwardTarget, ForwardType};
pub use money::Currency;
pub use phone::{CountryCode, E164};
