//! Call records as SBCs report them, read into one shape: Kamailio's
//! `acc_json` (a transaction's accounting record, or a dialog's CDR) and
//! FreeSWITCH's `mod_json_cdr`. Several reports of one call (the INVITE's
//! record, then the CDR; or a retried post) merge by SIP Call-ID.

use serde_json::{Map, Value};
use std::fmt;

/// Longest Call-ID kept (RFC 3261 sets none; real ones are under 100 bytes).
pub const MAX_CALL_ID_LEN: usize = 255;
/// Longest caller (From user) kept.
const MAX_CALLER_LEN: usize = 128;
/// Longest believable call, so a wrong unit cannot store nonsense.
const MAX_DURATION_SECS: i64 = 7 * 86_400;

/// How a call ended for the number's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: someone picked up.
    Answered,
    /// Busy (486, 600), declined (603), not answered (408, 480) or given up
    /// by the caller (487): the destination worked but nobody talked.
    Missed,
    /// Any other final answer (404, 5xx, ...): the call could not be delivered.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Answered, Outcome::Missed, Outcome::Failed];

    pub fn code(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Missed => "missed",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.code() == text)
    }

    pub fn from_sip_code(code: i64) -> Outcome {
        match code {
            200..=299 => Outcome::Answered,
            408 | 480 | 486 | 487 | 600 | 603 => Outcome::Missed,
            _ => Outcome::Failed,
        }
    }
}

/// Which kind of SBC sent a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Kamailio,
    FreeSwitch,
}

impl Source {
    pub fn code(self) -> &'static str {
        match self {
            Source::Kamailio => "kamailio",
            Source::FreeSwitch => "freeswitch",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        [Source::Kamailio, Source::FreeSwitch]
            .into_iter()
            .find(|s| s.code() == text)
    }
}

/// One report of a call, times in unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport {
    pub call_id: String,
    /// The dialled DID as the SBC wrote it (not yet normalised).
    pub dialled: String,
    pub caller: Option<String>,
    pub outcome: Outcome,
    pub sip_code: Option<i64>,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub duration_secs: i64,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    NotAnObject,
    Missing(&'static str),
    Invalid(&'static str),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::NotAnObject => f.write_str(
                "a call record is a JSON object: Kamailio acc_json or FreeSWITCH mod_json_cdr",
            ),
            ReportError::Missing(field) => write!(f, "the call record has no {field}"),
            ReportError::Invalid(field) => write!(f, "the call record's {field} is invalid"),
        }
    }
}

/// Reads a report in whichever of the known formats it is.
pub fn parse_report(value: &Value) -> Result<CallReport, ReportError> {
    let object = value.as_object().ok_or(ReportError::NotAnObject)?;
    let report = if object.contains_key("variables") || object.contains_key("callflow") {
        freeswitch(object)?
    } else {
        kamailio(object)?
    };
    check(report)
}

fn check(mut report: CallReport) -> Result<CallReport, ReportError> {
    let text_ok =
        |s: &str, max: usize| !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control);
    if !text_ok(&report.call_id, MAX_CALL_ID_LEN) {
        return Err(ReportError::Invalid("call id"));
    }
    // A caller that cannot be shown is dropped, not the whole record.
    report.caller = report.caller.filter(|c| text_ok(c, MAX_CALLER_LEN));
    if report.started_at <= 0 || !(0..=MAX_DURATION_SECS).contains(&report.duration_secs) {
        return Err(ReportError::Invalid("time"));
    }
    Ok(report)
}

fn text<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A number given as a JSON number or as text (`"1700000000"`, `"12.500"`).
fn number(object: &Map<String, Value>, name: &str) -> Option<f64> {
    match object.get(name)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

fn seconds(object: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, ReportError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => number(object, name)
            .filter(|n| *n >= 0.0 && *n < 1e11)
            .map(|n| Some(n.floor() as i64))
            .ok_or(ReportError::Invalid(name)),
    }
}

/// The dialled DID: the `did` extra the recipes set, else the usual acc extras
/// for the original To user and the request user.
fn kamailio_dialled(object: &Map<String, Value>) -> Result<String, ReportError> {
    ["did", "dst_ouser", "dst_user"]
        .into_iter()
        .find_map(|name| text(object, name))
        .map(str::to_owned)
        .ok_or(ReportError::Missing("did (an acc extra: did=$tU)"))
}

/// acc_json: an accounting record (`method`, `sip_code`, `time`) or a CDR
/// (`start_time`, `end_time`, `duration`; Call-ID from a `callid` extra).
fn kamailio(object: &Map<String, Value>) -> Result<CallReport, ReportError> {
    let call_id = text(object, "callid").ok_or(ReportError::Missing("callid"))?;
    let dialled = kamailio_dialled(object)?;
    let caller = text(object, "src_user").map(str::to_owned);
    let base = |outcome, started_at| CallReport {
        call_id: call_id.to_owned(),
        dialled: dialled.clone(),
        caller: caller.clone(),
        outcome,
        sip_code: None,
        started_at,
        answered_at: None,
        ended_at: None,
        duration_secs: 0,
        source: Source::Kamailio,
    };
    if let Some(start) = seconds(object, "start_time")? {
        let duration = number(object, "duration").unwrap_or(0.0).round() as i64;
        let end = seconds(object, "end_time")?.unwrap_or(start + duration);
        let talked = duration.max(end - start);
        // acc also writes CDRs of dialogs that failed (`cdr_on_failed`): with
        // no time talked, the INVITE's record tells what happened.
        if talked <= 0 {
            return Ok(CallReport {
                ended_at: Some(end),
                ..base(Outcome::Failed, start)
            });
        }
        return Ok(CallReport {
            answered_at: Some(start),
            ended_at: Some(end),
            duration_secs: talked,
            ..base(Outcome::Answered, start)
        });
    }
    let time = seconds(object, "time")?.ok_or(ReportError::Missing("time or start_time"))?;
    let method = text(object, "method").unwrap_or("INVITE");
    if method.eq_ignore_ascii_case("BYE") {
        return Ok(CallReport {
            ended_at: Some(time),
            ..base(Outcome::Answered, time)
        });
    }
    let code = number(object, "sip_code")
        .map(|c| c as i64)
        .filter(|c| (100..700).contains(c))
        .ok_or(ReportError::Invalid("sip_code"))?;
    let outcome = Outcome::from_sip_code(code);
    Ok(CallReport {
        sip_code: Some(code),
        answered_at: (outcome == Outcome::Answered).then_some(time),
        ..base(outcome, time)
    })
}

/// mod_json_cdr with `encode-values` (the default) URL-encodes variables
/// (`switch_url_encode`: `%XX`, spaces included, so `+` stays a plus).
fn decoded(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

fn variable(variables: &Map<String, Value>, name: &str) -> Option<String> {
    text(variables, name).map(decoded).filter(|s| !s.is_empty())
}

fn epoch(variables: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, ReportError> {
    match variable(variables, name) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(0) => Ok(None),
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(ReportError::Invalid(name)),
        },
    }
}

/// The first caller profile: `callflow` is an array in current FreeSWITCH
/// and an object in old releases.
fn caller_profile(object: &Map<String, Value>) -> Option<&Map<String, Value>> {
    let callflow = object.get("callflow")?;
    let first = match callflow {
        Value::Array(flows) => flows.last()?,
        other => other,
    };
    first.get("caller_profile")?.as_object()
}

/// The SIP answer that ended an unanswered call: `sip_term_status`, or the
/// `sip:NNN` of the (last bridge's) protocol-specific hangup cause.
fn freeswitch_sip_code(variables: &Map<String, Value>) -> Option<i64> {
    variable(variables, "sip_term_status")
        .or_else(|| {
            [
                "last_bridge_proto_specific_hangup_cause",
                "proto_specific_hangup_cause",
            ]
            .into_iter()
            .find_map(|name| {
                variable(variables, name)?
                    .strip_prefix("sip:")
                    .map(str::to_owned)
            })
        })
        .and_then(|c| c.parse::<i64>().ok())
        .filter(|c| (100..700).contains(c))
}

/// Hangup causes (Q.850 names) of calls the destination did not take.
fn missed_cause(cause: &str) -> bool {
    matches!(
        cause,
        "USER_BUSY" | "NO_ANSWER" | "NO_USER_RESPONSE" | "ORIGINATOR_CANCEL" | "CALL_REJECTED"
    )
}

fn freeswitch(object: &Map<String, Value>) -> Result<CallReport, ReportError> {
    let variables = object
        .get("variables")
        .and_then(Value::as_object)
        .ok_or(ReportError::Missing("variables"))?;
    let profile = caller_profile(object);
    let from_profile = |name| profile.and_then(|p| text(p, name)).map(decoded);
    let call_id = variable(variables, "sip_call_id").ok_or(ReportError::Missing("sip_call_id"))?;
    let dialled = variable(variables, "sip_req_user")
        .or_else(|| from_profile("destination_number"))
        .or_else(|| variable(variables, "destination_number"))
        .ok_or(ReportError::Missing("destination_number"))?;
    let caller = from_profile("caller_id_number").or_else(|| variable(variables, "sip_from_user"));
    let started_at = epoch(variables, "start_epoch")?.ok_or(ReportError::Missing("start_epoch"))?;
    let answered_at = epoch(variables, "answer_epoch")?;
    let ended_at = epoch(variables, "end_epoch")?;
    let billsec = variable(variables, "billsec")
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| ReportError::Invalid("billsec"))
        })
        .transpose()?
        .unwrap_or(0);
    let sip_code = freeswitch_sip_code(variables);
    let outcome = match (answered_at, sip_code) {
        (Some(_), _) => Outcome::Answered,
        (None, Some(code)) => Outcome::from_sip_code(code),
        (None, None) if variable(variables, "hangup_cause").is_some_and(|c| missed_cause(&c)) => {
            Outcome::Missed
        }
        (None, None) => Outcome::Failed,
    };
    Ok(CallReport {
        call_id,
        dialled,
        caller,
        outcome,
        sip_code: if outcome == Outcome::Answered {
            Some(200)
        } else {
            sip_code
        },
        started_at,
        answered_at,
        ended_at,
        duration_secs: billsec,
        source: Source::FreeSwitch,
    })
}

/// One call's record from everything reported about it so far: the earliest
/// start, the answer once anyone saw one, the latest end, the longest talk.
/// Merging is order-independent and idempotent, so a retried post changes nothing.
pub fn merge(known: &CallReport, new: &CallReport) -> CallReport {
    let answered = known.outcome == Outcome::Answered || new.outcome == Outcome::Answered;
    // An answer wins; otherwise the report with a final code other than a
    // redirect (a proxy follows those: acc reports didhub's 302 too) says how it ended.
    let decisive = |r: &CallReport| r.sip_code.is_some_and(|c| !(300..400).contains(&c));
    let (outcome, sip_code) = match (known.outcome, new.outcome) {
        (Outcome::Answered, _) => (Outcome::Answered, known.sip_code.or(new.sip_code)),
        (_, Outcome::Answered) => (Outcome::Answered, new.sip_code.or(known.sip_code)),
        _ if !decisive(known) && decisive(new) => (new.outcome, new.sip_code),
        _ => (known.outcome, known.sip_code.or(new.sip_code)),
    };
    let answered_at = min_some(known.answered_at, new.answered_at);
    let ended_at = known.ended_at.max(new.ended_at);
    let talked = match (answered_at, ended_at) {
        (Some(a), Some(e)) if answered && e > a => e - a,
        _ => 0,
    };
    CallReport {
        call_id: known.call_id.clone(),
        dialled: known.dialled.clone(),
        caller: known.caller.clone().or_else(|| new.caller.clone()),
        outcome,
        sip_code,
        started_at: known.started_at.min(new.started_at),
        answered_at,
        ended_at,
        duration_secs: known.duration_secs.max(new.duration_secs).max(talked),
        source: known.source,
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_acc_json_invite_record_reads_its_code_and_time() {
        let report = parse_report(&json!({
            "method": "INVITE", "from_tag": "f", "to_tag": "t", "callid": "abc@host",
            "sip_code": "486", "sip_reason": "Busy Here", "time": 1_700_000_000,
            "did": "+33123456789", "src_user": "alice",
        }))
        .expect("parses");
        assert_eq!(report.outcome, Outcome::Missed);
        assert_eq!(report.sip_code, Some(486));
        assert_eq!(report.started_at, 1_700_000_000);
        assert_eq!(report.dialled, "+33123456789");
        assert_eq!(report.caller.as_deref(), Some("alice"));
    }

    #[test]
    fn an_acc_json_cdr_is_an_answered_call_with_its_duration() {
        let report = parse_report(&json!({
            "start_time": "1700000000.250", "end_time": "1700000012.750",
            "duration": "12.500", "callid": "abc@host", "did": "33123456789",
        }))
        .expect("parses");
        assert_eq!(report.outcome, Outcome::Answered);
        assert_eq!(
            (report.answered_at, report.ended_at),
            (Some(1_700_000_000), Some(1_700_000_012))
        );
        assert_eq!(report.duration_secs, 13);
    }

    #[test]
    fn a_mod_json_cdr_document_reads_encoded_variables() {
        let report = parse_report(&json!({
            "core-uuid": "u", "channel_data": {"direction": "inbound"},
            "variables": {
                "sip_call_id": "xyz%40host", "start_epoch": "1700000000",
                "answer_epoch": "0", "end_epoch": "1700000020", "billsec": "0",
                "hangup_cause": "NORMAL_TEMPORARY_FAILURE",
                "last_bridge_proto_specific_hangup_cause": "sip%3A486",
            },
            "callflow": [{"caller_profile": {"destination_number": "%2B33123456789", "caller_id_number": "bob"}}],
        }))
        .expect("parses");
        assert_eq!(report.call_id, "xyz@host");
        assert_eq!(report.dialled, "+33123456789");
        assert_eq!(report.outcome, Outcome::Missed);
        assert_eq!(report.sip_code, Some(486));
        assert_eq!(report.source, Source::FreeSwitch);
    }

    #[test]
    fn a_cdr_of_a_failed_dialog_leaves_the_outcome_to_the_invites_record() {
        let failed_cdr = parse_report(&json!({
            "start_time": "100.000", "end_time": "100.000", "duration": "0.000",
            "callid": "c", "did": "1",
        }))
        .expect("cdr");
        assert_eq!(failed_cdr.outcome, Outcome::Failed);
        let busy = parse_report(&json!({
            "method": "INVITE", "callid": "c", "sip_code": "480", "time": 100, "did": "1",
        }))
        .expect("invite");
        for merged in [merge(&failed_cdr, &busy), merge(&busy, &failed_cdr)] {
            assert_eq!(
                (merged.outcome, merged.sip_code),
                (Outcome::Missed, Some(480))
            );
            assert_eq!(merged.duration_secs, 0);
        }
    }

    #[test]
    fn a_followed_redirect_does_not_decide_how_the_call_ended() {
        let report = |code: &str| {
            parse_report(&json!({
                "method": "INVITE", "callid": "c", "sip_code": code, "time": 100, "did": "1",
            }))
            .expect("record")
        };
        let (redirect, busy) = (report("302"), report("486"));
        for merged in [merge(&redirect, &busy), merge(&busy, &redirect)] {
            assert_eq!(
                (merged.outcome, merged.sip_code),
                (Outcome::Missed, Some(486))
            );
        }
    }

    #[test]
    fn reports_without_what_identifies_a_call_are_refused() {
        assert_eq!(parse_report(&json!([1])), Err(ReportError::NotAnObject));
        assert_eq!(
            parse_report(&json!({"time": 1, "sip_code": "200", "did": "1"})),
            Err(ReportError::Missing("callid"))
        );
        assert!(parse_report(&json!({"callid": "a", "time": 1, "sip_code": "200"})).is_err());
        assert_eq!(
            parse_report(&json!({"callid": "a\nb", "time": 1, "sip_code": "200", "did": "1"})),
            Err(ReportError::Invalid("call id"))
        );
        assert_eq!(
            parse_report(&json!({"callid": "a", "time": 1, "sip_code": "2000", "did": "1"})),
            Err(ReportError::Invalid("sip_code"))
        );
        let odd_caller =
            json!({"callid": "a", "time": 1, "sip_code": "200", "did": "1", "src_user": "x\u{0}"});
        assert_eq!(parse_report(&odd_caller).map(|r| r.caller), Ok(None));
    }

    #[test]
    fn merging_the_invite_record_and_the_cdr_in_either_order_gives_one_call() {
        let invite = parse_report(&json!({
            "method": "INVITE", "callid": "c", "sip_code": "200", "time": 100, "did": "1", "src_user": "a",
        }))
        .expect("invite");
        let bye = parse_report(&json!({"method": "BYE", "callid": "c", "time": 130, "did": "1"}))
            .expect("bye");
        let one = merge(&invite, &bye);
        let other = merge(&bye, &invite);
        assert_eq!(one.duration_secs, 30);
        assert_eq!(one.outcome, Outcome::Answered);
        assert_eq!(one.sip_code, Some(200));
        assert_eq!(
            (one.started_at, one.ended_at),
            (other.started_at, other.ended_at)
        );
        assert_eq!(one.duration_secs, other.duration_secs);
        assert_eq!(merge(&one, &bye), one, "a retried report changes nothing");
    }

    #[test]
    fn decoding_keeps_a_plus_and_a_stray_percent() {
        assert_eq!(decoded("+33%201%"), "+33 1%");
    }
}
