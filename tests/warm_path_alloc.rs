//! The warm path allocates nothing of its own: after the first invocation has built the handler's
//! metric keys, an instrumented invocation (begin, body, outcome, counter, histogram) performs no
//! heap allocation beyond what the installed recorder itself does for the same two operations.

use coldstart::cold_start_handler;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations made by the current thread while counting is switched on.
struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: thread-locals may already be gone while a thread shuts down.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counting
// only touches const-initialised thread-locals, which never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc`'s contract, forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc`'s contract, forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc`'s contract, forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc`'s contract, forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[cold_start_handler(name = "alloc")]
fn handler(n: u64) -> Result<u64, &'static str> {
    if n % 3 == 0 {
        Err("every third fails")
    } else {
        Ok(n * 2)
    }
}

static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);

#[test]
fn warm_invocations_allocate_nothing_beyond_the_recorder() {
    // The cold path may allocate: it builds the handler's keys.
    for n in 0..3 {
        let _ = handler(n);
    }

    // With no recorder installed, the crate's own work is all there is.
    let own = allocations_in(|| {
        for n in 3..1_003 {
            let _ = std::hint::black_box(handler(std::hint::black_box(n)));
        }
    });
    assert_eq!(own, 0, "1000 warm invocations allocated {own} times");

    // With a real Prometheus recorder, compare against the recorder doing exactly the operations
    // a warm invocation needs (its outcome counter, its duration histogram, the idle-gap and
    // environment-age gauges), done by hand on already-registered series.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for n in 0..3 {
            let _ = handler(n);
        }
    });
    let instrumented = allocations_in(|| {
        metrics::with_local_recorder(&recorder, || {
            for n in 3..1_003 {
                let _ = std::hint::black_box(handler(std::hint::black_box(n)));
            }
        })
    });
    use metrics::Recorder;
    let key =
        |name: &'static str| metrics::Key::from_parts(name, vec![metrics::Label::new("a", "b")]);
    let (counter, duration, idle, age) = (
        key("manual_count"),
        key("manual_seconds"),
        key("manual_idle"),
        key("manual_age"),
    );
    recorder.register_counter(&counter, &METADATA).increment(1);
    recorder
        .register_histogram(&duration, &METADATA)
        .record(0.0);
    recorder.register_gauge(&idle, &METADATA).set(0.0);
    recorder.register_gauge(&age, &METADATA).set(0.0);
    let by_hand = allocations_in(|| {
        for n in 3..1_003u32 {
            recorder.register_counter(&counter, &METADATA).increment(1);
            recorder
                .register_histogram(&duration, &METADATA)
                .record(f64::from(n));
            recorder.register_gauge(&idle, &METADATA).set(f64::from(n));
            recorder.register_gauge(&age, &METADATA).set(f64::from(n));
        }
    });
    assert!(
        instrumented <= by_hand,
        "1000 warm invocations allocated {instrumented} times; the recorder alone, {by_hand}"
    );

    // And the invocations were really recorded.
    let text = prometheus.render();
    // The cold start happened before this recorder existed, so it is not in its output.
    assert!(!text.contains("faas_coldstarts"), "{text}");
    assert!(
        text.contains(r#"faas_errors{handler="alloc",start="warm",outcome="error"} 335"#),
        "{text}"
    );
    assert!(
        text.contains(r#"faas_invocations{handler="alloc",start="warm"} 668"#),
        "{text}"
    );

    // Installed as the global recorder, a Prometheus recorder is served from cached handles: an
    // invocation allocates no more than the recorder does for the same operations on handles
    // registered once (a histogram's sample buffer grows a block at a time), and nothing for a
    // lookup.
    #[cfg(target_os = "linux")]
    cached_handles_allocate_no_more_than_the_recorder();
}

/// The threads of this process, from `/proc`.
#[cfg(target_os = "linux")]
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Runs `invocation`, which starts the probe that learns which recorder is the global one (a
/// thread, started before `invocation` returns), and waits until the probe has answered: until
/// the process is back to the threads it had.
#[cfg(target_os = "linux")]
fn wait_for_recorder_probe(invocation: impl FnOnce()) {
    let before = threads();
    invocation();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while threads() > before {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[cfg(target_os = "linux")]
fn cached_handles_allocate_no_more_than_the_recorder() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    // The first invocation starts the probe; the next ones fill the handles.
    wait_for_recorder_probe(|| {
        let _ = handler(1_003);
    });
    for n in 1_004..1_006 {
        let _ = handler(n);
    }
    let instrumented = allocations_in(|| {
        for n in 1_006..2_006 {
            let _ = std::hint::black_box(handler(std::hint::black_box(n)));
        }
    });
    let counter = metrics::counter!("manual_count", "a" => "b");
    let histogram = metrics::histogram!("manual_seconds", "a" => "b");
    let idle = metrics::gauge!("manual_idle", "a" => "b");
    let age = metrics::gauge!("manual_age", "a" => "b");
    for n in 0..3u32 {
        counter.increment(1);
        histogram.record(f64::from(n)); // the same three samples the warm-up left
        idle.set(f64::from(n));
        age.set(f64::from(n));
    }
    let by_hand = allocations_in(|| {
        for n in 3..1_003u32 {
            std::hint::black_box(&counter).increment(1);
            std::hint::black_box(&histogram).record(f64::from(n));
            std::hint::black_box(&idle).set(f64::from(n));
            std::hint::black_box(&age).set(f64::from(n));
        }
    });
    assert!(
        instrumented <= by_hand,
        "1000 warm invocations allocated {instrumented} times through the global recorder; \
         its cached handles alone, {by_hand}"
    );
    let text = prometheus.render();
    assert!(
        text.contains(r#"faas_invocations{handler="alloc",start="warm"} 669"#),
        "{text}"
    );
}
