//! `prometheus/dashboard.json` (the Grafana dashboard) read back: every panel's title and PromQL
//! expressions, with the Grafana variables substituted, so that tests can run them.

use serde_json::Value;
use std::path::Path;

/// One panel of the dashboard.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    /// Grafana's panel type: `timeseries`, `stat`, ...
    pub kind: String,
    /// Drawn as bars (`fieldConfig.defaults.custom.drawStyle` is `bars`): each point is a count
    /// for its own interval, so the points of a range must add up.
    pub bars: bool,
    pub description: String,
    pub targets: Vec<Target>,
}

/// One query of a panel.
#[derive(Debug, Clone)]
pub struct Target {
    pub ref_id: String,
    /// The PromQL, variables substituted.
    pub expr: String,
    /// Grafana runs it as an instant query (stat panels), not over the time range.
    pub instant: bool,
    pub legend: String,
}

/// The dashboard's JSON model.
pub fn model() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus/dashboard.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Every panel (those inside rows too), in order, with each expression's variables replaced by
/// `vars` (name without `$`, value), in both spellings `$name` and `${name}`. Longer names are
/// replaced first (`$__interval_ms` before `$__interval`). Panics if a `$` is left over in an
/// expression: a variable the caller did not give a value would reach Prometheus as text.
pub fn panels(vars: &[(&str, &str)]) -> Vec<Panel> {
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = Vec::new();
    collect(&model()["panels"], &vars, &mut out);
    out
}

fn collect(panels: &Value, vars: &[(&str, &str)], out: &mut Vec<Panel>) {
    for panel in panels.as_array().expect("`panels` is an array") {
        if let Some(nested) = panel.get("panels") {
            collect(nested, vars, out); // a row
        }
        let Some(targets) = panel.get("targets") else {
            continue;
        };
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        let targets = targets
            .as_array()
            .expect("`targets` is an array")
            .iter()
            .map(|target| {
                let raw = target["expr"].as_str().unwrap_or_else(|| {
                    panic!("panel {title:?}: a target without a PromQL `expr`: {target}")
                });
                let expr = substitute(raw, vars);
                assert!(
                    !expr.contains('$'),
                    "panel {title:?}: a variable is left in {expr:?} (given: {vars:?})"
                );
                Target {
                    ref_id: target["refId"].as_str().unwrap_or_default().to_owned(),
                    expr,
                    instant: target["instant"].as_bool().unwrap_or(false),
                    legend: target["legendFormat"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                }
            })
            .collect();
        out.push(Panel {
            bars: panel["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars",
            kind: panel["type"].as_str().unwrap_or_default().to_owned(),
            description: panel["description"].as_str().unwrap_or_default().to_owned(),
            title,
            targets,
        });
    }
}

/// `text` with `${name}` and `$name` replaced for every variable in `vars` (longest first).
pub fn substitute(text: &str, vars: &[(&str, &str)]) -> String {
    let mut text = text.to_owned();
    for (name, value) in vars {
        text = text.replace(&format!("${{{name}}}"), value);
        text = text.replace(&format!("${name}"), value);
    }
    text
}
