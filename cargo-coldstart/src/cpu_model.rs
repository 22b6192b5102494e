//! The CPU model a `--memory` run is limited or projected with: the share of a vCPU INIT gets
//! and the share the invocations get, and where each number comes from.
//!
//! Lambda documents one rule: a function gets CPU in proportion to its memory, one vCPU at
//! 1,769 MB. Whether INIT follows it is not documented. Datadog's Lambda extension (its source,
//! June 2025) states that an on-demand INIT gets a vCPU boost (the equivalent of 1,769 MB: one
//! full vCPU) that a provisioned-concurrency INIT does not, and a 2023 measurement
//! (bitesizedserverless.com, "Lambda Cold Starts and Bootstrap Code") saw INIT run faster than
//! handler code at sizes up to 3 GB. Whether the boost survived INIT billing (August 2025) is not
//! published. So the defaults are:
//!
//! | init type | INIT | invocations |
//! |---|---|---|
//! | on-demand | max(1, memory/1769) vCPU ([`Basis::Boost`], assumed) | memory/1769 vCPU |
//! | provisioned-concurrency, snap-start | memory/1769 vCPU (assumed) | memory/1769 vCPU |
//!
//! `--init-cpu proportional|full` picks the other INIT rule; `--calibrate FILE` replaces both
//! shares with the medians measured on Lambda ([`crate::calibrate`]). Every table states the
//! model it used ([`CpuModel::describe`]).
//!
//! ```
//! use cargo_coldstart::cpu_model::{CpuChoice, InitCpu};
//! use cargo_coldstart::run::InitType;
//!
//! let model = CpuChoice::default().model(128, InitType::OnDemand);
//! assert_eq!(model.init.vcpus, 1.0); // the on-demand boost, assumed
//! assert!((model.invoke.vcpus - 128.0 / 1769.0).abs() < 1e-12);
//!
//! let proportional = CpuChoice { init_cpu: Some(InitCpu::Proportional), ..CpuChoice::default() };
//! assert_eq!(proportional.model(128, InitType::OnDemand).init.vcpus, model.invoke.vcpus);
//! ```

use crate::calibrate::Calibration;
use crate::run::InitType;

/// The memory size that gets one full vCPU.
const ONE_VCPU_MB: f64 = 1769.0;
/// The most vCPUs Lambda gives a function.
const MAX_VCPUS: f64 = 6.0;

/// Lambda's documented rule: `memory_mb / 1769` vCPUs, at most 6.
///
/// ```
/// assert_eq!(cargo_coldstart::cpu_model::proportional_vcpus(1769), 1.0);
/// ```
pub fn proportional_vcpus(memory_mb: u32) -> f64 {
    (f64::from(memory_mb) / ONE_VCPU_MB).min(MAX_VCPUS)
}

/// The CPU INIT gets, as `--init-cpu` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitCpu {
    /// Like the invocations: `memory/1769` of a vCPU.
    Proportional,
    /// At least one full vCPU (the on-demand INIT boost).
    Full,
}

impl InitCpu {
    /// The default for an init type: [`Full`](InitCpu::Full) for on-demand (the reported boost),
    /// [`Proportional`](InitCpu::Proportional) otherwise.
    ///
    /// ```
    /// use cargo_coldstart::cpu_model::InitCpu;
    /// use cargo_coldstart::run::InitType;
    /// assert_eq!(InitCpu::default_for(InitType::ProvisionedConcurrency), InitCpu::Proportional);
    /// ```
    pub fn default_for(init_type: InitType) -> InitCpu {
        match init_type {
            InitType::OnDemand => InitCpu::Full,
            InitType::ProvisionedConcurrency | InitType::SnapStart => InitCpu::Proportional,
        }
    }

    /// `proportional` or `full`, as the flag spells it.
    ///
    /// ```
    /// assert_eq!(cargo_coldstart::cpu_model::InitCpu::Full.as_str(), "full");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            InitCpu::Proportional => "proportional",
            InitCpu::Full => "full",
        }
    }

    fn other(self) -> InitCpu {
        match self {
            InitCpu::Proportional => InitCpu::Full,
            InitCpu::Full => InitCpu::Proportional,
        }
    }

    fn share(self, memory_mb: u32) -> Share {
        match self {
            InitCpu::Proportional => Share {
                vcpus: proportional_vcpus(memory_mb),
                basis: Basis::Proportional,
            },
            InitCpu::Full => Share {
                vcpus: proportional_vcpus(memory_mb).max(1.0),
                basis: Basis::Boost,
            },
        }
    }
}

/// Where a share comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    /// Lambda's documented rule, `memory/1769`.
    Proportional,
    /// The on-demand INIT boost: at least one vCPU.
    Boost,
    /// The median CPU/wall ratio of `n` report lines measured on Lambda.
    Calibrated {
        /// How many report lines the median is of.
        n: usize,
    },
}

/// One phase's share of a vCPU, and its basis.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// vCPUs (0.072 at 128 MB under the proportional rule).
    pub vcpus: f64,
    /// Where the number comes from.
    pub basis: Basis,
}

/// The CPU INIT and the invocations get at one memory size.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuModel {
    /// The memory size.
    pub memory_mb: u32,
    /// The init type it is for.
    pub init_type: InitType,
    /// INIT's share.
    pub init: Share,
    /// The invocations' share.
    pub invoke: Share,
    /// Why INIT's share is what it is: `assumed` (the init type's default), `--init-cpu`, or
    /// `calibrated`; with a note when calibration had no line for this size.
    pub init_why: String,
    /// The same for the invocations' share.
    pub invoke_why: String,
    /// The INIT rule the user can pass to see the other model (`None` once calibrated).
    pub alternative: Option<InitCpu>,
}

impl CpuModel {
    /// One line for a table header: "at 128 MB, on-demand: INIT 1.000 vCPU (assumed: on-demand
    /// INIT boost; --init-cpu proportional for 0.072), invoke 0.072 vCPU (proportional: 128/1769)".
    ///
    /// ```
    /// use cargo_coldstart::cpu_model::CpuChoice;
    /// use cargo_coldstart::run::InitType;
    /// let line = CpuChoice::default().model(128, InitType::OnDemand).describe();
    /// assert!(line.starts_with("at 128 MB, on-demand: INIT 1.000 vCPU (assumed"), "{line}");
    /// assert!(line.contains("--init-cpu proportional"), "{line}");
    /// ```
    pub fn describe(&self) -> String {
        let mut line = format!(
            "at {} MB, {}: INIT {:.3} vCPU ({}",
            self.memory_mb,
            self.init_type.as_str(),
            self.init.vcpus,
            self.init_why
        );
        if let Some(other) = self.alternative {
            line.push_str(&format!(
                "; --init-cpu {} for {:.3}",
                other.as_str(),
                other.share(self.memory_mb).vcpus
            ));
        }
        line.push_str(&format!(
            "), invoke {:.3} vCPU ({})",
            self.invoke.vcpus, self.invoke_why
        ));
        line
    }

    /// The model as JSON (`cpu_model` of each size in `--json`).
    pub fn json(&self) -> serde_json::Value {
        let basis = |share: &Share| match share.basis {
            Basis::Proportional => serde_json::json!({ "basis": "proportional" }),
            Basis::Boost => serde_json::json!({ "basis": "full" }),
            Basis::Calibrated { n } => serde_json::json!({ "basis": "calibrated", "n": n }),
        };
        let mut init = basis(&self.init);
        init["vcpus"] = self.init.vcpus.into();
        init["why"] = self.init_why.clone().into();
        let mut invoke = basis(&self.invoke);
        invoke["vcpus"] = self.invoke.vcpus.into();
        invoke["why"] = self.invoke_why.clone().into();
        serde_json::json!({
            "memory_mb": self.memory_mb,
            "init_type": self.init_type.as_str(),
            "init": init,
            "invoke": invoke,
            "description": self.describe(),
        })
    }
}

/// What the user chose: `--init-cpu` and `--calibrate`; the model of each size follows from it
/// ([`CpuChoice::model`]).
#[derive(Debug, Clone, Default)]
pub struct CpuChoice {
    /// `--init-cpu`; `None`: the init type's default ([`InitCpu::default_for`]).
    pub init_cpu: Option<InitCpu>,
    /// `--calibrate`: shares fitted from report lines, which win where they cover the size.
    pub calibration: Option<Calibration>,
}

impl CpuChoice {
    /// The model for one size and init type: calibrated shares where the calibration has lines
    /// for them, else `--init-cpu` (INIT) or the documented rule (invocations), else the
    /// defaults.
    pub fn model(&self, memory_mb: u32, init_type: InitType) -> CpuModel {
        let rule = self
            .init_cpu
            .unwrap_or_else(|| InitCpu::default_for(init_type));
        let mut init = rule.share(memory_mb);
        let mut init_why = match (self.init_cpu, rule) {
            (Some(chosen), _) => format!("--init-cpu {}", chosen.as_str()),
            (None, InitCpu::Full) => format!("assumed: {} INIT boost", init_type.as_str()),
            (None, InitCpu::Proportional) => {
                format!("assumed: {} INIT, proportional", init_type.as_str())
            }
        };
        let mut invoke = InitCpu::Proportional.share(memory_mb);
        let mut invoke_why = format!("proportional: {memory_mb}/1769");
        let mut alternative = Some(rule.other());
        if let Some(calibration) = &self.calibration {
            match calibration.init_share(memory_mb, init_type) {
                Some(fit) => {
                    init = Share {
                        vcpus: fit.median,
                        basis: Basis::Calibrated { n: fit.n },
                    };
                    init_why = format!("calibrated: median of {} report lines", fit.n);
                    alternative = None;
                }
                None => init_why.push_str(&format!(
                    "; the calibration has no {} INIT at {memory_mb} MB",
                    init_type.as_str()
                )),
            }
            match calibration.invoke_share(memory_mb) {
                Some(fit) => {
                    invoke = Share {
                        vcpus: fit.median,
                        basis: Basis::Calibrated { n: fit.n },
                    };
                    invoke_why = format!("calibrated: median of {} report lines", fit.n);
                }
                None => invoke_why.push_str(&format!(
                    "; the calibration has no first invocation at {memory_mb} MB"
                )),
            }
        }
        CpuModel {
            memory_mb,
            init_type,
            init,
            invoke,
            init_why,
            invoke_why,
            alternative,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_init_type() {
        let choice = CpuChoice::default();
        let on_demand = choice.model(128, InitType::OnDemand);
        assert_eq!(on_demand.init.basis, Basis::Boost);
        assert_eq!(on_demand.init.vcpus, 1.0);
        assert_eq!(on_demand.alternative, Some(InitCpu::Proportional));
        let provisioned = choice.model(128, InitType::ProvisionedConcurrency);
        assert_eq!(provisioned.init.basis, Basis::Proportional);
        assert!((provisioned.init.vcpus - 0.07236).abs() < 1e-4);
        assert_eq!(provisioned.alternative, Some(InitCpu::Full));
        // Above one vCPU the boost changes nothing.
        let big = choice.model(3538, InitType::OnDemand);
        assert_eq!(big.init.vcpus, 2.0);
        assert_eq!(big.invoke.vcpus, 2.0);
    }

    #[test]
    fn the_flag_overrides_the_default_and_says_so() {
        let choice = CpuChoice {
            init_cpu: Some(InitCpu::Proportional),
            calibration: None,
        };
        let model = choice.model(512, InitType::OnDemand);
        assert_eq!(model.init.vcpus, model.invoke.vcpus);
        let line = model.describe();
        assert!(
            line.contains("(--init-cpu proportional; --init-cpu full for 1.000)"),
            "{line}"
        );
        assert!(
            line.contains("invoke 0.289 vCPU (proportional: 512/1769)"),
            "{line}"
        );
    }
}
