//! The README's PromQL recipes, run against a REAL Prometheus scraping a REAL Pushgateway, fed by
//! four function processes (execution environments) with known starts and counts. `.ci/run`
//! starts both servers (Debian packages, loopback, Prometheus scraping the gateway every second
//! with `honor_labels: true`) and exports `COLDSTART_PUSHGATEWAY_URL` and
//! `COLDSTART_PROMETHEUS_URL`; a plain `cargo test` skips this (`#[ignore]`).
//!
//! Each environment is this test binary run again as a child process (`environment_process`,
//! which does nothing unless `COLDSTART_RECIPES_ENV` describes an environment): its own local
//! Runtime API, its own Prometheus recorder, the real `lambda_runtime` loop, and a
//! `Pushgateway::push` from the flush hook after every invocation.
//!
//! Timeline (two windows are queried at the end, both asserted):
//! - phase 1: `a` (on-demand: cold, over its budget, 2 warm, 1 error) and `b` (provisioned, its
//!   lazy static prewarmed, then 1 warm);
//! - `t1`, after Prometheus has scraped all of phase 1;
//! - phase 2: `a` 3 warm + 2 warm-up pings, `b` 2 warm, and two new environments: `c`
//!   (on-demand: cold, 1 warm) and `d` (on-demand, first event 400 ms after INIT: proactive, 1 warm);
//! - `t2`, after Prometheus has scraped all of phase 2.
//!
//! The window `(t1, t2]` holds phase 2 only: series born before it (`a`, `b`) and in it (`c`, `d`).
//! The 5-minute window holds everything.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::LocalEvent;
use coldstart::prometheus::{self, Pushgateway};
use coldstart::{cold_start_handler, lazy};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ENV_VAR: &str = "COLDSTART_RECIPES_ENV";
const PHASE_DONE: &str = "COLDSTART-RECIPES-PHASE-DONE";
const ENV_DONE: &str = "COLDSTART-RECIPES-ENV-DONE";

#[lazy(prewarm, name = "catalog")]
static CATALOG: Vec<u32> = {
    std::thread::sleep(Duration::from_millis(40));
    (0..1000).collect()
};

#[cold_start_handler(name = "orders", budget = "500ms")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let items = CATALOG.len();
    let sleep = event.payload["sleep_ms"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(sleep)).await;
    if event.payload["fail"] == true {
        return Err("failed on purpose".into());
    }
    Ok(json!({ "items": items }))
}

// ---------------------------------------------------------------------------------------------
// One execution environment (a child process).

/// `init_ms=300;events=s350,s6,f,|,p` — events: `s<ms>` an invocation sleeping `<ms>`,
/// `f` a failing one (15 ms), `p` a serverless-plugin-warmup ping, `d<ms>` a delay before the next
/// event, `|` the end of a phase (wait for every result, say so, wait for a line on stdin).
struct Spec {
    init: Duration,
    events: Vec<String>,
}

impl Spec {
    fn parse(text: &str) -> Spec {
        let fields: BTreeMap<&str, &str> = text
            .split(';')
            .map(|field| field.split_once('=').expect("key=value"))
            .collect();
        Spec {
            init: Duration::from_millis(fields["init_ms"].parse().unwrap()),
            events: fields["events"].split(',').map(str::to_owned).collect(),
        }
    }
}

#[test]
#[ignore = "a child process of readme_recipes_answer_right_against_a_real_prometheus"]
fn environment_process() {
    let Ok(spec) = std::env::var(ENV_VAR) else {
        return; // run by `--ignored` without being a child: nothing to do
    };
    let spec = Spec::parse(&spec);
    let url = std::env::var("COLDSTART_PUSHGATEWAY_URL").expect("the gateway URL");
    let job = std::env::var("COLDSTART_RECIPES_JOB").expect("the job");
    let api = support::local_api("orders");
    std::thread::sleep(spec.init); // the function's own INIT work
    let handle = prometheus::install().expect("first recorder");
    // The default instance: this environment's log stream name, unique to it.
    let gateway = Pushgateway::new(&url, &job)
        .unwrap()
        .timeout(Duration::from_secs(2));
    let runtime = support::runtime(2);
    runtime.block_on(async {
        tokio::spawn(
            Coldstart::new()
                .on_flush(move |_| gateway.push(&handle).expect("the gateway accepts the push"))
                .run(service_fn(handler)),
        );
        let mut delay = Duration::ZERO;
        for event in &spec.events {
            let (kind, ms) = event.split_at(1);
            let ms: u64 = ms.parse().unwrap_or(0);
            let payload = match kind {
                "|" => {
                    api.wait_for_all(Duration::from_secs(30))
                        .await
                        .expect("the phase's results");
                    println!("{PHASE_DONE}");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).unwrap();
                    continue;
                }
                "d" => {
                    delay = Duration::from_millis(ms);
                    continue;
                }
                "s" => json!({ "sleep_ms": ms }),
                "f" => json!({ "sleep_ms": 15, "fail": true }),
                "p" => json!({ "source": "serverless-plugin-warmup" }),
                other => panic!("unknown event {other:?}"),
            };
            api.push(LocalEvent::json(&payload).delay(std::mem::take(&mut delay)));
        }
        api.wait_for_all(Duration::from_secs(30))
            .await
            .expect("every result");
    });
    // The flush hook of the last invocation may still be pushing.
    std::thread::sleep(Duration::from_millis(500));
    println!("{ENV_DONE}");
}

// ---------------------------------------------------------------------------------------------
// The driver.

struct Environment {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    name: &'static str,
}

impl Environment {
    fn start(job: &str, name: &'static str, init_type: &str, init_ms: u64, events: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["environment_process", "--exact", "--ignored", "--nocapture"])
            .env(ENV_VAR, format!("init_ms={init_ms};events={events}"))
            .env("COLDSTART_RECIPES_JOB", job)
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", init_type)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test binary runs again");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Environment {
            stdin: child.stdin.take(),
            child,
            lines,
            name,
        }
    }

    fn wait_for(&self, marker: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line == marker => return,
                Ok(_) => {}
                Err(err) => panic!("environment {} never said {marker}: {err}", self.name),
            }
        }
    }

    fn next_phase(&mut self) {
        writeln!(self.stdin.as_mut().unwrap()).unwrap();
    }

    fn finish(mut self) {
        self.wait_for(ENV_DONE);
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "environment {}: {status}", self.name);
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
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

/// One answer of an instant query: each series' labels and value.
type Answer = Vec<(BTreeMap<String, String>, f64)>;

/// `GET /api/v1/query?query=…&time=…` (HTTP/1.0, so the body is not chunked).
fn query(prometheus: &str, promql: &str, at: f64) -> Answer {
    let authority = prometheus
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("Prometheus is reachable");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/query?query={}&time={at:.3} HTTP/1.0\r\nHost: {authority}\r\n\r\n",
        percent_encode(promql)
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = &response[response.find("\r\n\r\n").expect("a response") + 4..];
    let answer: Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(answer["status"], "success", "{promql}\n{answer}");
    answer["data"]["result"]
        .as_array()
        .expect("an instant vector")
        .iter()
        .map(|series| {
            let labels = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let value = series["value"][1].as_str().unwrap().parse().unwrap();
            (labels, value)
        })
        .collect()
}

/// The README's recipes: `<!-- recipe: name -->` followed by a `promql` block.
fn readme_recipes() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut recipes = BTreeMap::new();
    for (at, _) in readme.match_indices("<!-- recipe: ") {
        let rest = &readme[at + "<!-- recipe: ".len()..];
        let name = &rest[..rest.find(" -->").unwrap()];
        let block = &rest[rest.find("```promql\n").expect("a promql block") + 10..];
        let promql = &block[..block.find("\n```").unwrap()];
        recipes.insert(name.to_owned(), promql.to_owned());
    }
    recipes
}

/// `(label value, answer)` pairs of a single-label answer, sorted.
fn by(answer: &Answer, label: &str) -> Vec<(String, f64)> {
    let mut pairs: Vec<(String, f64)> = answer
        .iter()
        .map(|(labels, value)| (labels.get(label).cloned().unwrap_or_default(), *value))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

fn single(answer: &Answer) -> f64 {
    assert_eq!(answer.len(), 1, "{answer:?}");
    answer[0].1
}

fn within(value: f64, low: f64, high: f64, what: &str) {
    assert!(
        value > low && value <= high,
        "{what}: {value} not in ({low}, {high}]"
    );
}

#[test]
#[ignore = "needs Prometheus scraping a Pushgateway (COLDSTART_PROMETHEUS_URL, COLDSTART_PUSHGATEWAY_URL; .ci/run starts both)"]
fn readme_recipes_answer_right_against_a_real_prometheus() {
    let prometheus = std::env::var("COLDSTART_PROMETHEUS_URL")
        .expect("COLDSTART_PROMETHEUS_URL (.ci/run sets it)");
    std::env::var("COLDSTART_PUSHGATEWAY_URL")
        .expect("COLDSTART_PUSHGATEWAY_URL (.ci/run sets it)");
    let recipes = readme_recipes();
    let job = format!("recipes-{}-{}", std::process::id(), unix_now() as u64);

    // Phase 1.
    let mut a = Environment::start(
        &job,
        "a",
        "on-demand",
        300,
        "s600,s15,s15,f,|,s15,s15,s15,p,p",
    );
    let mut b = Environment::start(
        &job,
        "b",
        "provisioned-concurrency",
        150,
        "d300,s300,s15,|,s15,s15",
    );
    a.wait_for(PHASE_DONE);
    b.wait_for(PHASE_DONE);
    std::thread::sleep(Duration::from_secs(3)); // scraped (every second)
    let t1 = unix_now();
    std::thread::sleep(Duration::from_millis(1500));

    // Phase 2.
    a.next_phase();
    b.next_phase();
    let c = Environment::start(&job, "c", "on-demand", 150, "s120,s15");
    let d = Environment::start(&job, "d", "on-demand", 150, "d400,s160,s15");
    for env in [a, b, c, d] {
        env.finish();
    }
    std::thread::sleep(Duration::from_secs(3));
    let t2 = unix_now();

    let phase2 = format!("{}ms", ((t2 - t1) * 1000.0) as u64);
    let run = |name: &str, window: &str| -> Answer {
        let promql = recipes
            .get(name)
            .unwrap_or_else(|| panic!("no recipe {name} in the README"))
            .replace("orders-api", &job)
            .replace("5m", window);
        let answer = query(&prometheus, &promql, t2);
        eprintln!("{name} [{window}] = {answer:?}");
        answer
    };
    let all = "5m";

    // Cold starts: a and c; in phase 2, c.
    assert_eq!(
        by(&run("cold-starts", all), "handler"),
        [("orders".into(), 2.0)]
    );
    assert_eq!(
        by(&run("cold-starts", &phase2), "handler"),
        [("orders".into(), 1.0)]
    );
    // Successful invocations: a 1+2+3, b 1+1+2, c 2, d 2 = 14; in phase 2: 3+2+2+2 = 9.
    assert_eq!(single(&run("cold-start-ratio", all)), 2.0 / 14.0);
    assert_eq!(single(&run("cold-start-ratio", &phase2)), 1.0 / 9.0);

    // p99 invoke duration by start kind, inside the bucket holding the slowest invocation (the
    // handler's sleep, plus 40 ms where it built the lazy static): cold a 640 ms and c 160 ms;
    // provisioned b 300 ms (prewarmed); proactive d 200 ms; warm 15 ms.
    let p99 = by(&run("invoke-duration-p99", all), "start");
    let p99: BTreeMap<_, _> = p99.into_iter().collect();
    within(p99["cold"], 0.5, 0.75, "cold p99");
    within(p99["provisioned"], 0.25, 0.5, "provisioned p99");
    within(p99["proactive"], 0.1, 0.25, "proactive p99");
    within(p99["warm"], 0.01, 0.025, "warm p99");
    let p99: BTreeMap<_, _> = by(&run("invoke-duration-p99", &phase2), "start")
        .into_iter()
        .collect();
    within(p99["cold"], 0.1, 0.25, "phase 2 cold p99 (c only)");
    within(p99["proactive"], 0.1, 0.25, "phase 2 proactive p99");
    within(p99["warm"], 0.01, 0.025, "phase 2 warm p99");
    assert!(
        p99.get("provisioned").is_none_or(|v| v.is_nan()),
        "no provisioned start in phase 2: {p99:?}"
    );

    // Init duration p99: a's 300 ms INIT in (0.25, 0.5]; phase 2 has c's and d's, 150 ms.
    within(
        single(&run("init-duration-p99", all)),
        0.25,
        0.5,
        "init p99",
    );
    within(
        single(&run("init-duration-p99", &phase2)),
        0.1,
        0.25,
        "phase 2 init p99",
    );

    // Memory p99, in bytes: a test process, a few MiB to a few hundred.
    let memory = single(&run("memory-p99", all));
    within(
        memory,
        4.0 * 1024.0 * 1024.0,
        1024.0 * 1024.0 * 1024.0,
        "memory p99",
    );

    // The lazy static: built on a's and c's cold requests, prewarmed in b, on d's proactive start;
    // 40 ms each.
    let lazy = |window: &str| -> Vec<(String, String)> {
        let answer = run("lazy-init-duration", window);
        let mut keys: Vec<(String, String)> = answer
            .iter()
            .map(|(labels, value)| {
                within(*value, 0.04, 0.2, "lazy init time");
                (labels["lazy"].clone(), labels["during"].clone())
            })
            .collect();
        keys.sort();
        keys
    };
    let catalog = |during: &str| ("catalog".to_owned(), during.to_owned());
    assert_eq!(
        lazy(all),
        [catalog("cold"), catalog("prewarm"), catalog("proactive")]
    );
    assert_eq!(lazy(&phase2), [catalog("cold"), catalog("proactive")]);

    // Budget overruns: a only (about 950 ms against 500 ms), in phase 1; c took about 320 ms.
    assert_eq!(
        by(&run("budget-overruns", all), "handler"),
        [("orders".into(), 1.0)]
    );
    assert_eq!(
        by(&run("budget-overruns", &phase2), "handler"),
        [("orders".into(), 0.0)]
    );

    // INIT cost: the on-demand INITs of a (300 ms of sleep), c and d (150 ms each) at 128 MB,
    // each at least its sleep (INIT also starts the process) rounded up to the millisecond;
    // b's provisioned INIT is not billed as duration, so it records nothing. The upper bounds
    // allow each INIT a second of process start-up besides its sleep.
    let gb = 128.0 / 1024.0;
    let cost = by(&run("init-cost", all), "init_type");
    assert_eq!(cost.len(), 1, "on-demand only: {cost:?}");
    assert_eq!(cost[0].0, "on-demand");
    within(cost[0].1, gb * 0.6, gb * 3.6, "INIT GB-s, a + c + d");
    let cost = by(&run("init-cost", &phase2), "init_type");
    assert_eq!(cost.len(), 1, "on-demand only: {cost:?}");
    within(cost[0].1, gb * 0.3, gb * 2.3, "phase 2 INIT GB-s, c + d");

    // Warm-up pings: a's two, in phase 2.
    for window in [all, phase2.as_str()] {
        assert_eq!(
            by(&run("warmups", window), "source"),
            [("serverless-plugin-warmup".into(), 2.0)]
        );
    }
}
