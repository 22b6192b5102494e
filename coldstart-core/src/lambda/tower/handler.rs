//! The handler side: [`WithColdstart`] answers warm-up pings without calling the handler, watches
//! the handler for its deadline, and hands its invocation's record to the response
//! ([`Answer`]): recorded at once for a buffered response, when its stream ends for a streamed
//! one.
//!
//! How a ping avoids the typed deserialization without changing anything for other payloads:
//! [`ColdstartLayer`](super::ColdstartLayer) looks at the raw bytes right before
//! `lambda_runtime` deserializes them; for a ping it leaves the [`Ping`] in a thread-local slot
//! for exactly the duration of that synchronous call. [`PingOr`]'s `Deserialize` takes it from the
//! slot: with a ping there it skips the payload and yields [`PingOr::Ping`]; otherwise it hands the
//! deserializer, untouched, to the user's type. `lambda_runtime`'s path-tracking deserializer is
//! the very one the user's type sees, so a malformed payload fails with the same error, path and
//! position as with plain `lambda_runtime::run`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_runtime::{FunctionResponse, IntoFunctionResponse, LambdaEvent, Service};
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::super::ping::Ping;
use super::super::shared::Shared;
use super::super::timeouts::{self, Watched};
use super::slots;
use super::stream::{StreamEnd, Streamed};
use crate::invocation::{self, Finished, Outcome};
use crate::lazy::BoxFuture;

/// The handler (or ping) ended with `outcome`: flushes now when the hook runs before the
/// response, else leaves the outcome for [`AfterResponse`](super::AfterResponse).
pub(in crate::lambda) fn finished(shared: &Shared, outcome: Outcome) {
    if shared.flushes_after_response() {
        slots::set_finished(outcome);
    } else {
        shared.flush_inline(outcome);
    }
}

/// The payload type [`WithColdstart`] receives: a warm-up ping, or the handler's own event.
///
/// Its `Deserialize` is the user's type's, except inside [`ColdstartLayer`](super::ColdstartLayer)'s
/// `call` for a payload the layer recognized as a ping. Deserialized anywhere else it is always
/// [`PingOr::Event`].
///
/// ```
/// use coldstart::lambda::tower::PingOr;
///
/// let event: PingOr<u32> = serde_json::from_str("7").unwrap();
/// assert!(matches!(event, PingOr::Event(7)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PingOr<A> {
    /// A warm-up ping recognized by [`ColdstartLayer`](super::ColdstartLayer).
    Ping(Ping),
    /// Any other event, deserialized exactly as `lambda_runtime` would.
    Event(A),
}

impl<'de, A: Deserialize<'de>> Deserialize<'de> for PingOr<A> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match slots::take_ping() {
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
///
/// ```
/// # let ack = coldstart::lambda::tower::Ack { source: "warmer", start: "cold" };
/// let json = serde_json::to_string(&ack).unwrap();
/// assert_eq!(json, r#"{"warmup":true,"source":"warmer","start":"cold"}"#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// What [`WithColdstart`] answers: the handler's response (with its invocation's record, kept
/// until a streamed response ends), or a ping's [`Ack`].
pub struct Answer<R> {
    kind: AnswerKind<R>,
}

enum AnswerKind<R> {
    Handler {
        response: R,
        invocation: Option<Finished>,
        watched: Option<Watched>,
    },
    Ack(Ack),
}

impl<R> fmt::Debug for Answer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            AnswerKind::Handler { .. } => f.write_str("Answer::Handler(..)"),
            AnswerKind::Ack(ack) => f.debug_tuple("Answer::Ack").field(ack).finish(),
        }
    }
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

impl<R, B, S> IntoFunctionResponse<Body<B>, Streamed<S>> for Answer<R>
where
    R: IntoFunctionResponse<B, S>,
{
    // Inlined into lambda_runtime's request building, so that for a handler whose responses are
    // never streamed the streaming branch (and lambda_runtime's streaming code with it) is seen
    // to be dead and left out of the binary (~70 KB otherwise).
    #[inline(always)]
    fn into_response(self) -> FunctionResponse<Body<B>, Streamed<S>> {
        match self.kind {
            AnswerKind::Handler {
                response,
                invocation,
                watched,
            } => match response.into_response() {
                FunctionResponse::BufferedResponse(body) => {
                    // Recorded as it ended, then the watch ends (in this order: a timeout
                    // recorded meanwhile is found by the record).
                    drop(invocation);
                    if let Some(watched) = watched {
                        watched.finish();
                    }
                    FunctionResponse::BufferedResponse(Body::Handler(body))
                }
                FunctionResponse::StreamingResponse(response) => {
                    FunctionResponse::StreamingResponse(lambda_runtime::StreamResponse {
                        metadata_prelude: response.metadata_prelude,
                        stream: streamed(response.stream, invocation, watched),
                    })
                }
            },
            AnswerKind::Ack(ack) => FunctionResponse::BufferedResponse(Body::Ack(ack)),
        }
    }
}

/// A streamed response begins: its end is what the after-response work waits for.
#[inline(never)]
fn streamed<S>(stream: S, invocation: Option<Finished>, watched: Option<Watched>) -> Streamed<S> {
    let end = Arc::new(StreamEnd::default());
    slots::set_stream(end.clone());
    Streamed::new(stream, end, invocation, watched)
}

/// The handler side of [`Coldstart`](super::super::Coldstart): answers warm-up pings without
/// calling the handler, and leaves how each invocation ended for the flush. Build it with
/// [`Coldstart::service`](super::super::Coldstart::service); it only sees pings when the runtime
/// also has [`ColdstartLayer`](super::ColdstartLayer).
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
    pub(in crate::lambda) fn new(inner: F, shared: Arc<Shared>) -> Self {
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
        slots::reached();
        let (payload, context) = event.into_parts();
        match payload {
            PingOr::Ping(ping) => WithColdstartFuture {
                state: State::Ping {
                    answer: super::super::warmup::answer_ping(ping, self.shared.clone()),
                    _error: PhantomData,
                },
            },
            PingOr::Event(payload) => {
                let watched = timeouts::watch(context.deadline);
                let event = LambdaEvent::new(payload, context);
                match catch_unwind(AssertUnwindSafe(|| self.inner.call(event))) {
                    Ok(future) => WithColdstartFuture {
                        state: State::Handler {
                            future,
                            shared: self.shared.clone(),
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
        // The handler runs, watched by the watchdog when there is one.
        Handler {
            #[pin]
            future: Fut,
            shared: Arc<Shared>,
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
                // An instrumented handler that finishes in this poll leaves its record here.
                let parking = invocation::parking();
                let polled = {
                    let _polling = watched.as_ref().and_then(Watched::polling);
                    catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
                };
                if let (Ok(Poll::Pending), Some(watched)) = (&polled, watched.as_ref()) {
                    watched.waits();
                }
                let invocation = parking.take();
                drop(parking);
                match polled {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => {
                        // Its watch ends with its response (see `Answer::into_response`); the
                        // flush's outcome until then, which a streamed response's end replaces.
                        let watched = watched.take();
                        let fired = watched.as_ref().is_some_and(Watched::fired);
                        finished(shared, if fired { Outcome::Timeout } else { Outcome::Ok });
                        Poll::Ready(Ok(Answer {
                            kind: AnswerKind::Handler {
                                response,
                                invocation,
                                watched,
                            },
                        }))
                    }
                    Ok(Poll::Ready(Err(err))) => {
                        end_unanswered(shared, invocation, watched.take(), Outcome::Error);
                        Poll::Ready(Err(err))
                    }
                    Err(panic) => {
                        end_unanswered(shared, invocation, watched.take(), Outcome::Panic);
                        // Let the panic go on to lambda_runtime, which reports it.
                        resume_unwind(panic)
                    }
                }
            }
            Projected::Ping { answer, .. } => answer.as_mut().poll(cx).map(|ack| {
                Ok(Answer {
                    kind: AnswerKind::Ack(ack),
                })
            }),
        }
    }
}

/// A handler that failed: its invocation is recorded, then its watch ends (in this order: a
/// timeout recorded meanwhile is found by the record), and the flush learns how it ended.
fn end_unanswered(
    shared: &Shared,
    invocation: Option<Finished>,
    watched: Option<Watched>,
    outcome: Outcome,
) {
    drop(invocation);
    let timed_out = watched.is_some_and(Watched::finish);
    finished(shared, if timed_out { Outcome::Timeout } else { outcome });
}
