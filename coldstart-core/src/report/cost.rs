//! What this environment's start cost, as Lambda bills duration: configured memory in GB
//! (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE` MB / 1024) × the duration rounded up to the next
//! millisecond, in GB-seconds; and, with a price per GB-second, in money.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::billing::Billed;
use crate::environment::{Environment, InitType};

/// No price set: the bits of a NaN, which no valid price has.
const NO_PRICE: u64 = u64::MAX;
static PRICE_PER_GB_SECOND: AtomicU64 = AtomicU64::new(NO_PRICE);

/// The price per GB-second set with `coldstart::lambda::Coldstart::price_per_gb_second`, if any.
pub(crate) fn price_per_gb_second() -> Option<f64> {
    match PRICE_PER_GB_SECOND.load(Ordering::Relaxed) {
        NO_PRICE => None,
        bits => Some(f64::from_bits(bits)),
    }
}

/// Sets the price; a price that is not a finite number ≥ 0 is refused with the reason.
#[cfg(feature = "lambda")]
pub(crate) fn set_price_per_gb_second(price: f64) -> Result<(), String> {
    if !price.is_finite() || price < 0.0 {
        return Err(format!(
            "price_per_gb_second must be a finite number >= 0, not {price}; the report shows GB-seconds only"
        ));
    }
    PRICE_PER_GB_SECOND.store(price.to_bits(), Ordering::Relaxed);
    Ok(())
}

/// How Lambda bills this environment's INIT.
///
/// ```
/// use coldstart::report::InitBilling;
///
/// # #[coldstart::cold_start_handler]
/// # fn handler(n: u32) -> u32 { n }
/// # handler(1);
/// if let Ok(cost) = coldstart::cold_start_report().unwrap().cost {
///     match cost.init {
///         InitBilling::Duration(init) => println!("INIT: {} ms billed", init.billed.as_millis()),
///         InitBilling::NotBilledAsDuration => println!("INIT: not billed as duration"),
///         InitBilling::NotMeasured => println!("INIT: billed, init end not marked"),
///         _ => {}
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum InitBilling {
    /// On-demand INIT is billed as duration, like an invocation (always for custom runtimes such
    /// as Rust's, for every on-demand function since 1 August 2025).
    Duration(Billed),
    /// Provisioned concurrency, SnapStart and Lambda Managed Instances pay for INIT otherwise
    /// (the provisioned or cached capacity, the instances), not as duration.
    NotBilledAsDuration,
    /// INIT is billed as duration but its end was not marked (no `coldstart::lambda::run`), so
    /// its length is unknown.
    NotMeasured,
}

/// What this environment's start cost: INIT and the first real invocation, in GB-seconds (and
/// money, with a price per GB-second). Part of the [`ColdStartReport`](super::ColdStartReport).
///
/// The durations are what the process measured: INIT from process start (Lambda's own Init
/// Duration also covers starting the process, a few milliseconds more) to init end; the first
/// invocation from its event's arrival to the handler's return (Lambda bills on until the runtime
/// asks for the next event, so the response post and the flush hook add to it). Lambda's
/// `REPORT` log line has the billed numbers; these are what the function's own code made of them.
///
/// ```
/// # #[coldstart::cold_start_handler]
/// # fn handler(n: u32) -> u32 { n }
/// # handler(1);
/// match coldstart::cold_start_report().unwrap().cost {
///     Ok(cost) => println!("{:.6} GB-s at {} MB", cost.gb_seconds(), cost.memory_mb),
///     Err(why) => println!("{why}"), // e.g. the memory size variable is not set
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Cost {
    /// The configured memory, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: u32,
    /// How INIT is billed, and what it came to when it is billed as duration.
    pub init: InitBilling,
    /// The first real invocation.
    pub first_invocation: Billed,
    /// The price per GB-second given with `Coldstart::price_per_gb_second`, if any.
    pub price_per_gb_second: Option<f64>,
}

impl Cost {
    /// INIT (when billed as duration) plus the first invocation, in GB-seconds.
    ///
    /// ```
    /// # #[coldstart::cold_start_handler]
    /// # fn handler(n: u32) -> u32 { n }
    /// # handler(1);
    /// // AWS_LAMBDA_FUNCTION_MEMORY_SIZE is not set here: no cost, and the report says why.
    /// let report = coldstart::cold_start_report().unwrap();
    /// assert!(report.cost.is_err());
    /// ```
    pub fn gb_seconds(&self) -> f64 {
        let init = match self.init {
            InitBilling::Duration(billed) => billed.gb_seconds,
            _ => 0.0,
        };
        init + self.first_invocation.gb_seconds
    }

    /// [`gb_seconds`](Self::gb_seconds) × the price per GB-second, when a price was given
    /// (`coldstart::lambda::Coldstart::price_per_gb_second`).
    ///
    /// ```
    /// # #[coldstart::cold_start_handler]
    /// # fn handler(n: u32) -> u32 { n }
    /// # handler(1);
    /// if let Ok(cost) = coldstart::cold_start_report().unwrap().cost {
    ///     assert_eq!(cost.amount(), None); // no price given here
    /// }
    /// ```
    pub fn amount(&self) -> Option<f64> {
        self.price_per_gb_second
            .map(|price| price * self.gb_seconds())
    }
}

/// Why the report has no [`Cost`]: the memory size Lambda always sets is missing or unreadable.
///
/// ```
/// use coldstart::report::CostError;
///
/// let err = CostError::MemorySizeInvalid("-128".to_owned());
/// assert!(err.to_string().contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CostError {
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` is not set (or empty).
    MemorySizeMissing,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` is not a positive whole number of MB; the value as
    /// found.
    MemorySizeInvalid(String),
}

impl fmt::Display for CostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostError::MemorySizeMissing => f.write_str(
                "no cost: AWS_LAMBDA_FUNCTION_MEMORY_SIZE is not set (Lambda always sets it, in MB)",
            ),
            CostError::MemorySizeInvalid(raw) => write!(
                f,
                "no cost: AWS_LAMBDA_FUNCTION_MEMORY_SIZE is {raw:?}, not a positive whole number of MB"
            ),
        }
    }
}

impl std::error::Error for CostError {}

/// The cost of `init` (None: end not marked) and the first invocation in `env`.
pub(super) fn cost(
    env: &Environment,
    init: Option<Duration>,
    first_invocation: Duration,
) -> Result<Cost, CostError> {
    let memory_mb = env.memory_size_mb().ok_or_else(|| {
        match env
            .memory_size_raw()
            .map(str::trim)
            .filter(|raw| !raw.is_empty())
        {
            Some(raw) => CostError::MemorySizeInvalid(raw.to_owned()),
            None => CostError::MemorySizeMissing,
        }
    })?;
    Ok(Cost {
        memory_mb,
        init: init_billing(env.init_type(), init, memory_mb),
        first_invocation: Billed::new(first_invocation, memory_mb),
        price_per_gb_second: price_per_gb_second(),
    })
}

fn init_billing(init_type: &InitType, init: Option<Duration>, memory_mb: u32) -> InitBilling {
    if !crate::billing::init_billed_as_duration(init_type) {
        return InitBilling::NotBilledAsDuration;
    }
    match init {
        Some(init) => InitBilling::Duration(Billed::new(init, memory_mb)),
        None => InitBilling::NotMeasured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_on_demand_init_is_billed_as_duration() {
        let init = Some(Duration::from_millis(5));
        for kind in [
            "provisioned-concurrency",
            "snap-start",
            "lambda-managed-instances",
        ] {
            let billing = init_billing(&InitType::parse(kind), init, 128);
            assert_eq!(billing, InitBilling::NotBilledAsDuration, "{kind}");
        }
        assert!(matches!(
            init_billing(&InitType::OnDemand, init, 128),
            InitBilling::Duration(_)
        ));
        assert_eq!(
            init_billing(&InitType::OnDemand, None, 128),
            InitBilling::NotMeasured
        );
    }

    #[test]
    #[cfg(feature = "lambda")]
    fn a_price_that_is_not_a_number_is_refused() {
        for bad in [f64::NAN, f64::INFINITY, -0.5] {
            let err = set_price_per_gb_second(bad).unwrap_err();
            assert!(err.contains("price_per_gb_second"), "{err}");
        }
        assert_eq!(price_per_gb_second(), None, "nothing was set");
    }

    #[test]
    fn a_missing_or_garbled_memory_size_says_which() {
        let env = |raw: Option<&str>| {
            Environment::from_lookup(|name| {
                (name == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                    .then(|| raw.map(str::to_owned))
                    .flatten()
            })
        };
        let one_ms = Duration::from_millis(1);
        assert_eq!(
            cost(&env(None), None, one_ms),
            Err(CostError::MemorySizeMissing)
        );
        assert_eq!(
            cost(&env(Some("  ")), None, one_ms),
            Err(CostError::MemorySizeMissing)
        );
        assert_eq!(
            cost(&env(Some("512MB")), None, one_ms),
            Err(CostError::MemorySizeInvalid("512MB".to_owned()))
        );
        let message = CostError::MemorySizeInvalid("512MB".to_owned()).to_string();
        assert!(
            message.contains(r#""512MB""#) && message.contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        );
        assert_eq!(
            cost(&env(Some("0")), None, one_ms),
            Err(CostError::MemorySizeInvalid("0".to_owned()))
        );
        assert_eq!(
            cost(&env(Some("512")), None, one_ms).unwrap().memory_mb,
            512
        );
    }
}
