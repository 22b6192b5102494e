//! `fn-coldstart-await` with timeout detection off (`timeout_margin(Duration::ZERO)`): no
//! watchdog, so no thread is started before the first response.

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::task::yield_now().await;
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    Coldstart::new()
        .timeout_margin(Duration::ZERO)
        .run(service_fn(handler))
        .await
}
