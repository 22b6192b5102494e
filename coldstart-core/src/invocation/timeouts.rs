//! Invocations a watchdog has already recorded as timed out (`coldstart::lambda` records a
//! timeout shortly before the deadline, while the handler may still be running): when such a
//! handler finishes after all, its invocation records nothing more, so it is counted once.
//! Also, for the watchdog to name an invocation the moment its handler begins it (even one that
//! then blocks its thread), which watch the thread is polling.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::kinds::StartKind;

/// Numbers of invocations recorded as timed out whose handler has not finished yet.
static TIMED_OUT: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// `TIMED_OUT` is not empty: the one load a finishing invocation pays.
static ANY: AtomicBool = AtomicBool::new(false);

/// The invocation a handler began: number, handler name, start kind.
pub(crate) type Begun = (u64, &'static str, StartKind);

thread_local! {
    /// The watch (`coldstart::lambda`'s) whose handler this thread is polling, if any.
    static WATCH: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Told which invocation a watched handler began: set once by `coldstart::lambda`'s watchdog, so
/// that this module calls into it without depending on it.
static ON_BEGIN: OnceLock<fn(u64, Begun)> = OnceLock::new();

/// Sets the function told, for a watched handler, which invocation it began.
#[cfg(feature = "lambda")]
pub(crate) fn on_begin(tell: fn(u64, Begun)) {
    let _ = ON_BEGIN.set(tell);
}

/// While the returned guard lives, this thread is polling the handler of watch `id`.
#[cfg(feature = "lambda")]
pub(crate) fn polling(id: u64) -> Polling {
    let outer = WATCH
        .try_with(|watch| watch.replace(Some(id)))
        .ok()
        .flatten();
    Polling { outer }
}

/// Restores the thread's previous watch when dropped (see [`polling`]).
#[cfg(feature = "lambda")]
pub(crate) struct Polling {
    outer: Option<u64>,
}

#[cfg(feature = "lambda")]
impl Drop for Polling {
    fn drop(&mut self) {
        let _ = WATCH.try_with(|watch| watch.set(self.outer));
    }
}

/// A handler began invocation `number` (called by `Handler::begin`): one thread-local read
/// unless a watched handler is being polled.
#[inline]
pub(super) fn began(number: u64, handler: &'static str, start: StartKind) {
    if let Ok(Some(id)) = WATCH.try_with(Cell::get) {
        if let Some(tell) = ON_BEGIN.get() {
            tell(id, (number, handler, start));
        }
    }
}

/// Invocation `number` was recorded as timed out; its own record is to be skipped.
#[cfg(feature = "lambda")]
pub(crate) fn mark_timed_out(number: u64) {
    TIMED_OUT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(number);
    ANY.store(true, Ordering::Release);
}

/// Whether some invocation was recorded as timed out and its handler has not finished yet: one
/// atomic load.
#[inline]
pub(crate) fn any_timed_out() -> bool {
    ANY.load(Ordering::Acquire)
}

/// `true` (once) if invocation `number` was already recorded as timed out.
#[inline]
pub(crate) fn take_timed_out(number: u64) -> bool {
    any_timed_out() && take_slow(number)
}

#[cold]
fn take_slow(number: u64) -> bool {
    let mut timed_out = TIMED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(at) = timed_out.iter().position(|n| *n == number) else {
        return false;
    };
    timed_out.swap_remove(at);
    ANY.store(!timed_out.is_empty(), Ordering::Release);
    true
}
