//! A burst of overlapping invocations under `run_concurrent` (Lambda Managed Instances run up to
//! `AWS_LAMBDA_MAX_CONCURRENCY` at once), with a slow flush hook: every handler sees its own
//! invocation from its first poll to its last, also once every other one has begun since, and the
//! lazy static each one builds after that is attributed to it, in `Lazy::info` and in the
//! `during` label. The expected answer is what each handler was told at its start, checked
//! against the set of numbers a burst of this size must get. Driven through the real
//! `lambda_runtime` loop served by the local Runtime API.
#![cfg(feature = "concurrent")]

mod support;

use coldstart::lazy::{During, Lazy};
use coldstart::{cold_start_handler, lazy, names, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Invocations in the burst, the cold one included.
const BURST: usize = 8;

/// Handlers that have begun.
static BEGAN: AtomicUsize = AtomicUsize::new(0);
/// Runs of the flush hook.
static FLUSHES: AtomicUsize = AtomicUsize::new(0);

/// What one handler saw.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The event's `n`: which static it builds.
    n: usize,
    /// `current_invocation()` at the handler's start: its number and whether it is cold.
    at_start: (u64, bool),
    /// `current_invocation()` once every handler of the burst had begun.
    after_all: (u64, bool),
    /// Where the static it built says it was built.
    built: Option<During>,
}

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// One lazy static per event: `(STATIC, "label")`, the event's `n` indexing them from 1.
macro_rules! statics {
    ($($id:ident = $name:tt),* $(,)?) => {
        $(
            #[lazy(name = $name)]
            static $id: u64 = {
                std::thread::sleep(Duration::from_millis(2));
                42
            };
        )*

        /// Builds the `n`th static and says where it was built.
        fn build(n: usize) -> Option<During> {
            let statics: [&'static Lazy<u64>; BURST] = [$(&$id),*];
            let lazy = statics[n - 1];
            assert_eq!(**lazy, 42);
            Lazy::info(lazy).during
        }

        const NAMES: [&str; BURST] = [$($name),*];
    };
}

statics!(
    S1 = "s1",
    S2 = "s2",
    S3 = "s3",
    S4 = "s4",
    S5 = "s5",
    S6 = "s6",
    S7 = "s7",
    S8 = "s8"
);

fn current() -> (u64, bool) {
    let current = coldstart::current_invocation().expect("an invocation in progress");
    (current.number, current.is_cold())
}

#[cold_start_handler(name = "burst")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let n = usize::try_from(event.payload["n"].as_u64().expect("n")).expect("small");
    let at_start = current();
    BEGAN.fetch_add(1, Ordering::SeqCst);
    while BEGAN.load(Ordering::SeqCst) < BURST {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Every other invocation of the burst has begun: the most recently begun one is, for all
    // but one handler, somebody else.
    tokio::task::yield_now().await;
    let after_all = current();
    let built = build(n);
    SEEN.lock().unwrap().push(Seen {
        n,
        at_start,
        after_all,
        built,
    });
    Ok(json!({ "n": n }))
}

#[test]
fn a_burst_of_overlapping_invocations_each_sees_and_builds_as_itself() {
    support::recorder();
    let api = support::local_api("burst");
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", BURST.to_string()) };
    let runtime = support::runtime(2);
    support::start(
        &runtime,
        &api,
        coldstart::lambda::Coldstart::new()
            .print_report(false)
            // A slow hook: flushes of the burst queue behind it and are coalesced.
            .on_flush(|_| {
                FLUSHES.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            })
            .run_concurrent(service_fn(handler)),
        [json!({ "n": 1 })],
    );
    // The rest of the burst is queued once the cold invocation has begun: that one is number 1.
    support::wait_until("the cold invocation began", || {
        BEGAN.load(Ordering::SeqCst) >= 1
    });
    let results = support::drive(&runtime, &api, (2..=BURST).map(|n| json!({ "n": n })));
    assert_eq!(results.len(), BURST);
    assert!(
        results.iter().all(|result| !result.is_error()),
        "{results:?}"
    );
    assert_eq!(coldstart::invocation::invocation_count(), BURST as u64);
    assert!(FLUSHES.load(Ordering::SeqCst) >= 1);

    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), BURST);
    let numbers: BTreeSet<u64> = seen.iter().map(|s| s.at_start.0).collect();
    assert_eq!(
        numbers,
        (1..=BURST as u64).collect(),
        "one number each: {seen:?}"
    );
    for s in &seen {
        let (number, cold) = s.at_start;
        assert_eq!(
            cold,
            s.n == 1,
            "only the first event's invocation is cold: {s:?}"
        );
        assert_eq!(cold, number == 1, "{s:?}");
        assert_eq!(s.after_all, s.at_start, "still its own invocation: {s:?}");
        let start_kind = if cold {
            StartKind::Cold
        } else {
            StartKind::Warm
        };
        assert_eq!(
            s.built,
            Some(During::Invocation { number, start_kind }),
            "built by its own invocation: {s:?}"
        );
    }

    let recorded = support::Recorded::take();
    for (i, name) in NAMES.iter().enumerate() {
        let during = if i == 0 { "cold" } else { "warm" };
        assert_eq!(
            recorded
                .histogram(
                    names::LAZY_INIT_DURATION,
                    &[("lazy", name), ("during", during), ("outcome", "ok")]
                )
                .len(),
            1,
            "{name} recorded during {during}"
        );
    }
}
