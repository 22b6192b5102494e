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

fn waterfall(run: &ColdRun) -> String {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    // (kind, name, start, duration, depth, during)
    let mut bars: Vec<(String, String, f64, f64, u64, String)> = Vec::new();
    if let Some(next) = run.to_first_next {
        bars.push((
            "tool".into(),
            "exec → first /next (INIT)".into(),
            0.0,
            ms(next),
            0,
            "init".into(),
        ));
        if let Some(response) = run.to_first_response {
            bars.push((
                "tool".into(),
                "first /next → first response".into(),
                ms(next),
                ms(response) - ms(next),
                0,
                "invocation".into(),
            ));
        }
    }
    if let Some(report) = &run.report {
        for entry in &report.timeline {
            bars.push((
                entry.kind.clone(),
                entry.name.clone(),
                entry.start_ms,
                entry.ms.unwrap_or(0.0),
                entry.depth,
                entry.during.clone(),
            ));
        }
    }
    let end = bars
        .iter()
        .map(|(_, _, start, len, ..)| start + len)
        .fold(0.0f64, f64::max)
        .max(0.001);
    let mut out = String::from("<table class=\"waterfall\"><thead><tr><th>what</th><th>kind</th><th>start</th><th>duration</th><th class=\"track\">0 – ");
    out.push_str(&format!("{end:.2} ms</th></tr></thead><tbody>\n"));
    for (kind, name, start, len, depth, during) in &bars {
        let left = start / end * 100.0;
        let width = (len / end * 100.0).max(0.2);
        out.push_str(&format!(
            "<tr class=\"waterfall-row\" data-kind=\"{kind}\" data-name=\"{name}\"><td style=\"padding-left:{indent}em\">{name}</td><td>{kind}, {during}</td><td class=\"num\">{start:.2} ms</td><td class=\"num\">{len:.2} ms</td><td class=\"track\"><div class=\"bar {kind}\" style=\"margin-left:{left:.3}%;width:{width:.3}%\" title=\"{name}: {len:.2} ms\"></div></td></tr>\n",
            kind = escape(kind),
            name = escape(name),
            during = escape(during),
            indent = 0.4 + *depth as f64,
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

fn distribution(runs: &[ColdRun]) -> String {
    let mut out = String::from("<table class=\"distribution\"><thead><tr><th>measurement</th><th>median</th><th>p95</th><th>max</th><th>runs</th><th class=\"track\">every run (dot), median (bar), p95 (tick)</th></tr></thead><tbody>\n");
    for row in profile::rows(runs) {
        let name = escape(&row.name);
        let section = escape(row.section);
        let Some(summary) = row.summary() else {
            out.push_str(&format!(
                "<tr class=\"dist-row\" data-section=\"{section}\" data-name=\"{name}\"><td>{name}</td><td colspan=\"5\" class=\"unavailable\">unavailable</td></tr>\n"
            ));
            continue;
        };
        let Summary {
            n,
            median,
            p95,
            max,
        } = summary;
        let scale = if max > 0.0 { max } else { 1.0 };
        let mut svg = String::from("<svg viewBox=\"0 0 300 16\" width=\"300\" height=\"16\">");
        for value in row.values.iter().flatten() {
            svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"8\" r=\"2.5\" class=\"dot\"/>",
                4.0 + value / scale * 292.0
            ));
        }
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"1\" width=\"2\" height=\"14\" class=\"median\"/><rect x=\"{:.1}\" y=\"3\" width=\"1\" height=\"10\" class=\"p95\"/></svg>",
            3.0 + median / scale * 292.0,
            3.5 + p95 / scale * 292.0
        ));
        let v = |x: f64| escape(&profile::fmt_value(Some(x), row.unit));
        out.push_str(&format!(
            "<tr class=\"dist-row\" data-section=\"{section}\" data-name=\"{name}\"><td>{prefix}{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{n}/{}</td><td class=\"track\">{svg}</td></tr>\n",
            v(median),
            v(p95),
            v(max),
            row.values.len(),
            prefix = if row.section == "tool" { String::new() } else { format!("{section}: ") },
        ));
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
            cost.map_or("unavailable".into(), |s| format!("{:.7}", s.median)),
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
.dot{fill:#4a7bd0;fill-opacity:.45}.median{fill:#111}.p95{fill:#c33}.unavailable{color:#888;font-style:italic}
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
        body.push_str("<h3>Waterfall of the median run</h3>\n");
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
