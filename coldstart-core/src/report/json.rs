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
        json.key("function").opt_str(env.function_name());
        json.key("version").opt_str(env.function_version());
        json.key("region").opt_str(env.region());
        json.key("log_stream").opt_str(env.log_stream_name());
        json.key("memory_mb")
            .opt_uint(env.memory_size_mb().map(u64::from));
        json.key("init_type").str(env.init_type().as_str());
        json.key("handler").str(self.handler);
        json.key("start").str(self.start_kind.as_str());
        json.key("warmed_by_ping").bool(self.warmed_by_ping);
        json.key("first_event_rejected")
            .bool(self.first_event_rejected);
        json.key("reinit")
            .opt_str(self.reinit.map(|cause| cause.as_str()));
        json.key("outcome").str(self.outcome.as_str());
        json.key("process_start")
            .str(match self.process_start_source {
                StartSource::Constructor => "constructor",
                StartSource::FirstUse => "first_use",
            });
        json.key("phases_ms").open('{');
        json.first_key("init").opt_ms(self.init);
        json.key("wait_for_first_event")
            .opt_ms(self.wait_for_first_event);
        json.key("event_to_handler").opt_ms(self.event_to_handler);
        json.key("to_first_invocation").ms(self.to_first_invocation);
        json.key("first_invocation").ms(self.first_invocation);
        json.key("user_facing").opt_ms(self.user_facing);
        json.close('}');
        json.key("cpu");
        match &self.cpu {
            None => json.null(),
            Some(cpu) => {
                let share = |share: Option<f64>| share.map(|s| (s * 1e4).round() / 1e4);
                json.open('{');
                json.first_key("init_ms").ms(cpu.init);
                json.key("init_wall_ms").ms(cpu.init_wall);
                json.key("init_share").opt_f64(share(cpu.init_share()));
                json.key("first_invocation_ms").opt_ms(cpu.first_invocation);
                json.key("first_invocation_wall_ms")
                    .opt_ms(cpu.first_invocation_wall);
                json.key("first_invocation_share")
                    .opt_f64(share(cpu.first_invocation_share()));
                json.close('}');
            }
        }
        json.key("lazy").open('[');
        for (i, info) in self.lazies.iter().enumerate() {
            if i > 0 {
                json.punct(b',');
            }
            json.open('{');
            json.first_key("name").str(info.name);
            json.key("module").str(info.module_path);
            json.key("state").str(&info.state.to_string());
            json.key("ms").opt_ms(info.duration);
            json.key("start_ms").opt_ms(info.started);
            json.key("spent_ms").ms(info.spent);
            json.key("during").opt_str(info.during.map(During::as_str));
            json.key("invocation")
                .opt_uint(info.during.and_then(During::invocation));
            json.key("prewarm").bool(info.prewarm);
            json.key("failures")
                .opt_uint(Some(u64::from(info.failures)));
            json.close('}');
        }
        json.close(']');
        json.key("timeline").open('[');
        for (i, entry) in self.timeline.iter().enumerate() {
            if i > 0 {
                json.punct(b',');
            }
            json.open('{');
            json.first_key("kind").str(entry.kind.as_str());
            json.key("name").str(entry.name);
            json.key("start_ms").ms(entry.started);
            json.key("ms").opt_ms(entry.duration);
            json.key("inclusive_ms").opt_ms(entry.inclusive);
            json.key("depth").opt_uint(Some(u64::from(entry.depth)));
            json.key("during").str(entry.during.as_str());
            json.key("invocation").opt_uint(entry.during.invocation());
            if entry.kind == TimelineKind::Phase {
                json.key("outcome")
                    .str(entry.outcome.map_or("open", Outcome::as_str));
            }
            json.close('}');
        }
        json.close(']');
        json.key("memory");
        match &self.memory {
            None => json.null(),
            Some(m) => {
                json.open('{');
                json.first_key("resident_bytes")
                    .opt_uint(Some(m.resident_bytes));
                json.key("peak_bytes").opt_uint(Some(m.peak_resident_bytes));
                json.key("hint").str(&m.sizing_hint(env.memory_size_mb()));
                json.close('}');
            }
        }
        json.key("budget");
        match &self.budget {
            None => json.null(),
            Some(b) => {
                json.open('{');
                json.first_key("budget_ms").ms(b.budget);
                json.key("took_ms").ms(b.took);
                json.key("exceeded_by_ms").opt_ms(b.exceeded_by);
                json.key("dominant").open('[');
                for (i, (what, duration)) in b.dominant.iter().enumerate() {
                    if i > 0 {
                        json.punct(b',');
                    }
                    json.open('{');
                    json.first_key("what").str(what);
                    json.key("ms").ms(*duration);
                    json.close('}');
                }
                json.close(']');
                json.close('}');
            }
        }
        json.key("cost");
        match &self.cost {
            Err(err) => {
                json.open('{');
                json.first_key("error").str(&err.to_string());
                json.close('}');
            }
            Ok(cost) => {
                let price = cost.price_per_gb_second;
                json.open('{');
                json.first_key("memory_mb")
                    .opt_uint(Some(u64::from(cost.memory_mb)));
                json.key("price_per_gb_second").opt_f64(price);
                json.key("init").open('{');
                match cost.init {
                    InitBilling::Duration(billed) => {
                        json.first_key("billed").bool(true);
                        json.billed(billed, price);
                    }
                    InitBilling::NotBilledAsDuration => {
                        json.first_key("billed").bool(false);
                        json.key("why").str(&format!(
                            "{} INIT is not billed as duration",
                            env.init_type()
                        ));
                    }
                    InitBilling::NotMeasured => {
                        json.first_key("billed").bool(true);
                        json.key("why")
                            .str("init end was not marked (coldstart::lambda::run marks it)");
                    }
                }
                json.close('}');
                json.key("first_invocation").open('{');
                json.first_key("billed").bool(true);
                json.billed(cost.first_invocation, price);
                json.close('}');
                json.key("gb_seconds").f64(cost.gb_seconds());
                json.key("amount").opt_f64(cost.amount());
                json.close('}');
            }
        }
        json.close('}');
        json.0
    }
}

/// A JSON text written field by field: one small function per kind of value, instead of a
/// `format!` per object, keeps the report's code small in every function binary.
struct Json(String);

impl Json {
    /// `,"name":` — the key of a field that follows another.
    #[inline(never)]
    fn key(&mut self, name: &str) -> &mut Self {
        self.punct(b',');
        self.first_key(name)
    }

    /// `"name":` — the first key of an object.
    #[inline(never)]
    fn first_key(&mut self, name: &str) -> &mut Self {
        push_str(&mut self.0, name);
        self.punct(b':');
        self
    }

    fn open(&mut self, bracket: char) {
        self.punct(bracket as u8);
    }

    fn close(&mut self, bracket: char) {
        self.punct(bracket as u8);
    }

    /// One ASCII punctuation character: out of line, so that each of the report's ~60 brackets
    /// and commas is a call, not an inlined `String::push`.
    #[inline(never)]
    fn punct(&mut self, ascii: u8) {
        self.0.push(char::from(ascii));
    }

    #[inline(never)]
    fn null(&mut self) {
        self.0.push_str("null");
    }

    #[inline(never)]
    fn str(&mut self, value: &str) {
        push_str(&mut self.0, value);
    }

    #[inline(never)]
    fn opt_str(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.str(value),
            None => self.null(),
        }
    }

    #[inline(never)]
    fn bool(&mut self, value: bool) {
        self.0.push_str(if value { "true" } else { "false" });
    }

    #[inline(never)]
    fn opt_uint(&mut self, value: Option<u64>) {
        use fmt::Write;
        match value {
            Some(value) => {
                let _ = write!(self.0, "{value}");
            }
            None => self.null(),
        }
    }

    /// `,"ms":…,"billed_ms":…,"gb_seconds":…,"amount":…` of one billed duration.
    fn billed(&mut self, billed: Billed, price: Option<f64>) {
        self.key("ms").ms(billed.measured);
        self.key("billed_ms")
            .opt_uint(u64::try_from(billed.billed.as_millis()).ok());
        self.key("gb_seconds").f64(billed.gb_seconds);
        self.key("amount")
            .opt_f64(price.map(|price| price * billed.gb_seconds));
    }

    /// A number as Rust prints it (shortest round-trip form); `null` if not finite.
    #[inline(never)]
    fn f64(&mut self, value: f64) {
        use fmt::Write;
        if value.is_finite() {
            let _ = write!(self.0, "{value}");
        } else {
            self.null();
        }
    }

    #[inline(never)]
    fn opt_f64(&mut self, value: Option<f64>) {
        match value {
            Some(value) => self.f64(value),
            None => self.null(),
        }
    }

    /// A duration in milliseconds, rounded to the microsecond.
    #[inline(never)]
    fn ms(&mut self, duration: Duration) {
        use fmt::Write;
        let value = ms(duration);
        if value.is_finite() {
            let _ = write!(self.0, "{value}");
        } else {
            self.null();
        }
    }

    #[inline(never)]
    fn opt_ms(&mut self, duration: Option<Duration>) {
        match duration {
            Some(duration) => self.ms(duration),
            None => self.null(),
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
