//! The tower pieces: [`ColdstartLayer`] (raw invocations) and [`WithColdstart`] (the handler).
//!
//! How a ping avoids the typed deserialization without changing anything for other payloads:
//! `lambda_runtime` deserializes the payload synchronously inside the `call` of its own inner
//! service, which [`ColdstartService::call`] invokes. Right before, the layer looks at the raw
//! bytes; if they are a ping, it leaves the [`Ping`] in a thread-local slot for exactly the
//! duration of that synchronous call. [`PingOr`]'s `Deserialize` takes it from the slot: with a
//! ping there it skips the payload and yields [`PingOr::Ping`]; otherwise it hands the
//! deserializer, untouched, to the user's type. `lambda_runtime`'s path-tracking deserializer is
//! the very one the user's type sees, so a malformed payload fails with the same error, path and
//! position as with plain `lambda_runtime::run`.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{FunctionResponse, IntoFunctionResponse, LambdaEvent, LambdaInvocation};
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::config::Shared;
use super::ping::Ping;
use super::timeouts::Watched;
use crate::invocation::Outcome;
use crate::lazy::BoxFuture;
use crate::phases;

thread_local! {
    /// The ping the layer recognized, for the deserialization running inside its `call`.
    static PENDING: Cell<Option<Ping>> = const { Cell::new(None) };
    /// Whether [`WithColdstart::call`] ran inside the layer's `call` (else the payload was
    /// rejected before the handler: deserialization failed).
    static REACHED: Cell<bool> = const { Cell::new(false) };
    /// How the invocation whose handler (or ping) just completed ended, for the flush the
    /// layer's [`AfterResponse`] runs. The handler's future completes inside a poll of
    /// `lambda_runtime`'s future, which `AfterResponse` makes and reads right after, on the same
    /// thread: no other invocation can run in between.
    static FINISHED: Cell<Option<Outcome>> = const { Cell::new(None) };
}

/// The handler (or ping) ended with `outcome`: flushes now, or leaves it for the layer to flush
/// after the response.
pub(super) fn finished(shared: &Shared, outcome: Outcome) {
    if shared.flushes_after_response() {
        let _ = FINISHED.try_with(|finished| finished.set(Some(outcome)));
    } else {
        shared.flush(outcome);
    }
}

fn take_finished() -> Option<Outcome> {
    FINISHED.try_with(Cell::take).ok().flatten()
}

/// Sets the slots for one synchronous `call`, and clears them however it ends.
struct Armed;

impl Armed {
    fn arm(ping: Option<Ping>) -> Armed {
        let _ = PENDING.try_with(|pending| pending.set(ping));
        let _ = REACHED.try_with(|reached| reached.set(false));
        Armed
    }

    fn reached(&self) -> bool {
        REACHED.try_with(Cell::get).unwrap_or(true)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        let _ = PENDING.try_with(|pending| pending.set(None));
    }
}

/// The payload type [`WithColdstart`] receives: a warm-up ping, or the handler's own event.
///
/// Its `Deserialize` is the user's type's, except inside [`ColdstartLayer`]'s `call` for a
/// payload the layer recognized as a ping (see the [`ColdstartLayer`] docs). Deserialized
/// anywhere else it is always [`PingOr::Event`].
///
/// ```
/// use coldstart::lambda::PingOr;
///
/// let event: PingOr<u32> = serde_json::from_str("7").unwrap();
/// assert!(matches!(event, PingOr::Event(7)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PingOr<A> {
    /// A warm-up ping recognized by [`ColdstartLayer`].
    Ping(Ping),
    /// Any other event, deserialized exactly as `lambda_runtime` would.
    Event(A),
}

impl<'de, A: Deserialize<'de>> Deserialize<'de> for PingOr<A> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match PENDING.try_with(Cell::take).ok().flatten() {
            Some(ping) => {
                // The payload never reaches the handler, so it is not read at all (a custom ping
                // need not even be JSON). lambda_runtime does not check for trailing input after
                // deserializing; if it ever did, every ping test would fail on it.
                drop(deserializer);
                Ok(PingOr::Ping(ping))
            }
            None => A::deserialize(deserializer).map(PingOr::Event),
        }
    }
}

/// The acknowledgement a warm-up ping gets: `{"warmup":true,"source":"…","start":"…"}`, where
/// `start` is the start kind the ping found (`cold` means it did warm an environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ack {
    /// Which tool sent the ping.
    pub source: &'static str,
    /// The start kind the ping found.
    pub start: &'static str,
}

impl Serialize for Ack {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut ack = serializer.serialize_struct("Ack", 3)?;
        ack.serialize_field("warmup", &true)?;
        ack.serialize_field("source", self.source)?;
        ack.serialize_field("start", self.start)?;
        ack.end()
    }
}

/// What [`WithColdstart`] answers: the handler's response, or a ping's [`Ack`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Answer<R> {
    /// The handler's response, passed on untouched.
    Handler(R),
    /// A warm-up ping's acknowledgement.
    Ack(Ack),
}

/// The buffered body of an [`Answer`]: serializes exactly as the handler's body, or as the
/// [`Ack`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Body<B> {
    /// The handler's buffered body.
    Handler(B),
    /// A ping's acknowledgement.
    Ack(Ack),
}

impl<B: Serialize> Serialize for Body<B> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::Handler(body) => body.serialize(serializer),
            Body::Ack(ack) => ack.serialize(serializer),
        }
    }
}

impl<R, B, S> IntoFunctionResponse<Body<B>, S> for Answer<R>
where
    R: IntoFunctionResponse<B, S>,
{
    fn into_response(self) -> FunctionResponse<Body<B>, S> {
        match self {
            Answer::Handler(response) => match response.into_response() {
                FunctionResponse::BufferedResponse(body) => {
                    FunctionResponse::BufferedResponse(Body::Handler(body))
                }
                FunctionResponse::StreamingResponse(stream) => {
                    FunctionResponse::StreamingResponse(stream)
                }
            },
            Answer::Ack(ack) => FunctionResponse::BufferedResponse(Body::Ack(ack)),
        }
    }
}

/// The handler side of [`Coldstart`](super::Coldstart): answers warm-up pings without calling the
/// handler, and runs the flush hook after every invocation, before `lambda_runtime` posts the
/// response. Build it with [`Coldstart::service`](super::Coldstart::service); it only sees pings
/// when the runtime also has [`ColdstartLayer`].
pub struct WithColdstart<F> {
    inner: F,
    shared: Arc<Shared>,
}

impl<F: Clone> Clone for WithColdstart<F> {
    fn clone(&self) -> Self {
        WithColdstart {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<F> fmt::Debug for WithColdstart<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithColdstart").finish_non_exhaustive()
    }
}

impl<F> WithColdstart<F> {
    pub(super) fn new(inner: F, shared: Arc<Shared>) -> Self {
        WithColdstart { inner, shared }
    }
}

impl<F, A> Service<LambdaEvent<PingOr<A>>> for WithColdstart<F>
where
    F: Service<LambdaEvent<A>>,
{
    type Response = Answer<F::Response>;
    type Error = F::Error;
    type Future = WithColdstartFuture<F::Future, F::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<PingOr<A>>) -> Self::Future {
        let _ = REACHED.try_with(|reached| reached.set(true));
        let (payload, context) = event.into_parts();
        match payload {
            PingOr::Ping(ping) => WithColdstartFuture {
                state: State::Ping {
                    answer: super::warmup::answer_ping(ping, self.shared.clone()),
                    _error: PhantomData,
                },
            },
            PingOr::Event(payload) => {
                let watched = super::timeouts::watch(context.deadline);
                let event = LambdaEvent::new(payload, context);
                match catch_unwind(AssertUnwindSafe(|| self.inner.call(event))) {
                    Ok(future) => WithColdstartFuture {
                        state: State::Handler {
                            future,
                            shared: self.shared.has_hook().then(|| self.shared.clone()),
                            watched,
                        },
                    },
                    Err(panic) => {
                        finished(&self.shared, Outcome::Panic);
                        resume_unwind(panic)
                    }
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`WithColdstart`].
    pub struct WithColdstartFuture<Fut, E> {
        #[pin]
        state: State<Fut, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = Projected]
    enum State<Fut, E> {
        // The handler runs; with a flush hook, `shared` is there to run it; with timeout
        // detection, the watchdog watches it.
        Handler {
            #[pin]
            future: Fut,
            shared: Option<Arc<Shared>>,
            watched: Option<Watched>,
        },
        // A ping is answered.
        Ping {
            answer: BoxFuture<Ack>,
            _error: PhantomData<fn() -> E>,
        },
    }
}

impl<Fut, E> fmt::Debug for WithColdstartFuture<Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithColdstartFuture")
            .finish_non_exhaustive()
    }
}

impl<Fut, R, E> Future for WithColdstartFuture<Fut, E>
where
    Fut: Future<Output = Result<R, E>>,
{
    type Output = Result<Answer<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Projected::Handler {
                future,
                shared,
                watched,
            } => {
                if shared.is_none() && watched.is_none() {
                    return future.poll(cx).map(|result| result.map(Answer::Handler));
                }
                let polled = {
                    let _polling = watched.as_ref().and_then(Watched::polling);
                    catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
                };
                let outcome = match &polled {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(_))) => Outcome::Ok,
                    Ok(Poll::Ready(Err(_))) => Outcome::Error,
                    Err(_) => Outcome::Panic,
                };
                if watched.take().is_some_and(Watched::finish) {
                    // Recorded and flushed as a timeout already: nothing more (and no second
                    // flush after the response).
                    let _ = FINISHED.try_with(|finished| finished.set(Some(Outcome::Timeout)));
                } else if let Some(shared) = shared {
                    // Flush (or leave it for after the response).
                    finished(shared, outcome);
                }
                match polled {
                    Ok(polled) => polled.map(|result| result.map(Answer::Handler)),
                    // Let the panic go on to lambda_runtime, which reports it.
                    Err(panic) => resume_unwind(panic),
                }
            }
            Projected::Ping { answer, .. } => {
                answer.as_mut().poll(cx).map(|ack| Ok(Answer::Ack(ack)))
            }
        }
    }
}

/// The raw-invocation side of [`Coldstart`](super::Coldstart): notes when the first event
/// arrived, recognizes warm-up pings on the raw bytes before `lambda_runtime` deserializes them,
/// and runs the flush hook for a payload that never reached the handler (deserialization
/// failed). Add it with `Runtime::layer` right after `Runtime::new` (so that it wraps
/// `lambda_runtime`'s own stack directly), together with [`WithColdstart`] as the handler;
/// built by [`Coldstart::layer`](super::Coldstart::layer).
#[derive(Clone)]
pub struct ColdstartLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for ColdstartLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ColdstartLayer").finish_non_exhaustive()
    }
}

impl ColdstartLayer {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        ColdstartLayer { shared }
    }
}

impl<S> Layer<S> for ColdstartLayer {
    type Service = ColdstartService<S>;

    fn layer(&self, inner: S) -> ColdstartService<S> {
        // From now on an `AfterResponse` runs after every response: work can be left to it.
        crate::after_response::enable();
        ColdstartService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`ColdstartLayer`] wraps `lambda_runtime`'s stack in.
#[derive(Clone)]
pub struct ColdstartService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for ColdstartService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ColdstartService").finish_non_exhaustive()
    }
}

impl<S> Service<LambdaInvocation> for ColdstartService<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = AfterResponse<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> AfterResponse<S::Future> {
        phases::mark_first_event();
        let custom = invocation
            .context
            .client_context
            .as_ref()
            .map(|context| &context.custom);
        let ping = self.shared.detect(&invocation.body, custom);
        let armed = Armed::arm(ping);
        let _ = take_finished();
        // lambda_runtime deserializes (taking the ping from the slot) and calls the handler
        // service synchronously in here; the response is posted by the returned future.
        let future = self.inner.call(invocation);
        let mut outcome = take_finished();
        if !armed.reached() {
            crate::invocation::rejected();
            outcome = Some(Outcome::Rejected);
            if !self.shared.flushes_after_response() {
                self.shared.flush(Outcome::Rejected);
            }
        }
        let flush = (self.shared.has_hook() && self.shared.flushes_after_response())
            .then(|| self.shared.clone());
        AfterResponse {
            future,
            flush,
            outcome,
        }
    }
}

pin_project_lite::pin_project! {
    /// `lambda_runtime`'s future for one invocation (it posts the response), followed by the
    /// work that must not delay that response, in the order `after_response.rs` gives: the
    /// first invocation's record-keeping and cold-start report, then the flush hook
    /// ([`FlushAt::AfterResponse`](super::FlushAt::AfterResponse)). It runs before the runtime
    /// asks for the next event, while the environment is still running.
    pub struct AfterResponse<F> {
        #[pin]
        future: F,
        // The configuration, when a flush hook runs after the response.
        flush: Option<Arc<Shared>>,
        // How the handler (or ping) ended, once it has.
        outcome: Option<Outcome>,
    }
}

impl<F> fmt::Debug for AfterResponse<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterResponse")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for AfterResponse<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let polled = this.future.poll(cx);
        if this.flush.is_some() {
            if let Some(outcome) = take_finished() {
                *this.outcome = Some(outcome);
            }
        }
        let output = ready!(polled);
        crate::after_response::after_response();
        super::timeouts::run_after_first_response();
        if let Some(shared) = this.flush.take() {
            match this.outcome.take() {
                // Flushed by the timeout watchdog already.
                Some(Outcome::Timeout) => {}
                // No outcome: the handler's future was dropped unfinished.
                outcome => shared.flush(outcome.unwrap_or(Outcome::Cancelled)),
            }
        }
        Poll::Ready(output)
    }
}
