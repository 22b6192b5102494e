//! `coldstart::lambda::run` in an on-demand environment, through the real runtime loop: the first
//! invocation is `cold` (its event followed init end at once), INIT and the wait for the first
//! event are recorded, later ones are `warm`; an error, a panic (posted, recorded, the next
//! invocation fine), a malformed payload and a 5 MB one behave as with `lambda_runtime::run`;
//! and the flush hook runs after the Runtime API receives each response and before the runtime
//! asks for the next event, for every outcome (`FlushAt::BeforeResponse` is
//! `tests/lambda_flush_before_response.rs`).

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::LocalEvent;
use coldstart::Outcome;
use coldstart::{cold_start_handler, names, phases, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Deserialize)]
struct Order {
    id: u64,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    pad: String,
}

#[cold_start_handler(name = "orders")]
async fn handler(event: LambdaEvent<Order>) -> Result<Value, Error> {
    let order = event.payload;
    match order.mode.as_str() {
        "error" => Err("the handler failed on purpose".into()),
        "panic" => panic!("the handler panicked on purpose"),
        _ => Ok(json!({ "id": order.id, "pad": order.pad.len() })),
    }
}

static FLUSHED: Mutex<Vec<(Outcome, Instant)>> = Mutex::new(Vec::new());

#[test]
fn on_demand_cold_then_warm_errors_panics_and_flushes_after_each_response() {
    support::recorder();
    std::panic::set_hook(Box::new(|_| {}));
    let api = support::local_api("on-demand");
    let runtime = support::runtime(2);

    let huge = "x".repeat(5 * 1024 * 1024);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .on_flush(|finished| FLUSHED.lock().unwrap().push((finished, Instant::now())))
            .run(service_fn(handler)),
        [
            LocalEvent::json(&json!({ "id": 1 })),
            LocalEvent::json(&json!({ "id": 2 })),
            LocalEvent::json(&json!({ "id": 3, "mode": "error" })),
            LocalEvent::json(&json!({ "id": 4, "mode": "panic" })),
            LocalEvent::json(&json!({ "id": 5 })),
            LocalEvent::new(r#"{"id": 6,"#),
            // Bigger than the ping detector looks at, and full of the bytes it looks for.
            LocalEvent::json(&json!({ "id": 7, "mode": "warmup", "pad": huge })),
            LocalEvent::new(format!(r#"{{"id":"8","pad":"{huge}"}}"#)),
        ],
    );

    // What the Runtime API received.
    let errors: Vec<bool> = results.iter().map(|r| r.is_error()).collect();
    assert_eq!(errors, [false, false, true, true, false, true, false, true]);
    assert_eq!(results[0].json().unwrap(), json!({ "id": 1, "pad": 0 }));
    assert_eq!(results[4].json().unwrap(), json!({ "id": 5, "pad": 0 }));
    assert_eq!(
        results[6].json().unwrap(),
        json!({ "id": 7, "pad": 5 * 1024 * 1024 })
    );
    assert!(String::from_utf8_lossy(&results[3].body).contains("panicked on purpose"));
    for rejected in [5, 7] {
        assert!(
            String::from_utf8_lossy(&results[rejected].body).contains("failed to deserialize"),
            "{:?}",
            results[rejected]
        );
    }

    // The flush hook ran once per invocation, in order, after its response arrived and before
    // the runtime asked for the next event (every event was queued, so the next one was
    // delivered as soon as it asked).
    let flushed = FLUSHED.lock().unwrap().clone();
    let kinds: Vec<Outcome> = flushed.iter().map(|(finished, _)| *finished).collect();
    use Outcome::*;
    assert_eq!(kinds, [Ok, Ok, Error, Panic, Ok, Rejected, Ok, Rejected]);
    for (i, ((finished, at), result)) in flushed.iter().zip(&results).enumerate() {
        assert!(
            result.completed_at <= *at,
            "{finished}: flushed at {at:?}, before its response arrived at {:?}",
            result.completed_at
        );
        if let Some(next) = results.get(i + 1) {
            assert!(
                *at < next.delivered_at,
                "{finished}: flushed at {at:?}, after the next event was delivered at {:?}",
                next.delivered_at
            );
        }
    }

    // What the crate recorded.
    let recorded = support::Recorded::take();
    let orders = ("handler", "orders");
    assert_eq!(recorded.counter(names::COLDSTARTS, &[orders]), 1);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[orders, ("start", "cold")]),
        1
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[orders, ("start", "warm")]),
        3
    );
    for outcome in ["error", "panic"] {
        assert_eq!(
            recorded.counter(
                names::ERRORS,
                &[orders, ("start", "warm"), ("outcome", outcome)]
            ),
            1,
            "{outcome}"
        );
    }
    assert_eq!(recorded.counter(names::WARMUPS, &[]), 0);
    let first = coldstart::invocation::first_invocation().expect("first invocation");
    assert_eq!(first.start_kind, StartKind::Cold);
    assert!(!first.warmup);

    // INIT ended right before the loop asked for the first event.
    let init_end = phases::init_end().expect("the wrapper marks init end");
    let first_event = phases::first_event().expect("the layer notes the first event");
    assert!(init_end <= results[0].next_requested_at);
    assert!(results[0].delivered_at <= first_event && first_event <= first.started_at);
    let init = recorded.histogram(names::INIT_DURATION, &[]);
    assert_eq!(init.len(), 1);
    assert!((init[0] - phases::init_duration().unwrap().as_secs_f64()).abs() < 1e-6);
    let wait = recorded.histogram(
        names::PHASE_DURATION,
        &[("phase", names::PHASE_WAIT_FOR_FIRST_EVENT)],
    );
    // The wait is the gap from init end to the first event's arrival (short enough that the
    // first invocation is `cold`, not proactive, as asserted above).
    assert_eq!(wait.len(), 1);
    let gap = first_event.saturating_duration_since(init_end);
    assert!(
        (wait[0] - gap.as_secs_f64()).abs() < 1e-6,
        "{wait:?} {gap:?}"
    );
    // Six payloads reached the handler; the two rejected ones never did, but each took an
    // invocation number too (as the first event, one would have taken the cold start).
    assert_eq!(coldstart::invocation::invocation_count(), 8);
    assert_eq!(
        recorded.counter(names::ERRORS, &[("start", "warm"), ("outcome", "rejected")]),
        2
    );
}
