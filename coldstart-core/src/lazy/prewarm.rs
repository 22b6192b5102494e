//! Building the `prewarm` statics ahead of demand: [`prewarm`].

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::registry::{Registered, Registration};
use super::vocabulary::{BoxFuture, During};
use crate::invocation::Outcome;

/// What [`prewarm`] did.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let prewarmed = coldstart::prewarm().await;
/// assert!(prewarmed.is_ok());
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prewarmed {
    /// `prewarm` statics this call initialized.
    pub initialized: Vec<&'static str>,
    /// `prewarm` statics that were ready already.
    pub already_ready: Vec<&'static str>,
    /// `prewarm` statics whose initializer failed: `Error` (an `Err`) or `Panic`. They stay
    /// uninitialized and are retried on their next access.
    pub failed: Vec<(&'static str, Outcome)>,
    /// How long the call took.
    pub elapsed: Duration,
}

impl Prewarmed {
    /// `true` when no initializer failed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert!(coldstart::prewarm().await.is_ok());
    /// # });
    /// ```
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Initializes every `#[lazy(prewarm)]` static that is not ready yet: the sync ones one after
/// the other, then the async ones concurrently (four statics that each await a 20 ms connection
/// take about 20 ms, not 80); attributed as [`During::Prewarm`].
///
/// Call it during INIT (before the runtime loop) in environments Lambda initializes ahead of
/// demand — provisioned concurrency, SnapStart, proactive init — so that no request waits for
/// these statics. A failure (an `Err` or a panic) is reported in the result, never propagated:
/// the static stays uninitialized and is retried on its next access. A panic's message still
/// goes to the panic hook (stderr by default).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let prewarmed = coldstart::prewarm().await;
/// for (name, outcome) in &prewarmed.failed {
///     eprintln!("prewarming {name} failed: {outcome}");
/// }
/// # });
/// ```
pub async fn prewarm() -> Prewarmed {
    prewarm_as(During::Prewarm).await
}

/// [`prewarm`], attributed to `during` (`coldstart::lambda` uses [`During::Warmup`] when a
/// warm-up ping forces the `prewarm` statics).
///
/// Boxed: INIT's end and the warm-up ping both await it, and each would otherwise inline its
/// state machine into its own future; behind the box it is compiled once (an allocation at INIT
/// and per ping, never on an invocation's path).
#[inline(never)]
pub(crate) fn prewarm_as(during: During) -> BoxFuture<Prewarmed> {
    Box::pin(prewarm_inner(during))
}

/// The body of [`prewarm_as`].
async fn prewarm_inner(during: During) -> Prewarmed {
    let started = Instant::now();
    let mut prewarmed = Prewarmed {
        initialized: Vec::new(),
        already_ready: Vec::new(),
        failed: Vec::new(),
        elapsed: Duration::ZERO,
    };
    // Only `fn` pointers, names and boxed `Send` futures live across the await below, so the
    // future stays `Send` (it runs inside `Send` services such as `lambda_http`'s).
    let mut forced: Vec<(&'static str, BoxFuture<Outcome>)> = Vec::new();
    for entry in registered() {
        let entry = entry();
        let meta = entry.meta();
        if !meta.prewarm {
            continue;
        }
        if entry.is_ready() {
            prewarmed.already_ready.push(meta.name);
            continue;
        }
        // A sync static is built right here; an async one when the futures are joined below.
        forced.push((meta.name, entry.prewarm(during)));
    }
    for (name, outcome) in join_all(forced).await {
        match outcome {
            Outcome::Ok => prewarmed.initialized.push(name),
            failed => prewarmed.failed.push((name, failed)),
        }
    }
    prewarmed.elapsed = started.elapsed();
    prewarmed
}

/// Every registered static, in link order.
pub(super) fn registered() -> Vec<fn() -> &'static dyn Registered> {
    inventory::iter::<Registration>
        .into_iter()
        .map(|registration| registration.entry)
        .collect()
}

/// Polls every future until all are done, concurrently on the calling task; their outcomes in
/// the order given.
pub(super) async fn join_all(
    mut futures: Vec<(&'static str, BoxFuture<Outcome>)>,
) -> Vec<(&'static str, Outcome)> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; futures.len()];
    std::future::poll_fn(|cx| {
        poll_pending(&mut futures, &mut outcomes, cx);
        if outcomes.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let mut done = Vec::with_capacity(futures.len());
    // Every future has finished (poll_fn above returned): they are dropped together below.
    for ((name, _), outcome) in futures.iter().zip(outcomes) {
        done.push((*name, outcome.unwrap_or(Outcome::Cancelled)));
    }
    done
}

/// Polls each future of `futures` whose outcome is not in `outcomes` yet.
pub(super) fn poll_pending(
    futures: &mut [(&'static str, BoxFuture<Outcome>)],
    outcomes: &mut [Option<Outcome>],
    cx: &mut Context<'_>,
) {
    for ((_, future), outcome) in futures.iter_mut().zip(outcomes.iter_mut()) {
        if outcome.is_none() {
            if let Poll::Ready(done) = future.as_mut().poll(cx) {
                *outcome = Some(done);
            }
        }
    }
}
