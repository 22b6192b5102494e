//! Pushes to a REAL Prometheus Pushgateway from the flush hook of `coldstart::lambda::run`,
//! through the real runtime loop. `.ci/run` installs the Debian package, starts it and sets
//! `COLDSTART_PUSHGATEWAY_URL`; a plain `cargo test` skips this (`#[ignore]`), and `.ci/run` runs it
//! with `--ignored` once the gateway is up.

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::prometheus::{self, Pushgateway};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cold_start_handler(name = "pushed")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload["fail"] == true {
        return Err("failed on purpose".into());
    }
    Ok(event.payload)
}

/// When each push was accepted by the gateway.
static PUSHED: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[test]
#[ignore = "needs a Pushgateway at COLDSTART_PUSHGATEWAY_URL (.ci/run starts one)"]
fn a_cold_and_warm_invocations_reach_a_real_pushgateway() {
    let url = std::env::var("COLDSTART_PUSHGATEWAY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:9091".to_owned());
    let handle = prometheus::install().expect("first recorder");
    let api = support::local_api("pushed-fn");
    let instance = format!("test-{}", std::process::id());
    // Bounds far above what a push takes, so that on a loaded machine none is cut off: the
    // runtime waits for each push (`flush_timeout`) before it asks for the next event, which is
    // what the order checked below needs; how long a push may take is not tested here.
    let gateway = Arc::new(
        Pushgateway::new(&url, "coldstart-test")
            .unwrap()
            .instance(instance.clone())
            .timeout(Duration::from_secs(10)),
    );
    let runtime = support::runtime(1);
    let hook_gateway = Arc::clone(&gateway);
    let events = (0..4)
        .map(|n| json!({ "n": n }))
        .chain([json!({ "fail": true })]);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .flush_timeout(Duration::from_secs(20))
            .on_flush(move |_| {
                hook_gateway
                    .push(&handle)
                    .expect("the gateway accepts the push");
                PUSHED.lock().unwrap().push(Instant::now());
            })
            .run(service_fn(handler)),
        events,
    );
    assert_eq!(results.iter().filter(|r| r.is_error()).count(), 1);

    // Every push was accepted by the gateway after its invocation's response arrived (the client
    // did not wait for it) and before the runtime asked for the next event (every event was
    // queued, so the next one was delivered the moment it asked).
    let pushed = PUSHED.lock().unwrap().clone();
    assert_eq!(pushed.len(), results.len());
    for (n, (at, result)) in pushed.iter().zip(&results).enumerate() {
        assert!(result.completed_at <= *at, "push #{n} before its response");
        if let Some(next) = results.get(n + 1) {
            assert!(*at < next.delivered_at, "push #{n} after the next event");
        }
    }

    // The last push came after the last response, before the next /next: the gateway has it all.
    let metrics = support::scrape(&url);
    let series = |name: &str, labels: &str| {
        format!(r#"{name}{{handler="pushed",instance="{instance}",job="coldstart-test"{labels}}}"#)
    };
    for (line, value) in [
        (series("faas_coldstarts_total", ""), 1),
        (series("faas_invocations_total", r#",start="cold""#), 1),
        (series("faas_invocations_total", r#",start="warm""#), 3),
        (
            series("faas_errors_total", r#",outcome="error",start="warm""#),
            1,
        ),
        (
            series("faas_invoke_duration_seconds_count", r#",start="warm""#),
            4,
        ),
    ] {
        let found = metrics
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("{line} missing from the gateway:\n{metrics}"));
        assert!(found.ends_with(&format!(" {value}")), "{found}");
    }
    let init = format!(
        r#"faas_init_duration_seconds_count{{init_type="on-demand",instance="{instance}",job="coldstart-test"}} 1"#
    );
    assert!(metrics.lines().any(|l| l == init), "{init}\n{metrics}");
    assert_eq!(gateway.failures(), 0);
}
