//! Non-ping payloads behave exactly as with plain `lambda_runtime::run`: the same payloads —
//! malformed, mistyped, huge, ping lookalikes, and valid ones — go through plain `run` and then
//! through `coldstart::lambda::run` (two runtimes in turn, one Runtime API), and the Runtime API
//! must receive byte-identical answers: same `errorType`, same `errorMessage` (with the same
//! serde path, line and column), same response bodies. A real warm-up ping sent to
//! `coldstart::lambda::run` after them is still acknowledged.

mod support;

use coldstart::local::{InvocationResult, LocalEvent, LocalRuntimeApi, Reply};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    id: u64,
    items: Vec<Item>,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
struct Item {
    #[allow(dead_code)]
    sku: String,
}

async fn handler(event: LambdaEvent<Order>) -> Result<Value, Error> {
    let order = event.payload;
    Ok(json!({ "id": order.id, "items": order.items.len(), "note": order.note.len() }))
}

fn payloads() -> Vec<Vec<u8>> {
    let huge = "w".repeat(5 * 1024 * 1024);
    vec![
        br#"{"id": 1,"#.to_vec(),
        br#"{"id": "seven", "items": []}"#.to_vec(),
        br#"{"items": []}"#.to_vec(),
        b"{\"id\": 1,\n \"items\": [{\"sku\": \"a\"}, {\"sku\": 5}]}".to_vec(),
        br#"{"id": 1, "items": [], "extra": true}"#.to_vec(),
        br#"[1, 2, 3]"#.to_vec(),
        b"".to_vec(),
        b"   ".to_vec(),
        br#"null"#.to_vec(),
        // Ping lookalikes that are not pings.
        br#"{"warmup": false}"#.to_vec(),
        br#"{"warmer": "yes", "id": 1, "items": []}"#.to_vec(),
        br#"{"source": "aws.events"}"#.to_vec(),
        // Ping keys next to real data, a repeated key, a ping shape with text that is not
        // UTF-8: events, not pings (issue 11).
        br#"{"id":5,"warmup":true}"#.to_vec(),
        br#"{"warmup":false,"warmup":true}"#.to_vec(),
        b"{\"warmer\":true,\"__WARMER_INVOCATION__\":1,\"__WARMER_CONCURRENCY__\":1,\"__WARMER_CORRELATIONID__\":\"c0\xffee\"}".to_vec(),
        // Huge: malformed, mistyped, valid.
        format!(r#"{{"id": 1, "items": [], "note": "{huge}"#).into_bytes(),
        format!(r#"{{"id": 1, "items": [{{"sku": 1}}], "note": "{huge}"}}"#).into_bytes(),
        format!(r#"{{"id": 9, "items": [{{"sku": "warmup"}}], "note": "{huge}"}}"#).into_bytes(),
        // Valid.
        br#"{"id": 2, "items": [{"sku": "a"}], "note": "hi"}"#.to_vec(),
    ]
}

/// A real warm-up ping (lambda-warmer's fan-out payload, one of one: no wait), sent to
/// `coldstart::lambda::run` after the payloads.
const PING: &[u8] = br#"{"warmer":true,"__WARMER_INVOCATION__":1,"__WARMER_CONCURRENCY__":1,"__WARMER_CORRELATIONID__":"c0ffee"}"#;

/// Serves every payload with a fresh runtime, then shuts that runtime down (closing its
/// connections, so the next runtime's `/next` gets the next event).
fn serve(api: &LocalRuntimeApi, ours: bool) -> Vec<InvocationResult> {
    let runtime = support::runtime(1);
    let already = api.results().len();
    let mut events: Vec<LocalEvent> = payloads().into_iter().map(LocalEvent::new).collect();
    let results = if ours {
        events.push(LocalEvent::new(PING));
        let function = coldstart::lambda::run(service_fn(handler));
        support::serve(&runtime, api, function, events)
    } else {
        let function = lambda_runtime::run(service_fn(handler));
        support::serve(&runtime, api, function, events)
    };
    runtime.shutdown_timeout(Duration::from_secs(5));
    results[already..].to_vec()
}

#[test]
fn every_non_ping_payload_is_answered_exactly_as_plain_lambda_runtime_answers_it() {
    let api = support::local_api("parity");

    let plain = serve(&api, false);
    let ours = serve(&api, true);
    let (ack, ours) = ours.split_last().expect("the ping's answer");
    assert_eq!(plain.len(), ours.len());

    let mut errors = 0;
    for (n, (plain, ours)) in plain.iter().zip(ours).enumerate() {
        assert_eq!(plain.reply, ours.reply, "payload #{n}");
        assert_eq!(plain.body, ours.body, "payload #{n}");
        assert_eq!(plain.streaming, ours.streaming, "payload #{n}");
        if let Reply::Error { error_message, .. } = &plain.reply {
            errors += 1;
            assert!(
                error_message.starts_with("failed to deserialize"),
                "payload #{n}: {error_message}"
            );
        }
    }
    // Everything but the valid order and the valid huge order was rejected by deserialization
    // (the lookalikes too: unknown fields are denied); paths and positions are in the messages.
    assert_eq!(errors, plain.len() - 2);
    let message = |n: usize| match &plain[n].reply {
        Reply::Error { error_message, .. } => error_message.clone(),
        _ => panic!("payload #{n} succeeded"),
    };
    assert!(message(3).contains("[items[1].sku]"), "{}", message(3));
    assert!(message(3).contains("line 2"), "{}", message(3));
    assert_eq!(
        plain[18].json().unwrap(),
        json!({ "id": 2, "items": 1, "note": 2 })
    );
    // The second runtime did go through the wrapper: the ping and every rejected payload took
    // an invocation number (the plain handler's own events do not: it has no attribute), the
    // first payload, rejected, was the environment's first invocation, and the ping was
    // acknowledged.
    assert!(coldstart::phases::first_event().is_some());
    assert!(coldstart::phases::init_end().is_some());
    assert_eq!(coldstart::invocation::invocation_count(), errors as u64 + 1);
    let first = coldstart::invocation::first_invocation().unwrap();
    assert!(first.rejected && !first.warmup);
    assert!(!ack.is_error(), "{ack:?}");
    let ack = ack.json().unwrap();
    assert_eq!(ack["warmup"], true, "{ack}");
    assert_eq!(ack["source"], "lambda-warmer", "{ack}");
}
