//! `webhook_endpoints`, `webhook_deliveries`, `webhook_attempts`.
