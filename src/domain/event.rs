//! The event catalogue (issue 14): what happened, as receivers of webhooks see
//! it. Pure: the outbox (src/service/events.rs) records them, delivery posts them.

use std::fmt;

/// Every event type didhub emits. The code is the public name (`number.assigned`);
/// adding a variant means adding it to [`EventType::ALL`] and to README's catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    NumberAssigned,
    NumberForwarded,
    NumberForwardRemoved,
    NumberReleased,
    NumberRestored,
    NumberRenewed,
    NumberSuspended,
    NumberReclaimed,
    NumberHeld,
    NumberHoldExpired,
    BalanceCredited,
    BalanceAdjusted,
    BalanceLow,
    AccountSuspended,
    InventoryImported,
    /// Sent only by "send test event"; never recorded by a state change.
    WebhookTest,
}

impl EventType {
    pub const ALL: [EventType; 16] = [
        EventType::NumberAssigned,
        EventType::NumberForwarded,
        EventType::NumberForwardRemoved,
        EventType::NumberReleased,
        EventType::NumberRestored,
        EventType::NumberRenewed,
        EventType::NumberSuspended,
        EventType::NumberReclaimed,
        EventType::NumberHeld,
        EventType::NumberHoldExpired,
        EventType::BalanceCredited,
        EventType::BalanceAdjusted,
        EventType::BalanceLow,
        EventType::AccountSuspended,
        EventType::InventoryImported,
        EventType::WebhookTest,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EventType::NumberAssigned => "number.assigned",
            EventType::NumberForwarded => "number.forwarded",
            EventType::NumberForwardRemoved => "number.forward_removed",
            EventType::NumberReleased => "number.released",
            EventType::NumberRestored => "number.restored",
            EventType::NumberRenewed => "number.renewed",
            EventType::NumberSuspended => "number.suspended",
            EventType::NumberReclaimed => "number.reclaimed",
            EventType::NumberHeld => "number.held",
            EventType::NumberHoldExpired => "number.hold_expired",
            EventType::BalanceCredited => "balance.credited",
            EventType::BalanceAdjusted => "balance.adjusted",
            EventType::BalanceLow => "balance.low",
            EventType::AccountSuspended => "account.suspended",
            EventType::InventoryImported => "inventory.imported",
            EventType::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(code: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.code() == code)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What orders events: a number's events reach an endpoint in the order they
/// happened, and so do an account's balance and status events. Events of
/// different keys may overtake each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderingKey<'a> {
    Number(&'a str),
    Account(i64),
    Inventory,
}

impl OrderingKey<'_> {
    pub fn text(&self) -> String {
        match self {
            OrderingKey::Number(number) => (*number).to_owned(),
            OrderingKey::Account(id) => format!("account:{id}"),
            OrderingKey::Inventory => "inventory".to_owned(),
        }
    }
}

/// Which event types an endpoint wants, as stored: `*` for all, otherwise the
/// codes between commas (`,number.assigned,balance.low,`) so that one portable
/// `LIKE` finds the endpoints of a type.
pub fn subscription_text(types: &[EventType]) -> String {
    if types.is_empty() {
        return "*".to_owned();
    }
    let mut text = String::from(",");
    for t in types {
        text.push_str(t.code());
        text.push(',');
    }
    text
}

/// The inverse of [`subscription_text`]; an empty list means every type.
pub fn subscription_types(text: &str) -> Vec<EventType> {
    text.split(',').filter_map(EventType::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_to_its_type() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.code()), Some(t));
        }
        assert_eq!(EventType::parse("number.bought"), None);
    }

    #[test]
    fn subscriptions_round_trip_and_empty_means_all() {
        let types = [EventType::NumberAssigned, EventType::BalanceLow];
        let text = subscription_text(&types);
        assert_eq!(text, ",number.assigned,balance.low,");
        assert_eq!(subscription_types(&text), types);
        assert_eq!(subscription_text(&[]), "*");
        assert!(subscription_types("*").is_empty());
    }

    #[test]
    fn balance_events_are_ordered_by_account() {
        assert_eq!(OrderingKey::Account(7).text(), "account:7");
        assert_eq!(OrderingKey::Number("+3312").text(), "+3312");
    }
}
