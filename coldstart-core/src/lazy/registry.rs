//! The link-time registry of `#[lazy]` statics, and what the expansion needs from it. Not
//! public API: reached through `coldstart::__private`.

use std::future::Future;

use super::attempt::{outcome_of_sync, CatchUnwind};
use super::forms::{AsyncLazy, AsyncTryLazy, Lazy, TryLazy};
use super::slot::Meta;
use super::vocabulary::{BoxFuture, During, LazyInfo};
use crate::invocation::Outcome;

/// A lazy static as the registry sees it: the four forms. Not public API.
#[doc(hidden)]
pub trait Registered: 'static {
    /// Name, module, flags and bookkeeping.
    #[doc(hidden)]
    fn meta(&self) -> &Meta;
    /// Its entry in the list of statics.
    #[doc(hidden)]
    fn info(&self) -> LazyInfo;
    /// Initialized already?
    #[doc(hidden)]
    fn is_ready(&self) -> bool;
    /// Initializes it (attributed to `during`); never panics.
    #[doc(hidden)]
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome>;
}

impl<T: 'static> Registered for Lazy<T> {
    fn meta(&self) -> &Meta {
        &self.cell.meta
    }
    fn info(&self) -> LazyInfo {
        Lazy::info(self)
    }
    fn is_ready(&self) -> bool {
        Lazy::get_if_ready(self).is_some()
    }
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome> {
        // Runs right here, so the returned future does not borrow `self` (and needs no bounds).
        outcome_of_sync(|| {
            self.force_as(during);
            Outcome::Ok
        })
    }
}

impl<T: 'static, E: 'static> Registered for TryLazy<T, E> {
    fn meta(&self) -> &Meta {
        &self.cell.meta
    }
    fn info(&self) -> LazyInfo {
        TryLazy::info(self)
    }
    fn is_ready(&self) -> bool {
        self.get_if_ready().is_some()
    }
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome> {
        outcome_of_sync(|| match self.force_as(during) {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error,
        })
    }
}

impl<T: Send + Sync + 'static> Registered for AsyncLazy<T> {
    fn meta(&self) -> &Meta {
        &self.cell.meta
    }
    fn info(&self) -> LazyInfo {
        AsyncLazy::info(self)
    }
    fn is_ready(&self) -> bool {
        self.get_if_ready().is_some()
    }
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome> {
        let force = Box::pin(self.force_as(during));
        Box::pin(async move {
            match CatchUnwind(force).await {
                Ok(_) => Outcome::Ok,
                Err(()) => Outcome::Panic,
            }
        })
    }
}

impl<T: Send + Sync + 'static, E: Send + 'static> Registered for AsyncTryLazy<T, E> {
    fn meta(&self) -> &Meta {
        &self.cell.meta
    }
    fn info(&self) -> LazyInfo {
        AsyncTryLazy::info(self)
    }
    fn is_ready(&self) -> bool {
        self.get_if_ready().is_some()
    }
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome> {
        let force = Box::pin(self.force_as(during));
        Box::pin(async move {
            match CatchUnwind(force).await {
                Ok(Ok(_)) => Outcome::Ok,
                Ok(Err(_)) => Outcome::Error,
                Err(()) => Outcome::Panic,
            }
        })
    }
}

/// One `#[lazy]` static in the link-time registry. Not a public API.
///
/// It holds a function returning the static rather than a reference to it, so that a static
/// whose type is not `Sync` gets exactly one error (rustc's, on the static) and not a second one
/// here.
#[doc(hidden)]
pub struct Registration {
    pub(super) entry: fn() -> &'static dyn Registered,
}

impl Registration {
    /// Registers the static `entry` returns.
    #[doc(hidden)]
    pub const fn new(entry: fn() -> &'static dyn Registered) -> Registration {
        Registration { entry }
    }
}

inventory::collect!(Registration);

/// Boxes an async initializer's future (the `#[lazy(async)]` expansion calls it). A type that is
/// not a future is reported here, on the user's expression, as one error.
#[doc(hidden)]
pub fn box_future<T, F: InitFuture<T>>(future: F) -> BoxFuture<T> {
    Box::pin(future)
}

/// What a `#[lazy(async)]` initializer must be: a `Send + 'static` future of the static's type.
/// One trait (rather than three bounds) so that a mistake gives one error.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[lazy(async)]` needs a `Send` future of `{T}`; `{Self}` is not one",
    label = "not a `Send` future that resolves to `{T}`",
    note = "write the initializer as `async {{ ... }}`, or drop `async` from `#[lazy(...)]` for a plain value"
)]
pub trait InitFuture<T>: Future<Output = T> + Send + 'static {}

impl<T, F: Future<Output = T> + Send + 'static> InitFuture<T> for F {}
