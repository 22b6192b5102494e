//! Named phases through the real `lambda_runtime` loop and `coldstart::lambda::run`: phases
//! during INIT with known sleeps (one nested, one with a lazy static inside, a guard, two async
//! phases joined concurrently), and one in the handler on the cold invocation. The report's
//! timeline (value, JSON line, table) and `coldstart.phase_duration` are checked for order,
//! containment and exclusivity — never for speed.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::report::{TimelineEntry, TimelineKind};
use coldstart::{cold_start_handler, lazy, names, phase, phase_async, phase_guard};
use coldstart::{During, Outcome, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[lazy(name = "rules-table")]
static RULES: Vec<u32> = {
    sleep_ms(10);
    (0..100).collect()
};

#[cold_start_handler(name = "phased")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    // After INIT: attributed to the invocation it ran in.
    let rendered = phase("render", || format!("n={}", event.payload["n"]));
    Ok(json!({ "rendered": rendered, "rules": RULES.len() }))
}

fn entry<'a>(timeline: &'a [TimelineEntry], kind: TimelineKind, name: &str) -> &'a TimelineEntry {
    timeline
        .iter()
        .find(|e| e.kind == kind && e.name == name)
        .unwrap_or_else(|| panic!("{name} in {timeline:#?}"))
}

fn end(entry: &TimelineEntry) -> Duration {
    entry.started + entry.inclusive.expect("ended")
}

fn contains(outer: &TimelineEntry, inner: &TimelineEntry) -> bool {
    outer.started <= inner.started && end(inner) <= end(outer)
}

#[test]
fn init_phases_nest_exclude_overlap_and_the_handler_phase_is_not_init() {
    support::recorder();
    let api = support::local_api("phased-fn");

    // INIT, before the runtime loop.
    phase("load config", || {
        sleep_ms(10);
        phase("parse config", || sleep_ms(10));
        assert_eq!(RULES.len(), 100); // a lazy static built inside the phase
    });
    {
        let _pool = phase_guard("open pool");
        sleep_ms(5);
    }
    let runtime = support::runtime(2);
    runtime.block_on(phase_async("connect", async {
        let db = phase_async("connect db", async {
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        let cache = phase_async("connect cache", async {
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        tokio::join!(db, cache);
    }));

    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .run(service_fn(handler)),
        [json!({ "n": 1 }), json!({ "n": 2 })],
    );
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");

    let report = coldstart::cold_start_report().expect("the first invocation finished");
    let timeline = &report.timeline;
    let phase_entry = |name| entry(timeline, TimelineKind::Phase, name);
    let config = phase_entry("load config");
    let parse = phase_entry("parse config");
    let rules = entry(timeline, TimelineKind::Lazy, "rules-table");
    let pool = phase_entry("open pool");
    let connect = phase_entry("connect");
    let db = phase_entry("connect db");
    let cache = phase_entry("connect cache");

    // Order: offsets never decrease along the timeline; INIT's phases in the order they ran.
    assert!(
        timeline.windows(2).all(|w| w[0].started <= w[1].started),
        "{timeline:#?}"
    );
    assert!(config.started < parse.started && parse.started < rules.started);
    assert!(end(config) <= pool.started && end(pool) <= connect.started);
    let init_end = report.init.expect("init end marked by lambda::run");
    assert!(end(connect) <= init_end);

    // Containment and depth.
    assert!(contains(config, parse) && contains(config, rules));
    assert_eq!((config.depth, parse.depth, rules.depth), (0, 1, 1));
    assert!(contains(connect, db) && contains(connect, cache));
    assert_eq!((db.depth, cache.depth), (1, 1));

    // Exclusive: the outer phase's own time is its total minus what was nested in it, exactly.
    assert_eq!(
        config.duration.unwrap() + parse.inclusive.unwrap() + rules.inclusive.unwrap(),
        config.inclusive.unwrap()
    );
    assert!(config.duration.unwrap() >= Duration::from_millis(10));
    assert!(parse.duration.unwrap() >= Duration::from_millis(10));
    assert!(rules.duration.unwrap() >= Duration::from_millis(10));
    assert!(pool.duration.unwrap() >= Duration::from_millis(5));

    // Concurrent: the two joined phases overlap, each measuring its own wall-clock time.
    assert!(
        db.started < end(cache) && cache.started < end(db),
        "{db:?} {cache:?}"
    );
    assert!(db.duration.unwrap() >= Duration::from_millis(20));
    assert!(cache.duration.unwrap() >= Duration::from_millis(20));

    for entry in [config, parse, rules, pool, connect, db, cache] {
        assert_eq!(entry.during, During::Init, "{entry:?}");
    }
    for entry in [config, parse, pool, connect, db, cache] {
        assert_eq!(entry.outcome, Some(Outcome::Ok), "{entry:?}");
    }

    // After INIT: the handler's phase ran on the cold invocation, and again on the warm one.
    let cold = During::Invocation {
        number: 1,
        start_kind: StartKind::Cold,
    };
    let renders: Vec<&TimelineEntry> = timeline.iter().filter(|e| e.name == "render").collect();
    assert_eq!(renders.len(), 2, "{timeline:#?}");
    assert_eq!(renders[0].during, cold);
    assert!(renders[0].started >= init_end);
    assert_eq!(renders[1].during.invocation(), Some(2));

    // The JSON line: existing keys unchanged, a `timeline` list with every entry.
    let line: Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
    assert!(line["phases_ms"]["init"].is_number());
    let json_timeline = line["timeline"].as_array().expect("a timeline list");
    assert_eq!(json_timeline.len(), timeline.len());
    let starts: Vec<f64> = json_timeline
        .iter()
        .map(|e| e["start_ms"].as_f64().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let json_entry = |name: &str| {
        json_timeline
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {json_timeline:?}"))
    };
    let config_json = json_entry("load config");
    assert_eq!(config_json["kind"], "phase");
    assert_eq!(config_json["during"], "init");
    assert_eq!(config_json["outcome"], "ok");
    assert_eq!(config_json["depth"], 0);
    assert!(config_json["ms"].as_f64().unwrap() < config_json["inclusive_ms"].as_f64().unwrap());
    let rules_json = json_entry("rules-table");
    assert_eq!(
        (&rules_json["kind"], &rules_json["depth"]),
        (&json!("lazy"), &json!(1))
    );
    assert!(rules_json.get("outcome").is_none());
    let render_json = json_entry("render");
    assert_eq!(
        (&render_json["during"], &render_json["invocation"]),
        (&json!("cold"), &json!(1))
    );
    let lazy_row = line["lazy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "rules-table")
        .expect("the lazy list");
    assert_eq!(lazy_row["start_ms"], rules_json["start_ms"]);

    // The table: a waterfall row per entry, in order, nested ones indented.
    let table = report.to_string();
    println!("{table}");
    let rows: Vec<&str> = table
        .lines()
        .skip_while(|line| !line.starts_with("  timeline"))
        .skip(1)
        .take_while(|line| line.starts_with("    ") && line.contains('|'))
        .collect();
    assert_eq!(rows.len(), timeline.len(), "{table}");
    let row_of = |name: &str| rows.iter().position(|row| row.contains(name)).unwrap();
    assert!(row_of("load config") < row_of("parse config"));
    assert!(rows[row_of("parse config")].starts_with("      parse config"));
    assert!(rows[row_of("lazy rules-table")].contains('#'));
    assert!(
        rows[row_of("render")].contains("invocation 1 (cold)"),
        "{table}"
    );

    // The metric: by phase, where it ran and outcome.
    let recorded = support::Recorded::take();
    let samples = |labels: &[(&str, &str)]| recorded.histogram(names::PHASE_DURATION, labels);
    assert_eq!(
        samples(&[
            ("phase", "load config"),
            ("during", "init"),
            ("outcome", "ok")
        ])
        .len(),
        1
    );
    assert_eq!(
        samples(&[("phase", "connect db"), ("during", "init")]).len(),
        1
    );
    assert_eq!(samples(&[("phase", "render"), ("during", "cold")]).len(), 1);
    assert_eq!(samples(&[("phase", "render"), ("during", "warm")]).len(), 1);
    assert_eq!(
        samples(&[("phase", "init")]).len(),
        1,
        "the built-in phases stay"
    );
    let recorded_config = samples(&[("phase", "load config")])[0];
    let difference = (recorded_config - config.duration.unwrap().as_secs_f64()).abs();
    assert!(
        difference < 1e-6,
        "the metric records the exclusive duration: {recorded_config} vs {config:?}"
    );
}
