//! What a handler's return value says, read at compile time by the `#[cold_start_handler]`
//! expansion: its [`Outcome`] ([`Probe`]) and, for a plain `fn`, whether it is a future, which is
//! refused ([`SyncReturn`], [`check_sync_return`]). Not public API: only generated code uses
//! them, through `coldstart::__private`.

use core::future::Future;
use core::ops::Deref;

use super::kinds::Outcome;

/// Reads an [`Outcome`] off a handler's return value: `Result`s by `is_ok()`, anything else `Ok`.
///
/// The choice is made at compile time, by method resolution on the concrete return type: the
/// inherent `outcome` below applies only to `Probe<Result<T, E>>`; for every other type method
/// lookup falls through `Deref` to [`NotAResult::outcome`]. Type aliases of `Result` are found
/// too, since resolution sees the real type.
#[doc(hidden)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

impl<T, E> Probe<'_, Result<T, E>> {
    /// `Ok` for `Ok(_)`, `Error` for `Err(_)`.
    #[inline]
    pub fn outcome(&self) -> Outcome {
        if self.0.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Error
        }
    }
}

/// Where [`Probe`] falls through to for non-`Result` return values.
#[doc(hidden)]
pub struct NotAResult;

impl NotAResult {
    /// Always `Ok`: a handler that cannot return an error succeeded if it returned.
    #[inline]
    pub fn outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

impl<T: ?Sized> Deref for Probe<'_, T> {
    type Target = NotAResult;

    #[inline]
    fn deref(&self) -> &NotAResult {
        &NotAResult
    }
}

/// Refuses a plain `fn` handler whose return value is a future, at compile time.
///
/// Such a handler would be timed only while it builds the future, and its outcome read off the
/// future rather than its output: always `Ok`, a few microseconds. The expansion of a plain `fn`
/// passes `SyncReturn(&output).kind()` to [`check_sync_return`]. As with [`Probe`], method
/// resolution on the concrete type decides: the inherent `kind` below applies only when the
/// return type implements `Future` (every spelling: `impl Future`, `Pin<Box<dyn Future>>`,
/// `BoxFuture`, aliases of them, named future types), and gives [`ReturnsAFuture`], which
/// [`check_sync_return`] rejects with the message of [`TimedWhenReturned`]. Every other type
/// (generic parameters too) falls through `Deref` to [`ReturnsAValue::kind`]. Nothing of it is
/// left at run time.
#[doc(hidden)]
pub struct SyncReturn<'a, T: ?Sized>(pub &'a T);

impl<F: ?Sized + Future> SyncReturn<'_, F> {
    /// The return value is a future.
    #[inline(always)]
    pub fn kind(&self) -> ReturnsAFuture {
        ReturnsAFuture
    }
}

impl<T: ?Sized> Deref for SyncReturn<'_, T> {
    type Target = ReturnsAValue;

    #[inline(always)]
    fn deref(&self) -> &ReturnsAValue {
        &ReturnsAValue
    }
}

/// What [`SyncReturn`] finds for a return value that is not a future: fine.
#[doc(hidden)]
pub struct ReturnsAValue;

impl ReturnsAValue {
    /// The return value is not a future.
    #[inline(always)]
    pub fn kind(&self) -> ReturnsAValue {
        ReturnsAValue
    }
}

/// What [`SyncReturn`] finds for a return value that is a future: refused.
#[doc(hidden)]
pub struct ReturnsAFuture;

/// A plain `fn` handler is timed until it returns, which is right only when what it returns is
/// not a future.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[cold_start_handler]` on a `fn` that returns a future would time only the future's creation; write `async fn` instead",
    label = "this return type is a future",
    note = "an `async fn` handler is timed until its output is ready, and an `Err` output is counted as an error; \
            to keep a boxed signature, box the future of an instrumented `async fn` in a plain wrapper"
)]
pub trait TimedWhenReturned {}

#[diagnostic::do_not_recommend]
impl TimedWhenReturned for ReturnsAValue {}

/// Compiles only when `kind` is [`ReturnsAValue`]; see [`SyncReturn`].
#[inline(always)]
#[doc(hidden)]
pub fn check_sync_return<K: TimedWhenReturned>(kind: K) {
    let _ = kind;
}

#[cfg(test)]
mod tests {
    use super::*;

    type Alias = Result<u8, String>;

    #[test]
    fn results_are_probed_by_is_ok_and_others_are_ok() {
        let err: Alias = Err("no".into());
        assert_eq!(Probe(&err).outcome(), Outcome::Error);
        assert_eq!(Probe(&Ok::<_, ()>(1)).outcome(), Outcome::Ok);
        assert_eq!(Probe(&42).outcome(), Outcome::Ok);
        assert_eq!(Probe(&()).outcome(), Outcome::Ok);
        assert_eq!(Probe(&Some(Err::<(), ()>(()))).outcome(), Outcome::Ok);
    }
}
