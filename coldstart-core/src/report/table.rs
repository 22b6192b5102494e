//! The report as a table: its `Display`.

use std::fmt;
use std::time::Duration;

use super::{
    module_if_name_repeats, ms, Billed, ColdStartReport, InitBilling, TimelineEntry, TimelineKind,
};

/// The width of the waterfall's bars, in characters.
const BAR_WIDTH: usize = 32;

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
        if let Some(cause) = self.reinit {
            writeln!(
                f,
                "  (a re-init: Lambda restarted the runtime in this environment, after: {})",
                cause.as_str()
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
        if let Some(cpu) = &self.cpu {
            write!(
                f,
                "  cpu: INIT {:.3} ms in {:.3} ms",
                ms(cpu.init),
                ms(cpu.init_wall)
            )?;
            if let Some(share) = cpu.init_share() {
                write!(f, " ({share:.2} vCPU)")?;
            }
            if let (Some(used), Some(wall)) = (cpu.first_invocation, cpu.first_invocation_wall) {
                write!(
                    f,
                    "; first invocation {:.3} ms in {:.3} ms",
                    ms(used),
                    ms(wall)
                )?;
                if let Some(share) = cpu.first_invocation_share() {
                    write!(f, " ({share:.2} vCPU)")?;
                }
            }
            writeln!(f)?;
        }
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
        self.waterfall(f)?;
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
        self.cost_rows(f)
    }
}

/// `141 ms billed = 0.0705 GB-s`, and the amount when a price was given.
fn billed(billed: &Billed, price: Option<f64>) -> String {
    let mut text = format!(
        "{:>6} ms billed = {:>10.6} GB-s",
        billed.billed.as_millis(),
        billed.gb_seconds
    );
    if let Some(price) = price {
        text.push_str(&format!(" = {:.10}", price * billed.gb_seconds));
    }
    text
}

impl ColdStartReport {
    /// The cost rows: memory size and price, INIT, the first invocation, their sum.
    fn cost_rows(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cost = match &self.cost {
            Ok(cost) => cost,
            Err(err) => return writeln!(f, "  cost: {err}"),
        };
        let price = cost.price_per_gb_second;
        match price {
            Some(price) => writeln!(
                f,
                "  cost at {} MB ({} GB), {price} per GB-s:",
                cost.memory_mb,
                f64::from(cost.memory_mb) / 1024.0
            )?,
            None => writeln!(
                f,
                "  cost at {} MB ({} GB; give Coldstart::price_per_gb_second for money):",
                cost.memory_mb,
                f64::from(cost.memory_mb) / 1024.0
            )?,
        }
        match cost.init {
            InitBilling::Duration(init) => {
                writeln!(f, "    INIT              {}", billed(&init, price))?
            }
            InitBilling::NotBilledAsDuration => writeln!(
                f,
                "    INIT              not billed as duration ({})",
                self.environment.init_type()
            )?,
            InitBilling::NotMeasured => writeln!(
                f,
                "    INIT              billed, not measured: init end was not marked"
            )?,
        }
        writeln!(
            f,
            "    first invocation  {}",
            billed(&cost.first_invocation, price)
        )?;
        match cost.amount() {
            Some(amount) => writeln!(
                f,
                "    together                             {:>10.6} GB-s = {amount:.10}",
                cost.gb_seconds()
            ),
            None => writeln!(
                f,
                "    together                             {:>10.6} GB-s",
                cost.gb_seconds()
            ),
        }
    }

    /// The timeline as a waterfall: one row per entry in the order they started, indented by
    /// nesting, with its start, its exclusive duration and a bar from its start to its end
    /// (inclusive) on a scale from process start to the last end or init end.
    fn waterfall(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.timeline.is_empty() {
            return Ok(());
        }
        let end = |entry: &TimelineEntry| entry.started + entry.inclusive.unwrap_or_default();
        let scale = self
            .timeline
            .iter()
            .map(end)
            .chain(self.init)
            .max()
            .unwrap_or_default()
            .max(Duration::from_nanos(1));
        let column = |at: Duration| {
            let at = (at.as_secs_f64() / scale.as_secs_f64() * BAR_WIDTH as f64).round();
            (at as usize).min(BAR_WIDTH)
        };
        writeln!(
            f,
            "  timeline (start since process start, own time, bar to {:.3} ms{}):",
            ms(scale),
            if self.init.is_some() {
                "; `:` is init end"
            } else {
                ""
            }
        )?;
        let init_end = self.init.map(|init| column(init).min(BAR_WIDTH - 1));
        for entry in &self.timeline {
            let from = column(entry.started).min(BAR_WIDTH - 1);
            let to = column(end(entry)).max(from + 1);
            let bar: String = (0..BAR_WIDTH)
                .map(|i| match (i >= from && i < to, Some(i) == init_end) {
                    (true, _) => '#',
                    (false, true) => ':',
                    (false, false) => ' ',
                })
                .collect();
            let label = match entry.kind {
                TimelineKind::Phase => entry.name.to_owned(),
                TimelineKind::Lazy => format!("lazy {}", entry.name),
            };
            let indent = "  ".repeat(entry.depth.min(8) as usize);
            let name = format!("{indent}{label}");
            let cost = entry.duration.map_or_else(
                || format!("{:>10}", "open"),
                |d| format!("{:>7.3} ms", ms(d)),
            );
            let mut during = entry.during.to_string();
            if let Some(outcome) = entry.outcome.filter(|o| !o.is_ok()) {
                during = format!("{during}, {outcome}");
            }
            writeln!(
                f,
                "    {name:<28} {:>9.3} ms {cost}  |{bar}|  {during}",
                ms(entry.started)
            )?;
        }
        Ok(())
    }
}
