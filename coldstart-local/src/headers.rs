//! The Runtime API's headers and how values become header values.

use std::fmt::Write as _;

use hyper::header::{HeaderName, HeaderValue};
use serde_json::Value;

pub(crate) const HDR_REQUEST_ID: HeaderName =
    HeaderName::from_static("lambda-runtime-aws-request-id");
pub(crate) const HDR_DEADLINE_MS: HeaderName =
    HeaderName::from_static("lambda-runtime-deadline-ms");
pub(crate) const HDR_FUNCTION_ARN: HeaderName =
    HeaderName::from_static("lambda-runtime-invoked-function-arn");
pub(crate) const HDR_TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
pub(crate) const HDR_CLIENT_CONTEXT: HeaderName =
    HeaderName::from_static("lambda-runtime-client-context");
pub(crate) const HDR_ERROR_TYPE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-error-type");
pub(crate) const HDR_ERROR_BODY: HeaderName =
    HeaderName::from_static("lambda-runtime-function-error-body");
pub(crate) const HDR_RESPONSE_MODE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-response-mode");

/// A header value from a string known to be made of visible ASCII.
pub(crate) fn header_value_from_ascii(value: String) -> HeaderValue {
    match HeaderValue::try_from(value) {
        Ok(value) => value,
        // Callers only pass visible ASCII, which is always a valid header value.
        Err(_) => HeaderValue::from_static(""),
    }
}

pub(crate) fn header_value_from_token(value: &str) -> HeaderValue {
    header_value_from_ascii(value.to_owned())
}

/// Serializes `value` as compact JSON made only of visible ASCII: every other
/// character is written as a `\uXXXX` escape, so the result is a valid header value
/// that `HeaderValue::to_str` accepts. Outside strings, compact JSON contains only
/// ASCII, so escaping is always valid.
pub(crate) fn ascii_json(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_context_is_escaped_to_visible_ascii() {
        let ctx = json!({ "custom": { "name": "Zoë 🦀", "del": "\u{7f}", "nl": "a\nb" } });
        let escaped = ascii_json(&ctx);
        assert!(
            escaped.bytes().all(|b| (b' '..=b'~').contains(&b)),
            "{escaped}"
        );
        let header = HeaderValue::from_str(&escaped).unwrap();
        assert!(header.to_str().is_ok());
        let back: Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, ctx);
    }
}
