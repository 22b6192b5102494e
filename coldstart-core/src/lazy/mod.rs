//! Lazily initialized statics that measure themselves: what each one cost, where it ran, and
//! which were never needed.
//!
//! Declare them with `#[coldstart::lazy]` (the attribute expands to one of the four types below
//! plus a link-time registration); this module is the runtime behind it.
//!
//! | declared as | type | access |
//! |---|---|---|
//! | `#[lazy] static X: T = expr;` | [`Lazy<T>`] | `*X`, `X.field`, `X.method()` (deref) → `&T` |
//! | `#[lazy(async)] static X: T = async { … };` | [`AsyncLazy<T>`] | `X.get().await` → `&T` |
//! | `#[lazy(fallible)] static X: Result<T, E> = expr;` | [`TryLazy<T, E>`] | `X.get()` → `Result<&T, E>` |
//! | `#[lazy(async, fallible)] static X: Result<T, E> = async { … };` | [`AsyncTryLazy<T, E>`] | `X.get().await` → `Result<&T, E>` |
//!
//! # Guarantees
//!
//! - **Once.** The initializer runs to success at most once, even when many threads (or tasks)
//!   race the first access: the others wait for it and then share the value. The sync forms use
//!   `once_cell::sync::OnceCell`, the async forms `tokio::sync::OnceCell`. After initialization
//!   an access is one atomic acquire load, as cheap as dereferencing a `std::sync::LazyLock`.
//! - **Errors are not cached.** When a fallible initializer returns `Err`, that error goes to the
//!   caller whose access ran it, the static stays uninitialized, and the next access (or a
//!   caller already waiting) runs the initializer again.
//! - **Panics do not poison.** When an initializer panics, the panic propagates to the caller
//!   whose access ran it, the static stays uninitialized, and the next access runs the
//!   initializer again. The attempt is counted as a failure (`outcome="panic"`). The same holds
//!   for an async initializer whose future is dropped before it completes (`outcome="cancelled"`).
//!
//! # What is recorded
//!
//! Every run of an initializer, successful or not, records `coldstart.lazy_init_duration`
//! (seconds) with labels `lazy` (the static's [name](LazyInfo::name)), `during` (see [`During`]: `init`,
//! `prewarm`, `warmup`, `after_first_response`, `cold`, `proactive`, `provisioned`, `snapstart`,
//! `warm`) and `outcome`
//! (`ok`, `error`, `panic`, `cancelled`), and updates the static's entry in [`statics`].
//!
//! **Where it ran** is decided when the attempt starts: [`During::Prewarm`] when [`prewarm`]
//! forced it, [`During::Warmup`] when a warm-up ping forced it (or the only event so far was a
//! ping), [`During::AfterFirstResponse`] when `coldstart::lambda` built it after the first
//! response (`#[lazy(after_first_response)]`, `Coldstart::warm_after_first_response`), the
//! invocation whose `#[cold_start_handler]` code touched it (its number, and its start kind: the
//! first invocation's kind for number 1, `warm` for the others), also when several invocations run
//! at once in one environment (`run_concurrent`, with the `concurrent` feature) and another one
//! began since; [`During::Init`] if
//! no invocation has begun in the process yet; otherwise (code the handler handed to another task
//! or thread, such as `tokio::spawn`, or a handler without the attribute) the most recently begun
//! invocation. A lazy static initialized while another one's initializer runs (nested) inherits
//! the outer one's `during`.
//!
//! **Durations are exclusive.** When one initializer touches another lazy static that is not
//! ready yet, the nested initializer's time is recorded for the nested static only and is
//! subtracted from the outer one's, so the durations of all statics add up to the time spent
//! initializing them. [`LazyInfo::inclusive`] keeps the outer one's total. For the async forms the
//! duration is wall-clock time from the start of the attempt to its end, including time the task
//! spent suspended; nested lazy statics that the initializer itself drives (sync ones, or async
//! ones it awaits and initializes) are subtracted as for the sync forms, but time spent waiting
//! for another task that is initializing a static is not.
//!
//! # Registry
//!
//! Every static declared with `#[lazy]` is registered at link time (with the `inventory` crate:
//! one pointer pushed onto a list by a loader-run constructor, before `main`), so [`statics`]
//! lists statics that were never touched and [`prewarm`] can force the ones marked `prewarm`
//! without any code naming them.
//!
//! ```
//! use coldstart::lazy::{Lazy, State};
//!
//! #[coldstart::lazy(name = "rules")]
//! static RULES: Vec<String> = vec!["deny all".to_owned()];
//!
//! assert_eq!(coldstart::lazy::statics().get("rules").unwrap().state, State::NotInitialized);
//! assert_eq!(Lazy::info(&RULES).state, State::NotInitialized);
//! assert_eq!(RULES.len(), 1); // first access: runs the initializer, timed
//! assert_eq!(Lazy::info(&RULES).state, State::Ready);
//! ```

// Inside: the words (`During`, `Form`, `State`, `LazyInfo`) in `vocabulary.rs`; the cell,
// initializer and bookkeeping every form shares in `slot.rs`; one timed attempt in `attempt.rs`
// (whose frame stack named phases share, so each excludes the other); the four thin forms in
// `forms.rs`; the registry in `registry.rs`, read by `statics` and `prewarm`.

mod attempt;
mod forms;
pub(crate) mod label;
mod prewarm;
pub(crate) mod registry;
mod slot;
mod statics;
mod vocabulary;
#[cfg(feature = "lambda")]
mod warm;

pub use self::forms::{AsyncLazy, AsyncTryLazy, Lazy, TryLazy};
pub use self::prewarm::{prewarm, Prewarmed};
pub use self::statics::{statics, Statics};
pub use self::vocabulary::{BoxFuture, During, Form, LazyInfo, State};

pub(crate) use self::attempt::{Attempt, End, FrameKind, Start, Subject};
#[cfg(feature = "lambda")]
pub(crate) use self::prewarm::prewarm_as;
#[cfg(feature = "lambda")]
pub(crate) use self::warm::{warm_after_first_response, Select, Warmed, Warming};
