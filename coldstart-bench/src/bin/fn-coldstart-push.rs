//! `fn-coldstart-prometheus` as deployed with a push: the recorder installed during INIT and an
//! `AggregatingGateway` pushed from the flush hook, to the URL in `GATEWAY_URL`. Built with
//! feature `push` (http:// only) and `tls` (https:// too) to compare the two binaries' sizes.

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::prometheus::{self, AggregatingGateway};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let handle = prometheus::install()?;
    let url = std::env::var("GATEWAY_URL")?;
    let gateway = AggregatingGateway::new(&url, "fn-coldstart-push")?;
    Coldstart::new()
        .on_flush(move |_| {
            gateway.push_or_report(&handle);
        })
        .run(service_fn(handler))
        .await
}
