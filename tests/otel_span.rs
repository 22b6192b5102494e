//! The start kind on the trace, beside `lambda_runtime`'s own OpenTelemetry layer, through the
//! real runtime loop with a real `tracing` subscriber, for each kind of start (each in a process of
//! its own: the environment is read once per process). `lambda_runtime` marks the first
//! invocation of every environment `faas.coldstart=true`; coldstart's `coldstart.invocation` span,
//! a child of it, says which start it was and sets `faas.coldstart=true` only for an on-demand
//! start a request waited for (`cold`): a proactively initialized environment (the first event
//! arrives long after INIT ended), provisioned concurrency and SnapStart are `false`. A warm-up
//! ping consumes `lambda_runtime`'s flag but gets no span of ours; later invocations are `warm` on
//! both.

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::local::LocalEvent;
use lambda_runtime::layers::{OpenTelemetryLayer, TracingLayer};
use lambda_runtime::{service_fn, Error, LambdaEvent, Runtime};
use serde_json::{json, Value};
use std::time::Duration;
use support::spans::{CapturedSpan, Spans};

#[cold_start_handler(name = "reports")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload["fail"] == json!(true) {
        return Err("failed on purpose".into());
    }
    Ok(event.payload)
}

fn field<'a>(span: &'a CapturedSpan, name: &str) -> &'a str {
    span.fields
        .get(name)
        .unwrap_or_else(|| panic!("{} has no {name}: {:?}", span.name, span.fields))
}

/// Set in the processes the test starts: which start to simulate.
const CASE_VAR: &str = "COLDSTART_SPAN_CASE";

/// (the case, `AWS_LAMBDA_INITIALIZATION_TYPE`, first event's delay in ms, coldstart's start kind,
/// coldstart's `faas.coldstart` on the first invocation)
const CASES: [(&str, &str, u64, &str, &str); 4] = [
    ("cold", "on-demand", 0, "cold", "true"),
    ("proactive", "on-demand", 300, "proactive", "false"),
    (
        "provisioned",
        "provisioned-concurrency",
        0,
        "provisioned",
        "false",
    ),
    ("snapstart", "snap-start", 0, "snapstart", "false"),
];

#[test]
fn the_start_kind_is_on_a_child_of_lambda_runtimes_invocation_span() {
    let Ok(case) = std::env::var(CASE_VAR) else {
        for (case, init_type, ..) in CASES {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "the_start_kind_is_on_a_child_of_lambda_runtimes_invocation_span",
                    "--exact",
                    "--nocapture",
                ])
                .env(CASE_VAR, case)
                .env("AWS_LAMBDA_INITIALIZATION_TYPE", init_type)
                .output()
                .expect("the test binary runs again");
            assert!(
                output.status.success(),
                "the {case} start failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        return;
    };
    let (_, _, delay_ms, start_kind, coldstart_flag) = CASES
        .into_iter()
        .find(|(name, ..)| *name == case)
        .expect("a known case");
    let spans = Spans::install();
    let api = support::local_api("span-fn");
    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        async {
            // `Coldstart::run` composed by hand, to add lambda_runtime's OpenTelemetry layer.
            let coldstart = Coldstart::new().proactive_threshold(Duration::from_millis(100));
            let runtime = Runtime::new(coldstart.service(service_fn(handler)))
                .layer(coldstart.layer())
                .layer(OpenTelemetryLayer::new(|| {}))
                .layer(TracingLayer::new());
            coldstart.end_init().await;
            runtime.run().await
        },
        [
            LocalEvent::json(&json!({ "n": 1 })).delay(Duration::from_millis(delay_ms)),
            LocalEvent::json(&json!({ "n": 2 })),
            LocalEvent::json(&json!({ "warmer": true })),
            LocalEvent::json(&json!({ "n": 3, "fail": true })),
        ],
    );
    let errors: Vec<bool> = results.iter().map(|r| r.is_error()).collect();
    assert_eq!(errors, [false, false, false, true]);

    let lambda = spans.named("Lambda function invocation");
    assert_eq!(lambda.len(), 4, "one per event, the ping's included");
    let flags: Vec<&str> = lambda.iter().map(|s| field(s, "faas.coldstart")).collect();
    assert_eq!(flags, ["true", "false", "false", "false"]);

    let ours = spans.named("coldstart.invocation");
    assert_eq!(
        ours.len(),
        3,
        "one per handler invocation, none for the ping"
    );
    let seen: Vec<(&str, &str, &str, &str)> = ours
        .iter()
        .map(|s| {
            (
                field(s, "coldstart.handler"),
                field(s, "coldstart.start_kind"),
                field(s, "faas.coldstart"),
                field(s, "coldstart.outcome"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("reports", start_kind, coldstart_flag, "ok"),
            ("reports", "warm", "false", "ok"),
            ("reports", "warm", "false", "error"),
        ]
    );
    // Each of ours lives inside lambda_runtime's span of the same invocation.
    for (span, request_id) in ours.iter().zip([0, 1, 3]) {
        let parent = spans
            .ancestors(span)
            .into_iter()
            .find(|a| a.name == "Lambda function invocation")
            .expect("inside lambda_runtime's invocation span");
        assert_eq!(
            field(&parent, "faas.invocation_id"),
            results[request_id].request_id,
        );
    }
}
