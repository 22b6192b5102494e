//! `prometheus/dashboard.json`, the Grafana dashboard for the aggregating-gateway path: every
//! panel's query run against a REAL Prometheus scraping a REAL gravel-gateway, checked against
//! answers this test works out itself.
//!
//! Needs `COLDSTART_GRAVEL_URL` (a gravel-gateway) and `COLDSTART_PROMETHEUS_URL` (a Prometheus
//! scraping that gateway every second with `honor_labels: true`); a plain `cargo test` skips it
//! (`#[ignore]`). For a local run:
//!
//! ```text
//! gravel-gateway -l 127.0.0.1:4278 &
//! # prometheus.yml: scrape_interval: 1s; one job, honor_labels: true, target 127.0.0.1:4278
//! prometheus --config.file=prometheus.yml --storage.tsdb.path=/tmp/p --web.listen-address=127.0.0.1:9091 &
//! COLDSTART_GRAVEL_URL=http://127.0.0.1:4278 COLDSTART_PROMETHEUS_URL=http://127.0.0.1:9091 \
//!   cargo test --all-features --test prometheus_dashboard -- --ignored --nocapture
//! ```
//!
//! What it pushes (to a job of its own, as text exposition POSTed to `/metrics/job/<job>`): six
//! rounds of increments, a few pushes each, as a fleet's environments push them; round 0 is the
//! job's first push, so every series is born holding its first increments, and two more series
//! are born later (a `snapstart` start in round 3, a budget overrun of a second handler in round
//! 4). After each round the test waits for a scrape that holds it (a gauge pushed last in the
//! round names the round) and notes that scrape's timestamp.
//!
//! How the panels are evaluated:
//! - the bar chart as Grafana runs it: a range query with step = `$__interval` (5 s), over a
//!   range that begins before the first push. Its bars must add up, per start kind, to the
//!   counts pushed in all six rounds, every bar a whole number;
//! - every other panel as an instant query at `T`, the scrape holding round 5, with
//!   `$__rate_interval` = `$__range` = `T - t0` (`t0`: the scrape holding round 0). Both ends of
//!   that window are samples, so `rate()` does not extrapolate: a rate is exactly rounds 1–5's
//!   increments over the window, and a quantile is the one of rounds 1–5's observations.
//!   Quantiles are worked out here with `histogram_quantile`'s interpolation from the buckets
//!   (`coldstart::names::buckets_for`), counts from the rounds pushed.

mod support;

use coldstart::names;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::dashboard::{self, Panel};

/// The bar chart's step (`$__interval`) in this test.
const STEP_S: u64 = 5;
/// The memory size typed into the dashboard's `memory_mb` variable.
const MEMORY_MB: &str = "512";
/// The longest the test waits for any state (a scrape holding a round).
const PATIENCE: Duration = Duration::from_secs(60);
/// The gauge each round pushes last, holding the round's number.
const ROUND_MARKER: &str = "coldstart_dashboard_test_round";
const MIB: f64 = 1024.0 * 1024.0;

type Labels = BTreeMap<String, String>;

// ---------------------------------------------------------------------------------------------
// What is pushed.

#[derive(Clone, Debug)]
enum Increment {
    /// A counter's increment.
    Counter(f64),
    /// A histogram's observations.
    Histogram(Vec<f64>),
}

#[derive(Clone, Debug)]
struct Entry {
    /// The Prometheus name (`names::MetricDef::prometheus`).
    family: &'static str,
    labels: Labels,
    value: Increment,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn counter(family: &'static str, pairs: &[(&str, &str)], increment: u32) -> Entry {
    Entry {
        family,
        labels: labels(pairs),
        value: Increment::Counter(f64::from(increment)),
    }
}

fn histogram(family: &'static str, pairs: &[(&str, &str)], observations: &[f64]) -> Entry {
    Entry {
        family,
        labels: labels(pairs),
        value: Increment::Histogram(observations.to_vec()),
    }
}

/// The pushes of round `r` (0 to 5). Every series but the two born later is pushed in every
/// round (an increment of 0 where nothing happened), as a recorder pushes every registered
/// counter; observations are the same in every round, chosen so that no quantile's rank falls on
/// a bucket's edge.
fn round(r: u32) -> Vec<Vec<Entry>> {
    let is = |x: u32| u32::from(r == x);
    let orders = ("handler", "orders");
    let mut pushes = vec![
        // On-demand environments: their cold first invocations, INIT, phases, lazy statics.
        vec![
            counter("faas_coldstarts_total", &[orders], 1 + is(2)),
            counter(
                "faas_invocations_total",
                &[orders, ("start", "cold")],
                1 + is(2) - is(4),
            ),
            counter(
                "faas_errors_total",
                &[orders, ("start", "cold"), ("outcome", "error")],
                is(4),
            ),
            counter("coldstart_budget_exceeded_total", &[orders], is(0) + is(3)),
            histogram(
                "faas_invoke_duration_seconds",
                &[orders, ("start", "cold")],
                &[0.3, 0.3, 0.6],
            ),
            histogram(
                "faas_init_duration_seconds",
                &[("init_type", "on-demand")],
                &[0.12, 0.12, 0.3],
            ),
            histogram(
                "coldstart_init_gigabyte_seconds",
                &[("init_type", "on-demand")],
                &[0.0625, 0.0625, 0.125],
            ),
            histogram(
                "coldstart_phase_duration_seconds",
                &[
                    ("phase", "load-config"),
                    ("during", "init"),
                    ("outcome", "ok"),
                ],
                &[0.02],
            ),
            histogram(
                "coldstart_phase_duration_seconds",
                &[("phase", "connect"), ("during", "init"), ("outcome", "ok")],
                &[0.3, 0.7],
            ),
            histogram(
                "coldstart_lazy_init_duration_seconds",
                &[("lazy", "db-pool"), ("during", "cold"), ("outcome", "ok")],
                &[0.2],
            ),
            histogram(
                "faas_mem_usage_bytes",
                &[],
                &[100.0 * MIB, 100.0 * MIB, 150.0 * MIB],
            ),
        ],
        // Warm traffic, an error, and in round 2 a timeout.
        vec![
            counter("faas_invocations_total", &[orders, ("start", "warm")], 6),
            counter(
                "faas_errors_total",
                &[orders, ("start", "warm"), ("outcome", "error")],
                1,
            ),
            counter(
                "faas_errors_total",
                &[orders, ("start", "warm"), ("outcome", "timeout")],
                is(2),
            ),
            counter("faas_timeouts_total", &[orders, ("start", "warm")], is(2)),
            histogram(
                "faas_invoke_duration_seconds",
                &[orders, ("start", "warm")],
                &[0.002, 0.002, 0.002, 0.02],
            ),
            histogram(
                "coldstart_lazy_init_duration_seconds",
                &[("lazy", "rules"), ("during", "warm"), ("outcome", "ok")],
                &[0.0004],
            ),
        ],
        // A provisioned environment; in round 4 two failed exports.
        vec![
            counter(
                "faas_invocations_total",
                &[orders, ("start", "provisioned")],
                1,
            ),
            counter(
                "coldstart_export_failures_total",
                &[("exporter", "aggregating-gateway")],
                2 * is(4),
            ),
            histogram(
                "faas_invoke_duration_seconds",
                &[orders, ("start", "provisioned")],
                &[0.04],
            ),
            histogram(
                "faas_init_duration_seconds",
                &[("init_type", "provisioned-concurrency")],
                &[0.04],
            ),
            histogram(
                "coldstart_lazy_init_duration_seconds",
                &[
                    ("lazy", "db-pool"),
                    ("during", "prewarm"),
                    ("outcome", "ok"),
                ],
                &[0.03],
            ),
        ],
    ];
    // Born later: a second handler's SnapStart starts (rounds 3 and 4) and its first budget
    // overrun (round 4). Counters only, so that no rate-based panel has a series born inside
    // its window (rate() would extrapolate it).
    let billing = ("handler", "billing");
    if (3..=4).contains(&r) {
        let mut push = vec![counter(
            "faas_invocations_total",
            &[billing, ("start", "snapstart")],
            1,
        )];
        if r == 4 {
            push.push(counter("coldstart_budget_exceeded_total", &[billing], 1));
        }
        pushes.push(push);
    }
    pushes
}

const ROUNDS: u32 = 6;

fn def(family: &str) -> &'static names::MetricDef {
    names::ALL
        .iter()
        .find(|def| def.prometheus == family)
        .unwrap_or_else(|| panic!("{family} is not in coldstart::names::ALL"))
}

fn bounds(family: &str) -> &'static [f64] {
    names::buckets_for(def(family).name).expect("a histogram")
}

fn render_labels(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// One push as text exposition: increments, as a client pushing to an aggregating gateway sends.
fn exposition(push: &[Entry]) -> String {
    let mut text = String::new();
    let mut typed: Vec<&str> = Vec::new();
    for entry in push {
        let kind = def(entry.family).kind;
        assert_eq!(
            kind.as_str(),
            match entry.value {
                Increment::Counter(_) => "counter",
                Increment::Histogram(_) => "histogram",
            }
        );
        if !typed.contains(&entry.family) {
            text += &format!("# TYPE {} {}\n", entry.family, kind.as_str());
            typed.push(entry.family);
        }
        match &entry.value {
            Increment::Counter(v) => {
                text += &format!(
                    "{}{} {v}\n",
                    entry.family,
                    render_labels(&entry.labels, None)
                );
            }
            Increment::Histogram(obs) => {
                for bound in bounds(entry.family) {
                    let n = obs.iter().filter(|o| *o <= bound).count();
                    let l = render_labels(&entry.labels, Some(("le", bound.to_string())));
                    text += &format!("{}_bucket{l} {n}\n", entry.family);
                }
                let l = render_labels(&entry.labels, Some(("le", "+Inf".to_owned())));
                text += &format!("{}_bucket{l} {}\n", entry.family, obs.len());
                let l = render_labels(&entry.labels, None);
                text += &format!("{}_sum{l} {}\n", entry.family, obs.iter().sum::<f64>());
                text += &format!("{}_count{l} {}\n", entry.family, obs.len());
            }
        }
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The answers, worked out from what was pushed.

/// Every entry of `families` in rounds `rounds` that `keep` accepts.
fn entries<'a>(
    pushed: &'a [Vec<Vec<Entry>>],
    rounds: std::ops::RangeInclusive<usize>,
    families: &'a [&str],
) -> impl Iterator<Item = (usize, &'a Entry)> + 'a {
    pushed[rounds.clone()]
        .iter()
        .zip(rounds)
        .flat_map(|(pushes, r)| pushes.iter().flatten().map(move |e| (r, e)))
        .filter(move |(_, e)| families.contains(&e.family))
}

fn key(labels: &Labels, by: &[&str]) -> Vec<String> {
    by.iter()
        .map(|l| labels.get(*l).cloned().unwrap_or_default())
        .collect()
}

/// `sum by (by)` of the counters' increments in `rounds`.
fn counts(
    pushed: &[Vec<Vec<Entry>>],
    rounds: std::ops::RangeInclusive<usize>,
    families: &[&str],
    by: &[&str],
    keep: impl Fn(&Labels) -> bool,
) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for (_, e) in entries(pushed, rounds, families).filter(|(_, e)| keep(&e.labels)) {
        if let Increment::Counter(v) = e.value {
            *out.entry(key(&e.labels, by)).or_insert(0.0) += v;
        }
    }
    out
}

/// `sum by (by)` of the histograms' sums in `rounds`.
fn sums(
    pushed: &[Vec<Vec<Entry>>],
    rounds: std::ops::RangeInclusive<usize>,
    family: &str,
    by: &[&str],
) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for (_, e) in entries(pushed, rounds, &[family]) {
        if let Increment::Histogram(obs) = &e.value {
            *out.entry(key(&e.labels, by)).or_insert(0.0) += obs.iter().sum::<f64>();
        }
    }
    out
}

/// `histogram_quantile(q, sum by (le, by) (...))` of the observations in `rounds`, with
/// Prometheus' interpolation inside the bucket that holds the rank.
fn quantiles(
    pushed: &[Vec<Vec<Entry>>],
    rounds: std::ops::RangeInclusive<usize>,
    q: f64,
    family: &str,
    by: &[&str],
) -> BTreeMap<Vec<String>, f64> {
    let mut grouped: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
    for (_, e) in entries(pushed, rounds, &[family]) {
        if let Increment::Histogram(obs) = &e.value {
            grouped.entry(key(&e.labels, by)).or_default().extend(obs);
        }
    }
    grouped
        .into_iter()
        .map(|(k, obs)| (k, histogram_quantile(q, bounds(family), &obs)))
        .collect()
}

fn histogram_quantile(q: f64, bounds: &[f64], obs: &[f64]) -> f64 {
    let cumulative: Vec<f64> = bounds
        .iter()
        .map(|b| obs.iter().filter(|o| *o <= b).count() as f64)
        .collect();
    let rank = q * obs.len() as f64;
    assert!(
        cumulative.iter().all(|c| (c - rank).abs() > 1e-6),
        "rank {rank} on a bucket's edge: Prometheus' float rates could land on either side"
    );
    let b = cumulative
        .iter()
        .position(|c| *c >= rank)
        .expect("no observation in +Inf only");
    let (start, below) = if b == 0 {
        (0.0, 0.0)
    } else {
        (bounds[b - 1], cumulative[b - 1])
    };
    start + (bounds[b] - start) * (rank - below) / (cumulative[b] - below)
}

// ---------------------------------------------------------------------------------------------
// HTTP: the gateway and Prometheus' API (HTTP/1.0, so no body is chunked).

fn authority(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

/// Sends `request` (without the Host line) and returns the status code and the body.
fn http(url: &str, request_line: &str, headers: &str, body: &str) -> (u16, String) {
    let host = authority(url);
    let mut stream = TcpStream::connect(host).unwrap_or_else(|err| panic!("{url}: {err}"));
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "{request_line} HTTP/1.0\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    (status, body)
}

fn push(gravel: &str, job: &str, text: &str) {
    let (status, body) = http(
        gravel,
        &format!("POST /metrics/job/{job}"),
        "Content-Type: text/plain; version=0.0.4\r\n",
        text,
    );
    assert_eq!(
        status, 200,
        "gravel-gateway refused the push ({body}); a family pushed before under other label \
         names (by any job) makes it refuse:\n{text}"
    );
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn api(prometheus: &str, what: &str) -> Value {
    let (status, body) = http(prometheus, &format!("GET /api/v1/{what}"), "", "");
    let answer: Value =
        serde_json::from_str(&body).unwrap_or_else(|err| panic!("{what}: {err}: {status} {body}"));
    assert_eq!(answer["status"], "success", "{what}\n{answer}");
    answer["data"].clone()
}

fn labels_of(series: &Value) -> Labels {
    series["metric"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn number(text: &Value) -> f64 {
    match text.as_str().unwrap() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap(),
    }
}

/// Seconds with milliseconds, as Prometheus' API takes a time.
fn at(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// An instant query at `ms` (Unix milliseconds).
fn query(prometheus: &str, promql: &str, ms: i64) -> Vec<(Labels, f64)> {
    let data = api(
        prometheus,
        &format!("query?query={}&time={}", percent_encode(promql), at(ms)),
    );
    data["result"]
        .as_array()
        .unwrap_or_else(|| panic!("not an instant vector: {data}\n{promql}"))
        .iter()
        .map(|s| (labels_of(s), number(&s["value"][1])))
        .collect()
}

/// A range query, as Grafana runs a time series panel.
fn query_range(
    prometheus: &str,
    promql: &str,
    start_ms: i64,
    end_ms: i64,
    step_s: u64,
) -> Vec<(Labels, Vec<f64>)> {
    let data = api(
        prometheus,
        &format!(
            "query_range?query={}&start={}&end={}&step={step_s}",
            percent_encode(promql),
            at(start_ms),
            at(end_ms)
        ),
    );
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let values = s["values"].as_array().unwrap();
            (labels_of(s), values.iter().map(|p| number(&p[1])).collect())
        })
        .collect()
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The timestamp (Unix ms) of a scrape holding round `r`'s marker, waiting for one.
fn scraped(prometheus: &str, job: &str, r: u32) -> i64 {
    // `timestamp()` of the selector itself: of an expression (`x == r`) it is the evaluation's.
    let marker = format!(r#"{ROUND_MARKER}{{job="{job}"}}"#);
    let promql = format!("timestamp({marker}) and on (job) ({marker} == {r})");
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some((_, seconds)) = query(prometheus, &promql, unix_ms()).first() {
            return (seconds * 1000.0).round() as i64;
        }
        assert!(
            Instant::now() < deadline,
            "after {PATIENCE:?} Prometheus holds no scrape of round {r} of {job}: does it \
             scrape the gateway every second?"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing.

fn close(got: f64, expected: f64) -> bool {
    (got - expected).abs() <= 1e-9 * expected.abs().max(1e-9)
}

/// Asserts that `got` (one query's answer) holds exactly the series of `expected`, keyed by the
/// values of the labels `by`, each value within float rounding of the expected one.
fn assert_answer(
    what: &str,
    got: &[(Labels, f64)],
    by: &[&str],
    expected: &BTreeMap<Vec<String>, f64>,
) {
    let got: BTreeMap<Vec<String>, f64> = got.iter().map(|(l, v)| (key(l, by), *v)).collect();
    let keys_match = got.keys().eq(expected.keys());
    let values_match = keys_match && got.iter().all(|(k, v)| close(*v, expected[k]));
    assert!(
        values_match,
        "{what}\n  got      {got:?}\n  expected {expected:?}"
    );
    eprintln!("ok: {what}: {got:?}");
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// Checked in every `cargo test`: the dashboard is what the live test below expects it to be,
/// and it names only metrics and labels coldstart records.
#[test]
fn the_dashboard_names_only_coldstarts_metrics_and_known_variables() {
    let model = dashboard::model();
    let variables: Vec<&str> = model["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "job", "memory_mb"]);
    let job = &model["templating"]["list"][1];
    assert_eq!(
        job["definition"],
        "label_values(faas_invocations_total, job)"
    );
    assert_eq!(model["templating"]["list"][0]["query"], "prometheus");

    let panels = dashboard::panels(&[
        ("job", "j"),
        ("__interval", "1m"),
        ("__rate_interval", "1m"),
        ("__range", "1h"),
        ("memory_mb", "512"),
    ]);
    assert_eq!(panels.len(), 10);
    for panel in &panels {
        assert!(
            !panel.description.is_empty(),
            "{}: no description",
            panel.title
        );
        for target in &panel.targets {
            // Every faas_*/coldstart_* name is a metric of names::ALL (histograms with their
            // _bucket/_sum/_count suffix).
            for word in target
                .expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("faas_") || w.starts_with("coldstart_"))
            {
                let known = names::ALL.iter().any(|def| {
                    word == def.prometheus
                        || ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| word == format!("{}{suffix}", def.prometheus))
                });
                assert!(known, "{}: {word} is not a coldstart metric", panel.title);
            }
            let names_a_metric =
                target.expr.contains("faas_") || target.expr.contains("coldstart_");
            assert!(
                !names_a_metric || target.expr.contains(r#"job="j""#),
                "{}: every query of a metric is for the chosen job: {}",
                panel.title,
                target.expr
            );
        }
    }
    assert_eq!(panels.iter().filter(|p| p.bars).count(), 1);
}

#[test]
#[ignore = "needs COLDSTART_GRAVEL_URL and COLDSTART_PROMETHEUS_URL (a gravel-gateway and a \
            Prometheus scraping it every second; .ci/run starts both)"]
fn every_panel_answers_right_against_a_real_prometheus() {
    let gravel = std::env::var("COLDSTART_GRAVEL_URL").expect("COLDSTART_GRAVEL_URL");
    let prometheus = std::env::var("COLDSTART_PROMETHEUS_URL").expect("COLDSTART_PROMETHEUS_URL");
    let job = format!("coldstart-dashboard-{}-{}", std::process::id(), unix_ms());

    // Prometheus has scraped the gateway before the range begins (the bar chart counts a series
    // born in its first bar only if the gateway was scraped fine just before).
    let deadline = Instant::now() + PATIENCE;
    while query(&prometheus, "max(up) == 1", unix_ms()).is_empty() {
        assert!(Instant::now() < deadline, "Prometheus has no `up` == 1");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    // The bar chart's range: its first bar covers (range_start - step, range_start], which
    // begins before the first push.
    let range_start = unix_ms() + STEP_S as i64 * 1000;

    let pushed: Vec<Vec<Vec<Entry>>> = (0..ROUNDS).map(round).collect();
    let mut scrapes = Vec::new();
    for (r, pushes) in (0..ROUNDS).zip(&pushed) {
        if r > 0 {
            // Rounds a few seconds apart, so that the bars see them in different steps.
            std::thread::sleep(Duration::from_secs(3));
        }
        for entries in pushes {
            push(&gravel, &job, &exposition(entries));
        }
        push(
            &gravel,
            &job,
            &format!("# TYPE {ROUND_MARKER} gauge\n{ROUND_MARKER} {r}\n"),
        );
        scrapes.push(scraped(&prometheus, &job, r));
    }
    let (t0, t_end) = (scrapes[0], *scrapes.last().unwrap());
    let window = format!("{}ms", t_end - t0);
    eprintln!("job {job}: scrapes of the rounds at {scrapes:?}; window {window}");

    // The bar chart's range ends on a step at or after the last round's scrape; wait until it
    // is in the past.
    let step_ms = STEP_S as i64 * 1000;
    let range_end = range_start + ((t_end - range_start) / step_ms + 1) * step_ms;
    while unix_ms() < range_end + 1000 {
        std::thread::sleep(Duration::from_millis(200));
    }

    let interval = format!("{STEP_S}s");
    let panels = dashboard::panels(&[
        ("job", &job),
        ("__interval", &interval),
        ("__rate_interval", &window),
        ("__range", &window),
        ("memory_mb", MEMORY_MB),
    ]);
    let all = 0..=ROUNDS as usize - 1;
    let window_rounds = 1..=ROUNDS as usize - 1;
    let inv_err = ["faas_invocations_total", "faas_errors_total"];
    let mut checked = 0;
    for Panel {
        title,
        targets,
        bars,
        ..
    } in &panels
    {
        let answer = |i: usize| query(&prometheus, &targets[i].expr, t_end);
        match title.as_str() {
            "Starts by start kind" => {
                assert!(bars);
                let expected = counts(&pushed, all.clone(), &inv_err, &["start"], |l| {
                    l["start"] != "warm"
                });
                assert_eq!(
                    expected.get(&vec!["snapstart".to_owned()]),
                    Some(&2.0),
                    "the model holds the series born in round 3"
                );
                let series = query_range(
                    &prometheus,
                    &targets[0].expr,
                    range_start,
                    range_end,
                    STEP_S,
                );
                let mut totals = Vec::new();
                for (labels, values) in &series {
                    for v in values {
                        assert!(
                            *v >= 0.0 && (v - v.round()).abs() < 1e-9,
                            "{title}: a bar of {v} for {labels:?}: {values:?}"
                        );
                    }
                    totals.push((labels.clone(), values.iter().sum::<f64>()));
                    eprintln!("bars {labels:?}: {values:?}");
                }
                assert_answer(
                    &format!("{title}: the bars add up"),
                    &totals,
                    &["start"],
                    &expected,
                );
                // For comparison (printed, not asserted): the same bars with increase() and
                // with a plain offset difference.
                let selector = format!(
                    r#"{{__name__=~"faas_invocations_total|faas_errors_total", job="{job}", start!="warm"}}"#
                );
                for other in [
                    format!("sum by (start) (increase({selector}[{interval}]))"),
                    format!("sum by (start) ({selector}) - sum by (start) ({selector} offset {interval})"),
                ] {
                    let bars = query_range(&prometheus, &other, range_start, range_end, STEP_S);
                    let sums: Vec<(String, f64)> = bars
                        .iter()
                        .map(|(l, v)| {
                            (
                                l.get("start").cloned().unwrap_or_default(),
                                v.iter().filter(|v| !v.is_nan()).sum(),
                            )
                        })
                        .collect();
                    eprintln!("for comparison, {other}: bars add up to {sums:?} (true: {expected:?})");
                }
            }
            "Cold-start ratio" => {
                let cold = counts(
                    &pushed,
                    window_rounds.clone(),
                    &["faas_coldstarts_total"],
                    &["handler"],
                    |_| true,
                );
                let every = counts(
                    &pushed,
                    window_rounds.clone(),
                    &inv_err,
                    &["handler"],
                    |_| true,
                );
                let expected = cold
                    .iter()
                    .map(|(k, c)| (k.clone(), c / every[k]))
                    .collect();
                assert_answer(title, &answer(0), &["handler"], &expected);
            }
            "Invoke duration p50 and p99 by start kind" => {
                for (i, q) in [(0, 0.5), (1, 0.99)] {
                    let expected = quantiles(
                        &pushed,
                        window_rounds.clone(),
                        q,
                        "faas_invoke_duration_seconds",
                        &["start"],
                    );
                    assert_answer(&format!("{title}: {q}"), &answer(i), &["start"], &expected);
                }
            }
            "INIT duration p99 by init type" => {
                let expected = quantiles(
                    &pushed,
                    window_rounds.clone(),
                    0.99,
                    "faas_init_duration_seconds",
                    &["init_type"],
                );
                assert_answer(title, &answer(0), &["init_type"], &expected);
            }
            "Start-up phases p99" => {
                let expected = quantiles(
                    &pushed,
                    window_rounds.clone(),
                    0.99,
                    "coldstart_phase_duration_seconds",
                    &["phase"],
                );
                assert_answer(title, &answer(0), &["phase"], &expected);
            }
            "Lazy statics p99" => {
                let by = ["lazy", "during"];
                let expected = quantiles(
                    &pushed,
                    window_rounds.clone(),
                    0.99,
                    "coldstart_lazy_init_duration_seconds",
                    &by,
                );
                assert_eq!(expected.len(), 3);
                assert_answer(title, &answer(0), &by, &expected);
            }
            "Memory used (p99) vs configured size" => {
                let expected = quantiles(
                    &pushed,
                    window_rounds.clone(),
                    0.99,
                    "faas_mem_usage_bytes",
                    &[],
                );
                assert_answer(&format!("{title}: p99"), &answer(0), &[], &expected);
                let size = BTreeMap::from([(vec![], 512.0 * MIB)]);
                assert_answer(&format!("{title}: size"), &answer(1), &[], &size);
            }
            "INIT cost (GB-s)" => {
                let expected = sums(
                    &pushed,
                    window_rounds.clone(),
                    "coldstart_init_gigabyte_seconds",
                    &["init_type"],
                );
                assert_eq!(expected[&vec!["on-demand".to_owned()]], 1.25);
                assert_answer(title, &answer(0), &["init_type"], &expected);
            }
            "Timeouts and budget overruns" => {
                let timeouts = counts(
                    &pushed,
                    window_rounds.clone(),
                    &["faas_timeouts_total"],
                    &["handler"],
                    |_| true,
                );
                assert_answer(
                    &format!("{title}: timeouts"),
                    &answer(0),
                    &["handler"],
                    &timeouts,
                );
                // orders' overrun of round 3, and billing's, born in round 4, whole.
                let overruns = counts(
                    &pushed,
                    window_rounds.clone(),
                    &["coldstart_budget_exceeded_total"],
                    &["handler"],
                    |_| true,
                );
                assert_eq!(overruns.len(), 2);
                assert_answer(
                    &format!("{title}: over budget"),
                    &answer(1),
                    &["handler"],
                    &overruns,
                );
            }
            "Export failures" => {
                let expected = counts(
                    &pushed,
                    window_rounds.clone(),
                    &["coldstart_export_failures_total"],
                    &["exporter"],
                    |_| true,
                );
                assert_answer(title, &answer(0), &["exporter"], &expected);
            }
            other => panic!("panel {other:?} has no expected answer here: every panel is run"),
        }
        checked += 1;
    }
    assert_eq!(checked, panels.len());
}
