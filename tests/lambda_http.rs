//! `coldstart::lambda::http::run` serves a `lambda_http` handler: an API Gateway HTTP API (v2)
//! request reaches it as an `http::Request` and its response goes back in API Gateway's shape,
//! exactly as with `lambda_http::run`; a warm-up ping, which `lambda_http` alone would reject
//! (it is no API Gateway event), is acknowledged without reaching the handler.
#![cfg(feature = "http")]

mod support;

use coldstart::{cold_start_handler, names, StartKind};
use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};
use serde_json::{json, Value};

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
        .body(format!("hello, {name} ({})", request.method()).into())?)
}

fn api_gateway_v2(name: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "GET /hello/{name}",
        "rawPath": format!("/hello/{name}"),
        "rawQueryString": "lang=en",
        "headers": { "host": "abc.execute-api.us-east-1.amazonaws.com", "accept": "*/*" },
        "queryStringParameters": { "lang": "en" },
        "pathParameters": { "name": name },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "abc",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc",
            "http": {
                "method": "GET",
                "path": format!("/hello/{name}"),
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.0"
            },
            "requestId": "req-1",
            "routeKey": "GET /hello/{name}",
            "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_770_000_000_u64
        },
        "isBase64Encoded": false
    })
}

#[test]
fn an_api_gateway_v2_request_and_a_ping_through_lambda_http() {
    support::recorder();
    let api = support::local_api("http");
    let runtime = support::runtime(1);

    // `lambda_http::run`'s future is not `Send` for every handler (a higher-ranked lifetime
    // in `lambda_http`), so it is polled here rather than spawned, as `main` would.
    let results = support::serve_here(
        &runtime,
        &api,
        coldstart::lambda::http::run(service_fn(greet)),
        [
            api_gateway_v2("ada"),
            json!({ "warmer": true }),
            api_gateway_v2("grace"),
        ],
    );
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");

    let response = results[0].json().unwrap();
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["body"], "hello, ada (GET)");
    assert_eq!(response["headers"]["content-type"], "text/plain");
    assert_eq!(
        results[1].json().unwrap(),
        json!({ "warmup": true, "source": "lambda-warmer", "start": "warm" })
    );
    assert_eq!(results[2].json().unwrap()["body"], "hello, grace (GET)");

    assert_eq!(
        coldstart::invocation::first_invocation()
            .unwrap()
            .start_kind,
        StartKind::Cold
    );
    let recorded = support::Recorded::take();
    let greeter = ("handler", "greeter");
    assert_eq!(recorded.counter(names::COLDSTARTS, &[greeter]), 1);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[greeter, ("start", "warm")]),
        1
    );
    assert_eq!(recorded.counter(names::WARMUPS, &[]), 1);
}
