//! The Lambda execution environment, read once from the process environment.
//!
//! Lambda describes the environment through variables set before the runtime starts
//! (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_INITIALIZATION_TYPE`, ...). They are read on first use
//! and never again; a missing or malformed variable never panics: it is reported as absent
//! (`None`), or, for the initialization type, as [`InitType::Unknown`] holding the raw text.

use std::fmt;
use std::sync::OnceLock;

/// How Lambda initialized this execution environment, from `AWS_LAMBDA_INITIALIZATION_TYPE`.
///
/// Only [`InitType::OnDemand`] environments make a request wait for INIT; the others are
/// initialized ahead of demand, so their first invocation is not a user-facing cold start.
///
/// ```
/// use coldstart::environment::InitType;
///
/// assert_eq!(InitType::parse("snap-start"), InitType::SnapStart);
/// assert_eq!(InitType::parse("something-new").as_str(), "something-new");
/// assert!(InitType::OnDemand.is_user_facing());
/// assert!(!InitType::ProvisionedConcurrency.is_user_facing());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InitType {
    /// `on-demand`: a request arrived and had to wait for INIT. Also assumed when the variable is
    /// absent (outside Lambda, or on a platform that predates it).
    OnDemand,
    /// `provisioned-concurrency`: initialized ahead of demand and kept warm.
    ProvisionedConcurrency,
    /// `snap-start`: restored from a snapshot taken after INIT.
    SnapStart,
    /// `lambda-managed-instances`: an environment on Lambda Managed Instances, started ahead of
    /// traffic by its capacity provider.
    LambdaManagedInstances,
    /// A value this version of the crate does not know, kept verbatim.
    Unknown(String),
}

impl InitType {
    /// Parses the value of `AWS_LAMBDA_INITIALIZATION_TYPE`. Surrounding whitespace is ignored;
    /// anything unrecognised becomes [`InitType::Unknown`] with the text as written.
    ///
    /// ```
    /// use coldstart::environment::InitType;
    /// assert_eq!(InitType::parse(" provisioned-concurrency\n"), InitType::ProvisionedConcurrency);
    /// ```
    pub fn parse(value: &str) -> Self {
        match value.trim() {
            "on-demand" => Self::OnDemand,
            "provisioned-concurrency" => Self::ProvisionedConcurrency,
            "snap-start" => Self::SnapStart,
            "lambda-managed-instances" => Self::LambdaManagedInstances,
            _ => Self::Unknown(value.to_owned()),
        }
    }

    /// The value as Lambda spells it (`on-demand`, `snap-start`, ...), or the unknown text.
    ///
    /// ```
    /// use coldstart::environment::InitType;
    /// assert_eq!(InitType::LambdaManagedInstances.as_str(), "lambda-managed-instances");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::OnDemand => "on-demand",
            Self::ProvisionedConcurrency => "provisioned-concurrency",
            Self::SnapStart => "snap-start",
            Self::LambdaManagedInstances => "lambda-managed-instances",
            Self::Unknown(raw) => raw,
        }
    }

    /// The `init_type` label value: [`as_str`](Self::as_str) for the known types, `unknown` for
    /// any other (a label takes values from a bounded set).
    ///
    /// ```
    /// use coldstart::InitType;
    /// assert_eq!(InitType::SnapStart.label(), "snap-start");
    /// assert_eq!(InitType::Unknown("future-type".into()).label(), "unknown");
    /// ```
    pub fn label(&self) -> &'static str {
        match self {
            Self::OnDemand => "on-demand",
            Self::ProvisionedConcurrency => "provisioned-concurrency",
            Self::SnapStart => "snap-start",
            Self::LambdaManagedInstances => "lambda-managed-instances",
            Self::Unknown(_) => "unknown",
        }
    }

    /// Whether a request may have waited for this environment's INIT.
    ///
    /// `true` for [`InitType::OnDemand`] and, conservatively, for [`InitType::Unknown`] values;
    /// `false` for environments Lambda initializes ahead of demand.
    ///
    /// ```
    /// use coldstart::environment::InitType;
    /// assert!(!InitType::SnapStart.is_user_facing());
    /// ```
    pub fn is_user_facing(&self) -> bool {
        matches!(self, Self::OnDemand | Self::Unknown(_))
    }
}

impl fmt::Display for InitType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Lambda tells the function about its execution environment.
///
/// Read with [`Environment::current`] (once per process), or built from any variable source with
/// [`Environment::from_lookup`] (for tests).
///
/// ```
/// use coldstart::environment::{Environment, InitType};
///
/// let env = Environment::from_lookup(|name| match name {
///     "AWS_LAMBDA_FUNCTION_NAME" => Some("checkout".to_owned()),
///     "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("not a number".to_owned()),
///     _ => None,
/// });
/// assert_eq!(env.function_name(), Some("checkout"));
/// assert_eq!(env.memory_size_mb(), None); // garbage is reported as absent, never a panic
/// assert_eq!(env.init_type(), &InitType::OnDemand);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    function_name: Option<String>,
    function_version: Option<String>,
    memory_size_mb: Option<u32>,
    /// The memory size variable as found, for saying what was wrong with it.
    memory_size_raw: Option<String>,
    log_stream_name: Option<String>,
    region: Option<String>,
    init_type: InitType,
}

static CURRENT: OnceLock<Environment> = OnceLock::new();
const INIT_TYPE_VAR: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";

/// The variable `name` through `lookup`, `None` when absent or blank.
#[inline(never)]
fn non_blank(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|value| !value.trim().is_empty())
}

/// The init type a raw variable value stands for: absent or blank is on-demand.
fn init_type_from(raw: Option<String>) -> InitType {
    raw.filter(|value| !value.trim().is_empty())
        .map_or(InitType::OnDemand, |raw| InitType::parse(&raw))
}
static FUNCTION_NAME_OVERRIDE: OnceLock<String> = OnceLock::new();

impl Environment {
    /// The environment of this process, read from its variables on the first call.
    ///
    /// Later changes to the process environment are not seen: Lambda never changes them after
    /// the runtime starts.
    ///
    /// ```
    /// let env = coldstart::environment::Environment::current();
    /// println!("init type: {}", env.init_type());
    /// ```
    pub fn current() -> &'static Environment {
        CURRENT.get_or_init(|| Self::from_lookup(|name| std::env::var(name).ok()))
    }

    /// How Lambda initialized this process's environment: [`Environment::current`]`.init_type()`
    /// without reading the other variables, which the path to the first response does not need.
    ///
    /// ```
    /// use coldstart::environment::{Environment, InitType};
    /// assert_eq!(Environment::current_init_type(), &InitType::OnDemand); // variable absent
    /// assert_eq!(Environment::current_init_type(), Environment::current().init_type());
    /// ```
    pub fn current_init_type() -> &'static InitType {
        static INIT_TYPE: OnceLock<InitType> = OnceLock::new();
        INIT_TYPE.get_or_init(|| init_type_from(std::env::var(INIT_TYPE_VAR).ok()))
    }

    /// Builds an environment from a variable lookup (`name -> value`).
    ///
    /// Empty values count as absent. See the type-level example.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::from_dyn_lookup(&lookup)
    }

    /// [`from_lookup`](Self::from_lookup) behind a trait object: compiled once, not once per
    /// lookup closure, with each variable read through one out-of-line [`non_blank`] call.
    #[inline(never)]
    fn from_dyn_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| non_blank(lookup, name);
        let memory_size_raw = var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
        Environment {
            function_name: var("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: var("AWS_LAMBDA_FUNCTION_VERSION"),
            memory_size_mb: memory_size_raw
                .as_deref()
                .and_then(|raw| raw.trim().parse().ok())
                .filter(|&mb| mb > 0),
            memory_size_raw,
            log_stream_name: var("AWS_LAMBDA_LOG_STREAM_NAME"),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            init_type: init_type_from(lookup(INIT_TYPE_VAR)),
        }
    }

    /// The function's name: the override set with [`override_function_name`] if any, else
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    ///
    /// ```
    /// # use coldstart::environment::Environment;
    /// let env = Environment::from_lookup(|_| None);
    /// assert_eq!(env.function_name(), None);
    /// ```
    pub fn function_name(&self) -> Option<&str> {
        FUNCTION_NAME_OVERRIDE
            .get()
            .map(String::as_str)
            .or(self.function_name.as_deref())
    }

    /// `AWS_LAMBDA_FUNCTION_NAME` as Lambda set it, whatever [`override_function_name`] says
    /// (the OpenTelemetry resource's `faas.name` is the name as deployed).
    #[cfg(feature = "otel")]
    pub(crate) fn deployed_function_name(&self) -> Option<&str> {
        self.function_name.as_deref()
    }

    /// `AWS_LAMBDA_FUNCTION_VERSION` (`$LATEST` or a published version number).
    ///
    /// ```
    /// # use coldstart::environment::Environment;
    /// let env = Environment::from_lookup(|n| (n == "AWS_LAMBDA_FUNCTION_VERSION").then(|| "7".into()));
    /// assert_eq!(env.function_version(), Some("7"));
    /// ```
    pub fn function_version(&self) -> Option<&str> {
        self.function_version.as_deref()
    }

    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB, or `None` when absent or not a positive whole
    /// number.
    ///
    /// ```
    /// # use coldstart::environment::Environment;
    /// let env = Environment::from_lookup(|n| (n == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE").then(|| "1769".into()));
    /// assert_eq!(env.memory_size_mb(), Some(1769));
    /// ```
    pub fn memory_size_mb(&self) -> Option<u32> {
        self.memory_size_mb
    }

    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` as found (non-empty), parsed or not.
    pub(crate) fn memory_size_raw(&self) -> Option<&str> {
        self.memory_size_raw.as_deref()
    }

    /// `AWS_LAMBDA_LOG_STREAM_NAME`: unique per execution environment, so it identifies one.
    ///
    /// ```
    /// # use coldstart::environment::Environment;
    /// assert_eq!(Environment::from_lookup(|_| None).log_stream_name(), None);
    /// ```
    pub fn log_stream_name(&self) -> Option<&str> {
        self.log_stream_name.as_deref()
    }

    /// `AWS_REGION` (or `AWS_DEFAULT_REGION` when only that is set).
    ///
    /// ```
    /// # use coldstart::environment::Environment;
    /// let env = Environment::from_lookup(|n| (n == "AWS_DEFAULT_REGION").then(|| "eu-west-1".into()));
    /// assert_eq!(env.region(), Some("eu-west-1"));
    /// ```
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// How Lambda initialized this environment. [`InitType::OnDemand`] when the variable is absent.
    ///
    /// ```
    /// # use coldstart::environment::{Environment, InitType};
    /// let env = Environment::from_lookup(|n| (n == "AWS_LAMBDA_INITIALIZATION_TYPE").then(|| "snap-start".into()));
    /// assert_eq!(env.init_type(), &InitType::SnapStart);
    /// ```
    pub fn init_type(&self) -> &InitType {
        &self.init_type
    }
}

/// Overrides the function name reported by [`Environment::function_name`] for the rest of the
/// process. Returns `false` (and changes nothing) if an override was already set.
///
/// Use it when the deployed name is not the name you want in reports (for example one binary
/// deployed under several aliases).
///
/// ```
/// use coldstart::environment::{override_function_name, Environment};
///
/// assert!(override_function_name("checkout-api"));
/// assert!(!override_function_name("second-try"));
/// assert_eq!(Environment::current().function_name(), Some("checkout-api"));
/// ```
pub fn override_function_name(name: impl Into<String>) -> bool {
    FUNCTION_NAME_OVERRIDE.set(name.into()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn every_init_type_round_trips() {
        for raw in [
            "on-demand",
            "provisioned-concurrency",
            "snap-start",
            "lambda-managed-instances",
        ] {
            let parsed = InitType::parse(raw);
            assert!(!matches!(parsed, InitType::Unknown(_)), "{raw}");
            assert_eq!(parsed.as_str(), raw);
        }
        assert_eq!(
            InitType::parse("On-Demand"),
            InitType::Unknown("On-Demand".into())
        );
    }

    #[test]
    fn garbage_and_missing_values_never_panic() {
        let e = env(&[
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "-5"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "   "),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "\u{fffd}weird"),
        ]);
        assert_eq!(e.memory_size_mb(), None);
        assert_eq!(e.function_version(), None);
        assert_eq!(e.init_type(), &InitType::Unknown("\u{fffd}weird".into()));
        assert!(e.init_type().is_user_facing());
    }

    #[test]
    fn full_environment_is_read() {
        let e = env(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", " 512 "),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[$LATEST]abc"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency"),
        ]);
        assert_eq!(e.function_version(), Some("$LATEST"));
        assert_eq!(e.memory_size_mb(), Some(512));
        assert_eq!(e.log_stream_name(), Some("2026/11/27/[$LATEST]abc"));
        assert_eq!(e.region(), Some("us-east-1"));
        assert_eq!(e.init_type(), &InitType::ProvisionedConcurrency);
    }
}
