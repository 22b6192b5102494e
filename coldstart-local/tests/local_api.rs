//! Drives the real `lambda_runtime` client loop against `coldstart::local`,
//! and pokes the emulator's HTTP surface directly with raw HTTP/1.1 requests.
//!
//! `lambda_runtime` reads its configuration from the process environment, so
//! everything that needs `set_env` lives in ONE test function
//! (`real_runtime_against_local_api`); the other tests talk HTTP to their own
//! emulator and never read the environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coldstart::local::{InitPhase, LocalEvent, LocalRuntimeApi, Reply};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The handler
// ---------------------------------------------------------------------------------------------

/// What the handler saw, keyed by request id: (entered, left) instants.
static HANDLER_TIMES: Mutex<Vec<(String, Instant, Instant)>> = Mutex::new(Vec::new());

#[derive(Debug)]
struct HandlerFailed(String);

impl From<HandlerFailed> for Diagnostic {
    fn from(err: HandlerFailed) -> Self {
        Diagnostic {
            error_type: "HandlerFailed".to_owned(),
            error_message: err.0,
        }
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, HandlerFailed> {
    let entered = Instant::now();
    let (payload, ctx) = event.into_parts();
    let op = payload["op"].as_str().unwrap_or("echo").to_owned();
    let out = match op.as_str() {
        "echo" => Ok(payload),
        "fail" => Err(HandlerFailed(format!("asked to fail: {}", payload["why"]))),
        "panic" => panic!("asked to panic"),
        "context" => Ok(json!({
            "request_id": ctx.request_id,
            "deadline_ms": ctx.deadline,
            "now_ms": epoch_ms(),
            "client_context": ctx.client_context,
            "arn": ctx.invoked_function_arn,
            "trace_id": ctx.xray_trace_id,
            "function_name": ctx.env_config.function_name,
            "memory": ctx.env_config.memory,
        })),
        other => Err(HandlerFailed(format!("unknown op {other}"))),
    };
    HANDLER_TIMES
        .lock()
        .unwrap()
        .push((ctx.request_id.clone(), entered, Instant::now()));
    out
}

fn handler_times(request_id: &str) -> (Instant, Instant) {
    let times = HANDLER_TIMES.lock().unwrap();
    let (_, entered, left) = times
        .iter()
        .find(|(id, _, _)| id == request_id)
        .unwrap_or_else(|| panic!("handler never saw {request_id}"));
    (*entered, *left)
}

/// Polls `cond` until it holds; a liveness deadline of [`WAIT`], not a speed claim.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let polled = tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "timed out waiting until {what}");
}

/// Drops `api` on another thread and waits (up to [`WAIT`]) for the drop to return: shutting
/// the server down joins its thread and must not hang.
fn drop_completes(api: LocalRuntimeApi) {
    let (done, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(api);
        let _ = done.send(());
    });
    dropped
        .recv_timeout(WAIT)
        .expect("dropping the API returns (shutdown does not hang)");
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP helpers
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

fn parse_response(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Sends `request` (which should say `Connection: close`) and reads the whole answer.
async fn send_raw(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    read_all(&mut stream).await
}

async fn read_all(stream: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read response");
    parse_response(&buf)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn response_path(id: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{id}/response")
}

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

// ---------------------------------------------------------------------------------------------
// The real client loop (the only test that touches the environment)
// ---------------------------------------------------------------------------------------------

#[test]
fn real_runtime_against_local_api() {
    let api = LocalRuntimeApi::builder()
        .function_name("local-api-test")
        .memory_mb(256)
        .start()
        .expect("start the emulator");
    // Before the tokio runtime (and its threads) exists.
    // SAFETY: no tokio runtime exists yet, the emulator's own thread never reads the environment,
    // and the other tests of this binary never read it either.
    #[allow(unsafe_code)]
    unsafe {
        api.set_env()
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let runtime_task = tokio::spawn(lambda_runtime::run(service_fn(handler)));

        // -- Idle: nothing queued, the runtime's /next stays pending. -------------------------
        eventually("the runtime polls /next", || {
            api.pending_next_requests() == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(api.pending_next_requests(), 1);
        assert!(api.results().is_empty());
        assert!(!runtime_task.is_finished());

        // -- A delayed first event (the "event long after INIT" case). ------------------------
        let delay = Duration::from_millis(300);
        let pushed_at = Instant::now();
        let delayed = api.push(LocalEvent::json(&json!({ "op": "echo", "n": 0 })).delay(delay));
        let results = api.wait_for_results(1, WAIT).await.expect("delayed result");
        let r = &results[0];
        assert_eq!(r.request_id, delayed);
        assert_eq!(r.reply, Reply::Response);
        assert_eq!(r.json().unwrap(), json!({ "op": "echo", "n": 0 }));
        assert!(
            r.next_requested_at < pushed_at,
            "the /next was already waiting"
        );
        assert!(r.delivered_at - r.next_requested_at >= delay);
        assert!(r.delivered_at - pushed_at >= delay);
        let (entered, left) = handler_times(&delayed);
        assert!(r.next_requested_at <= r.delivered_at);
        assert!(
            r.delivered_at <= entered,
            "delivered before the handler ran"
        );
        assert!(
            entered <= left && left <= r.completed_at,
            "completed after the handler"
        );

        // -- A batch covering responses, errors, panics and context. --------------------------
        let echo = api.push_json(&json!({ "op": "echo", "payload": [1, "two", null] }));
        let fail = api.push_json(&json!({ "op": "fail", "why": "testing" }));
        let panic = api.push_json(&json!({ "op": "panic" }));
        let after_panic = api.push_json(&json!({ "op": "echo", "still": "alive" }));
        let client_context = json!({
            // lambda_runtime requires every `client` field: a partial object fails
            // its parsing of the header, which ends the whole runtime loop.
            "client": {
                "installation_id": "install-1",
                "app_title": "Zoë's app",
                "app_version_name": "1.0",
                "app_version_code": "100",
                "app_package_name": "com.example.app",
            },
            "custom": { "tenant": "acme", "emoji": "🦀" },
            "environment": { "platform": "test" },
        });
        let with_context = api.push(
            LocalEvent::json(&json!({ "op": "context" }))
                .client_context(client_context)
                .request_id("custom-request-id.1"),
        );
        assert_eq!(with_context, "custom-request-id.1");
        let deadline_in = Duration::from_secs(7);
        let with_deadline =
            api.push(LocalEvent::json(&json!({ "op": "context" })).deadline_in(deadline_in));
        let default_deadline = api.push_json(&json!({ "op": "context" }));
        let pushed = [
            &echo,
            &fail,
            &panic,
            &after_panic,
            &with_context,
            &with_deadline,
            &default_deadline,
        ];

        let results = api.wait_for_results(8, WAIT).await.expect("batch results");
        assert_eq!(results.len(), 8);
        let batch = &results[1..];
        // `run` is sequential: completion order is push order.
        let order: Vec<&String> = batch.iter().map(|r| &r.request_id).collect();
        assert_eq!(order, pushed);
        let by_id = |id: &str| batch.iter().find(|r| r.request_id == id).unwrap();

        let r = by_id(&echo);
        assert!(!r.is_error());
        assert_eq!(
            r.json().unwrap(),
            json!({ "op": "echo", "payload": [1, "two", null] })
        );

        let r = by_id(&fail);
        assert!(r.is_error());
        assert_eq!(
            r.reply,
            Reply::Error {
                error_type: "HandlerFailed".to_owned(),
                error_message: "asked to fail: \"testing\"".to_owned(),
            }
        );
        assert_eq!(r.json().unwrap()["errorType"], "HandlerFailed");

        let r = by_id(&panic);
        assert!(r.is_error());
        match &r.reply {
            Reply::Error { error_message, .. } => {
                assert!(error_message.contains("asked to panic"), "{error_message}");
            }
            other => panic!("expected an error, got {other:?}"),
        }

        // The loop survived the panic.
        assert_eq!(
            by_id(&after_panic).json().unwrap(),
            json!({ "op": "echo", "still": "alive" })
        );

        let r = by_id(&with_context).json().unwrap();
        assert_eq!(r["request_id"], "custom-request-id.1");
        assert_eq!(r["client_context"]["client"]["installationId"], "install-1");
        assert_eq!(r["client_context"]["client"]["appTitle"], "Zoë's app");
        assert_eq!(r["client_context"]["custom"]["tenant"], "acme");
        assert_eq!(r["client_context"]["custom"]["emoji"], "🦀");
        assert_eq!(r["client_context"]["environment"]["platform"], "test");
        assert_eq!(
            r["arn"],
            "arn:aws:lambda:us-east-1:000000000000:function:local-api-test"
        );
        assert_eq!(r["function_name"], "local-api-test");
        assert_eq!(r["memory"], 256);
        assert!(r["trace_id"].as_str().unwrap().starts_with("Root=1-"));

        let deadline_left = |id: &str| {
            let r = by_id(id).json().unwrap();
            let deadline = r["deadline_ms"].as_u64().unwrap();
            let now = r["now_ms"].as_u64().unwrap();
            Duration::from_millis(deadline.saturating_sub(now))
        };
        let left = deadline_left(&with_deadline);
        assert!(
            left <= deadline_in && left >= deadline_in - Duration::from_secs(1),
            "deadline ~7 s away, got {left:?}"
        );
        let left = deadline_left(&default_deadline);
        assert!(
            left <= Duration::from_secs(30) && left >= Duration::from_secs(29),
            "default deadline ~30 s away, got {left:?}"
        );
        let left = deadline_left(&with_context);
        assert!(left >= Duration::from_secs(29), "{left:?}");

        for r in batch {
            assert!(r.next_requested_at <= r.delivered_at);
            assert!(r.delivered_at <= r.completed_at);
        }

        // -- Idle again: the runtime waits on /next, no spurious results. ---------------------
        eventually("the runtime polls /next again", || {
            api.pending_next_requests() == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(api.results().len(), 8);
        assert_eq!(api.queued_events(), 0);

        // -- Bad posts are rejected with 400 and recorded nowhere. ----------------------------
        let unknown = send_raw(
            api.addr(),
            &post(&response_path("no-such-request"), r#"{"x":1}"#),
        )
        .await;
        assert_eq!(unknown.status, 400);
        assert_eq!(unknown.json()["errorType"], "InvalidRequestID");
        let again = send_raw(api.addr(), &post(&response_path(&echo), "{}")).await;
        assert_eq!(
            again.status, 400,
            "a completed invocation cannot complete twice"
        );
        assert_eq!(api.results().len(), 8);

        // The runtime is unaffected.
        let last = api.push_json(&json!({ "op": "echo", "last": true }));
        let results = api.wait_for_results(9, WAIT).await.expect("last result");
        assert_eq!(results[8].request_id, last);
        assert_eq!(
            results[8].json().unwrap(),
            json!({ "op": "echo", "last": true })
        );
        assert!(api.init_errors().is_empty());
        assert_eq!(api.restore_next_calls(), 0);
        assert!(!runtime_task.is_finished());

        // -- Shutdown: dropping the emulator ends the client loop with an error. --------------
        eventually("the runtime polls /next before shutdown", || {
            api.pending_next_requests() == 1
        })
        .await;
        drop_completes(api);
        let outcome = tokio::time::timeout(WAIT, runtime_task)
            .await
            .expect("the runtime loop ends once the API is gone")
            .expect("the runtime task did not panic");
        assert!(outcome.is_err(), "lambda_runtime::run reports the lost API");
    });
}

// ---------------------------------------------------------------------------------------------
// Raw protocol tests (no environment)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn next_headers_and_response_round_trip() {
    let api = LocalRuntimeApi::builder()
        .function_name("raw-fn")
        .region("eu-central-1")
        .start()
        .unwrap();
    let id = api.push(
        LocalEvent::new(&b"{\"hello\":\"world\"}"[..])
            .request_id("req-1")
            .client_context(json!({ "custom": { "k": "v" } }))
            .deadline_in(Duration::from_secs(5)),
    );
    assert_eq!(id, "req-1");
    assert_eq!(api.queued_events(), 1);

    let before = epoch_ms();
    let next = send_raw(api.addr(), &get(NEXT)).await;
    assert_eq!(next.status, 200);
    assert_eq!(next.body, b"{\"hello\":\"world\"}");
    assert_eq!(next.header("lambda-runtime-aws-request-id"), Some("req-1"));
    assert_eq!(next.header("content-type"), Some("application/json"));
    assert_eq!(
        next.header("lambda-runtime-invoked-function-arn"),
        Some("arn:aws:lambda:eu-central-1:000000000000:function:raw-fn")
    );
    assert_eq!(
        next.header("lambda-runtime-client-context"),
        Some(r#"{"custom":{"k":"v"}}"#)
    );
    let deadline: u64 = next
        .header("lambda-runtime-deadline-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(deadline >= before + 5_000 && deadline <= epoch_ms() + 5_000);
    assert!(next
        .header("lambda-runtime-trace-id")
        .unwrap()
        .starts_with("Root=1-"));
    assert_eq!(api.queued_events(), 0);

    let ok = send_raw(
        api.addr(),
        &post(&response_path("req-1"), r#"{"answer":42}"#),
    )
    .await;
    assert_eq!(ok.status, 202);
    assert_eq!(ok.json(), json!({ "status": "OK" }));
    let results = api.results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].request_id, "req-1");
    assert_eq!(results[0].json().unwrap(), json!({ "answer": 42 }));
    assert!(!results[0].streaming);

    let dup = send_raw(api.addr(), &post(&response_path("req-1"), "{}")).await;
    assert_eq!(dup.status, 400);
    assert_eq!(api.results().len(), 1);
}

#[tokio::test]
async fn error_posts_streaming_and_trailers() {
    let api = LocalRuntimeApi::start().unwrap();
    let ids: Vec<String> = (0..3).map(|i| api.push_json(&json!({ "i": i }))).collect();
    for _ in 0..3 {
        assert_eq!(send_raw(api.addr(), &get(NEXT)).await.status, 200);
    }

    // An error document.
    let body = r#"{"errorType":"MyError","errorMessage":"boom"}"#;
    let request = format!(
        "POST /2018-06-01/runtime/invocation/{}/error HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Lambda-Runtime-Function-Error-Type: unhandled\r\nContent-Length: {}\r\n\r\n{body}",
        ids[0],
        body.len()
    );
    assert_eq!(send_raw(api.addr(), request.as_bytes()).await.status, 202);

    // A non-JSON error body falls back to the header and the raw text.
    let request = format!(
        "POST /2018-06-01/runtime/invocation/{}/error HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Lambda-Runtime-Function-Error-Type: Custom.Type\r\nContent-Length: 8\r\n\r\nnot json",
        ids[1]
    );
    assert_eq!(send_raw(api.addr(), request.as_bytes()).await.status, 202);

    // A chunked, streamed response ending with an error trailer.
    let request = format!(
        "POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Transfer-Encoding: chunked\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n\
         Trailer: Lambda-Runtime-Function-Error-Type\r\n\r\n\
         5\r\nhello\r\n6\r\n world\r\n0\r\nLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n\r\n",
        ids[2]
    );
    assert_eq!(send_raw(api.addr(), request.as_bytes()).await.status, 202);

    let results = api.wait_for_results(3, WAIT).await.unwrap();
    assert_eq!(results[0].error_type(), Some("MyError"));
    assert_eq!(
        results[0].reply,
        Reply::Error {
            error_type: "MyError".into(),
            error_message: "boom".into()
        }
    );
    assert_eq!(
        results[1].reply,
        Reply::Error {
            error_type: "Custom.Type".into(),
            error_message: "not json".into()
        }
    );
    assert!(results[2].streaming);
    assert_eq!(results[2].body.as_ref(), b"hello world");
    assert_eq!(results[2].error_type(), Some("Runtime.StreamError"));
}

#[tokio::test]
async fn concurrent_next_requests_get_events_fifo() {
    let api = LocalRuntimeApi::start().unwrap();
    let mut first = TcpStream::connect(api.addr()).await.unwrap();
    first.write_all(&get(NEXT)).await.unwrap();
    eventually("first /next pending", || api.pending_next_requests() == 1).await;
    let mut second = TcpStream::connect(api.addr()).await.unwrap();
    second.write_all(&get(NEXT)).await.unwrap();
    eventually("second /next pending", || api.pending_next_requests() == 2).await;

    let a = api.push_json(&json!("a"));
    let b = api.push_json(&json!("b"));
    let first = read_all(&mut first).await;
    let second = read_all(&mut second).await;
    assert_eq!(
        first.header("lambda-runtime-aws-request-id"),
        Some(a.as_str())
    );
    assert_eq!(first.body, b"\"a\"");
    assert_eq!(
        second.header("lambda-runtime-aws-request-id"),
        Some(b.as_str())
    );
    assert_eq!(second.body, b"\"b\"");
    assert_eq!(api.pending_next_requests(), 0);
}

#[tokio::test]
async fn abandoned_next_request_does_not_lose_events() {
    let api = LocalRuntimeApi::start().unwrap();
    let mut gone = TcpStream::connect(api.addr()).await.unwrap();
    gone.write_all(&get(NEXT)).await.unwrap();
    eventually("/next pending", || api.pending_next_requests() == 1).await;
    drop(gone);
    eventually("the abandoned /next is noticed", || {
        api.pending_next_requests() == 0
    })
    .await;

    let id = api.push_json(&json!({ "kept": true }));
    let next = send_raw(api.addr(), &get(NEXT)).await;
    assert_eq!(
        next.header("lambda-runtime-aws-request-id"),
        Some(id.as_str())
    );
}

#[tokio::test]
async fn snapstart_endpoints_and_errors() {
    let api = LocalRuntimeApi::start().unwrap();
    let restore = send_raw(api.addr(), &get("/2018-06-01/runtime/restore/next")).await;
    assert_eq!(restore.status, 200);
    assert!(restore.body.is_empty());
    assert_eq!(api.restore_next_calls(), 1);

    let doc = r#"{"errorType":"Runtime.InitError","errorMessage":"no db"}"#;
    let init = send_raw(api.addr(), &post("/2018-06-01/runtime/init/error", doc)).await;
    assert_eq!(init.status, 202);
    let doc = r#"{"errorType":"Runtime.AfterRestoreError","errorMessage":"stale"}"#;
    let restore = send_raw(api.addr(), &post("/2018-06-01/runtime/restore/error", doc)).await;
    assert_eq!(restore.status, 202);

    let errors = api.init_errors();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].phase, InitPhase::Init);
    assert_eq!(errors[0].error_type, "Runtime.InitError");
    assert_eq!(errors[0].error_message, "no db");
    assert_eq!(errors[1].phase, InitPhase::Restore);
    assert_eq!(errors[1].error_type, "Runtime.AfterRestoreError");
    assert!(api.results().is_empty());
}

/// What `lambda-extension`'s client sends to register (as `lambda_runtime`'s graceful-shutdown
/// helper does: no events), and what it reads back.
#[tokio::test]
async fn extensions_register_wait_and_report_errors() {
    let api = LocalRuntimeApi::builder()
        .function_name("ext-fn")
        .version("3")
        .start()
        .unwrap();
    let addr = api.addr();
    let register = |name: &str, accept: &str, body: &str| {
        format!(
            "POST /2020-01-01/extension/register HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Lambda-Extension-Name: {name}\r\n{accept}Content-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let no_op = send_raw(
        addr,
        &register(
            "no-op",
            "Lambda-Extension-Accept-Feature: accountId\r\n",
            r#"{"events":[]}"#,
        ),
    )
    .await;
    assert_eq!(no_op.status, 200);
    let id = no_op
        .header("lambda-extension-identifier")
        .expect("an identifier")
        .to_owned();
    assert_eq!(
        no_op.json(),
        json!({ "functionName": "ext-fn", "functionVersion": "3", "handler": "bootstrap",
                "accountId": "000000000000" })
    );
    let both = send_raw(
        addr,
        &register("both", "", r#"{"events":["INVOKE","SHUTDOWN"]}"#),
    )
    .await;
    assert_eq!(both.status, 200);
    assert_eq!(both.json().get("accountId"), None);
    assert_ne!(
        both.header("lambda-extension-identifier"),
        Some(id.as_str())
    );

    let extensions = api.extensions();
    assert_eq!(extensions.len(), 2);
    assert_eq!(
        (extensions[0].name.as_str(), extensions[0].id.as_str()),
        ("no-op", id.as_str())
    );
    assert!(extensions[0].events.is_empty());
    assert_eq!(extensions[1].events, ["INVOKE", "SHUTDOWN"]);

    // event/next is held open for a known identifier (and counted), refused for others.
    let next = format!(
        "GET /2020-01-01/extension/event/next HTTP/1.1\r\nHost: localhost\r\n\
         Lambda-Extension-Identifier: {id}\r\n\r\n"
    );
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting.write_all(next.as_bytes()).await.unwrap();
    eventually("the extension's event/next is held", || {
        api.pending_extension_next_requests() == 1
    })
    .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(200), waiting.read(&mut buf)).await;
    assert!(read.is_err(), "event/next must not be answered");
    let unknown = send_raw(addr, &get("/2020-01-01/extension/event/next")).await;
    assert_eq!(unknown.status, 403);
    drop(waiting);
    eventually("a closed event/next is no longer counted", || {
        api.pending_extension_next_requests() == 0
    })
    .await;

    // Errors from a known extension are accepted; the rest as for the Runtime API.
    let error = format!(
        "POST /2020-01-01/extension/init/error HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Lambda-Extension-Identifier: {id}\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(send_raw(addr, error.as_bytes()).await.status, 202);
    let nameless = post("/2020-01-01/extension/register", r#"{"events":[]}"#);
    assert_eq!(send_raw(addr, &nameless).await.status, 400);
    let wrong_method = send_raw(addr, &get("/2020-01-01/extension/register")).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    assert_eq!(
        send_raw(addr, &get("/2020-01-01/extension/other"))
            .await
            .status,
        404
    );
    assert_eq!(api.extensions().len(), 2);
}

#[tokio::test]
async fn malformed_requests_get_4xx_and_the_server_survives() {
    let api = LocalRuntimeApi::start().unwrap();
    let addr = api.addr();

    assert_eq!(send_raw(addr, &get("/")).await.status, 404);
    assert_eq!(
        send_raw(addr, &get("/2018-06-01/runtime/")).await.status,
        404
    );
    assert_eq!(
        send_raw(addr, &get("/2018-06-01/runtime/invocation/x/y/response"))
            .await
            .status,
        404
    );
    let wrong_method = send_raw(addr, &post(NEXT, "{}")).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET"));
    assert_eq!(send_raw(addr, &get(&response_path("x"))).await.status, 405);
    assert_eq!(
        send_raw(addr, &post("/2018-06-01/runtime/invocation//response", ""))
            .await
            .status,
        400
    );

    // Not HTTP at all: hyper answers 400 and closes.
    let garbage = send_raw(addr, b"\x00\x01 hello there\r\n\r\n").await;
    assert_eq!(garbage.status, 400);

    // A body shorter than announced, then a hang-up: no result, no panic.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let id = api.push_json(&json!(1));
    assert_eq!(send_raw(addr, &get(NEXT)).await.status, 200);
    let truncated = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{\"short\"",
        response_path(&id)
    );
    stream.write_all(truncated.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut sink)).await;
    assert!(api.results().is_empty());

    // Still serving, and the invocation can still complete.
    let ok = send_raw(addr, &post(&response_path(&id), "1")).await;
    assert_eq!(ok.status, 202);
    assert_eq!(api.results().len(), 1);
}

#[test]
fn wait_for_results_times_out_without_a_tokio_timer() {
    let api = LocalRuntimeApi::start().unwrap();
    // A runtime without the time driver: the timeout must not depend on it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let started = Instant::now();
    let err = rt
        .block_on(api.wait_for_results(1, Duration::from_millis(100)))
        .unwrap_err();
    // A lower bound, so behaviour rather than speed: the timeout is not cut short.
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(err.expected(), 1);
    assert_eq!(err.received(), 0);
    assert!(err.to_string().contains("0 arrived"), "{err}");

    // Zero results are always there.
    let none = rt
        .block_on(api.wait_for_results(0, Duration::from_millis(1)))
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn wait_for_all_returns_once_every_event_is_answered_and_next_is_asked_for() {
    let api = LocalRuntimeApi::start().unwrap();

    // Pushed, never fetched: what did arrive (nothing) comes back with the error.
    let id = api.push_json(&json!({ "n": 1 }));
    let err = api
        .wait_for_all(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!((err.expected(), err.received()), (1, 0));
    assert!(err.to_string().contains("0 arrived"), "{err}");

    // Answered, but nobody asked for the next event yet: not done.
    let event = send_raw(api.addr(), &get(NEXT)).await;
    assert_eq!(
        event.header("lambda-runtime-aws-request-id"),
        Some(id.as_str())
    );
    let ok = send_raw(api.addr(), &post(&response_path(&id), r#"{"ok":1}"#)).await;
    assert_eq!(ok.status, 202);
    let err = api
        .wait_for_all(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!((err.expected(), err.received()), (1, 1));
    assert!(
        err.to_string().contains("did not ask for its next event"),
        "{err}"
    );

    // The function comes back for more: every result so far.
    let mut next = TcpStream::connect(api.addr()).await.unwrap();
    next.write_all(&get(NEXT)).await.unwrap();
    let results = api.wait_for_all(WAIT).await.expect("answered and idle");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].request_id, id);
    assert_eq!(results[0].json().unwrap(), json!({ "ok": 1 }));
}

#[tokio::test]
async fn dropping_the_api_closes_pending_next_requests() {
    let api = LocalRuntimeApi::start().unwrap();
    let mut stream = TcpStream::connect(api.addr()).await.unwrap();
    stream.write_all(&get(NEXT)).await.unwrap();
    eventually("/next pending", || api.pending_next_requests() == 1).await;

    drop_completes(api);
    let mut buf = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut buf))
        .await
        .expect("the connection is closed promptly");
    // Either a clean EOF or a reset; never an HTTP answer.
    if read.is_ok() {
        assert!(buf.is_empty(), "{:?}", String::from_utf8_lossy(&buf));
    }
}
