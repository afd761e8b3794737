//! Call records: what the operator's SBC reports (`POST /v1/calls`), kept per
//! number for its owner at the time of the call, merged by Call-ID, listed to
//! the owner and counted for the operator.

use super::{Error, Result, Service};
use crate::domain::call::{CallReport, Outcome, Source, merge};
use crate::store::calls::{self, CallFilter, CallRow};
use crate::store::is_unique_violation;
use std::collections::HashMap;

/// Attempts at a merge that loses a race with another report of the same call.
const MERGE_ATTEMPTS: usize = 3;

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A call seen for the first time.
    New,
    /// Merged into the call already stored (it may have changed nothing).
    Merged,
    /// Nobody owns the dialled number: nothing is stored.
    Ignored,
}

/// A call as its number's owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub id: i64,
    pub call_id: String,
    pub did_id: i64,
    pub number: String,
    pub caller: Option<String>,
    pub outcome: Outcome,
    pub sip_code: Option<i64>,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub duration_secs: i64,
}

/// Calls per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub answered: i64,
    pub missed: i64,
    pub failed: i64,
    /// Seconds talked (totals only).
    pub seconds: i64,
}

impl CallCounts {
    pub fn total(&self) -> i64 {
        self.answered + self.missed + self.failed
    }

    fn add(&mut self, outcome: &str, calls: i64) {
        match Outcome::parse(outcome) {
            Some(Outcome::Answered) => self.answered += calls,
            Some(Outcome::Missed) => self.missed += calls,
            _ => self.failed += calls,
        }
    }
}

/// Which calls to list; `before_id` is the paging cursor.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub did_id: Option<i64>,
    pub outcome: Option<Outcome>,
    pub caller: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

fn report_of(row: &CallRow) -> Result<CallReport> {
    let corrupt = |what: &str| Error::Internal(format!("call record {}: bad {what}", row.id));
    Ok(CallReport {
        call_id: row.call_id.clone(),
        dialled: row.number.clone(),
        caller: row.caller.clone(),
        outcome: Outcome::parse(&row.outcome).ok_or_else(|| corrupt("outcome"))?,
        sip_code: row.sip_code,
        started_at: row.started_at,
        answered_at: row.answered_at,
        ended_at: row.ended_at,
        duration_secs: row.duration_secs,
        source: Source::parse(&row.source).ok_or_else(|| corrupt("source"))?,
    })
}

/// `row` with the values of `report` (identity and owner unchanged).
fn with_report(row: &CallRow, report: &CallReport) -> CallRow {
    CallRow {
        caller: report.caller.clone(),
        outcome: report.outcome.code().to_owned(),
        sip_code: report.sip_code,
        started_at: report.started_at,
        answered_at: report.answered_at,
        ended_at: report.ended_at,
        duration_secs: report.duration_secs,
        ..row.clone()
    }
}

impl Service {
    /// Stores a report of a call to `number` (E.164) under the number's
    /// current owner, or merges it into the call already stored.
    pub async fn record_call(&self, report: &CallReport, number: &str) -> Result<Recorded> {
        let Some(route) = self.route(number) else {
            return Ok(Recorded::Ignored);
        };
        let fresh = CallRow {
            id: 0,
            call_id: report.call_id.clone(),
            did_id: route.did_id,
            account_id: route.account_id,
            number: route.did.to_string(),
            caller: None,
            outcome: String::new(),
            sip_code: None,
            started_at: 0,
            answered_at: None,
            ended_at: None,
            duration_secs: 0,
            source: report.source.code().to_owned(),
            revision: 0,
        };
        for _ in 0..MERGE_ATTEMPTS {
            if let Some(outcome) = self.try_record(&fresh, report).await? {
                return Ok(outcome);
            }
        }
        Err(Error::Conflict(
            "this call is being reported concurrently; retry".to_owned(),
        ))
    }

    /// One attempt; `None` when another report of the call got in between.
    async fn try_record(&self, fresh: &CallRow, report: &CallReport) -> Result<Option<Recorded>> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let outcome = match calls::find(&mut *tx, &report.call_id).await? {
            None => match calls::insert(&mut *tx, &with_report(fresh, report), now).await {
                Ok(()) => Recorded::New,
                Err(e) if is_unique_violation(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
            Some(row) => {
                let merged = merge(&report_of(&row)?, report);
                if !calls::update(&mut *tx, &with_report(&row, &merged), now).await? {
                    return Ok(None);
                }
                Recorded::Merged
            }
        };
        tx.commit().await?;
        Ok(Some(outcome))
    }

    /// An account's calls, newest first.
    pub async fn calls(&self, account_id: i64, query: &CallQuery) -> Result<Vec<Call>> {
        let filter = CallFilter {
            account_id,
            did_id: query.did_id,
            outcome: query.outcome.map(Outcome::code),
            caller: query.caller.as_deref(),
            since: query.since,
            until: query.until,
            before_id: query.before_id,
            limit: query.limit,
        };
        let rows = calls::list(self.store.pool(), &filter).await?;
        rows.iter()
            .map(|row| {
                let report = report_of(row)?;
                Ok(Call {
                    id: row.id,
                    call_id: report.call_id,
                    did_id: row.did_id,
                    number: row.number.clone(),
                    caller: report.caller,
                    outcome: report.outcome,
                    sip_code: report.sip_code,
                    started_at: report.started_at,
                    answered_at: report.answered_at,
                    ended_at: report.ended_at,
                    duration_secs: report.duration_secs,
                })
            })
            .collect()
    }

    /// Calls per number (by did id) of an account, over the retention period.
    pub async fn call_counts(&self, account_id: i64) -> Result<HashMap<i64, CallCounts>> {
        let mut counts: HashMap<i64, CallCounts> = HashMap::new();
        for (did_id, outcome, calls) in calls::counts_by_did(self.store.pool(), account_id).await? {
            counts.entry(did_id).or_default().add(&outcome, calls);
        }
        Ok(counts)
    }

    /// All calls started in `[since, until)`, for the operator.
    pub async fn call_totals(&self, since: i64, until: i64) -> Result<CallCounts> {
        let mut totals = CallCounts::default();
        for (outcome, calls, seconds) in calls::totals(self.store.pool(), since, until).await? {
            totals.add(&outcome, calls);
            totals.seconds += seconds;
        }
        Ok(totals)
    }

    /// Forgets calls older than the retention period (part of maintenance).
    pub(super) async fn purge_old_calls(&self) -> Result<u64> {
        let before = self.now() - self.settings().call_retention_secs;
        Ok(calls::purge_older_than(self.store.pool(), before).await?)
    }
}
