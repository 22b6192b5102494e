//! Waiting for the function: for results, and for it to come back for the next event.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::{InvocationResult, LocalRuntimeApi, WaitTimeout};

impl LocalRuntimeApi {
    /// Waits until at least `n` invocations have completed, then returns every
    /// result so far (in completion order).
    ///
    /// The future only relies on runtime-agnostic synchronization (the timeout is
    /// timed by the emulator's own runtime), so it can be awaited from any
    /// executor, including a tokio runtime without the time driver.
    ///
    /// # Errors
    ///
    /// Returns [`WaitTimeout`], which carries the results that did arrive, if fewer
    /// than `n` arrived within `timeout`.
    pub async fn wait_for_results(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<InvocationResult>, WaitTimeout> {
        let mut changed = self.shared.results_changed.subscribe();
        let (timer_tx, mut timer_rx) = oneshot::channel::<()>();
        let timer = AbortOnDrop(self.handle.spawn(async move {
            tokio::time::sleep(timeout).await;
            let _ = timer_tx.send(());
        }));
        loop {
            changed.borrow_and_update();
            {
                let state = self.shared.lock();
                if state.results.len() >= n {
                    return Ok(state.results.clone());
                }
            }
            let woken = tokio::select! {
                biased;
                res = changed.changed() => res.is_ok(),
                _ = &mut timer_rx => false,
            };
            if !woken {
                break;
            }
        }
        // The timer fired (or the server went away): report what arrived.
        drop(timer);
        let results = self.results();
        if results.len() >= n {
            return Ok(results);
        }
        Err(WaitTimeout {
            expected: n,
            timeout,
            results,
        })
    }

    /// Waits until every event pushed so far has been answered and the function has asked for
    /// its next event, then returns every result so far (in completion order).
    ///
    /// This is the usual way to drive a function through the emulator: push the events, then
    /// `wait_for_all`. It is [`wait_for_results`](Self::wait_for_results) for as many results as
    /// events were pushed, followed by [`wait_until_idle`](Self::wait_until_idle), within one
    /// `timeout`: once it returns, what the function does after its last response (with
    /// `coldstart::lambda::run`: the cold-start report, the first invocation's deferred metrics)
    /// is done too. Like them, it can be awaited from any executor.
    ///
    /// # Errors
    ///
    /// Returns [`WaitTimeout`], which carries the results that did arrive, if not every event
    /// was answered, or the function did not come back for the next one, within `timeout`.
    ///
    /// # Example
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
    ///     let api = LocalRuntimeApi::start()?;
    ///     // SAFETY: no other thread exists yet; the emulator's own thread never reads it.
    ///     unsafe { api.set_env() };
    ///
    ///     let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    ///     let results = rt.block_on(async {
    ///         tokio::spawn(lambda_runtime::run(service_fn(handler)));
    ///         api.push_json(&json!({ "n": 1 }));
    ///         api.push(LocalEvent::json(&json!({ "n": 2 })).delay(Duration::from_millis(50)));
    ///         api.wait_for_all(Duration::from_secs(5)).await
    ///     })?;
    ///     assert_eq!(results.len(), 2);
    ///     assert_eq!(results[1].json()?, json!({ "n": 2 }));
    ///     Ok(())
    /// }
    /// ```
    pub async fn wait_for_all(
        &self,
        timeout: Duration,
    ) -> Result<Vec<InvocationResult>, WaitTimeout> {
        let started = Instant::now();
        let expected = self.shared.pushed.load(Ordering::SeqCst);
        self.wait_for_results(expected, timeout).await?;
        let left = timeout.saturating_sub(started.elapsed());
        if self.wait_until_idle(left).await {
            return Ok(self.results());
        }
        Err(WaitTimeout {
            expected,
            timeout,
            results: self.results(),
        })
    }

    /// Waits until the function is done with every event pushed so far and waits for the next
    /// one: nothing queued, every delivered event answered, and a `/next` request held open.
    /// Returns `false` if that did not happen within `timeout`.
    ///
    /// On Lambda this is when the environment may be frozen, so what a function does after
    /// posting a response (with `coldstart::lambda::run`: the cold-start report, and the first
    /// invocation's metrics when no flush hook needs them earlier) is done by then. Like
    /// [`wait_for_results`](Self::wait_for_results), it can be awaited from any executor.
    ///
    /// ```no_run
    /// # async fn demo(api: &coldstart::local::LocalRuntimeApi) {
    /// use std::time::Duration;
    ///
    /// let results = api.wait_for_results(1, Duration::from_secs(5)).await.unwrap();
    /// assert!(api.wait_until_idle(Duration::from_secs(5)).await, "the function came back for more");
    /// # let _ = results;
    /// # }
    /// ```
    #[must_use = "`false` means the function did not come back for the next event in time"]
    pub async fn wait_until_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let state = self.shared.lock();
                if state.queue.is_empty()
                    && state.in_flight.is_empty()
                    && self.shared.pending_next.load(Ordering::SeqCst) > 0
                {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Polled every millisecond, timed by the emulator's own runtime.
            let (tick_tx, tick_rx) = oneshot::channel::<()>();
            self.handle.spawn(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let _ = tick_tx.send(());
            });
            let _ = tick_rx.await;
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
