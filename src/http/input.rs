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
const KNOWN_FIELDS: [&str; 18] = [
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
    // Call records (`/api/did/calls`).
    "status",
    "from",
    "since",
    "until",
];

/// The fields a form may repeat: `did/forward`'s destinations, in order.
const LIST_FIELDS: [&str; 3] = ["type", "destination", "timeout_seconds"];

/// The known fields a JSON body may give as a number; the others take strings only,
/// so that `{"contains": 12}` is refused as the document's `type: string` says.
const NUMERIC_FIELDS: [&str; 5] = ["did_id", "limit", "timeout_seconds", "since", "until"];

/// The flat string fields of a request body plus the headers that stand in for fields.
#[derive(Debug, Default)]
pub struct ApiInput {
    /// Each field's value (a repeated [`LIST_FIELDS`] member's first one).
    fields: HashMap<String, String>,
    /// Every value of each [`LIST_FIELDS`] member a form gave, in order.
    lists: HashMap<String, Vec<String>>,
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
        let text = self.required(name)?.trim();
        text.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_did_id",
                    format!("{name} must be a positive integer"),
                )
            })
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

    /// Every value a form gave for a [`LIST_FIELDS`] member, in order.
    pub fn all(&self, name: &str) -> &[String] {
        self.lists.get(name).map_or(&[], Vec::as_slice)
    }

    /// The `forwards` list of a JSON body.
    pub fn forwards(&self) -> Option<&[ForwardItem]> {
        self.forwards.as_deref()
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

fn insert_field(
    fields: &mut HashMap<String, String>,
    name: String,
    value: String,
) -> Result<(), ApiError> {
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
    if fields.len() >= MAX_FIELDS {
        return Err(ApiError::bad_request("invalid_body", "too many fields"));
    }
    refuse_control_chars(&name, &value)?;
    if fields.insert(name.clone(), value).is_some() {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("field {name} is given twice"),
        ));
    }
    Ok(())
}

/// What a body holds, whichever its encoding.
#[derive(Debug, Default)]
struct Parsed {
    fields: HashMap<String, String>,
    lists: HashMap<String, Vec<String>>,
    forwards: Option<Vec<ForwardItem>>,
}

fn parse_form(body: &[u8]) -> Result<Parsed, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| ApiError::bad_request("invalid_body", "body is not valid form data"))?;
    let mut parsed = Parsed::default();
    for (name, value) in pairs {
        if LIST_FIELDS.contains(&name.as_str()) {
            let list = parsed.lists.entry(name.clone()).or_default();
            list.push(value.clone());
            if list.len() > 1 {
                refuse_control_chars(&name, &value)?;
                continue;
            }
        }
        insert_field(&mut parsed.fields, name, value)?;
    }
    Ok(parsed)
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

fn parse_json(body: &[u8]) -> Result<Parsed, ApiError> {
    let Members(members) = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_body", format!("body must be a JSON object: {e}"))
    })?;
    let mut fields = HashMap::new();
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
        let text = match value {
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
    Ok(Parsed {
        fields,
        lists: HashMap::new(),
        forwards: forwards.flatten(),
    })
}

impl<S: Send + Sync> FromRequest<S> for ApiInput {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<ApiInput, ApiError> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
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
        let parsed = if body.iter().all(u8::is_ascii_whitespace) {
            Parsed::default()
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
        Ok(ApiInput {
            fields: parsed.fields,
            lists: parsed.lists,
            forwards: parsed.forwards,
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
        let fields = parse_json(br#"{"did_id": 12, "token": "abc", "cursor": null}"#)
            .expect("valid")
            .fields;
        assert_eq!(fields.get("did_id").map(String::as_str), Some("12"));
        assert_eq!(fields.get("token").map(String::as_str), Some("abc"));
        assert!(!fields.contains_key("cursor"));
        assert!(parse_json(br#"{"did_id": [1]}"#).is_err());
        assert!(parse_json(br#"{"did_id": true}"#).is_err());
        assert!(parse_json(br#"{"contains": 12}"#).is_err());
        let whole = parse_json(br#"{"did_id": 420.0, "limit": 1.5}"#)
            .expect("valid")
            .fields;
        assert_eq!(whole.get("did_id").map(String::as_str), Some("420"));
        assert_eq!(whole.get("limit").map(String::as_str), Some("1.5"));
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
    fn forms_refuse_repeated_fields() {
        assert!(parse_form(b"did_id=1&token=2").is_ok());
        assert!(parse_form(b"did_id=1&did_id=2").is_err());
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
        assert_eq!(parsed.fields["type"], "sip");
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
