//! `--budget`: the percentile of exec → first response against the budget, per memory size.

use std::time::Duration;

use serde_json::{json, Value};

use crate::profile::{self, SizeRuns, Unit};
use crate::stats;

/// The outcome of `--budget`.
pub(super) struct BudgetCheck {
    budget: Duration,
    percentile: f64,
    /// (memory MB, the percentile's value in ms) per size.
    values: Vec<(u32, Option<f64>)>,
    pub(super) exceeded: bool,
}

impl BudgetCheck {
    pub(super) fn sentence(&self) -> String {
        let budget_ms = self.budget.as_secs_f64() * 1e3;
        let parts: Vec<String> = self
            .values
            .iter()
            .map(|(mb, v)| format!("{} at {mb} MB", profile::fmt_value(*v, Unit::Ms)))
            .collect();
        format!(
            "budget: p{} of exec → first response is {}; budget {budget_ms} ms: {}",
            self.percentile,
            parts.join(", "),
            if self.exceeded { "EXCEEDED" } else { "ok" }
        )
    }

    pub(super) fn json(&self) -> Value {
        json!({
            "budget_ms": self.budget.as_secs_f64() * 1e3,
            "percentile": self.percentile,
            "values": self.values.iter().map(|(mb, v)| json!({
                "memory_mb": mb,
                "ms": v.map_or(Value::String("unavailable".into()), Value::from),
            })).collect::<Vec<_>>(),
            "exceeded": self.exceeded,
        })
    }
}

/// The budget applies to every size's (projected, where it is) exec → first response; a size
/// without a single response cannot be shown within budget, so it counts as exceeding it.
pub(super) fn check_budget(sizes: &[SizeRuns], budget: Duration, percentile: f64) -> BudgetCheck {
    let budget_ms = budget.as_secs_f64() * 1e3;
    let values: Vec<(u32, Option<f64>)> = sizes
        .iter()
        .map(|size| {
            let sorted = stats::sorted(
                &size
                    .cold_start_ms()
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>(),
            );
            (size.memory_mb, stats::quantile(&sorted, percentile / 100.0))
        })
        .collect();
    let exceeded = values.iter().any(|(_, v)| v.is_none_or(|v| v > budget_ms));
    BudgetCheck {
        budget,
        percentile,
        values,
        exceeded,
    }
}
