//! `dids`: the inventory and each number's owner, lifecycle and forwarding.
//! Every state change is a conditional UPDATE, so two buyers, two instances or a
//! buyer and a sweeper can never both win the same row.

use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

#[derive(Debug, Clone)]
pub struct DidRow {
    pub id: i64,
    pub number: String,
    pub country: String,
    pub did_type: String,
    pub region: Option<String>,
    pub currency: String,
    pub setup_minor: i64,
    pub monthly_minor: i64,
    pub status: String,
    pub account_id: Option<i64>,
    pub assigned_at: Option<i64>,
    pub paid_through: Option<i64>,
    pub aging_until: Option<i64>,
    pub forward_type: Option<String>,
    pub forward_destination: Option<String>,
    /// The ordered destinations as JSON (see `domain::failover`); `None` on
    /// rows forwarded before failover existed, which have the first only.
    pub forwards: Option<String>,
    /// Maximum concurrent calls to the number; `None`: no limit.
    pub max_calls: Option<i64>,
    pub updated_at: i64,
}

macro_rules! did_columns {
    () => {
        "id, number, country, did_type, region, currency, setup_minor, monthly_minor, status, \
         account_id, assigned_at, paid_through, aging_until, forward_type, forward_destination, forwards, max_calls, updated_at"
    };
}

fn from_row(row: &AnyRow) -> Result<DidRow, sqlx::Error> {
    Ok(DidRow {
        id: row.try_get("id")?,
        number: row.try_get("number")?,
        country: row.try_get("country")?,
        did_type: row.try_get("did_type")?,
        region: row.try_get("region")?,
        currency: row.try_get("currency")?,
        setup_minor: row.try_get("setup_minor")?,
        monthly_minor: row.try_get("monthly_minor")?,
        status: row.try_get("status")?,
        account_id: row.try_get("account_id")?,
        assigned_at: row.try_get("assigned_at")?,
        paid_through: row.try_get("paid_through")?,
        aging_until: row.try_get("aging_until")?,
        forward_type: row.try_get("forward_type")?,
        forward_destination: row.try_get("forward_destination")?,
        forwards: row.try_get("forwards")?,
        max_calls: row.try_get("max_calls")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn rows(rows: Vec<AnyRow>) -> Result<Vec<DidRow>, sqlx::Error> {
    rows.iter().map(from_row).collect()
}

pub async fn find_by_id<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<DidRow>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        did_columns!(),
        " FROM dids WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn find_by_number<'e>(
    db: impl Executor<'e, Database = Any>,
    number: &str,
) -> Result<Option<DidRow>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        did_columns!(),
        " FROM dids WHERE number = $1"
    ))
    .bind(number)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn list_owned<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
) -> Result<Vec<DidRow>, sqlx::Error> {
    rows(
        sqlx::query(concat!(
            "SELECT ",
            did_columns!(),
            " FROM dids WHERE account_id = $1 ORDER BY number"
        ))
        .bind(account_id)
        .fetch_all(db)
        .await?,
    )
}

/// An owned number with what routing needs from its owner's account.
#[derive(Debug, Clone)]
pub struct RouteRow {
    pub did_id: i64,
    pub number: String,
    pub account_id: i64,
    pub username: String,
    pub pbx_host: Option<String>,
    pub forward_type: Option<String>,
    pub forward_destination: Option<String>,
    pub forwards: Option<String>,
    pub number_max_calls: Option<i64>,
    pub account_max_calls: Option<i64>,
    /// The owner is not active (suspended or closed): calls are not forwarded.
    pub owner_inactive: bool,
}

macro_rules! route_select {
    ($where:literal) => {
        concat!(
            "SELECT d.id AS did_id, d.number, d.account_id, a.username, a.pbx_host, d.forward_type, \
             d.forward_destination, d.forwards, d.max_calls AS number_max_calls, \
             a.max_calls AS account_max_calls, a.status AS owner_status FROM dids d JOIN accounts a ON a.id = d.account_id \
             WHERE d.status = 'assigned'",
            $where
        )
    };
}

fn route_from_row(row: &AnyRow) -> Result<RouteRow, sqlx::Error> {
    Ok(RouteRow {
        did_id: row.try_get("did_id")?,
        number: row.try_get("number")?,
        account_id: row.try_get("account_id")?,
        username: row.try_get("username")?,
        pbx_host: row.try_get("pbx_host")?,
        forward_type: row.try_get("forward_type")?,
        forward_destination: row.try_get("forward_destination")?,
        forwards: row.try_get("forwards")?,
        number_max_calls: row.try_get("number_max_calls")?,
        account_max_calls: row.try_get("account_max_calls")?,
        owner_inactive: row.try_get::<String, _>("owner_status")? != "active",
    })
}

/// Every number on sale, handed to `each` one at a time: what the shelf loads.
/// Streamed, because a million decoded rows held at once cost gigabytes.
pub async fn for_each_available<'e, E>(
    db: impl Executor<'e, Database = Any>,
    mut each: impl FnMut(DidRow) -> Result<(), E>,
) -> Result<Result<(), E>, sqlx::Error> {
    let mut rows = sqlx::query(concat!(
        "SELECT ",
        did_columns!(),
        " FROM dids WHERE status = 'available'"
    ))
    .fetch(db);
    while let Some(row) = rows.try_next().await? {
        if let Err(stop) = each(from_row(&row)?) {
            return Ok(Err(stop));
        }
    }
    Ok(Ok(()))
}

/// Every owned number: what the routing plane loads at start.
pub async fn list_routes<'e>(
    db: impl Executor<'e, Database = Any>,
) -> Result<Vec<RouteRow>, sqlx::Error> {
    sqlx::query(route_select!(""))
        .fetch_all(db)
        .await?
        .iter()
        .map(route_from_row)
        .collect()
}

/// The route of one number, `None` when nobody owns it.
pub async fn route_for_number<'e>(
    db: impl Executor<'e, Database = Any>,
    number: &str,
) -> Result<Option<RouteRow>, sqlx::Error> {
    sqlx::query(route_select!(" AND d.number = $1"))
        .bind(number)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(route_from_row)
        .transpose()
}

pub async fn routes_for_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
) -> Result<Vec<RouteRow>, sqlx::Error> {
    sqlx::query(route_select!(" AND d.account_id = $1"))
        .bind(account_id)
        .fetch_all(db)
        .await?
        .iter()
        .map(route_from_row)
        .collect()
}

/// Takes an available number for an account; `None` if it is not available (any more).
pub async fn claim<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    account_id: i64,
    now: i64,
    paid_through: i64,
) -> Result<Option<DidRow>, sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE dids SET status = 'assigned', account_id = $1, assigned_at = $2, paid_through = $3, \
         aging_until = NULL, forward_type = NULL, forward_destination = NULL, forwards = NULL, updated_at = $2 \
         WHERE id = $4 AND status = 'available' RETURNING ",
        did_columns!()
    ))
    .bind(account_id)
    .bind(now)
    .bind(paid_through)
    .bind(id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The forward of an owned number, as the list's first destination plus the
/// whole list (`None` for each removes it); `None` if the account does not hold it.
pub async fn set_forward<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    account_id: i64,
    first: Option<(&str, &str)>,
    forwards: Option<&str>,
    now: i64,
) -> Result<Option<DidRow>, sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE dids SET forward_type = $1, forward_destination = $2, forwards = $3, updated_at = $4 \
         WHERE id = $5 AND account_id = $6 AND status = 'assigned' RETURNING ",
        did_columns!()
    ))
    .bind(first.map(|(kind, _)| kind))
    .bind(first.map(|(_, destination)| destination))
    .bind(forwards)
    .bind(now)
    .bind(id)
    .bind(account_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The operator's limit of concurrent calls to a number (assigned or not);
/// `None` if there is no such number.
pub async fn set_max_calls<'e>(
    db: impl Executor<'e, Database = Any>,
    number: &str,
    max_calls: Option<i64>,
    now: i64,
) -> Result<Option<DidRow>, sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE dids SET max_calls = $1, updated_at = $2 WHERE number = $3 RETURNING ",
        did_columns!()
    ))
    .bind(max_calls)
    .bind(now)
    .bind(number)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Takes a number back from its owner into aging; `None` if the account does not hold it.
pub async fn release<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    account_id: i64,
    now: i64,
    aging_until: i64,
) -> Result<Option<DidRow>, sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE dids SET status = 'aging', account_id = NULL, assigned_at = NULL, paid_through = NULL, \
         aging_until = $1, forward_type = NULL, forward_destination = NULL, forwards = NULL, updated_at = $2 \
         WHERE id = $3 AND account_id = $4 AND status = 'assigned' RETURNING ",
        did_columns!()
    ))
    .bind(aging_until)
    .bind(now)
    .bind(id)
    .bind(account_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Returns numbers whose quarantine has passed to the sellable inventory.
pub async fn end_aging<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE dids SET status = 'available', aging_until = NULL, updated_at = $1 \
         WHERE status = 'aging' AND aging_until <= $1",
    )
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

pub async fn due_for_renewal<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
    limit: i64,
) -> Result<Vec<DidRow>, sqlx::Error> {
    rows(
        sqlx::query(concat!(
            "SELECT ",
            did_columns!(),
            " FROM dids WHERE status = 'assigned' AND paid_through <= $1 ORDER BY paid_through, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(db)
        .await?,
    )
}

/// Moves `paid_through` on only if nobody renewed the number in between.
pub async fn extend_paid_through<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    account_id: i64,
    old_paid_through: i64,
    new_paid_through: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE dids SET paid_through = $1, updated_at = $2 \
         WHERE id = $3 AND account_id = $4 AND status = 'assigned' AND paid_through = $5",
    )
    .bind(new_paid_through)
    .bind(now)
    .bind(id)
    .bind(account_id)
    .bind(old_paid_through)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A number as an operator lists it for sale.
#[derive(Debug, Clone)]
pub struct InventoryItem<'a> {
    pub number: &'a str,
    pub country: &'a str,
    pub did_type: &'a str,
    pub region: Option<&'a str>,
    pub currency: &'a str,
    pub setup_minor: i64,
    pub monthly_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Inserted,
    Updated,
    Unchanged,
    /// Sold or aging: its terms are the buyer's and are not rewritten.
    InUse,
}

pub async fn upsert_inventory(
    conn: &mut sqlx::AnyConnection,
    item: &InventoryItem<'_>,
    now: i64,
) -> Result<UpsertOutcome, sqlx::Error> {
    let Some(existing) = find_by_number(&mut *conn, item.number).await? else {
        sqlx::query(
            "INSERT INTO dids (number, country, did_type, region, currency, setup_minor, monthly_minor, status, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'available', $8)",
        )
        .bind(item.number)
        .bind(item.country)
        .bind(item.did_type)
        .bind(item.region)
        .bind(item.currency)
        .bind(item.setup_minor)
        .bind(item.monthly_minor)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        return Ok(UpsertOutcome::Inserted);
    };
    let same = existing.country == item.country
        && existing.did_type == item.did_type
        && existing.region.as_deref() == item.region
        && existing.currency == item.currency
        && existing.setup_minor == item.setup_minor
        && existing.monthly_minor == item.monthly_minor;
    if same {
        return Ok(UpsertOutcome::Unchanged);
    }
    if existing.status != "available" {
        return Ok(UpsertOutcome::InUse);
    }
    let done = sqlx::query(
        "UPDATE dids SET country = $1, did_type = $2, region = $3, currency = $4, setup_minor = $5, \
         monthly_minor = $6, updated_at = $7 WHERE id = $8 AND status = 'available'",
    )
    .bind(item.country)
    .bind(item.did_type)
    .bind(item.region)
    .bind(item.currency)
    .bind(item.setup_minor)
    .bind(item.monthly_minor)
    .bind(now)
    .bind(existing.id)
    .execute(&mut *conn)
    .await?;
    Ok(if done.rows_affected() == 1 {
        UpsertOutcome::Updated
    } else {
        UpsertOutcome::InUse
    })
}

pub async fn count_available<'e>(
    db: impl Executor<'e, Database = Any>,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM dids WHERE status = 'available'")
        .fetch_one(db)
        .await?;
    row.try_get("n")
}

pub async fn count_all<'e>(db: impl Executor<'e, Database = Any>) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM dids")
        .fetch_one(db)
        .await?;
    row.try_get("n")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryCount {
    pub country: String,
    pub did_type: String,
    pub status: String,
    pub count: i64,
}

/// Numbers per country, type and status: a few thousand rows at most (each
/// country offers a handful of types), so it needs no paging.
pub async fn count_by_country_type_status<'e>(
    db: impl Executor<'e, Database = Any>,
) -> Result<Vec<InventoryCount>, sqlx::Error> {
    sqlx::query(
        "SELECT country, did_type, status, CAST(COUNT(*) AS BIGINT) AS n FROM dids \
         GROUP BY country, did_type, status ORDER BY country, did_type, status",
    )
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(InventoryCount {
            country: r.try_get("country")?,
            did_type: r.try_get("did_type")?,
            status: r.try_get("status")?,
            count: r.try_get("n")?,
        })
    })
    .collect()
}

/// What the admin inventory list filters on; `None` fields match everything.
#[derive(Debug, Clone, Default)]
pub struct NumberFilter {
    pub status: Option<String>,
    pub country: Option<String>,
    pub did_type: Option<String>,
    pub account_id: Option<i64>,
}

/// Numbers in number order after `after`, matching `filter`. A `NULL`
/// parameter switches its condition off.
pub async fn page<'e>(
    db: impl Executor<'e, Database = Any>,
    filter: &NumberFilter,
    after: &str,
    limit: i64,
) -> Result<Vec<DidRow>, sqlx::Error> {
    let found = sqlx::query(concat!(
        "SELECT ",
        did_columns!(),
        " FROM dids WHERE number > $1 AND ($2 IS NULL OR status = $2) \
          AND ($3 IS NULL OR country = $3) AND ($4 IS NULL OR did_type = $4) \
          AND ($5 IS NULL OR account_id = $5) ORDER BY number LIMIT $6"
    ))
    .bind(after)
    .bind(filter.status.as_deref())
    .bind(filter.country.as_deref())
    .bind(filter.did_type.as_deref())
    .bind(filter.account_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows(found)
}

/// New prices for available numbers of one currency matching `filter` (and,
/// when given, only `numbers`); sold and aging numbers keep their terms.
pub async fn reprice_available<'e>(
    db: impl Executor<'e, Database = Any>,
    filter: &NumberFilter,
    number: Option<&str>,
    currency: &str,
    setup_minor: i64,
    monthly_minor: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE dids SET setup_minor = $1, monthly_minor = $2, updated_at = $3 \
         WHERE status = 'available' AND currency = $4 AND ($5 IS NULL OR country = $5) \
           AND ($6 IS NULL OR did_type = $6) AND ($7 IS NULL OR number = $7)",
    )
    .bind(setup_minor)
    .bind(monthly_minor)
    .bind(now)
    .bind(currency)
    .bind(filter.country.as_deref())
    .bind(filter.did_type.as_deref())
    .bind(number)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
