//! The report as a table: its `Display`.

use std::fmt;
use std::time::Duration;

use super::{module_if_name_repeats, ms, ColdStartReport};

impl fmt::Display for ColdStartReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = &self.environment;
        let row = |f: &mut fmt::Formatter<'_>, what: &str, value: Option<Duration>, span: &str| {
            match value {
                Some(value) => writeln!(f, "  {what:<22} {:>10.3} ms  {span}", ms(value)),
                None => writeln!(f, "  {what:<22} {:>13}  {span}", "-"),
            }
        };
        writeln!(
            f,
            "cold-start report: {} ({} start, init type {}, handler {})",
            env.function_name().unwrap_or("(unnamed function)"),
            self.start_kind,
            env.init_type(),
            self.handler
        )?;
        if self.warmed_by_ping {
            writeln!(f, "  (a warm-up ping was this environment's first event)")?;
        }
        if self.first_event_rejected {
            writeln!(
                f,
                "  (this environment's first event was rejected before reaching the handler)"
            )?;
        }
        // The rows are the phases as the JSON line and the `phase` label name them.
        row(f, "init", self.init, "process start -> init end")?;
        row(
            f,
            "wait_for_first_event",
            self.wait_for_first_event,
            "init end -> the first event arrived",
        )?;
        row(
            f,
            "event_to_handler",
            self.event_to_handler,
            "the event arrived -> the handler was called",
        )?;
        row(
            f,
            "to_first_invocation",
            Some(self.to_first_invocation),
            "process start -> the handler was called",
        )?;
        row(
            f,
            "first_invocation",
            Some(self.first_invocation),
            "the handler's own run",
        )?;
        row(
            f,
            "user_facing",
            self.user_facing,
            "process start -> the handler returned (what a cold request waited)",
        )?;
        if let Some(budget) = &self.budget {
            match budget.exceeded_by {
                Some(over) => {
                    writeln!(
                        f,
                        "  over budget: {:.3} ms against {:.3} ms (+{:.3} ms); the time went to:",
                        ms(budget.took),
                        ms(budget.budget),
                        ms(over)
                    )?;
                    for (what, duration) in &budget.dominant {
                        writeln!(f, "    {what:<50} {:>10.3} ms", ms(*duration))?;
                    }
                }
                None => writeln!(
                    f,
                    "  within budget: {:.3} ms of {:.3} ms",
                    ms(budget.took),
                    ms(budget.budget)
                )?,
            }
        }
        if !self.lazies.is_empty() {
            writeln!(f, "  lazy statics, most expensive first:")?;
            for info in &self.lazies {
                let cost = info
                    .duration
                    .map_or_else(|| format!("{:>13}", "-"), |d| format!("{:>10.3} ms", ms(d)));
                let during = info
                    .during
                    .map_or_else(|| "never".to_owned(), |d| d.to_string());
                write!(f, "    {:<24} {cost}  {during}", info.name)?;
                match module_if_name_repeats(info, &self.lazies) {
                    Some(module) => writeln!(f, "  (in {module})")?,
                    None => writeln!(f)?,
                }
            }
        }
        if let Some(memory) = &self.memory {
            writeln!(f, "  memory: {}", memory.sizing_hint(env.memory_size_mb()))?;
        }
        Ok(())
    }
}
