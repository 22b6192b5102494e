//! The cold-start report line a function built with `coldstart` prints on stdout
//! (`{"coldstart_report":1,...}`, see `coldstart::report`), read back into what the profile
//! aggregates.

use serde_json::Value;

/// The prefix of the report line.
pub const REPORT_PREFIX: &str = "{\"coldstart_report\":";

/// The built-in phases of `phases_ms`, in the order the report writes them.
const BUILT_IN_PHASES: &[&str] = &[
    "init",
    "wait_for_first_event",
    "event_to_handler",
    "to_first_invocation",
    "first_invocation",
    "user_facing",
];

/// One entry of the report's `timeline`: a named phase run or a lazy initialization.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// `phase` or `lazy`.
    pub kind: String,
    /// The phase's or lazy static's name.
    pub name: String,
    /// Start, in ms since the process started.
    pub start_ms: f64,
    /// Own duration in ms (`None` while still open).
    pub ms: Option<f64>,
    /// Nesting depth (0 for a top-level phase).
    pub depth: u64,
    /// `init`, `prewarm`, `invocation`, … as the report says.
    pub during: String,
}

/// What a profile uses of one report line.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Built-in phases (`phases_ms`: `init`, `wait_for_first_event`, …), in report order; `None`
    /// where the report has `null`.
    pub phases: Vec<(String, Option<f64>)>,
    /// Named phases: own time per name, summed over the name's runs; `None` when a run of it is
    /// still open.
    pub named_phases: Vec<(String, Option<f64>)>,
    /// Lazy statics: initialization time per name, `None` when not initialized.
    pub lazies: Vec<(String, Option<f64>)>,
    /// Lazy statics the report lists as never built (state `not initialized`: nothing needed
    /// them during INIT or the invocations before the report), by name.
    pub lazy_not_built: Vec<String>,
    /// The timeline, in report order.
    pub timeline: Vec<TimelineEntry>,
    /// The report's `start` (`cold`, `proactive`, …).
    pub start: Option<String>,
    /// The first invocation's CPU time and wall time in ms (`cpu.first_invocation_ms`,
    /// `cpu.first_invocation_wall_ms`), when the report carries them.
    pub first_invocation_cpu: Option<(f64, f64)>,
}

impl Report {
    /// Reads a report from one stdout line; `None` if the line is not a report.
    ///
    /// ```
    /// use cargo_coldstart::report::Report;
    /// let line = r#"{"coldstart_report":1,"start":"cold","phases_ms":{"init":12.5,"user_facing":null},
    ///   "lazy":[{"name":"rules","ms":3.0}],"timeline":[{"kind":"phase","name":"load","start_ms":1.0,"ms":9.0,"depth":0,"during":"init"}]}"#;
    /// let report = Report::parse(&line.replace('\n', "")).unwrap();
    /// assert_eq!(report.phases[0], ("init".to_string(), Some(12.5)));
    /// assert_eq!(report.phases[1].1, None);
    /// assert_eq!(report.named_phases, vec![("load".to_string(), Some(9.0))]);
    /// assert_eq!(report.lazies, vec![("rules".to_string(), Some(3.0))]);
    /// assert!(report.lazy_not_built.is_empty());
    ///
    /// let unbuilt = r#"{"coldstart_report":1,"lazy":[{"name":"pool","state":"not initialized","ms":null}]}"#;
    /// assert_eq!(Report::parse(unbuilt).unwrap().lazy_not_built, vec!["pool".to_string()]);
    /// assert!(Report::parse("hello").is_none());
    /// ```
    pub fn parse(line: &str) -> Option<Report> {
        let line = line.trim();
        if !line.starts_with(REPORT_PREFIX) {
            return None;
        }
        let value: Value = serde_json::from_str(line).ok()?;
        let mut phases: Vec<(String, Option<f64>)> = Vec::new();
        if let Some(map) = value.get("phases_ms").and_then(Value::as_object) {
            // The report's order (a JSON object has none once parsed), then anything newer.
            for name in BUILT_IN_PHASES {
                if let Some(ms) = map.get(*name) {
                    phases.push((name.to_string(), ms.as_f64()));
                }
            }
            for (name, ms) in map {
                if !BUILT_IN_PHASES.contains(&name.as_str()) {
                    phases.push((name.clone(), ms.as_f64()));
                }
            }
        }
        let lazies = array(&value, "lazy")
            .map(|lazy| {
                (
                    str_field(lazy, "name"),
                    lazy.get("ms").and_then(Value::as_f64),
                )
            })
            .collect();
        let lazy_not_built = array(&value, "lazy")
            .filter(|lazy| str_field(lazy, "state") == "not initialized")
            .map(|lazy| str_field(lazy, "name"))
            .collect();
        let timeline: Vec<TimelineEntry> = array(&value, "timeline")
            .map(|entry| TimelineEntry {
                kind: str_field(entry, "kind"),
                name: str_field(entry, "name"),
                start_ms: entry.get("start_ms").and_then(Value::as_f64).unwrap_or(0.0),
                ms: entry.get("ms").and_then(Value::as_f64),
                depth: entry.get("depth").and_then(Value::as_u64).unwrap_or(0),
                during: str_field(entry, "during"),
            })
            .collect();
        let mut named_phases: Vec<(String, Option<f64>)> = Vec::new();
        for entry in timeline.iter().filter(|e| e.kind == "phase") {
            match named_phases
                .iter_mut()
                .find(|(name, _)| *name == entry.name)
            {
                Some((_, total)) => *total = total.zip(entry.ms).map(|(a, b)| a + b),
                None => named_phases.push((entry.name.clone(), entry.ms)),
            }
        }
        Some(Report {
            phases,
            named_phases,
            lazies,
            lazy_not_built,
            timeline,
            start: value
                .get("start")
                .and_then(Value::as_str)
                .map(str::to_owned),
            first_invocation_cpu: value.get("cpu").and_then(|cpu| {
                let used = cpu.get("first_invocation_ms")?.as_f64()?;
                let wall = cpu.get("first_invocation_wall_ms")?.as_f64()?;
                Some((used, wall))
            }),
        })
    }
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn str_field(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
