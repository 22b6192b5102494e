//! The four forms a `#[lazy]` static expands to. Each is a thin wrapper around the shared
//! [`Slot`]; what differs is only how the value is reached (deref, `get()`, `get().await`) and
//! whether an `Err` can come back.

use std::fmt;
use std::ops::Deref;

use super::slot::{AsyncCell, Slot, SyncCell};
use super::vocabulary::{BoxFuture, During, Form, LazyInfo};

/// The cell and initializer of each form.
type SyncOf<T> = Slot<SyncCell<T>, fn() -> T>;
type TrySyncOf<T, E> = Slot<SyncCell<T>, fn() -> Result<T, E>>;
type AsyncOf<T> = Slot<AsyncCell<T>, fn() -> BoxFuture<T>>;
type TryAsyncOf<T, E> = Slot<AsyncCell<T>, fn() -> BoxFuture<Result<T, E>>>;

/// A lazily initialized value: `#[lazy] static NAME: T = expr;`.
///
/// Dereferences to `T`, running the initializer on first access (once, timed, attributed; see the
/// [module docs](super)). `Sync` (usable in a `static`) when `T: Send + Sync`.
///
/// Like `std::sync::LazyLock`, its own functions are associated functions (`Lazy::force(&X)`,
/// `Lazy::info(&X)`), so that they never shadow the methods of `T` reached through `Deref`.
///
/// ```
/// use coldstart::lazy::Lazy;
///
/// #[coldstart::lazy]
/// static PRIMES: Vec<u32> = (2..50).filter(|n| (2..*n).all(|d| n % d != 0)).collect();
///
/// assert_eq!(PRIMES[..4], [2, 3, 5, 7]);
/// assert_eq!(PRIMES.get(20), None); // `Vec::get`, through `Deref`
/// assert_eq!(Lazy::force(&PRIMES).len(), 15);
/// ```
pub struct Lazy<T> {
    pub(super) cell: SyncOf<T>,
}

impl<T> Lazy<T> {
    /// A lazy value named `name` (the `lazy` label) declared in `module_path`, built by `init`.
    /// Not public API: `#[lazy]` calls it and registers the static.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        after_first_response: bool,
        init: fn() -> T,
    ) -> Lazy<T> {
        Lazy {
            cell: Slot::new_sync(name, module_path, prewarm, after_first_response, init),
        }
    }

    /// The value, initializing it first if needed. Same as dereferencing.
    ///
    /// ```
    /// use coldstart::lazy::Lazy;
    ///
    /// #[coldstart::lazy]
    /// static S: String = "hi".repeat(2);
    ///
    /// assert_eq!(Lazy::force(&S), "hihi");
    /// ```
    #[inline]
    pub fn force(this: &Self) -> &T {
        match this.cell.get() {
            Some(value) => value,
            None => this.cell.initialize(None),
        }
    }

    /// The value if it is initialized; never runs the initializer.
    ///
    /// ```
    /// use coldstart::lazy::Lazy;
    ///
    /// #[coldstart::lazy]
    /// static S: u8 = 1;
    ///
    /// assert_eq!(Lazy::get_if_ready(&S), None);
    /// let _ = *S;
    /// assert_eq!(Lazy::get_if_ready(&S), Some(&1));
    /// ```
    #[inline]
    pub fn get_if_ready(this: &Self) -> Option<&T> {
        this.cell.get()
    }

    /// This static's entry in the [list of statics](super::statics).
    ///
    /// ```
    /// use coldstart::lazy::Lazy;
    ///
    /// #[coldstart::lazy(name = "small")]
    /// static S: u8 = 1;
    ///
    /// assert_eq!(Lazy::info(&S).name, "small");
    /// ```
    pub fn info(this: &Self) -> LazyInfo {
        this.cell.info(Form::Sync)
    }

    pub(super) fn force_as(&self, during: During) {
        self.cell.initialize(Some(during));
    }
}

impl<T> Deref for Lazy<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        Lazy::force(self)
    }
}

impl<T: fmt::Debug> fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cell.debug("Lazy", f)
    }
}

/// A lazily initialized value whose initializer can fail:
/// `#[lazy(fallible)] static NAME: Result<T, E> = expr;`.
///
/// [`TryLazy::get`] returns `Ok(&T)` once an attempt succeeded. An `Err` is returned to the
/// caller whose access ran the failing attempt and is never cached: the next access tries again.
///
/// ```
/// use coldstart::lazy::State;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static TRIES: AtomicU32 = AtomicU32::new(0);
///
/// #[coldstart::lazy(fallible)]
/// static PORT: Result<u16, String> = match TRIES.fetch_add(1, Ordering::Relaxed) {
///     0 => Err("not yet".to_owned()),
///     _ => Ok(8080),
/// };
///
/// assert_eq!(PORT.get(), Err("not yet".to_owned()));
/// assert_eq!(PORT.info().state, State::Failed { failures: 1 });
/// assert_eq!(PORT.get(), Ok(&8080));
/// assert_eq!(PORT.get(), Ok(&8080)); // cached: no third attempt
/// assert_eq!(TRIES.load(Ordering::Relaxed), 2);
/// ```
pub struct TryLazy<T, E> {
    pub(super) cell: TrySyncOf<T, E>,
}

impl<T, E> TryLazy<T, E> {
    /// A fallible lazy value; see [`Lazy::new`]. Not public API.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        after_first_response: bool,
        init: fn() -> Result<T, E>,
    ) -> TryLazy<T, E> {
        TryLazy {
            cell: Slot::new_sync(name, module_path, prewarm, after_first_response, init),
        }
    }

    /// The value, running the initializer if no attempt has succeeded yet; its `Err` if that
    /// attempt failed.
    ///
    /// ```
    /// #[coldstart::lazy(fallible)]
    /// static N: Result<u8, &'static str> = Err("down");
    ///
    /// assert_eq!(N.get(), Err("down"));
    /// ```
    #[inline]
    pub fn get(&self) -> Result<&T, E> {
        match self.cell.get() {
            Some(value) => Ok(value),
            None => self.cell.try_initialize(None),
        }
    }

    /// The value if it is initialized; never runs the initializer.
    ///
    /// ```
    /// #[coldstart::lazy(fallible)]
    /// static N: Result<u8, ()> = Ok(1);
    ///
    /// assert_eq!(N.get_if_ready(), None);
    /// ```
    #[inline]
    pub fn get_if_ready(&self) -> Option<&T> {
        self.cell.get()
    }

    /// This static's entry in the [list of statics](super::statics).
    ///
    /// ```
    /// #[coldstart::lazy(fallible)]
    /// static N: Result<u8, ()> = Ok(1);
    ///
    /// assert_eq!(N.info().failures, 0);
    /// ```
    pub fn info(&self) -> LazyInfo {
        self.cell.info(Form::Fallible)
    }

    pub(super) fn force_as(&self, during: During) -> Result<&T, E> {
        self.cell.try_initialize(Some(during))
    }
}

impl<T: fmt::Debug, E> fmt::Debug for TryLazy<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cell.debug("TryLazy", f)
    }
}

/// A lazily initialized value built by a future:
/// `#[lazy(async)] static NAME: T = async { … };`.
///
/// [`AsyncLazy::get`] awaits the initializer on first access; concurrent callers wait for the
/// same run. The initializer must be `Send` (so that handlers stay `Send`, as `lambda_http`
/// requires).
///
/// ```
/// #[coldstart::lazy(async)]
/// static CONFIG: String = async { "region=eu-west-1".to_owned() };
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(CONFIG.get().await, "region=eu-west-1");
/// # });
/// ```
pub struct AsyncLazy<T> {
    pub(super) cell: AsyncOf<T>,
}

impl<T> AsyncLazy<T> {
    /// An async lazy value; see [`Lazy::new`]. `init` returns the boxed initializer future. Not
    /// public API.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        after_first_response: bool,
        init: fn() -> BoxFuture<T>,
    ) -> AsyncLazy<T> {
        AsyncLazy {
            cell: Slot::new_async(name, module_path, prewarm, after_first_response, init),
        }
    }

    /// The value, awaiting the initializer first if needed.
    ///
    /// ```
    /// #[coldstart::lazy(async)]
    /// static N: u8 = async { 7 };
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(*N.get().await, 7);
    /// # });
    /// ```
    pub async fn get(&self) -> &T {
        match self.cell.get() {
            Some(value) => value,
            None => self.cell.initialize(None).await,
        }
    }

    /// The value if it is initialized; never runs the initializer.
    ///
    /// ```
    /// #[coldstart::lazy(async)]
    /// static N: u8 = async { 7 };
    ///
    /// assert_eq!(N.get_if_ready(), None);
    /// ```
    #[inline]
    pub fn get_if_ready(&self) -> Option<&T> {
        self.cell.get()
    }

    /// This static's entry in the [list of statics](super::statics).
    ///
    /// ```
    /// #[coldstart::lazy(async, prewarm)]
    /// static N: u8 = async { 7 };
    ///
    /// assert!(N.info().prewarm);
    /// ```
    pub fn info(&self) -> LazyInfo {
        self.cell.info(Form::Async)
    }

    pub(super) async fn force_as(&self, during: During) -> &T {
        self.cell.initialize(Some(during)).await
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncLazy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cell.debug("AsyncLazy", f)
    }
}

/// A lazily initialized value built by a fallible future:
/// `#[lazy(async, fallible)] static NAME: Result<T, E> = async { … };`.
///
/// Combines [`AsyncLazy`] and [`TryLazy`]: `get().await` returns `Result<&T, E>`, errors are
/// returned to their caller and never cached.
///
/// ```
/// #[coldstart::lazy(async, fallible)]
/// static POOL: Result<Vec<u8>, String> = async { Ok(vec![1, 2]) };
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(POOL.get().await.map(Vec::len), Ok(2));
/// # });
/// ```
pub struct AsyncTryLazy<T, E> {
    pub(super) cell: TryAsyncOf<T, E>,
}

impl<T, E> AsyncTryLazy<T, E> {
    /// An async, fallible lazy value; see [`Lazy::new`]. Not public API.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        after_first_response: bool,
        init: fn() -> BoxFuture<Result<T, E>>,
    ) -> AsyncTryLazy<T, E> {
        AsyncTryLazy {
            cell: Slot::new_async(name, module_path, prewarm, after_first_response, init),
        }
    }

    /// The value, awaiting the initializer if no attempt has succeeded yet; its `Err` if that
    /// attempt failed.
    ///
    /// ```
    /// #[coldstart::lazy(async, fallible)]
    /// static N: Result<u8, &'static str> = async { Err("refused") };
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(N.get().await, Err("refused"));
    /// # });
    /// ```
    pub async fn get(&self) -> Result<&T, E> {
        match self.cell.get() {
            Some(value) => Ok(value),
            None => self.cell.try_initialize(None).await,
        }
    }

    /// The value if it is initialized; never runs the initializer.
    ///
    /// ```
    /// #[coldstart::lazy(async, fallible)]
    /// static N: Result<u8, ()> = async { Ok(1) };
    ///
    /// assert_eq!(N.get_if_ready(), None);
    /// ```
    #[inline]
    pub fn get_if_ready(&self) -> Option<&T> {
        self.cell.get()
    }

    /// This static's entry in the [list of statics](super::statics).
    ///
    /// ```
    /// #[coldstart::lazy(async, fallible)]
    /// static N: Result<u8, ()> = async { Ok(1) };
    ///
    /// assert_eq!(N.info().form, coldstart::lazy::Form::AsyncFallible);
    /// ```
    pub fn info(&self) -> LazyInfo {
        self.cell.info(Form::AsyncFallible)
    }

    pub(super) async fn force_as(&self, during: During) -> Result<&T, E> {
        self.cell.try_initialize(Some(during)).await
    }
}

impl<T: fmt::Debug, E> fmt::Debug for AsyncTryLazy<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cell.debug("AsyncTryLazy", f)
    }
}
