//! `fn-coldstart` with `coldstart::prometheus::install()` during INIT, as the README's Prometheus
//! section sets it up, without a push (`fn-coldstart-push` adds the push from the flush hook): the
//! row for coldstart's own recorder setup on the cold path. Built with feature `push`.

use coldstart::cold_start_handler;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let _handle = coldstart::prometheus::install()?;
    coldstart::lambda::run(service_fn(handler)).await
}
