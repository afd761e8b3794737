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

    /// The next changed subject; `None` when the connection was lost, after
    /// which notifications may have been missed.
    pub async fn next(&mut self) -> Result<Option<String>, sqlx::Error> {
        Ok(self.0.try_recv().await?.map(|n| n.payload().to_owned()))
    }
}
