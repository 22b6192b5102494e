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
