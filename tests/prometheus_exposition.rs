//! The Prometheus exposition of every metric the crate records, as `coldstart::prometheus`
//! renders it: a function driven through the local Runtime API with a cold start, warm
//! invocations, an error, a warm-up ping, a lazy static, a budget overrun, a timeout, a failed
//! push, and a re-init. Its
//! names are the ones `coldstart::names::ALL` documents, the same from the first render on, and
//! `promtool check metrics` (Debian's `prometheus` package; `.ci/run` installs it) finds nothing
//! to complain about.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::LocalEvent;
use coldstart::names::{self, MetricKind};
use coldstart::prometheus::{self, Pushgateway};
use coldstart::{cold_start_handler, lazy};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

#[lazy(name = "price-rules")]
static RULES: Vec<u32> = {
    std::thread::sleep(Duration::from_millis(2));
    (0..100).collect()
};

// A 1 ms budget: process start to the end of the first invocation always takes longer.
#[cold_start_handler(name = "exposed", budget = "1ms")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let rules = RULES.len();
    if event.payload["fail"] == true {
        return Err("failed on purpose".into());
    }
    if let Some(ms) = event.payload["sleep_ms"].as_u64() {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Ok(json!({ "rules": rules }))
}

/// The exposition rendered by the first flush (the cold invocation's) and after the last one.
struct Renders {
    first: String,
    last: String,
}

fn renders() -> &'static Renders {
    static RENDERS: OnceLock<Renders> = OnceLock::new();
    RENDERS.get_or_init(drive)
}

fn drive() -> Renders {
    let api = support::local_api("exposed-fn");
    // A re-init: an earlier runtime process of this environment timed out and left its marker
    // in the environment's temporary directory (see `coldstart::reinit`).
    let tmp = std::env::temp_dir().join(format!("coldstart-exposition-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    // SAFETY: once per binary, from the first test to ask; the other test is blocked on the same
    // `OnceLock` or not started, and the emulator's own thread never reads the environment.
    unsafe { std::env::set_var("TMPDIR", &tmp) };
    let stream: String = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME")
        .unwrap()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::fs::write(tmp.join(format!("coldstart-runtime-{stream}")), "timeout 1").unwrap();
    let handle = prometheus::install().expect("first recorder");
    // A gateway nobody listens on: every push fails and is counted in export_failures.
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let gateway = Pushgateway::new(&down, "exposed").unwrap();
    static FIRST: OnceLock<String> = OnceLock::new();
    let hook_handle = handle.clone();
    let runtime = support::runtime(1);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .on_flush(move |_| {
                FIRST.get_or_init(|| hook_handle.render());
                gateway.push_or_report(&hook_handle);
            })
            .run(service_fn(handler)),
        [
            // Cold, builds the lazy static, over budget.
            LocalEvent::json(&json!({ "n": 0 })),
            LocalEvent::json(&json!({ "n": 1 })),
            LocalEvent::json(&json!({ "fail": true })),
            LocalEvent::json(&json!({ "source": "serverless-plugin-warmup" })),
            LocalEvent::json(&json!({ "n": 2 })),
            // Still running 300 ms (the default margin) before its deadline: a timeout.
            LocalEvent::json(&json!({ "n": 3, "sleep_ms": 600 }))
                .deadline_in(Duration::from_millis(700)),
        ],
    );
    assert_eq!(results.iter().filter(|r| r.is_error()).count(), 1);
    Renders {
        first: FIRST.get().expect("the flush hook ran").clone(),
        last: handle.render(),
    }
}

/// The `# TYPE` lines of an exposition: (name, type).
fn types(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            (name.to_owned(), kind.to_owned())
        })
        .collect()
}

#[test]
fn every_metric_is_rendered_under_its_documented_prometheus_name() {
    let Renders { first, last } = renders();
    let rendered = types(last);
    for def in names::ALL {
        let kind = match def.kind {
            MetricKind::Counter => "counter",
            MetricKind::Histogram => "histogram",
            MetricKind::Gauge => "gauge",
        };
        assert!(
            rendered.contains(&(def.prometheus.to_owned(), kind.to_owned())),
            "{} is not rendered as `{} {kind}`:\n{last}",
            def.name,
            def.prometheus
        );
    }
    assert_eq!(rendered.len(), names::ALL.len(), "{last}");
    // The first push already carries the unit suffixes: a series never changes its name.
    let first_types = types(first);
    assert!(
        first_types.contains(&(
            "faas_invoke_duration_seconds".to_owned(),
            "histogram".to_owned()
        )),
        "{first}"
    );
    for entry in &first_types {
        assert!(rendered.contains(entry), "{entry:?} renamed later:\n{last}");
    }
    // The budget overrun, the ping and the failed pushes were all recorded.
    for line in [
        r#"coldstart_budget_exceeded_total{handler="exposed"} 1"#,
        r#"coldstart_warmups_total{source="serverless-plugin-warmup",start="warm"} 1"#,
        r#"faas_coldstarts_total{handler="exposed"} 1"#,
    ] {
        assert!(last.lines().any(|l| l == line), "{line} missing:\n{last}");
    }
}

/// `promtool check metrics` on the whole exposition. `promtool` comes with Debian's
/// `prometheus` package, which `.ci/run` installs.
#[test]
#[ignore = "needs promtool (Debian package prometheus; .ci/run installs it)"]
fn promtool_accepts_the_exposition() {
    let Renders { first, last } = renders();
    for text in [first, last] {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let complaints = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && complaints.trim().is_empty(),
            "promtool check metrics: {:?}\n{complaints}\n{text}",
            out.status
        );
    }
}
