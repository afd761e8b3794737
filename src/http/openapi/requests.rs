//! The request bodies of the seed API as JSON Schemas. Written here rather than
//! derived, because handlers read fields through `ApiInput` (one path for form
//! and JSON) and because the exact rules (Rust's `trim`, digits with separators,
//! strings for numbers in forms, `null` for absent in JSON) need patterns that
//! `#[schema(pattern = ...)]` cannot build from shared pieces.

use crate::domain::DidType;
use phonenumber::metadata::DATABASE;
use serde_json::{Value, json};

/// The control characters no field may hold (`domain::text`, 400
/// invalid_characters): C0, DEL and C1, as the body of a character class.
const CONTROLS: &str = r"\u0000-\u001f\u007f-\u009f";
// A macro so that `concat!` can build the class from the same characters.
macro_rules! ws_chars {
    () => {
        r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}
/// What Rust's `str::trim` strips (Unicode White_Space; Python's `\s` differs)
/// less the control characters among it (tab, line breaks, U+0085), which are
/// refused before anything is trimmed.
const WS_CHARS: &str = ws_chars!();
const WS: &str = concat!("[", ws_chars!(), "]");
/// End of input; `$` would also match before a final newline.
const END: &str = r"(?![\s\S])";
/// The largest did_id with 18 digits: several did_ids are plain digits, 1 to 18.
const MAX_PLAIN_ID: i64 = 999_999_999_999_999_999;
/// Longest field value in characters (`input::MAX_FIELD_LEN`).
const MAX_FIELD_LEN: usize = 4096;

/// A field as the handlers read it.
enum Field {
    /// Any text; `non_blank` ones must hold a character `trim` keeps.
    Text { non_blank: bool },
    /// Text matching `pattern` (which includes the blank value when optional).
    Pattern(String),
    /// One of the values (case-insensitive, trimmed), or blank when optional.
    OneOf(Vec<String>, bool),
    /// An integer in `min..=max`: a JSON number, or its decimal text.
    Integer { min: i64, max: i64, text: String },
    /// One did_id, or up to `max`: a repeated form field, a JSON array.
    IdList { max: usize },
    /// Yes or no: true/false, 1/0, yes/no (any case); JSON also `true`/`false`.
    Flag,
}

struct FieldSpec {
    name: &'static str,
    field: Field,
    required: bool,
    description: &'static str,
}

/// `YYYY-MM`, surrounding white space allowed.
pub(super) fn month_pattern() -> String {
    format!("^{WS}*[0-9]{{4}}-(0[1-9]|1[0-2]){WS}*{END}")
}

/// Any text without control characters.
pub(super) fn printable() -> String {
    format!("^[^{CONTROLS}]*{END}")
}

/// Text without control characters holding a character `trim` keeps.
fn non_blank_text() -> String {
    format!("^[^{CONTROLS}]*[^{CONTROLS}{WS_CHARS}][^{CONTROLS}]*{END}")
}

fn blank() -> String {
    format!("^{WS}*{END}")
}

/// Digits with the separators `digits()` in the search service drops.
fn digit_run(max: usize) -> String {
    format!("[ .()-]*([0-9][ .()-]*){{1,{max}}}")
}

fn optional_digits(max: usize) -> String {
    format!("{}|^{}{END}", blank(), digit_run(max))
}

fn prefix_pattern() -> String {
    // After `trim`, a leading `+` or else `00` is dropped before the digits are counted.
    format!(
        "{}|^{WS}*(?!{WS})(\\+|00|(?!\\+|00)){}{WS}*{END}",
        blank(),
        digit_run(15)
    )
}

/// A positive integer's text as `str::trim` + `i64::from_str` read it.
fn integer_text(upto: &str, optional: bool) -> String {
    let value = format!("^{WS}*\\+?0*({upto}){WS}*{END}");
    if optional {
        format!("{}|{value}", blank())
    } else {
        value
    }
}

fn countries() -> Vec<String> {
    let mut codes: Vec<String> = DATABASE
        .iter()
        .map(|m| m.id().to_owned())
        .filter(|id| id.len() == 2 && id.bytes().all(|b| b.is_ascii_uppercase()))
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

fn token() -> FieldSpec {
    FieldSpec {
        name: "token",
        field: Field::Text { non_blank: false },
        required: false,
        description: "The `account_token` from login; an `Authorization: Bearer` header wins over it.",
    }
}

fn did_id() -> FieldSpec {
    FieldSpec {
        name: "did_id",
        field: Field::Integer {
            min: 1,
            max: i64::MAX,
            text: integer_text("[1-9][0-9]{0,17}", false),
        },
        required: true,
        description: "The number's `did_id`.",
    }
}

fn did_ids(max: usize, description: &'static str) -> FieldSpec {
    FieldSpec {
        name: "did_id",
        field: Field::IdList { max },
        required: true,
        description,
    }
}

fn flag(name: &'static str, description: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        field: Field::Flag,
        required: false,
        description,
    }
}

fn flag_text() -> String {
    format!(
        "{}|^{WS}*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|0|1){WS}*{END}",
        blank()
    )
}

fn limit(max: i64, upto: &str) -> FieldSpec {
    FieldSpec {
        name: "limit",
        field: Field::Integer {
            min: 1,
            max,
            text: integer_text(upto, true),
        },
        required: false,
        description: "Page size, default 100.",
    }
}

fn unix_time(name: &'static str, description: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        field: Field::Integer {
            min: 0,
            max: 99_999_999_999,
            text: integer_text("[0-9]{1,11}", true),
        },
        required: false,
        description,
    }
}

fn cursor(pattern: String) -> FieldSpec {
    FieldSpec {
        name: "cursor",
        field: Field::Pattern(pattern),
        required: false,
        description: "`next_cursor` of the previous page.",
    }
}

/// The request body schemas by component name, with the operation that takes each.
fn forms() -> Vec<(&'static str, &'static str, Vec<FieldSpec>)> {
    let text = |name, required, non_blank, description| FieldSpec {
        name,
        field: Field::Text { non_blank },
        required,
        description,
    };
    let pattern = |name, pattern, description| FieldSpec {
        name,
        field: Field::Pattern(pattern),
        required: false,
        description,
    };
    vec![
        (
            "/api/login",
            "LoginForm",
            vec![
                text(
                    "username",
                    true,
                    true,
                    "Surrounding white space is ignored.",
                ),
                text("password", true, false, ""),
            ],
        ),
        ("/api/logout", "TokenForm", vec![token()]),
        ("/api/balance", "TokenForm", vec![token()]),
        ("/api/did/type-list", "TokenForm", vec![token()]),
        ("/api/did/list", "TokenForm", vec![token()]),
        (
            "/api/ledger",
            "LedgerForm",
            vec![
                token(),
                limit(1000, "[1-9][0-9]{0,2}|1000"),
                cursor(format!("{}|^\\+?[0-9]{{1,19}}{END}", blank())),
            ],
        ),
        (
            "/api/did/available",
            "AvailableForm",
            vec![
                token(),
                FieldSpec {
                    name: "country",
                    field: Field::OneOf(countries(), true),
                    required: true,
                    description: "ISO 3166-1 alpha-2, case-insensitive.",
                },
                FieldSpec {
                    name: "type",
                    field: Field::OneOf(
                        DidType::ALL.iter().map(|t| t.code().to_owned()).collect(),
                        false,
                    ),
                    required: false,
                    description: "The DID type (case-insensitive).",
                },
                pattern(
                    "prefix",
                    prefix_pattern(),
                    "E.164 prefix such as \"+331\"; not with area_code.",
                ),
                pattern(
                    "area_code",
                    optional_digits(10),
                    "National area code such as \"01\" (France) or \"212\" (US); not with prefix.",
                ),
                pattern(
                    "contains",
                    optional_digits(15),
                    "Digits the number must contain.",
                ),
                limit(500, "[1-9][0-9]?|[1-4][0-9]{2}|500"),
                cursor(format!("{}|^\\+[0-9]{{0,15}}{END}", blank())),
            ],
        ),
        (
            "/api/did/assign",
            "AssignForm",
            vec![
                token(),
                did_ids(
                    100,
                    "One did_id buys one number (the seed's answer). Several (a repeated form \
                     field or a JSON array, up to 100, no duplicates) buy them all or none.",
                ),
                flag(
                    "partial",
                    "Buy what can be bought and report each number refused, instead of all or none.",
                ),
                flag(
                    "dry_run",
                    "Answer what the order would charge and whether the balance covers it; change nothing.",
                ),
            ],
        ),
        (
            "/api/did/hold",
            "HoldForm",
            vec![
                token(),
                did_ids(10, "Up to 10 numbers to hold, all or none."),
                FieldSpec {
                    name: "ttl_seconds",
                    field: Field::Integer {
                        min: 60,
                        max: 1800,
                        text: integer_text("[6-9][0-9]|[1-9][0-9]{2}|1[0-7][0-9]{2}|1800", true),
                    },
                    required: false,
                    description: "How long the hold lasts, 60 to 1800 seconds (default 600).",
                },
            ],
        ),
        (
            "/api/did/unhold",
            "UnholdForm",
            vec![token(), did_ids(20, "The held numbers to let go.")],
        ),
        ("/api/did/holds", "TokenForm", vec![token()]),
        (
            "/api/did/order",
            "OrderForm",
            vec![
                token(),
                FieldSpec {
                    name: "country",
                    field: Field::OneOf(countries(), true),
                    required: true,
                    description: "ISO 3166-1 alpha-2, case-insensitive.",
                },
                FieldSpec {
                    name: "type",
                    field: Field::OneOf(
                        DidType::ALL.iter().map(|t| t.code().to_owned()).collect(),
                        false,
                    ),
                    required: false,
                    description: "The DID type (case-insensitive).",
                },
                pattern(
                    "prefix",
                    prefix_pattern(),
                    "E.164 prefix such as \"+331\"; not with area_code.",
                ),
                pattern(
                    "area_code",
                    optional_digits(10),
                    "National area code such as \"01\"; not with prefix.",
                ),
                FieldSpec {
                    name: "quantity",
                    field: Field::Integer {
                        min: 1,
                        max: 100,
                        text: integer_text("[1-9][0-9]?|100", false),
                    },
                    required: true,
                    description: "How many numbers to buy, 1 to 100: all of them or none.",
                },
                flag(
                    "dry_run",
                    "Answer what the order would charge and whether the balance covers it; change nothing.",
                ),
            ],
        ),
        (
            "/api/did/calls",
            "CallsForm",
            vec![
                token(),
                FieldSpec {
                    name: "did_id",
                    field: Field::Integer {
                        min: 1,
                        max: i64::MAX,
                        text: integer_text("[1-9][0-9]{0,17}", true),
                    },
                    required: false,
                    description: "Only this number's calls (404 did_not_found if not the account's).",
                },
                FieldSpec {
                    name: "status",
                    field: Field::OneOf(
                        crate::domain::call::Outcome::ALL
                            .iter()
                            .map(|o| o.code().to_owned())
                            .collect(),
                        false,
                    ),
                    required: false,
                    description: "answered, missed or failed.",
                },
                text("from", false, false, "Only calls from this caller (exact)."),
                unix_time(
                    "since",
                    "Only calls started at or after this time (unix seconds).",
                ),
                unix_time(
                    "until",
                    "Only calls started before this time (unix seconds).",
                ),
                limit(1000, "[1-9][0-9]{0,2}|1000"),
                cursor(format!("{}|^{WS}*\\+?[0-9]{{1,18}}{WS}*{END}", blank())),
            ],
        ),
        ("/api/did/release", "DidForm", vec![token(), did_id()]),
        ("/api/did/restore", "DidForm", vec![token(), did_id()]),
        (
            "/api/billing/upcoming",
            "UpcomingForm",
            vec![
                token(),
                FieldSpec {
                    name: "days",
                    field: Field::Integer {
                        min: 1,
                        max: 366,
                        text: integer_text("[1-9][0-9]?|[1-2][0-9]{2}|3[0-5][0-9]|36[0-6]", true),
                    },
                    required: false,
                    description: "How far ahead, in days; default 30.",
                },
            ],
        ),
        (
            "/api/billing/settings",
            "BillingSettingsForm",
            vec![
                token(),
                pattern(
                    "low_balance_threshold",
                    format!(
                        "{}|^{WS}*[0-9]{{1,15}}([.][0-9]{{1,3}})?{WS}*{END}",
                        blank()
                    ),
                    "Amount below which the balance counts as low, e.g. \"5.00\"; empty clears it; absent reads it.",
                ),
            ],
        ),
        (
            "/api/billing/statement",
            "StatementForm",
            vec![
                token(),
                FieldSpec {
                    name: "month",
                    field: Field::Pattern(month_pattern()),
                    required: true,
                    description: "YYYY-MM.",
                },
                FieldSpec {
                    name: "format",
                    field: Field::OneOf(vec!["json".to_owned(), "csv".to_owned()], false),
                    required: false,
                    description: "json (default) or csv.",
                },
            ],
        ),
        (
            "/api/did/forward",
            "ForwardForm",
            vec![
                token(),
                did_id(),
                FieldSpec {
                    name: "type",
                    field: Field::OneOf(forward_types(), true),
                    required: true,
                    description: "How to read `destination`; `none` removes the forward. \
                                  Repeat type, destination (and timeout_seconds) in order \
                                  for up to 5 destinations tried one after another.",
                },
                text(
                    "destination",
                    false,
                    false,
                    "PSTN number (national numbers are read in the DID's country), SIP URI, \
                     IP[:port], extension digits, or an optional DISA profile code for \
                     access_number. Checked against `type`: 400 invalid_destination.",
                ),
                timeout_seconds(),
            ],
        ),
    ]
}

fn forward_types() -> Vec<String> {
    crate::domain::ForwardType::ALL
        .iter()
        .map(|t| t.code().to_owned())
        .chain(["none".to_owned()])
        .collect()
}

fn timeout_seconds() -> FieldSpec {
    FieldSpec {
        name: "timeout_seconds",
        field: Field::Integer {
            min: 5,
            max: 120,
            text: integer_text("[5-9]|[1-9][0-9]|1[01][0-9]|120", true),
        },
        required: false,
        description: "Seconds the destination rings before the next is tried (5 to 120).",
    }
}

/// JSON's ordered list of destinations, instead of `type` and `destination`.
fn forwards_schema() -> Value {
    let mut item = object_schema(
        &[
            FieldSpec {
                name: "type",
                field: Field::OneOf(forward_types(), true),
                required: true,
                description: "",
            },
            FieldSpec {
                name: "destination",
                field: Field::Text { non_blank: false },
                required: false,
                description: "",
            },
            timeout_seconds(),
        ],
        true,
    );
    // Inside the list the timeout is a JSON integer, not text.
    item["properties"]["timeout_seconds"] = json!({
        "anyOf": [{"type": "integer", "minimum": 5, "maximum": 120}, {"type": "null"}],
        "description": "Seconds the destination rings before the next is tried.",
    });
    json!({
        "anyOf": [
            {"type": "array", "maxItems": 5, "items": item},
            {"type": "null"},
        ],
        "description": "The destinations in the order calls try them (at most 5; empty: no forward). \
                        Instead of type and destination.",
    })
}

fn field_schema(spec: &FieldSpec, json_body: bool) -> Value {
    match &spec.field {
        Field::Text { non_blank } => {
            let pattern = if *non_blank {
                non_blank_text()
            } else {
                printable()
            };
            let mut schema =
                json!({"type": "string", "maxLength": MAX_FIELD_LEN, "pattern": pattern});
            if !*non_blank && spec.required {
                schema["minLength"] = json!(1);
            }
            schema
        }
        Field::Pattern(pattern) => {
            json!({"type": "string", "maxLength": MAX_FIELD_LEN, "pattern": pattern})
        }
        Field::OneOf(values, required) => {
            let listed = json!({"type": "string", "enum": values});
            if *required {
                listed
            } else {
                json!({"anyOf": [listed, {"type": "string", "pattern": blank()}]})
            }
        }
        Field::IdList { max } => {
            // Several values must be plain digits (`ApiInput::ids`), so that
            // `uniqueItems` means what the server's duplicate check means.
            let one_text =
                json!({"type": "string", "pattern": integer_text("[1-9][0-9]{0,17}", false)});
            let plain = if json_body {
                json!({"type": "integer", "minimum": 1, "maximum": MAX_PLAIN_ID})
            } else {
                json!({"type": "string", "pattern": format!("^[1-9][0-9]{{0,17}}{END}")})
            };
            let many = json!({"type": "array", "items": plain, "minItems": 1, "maxItems": max, "uniqueItems": true});
            if json_body {
                json!({"anyOf": [{"type": "integer", "minimum": 1, "maximum": i64::MAX}, one_text, many]})
            } else {
                json!({"anyOf": [one_text, many]})
            }
        }
        Field::Flag => {
            let text = json!({"type": "string", "pattern": flag_text()});
            if json_body {
                json!({"anyOf": [{"type": "boolean"}, text]})
            } else {
                text
            }
        }
        Field::Integer { min, max, text } => {
            let text = json!({"type": "string", "pattern": text});
            if json_body {
                json!({"anyOf": [{"type": "integer", "minimum": min, "maximum": max}, text]})
            } else {
                text
            }
        }
    }
}

fn object_schema(fields: &[FieldSpec], json_body: bool) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for spec in fields {
        let mut schema = field_schema(spec, json_body);
        if json_body && !spec.required {
            // A JSON `null` reads as an absent field.
            schema = json!({"anyOf": [schema, {"type": "null"}]});
        }
        if !spec.description.is_empty() {
            schema["description"] = json!(spec.description);
        }
        properties.insert(spec.name.to_owned(), schema);
        if spec.required {
            required.push(spec.name);
        }
    }
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "description": "Fields not listed here are ignored.",
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn non_blank_given(name: &str) -> Value {
    json!({
        "required": [name],
        "properties": {name: {"type": "string", "pattern": non_blank_text()}},
    })
}

fn blank_only(name: &str, json_body: bool) -> Value {
    let blank = json!({"type": "string", "pattern": blank()});
    let allowed = if json_body {
        json!({"anyOf": [blank, {"type": "null"}]})
    } else {
        blank
    };
    json!({"properties": {name: allowed}})
}

/// Adds each operation's request body, as form and as JSON, and their schemas.
pub fn add_request_bodies(doc: &mut Value) {
    for (path, name, fields) in forms() {
        let form_name = name.to_owned();
        let json_name = format!("{name}Json");
        doc["components"]["schemas"][&form_name] = object_schema(&fields, false);
        doc["components"]["schemas"][&json_name] = object_schema(&fields, true);
        let optional = fields.iter().all(|f| !f.required);
        doc["paths"][path]["post"]["requestBody"] = json!({
            "required": !optional,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"$ref": format!("#/components/schemas/{form_name}")}
                },
                "application/json": {
                    "schema": {"$ref": format!("#/components/schemas/{json_name}")}
                },
            },
        });
        if path == "/api/did/forward" {
            let json = &mut doc["components"]["schemas"][&json_name];
            json["properties"]["forwards"] = forwards_schema();
            json["required"] = json!(["did_id"]);
            // Optional in JSON (`forwards` may stand instead), so null reads as absent.
            let mut kind = json["properties"]["type"].take();
            let description = kind
                .as_object_mut()
                .and_then(|schema| schema.remove("description"));
            json["properties"]["type"] =
                json!({"anyOf": [kind, {"type": "null"}], "description": description});
        }
        if path == "/api/did/available" || path == "/api/did/order" {
            // prefix and area_code are alternatives (400 invalid_filter when both are given).
            doc["components"]["schemas"][&form_name]["if"] = non_blank_given("prefix");
            doc["components"]["schemas"][&form_name]["then"] = blank_only("area_code", false);
            doc["components"]["schemas"][&json_name]["if"] = non_blank_given("prefix");
            doc["components"]["schemas"][&json_name]["then"] = blank_only("area_code", true);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The string schemas under `value`, with where they are.
    fn string_schemas<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
        match value {
            Value::Object(map) => {
                if map.get("type").and_then(Value::as_str) == Some("string") {
                    out.push((at.clone(), value));
                }
                for (key, inner) in map {
                    string_schemas(inner, format!("{at}/{key}"), out);
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    string_schemas(inner, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_string_the_server_reads_refuses_control_characters() {
        let doc = super::super::openapi_document();
        let mut found = Vec::new();
        // The admin API is not part of the schemathesis run (operator keys; see
        // tests/contract/schemathesis.sh): its handlers refuse control
        // characters in code (`http::admin::json_body` and `query`).
        let customer_paths = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(path, _)| !path.starts_with("/admin/"));
        for (path, item) in customer_paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let at = format!("{method} {path}");
                string_schemas(&operation["requestBody"], at.clone(), &mut found);
                string_schemas(&operation["parameters"], at, &mut found);
            }
        }
        for (name, schema) in doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if name.ends_with("Form") || name.ends_with("FormJson") {
                string_schemas(schema, name.clone(), &mut found);
            }
        }
        assert!(found.len() > 30, "{}", found.len());
        for (at, schema) in found {
            if schema.get("enum").is_some() {
                continue;
            }
            let pattern = schema["pattern"].as_str().unwrap_or_default();
            // Anchored (a pattern matches anywhere otherwise), no negated class
            // that lets a control character through, and none listed.
            let anchored = pattern.starts_with('^');
            let negations_exclude = pattern
                .match_indices("[^")
                .all(|(i, _)| pattern[i..].starts_with(&format!("[^{}", super::CONTROLS)));
            let listed_controls = [r"\t", r"\n", r"\r", r"\v", r"\f", r"\u0085", r"\s"]
                .iter()
                .any(|c| pattern.replace(r"(?![\s\S])", "").contains(c));
            assert!(
                !pattern.is_empty() && anchored && negations_exclude && !listed_controls,
                "{at}: {pattern}"
            );
        }
    }
}
