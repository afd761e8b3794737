//! Change notifications between instances sharing a PostgreSQL database
//! (`LISTEN didhub_changes`; writers `NOTIFY` inside their transactions).

use super::CHANGE_CHANNEL;
use sqlx::postgres::PgListener;

pub struct ChangeListener(PgListener);

impl ChangeListener {
    pub async fn connect(url: &str) -> Result<ChangeListener, sqlx::Error> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANGE_CHANNEL).await?;
        Ok(ChangeListener(listener))
    }

    /// The next change; `None` when the connection was lost, after which
    /// notifications may have been missed.
    pub async fn next(&mut self) -> Result<Option<Notification>, sqlx::Error> {
        Ok(self
            .0
            .try_recv()
            .await?
            .map(|n| Notification::parse(n.payload())))
    }
}

/// One announcement: what changed, and when (wall-clock milliseconds) the
/// announcing process sent it, for the propagation lag in `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub subject: String,
    pub announced_at_ms: Option<i64>,
}

impl Notification {
    /// The payload `NOTIFY` carries: `<subject>@<unix milliseconds>` (subjects
    /// never contain `@`, see `Store::announce_change`).
    pub fn payload(subject: &str, announced_at_ms: i64) -> String {
        format!("{subject}@{announced_at_ms}")
    }

    /// Reads a payload; one without a time (from an older version) is the
    /// bare subject.
    pub fn parse(payload: &str) -> Notification {
        match payload.split_once('@') {
            Some((subject, at)) => Notification {
                subject: subject.to_owned(),
                announced_at_ms: at.parse().ok(),
            },
            None => Notification {
                subject: payload.to_owned(),
                announced_at_ms: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Notification;

    #[test]
    fn payloads_carry_the_subject_and_the_time_of_announcement() {
        let payload = Notification::payload("+33123456789", 1_795_737_600_123);
        assert_eq!(
            Notification::parse(&payload),
            Notification {
                subject: "+33123456789".to_owned(),
                announced_at_ms: Some(1_795_737_600_123),
            }
        );
        assert_eq!(Notification::parse("account:7").announced_at_ms, None);
        assert_eq!(Notification::parse("account:7").subject, "account:7");
    }
}
