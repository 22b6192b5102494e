//! A `lambda_http` handler behind `coldstart::lambda::http::run`, fed an API Gateway HTTP API
//! (v2) request and a warm-up ping through a local Runtime API.
//!
//! ```text
//! cargo run --example lambda_http --features http
//! ```

use coldstart::cold_start_handler;
use coldstart::local::LocalRuntimeApi;
use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};
use serde_json::json;
use std::time::Duration;

/// Greets whoever the path names. The attribute tracks cold/warm, duration and outcome.
#[cold_start_handler(name = "greeter")]
async fn greet(request: Request) -> Result<Response<Body>, Error> {
    let name = request
        .path_parameters_ref()
        .and_then(|params| params.first("name"))
        .unwrap_or("world")
        .to_owned();
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(format!("hello, {name}").into())?)
}

/// An API Gateway HTTP API (payload format 2.0) request for `GET /hello/{name}`.
fn api_gateway_v2(name: &str) -> serde_json::Value {
    json!({
        "version": "2.0",
        "routeKey": "GET /hello/{name}",
        "rawPath": format!("/hello/{name}"),
        "rawQueryString": "",
        "headers": { "host": "example.execute-api.us-east-1.amazonaws.com", "accept": "*/*" },
        "pathParameters": { "name": name },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "example",
            "domainName": "example.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "example",
            "http": {
                "method": "GET",
                "path": format!("/hello/{name}"),
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.0"
            },
            "requestId": "example-request",
            "routeKey": "GET /hello/{name}",
            "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_770_000_000_u64
        },
        "isBase64Encoded": false
    })
}

fn main() -> Result<(), Error> {
    let api = LocalRuntimeApi::builder()
        .function_name("greeter")
        .start()?;
    // SAFETY: no other thread exists yet; the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let results = runtime.block_on(async {
        api.push_json(&json!({ "source": "serverless-plugin-warmup" }));
        api.push_json(&api_gateway_v2("ada"));
        // Polled here rather than spawned: `lambda_http::run`'s future is not always `Send`.
        tokio::select! {
            ended = coldstart::lambda::http::run(service_fn(greet)) => Err(ended.err().unwrap_or_else(|| "the runtime loop ended".into())),
            results = api.wait_for_all(Duration::from_secs(30)) => results.map_err(Error::from),
        }
    })?;
    for result in &results {
        println!("{}", String::from_utf8_lossy(&result.body));
    }
    let first = coldstart::invocation::first_invocation().ok_or("no invocation")?;
    println!(
        "first event: {} (a warm-up ping: {}); the request after it was warm",
        first.start_kind, first.warmup
    );
    Ok(())
}
