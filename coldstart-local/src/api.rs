//! [`LocalRuntimeApi`]: the emulator's handle, what it is given and what it can tell.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::headers::{ascii_json, header_value_from_ascii, header_value_from_token};
use crate::ids::generate_request_id;
use crate::state::{Position, QueuedEvent, Shared};
use crate::{Extension, InitError, InvocationResult, LocalEvent, LocalRuntimeApiBuilder};

/// A Lambda Runtime API emulator listening on `127.0.0.1`.
///
/// Dropping it shuts the server down (open connections, including `/next`
/// requests that are still waiting for an event, are closed, so a runtime loop
/// still polling it ends with a connection error) and joins its thread, which
/// blocks the dropping thread for a moment.
///
/// # Example
///
/// Run the real `lambda_runtime` loop against the emulator:
///
/// ```no_run
/// use coldstart::local::{LocalEvent, LocalRuntimeApi};
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::{json, Value};
/// use std::time::Duration;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let api = LocalRuntimeApi::builder().function_name("my-function").start()?;
///     // SAFETY: no other thread exists yet; the emulator's own thread never reads it.
///     unsafe { api.set_env() };
///
///     let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
///     rt.block_on(async {
///         tokio::spawn(lambda_runtime::run(service_fn(handler)));
///
///         let id = api.push(LocalEvent::json(&json!({ "hello": "world" })).delay(Duration::from_millis(50)));
///         let results = api.wait_for_all(Duration::from_secs(5)).await?;
///         assert_eq!(results[0].request_id, id);
///         assert_eq!(results[0].json()?, json!({ "hello": "world" }));
///         Ok::<_, Box<dyn std::error::Error>>(())
///     })
/// }
/// ```
pub struct LocalRuntimeApi {
    pub(crate) addr: SocketAddr,
    pub(crate) shared: Arc<Shared>,
    pub(crate) handle: tokio::runtime::Handle,
    pub(crate) shutdown: Option<oneshot::Sender<()>>,
    pub(crate) thread: Option<JoinHandle<()>>,
}

impl LocalRuntimeApi {
    /// Starts an emulator for a function named [`DEFAULT_FUNCTION_NAME`](crate::DEFAULT_FUNCTION_NAME) with the
    /// default settings.
    ///
    /// # Errors
    ///
    /// Fails if the loopback listener, the server's tokio runtime or its thread
    /// cannot be created.
    pub fn start() -> std::io::Result<Self> {
        Self::builder().start()
    }

    /// Returns a builder to configure the emulated function before starting it.
    pub fn builder() -> LocalRuntimeApiBuilder {
        LocalRuntimeApiBuilder::default()
    }

    /// The address the server listens on (`127.0.0.1` and an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues an event and returns its request id.
    ///
    /// Events are handed out in the order they were pushed, each to exactly one
    /// `/next` request; if several `/next` requests are waiting, the one that
    /// arrived first gets the event.
    ///
    /// Request ids must be unique among invocations that have not completed yet.
    pub fn push(&self, event: LocalEvent) -> String {
        let request_id = event.request_id.unwrap_or_else(generate_request_id);
        let request_id_header = header_value_from_token(&request_id);
        let client_context = event
            .client_context
            .as_ref()
            .map(|ctx| header_value_from_ascii(ascii_json(ctx)));
        let queued = QueuedEvent {
            payload: event.payload,
            request_id: request_id.clone(),
            request_id_header,
            client_context,
            deadline_in: event
                .deadline_in
                .unwrap_or(self.shared.config.default_deadline),
            delay: event.delay,
            pushed_at: Instant::now(),
        };
        self.shared.pushed.fetch_add(1, Ordering::SeqCst);
        self.shared.lock().dispatch(queued, Position::Back);
        request_id
    }

    /// Queues a JSON event with the default settings; shorthand for
    /// `push(LocalEvent::json(payload))`.
    pub fn push_json(&self, payload: &Value) -> String {
        self.push(LocalEvent::json(payload))
    }

    /// A snapshot of the completed invocations, in completion order.
    pub fn results(&self) -> Vec<InvocationResult> {
        self.shared.lock().results.clone()
    }

    /// Errors posted to `/runtime/init/error` and `/runtime/restore/error`, in
    /// arrival order.
    pub fn init_errors(&self) -> Vec<InitError> {
        self.shared.lock().init_errors.clone()
    }

    /// How many times `/runtime/restore/next` (SnapStart) was called.
    pub fn restore_next_calls(&self) -> usize {
        self.shared.restore_next_calls.load(Ordering::SeqCst)
    }

    /// How many `/runtime/invocation/next` requests are being held open right now
    /// (waiting for an event, or for the [`delay`](LocalEvent::delay) of the event
    /// they received).
    pub fn pending_next_requests(&self) -> usize {
        self.shared.pending_next.load(Ordering::SeqCst)
    }

    /// The extensions registered so far (`POST /2020-01-01/extension/register`), in
    /// registration order; `coldstart`'s `on_shutdown` registers one named
    /// `_lambda-rust-runtime-no-op-graceful-shutdown-helper`, subscribed to no events.
    ///
    /// ```
    /// let api = coldstart::local::LocalRuntimeApi::start()?;
    /// assert!(api.extensions().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn extensions(&self) -> Vec<Extension> {
        self.shared.lock().extensions.clone()
    }

    /// How many `/2020-01-01/extension/event/next` requests are being held open right now.
    /// The emulator sends extensions no events, so a registered extension's loop waits there
    /// for as long as the emulator runs.
    ///
    /// ```
    /// let api = coldstart::local::LocalRuntimeApi::start()?;
    /// assert_eq!(api.pending_extension_next_requests(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pending_extension_next_requests(&self) -> usize {
        self.shared.pending_extension_next.load(Ordering::SeqCst)
    }

    /// How many pushed events have not been handed to a `/next` request yet.
    pub fn queued_events(&self) -> usize {
        self.shared.lock().queue.len()
    }
}

impl fmt::Debug for LocalRuntimeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRuntimeApi")
            .field("addr", &self.addr)
            .field("function_name", &self.shared.config.function_name)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalRuntimeApi {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The server thread only panics if the server itself has a bug; don't turn
            // that into a double panic (or a panic in a destructor) here.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WaitTimeout;

    #[test]
    fn api_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LocalRuntimeApi>();
        assert_send_sync::<InvocationResult>();
        assert_send_sync::<WaitTimeout>();
    }
}
