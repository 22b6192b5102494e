//! The step the OpenTelemetry tests share: coldstart's recorder over a provider, and a function
//! whose flush hook exports after every response, served a list of events.

use coldstart::lambda::Coldstart;
use coldstart::local::{InvocationResult, LocalRuntimeApi};
use coldstart::otel::{self, OtelFlush};
use lambda_runtime::{Error, LambdaEvent};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// Installs coldstart's OpenTelemetry recorder over `provider` (once per test process), runs
/// `handler` under `coldstart::lambda` with a flush hook calling `flush_or_report` (a failed export
/// is counted, never raised), queues `events` on `api`, and returns the flush handle and every
/// result, in order.
pub fn serve_flushing<H, F>(
    api: &LocalRuntimeApi,
    provider: &SdkMeterProvider,
    handler: H,
    events: &[Value],
) -> (Arc<OtelFlush>, Vec<InvocationResult>)
where
    H: Fn(LambdaEvent<Value>) -> F + Send + 'static,
    F: Future<Output = Result<Value, Error>> + Send + 'static,
{
    let flush = Arc::new(otel::install(provider).expect("the only recorder"));
    let hook = flush.clone();
    let runtime = super::runtime(2);
    let results = super::serve(
        &runtime,
        api,
        Coldstart::new()
            // Every flush is waited for, however slow the machine: one left behind at the
            // default 300 ms bound would have the next one skipped (one export fewer).
            .flush_timeout(super::PATIENCE)
            .on_flush(move |_| {
                hook.flush_or_report();
            })
            .run(lambda_runtime::service_fn(handler)),
        events.iter().cloned(),
    );
    (flush, results)
}
