//! A Pushgateway that is down or hung never fails an invocation and never stalls it beyond the
//! push bound: the flush hook pushes with `push_or_report`, through the real runtime loop.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use coldstart::prometheus::{self, Pushgateway};
use coldstart::{cold_start_handler, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

#[cold_start_handler(name = "unpushed")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn invocations_succeed_within_the_bound_when_the_gateway_is_down_or_hung() {
    let handle = prometheus::install().expect("first recorder");
    // Hung: accepts connections (the kernel's backlog) and never answers.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    // Down: nothing listens on this port any more.
    let down_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bound = Duration::from_millis(100);
    let gateways = Arc::new([
        Pushgateway::new(&format!("http://{}", hung.local_addr().unwrap()), "hung")
            .unwrap()
            .timeout(bound),
        Pushgateway::new(&format!("http://127.0.0.1:{down_port}"), "down")
            .unwrap()
            .timeout(bound),
    ]);

    let api = LocalRuntimeApi::start().expect("local Runtime API");
    api.set_env();
    let runtime = support::runtime(1);
    let hook_gateways = Arc::clone(&gateways);
    let hook_handle = handle.clone();
    let results = runtime.block_on(async {
        tokio::spawn(
            Coldstart::new()
                .on_flush(move |_| {
                    for gateway in hook_gateways.iter() {
                        gateway.push_or_report(&hook_handle);
                    }
                })
                .run(service_fn(handler)),
        );
        for n in 0..3 {
            api.push_json(&json!({ "n": n }));
        }
        api.wait_for_all(Duration::from_secs(30))
            .await
            .expect("three results")
    });

    // Every invocation succeeded and was answered.
    assert!(results.iter().all(|r| !r.is_error()));
    assert_eq!(results[2].json().unwrap(), json!({ "n": 2 }));
    // Each failed push cost at most its bound: the response came well within two bounds per
    // invocation plus slack for a loaded machine (a stalled push would hold it for seconds).
    for result in &results {
        let held = result.completed_at - result.delivered_at;
        assert!(held < Duration::from_secs(2), "held {held:?}");
    }
    // Every failure was counted, by the gateways and in the metric.
    assert_eq!(gateways[0].failures(), 3);
    assert_eq!(gateways[1].failures(), 3);
    let text = handle.render();
    let prometheus_name = names::ALL
        .iter()
        .find(|def| def.name == names::EXPORT_FAILURES)
        .unwrap()
        .prometheus;
    assert_eq!(prometheus_name, "coldstart_export_failures_total");
    let failures = format!("{prometheus_name}{{exporter=\"pushgateway\"}} 6");
    assert!(text.lines().any(|l| l == failures), "{failures}\n{text}");
    drop(hung);
}
