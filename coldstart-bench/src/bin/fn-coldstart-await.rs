//! `fn-coldstart` whose handler waits once (`yield_now`): the worst case for watching the first
//! invocation, whose watchdog thread starts when the handler first waits, here right before the
//! handler resumes. Paired with `fn-coldstart-await-unwatched` (timeout detection off) in
//! BENCHMARKS.md, "Watching the first invocation".

use coldstart::cold_start_handler;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::task::yield_now().await;
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    coldstart::lambda::run(service_fn(handler)).await
}
