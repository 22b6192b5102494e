//! Metric handles are cached only for the global recorder, and only once it is installed: every
//! invocation's metrics reach the recorder that is current when it ends, whatever was current
//! before (nothing, a thread-local recorder, another thread-local recorder at the same address).
//!
//! One test function, because the global recorder is process-wide and can be set only once: the
//! steps below run in order in this process.

use coldstart::{cold_start_handler, names};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cold_start_handler(name = "cache")]
fn handler(fail: bool) -> Result<(), &'static str> {
    if fail {
        Err("failed")
    } else {
        Ok(())
    }
}

/// A debugging recorder that counts how often a series is looked up (registered).
struct CountingRecorder {
    inner: DebuggingRecorder,
    registrations: Arc<AtomicUsize>,
}

impl CountingRecorder {
    fn new() -> (CountingRecorder, Snapshotter, Arc<AtomicUsize>) {
        let inner = DebuggingRecorder::new();
        let snapshotter = inner.snapshotter();
        let registrations = Arc::new(AtomicUsize::new(0));
        let recorder = CountingRecorder {
            inner,
            registrations: Arc::clone(&registrations),
        };
        (recorder, snapshotter, registrations)
    }
}

impl Recorder for CountingRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.registrations.fetch_add(1, Ordering::Relaxed);
        self.inner.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.registrations.fetch_add(1, Ordering::Relaxed);
        self.inner.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.registrations.fetch_add(1, Ordering::Relaxed);
        self.inner.register_histogram(key, metadata)
    }
}

/// Series a warm invocation looks up when handles are not cached: its outcome counter, its
/// duration histogram, the idle-gap gauge and the environment-age gauge.
const LOOKUPS_PER_WARM_INVOCATION: usize = 4;

/// What one recorder received from the `cache` handler.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    coldstarts: u64,
    ok: u64,
    errors: u64,
    durations: usize,
}

fn seen(snapshotter: &Snapshotter) -> Seen {
    let mut seen = Seen::default();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        if !key
            .labels()
            .any(|l| l.key() == "handler" && l.value() == "cache")
        {
            continue;
        }
        match (key.name(), value) {
            (names::COLDSTARTS, DebugValue::Counter(n)) => seen.coldstarts += n,
            (names::INVOCATIONS, DebugValue::Counter(n)) => seen.ok += n,
            (names::ERRORS, DebugValue::Counter(n)) => seen.errors += n,
            (names::INVOKE_DURATION, DebugValue::Histogram(values)) => {
                seen.durations += values.len()
            }
            _ => {}
        }
    }
    seen
}

/// Runs `ok` successful and one failing invocation with a fresh thread-local recorder that lives
/// in this function's frame; returns its address, what it saw, and how many lookups it served.
#[inline(never)]
fn with_fresh_local_recorder(ok: u64) -> (usize, Seen, usize) {
    let (recorder, snapshotter, registrations) = CountingRecorder::new();
    let addr = std::ptr::addr_of!(recorder) as usize;
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..ok {
            handler(false).unwrap();
        }
        handler(true).unwrap_err();
    });
    let registrations = registrations.load(Ordering::Relaxed);
    (addr, seen(&snapshotter), registrations)
}

#[test]
fn handles_are_cached_for_the_global_recorder_only() {
    // 1. The first invocation of the process, and a warm one, with no recorder at all.
    handler(false).unwrap();
    handler(false).unwrap();

    // 2. Two thread-local recorders in sequence, at the same stack address: each gets exactly its
    //    own invocations, looked up every time (LOOKUPS_PER_WARM_INVOCATION per invocation).
    let mut addresses = Vec::new();
    for ok in [3, 5] {
        let (addr, seen, registrations) = with_fresh_local_recorder(ok);
        addresses.push(addr);
        let expected = Seen {
            coldstarts: 0,
            ok,
            errors: 1,
            durations: ok as usize + 1,
        };
        assert_eq!(seen, expected);
        assert_eq!(
            registrations,
            LOOKUPS_PER_WARM_INVOCATION * (ok as usize + 1)
        );
    }
    assert_eq!(
        addresses[0], addresses[1],
        "the second local recorder should reuse the first one's address (the case under test)"
    );

    // 3. The global recorder, installed after the first invocation. The first invocation that
    //    sees it starts a probe in the background; until the probe has answered, invocations
    //    look their series up, and they reach the global recorder either way. Then every series
    //    is looked up once more, to fill its cached handle, and never again.
    let (global, snapshotter, global_registrations) = CountingRecorder::new();
    metrics::set_global_recorder(global).unwrap();
    let lookups = || global_registrations.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut warm_up = 0;
    loop {
        let before = lookups();
        handler(false).unwrap();
        warm_up += 1;
        if lookups() == before {
            break; // served from cached handles
        }
        assert!(
            Instant::now() < deadline,
            "handles were never cached for the global recorder"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let cached = lookups();
    for _ in 0..10 {
        handler(false).unwrap();
    }
    handler(true).unwrap_err();
    assert_eq!(
        seen(&snapshotter),
        Seen {
            coldstarts: 0, // the cold start happened before there was a recorder
            ok: warm_up + 10,
            errors: 1,
            durations: warm_up as usize + 11,
        }
    );
    // Only errors{warm,error} was new: looked up once, to fill its handle.
    assert_eq!(lookups(), cached + 1);

    // 4. A thread-local recorder after the global one is known: it gets its invocations, the
    //    global recorder gets none of them.
    let (_, local_seen, local_registrations) = with_fresh_local_recorder(2);
    assert_eq!(
        local_seen,
        Seen {
            coldstarts: 0,
            ok: 2,
            errors: 1,
            durations: 3,
        }
    );
    assert_eq!(local_registrations, LOOKUPS_PER_WARM_INVOCATION * 3);
    assert_eq!(seen(&snapshotter), Seen::default());

    // 5. The global recorder again, also from other threads: cached handles, no lookup.
    handler(false).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| handler(false).unwrap());
        }
    });
    assert_eq!(
        seen(&snapshotter),
        Seen {
            coldstarts: 0,
            ok: 5,
            errors: 0,
            durations: 5,
        }
    );
    assert_eq!(lookups(), cached + 1);
}
