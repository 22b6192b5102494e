//! `Coldstart::warm_after_first_response`, through the real `lambda_runtime` loop served by the
//! local Runtime API: the first response is posted before the marked statics are built; they are
//! built (attributed `after_first_response`, never to a request) before the runtime asks for the
//! second event; the async ones concurrently; a failing initializer loses nothing; an unmarked
//! static stays lazy.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::lazy::{AsyncLazy, During, Lazy, State};
use coldstart::{cold_start_handler, lazy, names, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The sync static waits on it, so the test decides when it is built.
static GATE: support::Gate = support::Gate::new();

#[lazy(after_first_response, name = "routes")]
static ROUTES: Vec<u32> = {
    GATE.wait();
    (0..1_000).collect()
};

/// When each connection's initializer started and finished.
static SPANS: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());

async fn connect() -> u8 {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    SPANS.lock().unwrap().push((started, Instant::now()));
    1
}

#[lazy(async, after_first_response, name = "conn-0")]
static CONN_0: u8 = async { connect().await };
#[lazy(async, after_first_response, name = "conn-1")]
static CONN_1: u8 = async { connect().await };
#[lazy(async, after_first_response, name = "conn-2")]
static CONN_2: u8 = async { connect().await };
#[lazy(async, after_first_response, name = "conn-3")]
static CONN_3: u8 = async { connect().await };

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

#[lazy(fallible, after_first_response, name = "flaky")]
static FLAKY: Result<u8, String> = match FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) {
    0 => Err("down during the warm-up".to_owned()),
    _ => Ok(9),
};

#[lazy(name = "unmarked")]
static UNMARKED: u8 = 1;

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    match event.payload["n"].as_u64() {
        Some(2) => {
            Ok(json!({ "flaky": FLAKY.get().map_err(|e| e.clone())?, "routes": ROUTES.len() }))
        }
        _ => Ok(json!({ "ok": true })),
    }
}

#[test]
fn the_statics_the_first_request_did_not_need_are_built_after_its_response() {
    support::recorder();
    let api = support::local_api("warm-after-first-response");
    let runtime = support::runtime(2);
    support::start(
        &runtime,
        &api,
        Coldstart::new()
            .warm_timeout(support::PATIENCE)
            .run(service_fn(handler)),
        [json!({ "n": 1 })],
    );
    support::wait_until("the first response", || api.results().len() == 1);
    // The response is posted; the warm-up holds the next `/next` while `routes` waits for the gate.
    assert!(!api.results()[0].is_error());
    assert_ne!(Lazy::info(&ROUTES).state, State::Ready);
    assert_eq!(api.pending_next_requests(), 0, "the warm-up holds /next");

    GATE.open();
    support::wait_until("the runtime asks for the second event", || {
        api.pending_next_requests() == 1
    });
    let after = Some(During::AfterFirstResponse);
    let routes = Lazy::info(&ROUTES);
    assert_eq!((routes.state, routes.during), (State::Ready, after));
    for conn in [&CONN_0, &CONN_1, &CONN_2, &CONN_3] {
        let info = AsyncLazy::info(conn);
        assert_eq!(
            (info.state, info.during),
            (State::Ready, after),
            "{}",
            info.name
        );
    }
    // Built concurrently: every connection started before any finished.
    let spans = SPANS.lock().unwrap().clone();
    assert_eq!(spans.len(), 4);
    let last_start = spans.iter().map(|span| span.0).max().unwrap();
    let first_end = spans.iter().map(|span| span.1).min().unwrap();
    assert!(
        last_start < first_end,
        "the connections did not overlap: {spans:?}"
    );
    // A failed initializer leaves its static lazy; an unmarked one is left alone.
    assert_eq!(FLAKY.info().state, State::Failed { failures: 1 });
    assert_eq!(Lazy::info(&UNMARKED).state, State::NotInitialized);
    let statics = coldstart::lazy::statics();
    assert!(statics.get("routes").unwrap().after_first_response);
    assert!(!statics.get("unmarked").unwrap().after_first_response);
    assert_eq!(
        statics.on_request_path().count(),
        0,
        "nothing built after the response is billed to a request: {statics}"
    );

    // The second invocation succeeds; the failed static is retried there.
    let results = support::drive(&runtime, &api, [json!({ "n": 2 })]);
    let second = &results[1];
    assert!(!second.is_error());
    assert_eq!(
        second.json().unwrap(),
        json!({ "flaky": 9, "routes": 1000 })
    );
    let flaky = FLAKY.info();
    assert_eq!((flaky.state, flaky.failures), (State::Ready, 1));
    assert_eq!(
        flaky.during,
        Some(During::Invocation {
            number: 2,
            start_kind: StartKind::Warm
        })
    );

    let recorded = support::Recorded::take();
    let after_response = |lazy: &str, outcome: &str| {
        recorded
            .histogram(
                names::LAZY_INIT_DURATION,
                &[
                    ("lazy", lazy),
                    ("during", "after_first_response"),
                    ("outcome", outcome),
                ],
            )
            .len()
    };
    assert_eq!(after_response("routes", "ok"), 1);
    assert_eq!(after_response("conn-2", "ok"), 1);
    assert_eq!(after_response("flaky", "error"), 1);
    assert_eq!(after_response("unmarked", "ok"), 0);
}
