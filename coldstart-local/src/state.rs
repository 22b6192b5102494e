//! What the server and the handle share: the queue, the waiting `/next` requests, the
//! invocations in flight and what came back.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;
use tokio::sync::{oneshot, watch};

use crate::builder::Config;
use crate::{Extension, InitError, InvocationResult};

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) state: Mutex<State>,
    /// Carries the number of results; bumped after each new result.
    pub(crate) results_changed: watch::Sender<usize>,
    pub(crate) pending_next: AtomicUsize,
    /// How many events were pushed, ever.
    pub(crate) pushed: AtomicUsize,
    pub(crate) restore_next_calls: AtomicUsize,
    /// `/extension/event/next` requests being held open.
    pub(crate) pending_extension_next: AtomicUsize,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, but if something ever did, the
        // state is still consistent enough to keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn record_result(&self, result: InvocationResult) {
        let count = {
            let mut state = self.lock();
            state.results.push(result);
            state.results.len()
        };
        self.results_changed.send_replace(count);
    }
}

#[derive(Default)]
pub(crate) struct State {
    /// Events nobody asked for yet. Invariant: non-empty only if `waiters` has no
    /// live entry.
    pub(crate) queue: VecDeque<QueuedEvent>,
    /// `/next` requests waiting for an event, oldest first.
    pub(crate) waiters: VecDeque<oneshot::Sender<QueuedEvent>>,
    /// Delivered events awaiting `/response` or `/error`.
    pub(crate) in_flight: HashMap<String, InFlight>,
    pub(crate) results: Vec<InvocationResult>,
    pub(crate) init_errors: Vec<InitError>,
    /// Registered extensions, in registration order.
    pub(crate) extensions: Vec<Extension>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    Front,
    Back,
}

impl State {
    /// Hands `event` to the oldest live waiter, or queues it.
    pub(crate) fn dispatch(&mut self, mut event: QueuedEvent, position: Position) {
        while let Some(waiter) = self.waiters.pop_front() {
            match waiter.send(event) {
                Ok(()) => return,
                // That `/next` request went away; try the next one.
                Err(returned) => event = returned,
            }
        }
        match position {
            Position::Front => self.queue.push_front(event),
            Position::Back => self.queue.push_back(event),
        }
    }
}

#[derive(Debug)]
pub(crate) struct QueuedEvent {
    pub(crate) payload: Bytes,
    pub(crate) request_id: String,
    pub(crate) request_id_header: HeaderValue,
    pub(crate) client_context: Option<HeaderValue>,
    pub(crate) deadline_in: Duration,
    pub(crate) delay: Duration,
    pub(crate) pushed_at: Instant,
}

#[derive(Clone, Copy)]
pub(crate) struct InFlight {
    pub(crate) next_requested_at: Instant,
    pub(crate) delivered_at: Instant,
}
