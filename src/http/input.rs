//! Request input for the seed-compatible API: the same handler takes
//! `application/x-www-form-urlencoded` (what the seed's Python sends) or JSON,
//! and the token as a `token` field or an `Authorization: Bearer` header.

use super::error::{ApiError, BODY_TOO_LARGE};
use crate::domain::text::refused_char;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const MAX_FIELD_LEN: usize = 4096;
const MAX_FIELDS: usize = 64;

/// Every field some handler reads. Others are ignored whatever their name,
/// length or type, as the OpenAPI document promises (`additionalProperties`).
const KNOWN_FIELDS: [&str; 26] = [
    "token",
    "username",
    "password",
    "country",
    "type",
    "prefix",
    "area_code",
    "contains",
    "limit",
    "cursor",
    "did_id",
    "idempotency_key",
    "destination",
    "timeout_seconds",
    // Holds, bulk orders and quotes.
    "partial",
    "dry_run",
    "quantity",
    "ttl_seconds",
    // Billing (issue 12): upcoming, statement, settings.
    "days",
    "month",
    "format",
    "low_balance_threshold",
    // Call records (`/api/did/calls`).
    "status",
    "from",
    "since",
    "until",
];

/// The known fields a JSON body may give as a number; the others take strings only,
/// so that `{"contains": 12}` is refused as the document's `type: string` says.
const NUMERIC_FIELDS: [&str; 8] = [
    "did_id",
    "limit",
    "quantity",
    "ttl_seconds",
    "timeout_seconds",
    "days",
    "since",
    "until",
];

/// The known fields a JSON body may give as `true` or `false`.
const BOOLEAN_FIELDS: [&str; 2] = ["partial", "dry_run"];

/// Fields that may name several values: a form repeats them, JSON gives an array.
const LIST_FIELDS: [&str; 1] = ["did_id"];

/// The fields a form may repeat for `did/forward`'s destinations, in order (JSON
/// gives a `forwards` list instead); the first value also stands as the field's.
const FORWARD_LIST_FIELDS: [&str; 3] = ["type", "destination", "timeout_seconds"];

/// A request body's fields: single values, and every value of a list field.
#[derive(Debug, Default)]
struct Fields {
    single: HashMap<String, String>,
    /// Every value of each list field, in order, however it was given.
    lists: HashMap<String, Vec<String>>,
    /// List fields given as several values (a JSON array, a repeated form field).
    several: Vec<String>,
    /// A JSON body's `forwards` list.
    forwards: Option<Vec<ForwardItem>>,
}

/// The flat string fields of a request body plus the headers that stand in for fields.
#[derive(Debug, Default)]
pub struct ApiInput {
    fields: HashMap<String, String>,
    /// Every value of each list field, in order (`did_id`, and a form's
    /// repeated forward fields).
    lists: HashMap<String, Vec<String>>,
    several: Vec<String>,
    /// A JSON body's `forwards` list.
    forwards: Option<Vec<ForwardItem>>,
    bearer: Option<String>,
    idempotency_key: Option<String>,
    peer: Option<IpAddr>,
}

impl ApiInput {
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<&str, ApiError> {
        self.optional(name)
            .ok_or_else(|| ApiError::bad_request("missing_field", format!("{name} is required")))
    }

    /// A field that may be sent empty (the value matters as given).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn positive_id(&self, name: &'static str) -> Result<i64, ApiError> {
        if self.several.iter().any(|n| n == name) {
            return Err(ApiError::bad_request(
                "invalid_did_id",
                format!("this endpoint takes a single {name}"),
            ));
        }
        parse_id(name, self.required(name)?)
    }

    /// Every id given in a list field, and whether it was given as several
    /// values (an array, a repeated field) rather than as one.
    /// Given several, each must be plain digits (`7`, not ` 07`), so that two
    /// values name the same number exactly when they are the same text, as the
    /// OpenAPI document's `uniqueItems` says.
    pub fn ids(&self, name: &'static str) -> Result<(Vec<i64>, bool), ApiError> {
        let several = self.several.iter().any(|n| n == name);
        let values = self.lists.get(name).map(Vec::as_slice).unwrap_or_default();
        if several && !values.iter().all(|v| is_plain_id(v)) {
            return Err(ApiError::bad_request(
                "invalid_did_id",
                format!(
                    "each of several {name} values must be a positive integer without sign, spaces or leading zeros"
                ),
            ));
        }
        let ids = values
            .iter()
            .map(|text| parse_id(name, text))
            .collect::<Result<Vec<i64>, ApiError>>()?;
        Ok((ids, several))
    }

    /// Every value a form gave for a repeated field, in order.
    pub fn all(&self, name: &str) -> &[String] {
        self.lists.get(name).map_or(&[], Vec::as_slice)
    }

    /// The `forwards` list of a JSON body.
    pub fn forwards(&self) -> Option<&[ForwardItem]> {
        self.forwards.as_deref()
    }

    /// A yes/no field: true, false, 1, 0, yes, no (absent: false).
    pub fn flag(&self, name: &'static str) -> Result<bool, ApiError> {
        match self.optional(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => Ok(false),
            Some(_) => Err(ApiError::bad_request(
                "invalid_field",
                format!("{name} must be true or false"),
            )),
        }
    }

    pub fn optional_int(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        self.optional(name)
            .map(|text| {
                text.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request("invalid_field", format!("{name} must be an integer"))
                })
            })
            .transpose()
    }

    /// The caller's token: the `Authorization: Bearer` header wins over the field.
    pub fn token(&self) -> Option<&str> {
        self.bearer.as_deref().or_else(|| self.optional("token"))
    }

    /// The TCP peer's address, which login and token limits count by. A server
    /// started without connect info (it should not be) puts every caller in one
    /// bucket, which is strict rather than open.
    pub fn client(&self) -> IpAddr {
        self.peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    pub fn idempotency_key(&self) -> Result<Option<String>, ApiError> {
        match (
            self.idempotency_key.as_deref(),
            self.optional("idempotency_key"),
        ) {
            (Some(h), Some(f)) if h != f => Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "the Idempotency-Key header and the idempotency_key field differ",
            )),
            (Some(key), _) | (None, Some(key)) => Ok(Some(key.to_owned())),
            (None, None) => Ok(None),
        }
    }
}

/// One element of a JSON `forwards` list.
/// Members not listed are ignored, as everywhere in the API.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ForwardItem {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub destination: String,
    #[serde(default)]
    pub timeout_seconds: Option<i64>,
}

/// 1 to 18 digits, the first not 0 (`input::ids`, `openapi::requests::PLAIN_ID`).
fn is_plain_id(text: &str) -> bool {
    (1..=18).contains(&text.len())
        && !text.starts_with('0')
        && text.bytes().all(|b| b.is_ascii_digit())
}

fn parse_id(name: &'static str, text: &str) -> Result<i64, ApiError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_did_id",
                format!("{name} must be a positive integer"),
            )
        })
}

/// Refuses control characters (NUL above all, which PostgreSQL cannot store)
/// before any field or credential reaches a use case or the database.
pub fn refuse_control_chars(field: &str, value: &str) -> Result<(), ApiError> {
    match refused_char(field).or_else(|| refused_char(value)) {
        Some(c) => Err(ApiError::bad_request(
            "invalid_characters",
            format!(
                "field {:.64} contains the control character {:?}",
                field.escape_debug().to_string(),
                c
            ),
        )),
        None => Ok(()),
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn insert_field(fields: &mut Fields, name: String, value: String) -> Result<(), ApiError> {
    if !KNOWN_FIELDS.contains(&name.as_str()) {
        return Ok(());
    }
    // Characters, not bytes: the OpenAPI `maxLength` counts characters.
    if value.chars().count() > MAX_FIELD_LEN {
        return Err(ApiError::bad_request(
            "field_too_long",
            format!("field {name} is too long"),
        ));
    }
    if fields.single.len() >= MAX_FIELDS {
        return Err(ApiError::bad_request("invalid_body", "too many fields"));
    }
    refuse_control_chars(&name, &value)?;
    if LIST_FIELDS.contains(&name.as_str()) {
        let values = fields.lists.entry(name.clone()).or_default();
        values.push(value.clone());
        if values.len() > 1 {
            fields.single.remove(&name);
            if !fields.several.contains(&name) {
                fields.several.push(name);
            }
            return Ok(());
        }
    }
    if fields.single.insert(name.clone(), value).is_some() {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("field {name} is given twice"),
        ));
    }
    Ok(())
}

fn parse_form(body: &[u8]) -> Result<Fields, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| ApiError::bad_request("invalid_body", "body is not valid form data"))?;
    let mut fields = Fields::default();
    for (name, value) in pairs {
        if FORWARD_LIST_FIELDS.contains(&name.as_str()) {
            let list = fields.lists.entry(name.clone()).or_default();
            list.push(value.clone());
            if list.len() > 1 {
                refuse_control_chars(&name, &value)?;
                continue;
            }
        }
        insert_field(&mut fields, name, value)?;
    }
    Ok(fields)
}

fn parse_forwards(value: serde_json::Value) -> Result<Option<Vec<ForwardItem>>, ApiError> {
    let items: Option<Vec<ForwardItem>> = serde_json::from_value(value).map_err(|e| {
        ApiError::bad_request(
            "invalid_field",
            format!("forwards must be a list of {{type, destination, timeout_seconds}}: {e}"),
        )
    })?;
    for item in items.iter().flatten() {
        refuse_control_chars("type", &item.kind)?;
        refuse_control_chars("destination", &item.destination)?;
    }
    Ok(items)
}

/// A JSON object's members in order, duplicates kept, so that a repeated field
/// is refused as it is in a form (serde_json's `Map` would keep the last one).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    if members.len() > MAX_FIELDS {
                        return Err(serde::de::Error::custom("too many fields"));
                    }
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A JSON array of ids: integers only (`1` and `"1"` would be one number twice).
fn insert_list(
    fields: &mut Fields,
    name: String,
    items: Vec<serde_json::Value>,
) -> Result<(), ApiError> {
    fields.lists.insert(name.clone(), Vec::new());
    fields.several.push(name.clone());
    for item in items {
        let text = match item {
            serde_json::Value::Number(n) => integer_text(&n),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_field",
                    format!("each {name} in an array must be an integer"),
                ));
            }
        };
        insert_field(fields, name.clone(), text)?;
    }
    // One element or none is still "several": the array form was chosen.
    fields.single.remove(&name);
    if !fields.several.contains(&name) {
        fields.several.push(name);
    }
    Ok(())
}

/// A JSON number as the decimal text of the integer it is: JSON Schema counts
/// `12.0` as the integer 12. Other numbers keep their text (and are then refused).
fn integer_text(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(f) if number.as_i64().is_none() && f.fract() == 0.0 && f.abs() < 9.0e18 => {
            format!("{f:.0}")
        }
        _ => number.to_string(),
    }
}

fn parse_json(body: &[u8]) -> Result<Fields, ApiError> {
    let Members(members) = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_body", format!("body must be a JSON object: {e}"))
    })?;
    let mut fields = Fields::default();
    let mut forwards = None;
    for (name, value) in members {
        if name == "forwards" {
            if forwards.is_some() {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "field forwards is given twice",
                ));
            }
            forwards = Some(parse_forwards(value)?);
            continue;
        }
        if !KNOWN_FIELDS.contains(&name.as_str()) {
            continue;
        }
        if fields.lists.contains_key(&name) {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("field {name} is given twice"),
            ));
        }
        let value = match value {
            serde_json::Value::Array(items) if LIST_FIELDS.contains(&name.as_str()) => {
                insert_list(&mut fields, name, items)?;
                continue;
            }
            other => other,
        };
        let text = match value {
            serde_json::Value::Bool(b) if BOOLEAN_FIELDS.contains(&name.as_str()) => b.to_string(),
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) if NUMERIC_FIELDS.contains(&name.as_str()) => {
                integer_text(&n)
            }
            serde_json::Value::Null => continue,
            _ if NUMERIC_FIELDS.contains(&name.as_str()) => {
                return Err(ApiError::bad_request(
                    "invalid_field",
                    format!("field {name} must be an integer or a string"),
                ));
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_field",
                    format!("field {name} must be a string"),
                ));
            }
        };
        insert_field(&mut fields, name, text)?;
    }
    fields.forwards = forwards.flatten();
    Ok(fields)
}

impl<S: Send + Sync> FromRequest<S> for ApiInput {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<ApiInput, ApiError> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        // GET endpoints take their fields in the query string, parsed as a form.
        let query_fields = parse_form(request.uri().query().unwrap_or("").as_bytes())?;
        let headers = request.headers();
        let bearer = bearer(headers);
        let idempotency_key = headers
            .get("idempotency-key")
            .map(|v| {
                v.to_str().map(str::to_owned).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_idempotency_key",
                        "Idempotency-Key must be ASCII",
                    )
                })
            })
            .transpose()?;
        if let Some(token) = &bearer {
            refuse_control_chars("Authorization", token)?;
        }
        if let Some(key) = &idempotency_key {
            refuse_control_chars("Idempotency-Key", key)?;
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::bad_request(BODY_TOO_LARGE, "request body is too large")
                } else {
                    ApiError::bad_request("invalid_body", "could not read the request body")
                }
            })?;
        let mut fields = if body.iter().all(u8::is_ascii_whitespace) {
            Fields::default()
        } else {
            match content_type.as_deref() {
                Some("application/json") => parse_json(&body)?,
                Some("application/x-www-form-urlencoded") | None => parse_form(&body)?,
                Some(other) if other.ends_with("+json") => parse_json(&body)?,
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "unsupported_media_type",
                        "send application/x-www-form-urlencoded or application/json",
                    ));
                }
            }
        };
        // A query string's fields are single values (no GET endpoint takes a list).
        for (name, value) in query_fields.single {
            insert_field(&mut fields, name, value)?;
        }
        Ok(ApiInput {
            fields: fields.single,
            lists: fields.lists,
            several: fields.several,
            forwards: fields.forwards,
            bearer,
            idempotency_key,
            peer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_and_strings_become_fields() {
        let fields =
            parse_json(br#"{"did_id": 12, "token": "abc", "cursor": null}"#).expect("valid");
        assert_eq!(fields.single.get("did_id").map(String::as_str), Some("12"));
        assert_eq!(fields.single.get("token").map(String::as_str), Some("abc"));
        assert!(!fields.single.contains_key("cursor"));
        assert!(parse_json(br#"{"did_id": [true]}"#).is_err());
        assert!(parse_json(br#"{"limit": [1]}"#).is_err());
        assert!(parse_json(br#"{"did_id": true}"#).is_err());
        assert!(parse_json(br#"{"contains": 12}"#).is_err());
        let whole = parse_json(br#"{"did_id": 420.0, "limit": 1.5}"#).expect("valid");
        assert_eq!(whole.single.get("did_id").map(String::as_str), Some("420"));
        assert_eq!(whole.single.get("limit").map(String::as_str), Some("1.5"));
        assert!(parse_json(b"[1,2]").is_err());
        assert!(parse_json(br#"{"did_id": 1, "did_id": 2}"#).is_err());
    }

    #[test]
    fn control_characters_are_refused_in_names_and_values() {
        for body in [
            &b"username=a%00b"[..],
            b"password=x%7Fy",
            b"token=a%0Ab",
            b"did_id=%C2%85",
        ] {
            let error = parse_form(body).expect_err("control character");
            assert!(
                matches!(
                    error.0,
                    crate::service::Error::BadRequest {
                        code: "invalid_characters",
                        ..
                    }
                ),
                "{body:?}: {error:?}"
            );
        }
        assert!(parse_json(br#"{"username": "a\u0000b"}"#).is_err());
        assert!(parse_json(br#"{"token": "a\tb"}"#).is_err());
        assert!(parse_form(b"username=caf%C3%A9+au+lait").is_ok());
    }

    #[test]
    fn did_id_lists_come_as_repeated_form_fields_or_json_arrays() {
        let form = parse_form(b"did_id=1&did_id=2&token=t").expect("valid");
        assert_eq!(form.lists["did_id"], ["1", "2"]);
        assert_eq!(form.several, ["did_id"]);
        assert!(!form.single.contains_key("did_id"));
        let json = parse_json(br#"{"did_id": [3, 4.0], "partial": true}"#).expect("valid");
        assert_eq!(json.lists["did_id"], ["3", "4"]);
        assert!(parse_json(br#"{"did_id": [3, "4"]}"#).is_err());
        assert!(is_plain_id("120") && !is_plain_id("012") && !is_plain_id(" 1"));
        assert_eq!(json.single["partial"], "true");
        let one = parse_form(b"did_id=5").expect("valid");
        assert_eq!(one.single["did_id"], "5");
        assert!(one.several.is_empty());
        let array_of_one = parse_json(br#"{"did_id": [5]}"#).expect("valid");
        assert_eq!(array_of_one.several, ["did_id"]);
        assert!(parse_json(br#"{"token": true}"#).is_err());
    }

    #[test]
    fn forms_refuse_repeated_fields() {
        assert!(parse_form(b"did_id=1&token=2").is_ok());
        assert!(parse_form(b"token=1&token=2").is_err());
        // Fields no handler reads are ignored, repeated or not.
        assert!(parse_form(b"a=1&a=2").is_ok());
    }

    #[test]
    fn forms_keep_repeated_destinations_in_order() {
        let parsed =
            parse_form(b"type=sip&destination=a&type=pstn&destination=b&timeout_seconds=20")
                .expect("valid");
        assert_eq!(parsed.lists["type"], ["sip", "pstn"]);
        assert_eq!(parsed.lists["destination"], ["a", "b"]);
        assert_eq!(parsed.single["type"], "sip");
        assert!(parse_form(b"type=sip&type=a%00b").is_err());
    }

    #[test]
    fn json_forwards_are_a_list_of_objects() {
        let parsed = parse_json(
            br#"{"did_id": 1, "forwards": [{"type": "sip", "destination": "a", "timeout_seconds": 20}, {"type": "none"}]}"#,
        )
        .expect("valid");
        let forwards = parsed.forwards.expect("forwards");
        assert_eq!(forwards.len(), 2);
        assert_eq!(forwards[0].timeout_seconds, Some(20));
        assert_eq!(forwards[1].destination, "");
        for bad in [
            &br#"{"forwards": "sip"}"#[..],
            br#"{"forwards": [{"destination": "a"}]}"#,
            br#"{"forwards": [{"type": "sip", "timeout_seconds": "x"}]}"#,
            br#"{"forwards": [{"type": "sip", "destination": "a\u0000"}]}"#,
        ] {
            assert!(parse_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
