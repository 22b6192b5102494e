//! A real `tracing` subscriber (tracing-subscriber's registry with one layer) that keeps every
//! span's name, fields (as recorded, including later `record`s) and its ancestors' ids.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span as the subscriber saw it.
#[derive(Clone, Debug)]
pub struct CapturedSpan {
    pub id: u64,
    pub name: String,
    pub fields: BTreeMap<String, String>,
    /// Its ancestors (indices into everything captured), nearest first.
    pub ancestors: Vec<usize>,
}

#[derive(Clone, Default)]
pub struct Spans(Arc<Mutex<Vec<CapturedSpan>>>);

impl Spans {
    /// Installs the capturing subscriber as the global default (once per test binary).
    pub fn install() -> Spans {
        let spans = Spans::default();
        let subscriber = tracing_subscriber::registry().with(Capture(spans.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        spans
    }

    pub fn named(&self, name: &str) -> Vec<CapturedSpan> {
        let spans = self.0.lock().unwrap();
        spans.iter().filter(|s| s.name == name).cloned().collect()
    }

    /// The ancestors of `span`, nearest first.
    pub fn ancestors(&self, span: &CapturedSpan) -> Vec<CapturedSpan> {
        let spans = self.0.lock().unwrap();
        span.ancestors.iter().map(|&i| spans[i].clone()).collect()
    }
}

struct Capture(Spans);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let ids: Vec<u64> = ctx
            .span(id)
            .map(|span| span.scope().skip(1).map(|s| s.id().into_u64()).collect())
            .unwrap_or_default();
        let mut spans = self.0 .0.lock().unwrap();
        // Ids are reused after a span closes: a live ancestor is the latest span with its id.
        let ancestors = ids
            .iter()
            .filter_map(|&ancestor| spans.iter().rposition(|s| s.id == ancestor))
            .collect();
        spans.push(CapturedSpan {
            id: id.into_u64(),
            name: attrs.metadata().name().to_owned(),
            fields,
            ancestors,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.0 .0.lock().unwrap();
        // Ids are reused after a span closes: the latest span with this id is the live one.
        if let Some(span) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }
}
