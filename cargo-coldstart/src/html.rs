//! `--html FILE`: one self-contained page (inline CSS and SVG, no script, no network): the
//! waterfall of the typical run, the distribution of every measurement, the memory-size table.

use crate::profile::{self, SizeRuns, Unit};
use crate::run::ColdRun;
use crate::stats::Summary;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The run whose exec → first response is the median of the successful runs (a typical run),
/// preferring runs that printed a report.
fn median_run(runs: &[ColdRun]) -> Option<&ColdRun> {
    let mut candidates: Vec<&ColdRun> = runs
        .iter()
        .filter(|r| r.outcome.is_ok() && r.to_first_response.is_some())
        .collect();
    if candidates.iter().any(|r| r.report.is_some()) {
        candidates.retain(|r| r.report.is_some());
    }
    candidates.sort_by_key(|r| r.to_first_response);
    candidates
        .get(candidates.len().saturating_sub(1) / 2)
        .copied()
}

/// Axis ticks for values from 0 to `max`: a round step (1, 2, 2.5 or 5 × 10^k) giving about four
/// intervals, and the axis end, the first tick at or above `max`.
fn ticks(max: f64) -> (f64, Vec<f64>) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    let count = (max / step - 1e-9).ceil().max(1.0) as usize;
    // Through text, so 3 × 0.1 is 0.3, not 0.30000000000000004.
    let round = |x: f64| format!("{x:.9}").parse::<f64>().unwrap_or(x);
    let ticks: Vec<f64> = (0..=count).map(|i| round(i as f64 * step)).collect();
    (round(count as f64 * step), ticks)
}

/// A tick label: the value without trailing zeros, and its unit.
fn tick_label(value: f64, unit: &str) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// One bar of a waterfall track, in ms on the track's own clock.
struct Bar {
    kind: String,
    name: String,
    start: f64,
    len: f64,
    depth: u64,
    during: String,
    /// The start on the function's clock (ms since the process started), for bars of the
    /// invocation track.
    since_process_start: Option<f64>,
}

/// One waterfall track: one clock, its own axis with ticks.
fn track(id: &str, title: &str, origin: &str, bars: &[Bar], extra: &str) -> String {
    let end = bars.iter().map(|b| b.start + b.len).fold(0.0f64, f64::max);
    let (axis_end, ticks) = ticks(end);
    let mut axis = String::new();
    for tick in &ticks {
        axis.push_str(&format!(
            "<span class=\"tick\" data-ms=\"{tick}\" style=\"left:{:.3}%\">{}</span>",
            tick / axis_end * 100.0,
            escape(&tick_label(*tick, "ms"))
        ));
    }
    let mut out = format!(
        "<h4>{title}</h4>\n<table class=\"waterfall\" data-track=\"{id}\" data-origin=\"{origin}\" data-axis-ms=\"{axis_end}\"{extra}><thead><tr><th>what</th><th>kind</th><th>start</th><th>duration</th><th class=\"track\"><div class=\"axis\">{axis}</div></th></tr></thead><tbody>\n",
        title = escape(title),
        origin = escape(origin),
    );
    for bar in bars {
        let left = bar.start / axis_end * 100.0;
        let width = (bar.len / axis_end * 100.0).max(0.2);
        let since = bar.since_process_start.map_or(String::new(), |t| {
            format!(" data-since-process-start=\"{t:.3}\"")
        });
        out.push_str(&format!(
            "<tr class=\"waterfall-row\" data-kind=\"{kind}\" data-name=\"{name}\" data-track=\"{id}\" data-start=\"{start:.3}\" data-ms=\"{len:.3}\"{since}><td style=\"padding-left:{indent}em\">{name}</td><td>{kind}, {during}</td><td class=\"num\">{start:.2} ms</td><td class=\"num\">{len:.2} ms</td><td class=\"track\"><div class=\"bar {kind}\" style=\"margin-left:{left:.3}%;width:{width:.3}%\" title=\"{name}: {len:.2} ms\"></div></td></tr>\n",
            kind = escape(&bar.kind),
            name = escape(&bar.name),
            during = escape(&bar.during),
            start = bar.start,
            len = bar.len,
            indent = 0.4 + bar.depth as f64,
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

/// The waterfall of one run as up to three tracks, one clock each: INIT on the function's clock
/// (from process start), the first invocation on the function's clock from INIT's end (work the
/// first request did, such as a lazy pool, starts there, never inside INIT), and the tool's own
/// measurements from exec.
fn waterfall(run: &ColdRun) -> String {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let mut out = String::new();
    if let Some(report) = &run.report {
        let phase = |name: &str| {
            report
                .phases
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| *v)
        };
        let on_init = |during: &str| during == "init" || during == "prewarm";
        let init_end = phase("init");
        let mut init_bars = Vec::new();
        if let Some(init) = init_end {
            init_bars.push(Bar {
                kind: "report".into(),
                name: "INIT (process start → init end)".into(),
                start: 0.0,
                len: init,
                depth: 0,
                during: "init".into(),
                since_process_start: None,
            });
        }
        let mut invocation_bars = Vec::new();
        for entry in &report.timeline {
            let mut bar = Bar {
                kind: entry.kind.clone(),
                name: entry.name.clone(),
                start: entry.start_ms,
                len: entry.ms.unwrap_or(0.0),
                depth: entry.depth,
                during: entry.during.clone(),
                since_process_start: None,
            };
            if on_init(&entry.during) {
                init_bars.push(bar);
            } else if let Some(init) = init_end {
                bar.since_process_start = Some(entry.start_ms);
                bar.start = entry.start_ms - init;
                invocation_bars.push(bar);
            }
        }
        if let (Some(init), Some(wait)) = (init_end, phase("wait_for_first_event")) {
            invocation_bars.insert(
                0,
                Bar {
                    kind: "report".into(),
                    name: "waiting for the first event".into(),
                    start: 0.0,
                    len: wait,
                    depth: 0,
                    during: "between".into(),
                    since_process_start: Some(init),
                },
            );
            if let (Some(to_first), Some(first)) =
                (phase("to_first_invocation"), phase("first_invocation"))
            {
                invocation_bars.insert(
                    1,
                    Bar {
                        kind: "report".into(),
                        name: "first invocation (handler)".into(),
                        start: to_first - init,
                        len: first,
                        depth: 0,
                        during: "invocation".into(),
                        since_process_start: Some(to_first),
                    },
                );
            }
        }
        out.push_str(&track(
            "init",
            "INIT: the function's clock, ms since the process started",
            "process start",
            &init_bars,
            "",
        ));
        if let Some(init) = init_end {
            out.push_str(&track(
                "invocation",
                "First invocation: the function's clock, ms since INIT ended",
                "INIT end",
                &invocation_bars,
                &format!(" data-init-end-ms=\"{init:.3}\""),
            ));
        }
    }
    let mut tool_bars = Vec::new();
    if let Some(next) = run.to_first_next {
        tool_bars.push(Bar {
            kind: "tool".into(),
            name: "exec → first /next (INIT)".into(),
            start: 0.0,
            len: ms(next),
            depth: 0,
            during: "init".into(),
            since_process_start: None,
        });
        if let Some(response) = run.to_first_response {
            tool_bars.push(Bar {
                kind: "tool".into(),
                name: "first /next → first response".into(),
                start: ms(next),
                len: ms(response) - ms(next),
                depth: 0,
                during: "invocation".into(),
                since_process_start: None,
            });
        }
    }
    out.push_str(&track(
        "tool",
        "Measured by cargo coldstart: its own clock, ms since exec",
        "exec",
        &tool_bars,
        "",
    ));
    out
}

fn distribution(runs: &[ColdRun]) -> String {
    let mut out = String::from("<table class=\"distribution\"><thead><tr><th>measurement</th><th>median</th><th>p95</th><th>max</th><th>runs</th><th class=\"track\">every run (dot), median (bar), p95 (tick)</th></tr></thead><tbody>\n");
    for row in profile::rows(runs) {
        let name = escape(&row.name);
        let section = escape(row.section);
        let prefix = if row.section == "tool" {
            String::new()
        } else {
            format!("{section}: ")
        };
        let not_built = row.not_built_text(profile::reporting_runs(runs));
        let Some(summary) = row.summary() else {
            let (class, text) = match &not_built {
                Some(text) => ("not-built", text.as_str()),
                None => ("unavailable", "unavailable"),
            };
            out.push_str(&format!(
                "<tr class=\"dist-row\" data-section=\"{section}\" data-name=\"{name}\"><td>{prefix}{name}</td><td colspan=\"5\" class=\"{class}\">{}</td></tr>\n",
                escape(text)
            ));
            continue;
        };
        let Summary {
            n,
            median,
            p95,
            max,
        } = summary;
        // The axis runs from 0 to a round value at or above the max, with ticks and units.
        let (scale, ticks) = ticks(max);
        let x = |value: f64| 4.0 + value / scale * 292.0;
        let mut svg = format!(
            "<svg viewBox=\"0 0 300 32\" width=\"300\" height=\"32\" class=\"dots\" data-axis-max=\"{scale}\" data-unit=\"{}\">",
            row.unit.symbol()
        );
        svg.push_str("<line x1=\"4\" y1=\"17\" x2=\"296\" y2=\"17\" class=\"axis-line\"/>");
        for (i, tick) in ticks.iter().enumerate() {
            let anchor = match i {
                0 => "start",
                i if i + 1 == ticks.len() => "end",
                _ => "middle",
            };
            svg.push_str(&format!(
                "<g class=\"tick\" data-value=\"{tick}\"><line x1=\"{x:.2}\" y1=\"17\" x2=\"{x:.2}\" y2=\"20\"/><text x=\"{x:.2}\" y=\"29\" text-anchor=\"{anchor}\">{}</text></g>",
                escape(&tick_label(*tick, row.unit.symbol())),
                x = x(*tick),
            ));
        }
        for value in row.values.iter().flatten() {
            svg.push_str(&format!(
                "<circle cx=\"{:.2}\" cy=\"8\" r=\"2.5\" class=\"dot\" data-value=\"{value}\"/>",
                x(*value)
            ));
        }
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"1\" width=\"2\" height=\"14\" class=\"median\"/><rect x=\"{:.1}\" y=\"3\" width=\"1\" height=\"10\" class=\"p95\"/></svg>",
            x(median) - 1.0,
            x(p95) - 0.5
        ));
        let v = |x: f64| escape(&profile::fmt_value(Some(x), row.unit));
        out.push_str(&format!(
            "<tr class=\"dist-row\" data-section=\"{section}\" data-name=\"{name}\"><td>{prefix}{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{n}/{}</td><td class=\"track\">{svg}</td></tr>\n",
            v(median),
            v(p95),
            v(max),
            row.values.len(),
        ));
        if let Some(text) = not_built {
            out.push_str(&format!(
                "<tr class=\"dist-note\" data-name=\"{name}\"><td></td><td colspan=\"5\" class=\"not-built\">{}</td></tr>\n",
                escape(&text)
            ));
        }
    }
    out.push_str("</tbody></table>\n");
    out
}

fn size_table(sizes: &[SizeRuns]) -> String {
    let mut out = String::from("<table class=\"sizes\"><thead><tr><th>memory</th><th>limits</th><th>cold start (median)</th><th>cold start (p95)</th><th>INIT (median)</th><th>INIT GB-s (median)</th></tr></thead><tbody>\n");
    for size in sizes {
        let summarize = |values: Vec<Option<f64>>| {
            Summary::of(&values.into_iter().flatten().collect::<Vec<_>>())
        };
        let cold = summarize(size.cold_start_ms());
        let init = summarize(size.init_ms());
        let cost = summarize(size.init_gb_seconds());
        let mark = if size.projected() {
            " <em>projected</em>"
        } else {
            ""
        };
        out.push_str(&format!(
            "<tr class=\"size-row\" data-memory=\"{mb}\"><td>{mb} MB</td><td>{limits}</td><td class=\"num\">{}{mark}</td><td class=\"num\">{}{mark}</td><td class=\"num\">{}{mark}</td><td class=\"num\">{}</td></tr>\n",
            escape(&profile::fmt_value(cold.map(|s| s.median), Unit::Ms)),
            escape(&profile::fmt_value(cold.map(|s| s.p95), Unit::Ms)),
            escape(&profile::fmt_value(init.map(|s| s.median), Unit::Ms)),
            if size.init_type.init_billed_as_duration() {
                cost.map_or("unavailable".into(), |s| format!("{:.7}", s.median))
            } else {
                profile::NOT_BILLED.into()
            },
            mb = size.memory_mb,
            limits = size.limits.label(),
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums}.track{width:320px}
.bar{height:12px;border-radius:2px;background:#4a7bd0}.bar.lazy{background:#d0894a}.bar.tool{background:#999}
.bar.report{background:#7aa37a}
.axis{position:relative;height:1.2em;font-weight:normal;font-size:11px}.axis .tick{position:absolute;transform:translateX(-50%);border-left:1px solid #999;padding-left:2px}
.dot{fill:#4a7bd0;fill-opacity:.45}.median{fill:#111}.p95{fill:#c33}.unavailable{color:#888;font-style:italic}
.not-built{color:#555}.axis-line,.tick line{stroke:#999;stroke-width:1}.tick text{font-size:8px;fill:#555}
.failed{color:#b00}";

/// The whole page for a profile of `binary`.
///
/// ```
/// let page = cargo_coldstart::html::page("my-fn", &[], false);
/// assert!(page.starts_with("<!DOCTYPE html>"));
/// ```
pub fn page(binary: &str, sizes: &[SizeRuns], sizes_given: bool) -> String {
    let mut body = String::new();
    for size in sizes {
        let ok = size.runs.iter().filter(|r| r.outcome.is_ok()).count();
        body.push_str(&format!(
            "<section class=\"size\" data-memory=\"{mb}\"><h2>{mb} MB: {} cold runs, {ok} ok</h2>\n",
            size.runs.len(),
            mb = size.memory_mb
        ));
        for (i, run) in size
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.outcome.is_ok())
        {
            body.push_str(&format!(
                "<p class=\"failed\">run {}: {}</p>\n",
                i + 1,
                escape(&run.outcome.describe())
            ));
        }
        body.push_str("<h3>Waterfall of the median run</h3>\n<p>One clock per track: INIT from the process's start, the first invocation from INIT's end, the tool's measurements from exec.</p>\n");
        match median_run(&size.runs) {
            Some(run) => body.push_str(&waterfall(run)),
            None => body.push_str("<p class=\"unavailable\">unavailable: no run succeeded</p>\n"),
        }
        body.push_str("<h3>Distribution</h3>\n");
        body.push_str(&distribution(&size.runs));
        body.push_str("</section>\n");
    }
    if sizes_given {
        body.push_str("<h2>Per memory size</h2>\n");
        body.push_str(&size_table(sizes));
        if sizes.iter().any(SizeRuns::projected) {
            body.push_str("<p><em>projected</em>: no CPU limit could be applied; INIT = max(measured, INIT CPU time × 1769 / memory MB).</p>\n");
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cargo coldstart: {title}</title><style>{STYLE}</style></head>\n<body><h1>Cold starts of {title}</h1>\n{body}</body></html>\n",
        title = escape(binary)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_largest_value() {
        assert_eq!(ticks(7.56), (8.0, vec![0.0, 2.0, 4.0, 6.0, 8.0]));
        assert_eq!(ticks(100.0), (100.0, vec![0.0, 25.0, 50.0, 75.0, 100.0]));
        assert_eq!(ticks(0.33), (0.4, vec![0.0, 0.1, 0.2, 0.3, 0.4]));
        assert_eq!(ticks(0.0), (1.0, vec![0.0, 0.25, 0.5, 0.75, 1.0]));
        assert_eq!(tick_label(0.3, "ms"), "0.3 ms");
        assert_eq!(tick_label(100.0, "MB"), "100 MB");
    }
}
