//! Quickstart: a real handler, through the real `lambda_runtime` loop, on your machine.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! The example starts a local Lambda Runtime API on loopback (no AWS account needed), does some
//! recognisable INIT work (indexing a product catalog, in a named phase), and then lets `coldstart::lambda::run`
//! (the drop-in for `lambda_runtime::run` that marks the end of INIT right before the runtime
//! loop starts) serve one cold and four warm invocations of a handler annotated with
//! `#[cold_start_handler]`. A `#[lazy]` static (price rules) is built on first use, so the report
//! shows what it cost and that the cold request paid for it. It prints the function's log (the
//! cold-start report's JSON line), what the crate saw, then the Prometheus text exposition.
//!
//! Started with `AWS_LAMBDA_RUNTIME_API` already set, it is just the function (the INIT above,
//! then the runtime loop), so `cargo coldstart` can profile it:
//!
//! ```text
//! echo '{"sku": "SKU-000042"}' > sku.json
//! cargo coldstart profile --example quickstart --event sku.json
//! ```

use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use coldstart::{cold_start_handler, invocation, lazy, report};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// INIT work worth measuring: an in-memory index of 200 000 products.
struct Catalog {
    by_sku: HashMap<String, (String, u32)>,
}

impl Catalog {
    fn load() -> Catalog {
        let by_sku = (0..200_000u32)
            .map(|i| {
                let sku = format!("SKU-{i:06}");
                let name = format!("Product {i} ({})", ["red", "green", "blue"][i as usize % 3]);
                (sku, (name, 100 + (i * 7919) % 10_000))
            })
            .collect();
        Catalog { by_sku }
    }
}

/// Volume discounts by price, built on first use rather than during INIT: the cold-start report
/// says what it cost and which request waited for it.
#[lazy(name = "price-rules")]
static PRICE_RULES: Vec<(u32, u32)> = {
    let mut rules: Vec<(u32, u32)> = (0..50_000u32)
        .map(|i| ((i * 7919) % 1_000_000, i % 15))
        .collect();
    rules.sort_unstable();
    rules
};

/// Looks up a product. The attribute tracks cold/warm, duration and outcome.
#[cold_start_handler(name = "catalog-lookup")]
async fn handler(catalog: &Catalog, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let sku = event.payload["sku"].as_str().ok_or("missing \"sku\"")?;
    let Some((name, cents)) = catalog.by_sku.get(sku) else {
        return Err(format!("unknown sku {sku}").into());
    };
    // The percentage of the highest rule at or below this price (first use: builds the rules).
    let index = PRICE_RULES.partition_point(|(from, _)| *from <= *cents);
    let discount = index.checked_sub(1).map_or(0, |i| PRICE_RULES[i].1);
    Ok(json!({ "sku": sku, "name": name, "price_cents": cents, "discount_pct": discount }))
}

fn main() -> Result<(), Error> {
    // 1. A Runtime API on 127.0.0.1 and the variables lambda_runtime reads, set while this is
    //    still the only thread. When one is already given (on Lambda, or started by
    //    `cargo coldstart profile --example quickstart`), this process is just the function.
    let api = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        None
    } else {
        let api = LocalRuntimeApi::builder()
            .function_name("quickstart")
            .memory_mb(512)
            .start()?;
        // SAFETY: no other thread exists yet; the emulator's own thread never reads the environment.
        unsafe { api.set_env() };
        Some(api)
    };

    // 2. The metrics exporter: a Prometheus recorder rendered on demand (no HTTP server).
    //    Decade buckets keep the printout short and still separate cold from warm.
    let prometheus = coldstart::prometheus::install_with(
        coldstart::prometheus::builder().set_buckets(&[0.0001, 0.001, 0.01, 0.1, 1.0, 10.0])?,
    )?;

    // 3. INIT: the work a request would wait for on a cold start, as a named phase: the report's
    //    timeline shows when it ran and what it cost, and `coldstart.phase_duration` records it
    //    with `phase="load catalog"`.
    let catalog: &'static Catalog = coldstart::phase("load catalog", || {
        let catalog = Catalog::load();
        // Nested: its time is its own, not the outer phase's.
        coldstart::phase("check catalog", || assert!(!catalog.by_sku.is_empty()));
        Box::leak(Box::new(catalog))
    });

    // 4. The runtime loop, exactly as on Lambda. `coldstart::lambda::run` marks the end of INIT
    //    right before the loop asks for the first event (without it: call
    //    `coldstart::mark_init_end()`, then `lambda_runtime::run`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let function = move || {
        Coldstart::new()
            // The seed's target for a simple API: a request should not wait more than
            // 100 ms for a cold start. The report says whether this one did, and why.
            .cold_start_budget(Duration::from_millis(100))
            // Lambda's x86 price in us-east-1 (first tier), so the report's cost is in USD too.
            .price_per_gb_second(0.0000166667)
            .run(service_fn(move |event| handler(catalog, event)))
    };
    let Some(api) = api else {
        return runtime.block_on(function());
    };
    println!("== the function's log (on Lambda: CloudWatch Logs): one JSON line per environment");
    let results = runtime.block_on(async {
        tokio::spawn(function());
        for sku in [
            "SKU-000042",
            "SKU-199999",
            "SKU-000007",
            "SKU-123456",
            "SKU-000001",
        ] {
            api.push_json(&json!({ "sku": sku }));
        }
        api.wait_for_all(Duration::from_secs(30)).await
    })?;

    // 5. What happened.
    println!("\n== invocations (as the Runtime API received them)");
    for (n, result) in results.iter().enumerate() {
        println!(
            "  #{} {} {}",
            n + 1,
            if result.is_error() { "error" } else { "ok   " },
            String::from_utf8_lossy(&result.body)
        );
    }
    println!("\n== the cold-start report as a table (the JSON line above, readable)");
    let report = report::cold_start_report().ok_or("no invocation was tracked")?;
    print!("{report}");
    println!("  invocations: {}", invocation::invocation_count());

    println!("\n== Prometheus text exposition");
    print!("{}", prometheus.render());
    Ok(())
}
