//! Behaviour of `#[lazy]` statics outside any invocation: once-only under contention, retry after
//! `Err`, recovery after a panic, and exclusive attribution of nested initializers.
//!
//! No handler runs in this test binary, so every attempt is attributed to `init`.

mod support;

use coldstart::lazy::{During, Lazy, State};
use coldstart::{lazy, names};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const RACERS: usize = 64;

static CONTENDED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[lazy(name = "contended")]
static CONTENDED: Vec<u64> = {
    CONTENDED_RUNS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(20));
    (0..1000).collect()
};

#[test]
fn the_initializer_runs_once_under_64_way_contention() {
    support::recorder();
    let barrier = Arc::new(Barrier::new(RACERS));
    let threads: Vec<_> = (0..RACERS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let value: &'static Vec<u64> = &CONTENDED;
                (value as *const Vec<u64> as usize, value.len())
            })
        })
        .collect();
    let seen: Vec<(usize, usize)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(CONTENDED_RUNS.load(Ordering::SeqCst), 1);
    assert!(seen.iter().all(|s| *s == seen[0]), "one value, shared");
    assert_eq!(seen[0].1, 1000);
    let info = Lazy::info(&CONTENDED);
    assert_eq!((info.state, info.failures), (State::Ready, 0));
    assert!(info.duration.unwrap() >= Duration::from_millis(20));
    let recorded = support::Recorded::take();
    let durations = recorded.histogram(
        names::LAZY_INIT_DURATION,
        &[("lazy", "contended"), ("during", "init"), ("outcome", "ok")],
    );
    assert_eq!(durations.len(), 1, "one run, one sample");
}

static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[lazy(async, name = "async-contended")]
static ASYNC_CONTENDED: String = async {
    ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    "built once".to_owned()
};

#[test]
fn the_async_initializer_runs_once_under_64_way_contention() {
    let runtime = support::runtime(4);
    let values = runtime.block_on(async {
        let tasks: Vec<_> = (0..RACERS)
            .map(|_| tokio::spawn(async { ASYNC_CONTENDED.get().await.as_ptr() as usize }))
            .collect();
        let mut values = Vec::new();
        for task in tasks {
            values.push(task.await.unwrap());
        }
        values
    });
    assert_eq!(ASYNC_RUNS.load(Ordering::SeqCst), 1);
    assert!(values.iter().all(|v| *v == values[0]));
    assert_eq!(ASYNC_CONTENDED.info().state, State::Ready);
}

#[derive(Debug, PartialEq)]
struct Refused(usize);

static FLAKY_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Fails twice, then connects.
#[lazy(fallible, name = "flaky-pool")]
static FLAKY_POOL: Result<String, Refused> = {
    let run = FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    if run <= 2 {
        Err(Refused(run))
    } else {
        Ok(format!("connected on run {run}"))
    }
};

#[test]
fn an_err_is_returned_not_cached_and_the_next_access_retries() {
    support::recorder();
    assert_eq!(FLAKY_POOL.get(), Err(Refused(1)));
    assert_eq!(FLAKY_POOL.info().state, State::Failed { failures: 1 });
    assert_eq!(FLAKY_POOL.get(), Err(Refused(2)));
    let info = FLAKY_POOL.info();
    assert_eq!(info.state, State::Failed { failures: 2 });
    assert_eq!(info.state.to_string(), "failed 2 times");
    assert_eq!(
        FLAKY_POOL.get().map(String::as_str),
        Ok("connected on run 3")
    );
    assert_eq!(
        FLAKY_POOL.get().map(String::as_str),
        Ok("connected on run 3")
    );
    assert_eq!(FLAKY_RUNS.load(Ordering::SeqCst), 3, "cached after success");
    let info = FLAKY_POOL.info();
    assert_eq!((info.state, info.failures), (State::Ready, 2));

    let recorded = support::Recorded::take();
    let flaky = ("lazy", "flaky-pool");
    let errors = recorded.histogram(names::LAZY_INIT_DURATION, &[flaky, ("outcome", "error")]);
    let oks = recorded.histogram(names::LAZY_INIT_DURATION, &[flaky, ("outcome", "ok")]);
    assert_eq!((errors.len(), oks.len()), (2, 1), "every attempt is timed");
}

static ASYNC_FLAKY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[lazy(async, fallible, name = "async-flaky")]
static ASYNC_FLAKY: Result<usize, Refused> = async {
    let run = ASYNC_FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::task::yield_now().await;
    if run == 1 {
        Err(Refused(run))
    } else {
        Ok(run)
    }
};

#[test]
fn an_async_err_is_not_cached_either() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(ASYNC_FLAKY.get().await, Err(Refused(1)));
        assert_eq!(ASYNC_FLAKY.info().state, State::Failed { failures: 1 });
        assert_eq!(ASYNC_FLAKY.get().await, Ok(&2));
        assert_eq!(ASYNC_FLAKY.get().await, Ok(&2));
    });
    assert_eq!(ASYNC_FLAKY_RUNS.load(Ordering::SeqCst), 2);
}

static PANICKY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[lazy(name = "panicky")]
static PANICKY: u32 = {
    if PANICKY_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        panic!("the first run panics");
    }
    42
};

#[test]
fn after_a_panic_the_static_is_usable_and_the_next_access_runs_the_initializer_again() {
    support::recorder();
    let caught = std::panic::catch_unwind(|| *PANICKY);
    let message = caught.unwrap_err();
    assert_eq!(
        message.downcast_ref::<&str>(),
        Some(&"the first run panics")
    );
    assert_eq!(Lazy::info(&PANICKY).state, State::Failed { failures: 1 });
    assert_eq!(Lazy::get_if_ready(&PANICKY), None, "nothing was cached");
    assert_eq!(*PANICKY, 42);
    assert_eq!(*PANICKY, 42);
    assert_eq!(PANICKY_RUNS.load(Ordering::SeqCst), 2);
    let info = Lazy::info(&PANICKY);
    assert_eq!((info.state, info.failures), (State::Ready, 1));
    let recorded = support::Recorded::take();
    let panics = recorded.histogram(
        names::LAZY_INIT_DURATION,
        &[("lazy", "panicky"), ("outcome", "panic")],
    );
    assert_eq!(panics.len(), 1, "the panicking run counts as a failure");
}

static ASYNC_PANICKY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[lazy(async, name = "async-panicky")]
static ASYNC_PANICKY: u32 = async {
    tokio::task::yield_now().await;
    if ASYNC_PANICKY_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        panic!("the first async run panics");
    }
    7
};

#[test]
fn after_an_async_panic_the_next_access_runs_the_initializer_again() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    runtime.block_on(async {
        let first = tokio::spawn(async { *ASYNC_PANICKY.get().await }).await;
        assert!(first.unwrap_err().is_panic());
        assert_eq!(ASYNC_PANICKY.info().state, State::Failed { failures: 1 });
        assert_eq!(*ASYNC_PANICKY.get().await, 7);
    });
    assert_eq!(ASYNC_PANICKY_RUNS.load(Ordering::SeqCst), 2);
}

// Nested: OUTER sleeps 30 ms itself and touches INNER, which sleeps 60 ms. Durations are
// exclusive: INNER is charged its 60 ms, OUTER only its own 30 ms; OUTER's inclusive time holds
// both.

#[lazy(name = "inner")]
static INNER: u64 = {
    std::thread::sleep(Duration::from_millis(60));
    2
};

#[lazy(name = "outer")]
static OUTER: u64 = {
    std::thread::sleep(Duration::from_millis(30));
    *INNER + 1
};

#[test]
fn nested_initializers_are_charged_exclusively() {
    support::recorder();
    assert_eq!(*OUTER, 3);
    let (inner, outer) = (Lazy::info(&INNER), Lazy::info(&OUTER));
    let inner_self = inner.duration.unwrap();
    let outer_self = outer.duration.unwrap();
    let outer_total = outer.inclusive.unwrap();
    assert!(inner_self >= Duration::from_millis(60), "{inner_self:?}");
    assert!(outer_self >= Duration::from_millis(30), "{outer_self:?}");
    assert_eq!(inner.inclusive, inner.duration, "nothing nested in inner");
    // Inner's time is not charged to outer: outer's own time is its total less inner's, exactly.
    assert_eq!(
        outer_self + inner_self,
        outer_total,
        "inner's time not charged to outer"
    );
    // The nested one inherits the outer one's attribution.
    assert_eq!(inner.during, outer.during);
    assert_eq!(outer.during, Some(During::Init));

    let recorded = support::Recorded::take();
    let metric = |name| recorded.histogram(names::LAZY_INIT_DURATION, &[("lazy", name)]);
    let (inner_metric, outer_metric) = (metric("inner"), metric("outer"));
    assert_eq!(inner_metric, [inner_self.as_secs_f64()]);
    assert_eq!(outer_metric, [outer_self.as_secs_f64()]);
}

#[lazy(async, name = "async-inner")]
static ASYNC_INNER: u64 = async {
    tokio::time::sleep(Duration::from_millis(60)).await;
    2
};

#[lazy(async, name = "async-outer")]
static ASYNC_OUTER: u64 = async {
    tokio::time::sleep(Duration::from_millis(30)).await;
    *ASYNC_INNER.get().await + 1
};

#[test]
fn nested_async_initializers_it_drives_are_charged_exclusively_too() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(async { *ASYNC_OUTER.get().await }), 3);
    let (inner, outer) = (ASYNC_INNER.info(), ASYNC_OUTER.info());
    let (inner_self, outer_self) = (inner.duration.unwrap(), outer.duration.unwrap());
    assert!(inner_self >= Duration::from_millis(60), "{inner_self:?}");
    assert!(outer_self >= Duration::from_millis(30), "{outer_self:?}");
    assert!(
        outer_self < inner_self,
        "outer {outer_self:?} < inner {inner_self:?}"
    );
    assert!(outer.inclusive.unwrap() >= inner_self + outer_self);
}

#[test]
fn the_report_is_sorted_by_cost_and_lists_every_static() {
    // Some statics of this file may not have run yet (tests run in parallel): all are listed.
    let report = coldstart::lazy::statics();
    for name in [
        "contended",
        "flaky-pool",
        "panicky",
        "inner",
        "outer",
        "async-outer",
    ] {
        assert!(report.get(name).is_some(), "{name} missing from\n{report}");
    }
    assert_eq!(report.lazies.len(), 10);
    assert!(report.lazies.windows(2).all(|w| w[0].spent >= w[1].spent));
}
