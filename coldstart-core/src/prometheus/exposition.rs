//! The text exposition as a list of samples, and what changed in it since the last push: the body
//! an aggregating gateway adds to its sums.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::names::{self, MetricKind};

/// One family of the exposition: its `# HELP`/`# TYPE` lines and its samples, in order.
#[derive(Debug)]
pub(crate) struct Family<'a> {
    pub(crate) name: &'a str,
    pub(crate) kind: Kind,
    /// The `# HELP` line, if any.
    pub(crate) help: Option<&'a str>,
    pub(crate) samples: Vec<Sample<'a>>,
}

/// A family's `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl Kind {
    fn parse(text: &str) -> Kind {
        match text {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "summary" => Kind::Summary,
            _ => Kind::Untyped,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
            Kind::Untyped => "untyped",
        }
    }
}

/// One sample line: `series value`, `series` being the name and label block as rendered.
#[derive(Debug, Clone)]
pub(crate) struct Sample<'a> {
    pub(crate) series: &'a str,
    pub(crate) value: f64,
}

/// Splits `text` (as metrics-exporter-prometheus renders it) into families. Lines that are not
/// understood are skipped.
pub(crate) fn parse(text: &str) -> Vec<Family<'_>> {
    let mut families: Vec<Family<'_>> = Vec::new();
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ').map(|(name, _)| (name, line));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let Some((name, kind)) = rest.split_once(' ') else {
                continue;
            };
            families.push(Family {
                name,
                kind: Kind::parse(kind.trim()),
                help: help.filter(|(of, _)| *of == name).map(|(_, line)| line),
                samples: Vec::new(),
            });
            help = None;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some(value) = parse_value(value) else {
            continue;
        };
        let name = series_name(series);
        let sample = Sample { series, value };
        match families.last_mut() {
            Some(family) if belongs(family, name) => family.samples.push(sample),
            _ => families.push(Family {
                name,
                kind: Kind::Untyped,
                help: None,
                samples: vec![sample],
            }),
        }
    }
    families
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// The metric name of a series (`name{labels}` or `name`).
fn series_name(series: &str) -> &str {
    series.split_once('{').map_or(series, |(name, _)| name)
}

fn belongs(family: &Family<'_>, name: &str) -> bool {
    match family.kind {
        Kind::Histogram => name
            .strip_prefix(family.name)
            .is_some_and(|suffix| matches!(suffix, "_bucket" | "_sum" | "_count")),
        Kind::Summary => name
            .strip_prefix(family.name)
            .is_some_and(|suffix| matches!(suffix, "" | "_sum" | "_count")),
        _ => name == family.name,
    }
}

/// A series as a gateway tells it from another: its name and its labels, in name order (the
/// rendered order of labels is not part of its identity).
pub(crate) type SeriesKey = (String, BTreeMap<String, String>);

/// The labels of `series`, as `(name, raw value)` pairs (escapes left as rendered).
pub(crate) fn labels(series: &str) -> Vec<(&str, &str)> {
    let Some((_, rest)) = series.split_once('{') else {
        return Vec::new();
    };
    let block = rest.strip_suffix('}').unwrap_or(rest);
    let mut out = Vec::new();
    let mut rest = block;
    while let Some((name, after)) = rest.split_once("=\"") {
        // The value ends at the first `"` not escaped by a backslash.
        let bytes = after.as_bytes();
        let mut end = 0;
        let mut escaped = false;
        while end < bytes.len() {
            match bytes[end] {
                b'\\' if !escaped => escaped = true,
                b'"' if !escaped => break,
                _ => escaped = false,
            }
            end += 1;
        }
        out.push((
            name.trim_start_matches(',').trim(),
            &after[..end.min(after.len())],
        ));
        rest = after.get(end + 1..).unwrap_or("");
    }
    out
}

pub(crate) fn key(series: &str) -> SeriesKey {
    (
        series_name(series).to_owned(),
        labels(series)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
    )
}

/// The values last handed to the gateway, by series: what the next push subtracts.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    values: HashMap<SeriesKey, f64>,
}

/// What one push sends, and the values to remember if the gateway may have applied it.
#[derive(Debug)]
pub(crate) struct Delta {
    pub(crate) body: String,
    current: Vec<(SeriesKey, f64)>,
    /// The non-zero increments in `body`, by series.
    increments: Vec<(SeriesKey, f64)>,
}

/// The increments of a push the gateway may have applied: what to take back if it did not.
#[derive(Debug, Default)]
pub(crate) struct Increments(Vec<(SeriesKey, f64)>);

/// Which families are pushed, and how.
pub(crate) fn pushed(family: &Family<'_>) -> Option<Kind> {
    if let Some(def) = names::ALL.iter().find(|def| def.prometheus == family.name) {
        // coldstart's gauges describe one environment (its idle time, its age): a sum or a last
        // value across the fleet means nothing.
        return (def.kind != MetricKind::Gauge).then_some(family.kind);
    }
    match family.kind {
        Kind::Summary => None, // quantiles cannot be added up
        kind => Some(kind),
    }
}

impl Sent {
    /// The body of the next push: for counters and histograms, each series' increase since
    /// the values in `self` (zero included, so that the gateway holds every series from this
    /// environment's first push on); gauges as they are (the gateway replaces them); `seeds`
    /// (zero-valued series of families this environment has not recorded yet) appended to their
    /// families. Summaries are left out.
    pub(crate) fn delta(&self, families: &[Family<'_>], seeds: &[Family<'_>]) -> Delta {
        let mut body = String::with_capacity(4096);
        let mut current = Vec::new();
        let mut increments = Vec::new();
        let mut seen: std::collections::HashSet<SeriesKey> = std::collections::HashSet::new();
        let seeds_of = |name: &str| seeds.iter().find(|seed| seed.name == name);
        let mut write_family = |family: &Family<'_>, extra: Option<&Family<'_>>| {
            let Some(kind) = pushed(family) else {
                return;
            };
            // gravel-gateway refuses (HTTP 400) a counter whose name does not end in `_total`,
            // and a `# TYPE` of `untyped`: such a counter goes without `# HELP` and `# TYPE`
            // lines (untyped), added up all the same, under the name it was given.
            let typed = !(kind == Kind::Untyped
                || kind == Kind::Counter && !family.name.ends_with("_total"));
            if typed {
                if let Some(help) = family.help {
                    body.push_str(help);
                    body.push('\n');
                }
                let _ = writeln!(body, "# TYPE {} {}", family.name, kind.as_str());
            }
            let label_names = label_names(family);
            for sample in &family.samples {
                let series = with_labels(sample.series, &label_names);
                let key = key(&series);
                let value = if kind == Kind::Gauge {
                    sample.value
                } else {
                    let before = self.values.get(&key).copied().unwrap_or(0.0);
                    let increase = sample.value - before;
                    if increase > 0.0 {
                        increments.push((key.clone(), increase));
                    }
                    current.push((key.clone(), sample.value));
                    // A value below the last one sent cannot happen in one process; send
                    // nothing negative.
                    increase.max(0.0)
                };
                seen.insert(key);
                let _ = writeln!(body, "{series} {}", format_value(value));
            }
            for seed in extra.map(|f| f.samples.as_slice()).unwrap_or_default() {
                let key = key(seed.series);
                if seen.insert(key) {
                    let _ = writeln!(body, "{} 0", seed.series);
                }
            }
        };
        for family in families {
            write_family(family, seeds_of(family.name));
        }
        for seed in seeds {
            if !families.iter().any(|family| family.name == seed.name) {
                let empty = Family {
                    name: seed.name,
                    kind: seed.kind,
                    help: seed.help,
                    samples: Vec::new(),
                };
                write_family(&empty, Some(seed));
            }
        }
        Delta {
            body,
            current,
            increments,
        }
    }

    /// The gateway applied `delta`, or may have: the next push subtracts its values. Returns
    /// its increments, for [`Sent::not_applied`] should it turn out the gateway did not.
    pub(crate) fn applied(&mut self, delta: Delta) -> Increments {
        self.values.extend(delta.current);
        Increments(delta.increments)
    }

    /// A push thought applied was not: its increments go with the next push.
    pub(crate) fn not_applied(&mut self, increments: Increments) {
        for (key, increase) in increments.0 {
            if let Some(value) = self.values.get_mut(&key) {
                *value -= increase;
            }
        }
    }
}

/// Every label name on `family`'s samples but `le`, in order of first appearance, then, for one
/// of coldstart's metrics, those of its labels no sample has: the same names from every
/// environment, whichever of the metric's series it recorded (an aggregating gateway fixes a
/// metric's label names with its first push).
fn label_names<'a>(family: &Family<'a>) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for sample in &family.samples {
        for (name, _) in labels(sample.series) {
            if name != "le" && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if let Some(def) = names::ALL.iter().find(|def| def.prometheus == family.name) {
        for label in def.labels {
            if !names.contains(label) {
                names.push(label);
            }
        }
    }
    names
}

/// `series` with every label of `names` it lacks added with an empty value (before `le`), which
/// Prometheus reads as the label being absent. An aggregating gateway (gravel-gateway) refuses a
/// family whose series have different label names, and coldstart records a few series without
/// one of their family's labels (the cold start of a rejected payload has no `handler`).
fn with_labels<'a>(series: &'a str, names: &[&str]) -> std::borrow::Cow<'a, str> {
    let labels = labels(series);
    if names
        .iter()
        .all(|name| labels.iter().any(|(label, _)| label == name))
    {
        return std::borrow::Cow::Borrowed(series);
    }
    let mut block = String::new();
    let mut push = |name: &str, value: &str| {
        if !block.is_empty() {
            block.push(',');
        }
        let _ = write!(block, "{name}=\"{value}\"");
    };
    for (name, value) in labels.iter().filter(|(name, _)| *name != "le") {
        push(name, value);
    }
    for name in names {
        if !labels.iter().any(|(label, _)| label == name) {
            push(name, "");
        }
    }
    for (name, value) in labels.iter().filter(|(name, _)| *name == "le") {
        push(name, value);
    }
    std::borrow::Cow::Owned(format!("{}{{{block}}}", series_name(series)))
}

fn format_value(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP orders_total Orders.\n# TYPE orders_total counter\norders_total{a=\"x\"} 3\norders_total{a=\"y\\\"q\"} 1\n\n# TYPE temp gauge\ntemp 21.5\n\n# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 1.25\nlat_count 2\n\n# TYPE q summary\nq{quantile=\"0.5\"} 1\nq_sum 1\nq_count 1\n";

    #[test]
    fn families_and_samples_are_parsed_as_rendered() {
        let families = parse(TEXT);
        let summary: Vec<_> = families
            .iter()
            .map(|f| (f.name, f.kind, f.samples.len(), f.help.is_some()))
            .collect();
        assert_eq!(
            summary,
            [
                ("orders_total", Kind::Counter, 2, true),
                ("temp", Kind::Gauge, 1, false),
                ("lat", Kind::Histogram, 4, false),
                ("q", Kind::Summary, 3, false),
            ]
        );
        assert_eq!(families[2].samples[1].value, 2.0);
        assert_eq!(
            labels("orders{a=\"y\\\"q\",b=\"\"}"),
            [("a", "y\\\"q"), ("b", "")]
        );
        assert_eq!(labels("lat_sum"), []);
        assert_eq!(key("x{b=\"1\",a=\"2\"}"), key("x{a=\"2\",b=\"1\"}"));
    }

    #[test]
    fn a_push_sends_increments_gauges_as_they_are_and_no_summaries() {
        let mut sent = Sent::default();
        let first = sent.delta(&parse(TEXT), &[]);
        assert_eq!(
            first.body,
            "# HELP orders_total Orders.\n# TYPE orders_total counter\norders_total{a=\"x\"} 3\norders_total{a=\"y\\\"q\"} 1\n# TYPE temp gauge\ntemp 21.5\n# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 1.25\nlat_count 2\n"
        );
        sent.applied(first);
        let later = TEXT
            .replace("orders_total{a=\"x\"} 3", "orders_total{a=\"x\"} 5")
            .replace("lat_bucket{le=\"+Inf\"} 2", "lat_bucket{le=\"+Inf\"} 3")
            .replace("lat_sum 1.25", "lat_sum 3.75")
            .replace("lat_count 2", "lat_count 3")
            .replace("temp 21.5", "temp 19");
        let second = sent.delta(&parse(&later), &[]);
        assert!(
            second.body.contains("\norders_total{a=\"x\"} 2\n"),
            "{}",
            second.body
        );
        assert!(
            second.body.contains("\norders_total{a=\"y\\\"q\"} 0\n"),
            "{}",
            second.body
        );
        assert!(second.body.contains("\ntemp 19\n"), "{}", second.body);
        assert!(
            second.body.contains(
                "\nlat_bucket{le=\"0.5\"} 0\nlat_bucket{le=\"+Inf\"} 1\nlat_sum 2.5\nlat_count 1\n"
            ),
            "{}",
            second.body
        );
        // Not applied (the gateway cannot have seen it): the next push subtracts the first again.
        let third = sent.delta(&parse(&later), &[]);
        assert_eq!(third.body, second.body);
    }

    #[test]
    fn a_counter_not_named_total_goes_untyped_under_its_name() {
        // gravel-gateway refuses a push with a counter whose name does not end in `_total`.
        let text =
            "# HELP orders_handled Orders.\n# TYPE orders_handled counter\norders_handled 2\n";
        assert_eq!(
            Sent::default().delta(&parse(text), &[]).body,
            "orders_handled 2\n"
        );
    }

    #[test]
    fn every_series_of_a_family_gets_the_family_s_label_names() {
        let text = "# TYPE c_total counter\nc_total{start=\"cold\"} 1\nc_total{handler=\"h\",start=\"warm\"} 2\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\nh_bucket{a=\"x\",le=\"1\"} 0\nh_bucket{a=\"x\",le=\"+Inf\"} 1\nh_sum{a=\"x\"} 2\nh_count{a=\"x\"} 1\n";
        let body = Sent::default().delta(&parse(text), &[]).body;
        assert_eq!(
            body,
            "# TYPE c_total counter\nc_total{start=\"cold\",handler=\"\"} 1\nc_total{handler=\"h\",start=\"warm\"} 2\n# TYPE h histogram\nh_bucket{a=\"\",le=\"1\"} 1\nh_bucket{a=\"\",le=\"+Inf\"} 1\nh_sum{a=\"\"} 0.5\nh_count{a=\"\"} 1\nh_bucket{a=\"x\",le=\"1\"} 0\nh_bucket{a=\"x\",le=\"+Inf\"} 1\nh_sum{a=\"x\"} 2\nh_count{a=\"x\"} 1\n"
        );
    }

    #[test]
    fn seeds_fill_in_series_not_rendered_and_never_duplicate_one() {
        let seeds_text = "# TYPE orders_total counter\norders_total{a=\"x\"} 0\norders_total{a=\"z\"} 0\n# TYPE fresh_total counter\nfresh_total{a=\"x\"} 0\n";
        let seeds = parse(seeds_text);
        let delta = Sent::default().delta(&parse(TEXT), &seeds);
        assert_eq!(
            delta.body.matches("orders_total{a=\"x\"}").count(),
            1,
            "{}",
            delta.body
        );
        assert!(
            delta.body.contains("\norders_total{a=\"z\"} 0\n"),
            "{}",
            delta.body
        );
        assert!(
            delta
                .body
                .ends_with("# TYPE fresh_total counter\nfresh_total{a=\"x\"} 0\n"),
            "{}",
            delta.body
        );
    }
}
