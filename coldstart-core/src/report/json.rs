//! The report as one JSON line, written field by field.

use std::fmt;
use std::time::Duration;

use super::{ms, Billed, ColdStartReport, InitBilling, TimelineKind};
use crate::invocation::Outcome;
use crate::lazy::During;
use crate::phases::StartSource;

impl ColdStartReport {
    /// The report as one JSON object, `{"coldstart_report":1,...}`, durations in milliseconds.
    ///
    /// Written by hand rather than through `serde_json::json!`, whose expansion would add
    /// kilobytes of code to every function binary for a line printed once.
    pub fn to_json(&self) -> String {
        let env = &self.environment;
        let mut json = Json(String::with_capacity(1024));
        json.0.push_str("{\"coldstart_report\":1");
        json.opt_str("function", env.function_name());
        json.opt_str("version", env.function_version());
        json.opt_str("region", env.region());
        json.opt_str("log_stream", env.log_stream_name());
        json.opt_uint("memory_mb", env.memory_size_mb().map(u64::from));
        json.str("init_type", env.init_type().as_str());
        json.str("handler", self.handler);
        json.str("start", self.start_kind.as_str());
        json.bool("warmed_by_ping", self.warmed_by_ping);
        json.bool("first_event_rejected", self.first_event_rejected);
        json.opt_str("reinit", self.reinit.map(|cause| cause.as_str()));
        json.str("outcome", self.outcome.as_str());
        json.str(
            "process_start",
            match self.process_start_source {
                StartSource::Constructor => "constructor",
                StartSource::FirstUse => "first_use",
            },
        );
        json.open("phases_ms", b'{');
        json.opt_ms("init", self.init);
        json.opt_ms("wait_for_first_event", self.wait_for_first_event);
        json.opt_ms("event_to_handler", self.event_to_handler);
        json.ms("to_first_invocation", self.to_first_invocation);
        json.ms("first_invocation", self.first_invocation);
        json.opt_ms("user_facing", self.user_facing);
        json.close(b'}');
        match &self.cpu {
            None => json.null("cpu"),
            Some(cpu) => {
                let share = |share: Option<f64>| share.map(|s| (s * 1e4).round() / 1e4);
                json.open("cpu", b'{');
                json.ms("init_ms", cpu.init);
                json.ms("init_wall_ms", cpu.init_wall);
                json.opt_f64("init_share", share(cpu.init_share()));
                json.opt_ms("first_invocation_ms", cpu.first_invocation);
                json.opt_ms("first_invocation_wall_ms", cpu.first_invocation_wall);
                json.opt_f64(
                    "first_invocation_share",
                    share(cpu.first_invocation_share()),
                );
                json.close(b'}');
            }
        }
        json.open("lazy", b'[');
        for info in &self.lazies {
            json.open("", b'{');
            json.str("name", info.name);
            json.str("module", info.module_path);
            json.display("state", &info.state);
            json.opt_ms("ms", info.duration);
            json.opt_ms("start_ms", info.started);
            json.ms("spent_ms", info.spent);
            json.opt_str("during", info.during.map(During::as_str));
            json.opt_uint("invocation", info.during.and_then(During::invocation));
            json.bool("prewarm", info.prewarm);
            json.opt_uint("failures", Some(u64::from(info.failures)));
            json.close(b'}');
        }
        json.close(b']');
        json.open("timeline", b'[');
        for entry in &self.timeline {
            json.open("", b'{');
            json.str("kind", entry.kind.as_str());
            json.str("name", entry.name);
            json.ms("start_ms", entry.started);
            json.opt_ms("ms", entry.duration);
            json.opt_ms("inclusive_ms", entry.inclusive);
            json.opt_uint("depth", Some(u64::from(entry.depth)));
            json.str("during", entry.during.as_str());
            json.opt_uint("invocation", entry.during.invocation());
            if entry.kind == TimelineKind::Phase {
                json.str("outcome", entry.outcome.map_or("open", Outcome::as_str));
            }
            json.close(b'}');
        }
        json.close(b']');
        match &self.memory {
            None => json.null("memory"),
            Some(m) => {
                json.open("memory", b'{');
                json.opt_uint("resident_bytes", Some(m.resident_bytes));
                json.opt_uint("peak_bytes", Some(m.peak_resident_bytes));
                json.str("hint", &m.sizing_hint(env.memory_size_mb()));
                json.close(b'}');
            }
        }
        match &self.budget {
            None => json.null("budget"),
            Some(b) => {
                json.open("budget", b'{');
                json.ms("budget_ms", b.budget);
                json.ms("took_ms", b.took);
                json.opt_ms("exceeded_by_ms", b.exceeded_by);
                json.open("dominant", b'[');
                for (what, duration) in &b.dominant {
                    json.open("", b'{');
                    json.str("what", what);
                    json.ms("ms", *duration);
                    json.close(b'}');
                }
                json.close(b']');
                json.close(b'}');
            }
        }
        match &self.cost {
            Err(err) => {
                json.open("cost", b'{');
                json.display("error", err);
                json.close(b'}');
            }
            Ok(cost) => {
                let price = cost.price_per_gb_second;
                json.open("cost", b'{');
                json.opt_uint("memory_mb", Some(u64::from(cost.memory_mb)));
                json.opt_f64("price_per_gb_second", price);
                json.open("init", b'{');
                match cost.init {
                    InitBilling::Duration(billed) => {
                        json.bool("billed", true);
                        json.billed(billed, price);
                    }
                    InitBilling::NotBilledAsDuration => {
                        json.bool("billed", false);
                        json.str(
                            "why",
                            &format!("{} INIT is not billed as duration", env.init_type()),
                        );
                    }
                    InitBilling::NotMeasured => {
                        json.bool("billed", true);
                        json.str(
                            "why",
                            "init end was not marked (coldstart::lambda::run marks it)",
                        );
                    }
                }
                json.close(b'}');
                json.open("first_invocation", b'{');
                json.bool("billed", true);
                json.billed(cost.first_invocation, price);
                json.close(b'}');
                json.opt_f64("gb_seconds", Some(cost.gb_seconds()));
                json.opt_f64("amount", cost.amount());
                json.close(b'}');
            }
        }
        json.close(b'}');
        json.0
    }
}

/// A JSON text written field by field: one small out-of-line function per kind of field (its
/// key and its value in one call), instead of a `format!` per object, keeps the report's code
/// small in every function binary.
///
/// Commas are not written by the caller: [`Json::key`] puts one before every key and every
/// array element except the first of its object or array.
struct Json(String);

impl Json {
    /// `,"name":` — the key of a field, its comma included unless it is the first of its object;
    /// `name` empty: only the comma, before an array's element.
    #[inline(never)]
    fn key(&mut self, name: &str) {
        if !matches!(self.0.as_bytes().last(), Some(b'{' | b'[' | b':')) {
            self.0.push(',');
        }
        if !name.is_empty() {
            push_str(&mut self.0, name);
            self.0.push(':');
        }
    }

    /// `"name":{` or `"name":[`; `name` empty: an array's element that is an object.
    #[inline(never)]
    fn open(&mut self, name: &str, bracket: u8) {
        self.key(name);
        self.0.push(char::from(bracket));
    }

    /// `}` or `]`.
    #[inline(never)]
    fn close(&mut self, bracket: u8) {
        self.0.push(char::from(bracket));
    }

    #[inline(never)]
    fn null(&mut self, name: &str) {
        self.key(name);
        self.0.push_str("null");
    }

    #[inline(never)]
    fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        push_str(&mut self.0, value);
    }

    #[inline(never)]
    fn opt_str(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.str(name, value),
            None => self.null(name),
        }
    }

    /// A string written through its `Display`, escaped as [`Json::str`] escapes it.
    #[inline(never)]
    fn display(&mut self, name: &str, value: &dyn fmt::Display) {
        self.str(name, &value.to_string());
    }

    #[inline(never)]
    fn bool(&mut self, name: &str, value: bool) {
        self.key(name);
        self.0.push_str(if value { "true" } else { "false" });
    }

    #[inline(never)]
    fn opt_uint(&mut self, name: &str, value: Option<u64>) {
        use fmt::Write;
        match value {
            Some(value) => {
                self.key(name);
                let _ = write!(self.0, "{value}");
            }
            None => self.null(name),
        }
    }

    /// `,"ms":…,"billed_ms":…,"gb_seconds":…,"amount":…` of one billed duration.
    fn billed(&mut self, billed: Billed, price: Option<f64>) {
        self.ms("ms", billed.measured);
        self.opt_uint("billed_ms", u64::try_from(billed.billed.as_millis()).ok());
        self.opt_f64("gb_seconds", Some(billed.gb_seconds));
        self.opt_f64("amount", price.map(|price| price * billed.gb_seconds));
    }

    /// A number as Rust prints it (shortest round-trip form); `null` if absent or not finite.
    #[inline(never)]
    fn opt_f64(&mut self, name: &str, value: Option<f64>) {
        use fmt::Write;
        match value {
            Some(value) if value.is_finite() => {
                self.key(name);
                let _ = write!(self.0, "{value}");
            }
            _ => self.null(name),
        }
    }

    /// A duration in milliseconds, rounded to the microsecond.
    #[inline(never)]
    fn ms(&mut self, name: &str, duration: Duration) {
        self.opt_f64(name, Some(ms(duration)));
    }

    #[inline(never)]
    fn opt_ms(&mut self, name: &str, duration: Option<Duration>) {
        match duration {
            Some(duration) => self.ms(name, duration),
            None => self.null(name),
        }
    }
}

fn push_str(out: &mut String, value: &str) {
    use fmt::Write;
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::push_str;

    #[test]
    fn strings_are_escaped_as_json() {
        let cases = [
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\n\r\t", r#""\n\r\t""#),
            ("\u{1}x\u{1f}", r#""\u0001x\u001f""#),
            ("é → ✓ \u{7f}", "\"é → ✓ \u{7f}\""),
            ("\"ü\"", r#""\"ü\"""#),
        ];
        for (value, expected) in cases {
            let mut out = String::new();
            push_str(&mut out, value);
            assert_eq!(out, expected, "{value:?}");
        }
    }
}
