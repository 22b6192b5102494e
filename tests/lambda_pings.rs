//! Warm-up pings against a typed handler (`LambdaEvent<Order>` with a required field), through
//! the real runtime loop: every shape — serverless-plugin-warmup (payload and client context),
//! lambda-warmer with and without fan-out, `{"warmup":true}`, a custom predicate — is
//! acknowledged without an error and without calling the handler, counted in
//! `coldstart.warmups` and nowhere else, waits when it is part of a fan-out, builds the
//! `prewarm` statics (attributed to `warmup`), and flushes before its response. The first ping
//! consumes the environment's coldness: the real invocation after it is `warm`.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::lazy::During;
use coldstart::local::LocalEvent;
use coldstart::Outcome;
use coldstart::{cold_start_handler, lazy, names, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Order {
    id: u64,
}

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[cold_start_handler(name = "typed")]
async fn handler(event: LambdaEvent<Order>) -> Result<Value, Error> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(json!({ "id": event.payload.id }))
}

#[lazy(prewarm, name = "catalog")]
static CATALOG: Vec<u32> = (0..1000).collect();

static FLUSHED: Mutex<Vec<(Outcome, Instant)>> = Mutex::new(Vec::new());

// The fan-out wait: a fan-out ping takes at least this long.
const DELAY: Duration = Duration::from_millis(150);

#[test]
fn every_ping_shape_is_acknowledged_without_reaching_the_typed_handler() {
    support::recorder();
    let api = support::local_api("pings");
    let runtime = support::runtime(2);

    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .warmup_delay(DELAY)
            .is_ping(|body| body == br#""keepalive""#)
            .on_flush(|finished| FLUSHED.lock().unwrap().push((finished, Instant::now())))
            .run(service_fn(handler)),
        [
            LocalEvent::json(&json!({ "source": "serverless-plugin-warmup" })),
            LocalEvent::json(&json!({
                "warmer": true,
                "__WARMER_INVOCATION__": 1,
                "__WARMER_CONCURRENCY__": 3,
                "__WARMER_CORRELATIONID__": "c0ffee"
            })),
            LocalEvent::json(&json!({ "warmer": true, "__WARMER_CONCURRENCY__": 1 })),
            LocalEvent::json(&json!({ "warmup": true })),
            // A customized payload is no ping by itself; the plugin's client context says it is.
            LocalEvent::json(&json!({ "custom": "payload" }))
                .client_context(json!({ "custom": { "source": "serverless-plugin-warmup" } })),
            LocalEvent::new(r#""keepalive""#),
            LocalEvent::json(&json!({ "id": 7 })),
        ],
    );

    // No ping was posted as an error, each got its acknowledgement, and the real event its answer.
    for result in &results {
        assert!(!result.is_error(), "{result:?}");
    }
    let acks: Vec<Value> = results.iter().map(|r| r.json().unwrap()).collect();
    let ack =
        |source: &str, start: &str| json!({ "warmup": true, "source": source, "start": start });
    assert_eq!(
        acks,
        [
            ack("serverless-plugin-warmup", "cold"),
            ack("lambda-warmer", "warm"),
            ack("lambda-warmer", "warm"),
            ack("warmup", "warm"),
            ack("serverless-plugin-warmup", "warm"),
            ack("custom", "warm"),
            json!({ "id": 7 }),
        ]
    );
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        1,
        "pings never reach the handler"
    );

    // Fan-out pings waited (serverless-plugin-warmup always, lambda-warmer with concurrency 3).
    // That the others do not is `Ping::fans_out` (its doctests), not a time measured here.
    for n in [0, 1, 4] {
        let took = results[n].completed_at - results[n].delivered_at;
        assert!(took >= DELAY, "ping #{n} took {took:?}");
    }

    // The flush hook ran for each, after its response arrived and before the next event was
    // handed out.
    let flushed = FLUSHED.lock().unwrap().clone();
    let kinds: Vec<Outcome> = flushed.iter().map(|(finished, _)| *finished).collect();
    assert_eq!(
        kinds,
        [[Outcome::Warmup; 6].as_slice(), &[Outcome::Ok]].concat()
    );
    for (n, ((_, at), result)) in flushed.iter().zip(&results).enumerate() {
        assert!(result.completed_at <= *at, "#{n}");
        if let Some(next) = results.get(n + 1) {
            assert!(*at < next.delivered_at, "#{n}");
        }
    }

    // Counted as warm-ups, by source and by the start kind they found, and nowhere else.
    let recorded = support::Recorded::take();
    let warmups = |source: &str, start: &str| {
        recorded.counter(names::WARMUPS, &[("source", source), ("start", start)])
    };
    assert_eq!(warmups("serverless-plugin-warmup", "cold"), 1);
    assert_eq!(warmups("serverless-plugin-warmup", "warm"), 1);
    assert_eq!(warmups("lambda-warmer", "warm"), 2);
    assert_eq!(warmups("warmup", "warm"), 1);
    assert_eq!(warmups("custom", "warm"), 1);
    assert_eq!(recorded.counter(names::WARMUPS, &[]), 6);
    let typed = ("handler", "typed");
    assert_eq!(recorded.counter(names::COLDSTARTS, &[]), 0);
    assert_eq!(recorded.counter(names::INVOCATIONS, &[typed]), 1);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[typed, ("start", "warm")]),
        1,
        "the first ping consumed the coldness"
    );
    assert_eq!(recorded.counter(names::ERRORS, &[]), 0);
    assert_eq!(recorded.histogram(names::INVOKE_DURATION, &[]).len(), 1);

    // The first event was the ping: it recorded the start-up phases and took the cold start.
    let first = coldstart::invocation::first_invocation().unwrap();
    assert!(first.warmup);
    assert_eq!(first.start_kind, StartKind::Cold);
    assert_eq!(recorded.histogram(names::INIT_DURATION, &[]).len(), 1);

    // On demand, the prewarm static stayed lazy through INIT; the first ping built it.
    let catalog = lazy::statics();
    let catalog = catalog.get("catalog").unwrap();
    assert_eq!(catalog.during, Some(During::Warmup));
    assert!(!catalog.during.unwrap().on_request_path());
    assert_eq!(
        recorded
            .histogram(
                names::LAZY_INIT_DURATION,
                &[("lazy", "catalog"), ("during", "warmup")]
            )
            .len(),
        1
    );
    assert_eq!(CATALOG.len(), 1000);
}
