//! Named phases given bad input: an empty name, a duplicate name, a guard leaked with
//! `mem::forget`, a future dropped before it completes, a panic inside each form. Each is
//! recorded truthfully (the run's `outcome`, the metric's `outcome` label), nothing is poisoned,
//! and the next phase is timed normally. No invocation runs in this process: everything is
//! `during="init"`.
//!
//! Each test records into its own thread-local recorder (phases record on the thread that ends
//! them), and names its phases uniquely, since the list of runs is process-wide.

use coldstart::named_phases::{runs, PhaseRun};
use coldstart::{names, phase, phase_async, phase_guard, During, Outcome};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs `work` with a fresh thread-local recorder; returns what it returned and every
/// `coldstart.phase_duration` sample as (phase, during, outcome).
fn recording<R>(work: impl FnOnce() -> R) -> (R, Vec<(String, String, String)>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let value = metrics::with_local_recorder(&recorder, work);
    let mut samples = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        if key.name() != names::PHASE_DURATION {
            continue;
        }
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
                .unwrap_or_default()
        };
        let DebugValue::Histogram(values) = value else {
            panic!("a histogram")
        };
        for _ in values {
            samples.push((label("phase"), label("during"), label("outcome")));
        }
    }
    samples.sort();
    (value, samples)
}

fn runs_named(name: &str) -> Vec<PhaseRun> {
    runs().into_iter().filter(|run| run.name == name).collect()
}

fn sample(phase: &str, outcome: &str) -> (String, String, String) {
    (phase.to_owned(), "init".to_owned(), outcome.to_owned())
}

#[test]
fn an_empty_name_is_recorded_as_it_is() {
    let (value, samples) = recording(|| phase("", || 5));
    assert_eq!(value, 5);
    assert_eq!(samples, [sample("", "ok")]);
    let run = runs_named("").pop().expect("the run is listed");
    assert_eq!(run.outcome, Some(Outcome::Ok));
    assert_eq!(run.during, During::Init);
}

#[test]
fn a_duplicate_name_is_two_runs() {
    let ((), samples) = recording(|| {
        phase("dup", || {
            std::thread::sleep(std::time::Duration::from_millis(2))
        });
        let _again = phase_guard("dup");
    });
    assert_eq!(samples, [sample("dup", "ok"), sample("dup", "ok")]);
    let dups = runs_named("dup");
    assert_eq!(dups.len(), 2, "{dups:?}");
    assert!(dups[0].started < dups[1].started);
    assert!(dups
        .iter()
        .all(|run| run.depth == 0 && run.duration.is_some()));
}

#[test]
fn a_leaked_guard_stays_open_and_the_next_phase_is_fine() {
    // On its own thread: the leaked frame stays on that thread's stack.
    let samples = std::thread::spawn(|| {
        recording(|| {
            std::mem::forget(phase_guard("leaked"));
            phase("after leak", || ());
        })
        .1
    })
    .join()
    .unwrap();
    assert_eq!(
        samples,
        [sample("after leak", "ok")],
        "nothing for the leak"
    );
    let leaked = runs_named("leaked").pop().unwrap();
    assert_eq!((leaked.outcome, leaked.duration), (None, None), "open");
    let after = runs_named("after leak").pop().unwrap();
    assert_eq!(after.outcome, Some(Outcome::Ok));
    assert_eq!(after.during, During::Init, "not inherited from the leak");
    assert!(after.started >= leaked.started);
}

#[test]
fn a_future_dropped_before_completion_is_cancelled() {
    let ((), samples) = recording(|| {
        let mut cx = Context::from_waker(Waker::noop());
        {
            let mut pending = pin!(phase_async("dropped", std::future::pending::<()>()));
            assert!(pending.as_mut().poll(&mut cx).is_pending());
        } // dropped here, unfinished
        let next = phase_async("after drop", async { 3 });
        fn spawnable<F: Future + Send + 'static>(_: &F) {}
        spawnable(&next); // `Send` when the work is: `tokio::spawn` and `lambda_http` accept it
        let mut next = pin!(next);
        assert_eq!(next.as_mut().poll(&mut cx), Poll::Ready(3));
    });
    assert_eq!(
        samples,
        [sample("after drop", "ok"), sample("dropped", "cancelled")]
    );
    assert_eq!(
        runs_named("dropped").pop().unwrap().outcome,
        Some(Outcome::Cancelled)
    );
    let after = runs_named("after drop").pop().unwrap();
    assert_eq!((after.outcome, after.depth), (Some(Outcome::Ok), 0));
}

#[test]
fn a_panic_propagates_is_recorded_and_poisons_nothing() {
    let ((), samples) = recording(|| {
        let closure = catch_unwind(|| phase("panics in closure", || panic!("closure")));
        assert!(closure.is_err());
        let guard = catch_unwind(|| {
            let _phase = phase_guard("panics in guard");
            panic!("guard");
        });
        assert!(guard.is_err());
        let future = catch_unwind(AssertUnwindSafe(|| {
            let mut cx = Context::from_waker(Waker::noop());
            let mut future = pin!(phase_async("panics in future", async { panic!("future") }));
            let _ = future.as_mut().poll(&mut cx);
        }));
        assert!(future.is_err());
        // Nested inside a phase that then panics: the inner one ended normally.
        let nested = catch_unwind(|| {
            phase("outer panics", || {
                phase("inner ok", || ());
                panic!("outer");
            })
        });
        assert!(nested.is_err());
        assert_eq!(phase("after panics", || 1), 1);
    });
    assert_eq!(
        samples,
        [
            sample("after panics", "ok"),
            sample("inner ok", "ok"),
            sample("outer panics", "panic"),
            sample("panics in closure", "panic"),
            sample("panics in future", "panic"),
            sample("panics in guard", "panic"),
        ]
    );
    for name in [
        "panics in closure",
        "panics in guard",
        "panics in future",
        "outer panics",
    ] {
        let run = runs_named(name).pop().unwrap();
        assert_eq!(run.outcome, Some(Outcome::Panic), "{name}");
    }
    let after = runs_named("after panics").pop().unwrap();
    assert_eq!(
        (after.outcome, after.depth),
        (Some(Outcome::Ok), 0),
        "the frame stack was unwound"
    );
    let inner = runs_named("inner ok").pop().unwrap();
    let outer = runs_named("outer panics").pop().unwrap();
    assert_eq!(inner.depth, outer.depth + 1);
    assert_eq!(
        outer.duration.unwrap() + inner.inclusive.unwrap(),
        outer.inclusive.unwrap(),
        "exclusive even when it panicked"
    );
}

#[coldstart::lazy(prewarm, name = "prewarmed-with-phase")]
static PREWARMED: u32 = phase("inside prewarm", || {
    std::thread::sleep(std::time::Duration::from_millis(5));
    7
});

#[test]
fn a_phase_inside_a_prewarmed_static_inherits_prewarm_and_is_excluded_from_it() {
    let ((), samples) = recording(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(coldstart::prewarm());
    });
    assert_eq!(
        samples,
        [(
            "inside prewarm".to_owned(),
            "prewarm".to_owned(),
            "ok".to_owned()
        )]
    );
    assert_eq!(*PREWARMED, 7);
    let run = runs_named("inside prewarm").pop().unwrap();
    assert_eq!((run.during, run.depth), (During::Prewarm, 1));
    let info = coldstart::lazy::statics()
        .get("prewarmed-with-phase")
        .cloned()
        .unwrap();
    assert_eq!(info.during, Some(During::Prewarm));
    assert_eq!(
        info.duration.unwrap() + run.inclusive.unwrap(),
        info.inclusive.unwrap(),
        "the static's own time excludes the phase"
    );
    assert!(info.started.unwrap() <= run.started);
}
