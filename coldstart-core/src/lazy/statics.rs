//! Every lazy static of the program, from the link-time registry: [`statics`].

use std::fmt;

use super::registry::Registration;
use super::vocabulary::{During, LazyInfo, State};

/// Every lazy static of the program, most expensive first. Returned by [`statics`].
///
/// Its `Display` prints one line per static.
///
/// ```
/// let statics = coldstart::lazy::statics();
/// for lazy in &statics.lazies {
///     println!("{} cost {:?}", lazy.name, lazy.spent);
/// }
/// print!("{statics}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statics {
    /// One entry per `#[lazy]` static, sorted by [`LazyInfo::spent`], descending (then by name).
    pub lazies: Vec<LazyInfo>,
}

impl Statics {
    /// The entry named `name` (the `lazy` label), if any.
    ///
    /// Default labels are unique in the program (module path and identifier), but two statics
    /// can be given the same `name = "…"`. Both are then in [`lazies`](Self::lazies), and their
    /// durations are recorded under the same `lazy` label; `get` returns the first in the list's
    /// order (the more expensive one; on a tie, the first by module path). Tell them apart by
    /// [`LazyInfo::module_path`], or use [`Lazy::info`](super::Lazy::info) on the static itself.
    ///
    /// ```
    /// assert!(coldstart::lazy::statics().get("no such static").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&LazyInfo> {
        self.lazies.iter().find(|lazy| lazy.name == name)
    }

    /// The statics a request waited for: the last attempt ran during an invocation.
    ///
    /// ```
    /// assert_eq!(coldstart::lazy::statics().on_request_path().count(), 0);
    /// ```
    pub fn on_request_path(&self) -> impl Iterator<Item = &LazyInfo> {
        self.lazies
            .iter()
            .filter(|lazy| lazy.during.is_some_and(During::on_request_path))
    }
}

impl fmt::Display for Statics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.lazies.iter().map(|l| l.name.len()).max().unwrap_or(4);
        for lazy in &self.lazies {
            let duration = lazy
                .duration
                .map(|d| format!("{:>10.3} ms", d.as_secs_f64() * 1e3))
                .unwrap_or_else(|| format!("{:>13}", "-"));
            let during = lazy
                .during
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".to_owned());
            let mut state = lazy.state.to_string();
            if lazy.state == State::Ready && lazy.failures > 0 {
                state = format!("ready after {} failed", lazy.failures);
            }
            writeln!(
                f,
                "{:<width$}  {}  {:<26}  {:<24} {}{}",
                lazy.name,
                duration,
                during,
                state,
                lazy.module_path,
                if lazy.prewarm { " [prewarm]" } else { "" },
            )?;
        }
        Ok(())
    }
}

/// Every `#[lazy]` static linked into the program, touched or not, most expensive first.
///
/// ```
/// let statics = coldstart::lazy::statics();
/// assert!(statics.lazies.windows(2).all(|w| w[0].spent >= w[1].spent));
/// ```
pub fn statics() -> Statics {
    let mut lazies: Vec<LazyInfo> = Vec::new();
    for registration in inventory::iter::<Registration> {
        lazies.push((registration.entry)().info());
    }
    // The name and module path make the order total.
    crate::sort::sort_by(&mut lazies, |a, b| {
        b.spent
            .cmp(&a.spent)
            .then_with(|| a.name.cmp(b.name))
            .then_with(|| a.module_path.cmp(b.module_path))
            .is_lt()
    });
    Statics { lazies }
}
