//! Where a lazy static ran, through the real `lambda_runtime` loop served by the local Runtime
//! API: before the loop (`init`), on the cold invocation (`cold`, invocation 1), inside the
//! handler body on the cold invocation, and first on the third invocation (`warm`, invocation 3).

mod support;

use coldstart::{cold_start_handler, lazy, names, During, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

#[lazy(name = "config")]
static CONFIG: String = "region=local".to_owned();

#[lazy(name = "catalog")]
static CATALOG: Vec<u32> = {
    std::thread::sleep(Duration::from_millis(5));
    (0..10_000).collect()
};

#[lazy(async, name = "report-client")]
static REPORT_CLIENT: String = async { "reports".to_owned() };

#[cold_start_handler(name = "lazy-e2e")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    // Declared in the body: no `use coldstart::lazy` needed here.
    #[lazy(name = "in-handler")]
    static IN_HANDLER: u32 = 7;

    let n = event.payload["n"].as_u64().unwrap_or(0);
    let mut out = json!({ "n": n, "config": *CONFIG, "items": CATALOG.len(), "k": *IN_HANDLER });
    if n == 3 {
        out["reports"] = json!(REPORT_CLIENT.get().await);
    }
    Ok(out)
}

#[test]
fn init_cold_and_warm_attribution_through_the_runtime_loop() {
    support::recorder();
    let api = support::local_api("lazy-e2e");

    // INIT: touched before the runtime loop starts.
    assert_eq!(CONFIG.len(), 12);

    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        lambda_runtime::run(service_fn(handler)),
        (1..=4).map(|n| json!({ "n": n })),
    );
    assert!(results.iter().all(|r| !r.is_error()));
    assert_eq!(results[2].json().unwrap()["reports"], "reports");

    let report = coldstart::lazy::statics();
    let during = |name: &str| report.get(name).and_then(|l| l.during);
    assert_eq!(during("config"), Some(During::Init));
    let cold = During::Invocation {
        number: 1,
        start_kind: StartKind::Cold,
    };
    assert_eq!(during("catalog"), Some(cold));
    assert_eq!(during("in-handler"), Some(cold));
    assert_eq!(
        during("report-client"),
        Some(During::Invocation {
            number: 3,
            start_kind: StartKind::Warm
        })
    );
    let mut on_request: Vec<&str> = report.on_request_path().map(|l| l.name).collect();
    assert_eq!(
        on_request[0], "catalog",
        "the most expensive first (it sleeps 5 ms)"
    );
    on_request.sort_unstable();
    assert_eq!(on_request, ["catalog", "in-handler", "report-client"]);

    let recorded = support::Recorded::take();
    let samples = |name: &str, where_: &str| {
        recorded
            .histogram(
                names::LAZY_INIT_DURATION,
                &[("lazy", name), ("during", where_)],
            )
            .len()
    };
    assert_eq!(samples("config", "init"), 1);
    assert_eq!(samples("catalog", "cold"), 1);
    assert_eq!(samples("in-handler", "cold"), 1);
    assert_eq!(samples("report-client", "warm"), 1);
    assert_eq!(
        recorded.histogram(names::LAZY_INIT_DURATION, &[]).len(),
        4,
        "each static initialized once: {:?}",
        recorded.series(names::LAZY_INIT_DURATION)
    );
}
