//! [`LocalEvent`]: what is delivered through `/runtime/invocation/next`, and its request id.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

/// An event to deliver to the function through `/runtime/invocation/next`.
///
/// ```
/// use coldstart::local::LocalEvent;
/// use serde_json::json;
/// use std::time::Duration;
///
/// let event = LocalEvent::json(&json!({ "orderId": 7 }))
///     .request_id("order-7")
///     .deadline_in(Duration::from_secs(3))
///     .delay(Duration::from_millis(200));
/// assert_eq!(event.payload().as_ref(), br#"{"orderId":7}"#);
/// ```
#[derive(Debug, Clone)]
pub struct LocalEvent {
    pub(crate) payload: Bytes,
    pub(crate) request_id: Option<String>,
    pub(crate) client_context: Option<Value>,
    pub(crate) deadline_in: Option<Duration>,
    pub(crate) delay: Duration,
}

impl LocalEvent {
    /// An event with the given raw payload (usually JSON).
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self {
            payload: payload.into(),
            request_id: None,
            client_context: None,
            deadline_in: None,
            delay: Duration::ZERO,
        }
    }

    /// An event whose payload is `payload` serialized as JSON.
    pub fn json(payload: &Value) -> Self {
        Self::new(payload.to_string())
    }

    /// Sends `context` in the `Lambda-Runtime-Client-Context` header.
    ///
    /// The value is sent as compact JSON, with non-ASCII characters written as
    /// `\uXXXX` escapes so that it is a plain-ASCII header.
    ///
    /// `lambda_runtime` parses the header into `Context::client_context`, whose
    /// shape is `{"client": {"installation_id", "app_title", "app_version_name",
    /// "app_version_code", "app_package_name"}, "custom": {string: string},
    /// "environment": {string: string}}` (each of the three optional, but all five
    /// `client` fields required when `client` is present, camelCase accepted too).
    /// A value it cannot parse makes its `/next` handling fail, which ends its
    /// whole runtime loop with an error rather than failing just this invocation.
    pub fn client_context(mut self, context: Value) -> Self {
        self.client_context = Some(context);
        self
    }

    /// Sets the deadline to this long after the event is delivered
    /// (`Lambda-Runtime-Deadline-Ms`). Defaults to the server's
    /// [`default_deadline`](crate::LocalRuntimeApiBuilder::default_deadline).
    pub fn deadline_in(mut self, deadline: Duration) -> Self {
        self.deadline_in = Some(deadline);
        self
    }

    /// Delivers the event no earlier than `delay` after the `/next` request that
    /// receives it arrived, or after the event was pushed, whichever is later.
    ///
    /// This simulates an event that arrives a while after the function finished
    /// its initialization (or its previous invocation).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Uses `id` as the request id instead of a generated one.
    ///
    /// # Panics
    ///
    /// Panics if `id` is empty, longer than 256 bytes, or contains anything but
    /// ASCII letters, digits, `-`, `_`, `.` and `~` (it travels in a header and in
    /// a URL path).
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        assert!(
            is_valid_request_id(&id),
            "invalid request id {id:?}: expected 1 to 256 ASCII letters, digits, '-', '_', '.' or '~'"
        );
        self.request_id = Some(id);
        self
    }

    /// The payload that will be delivered.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

impl From<Value> for LocalEvent {
    fn from(payload: Value) -> Self {
        Self::json(&payload)
    }
}

pub(crate) fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_builder_defaults_and_setters() {
        let event = LocalEvent::new("raw");
        assert_eq!(event.payload().as_ref(), b"raw");
        assert_eq!(event.request_id.as_deref(), None);
        assert_eq!(event.client_context.as_ref(), None);
        assert_eq!(event.deadline_in, None);
        assert_eq!(event.delay, Duration::ZERO);

        let ctx = json!({ "custom": { "k": "v" } });
        let event = LocalEvent::json(&json!({ "a": [1, 2] }))
            .request_id("abc-123_x.y~z")
            .client_context(ctx.clone())
            .deadline_in(Duration::from_secs(3))
            .delay(Duration::from_millis(250));
        assert_eq!(event.payload().as_ref(), br#"{"a":[1,2]}"#);
        assert_eq!(event.request_id.as_deref(), Some("abc-123_x.y~z"));
        assert_eq!(event.client_context.as_ref(), Some(&ctx));
        assert_eq!(event.deadline_in, Some(Duration::from_secs(3)));
        assert_eq!(event.delay, Duration::from_millis(250));

        let from_vec = LocalEvent::new(vec![1u8, 2, 3]);
        assert_eq!(from_vec.payload().as_ref(), &[1, 2, 3]);
        let from_value: LocalEvent = json!(null).into();
        assert_eq!(from_value.payload().as_ref(), b"null");
    }

    #[test]
    #[should_panic(expected = "invalid request id")]
    fn request_id_with_a_slash_is_rejected() {
        let _ = LocalEvent::new("{}").request_id("a/b");
    }

    #[test]
    #[should_panic(expected = "invalid request id")]
    fn empty_request_id_is_rejected() {
        let _ = LocalEvent::new("{}").request_id("");
    }
}
