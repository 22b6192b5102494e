//! [`Coldstart::on_shutdown`]: one last hook when Lambda shuts the environment down.
//!
//! Lambda sends its SHUTDOWN event only to extensions; a runtime learns of it only as a SIGTERM,
//! and only if an extension is registered. `lambda_runtime`'s `spawn_graceful_shutdown_handler`
//! registers a no-op internal extension during INIT and runs a hook on SIGTERM or SIGINT, then
//! exits the process with status 0. This file wires the user's hook into it, bounded.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::config::Coldstart;

/// How long [`Coldstart::on_shutdown`]'s hook may run before the process exits anyway: 400 ms.
///
/// With only internal extensions registered, Lambda gives the process about 500 ms after
/// SIGTERM before it sends SIGKILL (the whole Shutdown phase is capped at 2 s, and 500 ms is
/// the share when no external extension is registered); 400 ms leaves the rest for the exit.
///
/// ```
/// assert!(coldstart::lambda::SHUTDOWN_HOOK_BOUND < std::time::Duration::from_millis(500));
/// ```
pub const SHUTDOWN_HOOK_BOUND: Duration = Duration::from_millis(400);

type Hook = Box<dyn FnOnce() + Send>;

/// The hook, shared by every clone of the configuration and taken by the one run at SIGTERM.
#[derive(Clone)]
pub(super) struct ShutdownHook(Arc<Mutex<Option<Hook>>>);

impl ShutdownHook {
    fn take(&self) -> Option<Hook> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Coldstart {
    /// A function run once when Lambda shuts the environment down (the process receives
    /// SIGTERM), or when the process receives SIGINT (Ctrl-C while running locally); the process
    /// then exits with status 0. Do the final flush here yourself: push the last metrics, delete
    /// the environment's Pushgateway group (see the recipe in
    /// `coldstart::guide::lifecycle`), close files. Unix only,
    /// feature `shutdown`.
    ///
    /// **Cost.** Lambda sends SIGTERM to a runtime only when an extension is registered, so
    /// setting a hook makes [`Coldstart::end_init`] register a no-op internal extension during
    /// INIT (`lambda_runtime`'s `spawn_graceful_shutdown_handler`): one HTTP round trip to the
    /// Extensions API: about half a millisecond of INIT against a Runtime API on loopback, in the
    /// repository's `shutdown-register` benchmark (not measured on Lambda).
    /// If the registration fails, the hook is never run and stderr says so; the function runs
    /// on.
    ///
    /// **When it runs,** in this order, on a thread of its own: INIT's metrics if nothing
    /// recorded them yet (an environment that was never invoked), the first invocation's deferred
    /// record-keeping (its metrics and the metric descriptions, as before a flush hook), then
    /// `hook`. Nothing else: the flush hook ([`Coldstart::on_flush`]) is not called again.
    ///
    /// **Bound.** Lambda kills the process about 500 ms after SIGTERM. The process exits
    /// [`SHUTDOWN_HOOK_BOUND`] (400 ms) after the hook started, whether or not it returned (a
    /// line on stderr says so), so keep network calls in it bounded well below that. A panic in
    /// the hook is caught and logged. The hook is a plain function rather than a future so that
    /// it is bounded however it behaves, even if it blocks; to await something, call
    /// `tokio::runtime::Handle::current().block_on(...)` in it (the hook's thread is inside the
    /// function's runtime but is not one of its worker threads).
    ///
    /// Lambda does not promise a Shutdown phase at all (an environment can also be killed
    /// after a crash or a timeout), so the hook adds to a per-invocation flush; it does not
    /// replace one.
    ///
    /// ```no_run
    /// use coldstart::lambda::Coldstart;
    /// use lambda_runtime::{service_fn, Error, LambdaEvent};
    /// use serde_json::Value;
    ///
    /// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    ///     Ok(event.payload)
    /// }
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Error> {
    ///     Coldstart::new()
    ///         .on_shutdown(|| eprintln!("last flush"))
    ///         .run(service_fn(handler))
    ///         .await
    /// }
    /// ```
    pub fn on_shutdown(self, hook: impl FnOnce() + Send + 'static) -> Self {
        let hook = ShutdownHook(Arc::new(Mutex::new(Some(Box::new(hook)))));
        self.with(|shared| shared.on_shutdown = Some(hook))
    }
}

/// Registers the no-op extension and the signal handlers that run `hook`; called by
/// `Coldstart::end_init`, before init end is marked (extensions register during INIT).
pub(super) async fn register(hook: ShutdownHook) {
    let register = lambda_runtime::spawn_graceful_shutdown_handler(move || run(hook));
    // The helper panics when the extension cannot be registered; a task keeps that panic from
    // ending INIT (the panic message itself is printed by the panic hook).
    if let Err(err) = tokio::spawn(register).await {
        eprintln!(
            "coldstart: the shutdown extension could not be registered ({err}); the on_shutdown hook will not run"
        );
    }
}

enum Ended {
    Returned,
    Panicked,
    TimedOut,
}

/// Runs the hook on a thread of its own and waits for it, at most [`SHUTDOWN_HOOK_BOUND`].
/// Waiting needs no time driver and never blocks a runtime thread: the hook thread and a timer
/// thread both report on one channel, and the first message wins.
async fn run(hook: ShutdownHook) {
    let Some(hook) = hook.take() else { return };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let timer = tx.clone();
    let work = move || {
        let ran = catch_unwind(AssertUnwindSafe(|| {
            // What the hook exports must be recorded and described, as before a flush hook; and
            // INIT, for an environment that was never invoked.
            crate::invocation::record_init();
            crate::after_response::before_flush();
            hook();
        }));
        let _ = tx.send(if ran.is_ok() {
            Ended::Returned
        } else {
            Ended::Panicked
        });
    };
    // Inside the function's runtime, as the rest of its code runs.
    if !crate::spawn_in_runtime("coldstart-shutdown", Box::new(work)) {
        eprintln!("coldstart: no thread for the on_shutdown hook; it did not run");
        return;
    }
    // Without a timer thread the wait is bounded by Lambda's SIGKILL instead.
    let _ = crate::spawn_detached(
        "coldstart-shutdown-bound",
        Box::new(move || {
            std::thread::sleep(SHUTDOWN_HOOK_BOUND);
            let _ = timer.send(Ended::TimedOut);
        }),
    );
    match rx.recv().await {
        Some(Ended::Returned) | None => {}
        Some(Ended::Panicked) => {
            eprintln!("coldstart: the on_shutdown hook panicked; the process exits anyway");
        }
        Some(Ended::TimedOut) => eprintln!(
            "coldstart: the on_shutdown hook did not return within {} ms; the process exits anyway",
            SHUTDOWN_HOOK_BOUND.as_millis()
        ),
    }
}
