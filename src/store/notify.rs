//! Route-change notifications between instances sharing a PostgreSQL database
//! (`LISTEN didhub_routes`; the writers `NOTIFY` inside their transactions).

use super::ROUTE_CHANNEL;
use sqlx::postgres::PgListener;

pub struct RouteListener(PgListener);

impl RouteListener {
    pub async fn connect(url: &str) -> Result<RouteListener, sqlx::Error> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(ROUTE_CHANNEL).await?;
        Ok(RouteListener(listener))
    }

    /// The next changed subject; `None` when the connection was lost, after
    /// which notifications may have been missed.
    pub async fn next(&mut self) -> Result<Option<String>, sqlx::Error> {
        Ok(self.0.try_recv().await?.map(|n| n.payload().to_owned()))
    }
}
