//! Shared by the warm-invocation benches: one handler body, a poll-once executor, the floor.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// The body every handler variant runs: a few nanoseconds of arithmetic that can fail.
macro_rules! handler_body {
    ($n:expr) => {{
        let n: u64 = $n;
        if n == u64::MAX {
            Err("n is too large")
        } else {
            Ok(n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
        }
    }};
}
pub(crate) use handler_body;

/// Polls a future that completes without waiting, once, with a no-op waker: what is left is the
/// future's own cost, not an executor's.
pub fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the bench handlers never wait"),
    }
}

static FLOOR_COUNT: AtomicU64 = AtomicU64::new(0);
static FLOOR_NANOS: AtomicU64 = AtomicU64::new(0);

/// The physical floor of instrumenting one invocation: read the clock before and after, and
/// account for it with two relaxed atomic adds. Nothing is exported.
#[inline(always)]
pub fn floor<T>(run: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let output = run();
    let nanos = started.elapsed().as_nanos() as u64;
    FLOOR_COUNT.fetch_add(1, Ordering::Relaxed);
    FLOOR_NANOS.fetch_add(nanos, Ordering::Relaxed);
    output
}
