//! Whose names `coldstart::prometheus::install()` changes: a function driven through the local
//! Runtime API records coldstart's metrics and its own (a counter, a histogram described in
//! seconds, a dotted name). In the exposition coldstart's metrics carry their Prometheus names
//! (`faas_coldstarts_total`, `faas_invoke_duration_seconds`, ...), and the function's own metrics
//! the names it gave them: an upgrade that renamed `orders_handled` to `orders_handled_total`
//! would break its dashboards without a word.

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::names;
use coldstart::prometheus;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use metrics::Unit;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[cold_start_handler(name = "checkout")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    metrics::counter!("orders_handled", "region" => "eu").increment(1);
    metrics::histogram!("checkout_latency").record(0.004);
    metrics::counter!("payments.declined").increment(0);
    Ok(event.payload)
}

/// The exposition after three invocations, rendered by the flush hook of the last one.
fn exposition() -> String {
    let api = support::local_api("names-fn");
    let handle = prometheus::install().expect("first recorder");
    metrics::describe_histogram!("checkout_latency", Unit::Seconds, "Time to check out.");
    metrics::describe_counter!("orders_handled", Unit::Count, "Orders handled.");
    let last = Arc::new(Mutex::new(String::new()));
    let rendered = last.clone();
    let runtime = support::runtime(1);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .on_flush(move |_| {
                *rendered.lock().unwrap() = prometheus::render(&handle);
            })
            .run(service_fn(handler)),
        (0..3).map(|n| json!({ "n": n })),
    );
    assert!(results.iter().all(|r| !r.is_error()));
    last.lock().unwrap().clone()
}

/// The `# TYPE` lines of an exposition: (name, type).
fn types(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            (name.to_owned(), kind.to_owned())
        })
        .collect()
}

#[test]
fn coldstart_metrics_take_prometheus_names_and_the_functions_own_keep_theirs() {
    let text = exposition();
    let types = types(&text);
    // coldstart's, as the README's metric table and the PromQL recipes name them.
    for name in [
        names::COLDSTARTS,
        names::INVOCATIONS,
        names::INVOKE_DURATION,
        names::INIT_DURATION,
        names::PHASE_DURATION,
    ] {
        let def = names::ALL.iter().find(|def| def.name == name).unwrap();
        let wanted = (def.prometheus.to_owned(), def.kind.as_str().to_owned());
        assert!(types.contains(&wanted), "{wanted:?} missing:\n{text}");
    }
    for line in [
        r#"faas_coldstarts_total{handler="checkout"} 1"#,
        r#"faas_invocations_total{handler="checkout",start="warm"} 2"#,
        r#"faas_invoke_duration_seconds_count{handler="checkout",start="cold"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    // The function's own, as it named them (a dot becomes `_`, Prometheus' alphabet has none).
    for wanted in [
        ("orders_handled", "counter"),
        ("checkout_latency", "histogram"),
        ("payments_declined", "counter"),
    ] {
        let wanted = (wanted.0.to_owned(), wanted.1.to_owned());
        assert!(types.contains(&wanted), "{wanted:?} missing:\n{text}");
    }
    for line in [
        r#"orders_handled{region="eu"} 3"#,
        "checkout_latency_count 3",
        "payments_declined 0",
        "# HELP checkout_latency Time to check out.",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    for renamed in [
        "orders_handled_total",
        "checkout_latency_seconds",
        "payments_declined_total",
    ] {
        assert!(!text.contains(renamed), "{renamed} in:\n{text}");
    }
    // Nothing else: coldstart's families and the function's three.
    let ours = types
        .iter()
        .filter(|(name, _)| names::ALL.iter().any(|def| def.prometheus == name))
        .count();
    assert_eq!(ours + 3, types.len(), "{types:?}");
}
