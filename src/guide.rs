//! The guide: everything coldstart measures, how to read it, and how to get it out of a Lambda
//! execution environment, one chapter per topic. Every Rust example in it is compiled (and, where
//! it does not need AWS or a server, run) by `cargo test`.
//!
//! | chapter | read it for |
//! |---|---|
//! | [`lazy_statics`] | `#[lazy]`: what each expensive static cost and who waited; when to prewarm; warming after the first response |
//! | [`start_kinds`] | `cold`, `proactive`, `provisioned`, `snapstart`, `warm`; warm-up pings; payloads the handler never saw |
//! | [`report`] | the cold-start report line, its phases, memory, CPU, cost and budget |
//! | [`lifecycle`] | when metrics leave the environment (after the response), timeouts, overlapping and streamed invocations, shutdown |
//! | [`prometheus`] | pushing to an aggregating gateway or a Pushgateway, the PromQL, recording rules, alerts and a dashboard |
//! | [`cloudwatch_emf`] | metrics as CloudWatch Embedded Metric Format log lines, and their queries |
//! | [`opentelemetry`] | delta metrics to an OpenTelemetry collector, the start kind on the trace |
//! | [`metrics`] | every metric: its name, Prometheus name, kind, unit and labels |
//! | [`local_runs`] | running the function locally under cargo-lambda |
//!
//! To profile a function's cold start on your machine before deploying it, see
//! [`cargo coldstart`](https://github.com/coldstart-rs/coldstart/blob/main/cargo-coldstart/README.md).

pub mod lazy_statics {
    #![doc = include_str!("../docs/lazy_statics.md")]
}

pub mod start_kinds {
    #![doc = include_str!("../docs/start_kinds.md")]
}

pub mod report {
    #![doc = include_str!("../docs/report.md")]
}

pub mod lifecycle {
    #![doc = include_str!("../docs/lifecycle.md")]
}

pub mod prometheus {
    #![doc = include_str!("../docs/prometheus.md")]
}

pub mod cloudwatch_emf {
    #![doc = include_str!("../docs/cloudwatch_emf.md")]
}

pub mod opentelemetry {
    #![doc = include_str!("../docs/opentelemetry.md")]
}

pub mod metrics {
    #![doc = include_str!("../docs/metrics.md")]
}

pub mod local_runs {
    #![doc = include_str!("../docs/local_runs.md")]
}
