//! `--calibrate FILE`: the CPU shares INIT and the first invocation actually got on Lambda,
//! fitted from cold-start report lines as CloudWatch Logs exports them.
//!
//! Every report line of a function built with `coldstart` carries
//! `"cpu":{"init_ms":…,"init_wall_ms":…,"init_share":…,"first_invocation_share":…,…}` (CPU
//! time over wall time per phase) next to `memory_mb` and `init_type`. This module reads such
//! lines in the forms an export has, leniently, one per line:
//!
//! - the raw JSON line (`aws logs tail`, a Logs Insights `@message` export);
//! - a line with a prefix before it: a timestamp, a request id, a tab-separated
//!   `aws logs … --output text` row;
//! - the console's CSV (`timestamp,message`), whose quotes are doubled (`{""coldstart_report""…`);
//! - `aws logs filter-log-events`/`get-log-events` JSON output, where the line is the string
//!   value of a `"message"` field (one per line, as the CLI pretty-prints it, or a JSON object
//!   per line).
//!
//! Lines without a report are counted as other log lines; a report line that cannot be used is
//! skipped and counted with the reason. Per memory size the fit is the median share (robust to
//! the odd slow environment) and how many lines it is of: INIT per init type (a re-init is left
//! out: Lambda restarted the runtime during a request, and that INIT is not boosted), the first
//! invocation over all init types.
//!
//! ```
//! use cargo_coldstart::calibrate::Calibration;
//! use cargo_coldstart::run::InitType;
//!
//! let lines = [
//!     r#"{"coldstart_report":1,"memory_mb":128,"init_type":"on-demand","cpu":{"init_share":0.75,"first_invocation_share":0.0625}}"#,
//!     "2025-09-01T10:00:00.000Z\tc0ffee\t{\"coldstart_report\":1,\"memory_mb\":128,\"init_type\":\"on-demand\",\"cpu\":{\"init_share\":1.0,\"first_invocation_share\":0.125}}",
//!     "START RequestId: c0ffee Version: $LATEST",
//! ]
//! .join("\n");
//! let calibration = Calibration::parse(&lines);
//! assert_eq!(calibration.used, 2);
//! assert_eq!(calibration.other_lines, 1);
//! let init = calibration.init_share(128, InitType::OnDemand).unwrap();
//! assert_eq!((init.n, init.median), (2, 0.875));
//! assert_eq!(calibration.invoke_share(128).unwrap().median, 0.09375);
//! ```

use serde_json::Value;

use crate::run::InitType;
use crate::stats::quantile;

/// The marker every report line starts with.
const MARKER: &str = "{\"coldstart_report\":";
/// The marker inside a CSV field (quotes doubled).
const CSV_MARKER: &str = "{\"\"coldstart_report\"\":";
/// The marker inside a JSON string (quotes escaped).
const ESCAPED_MARKER: &str = "{\\\"coldstart_report\\\":";

/// A fitted share: the median CPU/wall ratio of `n` report lines, and their range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// The median share of a vCPU.
    pub median: f64,
    /// How many lines.
    pub n: usize,
    /// The smallest share seen.
    pub min: f64,
    /// The largest share seen.
    pub max: f64,
}

impl Fit {
    fn of(values: &[f64]) -> Option<Fit> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Fit {
            median: quantile(&sorted, 0.5)?,
            n: sorted.len(),
            min: *sorted.first()?,
            max: *sorted.last()?,
        })
    }
}

/// The shares measured in a calibration file, and what was made of its lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calibration {
    /// INIT shares per (memory size, init type as the report writes it).
    init: Vec<((u32, String), Vec<f64>)>,
    /// First-invocation shares per memory size.
    invoke: Vec<(u32, Vec<f64>)>,
    /// Report lines that gave at least one share.
    pub used: usize,
    /// Lines without a report (other log lines).
    pub other_lines: usize,
    /// Report lines that gave nothing, per reason, in the order the reasons first occurred.
    pub skipped: Vec<(String, usize)>,
    /// Report lines whose INIT share was left out (their first invocation may still count), per
    /// reason.
    pub init_left_out: Vec<(String, usize)>,
}

fn count(list: &mut Vec<(String, usize)>, reason: &str) {
    match list.iter_mut().find(|(r, _)| r == reason) {
        Some((_, n)) => *n += 1,
        None => list.push((reason.to_owned(), 1)),
    }
}

/// What one line held.
enum Line {
    /// No report in it.
    Other,
    /// A report, parsed.
    Report(Value),
    /// A report marker, but no JSON object could be read from it.
    Malformed,
}

/// The first JSON value at the start of `text` (anything after it is ignored).
fn first_value(text: &str) -> Option<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .next()?
        .ok()
}

fn read_line(line: &str) -> Line {
    if let Some(at) = line.find(MARKER) {
        return first_value(&line[at..]).map_or(Line::Malformed, Line::Report);
    }
    if let Some(at) = line.find(ESCAPED_MARKER) {
        // The string value of a JSON field: parse the string (from its opening quote), then
        // the report inside it.
        let text = line[..at]
            .rfind('"')
            .and_then(|quote| first_value(&line[quote..]));
        return match text.as_ref().and_then(Value::as_str) {
            Some(message) => match message.find(MARKER) {
                Some(at) => first_value(&message[at..]).map_or(Line::Malformed, Line::Report),
                None => Line::Malformed,
            },
            None => Line::Malformed,
        };
    }
    if let Some(at) = line.find(CSV_MARKER) {
        let unquoted = line[at..].replace("\"\"", "\"");
        return first_value(&unquoted).map_or(Line::Malformed, Line::Report);
    }
    Line::Other
}

impl Calibration {
    /// Reads a calibration file (see the [module docs](self)).
    pub fn load(path: &std::path::Path) -> Result<Calibration, String> {
        let text =
            std::fs::read(path).map_err(|e| format!("--calibrate {}: {e}", path.display()))?;
        Ok(Calibration::parse(&String::from_utf8_lossy(&text)))
    }

    /// Reads report lines from `text`, one per line, in any of the forms of the
    /// [module docs](self).
    pub fn parse(text: &str) -> Calibration {
        let mut calibration = Calibration::default();
        for line in text.lines() {
            match read_line(line) {
                Line::Other => calibration.other_lines += 1,
                Line::Malformed => count(
                    &mut calibration.skipped,
                    "malformed: a report marker but no JSON object after it",
                ),
                Line::Report(report) => calibration.add(&report),
            }
        }
        calibration
    }

    fn add(&mut self, report: &Value) {
        let memory_mb = report
            .get("memory_mb")
            .and_then(Value::as_u64)
            .or_else(|| report.pointer("/cost/memory_mb").and_then(Value::as_u64))
            .and_then(|mb| u32::try_from(mb).ok());
        let Some(memory_mb) = memory_mb else {
            return count(
                &mut self.skipped,
                "no memory_mb (AWS_LAMBDA_FUNCTION_MEMORY_SIZE unset?)",
            );
        };
        let Some(cpu) = report.get("cpu").filter(|cpu| cpu.is_object()) else {
            return count(
                &mut self.skipped,
                "no cpu times (a coldstart version before them, or CPU time unreadable)",
            );
        };
        let share = |share: &str, cpu_ms: &str, wall_ms: &str| -> Option<f64> {
            let value = cpu.get(share).and_then(Value::as_f64).or_else(|| {
                let cpu_ms = cpu.get(cpu_ms)?.as_f64()?;
                let wall_ms = cpu.get(wall_ms)?.as_f64()?;
                (wall_ms > 0.0).then(|| cpu_ms / wall_ms)
            })?;
            (value.is_finite() && value > 0.0).then_some(value)
        };
        let mut used = false;
        let init_type = report.get("init_type").and_then(Value::as_str);
        match (share("init_share", "init_ms", "init_wall_ms"), init_type) {
            (None, _) => count(&mut self.init_left_out, "no positive INIT share"),
            (Some(_), None) => count(&mut self.init_left_out, "no init_type"),
            (Some(_), Some(_)) if report.get("reinit").is_some_and(|r| !r.is_null()) => count(
                &mut self.init_left_out,
                "a re-init (Lambda restarted the runtime during a request; not boosted)",
            ),
            (Some(value), Some(init_type)) => {
                let key = (memory_mb, init_type.to_owned());
                match self.init.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, values)) => values.push(value),
                    None => self.init.push((key, vec![value])),
                }
                used = true;
            }
        }
        if let Some(value) = share(
            "first_invocation_share",
            "first_invocation_ms",
            "first_invocation_wall_ms",
        ) {
            match self.invoke.iter_mut().find(|(mb, _)| *mb == memory_mb) {
                Some((_, values)) => values.push(value),
                None => self.invoke.push((memory_mb, vec![value])),
            }
            used = true;
        }
        if used {
            self.used += 1;
        } else {
            count(
                &mut self.skipped,
                "neither an INIT nor a first-invocation share",
            );
        }
    }

    /// Whether no line gave a share: nothing to fit.
    ///
    /// ```
    /// assert!(cargo_coldstart::calibrate::Calibration::parse("START RequestId: 1\n").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// The INIT share at `memory_mb` for `init_type`, if the file had such lines.
    pub fn init_share(&self, memory_mb: u32, init_type: InitType) -> Option<Fit> {
        let (_, values) = self
            .init
            .iter()
            .find(|((mb, kind), _)| *mb == memory_mb && kind == init_type.as_str())?;
        Fit::of(values)
    }

    /// The first invocation's share at `memory_mb`, if the file had such lines.
    pub fn invoke_share(&self, memory_mb: u32) -> Option<Fit> {
        let (_, values) = self.invoke.iter().find(|(mb, _)| *mb == memory_mb)?;
        Fit::of(values)
    }

    /// The memory sizes with at least one share, ascending.
    ///
    /// ```
    /// let c = cargo_coldstart::calibrate::Calibration::parse(
    ///     r#"{"coldstart_report":1,"memory_mb":512,"cpu":{"first_invocation_share":0.3}}"#,
    /// );
    /// assert_eq!(c.sizes(), [512]);
    /// ```
    pub fn sizes(&self) -> Vec<u32> {
        let mut sizes: Vec<u32> = self
            .init
            .iter()
            .map(|((mb, _), _)| *mb)
            .chain(self.invoke.iter().map(|(mb, _)| *mb))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// What was made of the file, for stderr: lines used and skipped (with why), then one line
    /// per fitted share.
    pub fn summary(&self) -> String {
        let skipped: usize = self.skipped.iter().map(|(_, n)| n).sum();
        let mut out = format!(
            "calibration: {} report lines used, {skipped} skipped, {} other log lines\n",
            self.used, self.other_lines
        );
        for (reason, n) in &self.skipped {
            out.push_str(&format!("  skipped {n}: {reason}\n"));
        }
        for (reason, n) in &self.init_left_out {
            out.push_str(&format!("  INIT share left out of {n}: {reason}\n"));
        }
        let fit = |fit: Fit| {
            format!(
                "{:.3} vCPU (median of {}, range {:.3}–{:.3})",
                fit.median, fit.n, fit.min, fit.max
            )
        };
        for ((mb, init_type), values) in &self.init {
            if let Some(f) = Fit::of(values) {
                out.push_str(&format!("  {mb} MB {init_type} INIT: {}\n", fit(f)));
            }
        }
        for (mb, values) in &self.invoke {
            if let Some(f) = Fit::of(values) {
                out.push_str(&format!("  {mb} MB first invocation: {}\n", fit(f)));
            }
        }
        out
    }

    /// The fit as JSON (`calibration` in `--json`).
    pub fn json(&self) -> Value {
        let fit = |f: Fit| serde_json::json!({ "median": f.median, "n": f.n, "min": f.min, "max": f.max });
        serde_json::json!({
            "used": self.used,
            "other_lines": self.other_lines,
            "skipped": self.skipped.iter().map(|(r, n)| serde_json::json!({ "reason": r, "lines": n })).collect::<Vec<_>>(),
            "init_left_out": self.init_left_out.iter().map(|(r, n)| serde_json::json!({ "reason": r, "lines": n })).collect::<Vec<_>>(),
            "init": self.init.iter().filter_map(|((mb, kind), v)| Some(serde_json::json!({ "memory_mb": mb, "init_type": kind, "share": fit(Fit::of(v)?) }))).collect::<Vec<_>>(),
            "first_invocation": self.invoke.iter().filter_map(|(mb, v)| Some(serde_json::json!({ "memory_mb": mb, "share": fit(Fit::of(v)?) }))).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(mb: u32, init_type: &str, init: f64, invoke: f64) -> String {
        format!(
            r#"{{"coldstart_report":1,"memory_mb":{mb},"init_type":"{init_type}","reinit":null,"cpu":{{"init_ms":{},"init_wall_ms":100.0,"init_share":{init},"first_invocation_ms":{},"first_invocation_wall_ms":100.0,"first_invocation_share":{invoke}}}}}"#,
            init * 100.0,
            invoke * 100.0
        )
    }

    #[test]
    fn every_export_form_is_read() {
        let raw = report(128, "on-demand", 0.9, 0.07);
        let csv_field = format!("\"{}\"", raw.replace('"', "\"\""));
        let escaped = serde_json::to_string(&raw).unwrap();
        let text = [
            raw.clone(),
            format!("2025-09-01T10:00:00.000Z\tc0ffee-1\t{raw}"),
            format!("EVENTS\t1725184800000\t{raw}\t2025/09/01/[$LATEST]abc\t1725184800100"),
            format!("1725184800000,{csv_field}"),
            format!("            \"message\": {escaped},"),
            format!(r#"{{"timestamp":1725184800000,"message":{escaped},"ingestionTime":1}}"#),
            "REPORT RequestId: c0ffee-1 Duration: 1.00 ms".to_owned(),
            r#"{"coldstart_report":1,"memory_mb":"#.to_owned(),
        ]
        .join("\n");
        let calibration = Calibration::parse(&text);
        assert_eq!(calibration.used, 6, "{}", calibration.summary());
        assert_eq!(calibration.other_lines, 1);
        assert_eq!(calibration.skipped.len(), 1, "{:?}", calibration.skipped);
        assert!(calibration.skipped[0].0.starts_with("malformed"));
        let init = calibration.init_share(128, InitType::OnDemand).unwrap();
        assert_eq!((init.n, init.median), (6, 0.9));
        assert_eq!(calibration.invoke_share(128).unwrap().n, 6);
    }

    #[test]
    fn the_fit_is_a_median_per_size_and_init_type() {
        let mut lines = Vec::new();
        for share in [0.5, 0.9, 0.95, 1.0, 40.0] {
            lines.push(report(128, "on-demand", share, 0.07));
        }
        lines.push(report(128, "provisioned-concurrency", 0.072, 0.072));
        lines.push(report(1769, "on-demand", 1.0, 1.0));
        let calibration = Calibration::parse(&lines.join("\n"));
        let on_demand = calibration.init_share(128, InitType::OnDemand).unwrap();
        assert_eq!(
            (on_demand.n, on_demand.median),
            (5, 0.95),
            "one outlier does not move it"
        );
        let provisioned = calibration
            .init_share(128, InitType::ProvisionedConcurrency)
            .unwrap();
        assert_eq!((provisioned.n, provisioned.median), (1, 0.072));
        assert_eq!(calibration.invoke_share(128).unwrap().n, 6);
        assert!(calibration.init_share(512, InitType::OnDemand).is_none());
        assert!(calibration.init_share(128, InitType::SnapStart).is_none());
        assert_eq!(calibration.sizes(), [128, 1769]);
    }

    #[test]
    fn unusable_reports_are_counted_with_the_reason() {
        let reinit = report(128, "on-demand", 0.07, 0.07)
            .replace("\"reinit\":null", "\"reinit\":\"timeout\"");
        let text = [
            r#"{"coldstart_report":1,"init_type":"on-demand","cpu":{"init_share":1.0}}"#.to_owned(),
            r#"{"coldstart_report":1,"memory_mb":128,"init_type":"on-demand","cpu":null}"#.to_owned(),
            r#"{"coldstart_report":1,"memory_mb":128,"init_type":"on-demand","cpu":{"init_share":0,"first_invocation_share":null}}"#.to_owned(),
            reinit,
        ]
        .join("\n");
        let calibration = Calibration::parse(&text);
        let reasons: Vec<&str> = calibration
            .skipped
            .iter()
            .map(|(r, _)| r.as_str())
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].starts_with("no memory_mb"));
        assert!(reasons[1].starts_with("no cpu times"));
        assert!(reasons[2].starts_with("neither"));
        // The re-init's first invocation counts; its INIT does not.
        assert_eq!(calibration.used, 1);
        assert!(calibration.init_share(128, InitType::OnDemand).is_none());
        assert_eq!(calibration.invoke_share(128).unwrap().n, 1);
        assert!(calibration
            .init_left_out
            .iter()
            .any(|(r, n)| r.starts_with("a re-init") && *n == 1));
    }
}
