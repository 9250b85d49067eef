//! What a valid request looks like: identifiers and bodies, with limits.
//!
//! Every check names the field that failed and what would pass, and is the
//! same on both sides of the cutover (the legacy origin of the local demo
//! uses these functions too).

use http::StatusCode;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Longest user, workflow or report id.
pub const ID_MAX_CHARS: usize = 64;
/// Longest metadata key.
pub const METADATA_KEY_MAX_CHARS: usize = 128;
/// Largest user context body, in bytes as sent.
pub const USER_CONTEXT_MAX_BYTES: usize = 16 * 1024;
/// Largest workflow mapping body, in bytes as sent.
pub const WORKFLOW_MAPPING_MAX_BYTES: usize = 32 * 1024;
/// Most entries in one workflow mapping.
pub const MAPPING_MAX_ENTRIES: usize = 256;
/// Longest mapping target.
pub const MAPPING_TARGET_MAX_CHARS: usize = 256;
/// Largest body any route takes: servers may refuse more before reading it.
pub const MAX_BODY_BYTES: usize = WORKFLOW_MAPPING_MAX_BYTES;

/// Checks a path parameter by its name in the contract.
pub fn check_param(name: &str, value: &str) -> Result<(), ApiError> {
    let (max, extra): (usize, &[char]) = match name {
        "key" => (METADATA_KEY_MAX_CHARS, &['-', '_', '.', ':']),
        _ => (ID_MAX_CHARS, &['-', '_']),
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || extra.contains(&c);
    let extras: String = extra.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ");
    let rule = format!("{name} must be 1 to {max} characters of A-Z, a-z, 0-9 and {extras}");
    let count = value.chars().count();
    if count == 0 || count > max {
        return Err(ApiError::bad_request("invalid_id", format!("{rule}; got {count} characters")));
    }
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Err(ApiError::bad_request("invalid_id", format!("{rule}; got {c:?}")));
    }
    // A value is one path segment when it reaches the backend's URL: "."
    // and ".." would name the path around it instead (RFC 3986, 5.2.4).
    if value == "." || value == ".." {
        return Err(ApiError::bad_request(
            "invalid_id",
            format!("{name} must not be {value:?} (alone, it names a path, not an item)"),
        ));
    }
    Ok(())
}

/// The request's `content-type` must be JSON (parameters such as charset
/// are fine).
pub fn check_json_content_type(content_type: Option<&[u8]>) -> Result<(), ApiError> {
    let essence = content_type
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the body as JSON with content-type: application/json; got {}", other.unwrap_or("none")),
        )),
    }
}

/// A user context: any JSON object up to [`USER_CONTEXT_MAX_BYTES`].
/// Returns it compact, keys in the order sent (as `JSON.stringify` would).
pub fn parse_user_context(body: &[u8]) -> Result<String, ApiError> {
    let object = parse_object("user context", body, USER_CONTEXT_MAX_BYTES)?;
    Ok(Value::Object(object).to_string())
}

/// A workflow mapping: a JSON object from step id (an id, as for
/// `workflowId`) to target (a string of at most
/// [`MAPPING_TARGET_MAX_CHARS`]), at most [`MAPPING_MAX_ENTRIES`] entries.
pub fn parse_workflow_mapping(body: &[u8]) -> Result<String, ApiError> {
    let object = parse_object("workflow mapping", body, WORKFLOW_MAPPING_MAX_BYTES)?;
    let invalid = |message: String| ApiError::bad_request("invalid_mapping", message);
    if object.len() > MAPPING_MAX_ENTRIES {
        return Err(invalid(format!("a mapping has at most {MAPPING_MAX_ENTRIES} entries; got {}", object.len())));
    }
    for (step, target) in &object {
        check_param("step id", step).map_err(|e| invalid(format!("mapping key {step:?}: {}", e.message)))?;
        match target {
            Value::String(s) if !s.is_empty() && s.chars().count() <= MAPPING_TARGET_MAX_CHARS => {}
            Value::String(_) => {
                return Err(invalid(format!(
                    "mapping[{step:?}] must be a string of 1 to {MAPPING_TARGET_MAX_CHARS} characters"
                )))
            }
            other => {
                return Err(invalid(format!("mapping[{step:?}] must be a string; got {}", json_kind(other))));
            }
        }
    }
    Ok(Value::Object(object).to_string())
}

fn parse_object(what: &str, body: &[u8], max: usize) -> Result<Map<String, Value>, ApiError> {
    if body.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a {what} is at most {max} bytes; got {}", body.len()),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(ApiError::bad_request(
            "invalid_json",
            format!("a {what} must be a JSON object; got {}", json_kind(&other)),
        )),
        Err(e) => Err(ApiError::bad_request("invalid_json", format!("the {what} is not valid JSON: {e}"))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_param("userId", "user-42_A").is_ok());
        assert!(check_param("key", "feature.flags:v2").is_ok());
        let e = check_param("userId", "a.b").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_id"));
        assert!(e.message.contains("userId must be 1 to 64") && e.message.contains("got '.'"), "{}", e.message);
        assert!(check_param("userId", &"x".repeat(65)).unwrap_err().message.contains("got 65 characters"));
        assert!(check_param("userId", "").is_err());
        assert!(check_param("reportId", "é").is_err());
        assert!(check_param("key", &"k".repeat(128)).is_ok());
    }

    #[test]
    fn content_type() {
        assert!(check_json_content_type(Some(b"application/json")).is_ok());
        assert!(check_json_content_type(Some(b"Application/JSON; charset=utf-8")).is_ok());
        let e = check_json_content_type(Some(b"text/plain")).unwrap_err();
        assert_eq!(e.status.as_u16(), 415);
        assert!(e.message.ends_with("got text/plain"));
        assert!(check_json_content_type(None).unwrap_err().message.ends_with("got none"));
    }

    #[test]
    fn user_context_is_kept_compact_in_the_order_sent() {
        assert_eq!(parse_user_context(br#"{ "z": 1, "a": [true, null] }"#).unwrap(), r#"{"z":1,"a":[true,null]}"#);
        assert_eq!(
            parse_user_context(b"[1]").unwrap_err().message,
            "a user context must be a JSON object; got an array"
        );
        let e = parse_user_context(b"{\"a\":").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_json"));
        assert!(e.message.contains("line 1 column 5"), "{}", e.message);
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(USER_CONTEXT_MAX_BYTES));
        assert_eq!(parse_user_context(big.as_bytes()).unwrap_err().status.as_u16(), 413);
        let deep = "[".repeat(10_000);
        assert_eq!(parse_user_context(deep.as_bytes()).unwrap_err().code, "invalid_json");
    }

    #[test]
    fn workflow_mapping_names_the_bad_entry() {
        assert_eq!(parse_workflow_mapping(br#"{"ingest":"queue-a"}"#).unwrap(), r#"{"ingest":"queue-a"}"#);
        let e = parse_workflow_mapping(br#"{"ingest":"q","bad step":"q"}"#).unwrap_err();
        assert_eq!(e.code, "invalid_mapping");
        assert!(e.message.starts_with("mapping key \"bad step\": step id must be"), "{}", e.message);
        let e = parse_workflow_mapping(br#"{"ingest":3}"#).unwrap_err();
        assert_eq!(e.message, "mapping[\"ingest\"] must be a string; got a number");
        assert!(parse_workflow_mapping(br#"{"ingest":""}"#).is_err());
        let many: Map<String, Value> = (0..=MAPPING_MAX_ENTRIES).map(|i| (format!("s{i}"), "t".into())).collect();
        let e = parse_workflow_mapping(Value::Object(many).to_string().as_bytes()).unwrap_err();
        assert!(e.message.contains("at most 256 entries; got 257"));
    }
}
